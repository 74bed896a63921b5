#include <chrono>
#include <filesystem>
#include <iostream>

#include "commands.hpp"
#include "infercast/base/error.hpp"
#include "infercast/export/export.hpp"
#include "infercast/import/import.hpp"

namespace infercast::cli {
namespace {

struct ExportCliOptions {
  std::string model;
  std::string to;
  std::string output;
  bool fp16 = false;
  int opset = 13;
  std::vector<std::string> input_shapes;
};

int run_export(const ExportCliOptions& o) {
  exporter::Format format = exporter::Format::kOnnx;
  if (o.to == "onnx") {
    format = exporter::Format::kOnnx;
  } else if (o.to == "tflite") {
    format = exporter::Format::kTflite;
  } else {
    throw Error(ErrorKind::kInvalidArgument, "", "--to", "'" + o.to + "' is neither onnx nor tflite");
  }
  import::ImportOptions import_options;
  for (const std::string& spec : o.input_shapes) import::add_input_shape(import_options, spec);
  const auto start = std::chrono::steady_clock::now();
  const ir::Graph graph = import::load_model(o.model, import_options);
  exporter::ExportOptions options;
  options.opset = o.opset;
  options.fp16_weights = o.fp16;
  exporter::save(graph, o.output, format, options);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(o.output, ec);
  std::cout << "wrote " << o.output << " (" << o.to << ", " << (ec ? 0 : bytes) << " bytes, " << graph.nodes.size()
            << " source nodes) in " << static_cast<long long>(ms) << " ms\n";
  return 0;
}

}  // namespace

void register_export(CLI::App& app, Action& action) {
  auto options = std::make_shared<ExportCliOptions>();
  CLI::App* cmd = app.add_subcommand("export", "Convert a model to .onnx or .tflite through infercast's IR");
  cmd->add_option("model", options->model, "model file (.onnx or .tflite)")->required();
  cmd->add_option("--to", options->to, "onnx | tflite")->required();
  cmd->add_option("-o,--output", options->output, "file to write")->required();
  cmd->add_flag("--fp16", options->fp16, "TFLite: store float32 weights as float16 (with DEQUANTIZE)");
  cmd->add_option("--opset", options->opset, "ONNX: default-domain opset to write (13..17)")->capture_default_str();
  cmd->add_option("--input-shape", options->input_shapes, "fix an input's shape: NAME=1x3x224x224 (repeatable)");
  cmd->callback([options, &action] { action = [options] { return run_export(*options); }; });
}

}  // namespace infercast::cli
