// The store's PostgreSQL dialect against a real server that the test starts itself
// (tests/store/pg_server.sh: initdb + pg_ctl in a temporary folder, a free local port):
// the same records give the same rows as SQLite, migrations, the farm's claims and
// leases, export/import both ways, and bad input (unreachable server, wrong password,
// newer schema: one line without the password, exit 2, nothing written). Facts about the
// server are read back with libpq itself, not through the store. Skipped only where the
// PostgreSQL server binaries are not installed.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include "../test_files.hpp"
#include "infercast/base/error.hpp"
#include "infercast/store/store.hpp"

namespace infercast::store {
namespace {

namespace fs = std::filesystem;

const fs::path kScript = fs::path(INFERCAST_SOURCE_DIR) / "tests/store/pg_server.sh";
constexpr const char* kPassword = "infercast-test";

struct Shell {
  int status = -1;
  std::string out;
};

// Runs a shell command line; stdout captured, stderr to `err_file` when given.
Shell shell(const std::string& command) {
  Shell r;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf{};
  for (std::size_t n; (n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0;) r.out.append(buf.data(), n);
  const int st = ::pclose(pipe);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  while (!r.out.empty() && (r.out.back() == '\n' || r.out.back() == '\r')) r.out.pop_back();
  return r;
}

// One server for the whole suite; each test gets a database of its own.
class Postgres : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    server_dir_ = new fs::path(fs::temp_directory_path() / ("infercast_pg_" + std::to_string(::getpid())));
    fs::remove_all(*server_dir_);
    const Shell r = shell("bash " + kScript.string() + " start " + server_dir_->string() + " 2>&1");
    if (r.status == 77) {
      skip_ = new std::string(r.out);
    } else if (r.status != 0) {
      skip_ = new std::string("pg_server.sh failed: " + r.out);
      failed_ = true;
    }
  }
  static void TearDownTestSuite() {
    shell("bash " + kScript.string() + " stop " + server_dir_->string() + " >/dev/null 2>&1");
    delete server_dir_;
    delete skip_;
    skip_ = nullptr;
  }
  void SetUp() override {
    if (skip_ != nullptr) {
      if (failed_) FAIL() << *skip_;
      GTEST_SKIP() << *skip_;
    }
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const Shell r = shell("bash " + kScript.string() + " createdb " + server_dir_->string() + " " + name + " 2>&1");
    ASSERT_EQ(r.status, 0) << r.out;
    url_ = r.out;
    dir_ = fs::temp_directory_path() / ("infercast_pgt_" + std::to_string(::getpid()) + "_" + name);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // One integer from a raw query over libpq.
  std::int64_t query(const std::string& sql) {
    PGconn* c = PQconnectdb(url_.c_str());
    EXPECT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
    PGresult* r = PQexec(c, sql.c_str());
    std::int64_t v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0) v = std::stoll(PQgetvalue(r, 0, 0));
    EXPECT_TRUE(PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK)
        << PQresultErrorMessage(r);
    PQclear(r);
    PQfinish(c);
    return v;
  }

  std::string url_with_password(const std::string& password) const {
    std::string u = url_;
    u.replace(u.find(kPassword), std::string(kPassword).size(), password);
    return u;
  }

  static Profile profile(const std::string& name = "xnnpack-1t") {
    Profile p;
    p.name = name;
    p.runtime = "xnnpack";
    p.runtime_version = "2022-02";
    p.threads = 1;
    p.device = "Test CPU, with a comma";
    p.machine_id = "abc";
    p.hostname = "host";
    p.created_utc = "2026-12-02T10:00:00Z";
    p.extra = {{"fusion_rules", {{"conv+relu", true}}}, {"l2_bytes", 1048576}};
    return p;
  }
  static Kernel kernel(const std::string& key) {
    Kernel k;
    k.type = "conv";
    k.key = key;
    k.params = {{"type", "conv"}, {"params", {{"k", 3}, {"note", "quote ' and \" and ?1"}}}};
    k.features = {{"flops", 1234}, {"arithmetic_intensity", 0.1 + 0.2}};
    return k;
  }

  // The same records through the public API, whatever the dialect.
  static void fill(Database& db) {
    const auto p = db.upsert_profile(profile());
    const auto p2 = db.upsert_profile(profile("ort-4t"));
    for (int i = 0; i < 5; ++i) {
      const auto k = db.upsert_kernel(kernel("conv|k=" + std::to_string(i)));
      Measurement m;
      m.profile_id = i % 2 == 0 ? p : p2;
      m.kernel_id = k;
      m.stats = {10, 1.0 / 3 + i, 0.1 * i, 1e-9, 1e300, NAN, 0.05};
      m.own_ms = 0.7;
      m.layer_count = 3;
      m.own_median_ms = 2.0 / 3;
      m.timestamp_utc = "2026-12-02T10:00:0" + std::to_string(i) + "Z";
      if (i == 4) m.error = "runtime 'xnnpack': it's broken";
      db.add_measurement(m);
    }
    ModelMeasurement mm;
    mm.profile_id = p;
    mm.model_name = "resnet18";
    mm.model_hash = "ab12";
    mm.stats = {5, 12.5, 12.6, 12.0, 13.0, 0.2, 0.016};
    mm.layers = nlohmann::json::array({{{"name", "conv1"}, {"ms", 1.25}}});
    mm.timestamp_utc = "2026-12-02T11:00:00Z";
    db.add_model_measurement(mm);
  }

  static inline fs::path* server_dir_ = nullptr;
  static inline std::string* skip_ = nullptr;
  static inline bool failed_ = false;
  std::string url_;
  fs::path dir_;
};

TEST_F(Postgres, SameRecordsGiveTheSameRowsAsSqlite) {
  Database lite = Database::open(dir_ / "a.db");
  Database pg = Database::open(url_);
  EXPECT_EQ(pg.backend(), "postgresql");
  EXPECT_EQ(lite.backend(), "sqlite");
  fill(lite);
  fill(pg);
  // Every table, every column, every double bit for bit (NaN stays null both ways).
  EXPECT_EQ(lite.export_json().dump(), pg.export_json().dump());
  EXPECT_EQ(lite.export_csv(), pg.export_csv());
  const auto p = *pg.find_profile("xnnpack-1t");
  EXPECT_EQ(p.extra, profile().extra);
  const auto mk = pg.measured_kernels(p.id);
  ASSERT_EQ(mk.size(), 2u);  // kernels 0 and 2; 4 failed
  EXPECT_EQ(mk[1].measurement.stats.median, 1.0 / 3 + 2);
  EXPECT_TRUE(std::isnan(mk[1].measurement.stats.std));
  EXPECT_EQ(pg.measurements(p.id, true).size(), 3u);
  EXPECT_EQ(pg.measurements(p.id, false).size(), 2u);
  const DatabaseStats a = lite.stats(), b = pg.stats();
  EXPECT_EQ(a.measurements, b.measurements);
  EXPECT_EQ(a.failed_measurements, b.failed_measurements);
  EXPECT_EQ(a.median_cv, b.median_cv);
  // Upserts are idempotent on the server too.
  EXPECT_EQ(pg.upsert_kernel(kernel("conv|k=1")), *pg.find_kernel("conv|k=1"));
  EXPECT_EQ(query("SELECT count(*) FROM kernels"), 5);
}

TEST_F(Postgres, MigratesOnceAndRefusesANewerSchemaWritingNothing) {
  { Database db = Database::open(url_); }
  EXPECT_EQ(query("SELECT max(version) FROM schema_version"), kSchemaVersion);
  EXPECT_EQ(query("SELECT count(*) FROM schema_version"), kSchemaVersion);
  {
    Database db = Database::open(url_);
    EXPECT_EQ(db.schema_version(), kSchemaVersion);
    db.upsert_profile(profile());
  }
  EXPECT_EQ(query("SELECT count(*) FROM schema_version"), kSchemaVersion);
  query("INSERT INTO schema_version VALUES(99, 'future')");
  try {
    Database::open(url_);
    FAIL() << "opened a newer schema";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("newer than this build"), std::string::npos) << what;
    EXPECT_EQ(what.find(kPassword), std::string::npos) << what;
    EXPECT_NE(what.find("infercast:***@"), std::string::npos) << what;
  }
  EXPECT_EQ(query("SELECT count(*) FROM profiles"), 1);
}

TEST_F(Postgres, RefusesAForeignDatabase) {
  query("CREATE TABLE something_else(x INTEGER)");
  EXPECT_THROW(Database::open(url_), Error);
  EXPECT_EQ(query("SELECT count(*) FROM information_schema.tables WHERE table_name = 'profiles'"), 0);
}

TEST_F(Postgres, BadServerOrCredentialsAreOneLineWithoutThePassword) {
  struct Case {
    std::string url, expect;
  };
  const std::string port = url_.substr(url_.rfind(':') + 1, url_.rfind('/') - url_.rfind(':') - 1);
  const std::string wrong = url_with_password("s3cret-wrong");
  std::string unreachable = url_with_password("s3cret-wrong");
  unreachable.replace(unreachable.find(":" + port + "/"), port.size() + 2, ":1/");
  for (const Case& c : {Case{wrong, "password authentication failed"}, Case{unreachable, "Connection refused"}}) {
    // The API: Error(kIo) naming the URL with the password masked.
    try {
      Database::open(c.url);
      FAIL() << "opened " << c.url;
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(c.expect), std::string::npos) << what;
      EXPECT_EQ(what.find("s3cret"), std::string::npos) << what;
    }
    // The CLI: one line on stderr, exit 2, no output file, for every command that opens the store.
    for (const std::string& args :
         {"db stats --db '" + c.url + "'", "train --db '" + c.url + "' --profile x -o " + (dir_ / "b.bundle").string(),
          "bench --runtime xnnpack --count 1 --db '" + c.url + "'",
          "db import --db '" + c.url + "' --from " + (dir_ / "none.json").string()}) {
      const fs::path err = dir_ / "err.txt";
      const Shell r = shell(std::string(INFERCAST_CLI) + " " + args + " 2>" + err.string());
      const std::string text = infercast::testing::read_file(err);
      EXPECT_EQ(r.status, 2) << args << "\n" << text;
      if (args.rfind("db import", 0) == 0) continue;  // the missing source is named first
      EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
      EXPECT_NE(text.find(c.expect), std::string::npos) << text;
      EXPECT_EQ(text.find("s3cret"), std::string::npos) << text;
      EXPECT_EQ(r.out.find("s3cret"), std::string::npos) << r.out;
      EXPECT_FALSE(fs::exists(dir_ / "b.bundle"));
    }
  }
  // Nothing was written on the server by any of it.
  EXPECT_EQ(query("SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"), 0);
}

TEST_F(Postgres, PasswordFromTheEnvironmentOrPgpass) {
  std::string bare = url_;
  bare.replace(bare.find(":" + std::string(kPassword) + "@"), std::string(kPassword).size() + 2, "@");
  const fs::path err = dir_ / "err.txt";
  // PGPASSWORD
  Shell r = shell("PGPASSWORD=" + std::string(kPassword) + " " + INFERCAST_CLI + " db stats --format json --db '" +
                  bare + "' 2>" + err.string());
  EXPECT_EQ(r.status, 0) << infercast::testing::read_file(err);
  EXPECT_NE(r.out.find("\"backend\": \"postgresql\""), std::string::npos) << r.out;
  // ~/.pgpass (PGPASSFILE names it here), which must be private
  const fs::path pass = dir_ / "pgpass";
  infercast::testing::write_file(pass, "*:*:*:infercast:" + std::string(kPassword) + "\n");
  fs::permissions(pass, fs::perms::owner_read | fs::perms::owner_write);
  r = shell("PGPASSFILE=" + pass.string() + " " + INFERCAST_CLI + " db stats --db '" + bare + "' 2>" + err.string());
  EXPECT_EQ(r.status, 0) << infercast::testing::read_file(err);
  EXPECT_EQ(r.out.find(kPassword), std::string::npos);
  // and the URL's own password is masked in what stats prints
  r = shell(std::string(INFERCAST_CLI) + " db stats --db '" + url_ + "' 2>" + err.string());
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out.find(kPassword), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("infercast:***@"), std::string::npos) << r.out;
}

// Claims, leases and takeovers, with two connections standing in for two workers; the
// same contract on SQLite (bench --farm) and PostgreSQL.
void check_claims(Database& a, Database& b) {
  const auto p = a.upsert_profile(Postgres::profile());
  std::vector<Kernel> plan;
  for (int i = 0; i < 4; ++i) plan.push_back(Postgres::kernel("conv|k=" + std::to_string(i)));
  EXPECT_EQ(a.write_plan(p, plan), 4);
  EXPECT_EQ(b.write_plan(p, {plan[0], plan[1]}), 4);  // written once: a shorter plan leaves it
  Worker w;
  w.profile_id = p;
  w.hostname = "h1";
  const auto w1 = a.add_worker(w);
  w.hostname = "h2";
  const auto w2 = b.add_worker(w);
  ASSERT_EQ(a.workers().size(), 2u);
  EXPECT_EQ(a.workers()[1].hostname, "h2");

  const auto k0 = a.claim_kernel(p, w1, 60);
  const auto k1 = b.claim_kernel(p, w2, 60);
  ASSERT_TRUE(k0 && k1);
  EXPECT_EQ(k0->key, "conv|k=0");
  EXPECT_EQ(k1->key, "conv|k=1");  // never the kernel another worker holds
  EXPECT_EQ(k1->params, plan[1].params);
  Measurement m;
  m.profile_id = p;
  m.kernel_id = k0->id;
  m.stats = {3, 1.5, 1.5, 1.5, 1.5, 0, 0};
  EXPECT_TRUE(a.finish_claim(w1, m));
  EXPECT_TRUE(a.finish_claim(w1, m));   // a repeat after a lost answer is harmless
  EXPECT_FALSE(b.finish_claim(w2, m));  // not w2's claim: nothing written
  // A lease that expires: w1 takes kernel 2 for 0.2 s and "dies"; w2 takes it over.
  const auto k2 = a.claim_kernel(p, w1, 0.2);
  ASSERT_TRUE(k2);
  EXPECT_EQ(k2->key, "conv|k=2");
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  const auto again = b.claim_kernel(p, w2, 60);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->key, "conv|k=1");  // its own claim again (a worker back from a lost connection)
  m.kernel_id = k1->id;
  m.error = "failed";
  EXPECT_TRUE(b.finish_claim(w2, m));
  m.error.clear();
  const auto taken = b.claim_kernel(p, w2, 60);
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->key, "conv|k=2");  // the expired lease
  m.kernel_id = k2->id;
  EXPECT_FALSE(a.finish_claim(w1, m));  // too late: w2 holds it now
  EXPECT_TRUE(b.finish_claim(w2, m));
  const auto k3 = a.claim_kernel(p, w1, 60);
  ASSERT_TRUE(k3);
  EXPECT_FALSE(b.claim_kernel(p, w2, 60));  // everything done or leased
  PlanState st = a.plan_state(p);
  EXPECT_EQ(st.size, 4);
  EXPECT_EQ(st.done, 3);
  EXPECT_EQ(st.claimed, 1);
  EXPECT_EQ(st.leased, 1);
  m.kernel_id = k3->id;
  EXPECT_TRUE(a.finish_claim(w1, m));
  st = a.plan_state(p);
  EXPECT_EQ(st.done, 4);
  EXPECT_EQ(st.open + st.claimed, 0);
  EXPECT_EQ(a.measurements(p).size(), 4u);
  EXPECT_EQ(a.reopen_failed(p), 1);
  EXPECT_EQ(a.plan_state(p).open, 1);
}

TEST_F(Postgres, ClaimsLeasesAndTakeovers) {
  Database a = Database::open(url_);
  Database b = Database::open(url_);
  check_claims(a, b);
  EXPECT_EQ(query("SELECT count(*) FROM measurements"), 4);
  EXPECT_EQ(query("SELECT claims FROM plan_items WHERE seq = 2"), 2);
}

TEST_F(Postgres, ClaimsLeasesAndTakeoversOnSqlite) {
  Database a = Database::open(dir_ / "farm.db");
  Database b = Database::open(dir_ / "farm.db");
  check_claims(a, b);
}

TEST_F(Postgres, ExportImportBothWays) {
  {
    Database lite = Database::open(dir_ / "a.db");
    fill(lite);
  }
  const std::string cli = INFERCAST_CLI;
  const fs::path a = dir_ / "a.db", c = dir_ / "c.db", json = dir_ / "a.json";
  Shell r = shell(cli + " db import --db '" + url_ + "' --from " + a.string());
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("imported 6 measurements"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(kPassword), std::string::npos) << r.out;
  r = shell(cli + " db import --db " + c.string() + " --from '" + url_ + "'");
  ASSERT_EQ(r.status, 0) << r.out;
  ASSERT_EQ(shell(cli + " db export --format json --db " + a.string() + " -o " + json.string()).status, 0);
  const std::string from_lite = infercast::testing::read_file(json);
  const std::string from_pg = shell(cli + " db export --format json --db '" + url_ + "'").out;
  const std::string round_trip = shell(cli + " db export --format json --db " + c.string()).out;
  EXPECT_EQ(from_lite, from_pg + "\n");
  EXPECT_EQ(from_lite, round_trip + "\n");
  // An export file imports too, and a second import changes nothing.
  r = shell(cli + " db import --db '" + url_ + "' --from " + json.string());
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(query("SELECT count(*) FROM measurements"), 5);
  EXPECT_EQ(query("SELECT count(*) FROM model_measurements"), 1);
  // A malformed export: exit 2, one line, nothing written.
  infercast::testing::write_file(dir_ / "bad.json", R"({"profiles": [{"id": 1}], "kernels": [], "measurements": [],
      "model_measurements": []})");
  r = shell(cli + " db import --db " + (dir_ / "d.db").string() + " --from " + (dir_ / "bad.json").string() +
            " 2>/dev/null");
  EXPECT_EQ(r.status, 2);
}

// Rows with their timings (and the times they were taken) left out.
nlohmann::json without_timings(nlohmann::json doc) {
  for (auto& p : doc["profiles"]) p.erase("created_utc");
  for (auto& m : doc["measurements"]) {
    for (const char* f : {"n", "median_ms", "mean_ms", "min_ms", "max_ms", "std_ms", "cv", "remeasured", "own_ms",
                          "layers_ms", "cold_ms", "own_median_ms", "timestamp_utc", "id"}) {
      m.erase(f);
    }
  }
  return doc;
}

TEST_F(Postgres, OneBenchPlanGivesTheSameRowsOnBothAndTrainTheSameBundle) {
  const std::string cli = INFERCAST_CLI;
  const std::string bench = cli +
                            " bench --runtime xnnpack --threads 1 --kernels fc,relu --count 6 --no-cold --warmup 0 "
                            "--repeats 3 --min-time 0.005 --max-remeasure 0 -q --db ";
  const fs::path lite = dir_ / "lite.db";
  Shell r = shell(bench + lite.string() + " 2>&1");
  ASSERT_EQ(r.status, 0) << r.out;
  r = shell(bench + "'" + url_ + "' 2>&1");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("6 measured"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("plan 6 kernels"), std::string::npos) << r.out;
  const auto a =
      without_timings(nlohmann::json::parse(shell(cli + " db export --format json --db " + lite.string()).out));
  const auto b =
      without_timings(nlohmann::json::parse(shell(cli + " db export --format json --db '" + url_ + "'").out));
  EXPECT_EQ(a["kernels"], b["kernels"]);  // the same specs, keys, params and features, in the same order
  EXPECT_EQ(a["measurements"], b["measurements"]);
  EXPECT_EQ(a["profiles"][0]["name"], b["profiles"][0]["name"]);
  EXPECT_EQ(query("SELECT count(*) FROM plan_items WHERE state = 2"), 6);
  EXPECT_EQ(query("SELECT count(*) FROM workers"), 1);
  // train: identical rows (SQLite copied into a fresh PostgreSQL database) give the identical bundle.
  const std::string copy = shell("bash " + kScript.string() + " createdb " + server_dir_->string() + " trained").out;
  ASSERT_EQ(shell(cli + " db import --db '" + copy + "' --from " + lite.string()).status, 0);
  const fs::path b1 = dir_ / "lite.bundle", b2 = dir_ / "pg.bundle";
  r = shell(cli + " train --db " + lite.string() + " --profile xnnpack-1t -o " + b1.string() + " 2>&1");
  ASSERT_EQ(r.status, 0) << r.out;
  r = shell(cli + " train --db '" + copy + "' --profile xnnpack-1t -o " + b2.string() + " 2>&1");
  ASSERT_EQ(r.status, 0) << r.out;
  const std::string bundle = infercast::testing::read_file(b1);
  EXPECT_FALSE(bundle.empty());
  EXPECT_EQ(bundle, infercast::testing::read_file(b2));
  EXPECT_EQ(bundle.find(kPassword), std::string::npos);
}

}  // namespace
}  // namespace infercast::store
