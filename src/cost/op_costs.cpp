// Per-op cost functions, dispatched through the op table (ir/ops.def, CostFn column).
#include <algorithm>
#include <array>
#include <cmath>
#include <set>

#include "infercast/cost/cost.hpp"
#include "infercast/ir/einsum.hpp"

namespace infercast::cost {
namespace {

using ir::Graph;
using ir::Node;
using ir::Op;

// What one cost function sees: the node, its tensors, and where it records results.
struct CostContext {
  const Graph& graph;
  const Node& node;
  LayerCost& out;

  const ir::Tensor* input(std::size_t i) const {
    return i < node.inputs.size() && node.inputs[i] >= 0 ? &graph.tensors[node.inputs[i]] : nullptr;
  }
  const ir::Tensor* output(std::size_t i) const {
    return i < node.outputs.size() && node.outputs[i] >= 0 ? &graph.tensors[node.outputs[i]] : nullptr;
  }
  // Element count of a tensor, or nullopt (and the layer marked incomplete).
  std::optional<std::uint64_t> numel(const ir::Tensor* t) const {
    if (t == nullptr) {
      out.complete = false;
      return std::nullopt;
    }
    auto n = t->shape.numel();
    if (!n) out.complete = false;
    return n;
  }
  std::uint64_t kernel_volume() const {
    std::uint64_t v = 1;
    for (std::int64_t k : node.attrs.get_ints("kernel_shape"))
      v *= static_cast<std::uint64_t>(std::max<std::int64_t>(k, 0));
    return v;
  }
  // Channel extent of an activation in the node's layout.
  std::optional<std::uint64_t> channels(const ir::Tensor* t) const {
    if (t == nullptr || t->shape.rank() < 2) {
      out.complete = false;
      return std::nullopt;
    }
    const auto& dims = t->shape.dims;
    const ir::Dim& d = node.layout == ir::Layout::kNHWC ? dims.back() : dims[1];
    if (!d.known()) {
      out.complete = false;
      return std::nullopt;
    }
    return static_cast<std::uint64_t>(d.value);
  }
  double factor() const { return ir::op_flops_per_element(node.op); }
};

std::uint64_t scaled(std::uint64_t n, double f) {
  return static_cast<std::uint64_t>(std::llround(static_cast<double>(n) * f));
}

void cost_conv(CostContext& c) {
  const auto out = c.numel(c.output(0));
  const auto cin = c.channels(c.input(0));
  const auto group = static_cast<std::uint64_t>(std::max<std::int64_t>(c.node.attrs.get_int("group", 1), 1));
  if (!out || !cin) return;
  c.out.macs = *out * (*cin / group) * c.kernel_volume();
  c.out.flops = 2 * c.out.macs;
}

void cost_conv_transpose(CostContext& c) {
  const auto in = c.numel(c.input(0));
  const auto cout = c.channels(c.output(0));
  const auto group = static_cast<std::uint64_t>(std::max<std::int64_t>(c.node.attrs.get_int("group", 1), 1));
  if (!in || !cout) return;
  c.out.macs = *in * (*cout / group) * c.kernel_volume();
  c.out.flops = 2 * c.out.macs;
}

// Gemm: Y = alpha * op(A) op(B) + beta * C; K is A's inner extent.
void cost_gemm(CostContext& c) {
  const ir::Tensor* a = c.input(0);
  const auto out = c.numel(c.output(0));
  if (a == nullptr || a->shape.rank() != 2 || !a->shape.is_static() || !out) {
    c.out.complete = false;
    return;
  }
  const bool trans_a = c.node.attrs.get_int("transA", 0) != 0;
  const auto k = static_cast<std::uint64_t>(a->shape.dims[trans_a ? 0 : 1].value);
  c.out.macs = *out * k;
  c.out.flops = 2 * c.out.macs;
}

// FullyConnected (TFLite): weights are [out_features, in_features].
void cost_fully_connected(CostContext& c) {
  const ir::Tensor* w = c.input(1);
  const auto out = c.numel(c.output(0));
  if (w == nullptr || w->shape.rank() != 2 || !w->shape.dims[1].known() || !out) {
    c.out.complete = false;
    return;
  }
  c.out.macs = *out * static_cast<std::uint64_t>(w->shape.dims[1].value);
  c.out.flops = 2 * c.out.macs;
}

// MatMul with numpy semantics (and TFLite BatchMatMul's adj_x): every output element
// is a K-long dot product.
void cost_matmul(CostContext& c) {
  const ir::Tensor* a = c.input(0);
  const auto out = c.numel(c.output(0));
  if (a == nullptr || a->shape.rank() == 0 || !a->shape.is_static() || !out) {
    c.out.complete = false;
    return;
  }
  const auto& dims = a->shape.dims;
  const bool adj_x = c.node.attrs.get_int("adj_x", 0) != 0 && dims.size() >= 2;
  const auto k = static_cast<std::uint64_t>(adj_x ? dims[dims.size() - 2].value : dims.back().value);
  c.out.macs = *out * k;
  c.out.flops = 2 * c.out.macs;
}

// LSTM/GRU/RNN: gates * hidden * (input + hidden) multiply-adds per step, direction
// and batch element. Counted as FLOPs only; `macs` keeps the conv/linear convention.
void cost_recurrent(CostContext& c) {
  const ir::Tensor* x = c.input(0);
  if (x == nullptr || x->shape.rank() != 3 || !x->shape.is_static()) {
    c.out.complete = false;
    return;
  }
  const auto hidden = static_cast<std::uint64_t>(std::max<std::int64_t>(c.node.attrs.get_int("hidden_size", 0), 0));
  const std::uint64_t dirs = c.node.attrs.get_string("direction", "forward") == "bidirectional" ? 2 : 1;
  const bool batch_first = c.node.attrs.get_int("layout", 0) != 0;
  const auto& d = x->shape.dims;
  const auto seq = static_cast<std::uint64_t>(d[batch_first ? 1 : 0].value);
  const auto batch = static_cast<std::uint64_t>(d[batch_first ? 0 : 1].value);
  const auto input = static_cast<std::uint64_t>(d[2].value);
  const auto gates = static_cast<std::uint64_t>(c.factor());
  c.out.flops = 2 * seq * batch * dirs * gates * hidden * (input + hidden);
}

void cost_elementwise(CostContext& c) {
  if (const auto out = c.numel(c.output(0))) c.out.flops = scaled(*out, c.factor());
}

void cost_pool(CostContext& c) {
  if (const auto out = c.numel(c.output(0))) c.out.flops = scaled(*out * c.kernel_volume(), c.factor());
}

void cost_reduce(CostContext& c) {
  if (const auto in = c.numel(c.input(0))) c.out.flops = scaled(*in, c.factor());
}

// Resize: nearest costs no arithmetic; linear interpolates along each resized axis
// (2^s - 1 lerps of 3 FLOPs for s resized axes); cubic uses 4 taps per axis.
void cost_resize(CostContext& c) {
  const ir::Tensor* in = c.input(0);
  const ir::Tensor* out_t = c.output(0);
  const auto out = c.numel(out_t);
  if (!out || in == nullptr || in->shape.rank() != out_t->shape.rank()) return;
  int resized = 0;
  for (std::size_t i = 0; i < in->shape.rank(); ++i) resized += in->shape.dims[i].value != out_t->shape.dims[i].value;
  const std::string mode = c.node.attrs.get_string("mode", "nearest");
  double per_element = 0;
  if (mode == "linear" || mode == "bilinear") per_element = 3.0 * ((1 << resized) - 1);
  if (mode == "cubic") per_element = 2.0 * std::pow(4.0, resized);
  c.out.flops = scaled(*out, per_element);
}

void cost_data_movement(CostContext&) {}

// Einsum: one multiply-add per point of the equation's full index space (ir/einsum.hpp);
// "bhid,bhjd->bhij" is a batched MatMul and counts as one.
void cost_einsum(CostContext& c) {
  std::vector<std::vector<std::int64_t>> shapes;
  for (std::size_t i = 0; i < c.node.inputs.size(); ++i) {
    const ir::Tensor* t = c.input(i);
    if (t == nullptr || !t->shape.is_static()) {
      c.out.complete = false;
      return;
    }
    shapes.push_back(t->shape.extents());
  }
  const auto r = ir::evaluate_einsum(c.node.attrs.get_string("equation", ""), shapes);
  if (!r) {
    c.out.complete = false;
    return;
  }
  c.out.macs = r->macs;
  c.out.flops = 2 * r->macs;
}

using CostFn = void (*)(CostContext&);

constexpr std::array<CostFn, ir::kOpCount> kCostFns = {{
#define INFERCAST_OP(name, category, cost_fn, flops) &cost_##cost_fn,
#include "infercast/ir/ops.def"
#undef INFERCAST_OP
}};

// FLOPs per element of TFLite's fused activations (same figures as the ops).
double fused_activation_flops(const std::string& act) {
  if (act == "relu") return ir::op_flops_per_element(Op::Relu);
  if (act == "relu6" || act == "relu_n1_to_1" || act == "relu_0_to_1") return ir::op_flops_per_element(Op::Clip);
  if (act == "tanh") return ir::op_flops_per_element(Op::Tanh);
  if (act == "sign_bit") return 1;
  return 0;
}

}  // namespace

bool is_weight(const Graph& graph, int tensor) {
  if (tensor < 0) return false;
  const ir::Tensor& t = graph.tensors[tensor];
  // Constants without data (TFLite variable tensors: recurrent state) are not weights.
  if (!t.is_constant() || (t.data.empty() && t.shape.numel().value_or(0) > 0)) return false;
  const bool quantized =
      !t.quant.empty() || t.dtype == ir::DType::kInt8 || t.dtype == ir::DType::kUInt8 || t.dtype == ir::DType::kInt4;
  if (!ir::is_floating(t.dtype) && !quantized) return false;
  // Scalars written inline by Constant nodes are op hyper-parameters (epsilon, a
  // divisor), not weights.
  if (t.producer >= 0 && t.alias_of < 0 && t.shape.numel().value_or(0) <= 1) return false;
  return true;
}

LayerCost layer_cost(const Graph& graph, int node_index) {
  const Node& node = graph.nodes[static_cast<std::size_t>(node_index)];
  LayerCost cost;
  cost.node = node_index;
  // Nodes that only name constants (Constant, Identity of an initializer) do no work.
  const bool only_constants = std::all_of(node.outputs.begin(), node.outputs.end(),
                                          [&](int id) { return id < 0 || graph.tensors[id].is_constant(); });
  if (only_constants && !node.outputs.empty()) return cost;

  std::set<int> seen;
  for (int id : node.inputs) {
    if (id < 0 || !seen.insert(id).second) continue;
    const ir::Tensor& t = graph.tensors[id];
    const auto bytes = t.data.empty() ? t.bytes() : std::optional<std::uint64_t>(t.data.size());
    if (bytes) {
      cost.read_bytes += *bytes;
    } else {
      cost.complete = false;
    }
    if (is_weight(graph, id)) {
      cost.params += t.shape.numel().value_or(0);
      cost.weight_bytes += bytes.value_or(0);
    }
  }
  for (int id : node.outputs) {
    if (id < 0) continue;
    if (const auto bytes = graph.tensors[id].bytes()) {
      cost.write_bytes += *bytes;
    } else {
      cost.complete = false;
    }
  }
  CostContext context{graph, node, cost};
  kCostFns[static_cast<std::size_t>(node.op)](context);
  const std::string act = node.attrs.get_string("fused_activation", "");
  if (!act.empty()) {
    if (const auto out = context.numel(context.output(0))) cost.flops += scaled(*out, fused_activation_flops(act));
  }
  return cost;
}

}  // namespace infercast::cost
