// infercast predict: per-kernel and end-to-end latency of a model from a predictor bundle.
#include <cstdio>
#include <optional>

#include "commands.hpp"
#include "infercast/base/error.hpp"
#include "infercast/cost/cost.hpp"
#include "infercast/import/import.hpp"
#include "infercast/measure/measure.hpp"
#include "infercast/predict/predictor.hpp"
#include "infercast/predict/profile.hpp"
#include "infercast/runtime/runtime.hpp"

namespace infercast::cli {
namespace {

std::string join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

struct PredictOptions {
  std::string model;
  std::string predictor;
  std::string format = "table";
  std::vector<std::string> input_shapes;
  std::string output;
  bool read_host = false;
};

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

int run_predict(const PredictOptions& o) {
  if (o.format != "table" && o.format != "csv" && o.format != "json" && o.format != "html" && o.format != "netron")
    throw Error(ErrorKind::kInvalidArgument, "", "--format", "'" + o.format + "' (table, csv, json, html, netron)");
  import::ImportOptions import_options;
  for (const std::string& spec : o.input_shapes) import::add_input_shape(import_options, spec);
  const predict::Bundle bundle = predict::load_bundle(o.predictor);
  const ir::Graph graph = import::load_model(o.model, import_options);
  predict::Prediction p = predict::predict(bundle, graph);
  // --read-host: the profile's reference kernel timed now on the bundle's runtime, and the
  // prediction scaled by the host's speed over the profile's (predict::read_host). On a shared
  // host that drifts by 10-15% within an hour, the scaled time is what a run started now takes.
  std::optional<predict::HostReading> host;
  if (o.read_host) {
    auto engine = runtime::make_runtime(bundle.runtime);
    host = predict::read_host(bundle, *engine);
    predict::scale_to_host(p, host->speed);
  }
  if (o.format == "html" || o.format == "netron") {
    const report::PredictionInput input = prediction_input(bundle, p, o.predictor);
    const report::Report rep =
        report::model_report(graph, cost::analyze(graph), &input, nullptr, measure::machine_context());
    write_output(o.output, report::render(rep, report::parse_format(o.format)));
    return 0;
  }
  auto node_names = [&](const predict::Kernel& k) {
    std::vector<std::string> names;
    for (int n : k.nodes) names.push_back(graph.nodes[static_cast<std::size_t>(n)].name);
    return names;
  };
  if (o.format == "json") {
    nlohmann::json out = predict::prediction_json(bundle, graph, p);
    out["model"] = o.model;
    out["predictor"] = o.predictor;
    if (host)
      out["host_reading"] = {
          {"reference_ms", host->reference_ms}, {"profile_median_ms", host->profile_median_ms}, {"speed", host->speed}};
    write_output(o.output, out.dump(2) + "\n");
    return 0;
  }
  if (o.format == "csv") {
    std::string text = "index,name,type,family,nodes,latency_ms,lo_ms,hi_ms,source,outside_sampled_range\n";
    for (std::size_t i = 0; i < p.kernels.size(); ++i) {
      const auto& k = p.kernels[i];
      const auto& kp = p.per_kernel[i];
      std::string nodes;
      for (const auto& n : node_names(k)) nodes += (nodes.empty() ? "" : ";") + n;
      char nums[128];
      std::snprintf(nums, sizeof nums, "%.6f,%.6f,%.6f", kp.ms, kp.lo_ms, kp.hi_ms);
      text += std::to_string(i) + "," + csv_field(k.name) + "," + k.type + "," + k.family + "," + csv_field(nodes) +
              "," + nums + "," + kp.source + "," + csv_field(join(kp.outside, ";")) + "\n";
    }
    write_output(o.output, text);
    return 0;
  }
  char head[512];
  std::snprintf(head, sizeof head,
                "model       %s\npredictor   %s (%s %s, %d threads)\nlatency     %.3f ms  (90%% band %.3f .. %.3f ms)\n"
                "kernels     %zu (%d roofline estimates, %d outside the sampled range: marked *)\n\n",
                o.model.c_str(), o.predictor.c_str(), bundle.runtime.c_str(), bundle.runtime_version.c_str(),
                bundle.threads, p.ms, p.lo_ms, p.hi_ms, p.kernels.size(), p.estimated, p.extrapolated);
  std::string text = head;
  if (host) {
    char line[256];
    std::snprintf(line, sizeof line,
                  "host now    the reference kernel takes %.4f ms (the profile's median %.4f ms): times x%.3f\n\n",
                  host->reference_ms, host->profile_median_ms, host->speed);
    text.pop_back();  // the blank line after the header follows the host's line
    text += line;
  }
  text += "  #  kernel                          type                 ms       share  source\n";
  for (std::size_t i = 0; i < p.kernels.size(); ++i) {
    const auto& k = p.kernels[i];
    const auto& kp = p.per_kernel[i];
    if (k.removed) continue;
    char row[256];
    std::snprintf(row, sizeof row, "%3zu  %-31.31s %-20.20s %8.4f %6.1f%%  %s", i, k.name.c_str(), k.type.c_str(),
                  kp.ms, p.ms > 0 ? 100 * kp.ms / p.ms : 0.0, kp.source.c_str());
    text += row;
    if (!kp.outside.empty()) text += " *(" + join(kp.outside, ",") + ")";
    text += "\n";
  }
  // What no kernel row holds, so that the rows and these two lines sum to the latency.
  char tail[256];
  std::snprintf(tail, sizeof tail, "     %-52s %8.4f %6.1f%%  %s\n     %-52s %8.4f %6.1f%%  %s\n", "between kernels",
                p.between_kernels_ms, p.ms > 0 ? 100 * p.between_kernels_ms / p.ms : 0.0, "per-operator cost",
                "per run", p.run_overhead_ms, p.ms > 0 ? 100 * p.run_overhead_ms / p.ms : 0.0, "run overhead");
  text += tail;
  write_output(o.output, text);
  return 0;
}

}  // namespace

void register_predict(CLI::App& app, Action& action) {
  auto options = std::make_shared<PredictOptions>();
  CLI::App* cmd = app.add_subcommand("predict", "Predict a model's latency per kernel and end to end");
  cmd->add_option("model", options->model, "model file (.onnx or .tflite)")->required();
  cmd->add_option("--predictor", options->predictor, "predictor bundle (from `infercast profile` or `train`)")
      ->required();
  cmd->add_option("--input-shape", options->input_shapes, "fix an input's shape: NAME=1x3x224x224 (repeatable)");
  cmd->add_option("--format", options->format, "table | csv | json | html | netron")->capture_default_str();
  cmd->add_option("-o,--output", options->output, "write to FILE instead of stdout");
  cmd->add_flag("--read-host", options->read_host,
                "time the profile's reference kernel now on the bundle's runtime and scale the prediction by "
                "the host's speed over the profile's");
  cmd->callback([options, &action] { action = [options] { return run_predict(*options); }; });
}

}  // namespace infercast::cli
