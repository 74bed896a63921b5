// The PostgreSQL dialect over libpq. The URL, the PG* environment variables and
// ~/.pgpass supply host, user and password the way every PostgreSQL client reads them;
// the password is never part of a message (redact_url), and libpq's own messages name
// host, port and user only. Parameters travel as text with their types inferred by the
// server; doubles are written shortest-exact and read back bit-identical.
#include <libpq-fe.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "connection.hpp"
#include "infercast/base/error.hpp"
#include "infercast/base/shared_library.hpp"

namespace infercast::store::detail {

namespace {

// libpq's C API, bound when a PostgreSQL store is first opened
// (base/shared_library.hpp): commands that never touch one do not load libpq and the
// Kerberos, LDAP and TLS libraries it pulls in.
#define INFERCAST_LIBPQ_FUNCTIONS(X) \
  X(PQclear)                         \
  X(PQcmdTuples)                     \
  X(PQconnectdbParams)               \
  X(PQerrorMessage)                  \
  X(PQexec)                          \
  X(PQexecParams)                    \
  X(PQfinish)                        \
  X(PQgetisnull)                     \
  X(PQgetlength)                     \
  X(PQgetvalue)                      \
  X(PQnfields)                       \
  X(PQntuples)                       \
  X(PQreset)                         \
  X(PQresultErrorMessage)            \
  X(PQresultStatus)                  \
  X(PQsetNoticeProcessor)            \
  X(PQstatus)

struct LibpqApi {
#define INFERCAST_DECLARE(name) decltype(&::name) name = nullptr;
  INFERCAST_LIBPQ_FUNCTIONS(INFERCAST_DECLARE)
#undef INFERCAST_DECLARE
};

const LibpqApi& libpq() {
  static const LibpqApi api = [] {
    static const base::SharedLibrary library(INFERCAST_LIBPQ_SONAME, "PostgreSQL stores");
    LibpqApi a;
#define INFERCAST_BIND(name) a.name = library.function<decltype(&::name)>(#name);
    INFERCAST_LIBPQ_FUNCTIONS(INFERCAST_BIND)
#undef INFERCAST_BIND
    return a;
  }();
  return api;
}

// libpq's message without its trailing newline and hint lines; "ERROR:  " dropped.
std::string first_line(const char* message) {
  std::string s = message != nullptr ? message : "";
  if (const auto nl = s.find('\n'); nl != std::string::npos) s.erase(nl);
  for (const char* prefix : {"ERROR:  ", "FATAL:  "}) {
    if (s.rfind(prefix, 0) == 0) s.erase(0, std::char_traits<char>::length(prefix));
  }
  return s.empty() ? "unknown error" : s;
}

bool transient(const char* message) {
  const std::string s = message != nullptr ? message : "";
  for (const char* m : {"the database system is starting up", "the database system is shutting down",
                        "server closed the connection unexpectedly", "the database system is in recovery mode"}) {
    if (s.find(m) != std::string::npos) return true;
  }
  return false;
}

std::string number_text(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

class PgConnection final : public Connection {
 public:
  explicit PgConnection(const std::string& url) : url_(url) {
    name_ = redact_url(url);
    // A silent network must not hang a worker: 10 s to connect unless the URL or
    // PGCONNECT_TIMEOUT says otherwise (the URL, expanded last, overrides these keywords).
    const char* timeout = std::getenv("PGCONNECT_TIMEOUT");
    const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
    const char* values[] = {timeout != nullptr ? timeout : "10", "infercast", url.c_str(), nullptr};
    conn_ = libpq().PQconnectdbParams(keys, values, 1);
    if (conn_ == nullptr) fail("connect", "out of memory");
    // A server in the middle of a restart answers, but not yet (or no longer) as a
    // database: wait for it. Refused connections and credentials fail at once.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (libpq().PQstatus(conn_) != CONNECTION_OK && transient(libpq().PQerrorMessage(conn_)) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      libpq().PQreset(conn_);
    }
    if (libpq().PQstatus(conn_) != CONNECTION_OK) fail("connect", first_line(libpq().PQerrorMessage(conn_)));
    quiet();
  }
  ~PgConnection() override {
    if (conn_ != nullptr) libpq().PQfinish(conn_);
  }

  Dialect dialect() const override { return Dialect::kPostgres; }

  void exec(const std::string& sql, const std::string& where) override {
    PGresult* r = libpq().PQexec(conn_, sql.c_str());
    check(r, where);
    libpq().PQclear(r);
  }

  ResultSet query(const std::string& sql, const std::vector<Value>& params, const std::string& where) override {
    std::vector<std::string> text(params.size());
    std::vector<const char*> values(params.size(), nullptr);
    for (std::size_t i = 0; i < params.size(); ++i) {
      const Value& v = params[i];
      if (std::holds_alternative<std::monostate>(v)) continue;
      if (const auto* x = std::get_if<std::int64_t>(&v)) {
        text[i] = std::to_string(*x);
      } else if (const auto* d = std::get_if<double>(&v)) {
        text[i] = number_text(*d);
      } else {
        text[i] = std::get<std::string>(v);
      }
      values[i] = text[i].c_str();
    }
    PGresult* r = libpq().PQexecParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr, values.data(),
                                       nullptr, nullptr, 0);
    check(r, where);
    ResultSet out;
    const int rows = libpq().PQntuples(r), cols = libpq().PQnfields(r);
    out.rows.reserve(static_cast<std::size_t>(rows));
    for (int i = 0; i < rows; ++i) {
      std::vector<Value> row;
      row.reserve(static_cast<std::size_t>(cols));
      for (int c = 0; c < cols; ++c) {
        if (libpq().PQgetisnull(r, i, c)) {
          row.emplace_back(std::monostate{});
        } else {
          row.emplace_back(
              std::string(libpq().PQgetvalue(r, i, c), static_cast<std::size_t>(libpq().PQgetlength(r, i, c))));
        }
      }
      out.rows.push_back(std::move(row));
    }
    const char* changed = libpq().PQcmdTuples(r);
    out.changes = changed != nullptr && *changed != '\0' ? std::stoll(changed) : 0;
    libpq().PQclear(r);
    return out;
  }

  bool lost() const override { return libpq().PQstatus(conn_) != CONNECTION_OK; }

  bool reconnect(double timeout_s) override {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    for (;;) {
      libpq().PQreset(conn_);
      if (libpq().PQstatus(conn_) == CONNECTION_OK) {
        quiet();
        return true;
      }
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
  }

 private:
  // Notices (e.g. "relation already exists, skipping") are not the user's business.
  void quiet() {
    libpq().PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
  }

  void check(PGresult* r, const std::string& where) {
    const ExecStatusType st = r != nullptr ? libpq().PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return;
    const std::string reason =
        first_line(r != nullptr && *libpq().PQresultErrorMessage(r) != '\0' ? libpq().PQresultErrorMessage(r)
                                                                            : libpq().PQerrorMessage(conn_));
    libpq().PQclear(r);
    fail(where, reason);
  }

  std::string url_;
  PGconn* conn_ = nullptr;
};

}  // namespace

std::unique_ptr<Connection> open_postgres(const std::string& url) {
  return std::make_unique<PgConnection>(url);
}

}  // namespace infercast::store::detail
