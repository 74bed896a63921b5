#include <iostream>

#include "commands.hpp"
#include "infercast/cost/cost.hpp"
#include "infercast/import/import.hpp"
#include "infercast/measure/measure.hpp"
#include "infercast/report/model_report.hpp"

namespace infercast::cli {
namespace {

struct AnalyzeOptions {
  std::string model;
  std::vector<std::string> input_shapes;
  std::string format = "table";
  bool per_layer = false;
  std::string output;
};

int run_analyze(const AnalyzeOptions& o) {
  import::ImportOptions import_options;
  for (const std::string& spec : o.input_shapes) import::add_input_shape(import_options, spec);
  const report::Format format = report::parse_format(o.format);
  const ir::Graph graph = import::load_model(o.model, import_options);
  const cost::ModelCost cost = cost::analyze(graph);
  // html and netron draw the model report (the analysis plus the memory timeline and
  // the graph's edges); the text formats the analysis.
  const bool visual = format == report::Format::kHtml || format == report::Format::kNetron;
  const report::Report report = visual ? report::model_report(graph, cost, nullptr, nullptr, measure::machine_context())
                                       : report::analysis_report(graph, cost);
  if (format == report::Format::kTable) {
    for (const auto& w : report.json["warnings"]) std::cerr << "infercast: warning: " << w.get<std::string>() << "\n";
  }
  write_output(o.output, report::render(report, format, {o.per_layer}));
  return 0;
}

}  // namespace

void register_analyze(CLI::App& app, Action& action) {
  auto options = std::make_shared<AnalyzeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "analyze",
      "Params, weight bytes, MACs, FLOPs, memory traffic and peak activation memory of an .onnx or .tflite model");
  cmd->add_option("model", options->model, "model file (.onnx or .tflite)")->required();
  cmd->add_option("--input-shape", options->input_shapes, "fix an input's shape: NAME=1x3x224x224 (repeatable)");
  cmd->add_option("--format", options->format, "table | csv | json | html | netron")->capture_default_str();
  cmd->add_flag("--per-layer", options->per_layer, "also print the per-layer table (csv and json always have it)");
  cmd->add_option("-o,--output", options->output, "write to FILE instead of stdout");
  cmd->callback([options, &action] { action = [options] { return run_analyze(*options); }; });
}

}  // namespace infercast::cli
