#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "commands.hpp"
#include "infercast/base/error.hpp"
#include "infercast/export/export.hpp"
#include "infercast/import/import.hpp"
#include "infercast/predict/predictor.hpp"
#include "infercast/report/transform_report.hpp"
#include "infercast/transform/transform.hpp"
#include "infercast/transform/verify.hpp"

namespace infercast::cli {
namespace {

namespace fs = std::filesystem;

struct TransformOptions {
  std::string model;
  std::vector<std::string> passes;
  std::string output;
  std::string to;
  std::vector<std::string> input_shapes;
  std::string verify;
  // The verdict of --verify: `verify`'s default rule (each output against its own
  // scale, --tolerance), or numpy.allclose per element once --rtol or --atol is given.
  double tolerance = runtime::Tolerance::kDefaultScaled;
  double rtol = runtime::Tolerance::kDefaultRtol;
  double atol = runtime::Tolerance::kDefaultAtol;
  bool allclose = false;
  std::string predictor;
  std::string format = "table";
  int threads = 1;
  std::uint64_t seed = 42;
  bool list = false;
};

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

int print_list() {
  std::string text;
  for (const transform::PassInfo& info : transform::pass_table()) {
    const std::string name = std::string(info.name) + (info.argument.empty() ? "" : "=" + std::string(info.argument));
    text += fmt::format("{:<16} {}\n", name, info.summary);
  }
  write_output("", text);
  return 0;
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  if (fs::exists(b, ec) && fs::equivalent(a, b, ec)) return true;
  return fs::weakly_canonical(a, ec) == fs::weakly_canonical(b, ec);
}

// Exit code: 0 when written (and every --verify runtime agrees), 1 when a runtime
// disagrees; bad input throws Error (exit 2) before anything is written.
int run_transform(const TransformOptions& o) {
  if (o.list) return print_list();
  if (o.model.empty()) throw Error(ErrorKind::kInvalidArgument, "", "MODEL", "a model file is required");
  if (o.output.empty()) throw Error(ErrorKind::kInvalidArgument, o.model, "-o", "an output file is required");
  if (o.passes.empty()) throw Error(ErrorKind::kInvalidArgument, o.model, "--pass", "give at least one pass (--list)");
  const auto passes = transform::make_passes(o.passes);
  exporter::Format format = exporter::Format::kOnnx;
  if (o.to.empty()) {
    format = exporter::format_of(o.output);
  } else if (o.to == "onnx" || o.to == "tflite") {
    format = o.to == "onnx" ? exporter::Format::kOnnx : exporter::Format::kTflite;
  } else {
    throw Error(ErrorKind::kInvalidArgument, "", "--to", "'" + o.to + "' is neither onnx nor tflite");
  }
  if (same_file(o.model, o.output)) {
    throw Error(ErrorKind::kInvalidArgument, o.output, "-o", "is the input model; write the result to another file");
  }
  if (!(o.tolerance >= 0) || !(o.rtol >= 0) || !(o.atol >= 0)) {
    throw Error(ErrorKind::kInvalidArgument, "", "--tolerance/--rtol/--atol", "must be a number >= 0");
  }
  const std::vector<std::string> runtimes = split_list(o.verify);
  for (const std::string& name : runtimes) runtime::make_runtime(name);  // unknown names fail before any work
  const report::Format report_format = report::parse_format(o.format);
  import::ImportOptions import_options;
  for (const std::string& spec : o.input_shapes) import::add_input_shape(import_options, spec);
  transform::PassContext context;
  context.input_shapes = import_options.input_shapes;

  ir::Graph graph = import::load_model(o.model, import_options);
  const transform::Outcome outcome = transform::apply_with_costs(graph, passes, context);
  // With --verify/--predictor the result is checked from a staged file beside OUT and
  // renamed to OUT only when every check ran: a runtime that cannot run it (an error,
  // exit 2) leaves no output behind. A disagreement (exit 1) keeps the file to inspect.
  const bool staged = !runtimes.empty() || !o.predictor.empty();
  const fs::path target = o.output;
  const fs::path written_path = staged ? fs::path(o.output + ".staged" + target.extension().string()) : target;
  exporter::save(graph, written_path, format);
  struct RemoveUnlessKept {
    fs::path path;
    bool keep = false;
    ~RemoveUnlessKept() {
      std::error_code ec;
      if (!keep && !path.empty()) fs::remove(path, ec);
    }
  } cleanup_staged{staged ? written_path : fs::path(), false};

  report::TransformSummary summary;
  summary.model = o.model;
  summary.output = o.output;
  summary.to = format == exporter::Format::kOnnx ? "onnx" : "tflite";
  summary.tolerance = o.allclose ? runtime::Tolerance(o.rtol, o.atol) : runtime::Tolerance::scaled_by(o.tolerance);
  summary.stages.push_back({"input", 0, 0, &outcome.before, {}, nullptr});
  for (const transform::Step& step : outcome.steps) {
    summary.stages.push_back(
        {step.pass, step.result.rewrites, step.ms, &step.after, step.result.notes, step.result.details});
  }
  if (!runtimes.empty() || !o.predictor.empty()) {
    const ir::Graph original = import::load_model(o.model, import_options);
    const ir::Graph written = import::load_model(written_path, import_options);
    for (const std::string& name : runtimes) {
      transform::CheckOptions check_options;
      check_options.seed = o.seed;
      check_options.threads = o.threads;
      check_options.shapes_pinned = !import_options.input_shapes.empty();
      const transform::RuntimeCheck c =
          transform::check_on_runtime(name, original, written, summary.tolerance, check_options);
      summary.checks.push_back({c.runtime, c.version, c.outputs, c.pass, c.max_abs_error, c.max_rel_error, c.timed,
                                c.before_ms.median, c.after_ms.median});
    }
    if (!o.predictor.empty()) {
      const predict::Bundle bundle = predict::load_bundle(o.predictor);
      summary.predictor = o.predictor;
      summary.predicted_before_ms = predict::predict(bundle, original).ms;
      summary.predicted_after_ms = predict::predict(bundle, written).ms;
    }
  }
  if (staged) {
    std::error_code ec;
    fs::rename(written_path, target, ec);
    if (ec) throw Error(ErrorKind::kIo, o.output, "", "cannot move the checked result into place: " + ec.message());
    cleanup_staged.keep = true;
  }
  const report::Report report = report::transform_report(summary);
  write_output("", report::render(report, report_format));
  return report.json["pass"].get<bool>() ? 0 : 1;
}

}  // namespace

void register_transform(CLI::App& app, Action& action) {
  auto options = std::make_shared<TransformOptions>();
  CLI::App* cmd = app.add_subcommand(
      "transform",
      "Rewrite a model with passes (tile-matmul=T, fold-bn, ...), write it, and report costs before -> "
      "after (and runtime agreement with --verify)");
  cmd->add_option("model", options->model, "model file (.onnx or .tflite)");
  cmd->add_option("--pass", options->passes, "a pass, P or P=ARG (repeatable; run in order; see --list)");
  cmd->add_option("-o,--output", options->output, "file to write (.onnx or .tflite)");
  cmd->add_option("--to", options->to, "onnx | tflite (default: from the output's extension)");
  cmd->add_option("--input-shape", options->input_shapes, "fix an input's shape: NAME=1x3x224x224 (repeatable)");
  cmd->add_option("--verify", options->verify,
                  "runtimes that run the original and the result on the same inputs: ort, xnnpack (comma-separated)");
  CLI::Option* scaled =
      cmd->add_option("--tolerance", options->tolerance,
                      "--verify's default rule: an output passes when max |got - want| <= TOLERANCE * max |want|")
          ->capture_default_str();
  CLI::Option* rtol = cmd->add_option("--rtol", options->rtol,
                                      "switch --verify to numpy.allclose per element, |got - want| <= atol + rtol * "
                                      "|want| (rtol; default 1e-4 when only --atol is given)");
  CLI::Option* atol =
      cmd->add_option("--atol", options->atol, "numpy.allclose's atol (default 1e-5 when only --rtol is given)");
  scaled->excludes(rtol)->excludes(atol);
  cmd->add_option("--predictor", options->predictor, "predictor bundle: predicted latency before -> after");
  cmd->add_option("--threads", options->threads, "threads of the --verify runtimes")->capture_default_str();
  cmd->add_option("--seed", options->seed, "seed of the random --verify inputs")->capture_default_str();
  cmd->add_option("--format", options->format, "table | csv | json")->capture_default_str();
  cmd->add_flag("--list", options->list, "print the passes and exit");
  cmd->callback([options, rtol, atol, &action] {
    options->allclose = rtol->count() > 0 || atol->count() > 0;
    action = [options] { return run_transform(*options); };
  });
}

}  // namespace infercast::cli
