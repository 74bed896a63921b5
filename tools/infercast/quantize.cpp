#include <cmath>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "infercast/base/error.hpp"
#include "infercast/import/import.hpp"
#include "infercast/transform/quantize.hpp"

namespace infercast::cli {
namespace {

struct QuantizeCliOptions {
  std::string model;
  std::string mode = "full";
  std::string calibration = "random:8";
  double percentile = 100.0;
  std::string to = "tflite";
  std::string output;
  int samples = 100;
  int threads = 1;
  std::uint64_t seed = 42;
  std::vector<std::string> input_shapes;
};

std::string bytes_text(const std::map<std::string, std::uint64_t>& by_dtype) {
  std::ostringstream s;
  bool first = true;
  for (const auto& [dtype, bytes] : by_dtype) {
    s << (first ? "" : ", ") << dtype << " " << bytes;
    first = false;
  }
  return first ? "none" : s.str();
}

std::uint64_t total(const std::map<std::string, std::uint64_t>& by_dtype) {
  std::uint64_t t = 0;
  for (const auto& [dtype, bytes] : by_dtype) t += bytes;
  return t;
}

int run_quantize(const QuantizeCliOptions& o) {
  transform::QuantizeOptions options;
  if (o.mode == "full") {
    options.mode = transform::QuantizeMode::kFull;
  } else if (o.mode == "dynamic") {
    options.mode = transform::QuantizeMode::kDynamic;
  } else {
    throw Error(ErrorKind::kInvalidArgument, "", "--mode", "'" + o.mode + "' is neither dynamic nor full");
  }
  if (o.to != "tflite") {
    throw Error(ErrorKind::kInvalidArgument, "", "--to",
                "'" + o.to + "': only tflite is written (QDQ ONNX output is not implemented yet)");
  }
  if (o.samples < 1) throw Error(ErrorKind::kInvalidArgument, "", "--samples", "must be >= 1");
  options.calibration = o.calibration;
  options.percentile = o.percentile;
  options.seed = o.seed;
  options.threads = o.threads;
  import::ImportOptions import_options;
  for (const std::string& spec : o.input_shapes) import::add_input_shape(import_options, spec);
  const ir::Graph model = import::load_model(o.model, import_options);
  const ir::Graph reference = transform::float_tflite_form(model);
  const transform::QuantizedModel q = transform::quantize(model, options);
  const auto errors = transform::compare_models(reference, q.graph, o.samples, o.seed, o.threads);
  write_output(o.output, *q.tflite);

  const auto before = transform::weight_bytes_by_dtype(model);
  const auto after = transform::weight_bytes_by_dtype(q.graph);
  std::cout << std::fixed << std::setprecision(3);
  std::cout << "wrote " << o.output << " (" << q.tflite->size() << " bytes): " << o.mode << " int8, " << q.quantized_ops
            << " ops quantized, " << q.float_ops.size() << " left float";
  if (options.mode == transform::QuantizeMode::kFull) {
    std::cout << "; calibration " << o.calibration << " (" << q.calibration_samples << " samples, "
              << (o.percentile < 100 ? "percentile " + std::to_string(o.percentile) : std::string("min/max")) << ")";
  }
  std::cout << "\n";
  std::cout << "weight bytes: " << bytes_text(before) << " -> " << bytes_text(after) << " (ratio "
            << static_cast<double>(total(after)) / std::max<double>(1.0, static_cast<double>(total(before))) << ")\n";
  for (const std::string& f : q.float_ops) std::cout << "  float: " << f << "\n";
  for (const auto& e : errors) {
    std::cout << "output '" << e.name << "' vs float on " << o.samples << " random inputs: SQNR "
              << std::setprecision(2) << e.sqnr_db << " dB, max abs error " << std::defaultfloat << std::setprecision(4)
              << e.max_abs << std::fixed;
    if (e.top1 >= 0) std::cout << ", top-1 agreement " << std::setprecision(1) << e.top1 * 100 << "%";
    std::cout << "\n";
  }
  return 0;
}

}  // namespace

void register_quantize(CLI::App& app, Action& action) {
  auto options = std::make_shared<QuantizeCliOptions>();
  CLI::App* cmd = app.add_subcommand("quantize", "Post-training int8 quantization (TFLite converter style)");
  cmd->add_option("model", options->model, "model file (.onnx or .tflite)")->required();
  cmd->add_option("--mode", options->mode, "dynamic (int8 weights) | full (int8 weights and activations)")
      ->capture_default_str();
  cmd->add_option("--calibration", options->calibration,
                  "full: folder of .npy/.pb input files, or random:N (fixed seed)")
      ->capture_default_str();
  cmd->add_option("--percentile", options->percentile,
                  "full: clip activation ranges to this percentile (100 = min/max)")
      ->capture_default_str();
  cmd->add_option("--to", options->to, "tflite")->capture_default_str();
  cmd->add_option("-o,--output", options->output, "file to write")->required();
  cmd->add_option("--samples", options->samples, "random inputs for the error report")->capture_default_str();
  cmd->add_option("--threads", options->threads, "threads for calibration and the error report")->capture_default_str();
  cmd->add_option("--seed", options->seed, "seed of random calibration and report inputs")->capture_default_str();
  cmd->add_option("--input-shape", options->input_shapes, "fix an input's shape: NAME=1x3x224x224 (repeatable)");
  cmd->callback([options, &action] { action = [options] { return run_quantize(*options); }; });
}

}  // namespace infercast::cli
