// infercast db stats | export: read the kernel database.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "commands.hpp"
#include "infercast/base/error.hpp"
#include "infercast/store/store.hpp"

namespace infercast::cli {
namespace {

struct DbOptions {
  std::string db;
  std::string format;
  std::string output;
};

store::Database open_existing(const std::string& path) {
  // Reading never creates a database.
  if (!std::filesystem::exists(path)) throw Error(ErrorKind::kIo, path, "", "no such database file");
  return store::Database::open(path);
}

int run_stats(const DbOptions& o) {
  if (o.format != "table" && o.format != "json") {
    throw Error(ErrorKind::kInvalidArgument, "--format", o.format, "expected table or json");
  }
  const store::Database db = open_existing(o.db);
  const store::DatabaseStats s = db.stats();
  const nlohmann::json j = {{"db", o.db},
                            {"schema_version", db.schema_version()},
                            {"profiles", s.profiles},
                            {"kernels", s.kernels},
                            {"measurements", s.measurements},
                            {"failed_measurements", s.failed_measurements},
                            {"model_measurements", s.model_measurements},
                            {"median_cv", s.median_cv},
                            {"remeasured", s.remeasured}};
  if (o.format == "json") {
    write_output(o.output, j.dump(2) + "\n");
    return 0;
  }
  char buf[1024];
  std::snprintf(buf, sizeof buf,
                "database             %s (schema %d)\nprofiles             %lld\nkernels              %lld\n"
                "measurements         %lld\nfailed measurements  %lld\nmodel measurements   %lld\n"
                "median CV            %.2f%%\nre-measured          %lld\n",
                o.db.c_str(), db.schema_version(), static_cast<long long>(s.profiles),
                static_cast<long long>(s.kernels), static_cast<long long>(s.measurements),
                static_cast<long long>(s.failed_measurements), static_cast<long long>(s.model_measurements),
                s.median_cv * 100, static_cast<long long>(s.remeasured));
  write_output(o.output, buf);
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

}  // namespace

void register_db(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand("db", "Read the kernel database: stats, export");
  cmd->require_subcommand(1);
  auto stats = std::make_shared<DbOptions>();
  stats->format = "table";
  CLI::App* s = cmd->add_subcommand("stats", "Counts, median CV and re-measured measurements");
  s->add_option("--db", stats->db, "database file")->required();
  s->add_option("--format", stats->format, "table | json")->capture_default_str();
  s->add_option("-o,--output", stats->output, "write to FILE instead of stdout");
  s->callback([stats, &action] { action = [stats] { return run_stats(*stats); }; });
  auto exp = std::make_shared<DbOptions>();
  CLI::App* e = cmd->add_subcommand("export", "Every measurement as CSV, or every table as JSON");
  e->add_option("--db", exp->db, "database file")->required();
  e->add_option("--format", exp->format, "csv | json")->required();
  e->add_option("-o,--output", exp->output, "write to FILE instead of stdout");
  e->callback([exp, &action] { action = [exp] { return run_export(*exp); }; });
}

}  // namespace infercast::cli
