// The store's connection to a database, one implementation per dialect (SQLite's C API,
// PostgreSQL's libpq). Private to store/: the typed API in store.hpp is all callers see.
//
// SQL is written once, in the subset both dialects share, with numbered parameters ?1..?N
// and a few tokens that render per dialect (render()): {ID} an auto-assigned 64-bit
// primary key, {BIGINT} a 64-bit reference, {REAL} a double, {NOW} the database clock in
// epoch seconds, {SKIP_LOCKED} row locking for work queues (nothing on SQLite, whose
// writers are serialized by BEGIN IMMEDIATE).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace infercast::store::detail {

enum class Dialect { kSqlite, kPostgres };

// A bound parameter or a result cell. PostgreSQL cells arrive as text; the readers in
// database.cpp convert.
using Value = std::variant<std::monostate, std::int64_t, double, std::string>;

struct ResultSet {
  std::vector<std::vector<Value>> rows;
  std::int64_t changes = 0;  // rows the statement inserted, updated or deleted
};

class Connection {
 public:
  virtual ~Connection() = default;
  virtual Dialect dialect() const = 0;
  // Runs statements without parameters (schema steps, transaction control). Throws Error(kIo).
  virtual void exec(const std::string& sql, const std::string& where) = 0;
  // Runs one statement (already rendered) with its parameters; every row materialized.
  virtual ResultSet query(const std::string& sql, const std::vector<Value>& params, const std::string& where) = 0;
  // Whether the link to the server broke (a restarted server, a dropped network); a file never does.
  virtual bool lost() const { return false; }
  // Connects again, retrying for up to `timeout_s`; false when the server stayed away.
  virtual bool reconnect(double /*timeout_s*/) { return false; }
  // The target as messages show it: the file path, or the URL with its password masked.
  const std::string& name() const { return name_; }
  [[noreturn]] void fail(const std::string& where, const std::string& reason) const;

 protected:
  std::string name_;
};

// Whether `target` names a PostgreSQL database (postgresql:// or postgres://) rather than a file.
bool is_postgres_url(const std::string& target);
// `url` with the password (user:PASSWORD@ or password=...) replaced by ***.
std::string redact_url(const std::string& url);
// The shared SQL text in `dialect`: tokens replaced, ?N becomes $N on PostgreSQL.
std::string render(const std::string& sql, Dialect dialect);

std::unique_ptr<Connection> open_sqlite(const std::string& path);
std::unique_ptr<Connection> open_postgres(const std::string& url);

}  // namespace infercast::store::detail
