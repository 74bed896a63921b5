// The measurement database over a Connection (connection.hpp): SQLite for a file,
// PostgreSQL for a postgresql:// URL. One schema and one migration history for both;
// every statement has bound parameters; every write is one transaction.
//
// SQLite runs in WAL mode with synchronous=NORMAL: a committed transaction survives a
// killed process (it is in the WAL file before COMMIT returns); only a power loss can undo
// the last commits, never corrupt the file. FULL would fsync every measurement.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "connection.hpp"
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
        id {ID},
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
        id {ID},
        type TEXT NOT NULL,
        key TEXT NOT NULL UNIQUE,
        params TEXT NOT NULL,
        features TEXT NOT NULL DEFAULT '{}');
      CREATE INDEX kernels_by_type ON kernels(type);
      CREATE TABLE measurements(
        id {ID},
        profile_id {BIGINT} NOT NULL REFERENCES profiles(id),
        kernel_id {BIGINT} NOT NULL REFERENCES kernels(id),
        n INTEGER NOT NULL DEFAULT 0,
        median_ms {REAL}, mean_ms {REAL}, min_ms {REAL}, max_ms {REAL}, std_ms {REAL}, cv {REAL},
        remeasured INTEGER NOT NULL DEFAULT 0,
        timestamp_utc TEXT NOT NULL DEFAULT '',
        error TEXT NOT NULL DEFAULT '',
        UNIQUE(profile_id, kernel_id));
      CREATE TABLE model_measurements(
        id {ID},
        profile_id {BIGINT} NOT NULL REFERENCES profiles(id),
        model_name TEXT NOT NULL,
        model_hash TEXT NOT NULL,
        n INTEGER NOT NULL DEFAULT 0,
        median_ms {REAL}, mean_ms {REAL}, min_ms {REAL}, max_ms {REAL}, std_ms {REAL}, cv {REAL},
        layers TEXT NOT NULL DEFAULT '[]',
        timestamp_utc TEXT NOT NULL DEFAULT '',
        error TEXT NOT NULL DEFAULT '',
        UNIQUE(profile_id, model_hash, timestamp_utc));
      )sql",
      // 1 -> 2: the per-layer view of a kernel measurement (own, all-layer and cold times).
      R"sql(
      ALTER TABLE measurements ADD COLUMN own_ms {REAL} NOT NULL DEFAULT 0;
      ALTER TABLE measurements ADD COLUMN layers_ms {REAL} NOT NULL DEFAULT 0;
      ALTER TABLE measurements ADD COLUMN layer_count INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE measurements ADD COLUMN cold_ms {REAL} NOT NULL DEFAULT 0;
      )sql",
      // 2 -> 3: the kernel's own time as the median run sees it (per-layer medians summed),
      // beside own_ms (per-layer minima): what a user's typical run pays.
      R"sql(
      ALTER TABLE measurements ADD COLUMN own_median_ms {REAL} NOT NULL DEFAULT 0;
      )sql",
      // 3 -> 4: the farm. A profile's plan (the kernels to measure, in order) with a claim per
      // kernel: state 0 open, 1 claimed by worker_id until lease_until (epoch seconds of the
      // database clock), 2 done; and the workers, each with its device context.
      R"sql(
      CREATE TABLE workers(
        id {ID},
        profile_id {BIGINT} NOT NULL REFERENCES profiles(id),
        hostname TEXT NOT NULL DEFAULT '',
        machine_id TEXT NOT NULL DEFAULT '',
        device TEXT NOT NULL DEFAULT '',
        runtime_version TEXT NOT NULL DEFAULT '',
        pid INTEGER NOT NULL DEFAULT 0,
        started_utc TEXT NOT NULL DEFAULT '',
        last_seen_utc TEXT NOT NULL DEFAULT '');
      CREATE TABLE plan_items(
        profile_id {BIGINT} NOT NULL REFERENCES profiles(id),
        kernel_id {BIGINT} NOT NULL REFERENCES kernels(id),
        seq INTEGER NOT NULL,
        state INTEGER NOT NULL DEFAULT 0,
        worker_id {BIGINT} NOT NULL DEFAULT 0,
        lease_until {REAL} NOT NULL DEFAULT 0,
        claims INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY(profile_id, kernel_id));
      CREATE INDEX plan_items_by_state ON plan_items(profile_id, state, seq);
      )sql",
  };
  static_assert(kSchemaVersion == 4, "add the migration step for the new schema version");
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

// How long a broken server connection is retried before the operation fails: long
// enough for a server restart, short enough that a worker whose server is gone says so.
constexpr double kReconnectS = 60;

struct Database::Impl {
  std::unique_ptr<detail::Connection> conn;
  bool pg = false;
  mutable bool in_transaction = false;

  [[noreturn]] void fail(const std::string& where, const std::string& reason) const { conn->fail(where, reason); }

  // A statement with bound parameters, run on the first step(); rows are then read one
  // step() at a time. The SQL is the shared text (connection.hpp), rendered per dialect.
  class Stmt {
   public:
    Stmt(const Impl& impl, std::string sql) : impl_(impl), sql_(std::move(sql)) {}
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;

    Stmt& bind(int i, std::int64_t v) { return set(i, v); }
    Stmt& bind(int i, int v) { return set(i, static_cast<std::int64_t>(v)); }
    Stmt& bind(int i, double v) { return std::isfinite(v) ? set(i, v) : set(i, std::monostate{}); }
    Stmt& bind(int i, const std::string& v) { return set(i, v); }
    // True while a row is available.
    bool step() {
      if (!ran_) {
        const std::string sql = detail::render(sql_, impl_.conn->dialect());
        try {
          result_ = impl_.conn->query(sql, params_, first_words());
        } catch (const Error&) {
          // A read outside a transaction is simply asked again once the server is back;
          // inside one, the whole transaction is (with_reconnect).
          if (impl_.in_transaction || !impl_.conn->lost() || !impl_.conn->reconnect(kReconnectS)) throw;
          result_ = impl_.conn->query(sql, params_, first_words());
        }
        ran_ = true;
        row_ = 0;
      } else {
        ++row_;
      }
      return row_ < result_.rows.size();
    }
    std::int64_t changes() const { return result_.changes; }
    std::int64_t i64(int col) const {
      const detail::Value& v = cell(col);
      if (const auto* x = std::get_if<std::int64_t>(&v)) return *x;
      if (const auto* d = std::get_if<double>(&v)) return static_cast<std::int64_t>(*d);
      if (const auto* s = std::get_if<std::string>(&v)) return std::strtoll(s->c_str(), nullptr, 10);
      return 0;
    }
    double f64(int col) const {
      const detail::Value& v = cell(col);
      if (const auto* d = std::get_if<double>(&v)) return *d;
      if (const auto* x = std::get_if<std::int64_t>(&v)) return static_cast<double>(*x);
      if (const auto* s = std::get_if<std::string>(&v)) return std::strtod(s->c_str(), nullptr);
      return NAN;
    }
    std::string text(int col) const {
      const detail::Value& v = cell(col);
      if (const auto* s = std::get_if<std::string>(&v)) return *s;
      if (const auto* x = std::get_if<std::int64_t>(&v)) return std::to_string(*x);
      if (const auto* d = std::get_if<double>(&v)) return std::to_string(*d);
      return {};
    }
    nlohmann::json json(int col, const char* field) const {
      const std::string s = text(col);
      auto j = nlohmann::json::parse(s, nullptr, false);
      if (j.is_discarded()) impl_.fail(std::string("column ") + field, "holds malformed JSON");
      return j;
    }

   private:
    template <typename T>
    Stmt& set(int i, T v) {
      const auto at = static_cast<std::size_t>(i - 1);
      if (params_.size() <= at) params_.resize(at + 1);
      params_[at] = std::move(v);
      return *this;
    }
    const detail::Value& cell(int col) const {
      static const detail::Value kNull;
      const auto& row = result_.rows[row_];
      return static_cast<std::size_t>(col) < row.size() ? row[static_cast<std::size_t>(col)] : kNull;
    }
    std::string first_words() const {
      std::string s(sql_);
      std::replace(s.begin(), s.end(), '\n', ' ');
      s.erase(0, std::min(s.size(), s.find_first_not_of(' ')));
      return "statement '" + s.substr(0, std::min<std::size_t>(s.size(), 40)) + "'";
    }
    const Impl& impl_;
    std::string sql_;
    std::vector<detail::Value> params_;
    detail::ResultSet result_;
    std::size_t row_ = 0;
    bool ran_ = false;
  };

  void exec(const std::string& sql, const std::string& where) const {
    conn->exec(detail::render(sql, conn->dialect()), where);
  }

  // BEGIN (IMMEDIATE on SQLite: take the write lock now) .. COMMIT; rolls back when the
  // scope exits without commit().
  class Transaction {
   public:
    explicit Transaction(const Impl& impl) : impl_(impl) {
      impl_.exec(impl_.pg ? "BEGIN" : "BEGIN IMMEDIATE", "begin transaction");
      impl_.in_transaction = true;
    }
    ~Transaction() {
      impl_.in_transaction = false;
      if (done_) return;
      try {
        if (!impl_.conn->lost()) impl_.conn->exec("ROLLBACK", "rollback");
      } catch (const std::exception&) {  // NOLINT(bugprone-empty-catch): the connection is gone or the transaction is
      }
    }
    void commit() {
      impl_.exec("COMMIT", "commit");
      done_ = true;
      impl_.in_transaction = false;
    }

   private:
    const Impl& impl_;
    bool done_ = false;
  };

  // Runs `f` (one whole transaction, or a read) again after the server connection broke
  // (a restarted or briefly unreachable server): for up to a minute of reconnect attempts.
  // `f` must be idempotent: a COMMIT whose answer was lost may have happened.
  template <typename F>
  auto with_reconnect(F&& f) const -> decltype(f()) {
    for (int attempt = 0;; ++attempt) {
      try {
        return f();
      } catch (const Error&) {
        in_transaction = false;
        if (!conn->lost() || attempt >= 5 || !conn->reconnect(kReconnectS)) throw;
      }
    }
  }

  int scalar_int(const std::string& sql) const {
    Stmt s(*this, sql);
    return s.step() ? static_cast<int>(s.i64(0)) : 0;
  }

  int read_version() const { return scalar_int("SELECT COALESCE(MAX(version), 0) FROM schema_version"); }

  void migrate(int version) {
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
  }

  void open_sqlite(const std::string& path) {
    conn = detail::open_sqlite(path);
    // Not a database at all ("file is not a database") shows on the first read. The
    // reads hold the write lock, so a process creating the same file right now (bench
    // --farm workers that start together) is seen before or after, never half-way.
    int app = 0, tables = 0, objects = 0;
    {
      Transaction probe(*this);
      app = scalar_int("PRAGMA application_id");
      tables = scalar_int("SELECT count(*) FROM sqlite_master WHERE name = 'schema_version'");
      objects = scalar_int("SELECT count(*) FROM sqlite_master");
    }
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
      exec("PRAGMA application_id=" + std::to_string(kApplicationId), "application_id");
      exec(kSchemaVersionTable, "schema_version");
    }
    migrate(read_version());
    tx.commit();
  }

  // PostgreSQL: the tables live in the connection's current schema. Workers that start
  // together serialize their migration on an advisory lock; a database (schema) holding
  // other tables but no schema_version is not ours. Nothing is written before the checks.
  void open_postgres(const std::string& url) {
    pg = true;
    conn = detail::open_postgres(url);
    Transaction tx(*this);
    Stmt lock(*this, "SELECT pg_advisory_xact_lock(?1)");
    lock.bind(1, static_cast<std::int64_t>(kApplicationId)).step();
    const int tables = scalar_int(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND "
        "table_name = 'schema_version'");
    const int objects =
        scalar_int("SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()");
    if (tables == 0 && objects > 0) {
      fail("", "the database holds other tables but no infercast schema_version; name an empty database");
    }
    const int version = tables == 0 ? 0 : read_version();
    if (tables == 0) exec(kSchemaVersionTable, "schema_version");
    migrate(version);
    tx.commit();
  }

  static constexpr const char* kSchemaVersionTable =
      "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER PRIMARY KEY, applied_utc TEXT NOT NULL)";

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

  // The writes of the public API without their transaction (callers hold one).
  std::int64_t put_profile(const Profile& p) {
    if (p.name.empty()) fail("profile", "name is empty");
    if (p.runtime.empty()) fail("profile '" + p.name + "'", "runtime is empty");
    Stmt s(*this,
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
    Stmt q(*this, "SELECT id FROM profiles WHERE name = ?1");
    q.bind(1, p.name);
    if (!q.step()) fail("profile '" + p.name + "'", "vanished after insert");
    const std::int64_t id = q.i64(0);
    return id;
  }

  std::int64_t put_kernel(const Kernel& k) {
    if (k.key.empty() || k.type.empty()) fail("kernel", "type and key must be set");
    Stmt s(*this,
           "INSERT INTO kernels(type, key, params, features) VALUES(?1, ?2, ?3, ?4) ON CONFLICT(key) DO NOTHING");
    s.bind(1, k.type).bind(2, k.key).bind(3, k.params.dump()).bind(4, k.features.dump());
    s.step();
    Stmt q(*this, "SELECT id FROM kernels WHERE key = ?1");
    q.bind(1, k.key);
    if (!q.step()) fail("kernel '" + k.key + "'", "vanished after insert");
    const std::int64_t id = q.i64(0);
    return id;
  }

  std::int64_t put_measurement(const Measurement& m) {
    // One row per (profile, kernel): a new measurement of the same pair replaces the old
    // one (a retried failure, a deliberate re-run), so reruns never duplicate rows.
    Stmt s(*this,
           "INSERT INTO measurements(profile_id, kernel_id, n, median_ms, mean_ms, min_ms, max_ms, std_ms, cv, "
           "remeasured, timestamp_utc, error, own_ms, layers_ms, layer_count, cold_ms, own_median_ms) "
           "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) "
           "ON CONFLICT(profile_id, kernel_id) DO UPDATE SET n = ?3, median_ms = ?4, mean_ms = ?5, min_ms = ?6, "
           "max_ms = ?7, std_ms = ?8, cv = ?9, remeasured = ?10, timestamp_utc = ?11, error = ?12, own_ms = ?13, "
           "layers_ms = ?14, layer_count = ?15, cold_ms = ?16, own_median_ms = ?17");
    s.bind(1, m.profile_id).bind(2, m.kernel_id);
    bind_stats(s, 3, m.stats);
    s.bind(10, m.remeasured).bind(11, m.timestamp_utc.empty() ? now_utc() : m.timestamp_utc).bind(12, m.error);
    // The per-layer columns are NOT NULL (0 = not measured): a runtime whose layer view
    // yields no number (NaN) stores 0, as documented for Measurement.
    auto or_zero = [](double v) { return std::isfinite(v) ? v : 0.0; };
    s.bind(13, or_zero(m.own_ms))
        .bind(14, or_zero(m.layers_ms))
        .bind(15, m.layer_count)
        .bind(16, or_zero(m.cold_ms))
        .bind(17, or_zero(m.own_median_ms));
    s.step();
    Stmt q(*this, "SELECT id FROM measurements WHERE profile_id = ?1 AND kernel_id = ?2");
    q.bind(1, m.profile_id).bind(2, m.kernel_id);
    if (!q.step()) fail("measurement", "vanished after insert");
    const std::int64_t id = q.i64(0);
    return id;
  }

  std::int64_t put_model_measurement(const ModelMeasurement& m) {
    const std::string stamp = m.timestamp_utc.empty() ? now_utc() : m.timestamp_utc;
    Stmt s(*this,
           "INSERT INTO model_measurements(profile_id, model_name, model_hash, n, median_ms, mean_ms, min_ms, "
           "max_ms, std_ms, cv, layers, timestamp_utc, error) "
           "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) "
           "ON CONFLICT(profile_id, model_hash, timestamp_utc) DO UPDATE SET model_name = ?2, n = ?4, "
           "median_ms = ?5, mean_ms = ?6, min_ms = ?7, max_ms = ?8, std_ms = ?9, cv = ?10, layers = ?11, "
           "error = ?13");
    s.bind(1, m.profile_id).bind(2, m.model_name).bind(3, m.model_hash);
    bind_stats(s, 4, m.stats);
    s.bind(11, m.layers.dump()).bind(12, stamp).bind(13, m.error);
    s.step();
    Stmt q(*this, "SELECT id FROM model_measurements WHERE profile_id = ?1 AND model_hash = ?2 AND timestamp_utc = ?3");
    q.bind(1, m.profile_id).bind(2, m.model_hash).bind(3, stamp);
    if (!q.step()) fail("model measurement", "vanished after insert");
    const std::int64_t id = q.i64(0);
    return id;
  }
};

Database::Database(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Database::~Database() = default;
Database::Database(Database&&) noexcept = default;
Database& Database::operator=(Database&&) noexcept = default;

Database Database::open(const std::filesystem::path& path) {
  auto impl = std::make_unique<Impl>();
  const std::string target = path.string();
  if (detail::is_postgres_url(target)) {
    impl->open_postgres(target);
  } else {
    impl->open_sqlite(target);
  }
  return Database(std::move(impl));
}

std::string Database::backend() const {
  return impl_->pg ? "postgresql" : "sqlite";
}

std::string Database::target() const {
  return impl_->conn->name();
}

int Database::schema_version() const {
  return impl_->read_version();
}

std::int64_t Database::upsert_profile(const Profile& p) {
  return impl_->with_reconnect([&] {
    Impl::Transaction tx(*impl_);
    const std::int64_t id = impl_->put_profile(p);
    tx.commit();
    return id;
  });
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
  if (s.changes() != 1) impl_->fail("profile id " + std::to_string(profile_id), "no such profile");
  tx.commit();
}

std::int64_t Database::upsert_kernel(const Kernel& k) {
  return impl_->with_reconnect([&] {
    Impl::Transaction tx(*impl_);
    const std::int64_t id = impl_->put_kernel(k);
    tx.commit();
    return id;
  });
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
  return impl_->with_reconnect([&] {
    Impl::Transaction tx(*impl_);
    const std::int64_t id = impl_->put_measurement(m);
    tx.commit();
    return id;
  });
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
                          " FROM measurements WHERE profile_id = ?1 AND (?2 = 1 OR error = '') ORDER BY id";
  Impl::Stmt s(*impl_, sql.c_str());
  s.bind(1, profile_id).bind(2, include_failed ? 1 : 0);
  std::vector<Measurement> out;
  while (s.step()) out.push_back(Impl::read_measurement(s, 0));
  return out;
}

std::int64_t Database::add_model_measurement(const ModelMeasurement& m) {
  return impl_->with_reconnect([&] {
    Impl::Transaction tx(*impl_);
    const std::int64_t id = impl_->put_model_measurement(m);
    tx.commit();
    return id;
  });
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

// --- The farm ---

std::int64_t Database::add_worker(const Worker& w) {
  return impl_->with_reconnect([&] {
    Impl::Transaction tx(*impl_);
    Impl::Stmt s(*impl_,
                 "INSERT INTO workers(profile_id, hostname, machine_id, device, runtime_version, pid, started_utc, "
                 "last_seen_utc) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) RETURNING id");
    s.bind(1, w.profile_id)
        .bind(2, w.hostname)
        .bind(3, w.machine_id)
        .bind(4, w.device)
        .bind(5, w.runtime_version)
        .bind(6, w.pid)
        .bind(7, w.started_utc.empty() ? now_utc() : w.started_utc);
    if (!s.step()) impl_->fail("worker", "no id returned");
    const std::int64_t id = s.i64(0);
    tx.commit();
    return id;
  });
}

std::vector<Worker> Database::workers() const {
  Impl::Stmt s(*impl_,
               "SELECT id, profile_id, hostname, machine_id, device, runtime_version, pid, started_utc, last_seen_utc "
               "FROM workers ORDER BY id");
  std::vector<Worker> out;
  while (s.step()) {
    Worker w;
    w.id = s.i64(0);
    w.profile_id = s.i64(1);
    w.hostname = s.text(2);
    w.machine_id = s.text(3);
    w.device = s.text(4);
    w.runtime_version = s.text(5);
    w.pid = s.i64(6);
    w.started_utc = s.text(7);
    w.last_seen_utc = s.text(8);
    out.push_back(std::move(w));
  }
  return out;
}

std::int64_t Database::write_plan(std::int64_t profile_id, const std::vector<Kernel>& kernels) {
  return write_plan(profile_id, kernels.size(), [&](std::size_t i) { return kernels[i]; });
}

std::int64_t Database::write_plan(std::int64_t profile_id, std::size_t count,
                                  const std::function<Kernel(std::size_t)>& kernel_at) {
  return impl_->with_reconnect([&] {
    Impl::Transaction tx(*impl_);
    if (impl_->pg) {
      // Workers starting together write the plan one after the other; all but the first
      // find it written.
      Impl::Stmt lock(*impl_, "SELECT pg_advisory_xact_lock(?1)");
      lock.bind(1, (std::int64_t{kApplicationId} << 24) + profile_id).step();
    }
    Impl::Stmt before(*impl_, "SELECT count(*) FROM plan_items WHERE profile_id = ?1");
    before.bind(1, profile_id);
    const std::int64_t stored = before.step() ? before.i64(0) : 0;
    if (stored >= static_cast<std::int64_t>(count)) return stored;
    for (std::size_t i = static_cast<std::size_t>(stored); i < count; ++i) {
      const std::int64_t kernel_id = impl_->put_kernel(kernel_at(i));
      Impl::Stmt s(*impl_,
                   "INSERT INTO plan_items(profile_id, kernel_id, seq) VALUES(?1, ?2, ?3) "
                   "ON CONFLICT(profile_id, kernel_id) DO NOTHING");
      s.bind(1, profile_id).bind(2, kernel_id).bind(3, static_cast<std::int64_t>(i));
      s.step();
    }
    Impl::Stmt after(*impl_, "SELECT count(*) FROM plan_items WHERE profile_id = ?1");
    after.bind(1, profile_id);
    const std::int64_t size = after.step() ? after.i64(0) : 0;
    tx.commit();
    return size;
  });
}

PlanState Database::plan_state(std::int64_t profile_id) const {
  return impl_->with_reconnect([&] {
    Impl::Stmt s(*impl_,
                 "SELECT count(*), COALESCE(SUM(CASE WHEN state = 0 THEN 1 ELSE 0 END), 0), "
                 "COALESCE(SUM(CASE WHEN state = 1 THEN 1 ELSE 0 END), 0), "
                 "COALESCE(SUM(CASE WHEN state = 2 THEN 1 ELSE 0 END), 0), "
                 "COALESCE(SUM(CASE WHEN state = 1 AND lease_until >= {NOW} THEN 1 ELSE 0 END), 0) "
                 "FROM plan_items WHERE profile_id = ?1");
    s.bind(1, profile_id);
    PlanState st;
    if (s.step()) {
      st.size = s.i64(0);
      st.open = s.i64(1);
      st.claimed = s.i64(2);
      st.done = s.i64(3);
      st.leased = s.i64(4);
    }
    return st;
  });
}

std::optional<Kernel> Database::claim_kernel(std::int64_t profile_id, std::int64_t worker_id, double lease_s) {
  if (!(lease_s > 0)) impl_->fail("claim", "the lease must be a positive number of seconds");
  return impl_->with_reconnect([&]() -> std::optional<Kernel> {
    Impl::Transaction tx(*impl_);
    // A claim need not survive a server crash (the worker's finish then finds the claim
    // gone and writes nothing; the kernel is open again), so it does not wait for the
    // server's disk; the measurement's transaction does.
    if (impl_->pg) impl_->exec("SET LOCAL synchronous_commit TO OFF", "claim");
    Impl::Stmt claim(*impl_,
                     "UPDATE plan_items SET state = 1, worker_id = ?2, lease_until = {NOW} + ?3, claims = claims + 1 "
                     "WHERE profile_id = ?1 AND kernel_id = (SELECT kernel_id FROM plan_items WHERE profile_id = ?1 "
                     "AND (state = 0 OR (state = 1 AND (worker_id = ?2 OR lease_until < {NOW}))) ORDER BY seq "
                     "LIMIT 1 {SKIP_LOCKED}) RETURNING kernel_id");
    claim.bind(1, profile_id).bind(2, worker_id).bind(3, lease_s);
    if (!claim.step()) return std::nullopt;
    const std::int64_t kernel_id = claim.i64(0);
    Impl::Stmt seen(*impl_, "UPDATE workers SET last_seen_utc = ?2 WHERE id = ?1");
    seen.bind(1, worker_id).bind(2, now_utc()).step();
    Impl::Stmt k(*impl_, "SELECT id, type, key, params, features FROM kernels WHERE id = ?1");
    k.bind(1, kernel_id);
    if (!k.step()) impl_->fail("kernel id " + std::to_string(kernel_id), "is in the plan but not in kernels");
    Kernel kernel;
    kernel.id = k.i64(0);
    kernel.type = k.text(1);
    kernel.key = k.text(2);
    kernel.params = k.json(3, "kernels.params");
    kernel.features = k.json(4, "kernels.features");
    tx.commit();
    return kernel;
  });
}

bool Database::finish_claim(std::int64_t worker_id, const Measurement& m) {
  return impl_->with_reconnect([&] {
    Impl::Transaction tx(*impl_);
    Impl::Stmt done(*impl_,
                    "UPDATE plan_items SET state = 2, lease_until = 0 WHERE profile_id = ?1 AND kernel_id = ?2 AND "
                    "worker_id = ?3 AND state = 1");
    done.bind(1, m.profile_id).bind(2, m.kernel_id).bind(3, worker_id);
    done.step();
    if (done.changes() != 1) {
      // Done by this worker already: a repeat after a COMMIT whose answer the broken
      // connection lost. Anything else: the lease went to another worker.
      Impl::Stmt q(*impl_, "SELECT state, worker_id FROM plan_items WHERE profile_id = ?1 AND kernel_id = ?2");
      q.bind(1, m.profile_id).bind(2, m.kernel_id);
      return q.step() && q.i64(0) == 2 && q.i64(1) == worker_id;
    }
    impl_->put_measurement(m);
    tx.commit();
    return true;
  });
}

std::int64_t Database::reopen_failed(std::int64_t profile_id) {
  return impl_->with_reconnect([&] {
    Impl::Transaction tx(*impl_);
    Impl::Stmt s(*impl_,
                 "UPDATE plan_items SET state = 0, worker_id = 0, lease_until = 0 WHERE profile_id = ?1 AND state = 2 "
                 "AND kernel_id IN (SELECT kernel_id FROM measurements WHERE profile_id = ?1 AND error <> '')");
    s.bind(1, profile_id);
    s.step();
    const std::int64_t n = s.changes();
    tx.commit();
    return n;
  });
}

namespace {

measure::Stats stats_from_json(const nlohmann::json& row) {
  auto num = [&](const char* field) {
    const auto it = row.find(field);
    return it != row.end() && it->is_number() ? it->get<double>() : NAN;
  };
  measure::Stats st;
  st.n = row.value("n", 0);
  st.median = num("median_ms");
  st.mean = num("mean_ms");
  st.min = num("min_ms");
  st.max = num("max_ms");
  st.std = num("std_ms");
  st.cv = num("cv");
  return st;
}

}  // namespace

std::int64_t Database::import_json(const nlohmann::json& doc) {
  for (const char* table : {"profiles", "kernels", "measurements", "model_measurements"}) {
    if (!doc.contains(table) || !doc[table].is_array()) {
      throw Error(ErrorKind::kInvalidArgument, impl_->conn->name(), std::string("import: ") + table,
                  "missing: expected the JSON of `infercast db export --format json`");
    }
  }
  const int version = doc.value("schema_version", 0);
  if (version > kSchemaVersion) {
    throw Error(ErrorKind::kInvalidArgument, impl_->conn->name(), "import: schema_version",
                "the export has schema version " + std::to_string(version) + ", newer than this build knows (" +
                    std::to_string(kSchemaVersion) + ")");
  }
  Impl::Transaction tx(*impl_);
  std::int64_t copied = 0;
  try {
    std::map<std::int64_t, std::int64_t> profile_ids, kernel_ids;
    for (const auto& j : doc["profiles"]) {
      Profile p;
      p.name = j.at("name").get<std::string>();
      p.runtime = j.at("runtime").get<std::string>();
      p.runtime_version = j.value("runtime_version", "");
      p.threads = j.value("threads", 0);
      p.precision = j.value("precision", "fp32");
      p.device = j.value("device", "");
      p.machine_id = j.value("machine_id", "");
      p.hostname = j.value("hostname", "");
      p.created_utc = j.value("created_utc", "");
      p.extra = j.value("extra", nlohmann::json::object());
      profile_ids[j.at("id").get<std::int64_t>()] = impl_->put_profile(p);
    }
    for (const auto& j : doc["kernels"]) {
      Kernel k;
      k.type = j.at("type").get<std::string>();
      k.key = j.at("key").get<std::string>();
      k.params = j.at("params");
      k.features = j.value("features", nlohmann::json::object());
      kernel_ids[j.at("id").get<std::int64_t>()] = impl_->put_kernel(k);
    }
    auto mapped = [&](const std::map<std::int64_t, std::int64_t>& ids, const nlohmann::json& j, const char* field) {
      const auto it = ids.find(j.at(field).get<std::int64_t>());
      if (it == ids.end()) {
        throw Error(ErrorKind::kInvalidArgument, impl_->conn->name(), std::string("import: ") + field,
                    std::to_string(j.at(field).get<std::int64_t>()) + " names no exported row");
      }
      return it->second;
    };
    for (const auto& j : doc["measurements"]) {
      Measurement m;
      m.profile_id = mapped(profile_ids, j, "profile_id");
      m.kernel_id = mapped(kernel_ids, j, "kernel_id");
      m.stats = stats_from_json(j);
      m.remeasured = j.value("remeasured", 0);
      m.own_ms = j.value("own_ms", 0.0);
      m.layers_ms = j.value("layers_ms", 0.0);
      m.layer_count = j.value("layer_count", 0);
      m.cold_ms = j.value("cold_ms", 0.0);
      m.own_median_ms = j.value("own_median_ms", 0.0);
      m.timestamp_utc = j.value("timestamp_utc", "");
      m.error = j.value("error", "");
      impl_->put_measurement(m);
      ++copied;
    }
    for (const auto& j : doc["model_measurements"]) {
      ModelMeasurement m;
      m.profile_id = mapped(profile_ids, j, "profile_id");
      m.model_name = j.value("model_name", "");
      m.model_hash = j.at("model_hash").get<std::string>();
      m.stats = stats_from_json(j);
      m.layers = j.value("layers", nlohmann::json::array());
      m.timestamp_utc = j.value("timestamp_utc", "");
      m.error = j.value("error", "");
      impl_->put_model_measurement(m);
      ++copied;
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::kInvalidArgument, impl_->conn->name(), "import",
                std::string("malformed export: ") + e.what());
  }
  tx.commit();
  return copied;
}

}  // namespace infercast::store
