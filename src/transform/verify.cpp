#include "infercast/transform/verify.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include <unistd.h>

#include "infercast/export/export.hpp"
#include "infercast/import/import.hpp"
#include "infercast/runtime/runtime.hpp"

namespace infercast::transform {
namespace {

namespace fs = std::filesystem;

// External runtimes run files of their own format: ONNX Runtime gets a graph from a
// .tflite file as the ONNX the writer makes of it, Arm NN (a TFLite reader) a graph
// from an .onnx file as the TFLite the writer makes of it (in a temporary file, removed
// with the holder).
struct RunnableGraph {
  const ir::Graph* graph = nullptr;
  ir::Graph converted;
  fs::path temporary;
  ~RunnableGraph() {
    std::error_code ec;
    if (!temporary.empty()) fs::remove(temporary, ec);
  }
};

void make_runnable(const std::string& runtime_name, const ir::Graph& graph, bool pinned, const std::string& tag,
                   RunnableGraph& out) {
  out.graph = &graph;
  const bool ort = runtime_name == "ort", armnn = runtime_name == "armnn";
  if (ort && graph.meta.format == "onnx" && !pinned) return;
  if (armnn && graph.meta.format == "tflite") return;
  if (!ort && !armnn) return;
  out.temporary = fs::temp_directory_path() /
                  ("infercast_verify_" + std::to_string(::getpid()) + "_" + tag + (ort ? ".onnx" : ".tflite"));
  exporter::save(graph, out.temporary, ort ? exporter::Format::kOnnx : exporter::Format::kTflite);
  import::ImportOptions options;
  for (int id : graph.inputs) options.input_shapes[graph.tensors[id].name] = graph.tensors[id].shape.extents();
  out.converted = import::load_model(out.temporary, options);
  out.graph = &out.converted;
}

}  // namespace

RuntimeCheck check_on_runtime(const std::string& runtime_name, const ir::Graph& original, const ir::Graph& transformed,
                              const runtime::Tolerance& tolerance, const CheckOptions& options) {
  RuntimeCheck check;
  check.runtime = runtime_name;
  runtime::RuntimeOptions runtime_options;
  runtime_options.request_timeout_s = options.request_timeout_s;
  const auto before = runtime::make_runtime(runtime_name, runtime_options);
  const auto after = runtime::make_runtime(runtime_name, runtime_options);
  check.version = before->version();
  RunnableGraph original_run, transformed_run;
  make_runnable(runtime_name, original, options.shapes_pinned, "before", original_run);
  make_runnable(runtime_name, transformed, false, "after", transformed_run);
  before->prepare(*original_run.graph, {options.threads});
  after->prepare(*transformed_run.graph, {options.threads});
  auto inputs = runtime::random_inputs(original, options.seed);
  auto renamed = inputs;
  for (std::size_t i = 0; i < inputs.size() && i < original_run.graph->inputs.size(); ++i) {
    inputs[i].name = original_run.graph->tensors[original_run.graph->inputs[i]].name;
  }
  for (std::size_t i = 0; i < renamed.size() && i < transformed_run.graph->inputs.size(); ++i) {
    renamed[i].name = transformed_run.graph->tensors[transformed_run.graph->inputs[i]].name;
  }
  const auto want = before->infer(inputs);
  const auto got = after->infer(renamed);
  check.outputs = runtime::compare_outputs(got, want, tolerance);
  check.pass = !check.outputs.empty();
  for (const auto& c : check.outputs) {
    check.pass = check.pass && c.pass;
    check.max_abs_error = std::max(check.max_abs_error, c.max_abs_error);
    check.max_rel_error = std::max(check.max_rel_error, c.max_rel_error);
  }
  if (options.time) {
    runtime::RunOptions run;
    run.protocol = options.protocol;
    run.seed = options.seed;
    check.before_ms = before->run(run).latency_ms;
    check.after_ms = after->run(run).latency_ms;
    check.timed = true;
  }
  return check;
}

}  // namespace infercast::transform
