// infercast report: one self-contained HTML page of a model: its costs, and its
// predicted and/or measured latency when a predictor and/or a runtime are given.
#include <algorithm>
#include <optional>

#include "commands.hpp"
#include "infercast/base/error.hpp"
#include "infercast/cost/cost.hpp"
#include "infercast/import/import.hpp"
#include "infercast/measure/measure.hpp"
#include "infercast/runtime/runtime.hpp"

namespace infercast::cli {

report::PredictionInput prediction_input(const predict::Bundle& bundle, const predict::Prediction& p,
                                         const std::string& bundle_path) {
  report::PredictionInput in;
  in.predictor = bundle_path;
  in.runtime = bundle.runtime;
  in.runtime_version = bundle.runtime_version;
  in.threads = bundle.threads;
  in.ms = p.ms;
  in.lo_ms = p.lo_ms;
  in.hi_ms = p.hi_ms;
  // The ceilings, from the profile's per-family rooflines where each one binds: compute
  // from the families that reach it (conv, gconv, fc), bandwidth from the memory-bound
  // ones (eltwise, activation); the fallback roofline (fitted to every family at once,
  // below the convolutions) where a family is missing. A memory-bound family's compute
  // ceiling (and a conv's bandwidth) never binds, so their fitted values mean nothing.
  // Rates are per millisecond: FLOP/ms / 1e6 = GFLOP/s, byte/ms / 1e6 = GB/s.
  double flops_per_ms = 0, bytes_per_ms = 0, dram_bytes_per_ms = 0;
  for (const auto& [family, model] : bundle.families) {
    if (model.samples <= 0) continue;
    if (family == "conv" || family == "gconv" || family == "fc") {
      flops_per_ms = std::max(flops_per_ms, model.roofline.flops_per_ms);
    } else if (family == "eltwise" || family == "activation") {
      bytes_per_ms = std::max(bytes_per_ms, model.roofline.bytes_per_ms);
      dram_bytes_per_ms = std::max(dram_bytes_per_ms, model.roofline.dram_bytes_per_ms);
    }
  }
  if (flops_per_ms <= 0) flops_per_ms = bundle.fallback.flops_per_ms;
  if (bytes_per_ms <= 0) bytes_per_ms = bundle.fallback.bytes_per_ms;
  if (dram_bytes_per_ms <= 0) dram_bytes_per_ms = bundle.fallback.dram_bytes_per_ms;
  in.peak_gflops = flops_per_ms / 1e6;
  in.bandwidth_gbs = bytes_per_ms / 1e6;
  in.dram_bandwidth_gbs = dram_bytes_per_ms / 1e6;
  for (std::size_t i = 0; i < p.kernels.size(); ++i) {
    const predict::Kernel& k = p.kernels[i];
    const predict::KernelPrediction& kp = p.per_kernel[i];
    in.kernels.push_back({k.name, k.type, k.family, k.nodes, kp.ms, kp.lo_ms, kp.hi_ms, kp.source, k.removed,
                          static_cast<double>(k.cost.flops), static_cast<double>(k.cost.bytes)});
  }
  return in;
}

namespace {

struct ReportOptions {
  std::string model;
  std::string predictor;
  std::string runtime;
  int threads = -1;
  std::vector<std::string> input_shapes;
  measure::Protocol protocol;
  std::string format = "html";
  std::string output;
};

int run_report(const ReportOptions& o) {
  const report::Format format = report::parse_format(o.format);
  if (o.threads != -1 && o.runtime.empty())
    throw Error(ErrorKind::kInvalidArgument, "", "--threads", "needs --runtime");
  measure::validate(o.protocol);
  import::ImportOptions import_options;
  for (const std::string& spec : o.input_shapes) import::add_input_shape(import_options, spec);
  const ir::Graph graph = import::load_model(o.model, import_options);
  const cost::ModelCost cost = cost::analyze(graph);
  std::optional<report::PredictionInput> prediction;
  int threads = o.threads;
  if (!o.predictor.empty()) {
    const predict::Bundle bundle = predict::load_bundle(o.predictor, o.runtime);
    prediction = prediction_input(bundle, predict::predict(bundle, graph), o.predictor);
    if (threads == -1) threads = bundle.threads;
  }
  std::optional<runtime::RunResult> measured;
  if (!o.runtime.empty()) {
    const auto engine = runtime::make_runtime(o.runtime);
    engine->prepare(graph, {std::max(threads, 0)});
    // End to end without the profiler, then the per-layer pass (the profiler adds time).
    runtime::RunResult e2e = engine->run({o.protocol, false, 42});
    runtime::RunResult layers = engine->run({o.protocol, true, 42});
    e2e.layers = std::move(layers.layers);
    measured = std::move(e2e);
  }
  const report::Report rep = report::model_report(graph, cost, prediction ? &*prediction : nullptr,
                                                  measured ? &*measured : nullptr, measure::machine_context());
  write_output(o.output, report::render(rep, format));
  return 0;
}

}  // namespace

void register_report(CLI::App& app, Action& action) {
  auto options = std::make_shared<ReportOptions>();
  CLI::App* cmd = app.add_subcommand(
      "report", "One self-contained HTML page of a model: costs, and predicted and/or measured latency");
  cmd->add_option("model", options->model, "model file (.onnx or .tflite)")->required();
  cmd->add_option("--predictor", options->predictor, "predictor bundle: adds per-kernel predicted latency");
  cmd->add_option("--runtime", options->runtime, "measure on this runtime too (end to end and per layer)");
  cmd->add_option("--threads", options->threads,
                  "runtime threads (default: the bundle's, else 0 = all available cores)");
  cmd->add_option("--repeat", options->protocol.min_repeats, "at least this many timed runs")->capture_default_str();
  cmd->add_option("--min-time", options->protocol.min_time_s, "and at least this many seconds")->capture_default_str();
  cmd->add_option("--input-shape", options->input_shapes, "fix an input's shape: NAME=1x3x224x224 (repeatable)");
  cmd->add_option("--format", options->format, "html | json | netron | table | csv")->capture_default_str();
  cmd->add_option("-o,--output", options->output, "write to FILE instead of stdout")->required();
  cmd->callback([options, &action] { action = [options] { return run_report(*options); }; });
}

}  // namespace infercast::cli
