#include "commands.hpp"
#include "infercast/import/import.hpp"
#include "infercast/measure/measure.hpp"
#include "infercast/report/run_report.hpp"
#include "infercast/runtime/runtime.hpp"

namespace infercast::cli {
namespace {

struct RunOptions {
  std::string model;
  std::string runtime;
  int threads = 0;
  measure::Protocol protocol;
  std::uint64_t seed = 42;
  bool per_layer = false;
  std::vector<std::string> input_shapes;
  double timeout_s = 300;
  std::string device_command;
  std::string push_command;
  std::string device_dir = "/data/local/tmp/";
  bool max_repeat_given = false;
  std::string format = "table";
  std::string output;
};

int run_run(const RunOptions& o) {
  import::ImportOptions import_options;
  for (const std::string& spec : o.input_shapes) import::add_input_shape(import_options, spec);
  const report::Format format = report::parse_format(o.format);
  measure::Protocol protocol = o.protocol;
  // --repeat above the default cap raises the cap, unless the cap was given too.
  if (!o.max_repeat_given && protocol.max_repeats < protocol.min_repeats) protocol.max_repeats = protocol.min_repeats;
  measure::validate(protocol);
  const ir::Graph graph = import::load_model(o.model, import_options);
  runtime::RuntimeOptions runtime_options;
  runtime_options.request_timeout_s = o.timeout_s;
  runtime_options.device_command = o.device_command;
  runtime_options.push_command = o.push_command;
  runtime_options.device_dir = o.device_dir;
  const auto engine = runtime::make_runtime(o.runtime, runtime_options);
  engine->prepare(graph, {o.threads});
  const runtime::RunResult result = engine->run({protocol, o.per_layer, o.seed});
  const report::Report report = report::run_report(result, {o.model, protocol, o.seed, measure::machine_context()});
  write_output(o.output, report::render(report, format, {o.per_layer}));
  return 0;
}

}  // namespace

void register_run(CLI::App& app, Action& action) {
  auto options = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Measure a model's latency on a runtime (end to end, and per layer)");
  cmd->add_option("model", options->model, "model file (.onnx or .tflite)")->required();
  cmd->add_option(
         "--runtime", options->runtime,
         "runtime: " +
             [] {
               std::string names;
               for (const std::string& n : runtime::runtime_names()) names += (names.empty() ? "" : " | ") + n;
               return names;
             }())
      ->required();
  cmd->add_option("--threads", options->threads, "intra-op threads (0 = all available cores)")->capture_default_str();
  cmd->add_option("--warmup", options->protocol.warmup, "untimed runs first")->capture_default_str();
  cmd->add_option("--repeat", options->protocol.min_repeats, "at least this many timed runs")->capture_default_str();
  cmd->add_option("--min-time", options->protocol.min_time_s, "and at least this many seconds of timed runs")
      ->capture_default_str();
  CLI::Option* max_repeat =
      cmd->add_option("--max-repeat", options->protocol.max_repeats, "at most this many timed runs")
          ->capture_default_str();
  cmd->add_option("--cv-target", options->protocol.cv_target, "re-measure while the CV is above this")
      ->capture_default_str();
  cmd->add_option("--max-remeasure", options->protocol.max_remeasure, "at most this many re-measurements")
      ->capture_default_str();
  cmd->add_option("--seed", options->seed, "seed of the random inputs")->capture_default_str();
  cmd->add_flag("--per-layer", options->per_layer, "also time each node (the runtime's profiler, a separate pass)");
  cmd->add_option("--input-shape", options->input_shapes, "fix an input's shape: NAME=1x3x224x224 (repeatable)");
  cmd->add_option("--timeout", options->timeout_s,
                  "seconds an external runner may take per request (benchmark_model: per command)")
      ->capture_default_str();
  cmd->add_option("--command", options->device_command,
                  "benchmark_model: shell command that runs the model; {model} {threads} {warmup} {repeat} "
                  "{min_time} are replaced (docs/devices.md)");
  cmd->add_option("--push", options->push_command,
                  "benchmark_model: shell command that copies {model} to the device first");
  cmd->add_option("--device-dir", options->device_dir, "benchmark_model: where --push puts the model")
      ->capture_default_str();
  cmd->add_option("--format", options->format, "table | csv | json")->capture_default_str();
  cmd->add_option("-o,--output", options->output, "write to FILE instead of stdout");
  cmd->callback([options, max_repeat, &action] {
    options->max_repeat_given = max_repeat->count() > 0;
    action = [options] { return run_run(*options); };
  });
}

}  // namespace infercast::cli
