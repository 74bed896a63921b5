// infercast db stats | export | import: read the kernel database, copy it between
// databases (an SQLite file and a PostgreSQL farm, either way).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "commands.hpp"
#include "infercast/base/error.hpp"
#include "infercast/store/store.hpp"

namespace infercast::cli {
namespace {

struct DbOptions {
  std::string db;
  std::string format;
  std::string output;
  std::string from;
};

bool is_url(const std::string& target) {
  return target.rfind("postgresql://", 0) == 0 || target.rfind("postgres://", 0) == 0;
}

store::Database open_existing(const std::string& path) {
  // Reading never creates a database file (a server's database exists or the open fails).
  if (!is_url(path) && !std::filesystem::exists(path)) throw Error(ErrorKind::kIo, path, "", "no such database file");
  return store::Database::open(path);
}

// One row per device: the profiles (runtime configurations) and the workers that measured them.
std::string devices_table(const store::Database& db) {
  std::map<std::int64_t, std::vector<store::Worker>> by_profile;
  for (auto& w : db.workers()) by_profile[w.profile_id].push_back(std::move(w));
  std::string out = "\ndevices\nprofile              runtime          threads  measured  workers  machines  device\n";
  for (const auto& p : db.profiles()) {
    const auto& workers = by_profile[p.id];
    std::set<std::string> machines = {p.machine_id};
    for (const auto& w : workers) machines.insert(w.machine_id);
    char row[512];
    std::snprintf(row, sizeof row, "%-20s %-16s %7d  %8zu  %7zu  %8zu  %s\n", p.name.c_str(),
                  (p.runtime + " " + p.runtime_version).substr(0, 16).c_str(), p.threads,
                  db.measurements(p.id, false).size(), workers.size(), machines.size(), p.device.c_str());
    out += row;
  }
  return out;
}

nlohmann::json devices_json(const store::Database& db) {
  std::map<std::int64_t, nlohmann::json> workers;
  for (const auto& w : db.workers()) {
    workers[w.profile_id].push_back({{"id", w.id},
                                     {"hostname", w.hostname},
                                     {"machine_id", w.machine_id},
                                     {"device", w.device},
                                     {"runtime_version", w.runtime_version},
                                     {"pid", w.pid},
                                     {"started_utc", w.started_utc},
                                     {"last_seen_utc", w.last_seen_utc}});
  }
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : db.profiles()) {
    const store::PlanState plan = db.plan_state(p.id);
    out.push_back({{"profile", p.name},
                   {"runtime", p.runtime},
                   {"runtime_version", p.runtime_version},
                   {"threads", p.threads},
                   {"device", p.device},
                   {"machine_id", p.machine_id},
                   {"hostname", p.hostname},
                   {"measured", db.measurements(p.id, false).size()},
                   {"plan", {{"size", plan.size}, {"open", plan.open}, {"claimed", plan.claimed}, {"done", plan.done}}},
                   {"workers", workers.count(p.id) ? workers[p.id] : nlohmann::json::array()}});
  }
  return out;
}

int run_stats(const DbOptions& o) {
  if (o.format != "table" && o.format != "json") {
    throw Error(ErrorKind::kInvalidArgument, "--format", o.format, "expected table or json");
  }
  const store::Database db = open_existing(o.db);
  const store::DatabaseStats s = db.stats();
  const nlohmann::json j = {{"db", db.target()},
                            {"backend", db.backend()},
                            {"schema_version", db.schema_version()},
                            {"profiles", s.profiles},
                            {"kernels", s.kernels},
                            {"measurements", s.measurements},
                            {"failed_measurements", s.failed_measurements},
                            {"model_measurements", s.model_measurements},
                            {"median_cv", s.median_cv},
                            {"remeasured", s.remeasured},
                            {"devices", devices_json(db)}};
  if (o.format == "json") {
    write_output(o.output, j.dump(2) + "\n");
    return 0;
  }
  char buf[1024];
  std::snprintf(buf, sizeof buf,
                "database             %s (schema %d)\nprofiles             %lld\nkernels              %lld\n"
                "measurements         %lld\nfailed measurements  %lld\nmodel measurements   %lld\n"
                "median CV            %.2f%%\nre-measured          %lld\n",
                db.target().c_str(), db.schema_version(), static_cast<long long>(s.profiles),
                static_cast<long long>(s.kernels), static_cast<long long>(s.measurements),
                static_cast<long long>(s.failed_measurements), static_cast<long long>(s.model_measurements),
                s.median_cv * 100, static_cast<long long>(s.remeasured));
  write_output(o.output, buf + devices_table(db));
  return 0;
}

int run_export(const DbOptions& o) {
  if (o.format != "csv" && o.format != "json") {
    throw Error(ErrorKind::kInvalidArgument, "--format", o.format, "expected csv or json");
  }
  const store::Database db = open_existing(o.db);
  write_output(o.output, o.format == "csv" ? db.export_csv() : db.export_json().dump(2) + "\n");
  return 0;
}

int run_import(const DbOptions& o) {
  // The source: an export (.json) or a database (a file or a URL), read whole before the
  // target is opened, so a bad source writes nothing.
  nlohmann::json doc;
  if (!is_url(o.from) && std::filesystem::path(o.from).extension() == ".json") {
    std::ifstream in(o.from);
    if (!in) throw Error(ErrorKind::kIo, o.from, "", "cannot read");
    std::stringstream text;
    text << in.rdbuf();
    doc = nlohmann::json::parse(text.str(), nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
      throw Error(ErrorKind::kInvalidArgument, o.from, "", "is not JSON from `infercast db export --format json`");
    }
  } else {
    doc = open_existing(o.from).export_json();
  }
  store::Database db = store::Database::open(o.db);
  const std::int64_t copied = db.import_json(doc);
  std::printf("imported %lld measurements (%zu profiles, %zu kernels) into %s\n", static_cast<long long>(copied),
              doc["profiles"].size(), doc["kernels"].size(), db.target().c_str());
  return 0;
}

}  // namespace

void register_db(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand("db", "Read the kernel database: stats, export; copy one into another: import");
  cmd->require_subcommand(1);
  auto stats = std::make_shared<DbOptions>();
  stats->format = "table";
  CLI::App* s = cmd->add_subcommand("stats", "Counts, median CV and re-measured measurements");
  s->add_option("--db", stats->db, "database file or postgresql:// URL")->required();
  s->add_option("--format", stats->format, "table | json")->capture_default_str();
  s->add_option("-o,--output", stats->output, "write to FILE instead of stdout");
  s->callback([stats, &action] { action = [stats] { return run_stats(*stats); }; });
  auto exp = std::make_shared<DbOptions>();
  CLI::App* e = cmd->add_subcommand("export", "Every measurement as CSV, or every table as JSON");
  e->add_option("--db", exp->db, "database file or postgresql:// URL")->required();
  e->add_option("--format", exp->format, "csv | json")->required();
  e->add_option("-o,--output", exp->output, "write to FILE instead of stdout");
  e->callback([exp, &action] { action = [exp] { return run_export(*exp); }; });
  auto imp = std::make_shared<DbOptions>();
  CLI::App* i =
      cmd->add_subcommand("import", "Copy every row of a database or an export into --db (SQLite <-> PostgreSQL)");
  i->add_option("--db", imp->db, "the target: database file (created when absent) or postgresql:// URL")->required();
  i->add_option("--from", imp->from, "the source: a database file, a postgresql:// URL, or a db export .json")
      ->required();
  i->callback([imp, &action] { action = [imp] { return run_import(*imp); }; });
}

}  // namespace infercast::cli
