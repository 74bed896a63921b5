#include "commands.hpp"
#include "infercast/ir/op.hpp"
#include "infercast/report/report.hpp"

namespace infercast::cli {
namespace {

struct OpsOptions {
  std::string format = "table";
};

// The op table as a report: what `analyze` understands and how it counts each op.
int run_ops(const OpsOptions& o) {
  report::Report r;
  report::Table t{"Op table",
                  {{"op", "op", report::Unit::kNone},
                   {"category", "category", report::Unit::kNone},
                   {"flops_per_element", "FLOPs/element", report::Unit::kRatio}},
                  {},
                  false};
  r.json["ops"] = nlohmann::json::array();
  for (std::size_t i = 0; i < ir::kOpCount; ++i) {
    const auto op = static_cast<ir::Op>(i);
    nlohmann::json row = {{"op", std::string(ir::op_name(op))},
                          {"category", std::string(ir::category_name(ir::op_category(op)))},
                          {"flops_per_element", ir::op_flops_per_element(op)}};
    r.json["ops"].push_back(row);
    t.rows.push_back(std::move(row));
  }
  r.tables.push_back(std::move(t));
  write_output("", report::render(r, report::parse_format(o.format)));
  return 0;
}

}  // namespace

void register_ops(CLI::App& app, Action& action) {
  auto options = std::make_shared<OpsOptions>();
  CLI::App* cmd = app.add_subcommand("ops", "List infercast's op table (canonical ops, categories, FLOP figures)");
  cmd->add_option("--format", options->format, "table | csv | json")->capture_default_str();
  cmd->callback([options, &action] { action = [options] { return run_ops(*options); }; });
}

}  // namespace infercast::cli
