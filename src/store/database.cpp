// The measurement database over SQLite's C API. Every statement is prepared with
// bound parameters; every write is one transaction; the connection runs in WAL mode
// with synchronous=NORMAL: in WAL mode a committed transaction survives a killed
// process (it is in the WAL file before COMMIT returns); only a power loss can undo
// the last commits, never corrupt the file. FULL would fsync every measurement.
#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "infercast/base/csv.hpp"
#include "infercast/base/error.hpp"
#include "infercast/store/store.hpp"

namespace infercast::store {

namespace {

// PRAGMA application_id of an infercast database ("ICST").
constexpr int kApplicationId = 0x49435354;

// One step per schema version: migrations[v] takes a version-v database to v+1.
const std::vector<const char*>& migrations() {
  static const std::vector<const char*> steps = {
      // 0 -> 1: the first schema.
      R"sql(
      CREATE TABLE profiles(
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        runtime TEXT NOT NULL,
        runtime_version TEXT NOT NULL DEFAULT '',
        threads INTEGER NOT NULL DEFAULT 0,
        precision TEXT NOT NULL DEFAULT 'fp32',
        device TEXT NOT NULL DEFAULT '',
        machine_id TEXT NOT NULL DEFAULT '',
        hostname TEXT NOT NULL DEFAULT '',
        created_utc TEXT NOT NULL DEFAULT '',
        extra TEXT NOT NULL DEFAULT '{}');
      CREATE TABLE kernels(
        id INTEGER PRIMARY KEY,
        type TEXT NOT NULL,
        key TEXT NOT NULL UNIQUE,
        params TEXT NOT NULL,
        features TEXT NOT NULL DEFAULT '{}');
      CREATE INDEX kernels_by_type ON kernels(type);
      CREATE TABLE measurements(
        id INTEGER PRIMARY KEY,
        profile_id INTEGER NOT NULL REFERENCES profiles(id),
        kernel_id INTEGER NOT NULL REFERENCES kernels(id),
        n INTEGER NOT NULL DEFAULT 0,
        median_ms REAL, mean_ms REAL, min_ms REAL, max_ms REAL, std_ms REAL, cv REAL,
        remeasured INTEGER NOT NULL DEFAULT 0,
        timestamp_utc TEXT NOT NULL DEFAULT '',
        error TEXT NOT NULL DEFAULT '',
        UNIQUE(profile_id, kernel_id));
      CREATE TABLE model_measurements(
        id INTEGER PRIMARY KEY,
        profile_id INTEGER NOT NULL REFERENCES profiles(id),
        model_name TEXT NOT NULL,
        model_hash TEXT NOT NULL,
        n INTEGER NOT NULL DEFAULT 0,
        median_ms REAL, mean_ms REAL, min_ms REAL, max_ms REAL, std_ms REAL, cv REAL,
        layers TEXT NOT NULL DEFAULT '[]',
        timestamp_utc TEXT NOT NULL DEFAULT '',
        error TEXT NOT NULL DEFAULT '',
        UNIQUE(profile_id, model_hash, timestamp_utc));
      )sql",
      // 1 -> 2: the per-layer view of a kernel measurement (own, all-layer and cold times).
      R"sql(
      ALTER TABLE measurements ADD COLUMN own_ms REAL NOT NULL DEFAULT 0;
      ALTER TABLE measurements ADD COLUMN layers_ms REAL NOT NULL DEFAULT 0;
      ALTER TABLE measurements ADD COLUMN layer_count INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE measurements ADD COLUMN cold_ms REAL NOT NULL DEFAULT 0;
      )sql",
      // 2 -> 3: the kernel's own time as the median run sees it (per-layer medians summed),
      // beside own_ms (per-layer minima): what a user's typical run pays.
      R"sql(
      ALTER TABLE measurements ADD COLUMN own_median_ms REAL NOT NULL DEFAULT 0;
      )sql",
  };
  static_assert(kSchemaVersion == 3, "add the migration step for the new schema version");
  return steps;
}

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

struct Database::Impl {
  std::string path;
  sqlite3* db = nullptr;

  ~Impl() {
    if (db != nullptr) sqlite3_close_v2(db);
  }

  [[noreturn]] void fail(const std::string& where, const std::string& reason) const {
    throw Error(ErrorKind::kIo, path, where, reason);
  }
  [[noreturn]] void fail_sqlite(const std::string& where) const {
    fail(where, db != nullptr ? sqlite3_errmsg(db) : "out of memory");
  }

  // A prepared statement with bound parameters; finalized on scope exit.
  class Stmt {
   public:
    Stmt(const Impl& impl, const char* sql) : impl_(impl), where_(sql) {
      if (sqlite3_prepare_v2(impl.db, sql, -1, &stmt_, nullptr) != SQLITE_OK) impl.fail_sqlite(first_words());
    }
    ~Stmt() { sqlite3_finalize(stmt_); }
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;

    Stmt& bind(int i, std::int64_t v) { return check(sqlite3_bind_int64(stmt_, i, v)); }
    Stmt& bind(int i, int v) { return check(sqlite3_bind_int64(stmt_, i, v)); }
    Stmt& bind(int i, double v) {
      return check(std::isfinite(v) ? sqlite3_bind_double(stmt_, i, v) : sqlite3_bind_null(stmt_, i));
    }
    Stmt& bind(int i, const std::string& v) {
      return check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    }
    // True while a row is available.
    bool step() {
      const int rc = sqlite3_step(stmt_);
      if (rc == SQLITE_ROW) return true;
      if (rc == SQLITE_DONE) return false;
      impl_.fail_sqlite(first_words());
    }
    std::int64_t i64(int col) const { return sqlite3_column_int64(stmt_, col); }
    double f64(int col) const {
      return sqlite3_column_type(stmt_, col) == SQLITE_NULL ? NAN : sqlite3_column_double(stmt_, col);
    }
    std::string text(int col) const {
      const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
      return p != nullptr ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
    }
    nlohmann::json json(int col, const char* field) const {
      const std::string s = text(col);
      auto j = nlohmann::json::parse(s, nullptr, false);
      if (j.is_discarded()) impl_.fail(std::string("column ") + field, "holds malformed JSON");
      return j;
    }

   private:
    Stmt& check(int rc) {
      if (rc != SQLITE_OK) impl_.fail_sqlite(first_words());
      return *this;
    }
    std::string first_words() const {
      std::string s(where_);
      std::replace(s.begin(), s.end(), '\n', ' ');
      s.erase(0, s.find_first_not_of(' '));
      return "statement '" + s.substr(0, std::min<std::size_t>(s.size(), 40)) + "'";
    }
    const Impl& impl_;
    const char* where_;
    sqlite3_stmt* stmt_ = nullptr;
  };

  void exec(const char* sql, const std::string& where) const {
    char* message = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
      const std::string reason = message != nullptr ? message : sqlite3_errmsg(db);
      sqlite3_free(message);
      fail(where, reason);
    }
  }

  // BEGIN IMMEDIATE .. COMMIT; rolls back when the scope exits without commit().
  class Transaction {
   public:
    explicit Transaction(const Impl& impl) : impl_(impl) { impl_.exec("BEGIN IMMEDIATE", "begin transaction"); }
    ~Transaction() {
      if (!done_) sqlite3_exec(impl_.db, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    void commit() {
      impl_.exec("COMMIT", "commit");
      done_ = true;
    }

   private:
    const Impl& impl_;
    bool done_ = false;
  };

  int pragma_int(const char* sql) const {
    Stmt s(*this, sql);
    return s.step() ? static_cast<int>(s.i64(0)) : 0;
  }

  int read_version() const {
    Stmt s(*this, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
    return s.step() ? static_cast<int>(s.i64(0)) : 0;
  }

  void open_and_migrate() {
    if (std::filesystem::is_directory(path)) fail("", "is a directory, not a database file");
    const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    if (rc != SQLITE_OK) fail_sqlite("open");
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, 10000);
    // Not a database at all ("file is not a database") shows on the first read.
    const int app = pragma_int("PRAGMA application_id");
    const int tables = pragma_int("SELECT count(*) FROM sqlite_master WHERE name = 'schema_version'");
    const int objects = pragma_int("SELECT count(*) FROM sqlite_master");
    if (app != kApplicationId && !(app == 0 && objects == 0)) {
      fail("", "is an SQLite database but not an infercast database (application_id " + std::to_string(app) + ")");
    }
    {
      Stmt wal(*this, "PRAGMA journal_mode=WAL");
      if (!wal.step() || wal.text(0) != "wal") fail("journal_mode", "cannot switch to WAL");
    }
    exec("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON", "pragmas");
    Transaction tx(*this);
    if (tables == 0) {
      exec(("PRAGMA application_id=" + std::to_string(kApplicationId)).c_str(), "application_id");
      exec("CREATE TABLE IF NOT EXISTS schema_version(version INTEGER PRIMARY KEY, applied_utc TEXT NOT NULL)",
           "schema_version");
    }
    int version = read_version();
    if (version > kSchemaVersion) {
      fail("schema_version", "schema version " + std::to_string(version) + " is newer than this build knows (" +
                                 std::to_string(kSchemaVersion) + "); use a newer infercast");
    }
    while (version < kSchemaVersion) {
      exec(migrations()[static_cast<std::size_t>(version)], "migration to schema " + std::to_string(version + 1));
      ++version;
      Stmt s(*this, "INSERT INTO schema_version(version, applied_utc) VALUES(?1, ?2)");
      s.bind(1, version).bind(2, now_utc()).step();
    }
    tx.commit();
  }

  static measure::Stats read_stats(const Stmt& s, int first) {
    measure::Stats st;
    st.n = static_cast<std::size_t>(std::max<std::int64_t>(0, s.i64(first)));
    st.median = s.f64(first + 1);
    st.mean = s.f64(first + 2);
    st.min = s.f64(first + 3);
    st.max = s.f64(first + 4);
    st.std = s.f64(first + 5);
    st.cv = s.f64(first + 6);
    return st;
  }
  static void bind_stats(Stmt& s, int first, const measure::Stats& st) {
    s.bind(first, static_cast<std::int64_t>(st.n))
        .bind(first + 1, st.median)
        .bind(first + 2, st.mean)
        .bind(first + 3, st.min)
        .bind(first + 4, st.max)
        .bind(first + 5, st.std)
        .bind(first + 6, st.cv);
  }

  static constexpr const char* kProfileColumns =
      "id, name, runtime, runtime_version, threads, precision, device, machine_id, hostname, created_utc, extra";
  Profile read_profile(const Stmt& s) const {
    Profile p;
    p.id = s.i64(0);
    p.name = s.text(1);
    p.runtime = s.text(2);
    p.runtime_version = s.text(3);
    p.threads = static_cast<int>(s.i64(4));
    p.precision = s.text(5);
    p.device = s.text(6);
    p.machine_id = s.text(7);
    p.hostname = s.text(8);
    p.created_utc = s.text(9);
    p.extra = s.json(10, "profiles.extra");
    return p;
  }

  static constexpr const char* kMeasurementColumns =
      "id, profile_id, kernel_id, n, median_ms, mean_ms, min_ms, max_ms, std_ms, cv, remeasured, timestamp_utc, error, "
      "own_ms, layers_ms, layer_count, cold_ms, own_median_ms";
  static Measurement read_measurement(const Stmt& s, int first) {
    Measurement m;
    m.id = s.i64(first);
    m.profile_id = s.i64(first + 1);
    m.kernel_id = s.i64(first + 2);
    m.stats = read_stats(s, first + 3);
    m.remeasured = static_cast<int>(s.i64(first + 10));
    m.timestamp_utc = s.text(first + 11);
    m.error = s.text(first + 12);
    m.own_ms = s.f64(first + 13);
    m.layers_ms = s.f64(first + 14);
    m.layer_count = static_cast<int>(s.i64(first + 15));
    m.cold_ms = s.f64(first + 16);
    m.own_median_ms = s.f64(first + 17);
    return m;
  }

  static constexpr const char* kModelColumns =
      "id, profile_id, model_name, model_hash, n, median_ms, mean_ms, min_ms, max_ms, std_ms, cv, layers, "
      "timestamp_utc, error";
  ModelMeasurement read_model(const Stmt& s) const {
    ModelMeasurement m;
    m.id = s.i64(0);
    m.profile_id = s.i64(1);
    m.model_name = s.text(2);
    m.model_hash = s.text(3);
    m.stats = read_stats(s, 4);
    m.layers = s.json(11, "model_measurements.layers");
    m.timestamp_utc = s.text(12);
    m.error = s.text(13);
    return m;
  }
};

Database::Database(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Database::~Database() = default;
Database::Database(Database&&) noexcept = default;
Database& Database::operator=(Database&&) noexcept = default;

Database Database::open(const std::filesystem::path& path) {
  auto impl = std::make_unique<Impl>();
  impl->path = path.string();
  impl->open_and_migrate();
  return Database(std::move(impl));
}

int Database::schema_version() const {
  return impl_->read_version();
}

std::int64_t Database::upsert_profile(const Profile& p) {
  if (p.name.empty()) impl_->fail("profile", "name is empty");
  if (p.runtime.empty()) impl_->fail("profile '" + p.name + "'", "runtime is empty");
  Impl::Transaction tx(*impl_);
  Impl::Stmt s(*impl_,
               "INSERT INTO profiles(name, runtime, runtime_version, threads, precision, device, machine_id, hostname, "
               "created_utc, extra) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
               "ON CONFLICT(name) DO UPDATE SET runtime = ?2, runtime_version = ?3, threads = ?4, precision = ?5, "
               "device = ?6, machine_id = ?7, hostname = ?8, extra = ?10");
  s.bind(1, p.name)
      .bind(2, p.runtime)
      .bind(3, p.runtime_version)
      .bind(4, p.threads)
      .bind(5, p.precision)
      .bind(6, p.device)
      .bind(7, p.machine_id)
      .bind(8, p.hostname)
      .bind(9, p.created_utc.empty() ? now_utc() : p.created_utc)
      .bind(10, p.extra.dump());
  s.step();
  Impl::Stmt q(*impl_, "SELECT id FROM profiles WHERE name = ?1");
  q.bind(1, p.name);
  if (!q.step()) impl_->fail("profile '" + p.name + "'", "vanished after insert");
  const std::int64_t id = q.i64(0);
  tx.commit();
  return id;
}

std::optional<Profile> Database::find_profile(const std::string& name) const {
  Impl::Stmt s(*impl_, (std::string("SELECT ") + Impl::kProfileColumns + " FROM profiles WHERE name = ?1").c_str());
  s.bind(1, name);
  if (!s.step()) return std::nullopt;
  return impl_->read_profile(s);
}

std::vector<Profile> Database::profiles() const {
  Impl::Stmt s(*impl_, (std::string("SELECT ") + Impl::kProfileColumns + " FROM profiles ORDER BY id").c_str());
  std::vector<Profile> out;
  while (s.step()) out.push_back(impl_->read_profile(s));
  return out;
}

void Database::set_profile_extra(std::int64_t profile_id, const nlohmann::json& extra) {
  Impl::Transaction tx(*impl_);
  Impl::Stmt s(*impl_, "UPDATE profiles SET extra = ?2 WHERE id = ?1");
  s.bind(1, profile_id).bind(2, extra.dump());
  s.step();
  if (sqlite3_changes(impl_->db) != 1) impl_->fail("profile id " + std::to_string(profile_id), "no such profile");
  tx.commit();
}

std::int64_t Database::upsert_kernel(const Kernel& k) {
  if (k.key.empty() || k.type.empty()) impl_->fail("kernel", "type and key must be set");
  Impl::Transaction tx(*impl_);
  Impl::Stmt s(*impl_,
               "INSERT INTO kernels(type, key, params, features) VALUES(?1, ?2, ?3, ?4) ON CONFLICT(key) DO NOTHING");
  s.bind(1, k.type).bind(2, k.key).bind(3, k.params.dump()).bind(4, k.features.dump());
  s.step();
  Impl::Stmt q(*impl_, "SELECT id FROM kernels WHERE key = ?1");
  q.bind(1, k.key);
  if (!q.step()) impl_->fail("kernel '" + k.key + "'", "vanished after insert");
  const std::int64_t id = q.i64(0);
  tx.commit();
  return id;
}

std::optional<std::int64_t> Database::find_kernel(const std::string& key) const {
  Impl::Stmt s(*impl_, "SELECT id FROM kernels WHERE key = ?1");
  s.bind(1, key);
  if (!s.step()) return std::nullopt;
  return s.i64(0);
}

bool Database::has_measurement(std::int64_t profile_id, std::int64_t kernel_id) const {
  Impl::Stmt s(*impl_, "SELECT 1 FROM measurements WHERE profile_id = ?1 AND kernel_id = ?2");
  s.bind(1, profile_id).bind(2, kernel_id);
  return s.step();
}

std::int64_t Database::add_measurement(const Measurement& m) {
  Impl::Transaction tx(*impl_);
  // One row per (profile, kernel): a new measurement of the same pair replaces the old
  // one (a retried failure, a deliberate re-run), so reruns never duplicate rows.
  Impl::Stmt s(*impl_,
               "INSERT INTO measurements(profile_id, kernel_id, n, median_ms, mean_ms, min_ms, max_ms, std_ms, cv, "
               "remeasured, timestamp_utc, error, own_ms, layers_ms, layer_count, cold_ms, own_median_ms) "
               "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) "
               "ON CONFLICT(profile_id, kernel_id) DO UPDATE SET n = ?3, median_ms = ?4, mean_ms = ?5, min_ms = ?6, "
               "max_ms = ?7, std_ms = ?8, cv = ?9, remeasured = ?10, timestamp_utc = ?11, error = ?12, own_ms = ?13, "
               "layers_ms = ?14, layer_count = ?15, cold_ms = ?16, own_median_ms = ?17");
  s.bind(1, m.profile_id).bind(2, m.kernel_id);
  Impl::bind_stats(s, 3, m.stats);
  s.bind(10, m.remeasured).bind(11, m.timestamp_utc.empty() ? now_utc() : m.timestamp_utc).bind(12, m.error);
  s.bind(13, m.own_ms).bind(14, m.layers_ms).bind(15, m.layer_count).bind(16, m.cold_ms).bind(17, m.own_median_ms);
  s.step();
  Impl::Stmt q(*impl_, "SELECT id FROM measurements WHERE profile_id = ?1 AND kernel_id = ?2");
  q.bind(1, m.profile_id).bind(2, m.kernel_id);
  if (!q.step()) impl_->fail("measurement", "vanished after insert");
  const std::int64_t id = q.i64(0);
  tx.commit();
  return id;
}

std::vector<Database::MeasuredKernel> Database::measured_kernels(std::int64_t profile_id) const {
  Impl::Stmt s(
      *impl_,
      "SELECT k.id, k.type, k.key, k.params, k.features, m.id, m.profile_id, m.kernel_id, m.n, m.median_ms, "
      "m.mean_ms, m.min_ms, m.max_ms, m.std_ms, m.cv, m.remeasured, m.timestamp_utc, m.error, m.own_ms, "
      "m.layers_ms, m.layer_count, m.cold_ms, m.own_median_ms FROM measurements m JOIN kernels k ON k.id = m.kernel_id "
      "WHERE m.profile_id = ?1 AND m.error = '' ORDER BY k.id");
  s.bind(1, profile_id);
  std::vector<MeasuredKernel> out;
  while (s.step()) {
    MeasuredKernel mk;
    mk.kernel.id = s.i64(0);
    mk.kernel.type = s.text(1);
    mk.kernel.key = s.text(2);
    mk.kernel.params = s.json(3, "kernels.params");
    mk.kernel.features = s.json(4, "kernels.features");
    mk.measurement = Impl::read_measurement(s, 5);
    out.push_back(std::move(mk));
  }
  return out;
}

std::vector<Measurement> Database::measurements(std::int64_t profile_id, bool include_failed) const {
  const std::string sql = std::string("SELECT ") + Impl::kMeasurementColumns +
                          " FROM measurements WHERE profile_id = ?1 AND (?2 OR error = '') ORDER BY id";
  Impl::Stmt s(*impl_, sql.c_str());
  s.bind(1, profile_id).bind(2, include_failed ? 1 : 0);
  std::vector<Measurement> out;
  while (s.step()) out.push_back(Impl::read_measurement(s, 0));
  return out;
}

std::int64_t Database::add_model_measurement(const ModelMeasurement& m) {
  Impl::Transaction tx(*impl_);
  const std::string stamp = m.timestamp_utc.empty() ? now_utc() : m.timestamp_utc;
  Impl::Stmt s(*impl_,
               "INSERT INTO model_measurements(profile_id, model_name, model_hash, n, median_ms, mean_ms, min_ms, "
               "max_ms, std_ms, cv, layers, timestamp_utc, error) "
               "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) "
               "ON CONFLICT(profile_id, model_hash, timestamp_utc) DO UPDATE SET model_name = ?2, n = ?4, "
               "median_ms = ?5, mean_ms = ?6, min_ms = ?7, max_ms = ?8, std_ms = ?9, cv = ?10, layers = ?11, "
               "error = ?13");
  s.bind(1, m.profile_id).bind(2, m.model_name).bind(3, m.model_hash);
  Impl::bind_stats(s, 4, m.stats);
  s.bind(11, m.layers.dump()).bind(12, stamp).bind(13, m.error);
  s.step();
  Impl::Stmt q(*impl_,
               "SELECT id FROM model_measurements WHERE profile_id = ?1 AND model_hash = ?2 AND timestamp_utc = ?3");
  q.bind(1, m.profile_id).bind(2, m.model_hash).bind(3, stamp);
  if (!q.step()) impl_->fail("model measurement", "vanished after insert");
  const std::int64_t id = q.i64(0);
  tx.commit();
  return id;
}

std::vector<ModelMeasurement> Database::model_measurements(std::int64_t profile_id) const {
  const std::string sql =
      std::string("SELECT ") + Impl::kModelColumns + " FROM model_measurements WHERE profile_id = ?1 ORDER BY id";
  Impl::Stmt s(*impl_, sql.c_str());
  s.bind(1, profile_id);
  std::vector<ModelMeasurement> out;
  while (s.step()) out.push_back(impl_->read_model(s));
  return out;
}

DatabaseStats Database::stats() const {
  DatabaseStats st;
  auto count = [&](const char* sql) {
    Impl::Stmt s(*impl_, sql);
    return s.step() ? s.i64(0) : 0;
  };
  st.profiles = count("SELECT count(*) FROM profiles");
  st.kernels = count("SELECT count(*) FROM kernels");
  st.measurements = count("SELECT count(*) FROM measurements");
  st.failed_measurements = count("SELECT count(*) FROM measurements WHERE error <> ''");
  st.model_measurements = count("SELECT count(*) FROM model_measurements");
  st.remeasured = count("SELECT count(*) FROM measurements WHERE error = '' AND remeasured > 0");
  std::vector<double> cvs;
  Impl::Stmt s(*impl_, "SELECT cv FROM measurements WHERE error = '' AND cv IS NOT NULL ORDER BY cv");
  while (s.step()) cvs.push_back(s.f64(0));
  if (!cvs.empty()) {
    const std::size_t mid = cvs.size() / 2;
    st.median_cv = cvs.size() % 2 == 1 ? cvs[mid] : (cvs[mid - 1] + cvs[mid]) / 2;
  }
  return st;
}

namespace {

nlohmann::json stats_json(const measure::Stats& s) {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  return {{"n", s.n},
          {"median_ms", num(s.median)},
          {"mean_ms", num(s.mean)},
          {"min_ms", num(s.min)},
          {"max_ms", num(s.max)},
          {"std_ms", num(s.std)},
          {"cv", num(s.cv)}};
}

std::string csv_number(double v) {
  if (!std::isfinite(v)) return "";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace

nlohmann::json Database::export_json() const {
  nlohmann::json out = {{"schema_version", schema_version()}};
  nlohmann::json profiles_json = nlohmann::json::array();
  for (const auto& p : profiles()) {
    profiles_json.push_back({{"id", p.id},
                             {"name", p.name},
                             {"runtime", p.runtime},
                             {"runtime_version", p.runtime_version},
                             {"threads", p.threads},
                             {"precision", p.precision},
                             {"device", p.device},
                             {"machine_id", p.machine_id},
                             {"hostname", p.hostname},
                             {"created_utc", p.created_utc},
                             {"extra", p.extra}});
  }
  out["profiles"] = std::move(profiles_json);
  nlohmann::json kernels_json = nlohmann::json::array();
  {
    Impl::Stmt s(*impl_, "SELECT id, type, key, params, features FROM kernels ORDER BY id");
    while (s.step()) {
      kernels_json.push_back({{"id", s.i64(0)},
                              {"type", s.text(1)},
                              {"key", s.text(2)},
                              {"params", s.json(3, "kernels.params")},
                              {"features", s.json(4, "kernels.features")}});
    }
  }
  out["kernels"] = std::move(kernels_json);
  nlohmann::json ms = nlohmann::json::array();
  {
    Impl::Stmt s(*impl_,
                 (std::string("SELECT ") + Impl::kMeasurementColumns + " FROM measurements ORDER BY id").c_str());
    while (s.step()) {
      const Measurement m = Impl::read_measurement(s, 0);
      nlohmann::json row = {{"id", m.id},
                            {"profile_id", m.profile_id},
                            {"kernel_id", m.kernel_id},
                            {"remeasured", m.remeasured},
                            {"own_ms", m.own_ms},
                            {"layers_ms", m.layers_ms},
                            {"layer_count", m.layer_count},
                            {"cold_ms", m.cold_ms},
                            {"own_median_ms", m.own_median_ms},
                            {"timestamp_utc", m.timestamp_utc},
                            {"error", m.error}};
      row.update(stats_json(m.stats));
      ms.push_back(std::move(row));
    }
  }
  out["measurements"] = std::move(ms);
  nlohmann::json models = nlohmann::json::array();
  {
    Impl::Stmt s(*impl_,
                 (std::string("SELECT ") + Impl::kModelColumns + " FROM model_measurements ORDER BY id").c_str());
    while (s.step()) {
      const ModelMeasurement m = impl_->read_model(s);
      nlohmann::json row = {{"id", m.id},
                            {"profile_id", m.profile_id},
                            {"model_name", m.model_name},
                            {"model_hash", m.model_hash},
                            {"layers", m.layers},
                            {"timestamp_utc", m.timestamp_utc},
                            {"error", m.error}};
      row.update(stats_json(m.stats));
      models.push_back(std::move(row));
    }
  }
  out["model_measurements"] = std::move(models);
  return out;
}

std::string Database::export_csv() const {
  std::string out =
      "measurement_id,profile,runtime,runtime_version,threads,device,kernel_type,kernel_key,params,n,median_ms,mean_ms,"
      "min_ms,max_ms,std_ms,cv,remeasured,own_ms,layers_ms,layer_count,cold_ms,timestamp_utc,error\n";
  Impl::Stmt s(*impl_,
               "SELECT m.id, p.name, p.runtime, p.runtime_version, p.threads, p.device, k.type, k.key, k.params, "
               "m.n, m.median_ms, m.mean_ms, m.min_ms, m.max_ms, m.std_ms, m.cv, m.remeasured, m.own_ms, m.layers_ms, "
               "m.layer_count, m.cold_ms, m.timestamp_utc, m.error FROM measurements m JOIN profiles p ON p.id = "
               "m.profile_id JOIN kernels k ON k.id = "
               "m.kernel_id ORDER BY m.id");
  while (s.step()) {
    out += std::to_string(s.i64(0));
    for (int col : {1, 2, 3}) out += "," + csv_field(s.text(col));
    out += "," + std::to_string(s.i64(4));
    for (int col : {5, 6, 7, 8}) out += "," + csv_field(s.text(col));
    out += "," + std::to_string(s.i64(9));
    for (int col = 10; col <= 15; ++col) out += "," + csv_number(s.f64(col));
    out += "," + std::to_string(s.i64(16));
    out += "," + csv_number(s.f64(17)) + "," + csv_number(s.f64(18));
    out += "," + std::to_string(s.i64(19)) + "," + csv_number(s.f64(20));
    out += "," + csv_field(s.text(21)) + "," + csv_field(s.text(22)) + "\n";
  }
  return out;
}

}  // namespace infercast::store
