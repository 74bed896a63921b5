// XnnpackExecutor: runs an ir::Graph (imported from ONNX or TFLite) in-process on
// XNNPACK's float32 operators (Debian libxnnpack, XNNPACK git 2022-02-16) with a
// pthreadpool. It is the in-process engine behind the `xnnpack` runtime.
//
// Contract
// - prepare() checks every node with supports() first and throws ONE
//   infercast::Error(kUnsupported) listing each node it cannot run and why; nothing
//   fails later in run() because of the model.
// - Execution is NHWC. An ONNX (NCHW) graph goes through a layout pass: each
//   activation is held either in its logical order or channels-last, and transposes
//   are inserted only where an op needs the other order. Graph inputs and outputs are
//   always exchanged in the model's own (logical) layout.
// - Weights are repacked once at prepare (OIHW→OHWI, IOHW→OHWI for transposed
//   convolutions, fp16→fp32, TFLite sparse→dense); a BatchNormalization after a
//   convolution is folded into its weights, a ReLU/Clip after a convolution, fully
//   connected or binary op becomes that operator's output clamp. Any node whose
//   inputs are all constant is computed once at prepare.
// - Activations live in one arena planned from their lifetimes (greedy by size).
//
// Not thread-safe: one run() at a time per executor. The graph may be destroyed
// after prepare().
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "infercast/ir/graph.hpp"

namespace infercast::runtime {

// Whether XnnpackExecutor can run one node; `reason` names the op, dtype or
// attribute that prevents it.
struct XnnpackSupport {
  bool ok = true;
  std::string reason;
};

// How prepare() executes a node.
enum class XnnpackNodeRole : std::uint8_t {
  kXnnpack,   // one or more XNNPACK operators (plus layout transposes it needed)
  kCustom,    // infercast's own loop, for an op XNNPACK 2022 lacks
  kFused,     // absorbed into another node's operator (see XnnpackNodePlan::fused_into)
  kConstant,  // computed once at prepare (all inputs constant), or a Constant node
  kAlias,     // no work: the output views the input (reshape, identity, ...)
  kUnused,    // feeds only parameters read at prepare (shape arithmetic): never runs
};

struct XnnpackNodePlan {
  XnnpackNodeRole role = XnnpackNodeRole::kAlias;
  int fused_into = -1;  // kFused: the node whose operator does this node's work
  int steps = 0;        // operator/kernel invocations per run (layout transposes included)
};

struct XnnpackTensorInfo {
  std::string name;
  std::vector<std::int64_t> shape;  // logical (the model's own layout)
};

class XnnpackExecutor {
 public:
  XnnpackExecutor();
  ~XnnpackExecutor();
  XnnpackExecutor(XnnpackExecutor&&) noexcept;
  XnnpackExecutor& operator=(XnnpackExecutor&&) noexcept;

  // "XNNPACK 2022-02-16 (ae108ef)": the library version this build targets.
  static std::string version();

  // Whether node `node` of `graph` can run here. Float32 data (fp16 constants are
  // fine), static shapes, and the op's attributes within what XNNPACK or the custom
  // kernels implement.
  static XnnpackSupport supports(const ir::Graph& graph, int node);
  // supports() for every node at once (the whole-graph analysis it needs is done once).
  static std::vector<XnnpackSupport> supports_all(const ir::Graph& graph);

  // Plans and builds the execution for `graph` with `threads` threads (0: the
  // hardware concurrency; 1: the calling thread only). Throws Error(kUnsupported)
  // listing every unsupported node, Error(kInvalidArgument) for threads < 0.
  // Calling it again replaces the previous plan.
  void prepare(const ir::Graph& graph, int threads);
  bool prepared() const noexcept;
  int threads() const noexcept;

  std::size_t input_count() const noexcept;
  std::size_t output_count() const noexcept;
  const XnnpackTensorInfo& input_info(std::size_t i) const;
  const XnnpackTensorInfo& output_info(std::size_t i) const;

  // Copies graph input `i` (logical layout, shape input_info(i).shape). Throws
  // Error(kInvalidArgument) on a bad index or element count. Inputs keep their value
  // across runs until set again; an unset input reads as zeros.
  void set_input(std::size_t i, std::span<const float> data);

  // Runs the graph once. With profiling on, each node's wall time (steady_clock
  // around every XNNPACK operator or custom kernel it owns) is recorded.
  void run();

  // Brings the pool's worker threads out of their sleep, touching no data: a worker that
  // finished its last job some milliseconds ago waits on a futex, and the first parallel
  // operator after that pays the wake-up (60-180 us on a 2-vCPU VM, against about 1 us
  // when the workers still spin, as they do between the operators of one run). Returns
  // at once without a pool (1 thread).
  void wake_threads();

  // Graph output `i` of the last run, logical layout; valid until the next run() or
  // prepare().
  std::span<const float> output(std::size_t i) const;

  void set_profiling(bool on) noexcept;
  // Per graph node (index = node index), milliseconds spent in the last profiled
  // run(); 0 for nodes that were fused, folded or aliased (see node_plans()).
  const std::vector<double>& node_times_ms() const noexcept;
  const std::vector<XnnpackNodePlan>& node_plans() const noexcept;

  // Bytes of the activation arena; bytes of float constants the executor keeps for
  // its kernels (XNNPACK's packed weights are not counted).
  std::uint64_t arena_bytes() const noexcept;
  std::uint64_t constant_bytes() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace infercast::runtime
