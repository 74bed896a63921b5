#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "infercast/base/error.hpp"
#include "infercast/export/export.hpp"
#include "infercast/import/import.hpp"
#include "infercast/runtime/runtime.hpp"
#include "infercast/transform/quantize.hpp"

namespace infercast::cli {
namespace {

struct QuantizeCliOptions {
  std::string model;
  std::string mode = "full";
  std::string calibration = "random:8";
  double percentile = 100.0;
  std::string to;  // empty: each output's extension names its format
  std::vector<std::string> outputs;
  std::string check_runtime;
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
  if (!o.to.empty() && o.to != "tflite" && o.to != "onnx") {
    throw Error(ErrorKind::kInvalidArgument, "", "--to", "'" + o.to + "' is neither tflite nor onnx");
  }
  if (!o.to.empty() && o.outputs.size() != 1) {
    throw Error(ErrorKind::kInvalidArgument, "", "--to", "names the format of one output; give -o once");
  }
  // (path, is ONNX) per output.
  std::vector<std::pair<std::string, bool>> outputs;
  for (const std::string& path : o.outputs) {
    bool onnx = o.to == "onnx";
    if (o.to.empty()) {
      try {
        onnx = exporter::format_of(path) == exporter::Format::kOnnx;
      } catch (const Error&) {
        throw Error(ErrorKind::kInvalidArgument, path, "-o", "ends in neither .tflite nor .onnx (or give --to)");
      }
    }
    outputs.emplace_back(path, onnx);
  }
  const auto onnx_output = std::find_if(outputs.begin(), outputs.end(), [](const auto& out) { return out.second; });
  if (!o.check_runtime.empty() && onnx_output == outputs.end()) {
    throw Error(ErrorKind::kInvalidArgument, "", "--check-runtime", "runs the QDQ ONNX output; give an .onnx -o");
  }
  if (!o.check_runtime.empty()) {
    const auto names = runtime::runtime_names();
    if (std::find(names.begin(), names.end(), o.check_runtime) == names.end()) {
      std::string known;
      for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
      throw Error(ErrorKind::kInvalidArgument, "", "--check-runtime",
                  "'" + o.check_runtime + "' is not a runtime; known: " + known);
    }
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
  // Every file is made before any is written: a model the ONNX writer refuses leaves none.
  std::string qdq;
  if (onnx_output != outputs.end()) qdq = exporter::to_onnx(q.graph);
  for (const auto& [path, onnx] : outputs) write_output(path, onnx ? qdq : *q.tflite);
  std::vector<transform::RuntimeAgreement> agreement;
  if (!o.check_runtime.empty()) {
    try {
      const ir::Graph written = import::load_model(onnx_output->first);
      agreement =
          transform::compare_runtimes(reference, q.graph, written, o.check_runtime, o.samples, o.seed, o.threads);
    } catch (const Error&) {
      for (const auto& out : outputs) std::filesystem::remove(out.first);
      throw;
    }
  }

  const auto before = transform::weight_bytes_by_dtype(model);
  const auto after = transform::weight_bytes_by_dtype(q.graph);
  std::cout << std::fixed << std::setprecision(3);
  for (const auto& [path, onnx] : outputs) {
    std::cout << "wrote " << path << " (" << (onnx ? qdq.size() : q.tflite->size()) << " bytes, "
              << (onnx ? "QDQ ONNX" : "TFLite") << ")\n";
  }
  std::cout << o.mode << " int8, " << q.quantized_ops << " ops quantized, " << q.float_ops.size() << " left float";
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
  for (const auto& a : agreement) {
    std::cout << o.check_runtime << " (QDQ ONNX) output '" << a.name << "': SQNR " << std::fixed << std::setprecision(2)
              << a.vs_float.sqnr_db << " dB vs float";
    if (a.vs_float.top1 >= 0) std::cout << ", top-1 agreement " << std::setprecision(1) << a.vs_float.top1 * 100 << "%";
    if (a.step > 0) {
      std::cout << "; vs XNNPACK int8: " << std::setprecision(2) << a.within_step * 100
                << "% of elements within 1 quantization step, max " << a.max_steps << " steps";
      if (a.unoptimized_within >= 0) {
        std::cout << "; " << o.check_runtime << " vs itself unoptimized: " << a.unoptimized_within * 100 << "%, max "
                  << a.unoptimized_max_steps << " steps";
      }
      if (a.one_step_within >= 0) {
        std::cout << "; XNNPACK int8 vs itself with one input element 1 step away: " << a.one_step_within * 100
                  << "%, max " << a.one_step_max_steps << " steps";
      }
    }
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
  cmd->add_option("--to", options->to, "tflite | onnx (QDQ); default: from the -o extension");
  cmd->add_option("-o,--output", options->outputs, "file to write: .tflite, .onnx (QDQ); repeat for both")->required();
  cmd->add_option("--check-runtime", options->check_runtime,
                  "run the QDQ ONNX output on this runtime (ort) and compare with XNNPACK's int8 TFLite");
  cmd->add_option("--samples", options->samples, "random inputs for the error report")->capture_default_str();
  cmd->add_option("--threads", options->threads, "threads for calibration and the error report")->capture_default_str();
  cmd->add_option("--seed", options->seed, "seed of random calibration and report inputs")->capture_default_str();
  cmd->add_option("--input-shape", options->input_shapes, "fix an input's shape: NAME=1x3x224x224 (repeatable)");
  cmd->callback([options, &action] { action = [options] { return run_quantize(*options); }; });
}

}  // namespace infercast::cli
