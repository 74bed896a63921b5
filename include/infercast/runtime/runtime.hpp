// Runtimes execute an ir::Graph and time it. One interface for in-process engines
// (XNNPACK) and external runners (ONNX Runtime via Node, benchmark_model via adb):
//
//   supports(graph, node)  why a node can or cannot run here, before anything runs
//   prepare(graph, opts)   load/compile once; throws Error listing every unsupported node
//   run(opts)              end-to-end (and per-layer) latency under the timing protocol
//   infer(inputs)          outputs for given inputs, for numeric verification
//
// Adding a runtime = one folder under src/runtime/ + one line in src/runtime/registry.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "infercast/ir/graph.hpp"
#include "infercast/measure/measure.hpp"

namespace infercast::runtime {

// A dense tensor in host memory: little-endian element bytes in row-major order.
struct HostTensor {
  std::string name;
  ir::DType dtype = ir::DType::kUnknown;
  std::vector<std::int64_t> dims;
  std::vector<std::byte> data;

  // Product of dims (1 for a scalar).
  std::uint64_t numel() const noexcept;
};

struct Support {
  bool ok = true;
  std::string reason;  // why not, when !ok
};

struct PrepareOptions {
  int threads = 0;  // intra-op threads; 0 = the machine's available cores (resolved, never left implicit)
};

struct RunOptions {
  measure::Protocol protocol;
  bool per_layer = false;   // also time each node inside the real run
  std::uint64_t seed = 42;  // of the random inputs (random_inputs())
};

struct LayerTiming {
  std::string name;  // the node name the runtime reports (it may have fused or renamed nodes)
  std::string op;    // the op the runtime executed ("Conv", "FusedConv", ...)
  measure::Stats ms;
};

struct RunResult {
  std::string runtime;
  std::string runtime_version;
  int threads = 0;
  measure::Stats latency_ms;
  std::vector<LayerTiming> layers;  // in execution order; empty unless per_layer
};

class Runtime {
 public:
  virtual ~Runtime() = default;

  // Short registry name: "ort", "xnnpack".
  virtual std::string name() const = 0;
  // The engine's version ("1.30.0"); may start an external runner. Throws Error.
  virtual std::string version() = 0;
  // Whether graph.nodes[node] can run here, and why not.
  virtual Support supports(const ir::Graph& graph, int node) const = 0;
  // Loads the graph for run() and infer(). Throws Error(kUnsupported) listing every
  // node supports() refuses, Error(kUnknownDim) for symbolic input shapes, and Error
  // for anything the engine rejects. The graph must outlive the prepared runtime.
  virtual void prepare(const ir::Graph& graph, const PrepareOptions& options) = 0;
  // Times the prepared graph on random inputs (fixed seed). Throws Error on failure.
  virtual RunResult run(const RunOptions& options) = 0;
  // Runs the prepared graph once on `inputs` (one per graph input, matched by name)
  // and returns its outputs in graph output order. Throws Error on failure.
  virtual std::vector<HostTensor> infer(const std::vector<HostTensor>& inputs) = 0;
};

// Settings for creating a runtime; each runtime reads what applies to it.
struct RuntimeOptions {
  // External runners: seconds a single request may take before the runner is killed.
  double request_timeout_s = 300;
  // External runners: the command that starts the runner; empty = the runtime's default
  // (for "ort": node runners/ort/runner.js, see docs/runner-protocol.md).
  std::vector<std::string> runner_command;
  // Device runners ("benchmark_model", src/runtime/process/command_runtime.hpp): the shell
  // command that runs the model ({model}, {threads}, ... replaced; docs/devices.md), the
  // command that copies the model to the device first (empty = none: the device command
  // reads the local file), and the device folder the push puts it in.
  std::string device_command;
  std::string push_command;
  std::string device_dir = "/data/local/tmp/";
};

// Creates the runtime registered under `name`; throws Error(kInvalidArgument) listing
// the known names otherwise.
std::unique_ptr<Runtime> make_runtime(const std::string& name, const RuntimeOptions& options = {});
std::vector<std::string> runtime_names();

// Checks every node with supports() and throws Error(kUnsupported) naming each refused
// node and the reason (one line; `runtime_name` leads). For prepare() implementations.
void require_supported(const Runtime& runtime, const ir::Graph& graph);

// Inputs for every graph input, filled from a fixed-seed generator (never all zeros):
// floats uniform in [-1, 1), integers in [0, 8), bools 0/1. Bit-identical to what an
// external runner generates for the same seed (docs/runner-protocol.md, "Random
// inputs"). Throws Error(kUnknownDim) for a non-static input shape and
// Error(kUnsupported) for a dtype it cannot fill.
std::vector<HostTensor> random_inputs(const ir::Graph& graph, std::uint64_t seed);

// PrepareOptions::threads resolved: `threads` when > 0, else the available cores.
int resolve_threads(int threads);

}  // namespace infercast::runtime
