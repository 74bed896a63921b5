// One check + one lowering per op family, like XNNPACK's xnn_define_*: the check
// states the op's whole contract (dtype, rank, constant inputs, attributes) and
// returns why not; the lowering may then rely on every fact the check verified.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "infercast/ir/graph.hpp"
#include "infercast/runtime/xnnpack_executor.hpp"
#include "runtime/xnnpack/builder.hpp"
#include "runtime/xnnpack/kernels.hpp"

namespace infercast::runtime::xnnpack {

// Read-only facts about a graph for the checks.
class Check {
 public:
  Check(const ir::Graph& graph, const GraphFacts& facts) : graph(graph), facts(facts), derived(facts.derived) {}

  const ir::Graph& graph;
  const GraphFacts& facts;
  const std::vector<bool>& derived;

  bool present(const ir::Node& n, std::size_t k) const { return k < n.inputs.size() && n.inputs[k] >= 0; }
  const ir::Tensor& tensor(int id) const { return graph.tensors[id]; }
  // Constant, or computed from constants only (folded at prepare).
  bool constant(int tensor) const;
  // Empty when `tensor` is float data this executor can hold (float32 with a static
  // shape; fp16 and other float types only as constants); otherwise why not.
  std::string float_problem(int tensor) const;
  std::optional<std::vector<std::int64_t>> ints(int tensor) const {
    if (tensor < 0) return std::nullopt;
    return facts.ints[static_cast<std::size_t>(tensor)];
  }
  std::optional<std::vector<float>> floats(int tensor) const { return read_small_float_constant(graph, tensor); }
  // Read as data by a node that runs, or a graph output.
  bool used(int tensor) const { return tensor >= 0 && facts.data_used[tensor]; }
};

// Generic checks (outputs float with static shapes) plus the op family's check.
XnnpackSupport check_node(const Check& c, int node);

inline XnnpackSupport yes() {
  return {true, {}};
}
inline XnnpackSupport no(std::string reason) {
  return {false, std::move(reason)};
}

using CheckFn = XnnpackSupport (*)(const Check&, const ir::Node&);
using LowerFn = void (*)(Builder&, const ir::Node&);
struct OpHandler {
  CheckFn check = nullptr;
  LowerFn lower = nullptr;
};
// Null for ops this executor does not run.
const OpHandler* handler_for(ir::Op op);

// Conv + BatchNormalization folding is possible (constant inference-mode parameters).
XnnpackSupport check_bn_fold(const Check& c, const ir::Node& conv, const ir::Node& bn);
// Producer absorbs followers (BatchNormalization into Conv, ReLU/Clip into output clamp).
bool can_fuse_activation(ir::Op producer);
// The min/max of a Relu/Clip node when they are constant; nullopt otherwise.
std::optional<std::pair<float, float>> clamp_bounds(const ir::Graph& graph, const ir::Node& n);
// Output range of a TFLite fused activation ("relu", "relu6", ...); nullopt for none/unsupported.
std::optional<std::pair<float, float>> fused_activation_bounds(const ir::Node& n, std::string* problem);

// --- helpers shared by the op files
// "input k 'name' is ..." when input k is not float data this executor can hold.
std::string input_problem(const Check& c, const ir::Node& n, std::size_t k);
// The first problem among the data inputs `ks` (all must be present).
std::string inputs_problem(const Check& c, const ir::Node& n, std::initializer_list<std::size_t> ks);
// Empty when output k of `n` is declared with exactly `want` (logical) dims; the
// kernels write what the op computes, so a model declaring something else is refused.
std::string output_dims_problem(const Check& c, const ir::Node& n, std::size_t k, const Dims& want);
// axis in [-rank, rank) → [0, rank); nullopt when out of range.
std::optional<int> normalize_axis(std::int64_t axis, std::size_t rank);
// y = clamp(x) as an XNNPACK clamp step (returns `in` when the range is unbounded).
int add_clamp(Builder& b, int in, float min, float max);
// y = f(x) elementwise as a custom kernel step.
template <class F>
void add_unary_kernel(Builder& b, int in, int out, F f);

// Window geometry of 2-D (and 1-D as height-1) spatial ops, shared by the float and
// int8 lowerings.
struct Window {
  std::int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
  std::int64_t top = 0, left = 0, bottom = 0, right = 0;
};
// Reads kernel_shape/strides/dilations/pads for 1 or 2 spatial dims; empty string on success.
std::string read_window(const ir::Node& n, std::size_t spatial, Window& w, bool need_kernel);
// NHWC geometry of a spatial op's input/output: [n, h, w, c].
struct Nhwc {
  std::size_t n = 1, h = 1, w = 1, c = 1;
};
Nhwc nhwc_of(const Dims& logical, ir::Layout layout);

// --- int8 (ops_quant.cpp): a node that reads or writes run-time int8 data (per-tensor
// asymmetric activations, as TFLite's full-integer models hold them) runs on XNNPACK's
// qs8/qc8 operators instead of the float handler of its op.
bool is_quantized_node(const ir::Graph& graph, const GraphFacts& facts, const ir::Node& n);
XnnpackSupport check_quantized(const Check&, const ir::Node&);
void lower_quantized(Builder&, const ir::Node&);
// Empty when `t` carries usable per-tensor int8 activation parameters (finite scale > 0,
// zero point in [-128, 127]); otherwise why not.
std::string activation_quant_problem(const ir::Tensor& t);
// A new int8 value holding float value `v` quantized with `t`'s parameters (a convert
// step), and the reverse; used at graph inputs and outputs.
int quantize_value(Builder& b, int v, const ir::Tensor& t);
int dequantize_value(Builder& b, int v, const ir::Tensor& t);

// Op families (ops_*.cpp).
XnnpackSupport check_conv(const Check&, const ir::Node&);
void lower_conv(Builder&, const ir::Node&);
XnnpackSupport check_conv_transpose(const Check&, const ir::Node&);
void lower_conv_transpose(Builder&, const ir::Node&);
XnnpackSupport check_pool(const Check&, const ir::Node&);
void lower_pool(Builder&, const ir::Node&);
XnnpackSupport check_global_pool(const Check&, const ir::Node&);
void lower_global_pool(Builder&, const ir::Node&);
XnnpackSupport check_batch_norm(const Check&, const ir::Node&);
void lower_batch_norm(Builder&, const ir::Node&);
XnnpackSupport check_resize(const Check&, const ir::Node&);
void lower_resize(Builder&, const ir::Node&);
XnnpackSupport check_depth_space(const Check&, const ir::Node&);
void lower_depth_space(Builder&, const ir::Node&);

XnnpackSupport check_unary(const Check&, const ir::Node&);
void lower_unary(Builder&, const ir::Node&);
XnnpackSupport check_binary(const Check&, const ir::Node&);
void lower_binary(Builder&, const ir::Node&);
XnnpackSupport check_clip(const Check&, const ir::Node&);
void lower_clip(Builder&, const ir::Node&);
XnnpackSupport check_prelu(const Check&, const ir::Node&);
void lower_prelu(Builder&, const ir::Node&);

XnnpackSupport check_gemm(const Check&, const ir::Node&);
void lower_gemm(Builder&, const ir::Node&);
XnnpackSupport check_matmul(const Check&, const ir::Node&);
void lower_matmul(Builder&, const ir::Node&);
XnnpackSupport check_einsum(const Check&, const ir::Node&);
void lower_einsum(Builder&, const ir::Node&);

XnnpackSupport check_softmax(const Check&, const ir::Node&);
void lower_softmax(Builder&, const ir::Node&);
XnnpackSupport check_layer_norm(const Check&, const ir::Node&);
void lower_layer_norm(Builder&, const ir::Node&);
XnnpackSupport check_instance_norm(const Check&, const ir::Node&);
void lower_instance_norm(Builder&, const ir::Node&);
XnnpackSupport check_lrn(const Check&, const ir::Node&);
void lower_lrn(Builder&, const ir::Node&);
XnnpackSupport check_reduce(const Check&, const ir::Node&);
void lower_reduce(Builder&, const ir::Node&);

XnnpackSupport check_alias(const Check&, const ir::Node&);
void lower_alias(Builder&, const ir::Node&);
XnnpackSupport check_constant(const Check&, const ir::Node&);
void lower_constant(Builder&, const ir::Node&);
XnnpackSupport check_transpose(const Check&, const ir::Node&);
void lower_transpose(Builder&, const ir::Node&);
XnnpackSupport check_concat(const Check&, const ir::Node&);
void lower_concat(Builder&, const ir::Node&);
XnnpackSupport check_split(const Check&, const ir::Node&);
void lower_split(Builder&, const ir::Node&);
XnnpackSupport check_slice(const Check&, const ir::Node&);
void lower_slice(Builder&, const ir::Node&);
XnnpackSupport check_pad(const Check&, const ir::Node&);
void lower_pad(Builder&, const ir::Node&);
XnnpackSupport check_expand(const Check&, const ir::Node&);
void lower_expand(Builder&, const ir::Node&);
XnnpackSupport check_gather(const Check&, const ir::Node&);
void lower_gather(Builder&, const ir::Node&);

template <class F>
void add_unary_kernel(Builder& b, int in, int out, F f) {
  const std::size_t count = static_cast<std::size_t>(b.values[in].size());
  b.add_kernel({in}, {out}, [in, out, count, f](const Binder& bd) {
    const float* x = bd.ptr(in);
    float* y = bd.ptr(out);
    pthreadpool_t pool = bd.pool();
    return [x, y, count, f, pool] { kernels::unary(x, y, count, f, pool); };
  });
}

}  // namespace infercast::runtime::xnnpack
