// The SQLite dialect: a file opened with SQLite's C API; statements prepared, bound and
// stepped to the end (rows materialized, typed as SQLite stored them).
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>

#include "connection.hpp"
#include "infercast/base/error.hpp"

namespace infercast::store::detail {

namespace {

std::string first_words(const std::string& sql) {
  std::string s = sql;
  std::replace(s.begin(), s.end(), '\n', ' ');
  s.erase(0, std::min(s.size(), s.find_first_not_of(' ')));
  return "statement '" + s.substr(0, std::min<std::size_t>(s.size(), 40)) + "'";
}

class SqliteConnection final : public Connection {
 public:
  explicit SqliteConnection(const std::string& path) {
    name_ = path;
    if (std::filesystem::is_directory(path)) fail("", "is a directory, not a database file");
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
      fail_sqlite("open");
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, 10000);
  }
  ~SqliteConnection() override {
    if (db_ != nullptr) sqlite3_close_v2(db_);
  }

  Dialect dialect() const override { return Dialect::kSqlite; }

  void exec(const std::string& sql, const std::string& where) override {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
      const std::string reason = message != nullptr ? message : sqlite3_errmsg(db_);
      sqlite3_free(message);
      fail(where, reason);
    }
  }

  ResultSet query(const std::string& sql, const std::vector<Value>& params, const std::string& where) override {
    const std::string at = where.empty() ? first_words(sql) : where;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) fail_sqlite(at);
    struct Finalize {
      sqlite3_stmt* s;
      ~Finalize() { sqlite3_finalize(s); }
    } finalize{stmt};
    for (std::size_t i = 0; i < params.size(); ++i) {
      const int n = static_cast<int>(i) + 1;
      const Value& v = params[i];
      int rc = SQLITE_OK;
      if (std::holds_alternative<std::monostate>(v)) {
        rc = sqlite3_bind_null(stmt, n);
      } else if (const auto* x = std::get_if<std::int64_t>(&v)) {
        rc = sqlite3_bind_int64(stmt, n, *x);
      } else if (const auto* d = std::get_if<double>(&v)) {
        rc = sqlite3_bind_double(stmt, n, *d);
      } else {
        const auto& s = std::get<std::string>(v);
        rc = sqlite3_bind_text(stmt, n, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
      }
      if (rc != SQLITE_OK) fail_sqlite(at);
    }
    ResultSet out;
    for (;;) {
      const int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) fail_sqlite(at);
      const int cols = sqlite3_column_count(stmt);
      std::vector<Value> row;
      row.reserve(static_cast<std::size_t>(cols));
      for (int c = 0; c < cols; ++c) {
        switch (sqlite3_column_type(stmt, c)) {
          case SQLITE_NULL: row.emplace_back(std::monostate{}); break;
          case SQLITE_INTEGER: row.emplace_back(static_cast<std::int64_t>(sqlite3_column_int64(stmt, c))); break;
          case SQLITE_FLOAT: row.emplace_back(sqlite3_column_double(stmt, c)); break;
          default: {
            const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
            row.emplace_back(p != nullptr ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt, c)))
                                          : std::string());
          }
        }
      }
      out.rows.push_back(std::move(row));
    }
    out.changes = sqlite3_changes(db_);
    return out;
  }

 private:
  [[noreturn]] void fail_sqlite(const std::string& where) const {
    fail(where, db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory");
  }
  sqlite3* db_ = nullptr;
};

}  // namespace

void Connection::fail(const std::string& where, const std::string& reason) const {
  throw Error(ErrorKind::kIo, name_, where, reason);
}

std::unique_ptr<Connection> open_sqlite(const std::string& path) {
  return std::make_unique<SqliteConnection>(path);
}

}  // namespace infercast::store::detail
