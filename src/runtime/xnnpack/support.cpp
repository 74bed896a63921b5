// XnnpackExecutor::supports: the generic checks every node passes (float data with
// static shapes), then the op family's own check.
#include <algorithm>
#include <cmath>

#include "infercast/runtime/xnnpack_executor.hpp"
#include "runtime/xnnpack/ops.hpp"

namespace infercast::runtime {
namespace xnnpack {

bool Check::constant(int tensor) const {
  if (tensor < 0) return false;
  return graph.tensors[tensor].is_constant() || derived[tensor];
}

std::string Check::float_problem(int tensor) const {
  if (tensor < 0) return "is omitted";
  const ir::Tensor& t = graph.tensors[tensor];
  const std::string name = "'" + t.name + "'";
  if (t.dtype != ir::DType::kFloat32) {
    // int8 constants with scales are dynamic-range weights, dequantized at prepare.
    const bool convertible = t.dtype == ir::DType::kFloat16 || t.dtype == ir::DType::kBFloat16 ||
                             t.dtype == ir::DType::kFloat64 || (t.dtype == ir::DType::kInt8 && !t.quant.empty());
    if (!(convertible && constant(tensor))) {
      return name + " is " + std::string(ir::dtype_name(t.dtype)) + "; only float32 data runs here";
    }
  }
  if (!t.shape.is_static()) return name + " has shape " + t.shape.str() + ", not a static shape";
  if (*t.shape.numel() == 0) return name + " is empty (shape " + t.shape.str() + ")";
  if (t.sparse && !t.is_constant()) return name + " is sparse";
  return {};
}

bool is_parameter_input(const ir::Node& node, std::size_t k) {
  using O = ir::Op;
  switch (node.op) {
    case O::Reshape:
    case O::Squeeze:
    case O::Unsqueeze:
    case O::Expand:
    case O::Resize:
    case O::Slice:
    case O::Pad:
    case O::Split:
    case O::Dropout:
    case O::Transpose:
    case O::Tile:
    case O::Gather:
    case O::TopK:
    case O::ArgMax:
    case O::ArgMin:
    case O::CumSum:
    case O::OneHot:
    case O::ReduceMean:
    case O::ReduceSum:
    case O::ReduceMax:
    case O::ReduceMin:
    case O::ReduceProd:
    case O::ReduceL1:
    case O::ReduceL2:
    case O::ReduceLogSum:
    case O::ReduceLogSumExp:
    case O::ReduceSumSquare: return k >= 1;
    case O::ConvTranspose: return k >= 3;  // TFLite's output_shape
    case O::ConstantOfShape:
    case O::Range:
    case O::Shape:
    case O::Size: return true;
    default: return false;
  }
}

namespace {

bool is_int(ir::DType t) {
  return t == ir::DType::kInt64 || t == ir::DType::kInt32;
}

// Values of integer outputs of shape arithmetic, when every input is known. Only
// small 0-D/1-D tensors; anything else stays unknown.
std::optional<std::vector<std::int64_t>> eval_ints(const ir::Graph& g, const ir::Node& n,
                                                   const std::vector<std::optional<std::vector<std::int64_t>>>& known) {
  using O = ir::Op;
  if (n.outputs.size() != 1 || n.outputs[0] < 0 || !is_int(g.tensors[n.outputs[0]].dtype)) return std::nullopt;
  auto in = [&](std::size_t k) -> const std::optional<std::vector<std::int64_t>>& {
    static const std::optional<std::vector<std::int64_t>> none;
    return k < n.inputs.size() && n.inputs[k] >= 0 ? known[static_cast<std::size_t>(n.inputs[k])] : none;
  };
  switch (n.op) {
    case O::Shape: {
      const ir::Shape& s = g.tensors[n.inputs.at(0)].shape;
      if (!s.is_static()) return std::nullopt;
      std::vector<std::int64_t> dims = s.extents();
      const auto r = static_cast<std::int64_t>(dims.size());
      std::int64_t start = n.attrs.get_int("start", 0), end = n.attrs.get_int("end", r);
      if (start < 0) start += r;
      if (end < 0) end += r;
      start = std::clamp<std::int64_t>(start, 0, r);
      end = std::clamp<std::int64_t>(end, start, r);
      return std::vector<std::int64_t>(dims.begin() + start, dims.begin() + end);
    }
    case O::Identity:
    case O::Cast:
    case O::Reshape:
    case O::Squeeze:
    case O::Unsqueeze:
      if (n.op == O::Cast && !is_int(g.tensors[n.inputs.at(0)].dtype)) return std::nullopt;
      return in(0);
    case O::Concat: {
      std::vector<std::int64_t> out;
      for (std::size_t k = 0; k < n.inputs.size(); ++k) {
        if (!in(k)) return std::nullopt;
        out.insert(out.end(), in(k)->begin(), in(k)->end());
      }
      return out;
    }
    case O::Gather: {
      if (!in(0) || !in(1) || g.tensors[n.inputs[0]].shape.rank() != 1) return std::nullopt;
      std::vector<std::int64_t> out;
      const auto size = static_cast<std::int64_t>(in(0)->size());
      for (auto i : *in(1)) {
        if (i < -size || i >= size) return std::nullopt;
        out.push_back((*in(0))[static_cast<std::size_t>(i < 0 ? i + size : i)]);
      }
      return out;
    }
    case O::Neg: {
      if (!in(0)) return std::nullopt;
      std::vector<std::int64_t> out(*in(0));
      for (auto& v : out) v = -v;
      return out;
    }
    case O::Add:
    case O::Sub:
    case O::Mul:
    case O::Div: {
      if (!in(0) || !in(1)) return std::nullopt;
      const auto& a = *in(0);
      const auto& b = *in(1);
      if (a.size() != b.size() && a.size() != 1 && b.size() != 1) return std::nullopt;
      std::vector<std::int64_t> out(std::max(a.size(), b.size()));
      for (std::size_t i = 0; i < out.size(); ++i) {
        const std::int64_t x = a[a.size() == 1 ? 0 : i], y = b[b.size() == 1 ? 0 : i];
        if (n.op == O::Div && y == 0) return std::nullopt;
        out[i] = n.op == O::Add ? x + y : n.op == O::Sub ? x - y : n.op == O::Mul ? x * y : x / y;
      }
      return out;
    }
    default: return std::nullopt;
  }
}

}  // namespace

GraphFacts analyze_graph(const ir::Graph& graph) {
  GraphFacts f;
  f.ints.resize(graph.tensors.size());
  for (std::size_t t = 0; t < graph.tensors.size(); ++t) f.ints[t] = read_int_constant(graph, static_cast<int>(t));
  for (const ir::Node& node : graph.nodes) {
    if (auto v = eval_ints(graph, node, f.ints); v && v->size() <= 64)
      f.ints[static_cast<std::size_t>(node.outputs[0])] = v;
  }
  f.derived.assign(graph.tensors.size(), false);
  for (const ir::Node& node : graph.nodes) {
    bool all_constant = node.op != ir::Op::Constant;
    bool any = false;
    for (int id : node.inputs) {
      if (id < 0) continue;
      any = true;
      if (!graph.tensors[id].is_constant() && !f.derived[id]) all_constant = false;
    }
    if (!all_constant || !any) continue;
    for (int id : node.outputs) {
      if (id >= 0 && !graph.tensors[id].is_constant()) f.derived[id] = true;
    }
  }
  // Backwards from the graph outputs through data inputs only.
  f.needed.assign(graph.nodes.size(), false);
  f.data_used.assign(graph.tensors.size(), false);
  for (int id : graph.outputs) f.data_used[id] = true;
  for (std::size_t i = graph.nodes.size(); i-- > 0;) {
    const ir::Node& node = graph.nodes[i];
    bool needed = false;
    for (int id : node.outputs) needed = needed || (id >= 0 && f.data_used[id]);
    if (!needed) continue;
    f.needed[i] = true;
    for (std::size_t k = 0; k < node.inputs.size(); ++k) {
      if (node.inputs[k] >= 0 && !is_parameter_input(node, k)) f.data_used[node.inputs[k]] = true;
    }
  }
  return f;
}

const OpHandler* handler_for(ir::Op op) {
  using O = ir::Op;
  static const OpHandler conv{check_conv, lower_conv}, conv_t{check_conv_transpose, lower_conv_transpose},
      pool{check_pool, lower_pool}, global_pool{check_global_pool, lower_global_pool},
      bn{check_batch_norm, lower_batch_norm}, resize{check_resize, lower_resize},
      depth{check_depth_space, lower_depth_space}, unary{check_unary, lower_unary}, binary{check_binary, lower_binary},
      clip{check_clip, lower_clip}, prelu{check_prelu, lower_prelu}, gemm{check_gemm, lower_gemm},
      matmul{check_matmul, lower_matmul}, einsum{check_einsum, lower_einsum}, softmax{check_softmax, lower_softmax},
      layer_norm{check_layer_norm, lower_layer_norm}, instance_norm{check_instance_norm, lower_instance_norm},
      lrn{check_lrn, lower_lrn}, reduce{check_reduce, lower_reduce}, alias{check_alias, lower_alias},
      constant{check_constant, lower_constant}, transpose{check_transpose, lower_transpose},
      concat{check_concat, lower_concat}, split{check_split, lower_split}, slice{check_slice, lower_slice},
      pad{check_pad, lower_pad}, expand{check_expand, lower_expand}, gather{check_gather, lower_gather};
  switch (op) {
    case O::Conv: return &conv;
    case O::ConvTranspose: return &conv_t;
    case O::MaxPool:
    case O::AveragePool: return &pool;
    case O::GlobalAveragePool:
    case O::GlobalMaxPool: return &global_pool;
    case O::BatchNormalization: return &bn;
    case O::Resize: return &resize;
    case O::DepthToSpace:
    case O::SpaceToDepth: return &depth;
    case O::Relu:
    case O::LeakyRelu:
    case O::Sigmoid:
    case O::HardSwish:
    case O::Elu:
    case O::Abs:
    case O::Neg:
    case O::Sqrt:
    case O::Square:
    case O::Floor:
    case O::Ceil:
    case O::Round:
    case O::Tanh:
    case O::Gelu:
    case O::HardSigmoid:
    case O::Selu:
    case O::Celu:
    case O::Softplus:
    case O::Softsign:
    case O::ThresholdedRelu:
    case O::Mish:
    case O::Exp:
    case O::Log:
    case O::Erf:
    case O::Reciprocal:
    case O::Sin:
    case O::Cos:
    case O::Tan:
    case O::Asin:
    case O::Acos:
    case O::Atan:
    case O::Sinh:
    case O::Cosh:
    case O::Asinh:
    case O::Acosh:
    case O::Atanh:
    case O::Shrink:
    case O::Sign: return &unary;
    case O::Add:
    case O::Sub:
    case O::Mul:
    case O::Div:
    case O::Max:
    case O::Min:
    case O::Sum:
    case O::Mean:
    case O::Pow:
    case O::Mod:
    case O::SquaredDifference: return &binary;
    case O::Clip: return &clip;
    case O::PRelu: return &prelu;
    case O::Gemm:
    case O::FullyConnected: return &gemm;
    case O::MatMul: return &matmul;
    case O::Einsum: return &einsum;
    case O::Softmax:
    case O::LogSoftmax: return &softmax;
    case O::LayerNormalization: return &layer_norm;
    case O::InstanceNormalization: return &instance_norm;
    case O::LRN: return &lrn;
    case O::ReduceMean:
    case O::ReduceSum:
    case O::ReduceMax:
    case O::ReduceMin:
    case O::ReduceProd:
    case O::ReduceL1:
    case O::ReduceL2:
    case O::ReduceLogSum:
    case O::ReduceLogSumExp:
    case O::ReduceSumSquare: return &reduce;
    case O::Reshape:
    case O::Flatten:
    case O::Squeeze:
    case O::Unsqueeze:
    case O::Identity:
    case O::Dropout:
    case O::Dequantize:
    case O::Densify:
    case O::Cast: return &alias;
    case O::Constant: return &constant;
    case O::Transpose: return &transpose;
    case O::Concat: return &concat;
    case O::Split: return &split;
    case O::Slice: return &slice;
    case O::Pad: return &pad;
    case O::Expand:
    case O::Tile: return &expand;
    case O::Gather: return &gather;
    default: return nullptr;
  }
}

bool can_fuse_activation(ir::Op op) {
  switch (op) {
    case ir::Op::Conv:
    case ir::Op::ConvTranspose:
    case ir::Op::Gemm:
    case ir::Op::FullyConnected:
    case ir::Op::Add:
    case ir::Op::Sub:
    case ir::Op::Mul:
    case ir::Op::Div: return true;
    default: return false;
  }
}

XnnpackSupport check_node(const Check& c, int index) {
  const ir::Node& n = c.graph.nodes[static_cast<std::size_t>(index)];
  if (!c.facts.needed[static_cast<std::size_t>(index)]) return yes();  // feeds only parameters read at prepare
  if (is_quantized_node(c.graph, c.facts, n)) return check_quantized(c, n);
  const OpHandler* h = handler_for(n.op);
  if (h == nullptr) {
    return no("op " + (n.op == ir::Op::Other ? n.source_op : std::string(ir::op_name(n.op))) +
              " is not implemented by the XNNPACK runtime");
  }
  for (std::size_t k = 0; k < n.outputs.size(); ++k) {
    if (!c.used(n.outputs[k])) continue;
    if (std::string why = c.float_problem(n.outputs[k]); !why.empty()) return no("output " + why);
  }
  return h->check(c, n);
}

}  // namespace xnnpack

XnnpackSupport XnnpackExecutor::supports(const ir::Graph& graph, int node) {
  if (node < 0 || static_cast<std::size_t>(node) >= graph.nodes.size()) return xnnpack::no("no such node");
  const xnnpack::GraphFacts facts = xnnpack::analyze_graph(graph);
  return xnnpack::check_node(xnnpack::Check(graph, facts), node);
}

std::vector<XnnpackSupport> XnnpackExecutor::supports_all(const ir::Graph& graph) {
  const xnnpack::GraphFacts facts = xnnpack::analyze_graph(graph);
  const xnnpack::Check check(graph, facts);
  std::vector<XnnpackSupport> out;
  out.reserve(graph.nodes.size());
  for (std::size_t i = 0; i < graph.nodes.size(); ++i) out.push_back(xnnpack::check_node(check, static_cast<int>(i)));
  return out;
}

}  // namespace infercast::runtime
