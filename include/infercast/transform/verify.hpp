// Numeric verification of a transform: the original and the transformed model on
// the same runtime, with the same inputs, outputs compared position by position.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "infercast/ir/graph.hpp"
#include "infercast/measure/measure.hpp"
#include "infercast/runtime/verify.hpp"

namespace infercast::transform {

struct CheckOptions {
  std::uint64_t seed = 42;  // of runtime::random_inputs
  int threads = 1;
  bool time = true;  // also measure the latency of both models
  // External runners: seconds one request (loading a model, one timing attempt) may
  // take. ONNX Runtime needs minutes to load and optimize a ~15,000-node tiled model
  // on a busy machine.
  double request_timeout_s = 1800;
  // External runtimes run files: when the original was imported with input shapes its
  // file does not declare (--input-shape), the runner gets it as the ONNX the writer
  // makes of it, which declares them (the transformed file was written with them).
  bool shapes_pinned = false;
  // A short protocol: the point is before -> after on one machine, not a benchmark.
  measure::Protocol protocol{1, 5, 0.2, 200, 0.05, 0};
};

struct RuntimeCheck {
  std::string runtime;
  std::string version;
  std::vector<runtime::OutputComparison> outputs;
  bool pass = false;
  double max_abs_error = 0;  // over every output
  double max_rel_error = 0;  // max |got - want| / max |want|, over every output
  bool timed = false;
  measure::Stats before_ms, after_ms;
};

// Prepares both graphs on `runtime_name` (runtime::make_runtime), runs them on
// runtime::random_inputs(original, seed) (the transformed model's inputs matched by
// position) and compares with `tolerance`. External runtimes run the files the graphs
// were loaded from (ir::GraphMetadata::source_path); ONNX Runtime gets a TFLite graph
// as the ONNX the writer makes of it (a temporary file), and so does the original when
// options.shapes_pinned; Arm NN (a TFLite reader) gets an ONNX graph as the TFLite the
// writer makes of it. Throws Error from the runtime
// (an op it does not support, a missing runner) or the writer.
RuntimeCheck check_on_runtime(const std::string& runtime_name, const ir::Graph& original, const ir::Graph& transformed,
                              const runtime::Tolerance& tolerance, const CheckOptions& options = {});

}  // namespace infercast::transform
