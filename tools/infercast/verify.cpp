#include "infercast/runtime/verify.hpp"
#include "commands.hpp"
#include "infercast/base/error.hpp"
#include "infercast/import/import.hpp"
#include "infercast/report/verify_report.hpp"
#include "infercast/runtime/runtime.hpp"

namespace infercast::cli {
namespace {

struct VerifyOptions {
  std::string model;
  std::string runtime;
  std::string reference;
  std::string reference_model;
  double tolerance = runtime::Tolerance::kDefaultScaled;
  double rtol = runtime::Tolerance::kDefaultRtol;
  double atol = runtime::Tolerance::kDefaultAtol;
  bool allclose = false;  // --rtol or --atol given: numpy.allclose per element
  int threads = 0;
  std::uint64_t seed = 42;
  std::vector<std::string> input_shapes;
  std::string format = "table";
  std::string output;
};

// Exit code: 0 when every output matches, 1 on a mismatch (bad input: Error → 2).
int run_verify(const VerifyOptions& o) {
  import::ImportOptions import_options;
  for (const std::string& spec : o.input_shapes) import::add_input_shape(import_options, spec);
  const report::Format format = report::parse_format(o.format);
  if (!(o.tolerance >= 0) || !(o.rtol >= 0) || !(o.atol >= 0)) {
    throw Error(ErrorKind::kInvalidArgument, "", "--tolerance/--rtol/--atol", "must be a number >= 0");
  }
  const runtime::Tolerance tolerance =
      o.allclose ? runtime::Tolerance(o.rtol, o.atol) : runtime::Tolerance::scaled_by(o.tolerance);
  const ir::Graph graph = import::load_model(o.model, import_options);
  const ir::Graph reference_graph = o.reference_model.empty() || o.reference == "testdata"
                                        ? ir::Graph()
                                        : import::load_model(o.reference_model, import_options);
  runtime::VerifyOptions verify_options;
  verify_options.runtime = o.runtime;
  verify_options.reference = o.reference;
  verify_options.model_path = o.model;
  verify_options.reference_graph = o.reference_model.empty() ? nullptr : &reference_graph;
  verify_options.tolerance = tolerance;
  verify_options.threads = o.threads;
  verify_options.seed = o.seed;
  const std::vector<report::VerifiedSet> sets = runtime::verify_model(graph, verify_options);
  const std::string reference_model = o.reference_model.empty() ? o.model : o.reference_model;
  const report::Report report =
      report::verify_report({o.model, o.runtime, o.reference, reference_model, tolerance}, sets);
  write_output(o.output, report::render(report, format));
  return report.json["pass"].get<bool>() ? 0 : 1;
}

}  // namespace

void register_verify(CLI::App& app, Action& action) {
  auto options = std::make_shared<VerifyOptions>();
  CLI::App* cmd = app.add_subcommand(
      "verify", "Check that a runtime computes what a reference does (another runtime, or ONNX test data)");
  cmd->add_option("model", options->model, "model file (.onnx or .tflite)")->required();
  cmd->add_option("--runtime", options->runtime, "runtime under test")->required();
  cmd->add_option("--reference", options->reference,
                  "reference runtime, or 'testdata' (test_data_set_*/ beside the model)")
      ->required();
  cmd->add_option("--reference-model", options->reference_model, "model the reference runs (default: MODEL)");
  CLI::Option* scaled =
      cmd->add_option("--tolerance", options->tolerance,
                      "default rule: an output passes when max |got - want| <= TOLERANCE * max |want|")
          ->capture_default_str();
  CLI::Option* rtol =
      cmd->add_option("--rtol", options->rtol,
                      "switch to numpy.allclose per element, |got - want| <= atol + rtol * |want| (rtol; default "
                      "1e-4 when only --atol is given)");
  CLI::Option* atol =
      cmd->add_option("--atol", options->atol, "numpy.allclose's atol (default 1e-5 when only --rtol is given)");
  scaled->excludes(rtol)->excludes(atol);
  cmd->add_option("--threads", options->threads, "intra-op threads (0 = all available cores)")->capture_default_str();
  cmd->add_option("--seed", options->seed, "seed of the random inputs")->capture_default_str();
  cmd->add_option("--input-shape", options->input_shapes, "fix an input's shape: NAME=1x3x224x224 (repeatable)");
  cmd->add_option("--format", options->format, "table | csv | json")->capture_default_str();
  cmd->add_option("-o,--output", options->output, "write to FILE instead of stdout");
  cmd->callback([options, rtol, atol, &action] {
    options->allclose = rtol->count() > 0 || atol->count() > 0;
    action = [options] { return run_verify(*options); };
  });
}

}  // namespace infercast::cli
