// The measurement database: round trips of every record, idempotent reruns (unique
// constraints), migration from an empty (version 0) database, refusal of foreign,
// corrupt and newer databases, and the settings that make it hard to corrupt (WAL).
// Facts about the file are read back with SQLite itself, not through the store.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

#include "../test_files.hpp"
#include "infercast/base/error.hpp"
#include "infercast/store/store.hpp"

namespace infercast::store {
namespace {

namespace fs = std::filesystem;

class StoreDatabase : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("infercast_store_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // One integer from a raw SQLite query on the file.
  std::int64_t query(const fs::path& db, const std::string& sql) {
    sqlite3* h = nullptr;
    EXPECT_EQ(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(h, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sqlite3_errmsg(h);
    std::int64_t v = -1;
    if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(h);
    return v;
  }
  std::string query_text(const fs::path& db, const std::string& sql) {
    sqlite3* h = nullptr;
    sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(h, sql.c_str(), -1, &s, nullptr);
    std::string v;
    if (sqlite3_step(s) == SQLITE_ROW) v = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(h);
    return v;
  }
  void exec_raw(const fs::path& db, const std::string& sql) {
    sqlite3* h = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(h, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_close(h);
  }

  Profile profile(const std::string& name = "xnnpack-1t") {
    Profile p;
    p.name = name;
    p.runtime = "xnnpack";
    p.runtime_version = "2022-02";
    p.threads = 1;
    p.device = "Test CPU, with a comma";
    p.machine_id = "abc";
    p.hostname = "host";
    return p;
  }
  Kernel kernel(const std::string& key) {
    Kernel k;
    k.type = "conv";
    k.key = key;
    k.params = {{"type", "conv"}, {"params", {{"k", 3}}}};
    k.features = {{"flops", 1234}};
    return k;
  }
  Measurement measurement(std::int64_t profile, std::int64_t kernel, double median, double cv, int remeasured = 0) {
    Measurement m;
    m.profile_id = profile;
    m.kernel_id = kernel;
    m.stats = {10, median, median * 1.01, median * 0.9, median * 1.2, median * cv, cv};
    m.remeasured = remeasured;
    return m;
  }

  fs::path dir_;
};

TEST_F(StoreDatabase, CreatesAVersionedWalDatabase) {
  const fs::path file = dir_ / "a.db";
  {
    Database db = Database::open(file);
    EXPECT_EQ(db.schema_version(), kSchemaVersion);
  }
  EXPECT_EQ(query_text(file, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(query(file, "SELECT max(version) FROM schema_version"), kSchemaVersion);
  EXPECT_EQ(query(file, "SELECT count(*) FROM schema_version"), kSchemaVersion);
  EXPECT_EQ(query_text(file, "PRAGMA integrity_check"), "ok");
  // Reopening applies no migration twice.
  { Database db = Database::open(file); }
  EXPECT_EQ(query(file, "SELECT count(*) FROM schema_version"), kSchemaVersion);
}

TEST_F(StoreDatabase, RoundTripsEveryRecord) {
  Database db = Database::open(dir_ / "a.db");
  Profile p = profile();
  p.extra = {{"fusion", {"conv+relu"}}};
  const std::int64_t pid = db.upsert_profile(p);
  const auto back = db.find_profile("xnnpack-1t");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->id, pid);
  EXPECT_EQ(back->device, p.device);
  EXPECT_EQ(back->extra, p.extra);
  EXPECT_FALSE(back->created_utc.empty());
  EXPECT_FALSE(db.find_profile("nope"));
  db.set_profile_extra(pid, {{"alpha", 0.5}});
  EXPECT_EQ(db.find_profile("xnnpack-1t")->extra["alpha"], 0.5);
  EXPECT_THROW(db.set_profile_extra(999, {}), Error);

  const std::int64_t k1 = db.upsert_kernel(kernel("conv|k=3"));
  const std::int64_t k2 = db.upsert_kernel(kernel("conv|k=5"));
  EXPECT_NE(k1, k2);
  EXPECT_EQ(db.upsert_kernel(kernel("conv|k=3")), k1);
  EXPECT_FALSE(db.has_measurement(pid, k1));
  db.add_measurement(measurement(pid, k1, 1.5, 0.02, 1));
  Measurement failed = measurement(pid, k2, 0, 0);
  failed.error = "xnnpack: timeout, \"quoted\"";
  db.add_measurement(failed);
  EXPECT_TRUE(db.has_measurement(pid, k1));
  EXPECT_TRUE(db.has_measurement(pid, k2));

  const auto measured = db.measured_kernels(pid);
  ASSERT_EQ(measured.size(), 1u);
  EXPECT_EQ(measured[0].kernel.key, "conv|k=3");
  EXPECT_EQ(measured[0].kernel.features["flops"], 1234);
  EXPECT_DOUBLE_EQ(measured[0].measurement.stats.median, 1.5);
  EXPECT_EQ(measured[0].measurement.remeasured, 1);
  EXPECT_EQ(db.measurements(pid).size(), 2u);
  EXPECT_EQ(db.measurements(pid, false).size(), 1u);

  ModelMeasurement mm;
  mm.profile_id = pid;
  mm.model_name = "resnet18";
  mm.model_hash = "deadbeef";
  mm.stats = {5, 20, 21, 19, 25, 1, 0.05};
  mm.layers = nlohmann::json::array({{{"name", "conv1"}, {"median_ms", 1.0}}});
  db.add_model_measurement(mm);
  const auto models = db.model_measurements(pid);
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].layers, mm.layers);

  const DatabaseStats st = db.stats();
  EXPECT_EQ(st.profiles, 1);
  EXPECT_EQ(st.kernels, 2);
  EXPECT_EQ(st.measurements, 2);
  EXPECT_EQ(st.failed_measurements, 1);
  EXPECT_EQ(st.model_measurements, 1);
  EXPECT_EQ(st.remeasured, 1);
  EXPECT_DOUBLE_EQ(st.median_cv, 0.02);

  const auto j = db.export_json();
  EXPECT_EQ(j["measurements"].size(), 2u);
  EXPECT_EQ(j["kernels"].size(), 2u);
  EXPECT_EQ(j["profiles"][0]["name"], "xnnpack-1t");
  const std::string csv = db.export_csv();
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);
  EXPECT_NE(csv.find("\"Test CPU, with a comma\""), std::string::npos);
  EXPECT_NE(csv.find("\"xnnpack: timeout, \"\"quoted\"\"\""), std::string::npos);
}

TEST_F(StoreDatabase, RerunsInsertNoDuplicateRows) {
  const fs::path file = dir_ / "a.db";
  for (int run = 0; run < 3; ++run) {
    Database db = Database::open(file);
    const std::int64_t pid = db.upsert_profile(profile());
    for (int k = 0; k < 5; ++k) {
      const std::int64_t kid = db.upsert_kernel(kernel("conv|k=" + std::to_string(k)));
      db.add_measurement(measurement(pid, kid, 1.0 + run, 0.01));
    }
  }
  EXPECT_EQ(query(file, "SELECT count(*) FROM profiles"), 1);
  EXPECT_EQ(query(file, "SELECT count(*) FROM kernels"), 5);
  EXPECT_EQ(query(file, "SELECT count(*) FROM measurements"), 5);
  // The latest measurement of a pair is the one kept.
  EXPECT_EQ(query(file, "SELECT count(*) FROM measurements WHERE median_ms = 3.0"), 5);
}

TEST_F(StoreDatabase, ParametersAreNeverSpliced) {
  // The seed's SQL broke on a parenthesis; quotes, parentheses and SQL fragments are data here.
  Database db = Database::open(dir_ / "a.db");
  Profile p = profile("x'); DROP TABLE kernels; --");
  const std::int64_t pid = db.upsert_profile(p);
  const std::int64_t kid = db.upsert_kernel(kernel("conv(3)|'\""));
  db.add_measurement(measurement(pid, kid, 1, 0.01));
  EXPECT_TRUE(db.find_profile(p.name));
  EXPECT_EQ(db.stats().kernels, 1);
}

TEST_F(StoreDatabase, MigratesAVersionZeroDatabase) {
  // A database created by infercast before any schema step ran (version 0): the
  // migration path takes it to the current version and it then works.
  const fs::path file = dir_ / "old.db";
  exec_raw(file,
           "PRAGMA application_id=1229149012;"
           "CREATE TABLE schema_version(version INTEGER PRIMARY KEY, applied_utc TEXT NOT NULL);");
  EXPECT_EQ(query(file, "SELECT count(*) FROM sqlite_master WHERE name = 'kernels'"), 0);
  {
    Database db = Database::open(file);
    EXPECT_EQ(db.schema_version(), kSchemaVersion);
    db.upsert_kernel(kernel("conv|k=1"));
  }
  EXPECT_EQ(query(file, "SELECT count(*) FROM kernels"), 1);
  EXPECT_EQ(query(file, "SELECT max(version) FROM schema_version"), kSchemaVersion);
}

TEST_F(StoreDatabase, MigratesAVersionOneDatabaseKeepingItsMeasurements) {
  // Schema 1 kept end-to-end statistics only. Make one by taking a fresh database's
  // schema-2 and schema-3 columns and schema-4 tables away, then reopen: the row survives with the per-layer
  // view unset, and new rows carry it.
  const fs::path file = dir_ / "v1.db";
  std::int64_t pid = 0, kid = 0;
  {
    Database db = Database::open(file);
    pid = db.upsert_profile(profile());
    kid = db.upsert_kernel(kernel("conv|k=1"));
    db.add_measurement(measurement(pid, kid, 0.25, 0.01));
  }
  exec_raw(file,
           "ALTER TABLE measurements DROP COLUMN own_ms; ALTER TABLE measurements DROP COLUMN layers_ms;"
           "ALTER TABLE measurements DROP COLUMN layer_count; ALTER TABLE measurements DROP COLUMN cold_ms;"
           "ALTER TABLE measurements DROP COLUMN own_median_ms; DROP TABLE plan_items; DROP TABLE workers;"
           "DELETE FROM schema_version WHERE version >= 2;");
  EXPECT_EQ(query(file, "SELECT max(version) FROM schema_version"), 1);
  Database db = Database::open(file);
  EXPECT_EQ(db.schema_version(), kSchemaVersion);
  const auto old = db.measured_kernels(pid);
  ASSERT_EQ(old.size(), 1u);
  EXPECT_DOUBLE_EQ(old[0].measurement.stats.median, 0.25);
  EXPECT_EQ(old[0].measurement.own_ms, 0.0);
  EXPECT_EQ(old[0].measurement.layer_count, 0);
  Measurement m = measurement(pid, db.upsert_kernel(kernel("conv|k=3")), 0.5, 0.01);
  m.own_ms = 0.4;
  m.layers_ms = 0.45;
  m.layer_count = 3;
  m.cold_ms = 0.6;
  m.own_median_ms = 0.42;
  db.add_measurement(m);
  const auto now = db.measured_kernels(pid);
  ASSERT_EQ(now.size(), 2u);
  EXPECT_DOUBLE_EQ(now[1].measurement.own_ms, 0.4);
  EXPECT_DOUBLE_EQ(now[1].measurement.layers_ms, 0.45);
  EXPECT_EQ(now[1].measurement.layer_count, 3);
  EXPECT_DOUBLE_EQ(now[1].measurement.cold_ms, 0.6);
  EXPECT_DOUBLE_EQ(now[1].measurement.own_median_ms, 0.42);
  EXPECT_EQ(old[0].measurement.own_median_ms, 0.0);
  EXPECT_DOUBLE_EQ(db.export_json()["measurements"][1]["cold_ms"].get<double>(), 0.6);
}

TEST_F(StoreDatabase, RefusesForeignCorruptAndNewerFilesNamingThem) {
  auto expect_io = [](const fs::path& file, const std::string& needle) {
    try {
      Database::open(file);
      ADD_FAILURE() << "opened " << file;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kIo);
      EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  const fs::path foreign = dir_ / "foreign.db";
  exec_raw(foreign, "CREATE TABLE t(x)");
  expect_io(foreign, "not an infercast database");

  const fs::path garbage = dir_ / "garbage.db";
  infercast::testing::write_file(garbage, std::string(4096, 'x'));
  expect_io(garbage, "not a database");

  const fs::path newer = dir_ / "newer.db";
  { Database::open(newer); }
  exec_raw(newer, "INSERT INTO schema_version VALUES(99, 'future')");
  expect_io(newer, "newer than this build");

  expect_io(dir_, "directory");
  expect_io(dir_ / "missing" / "a.db", "open");
}

}  // namespace
}  // namespace infercast::store
