// Kernel detection and kernel features (include/infercast/predict/kernels.hpp).
#include "infercast/predict/kernels.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <set>

#include "infercast/base/error.hpp"
#include "infercast/cost/cost.hpp"
#include "infercast/ir/einsum.hpp"
#include "infercast/ir/permutation.hpp"

namespace infercast::predict {

const std::array<const char*, kFeatureCount> kFeatureNames = {"log2_flops",
                                                              "log2_bytes",
                                                              "log2_params",
                                                              "log2_intensity",
                                                              "log2_out_elems",
                                                              "log2_in_elems",
                                                              "in_h",
                                                              "in_w",
                                                              "cin",
                                                              "cout",
                                                              "kernel",
                                                              "stride",
                                                              "groups",
                                                              "nodes",
                                                              "activation",
                                                              "inputs",
                                                              "cin_align",
                                                              "cout_align",
                                                              "log2_reduction",
                                                              "log2_out_pixels",
                                                              "log2_weight_stream_intensity"};

nlohmann::json to_json(const FusionRules& rules) {
  return {{"fused_pairs", rules.fused_pairs},
          {"removed_ops", rules.removed_ops},
          {"alpha", rules.alpha},
          {"evidence", rules.evidence}};
}

FusionRules fusion_rules_from_json(const nlohmann::json& j) {
  FusionRules rules;
  try {
    rules.fused_pairs = j.at("fused_pairs").get<std::set<std::string>>();
    rules.removed_ops = j.at("removed_ops").get<std::set<std::string>>();
    rules.alpha = j.value("alpha", 0.5);
    rules.evidence = j.value("evidence", nlohmann::json::array());
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::kInvalidArgument, "", "fusion rules", std::string("malformed: ") + e.what());
  }
  return rules;
}

FusionRules default_fusion_rules() {
  FusionRules rules;
  rules.removed_ops = {"reshape", "flatten", "identity"};
  return rules;
}

namespace {

const ir::Tensor* tensor_at(const ir::Graph& graph, const ir::Node& node, std::size_t input) {
  if (input >= node.inputs.size() || node.inputs[input] < 0) return nullptr;
  return &graph.tensors[static_cast<std::size_t>(node.inputs[input])];
}

// Whether the node's 4-D tensors are channels-last: its own layout, or the graph's when
// the node has none (a TFLite model).
bool channels_last(const ir::Graph& graph, const ir::Node& node) {
  return node.layout == ir::Layout::kNHWC ||
         (node.layout == ir::Layout::kUnknown && graph.meta.layout == ir::Layout::kNHWC);
}

// Channels of a 4-D activation in the node's layout; -1 when unknown.
std::int64_t channels(const ir::Graph& graph, const ir::Node& node, const ir::Tensor* t) {
  if (t == nullptr || t->shape.rank() != 4) return -1;
  const bool nhwc = channels_last(graph, node);
  return t->shape.dims[nhwc ? 3 : 1].value;
}

// The value of a float32 scalar constant input, when it is one.
std::optional<double> constant_scalar(const ir::Graph& graph, const ir::Node& node, std::size_t input) {
  const ir::Tensor* t = tensor_at(graph, node, input);
  if (t == nullptr || !t->is_constant() || t->dtype != ir::DType::kFloat32 || t->data.size() != sizeof(float))
    return std::nullopt;
  float v = 0;
  std::memcpy(&v, t->data.data(), sizeof v);
  return static_cast<double>(v);
}

// Whether a Mul scales a 4-D activation by one value per channel (a squeeze-excitation's
// gate: [N, C, H, W] x [N, C, 1, 1], or [N, H, W, C] x [N, 1, 1, C] channels-last) over
// more than one pixel. ONNX Runtime runs it in NCHW between blocked convolutions, with
// a layout conversion on each side (bench: nchwc_reordered), which no other Mul pays.
bool channel_gate(const ir::Graph& graph, const ir::Node& node) {
  if (node.op != ir::Op::Mul || node.inputs.size() != 2 || node.outputs.empty()) return false;
  const ir::Tensor* a = tensor_at(graph, node, 0);
  const ir::Tensor* b = tensor_at(graph, node, 1);
  const ir::Tensor& y = graph.tensors[static_cast<std::size_t>(node.outputs[0])];
  if (a == nullptr || b == nullptr || y.shape.rank() != 4 || !y.shape.is_static()) return false;
  const bool nhwc = channels_last(graph, node);
  const std::size_t c_axis = nhwc ? 3 : 1;
  auto gate_of = [&](const ir::Tensor& x, const ir::Tensor& g) {
    if (x.shape != y.shape || g.shape.rank() != 4 || !g.shape.is_static()) return false;
    std::int64_t pixels = 1;
    for (std::size_t i = 0; i < 4; ++i) {
      const std::int64_t want = i == c_axis ? y.shape.dims[i].value : (i == 0 ? y.shape.dims[0].value : 1);
      if (g.shape.dims[i].value != want) return false;
      if (i != 0 && i != c_axis) pixels *= y.shape.dims[i].value;
    }
    return pixels > 1 && y.shape.dims[c_axis].value > 1;
  };
  return gate_of(*a, *b) || gate_of(*b, *a);
}

// A Transpose's reduced form (ir::reduce_permutation); nullopt when its input's shape is
// not static.
std::optional<ir::Permutation> reduced_transpose(const ir::Graph& graph, const ir::Node& node) {
  const ir::Tensor* in = tensor_at(graph, node, 0);
  if (in == nullptr || !in->shape.is_static()) return std::nullopt;
  return ir::reduce_permutation(in->shape.extents(), node.attrs.get_ints("perm"));
}

std::string activation_class(const std::string& fused) {
  if (fused == "relu6") return "relu6";
  if (fused == "relu") return "relu";
  if (fused == "tanh") return "tanh";
  return fused;
}

}  // namespace

std::string op_class(const ir::Graph& graph, int index) {
  const ir::Node& node = graph.nodes[static_cast<std::size_t>(index)];
  using ir::Op;
  switch (node.op) {
    case Op::Conv: {
      const std::int64_t group = node.attrs.get_int("group", 1);
      const std::int64_t cin = channels(graph, node, tensor_at(graph, node, 0));
      if (group > 1 && group == cin) return "dwconv";
      return "conv";
    }
    case Op::ConvTranspose: return "convtranspose";
    case Op::Gemm:
    case Op::FullyConnected: return "fc";
    case Op::MatMul: {
      const ir::Tensor* b = tensor_at(graph, node, 1);
      return b != nullptr && b->is_constant() && b->shape.rank() == 2 ? "fc" : "matmul";
    }
    case Op::BatchNormalization: return "bn";
    case Op::Relu: return "relu";
    case Op::Clip: {
      // Opset < 11 and TFLite give the bounds as attributes, opset >= 11 as inputs.
      const double lo = constant_scalar(graph, node, 1).value_or(node.attrs.get_float("min", -1.0));
      const double hi = constant_scalar(graph, node, 2).value_or(node.attrs.get_float("max", -1.0));
      if (lo == 0.0 && hi == 6.0) return "relu6";
      if (lo == 0.0 && hi < 0) return "relu";
      return "clip";
    }
    case Op::Sigmoid: return "sigmoid";
    case Op::HardSwish: return "hardswish";
    case Op::HardSigmoid: return "hardsigmoid";
    case Op::Tanh: return "tanh";
    case Op::Erf: return "erf";
    case Op::Add:
    case Op::Sub: return "add";
    case Op::Mul: return channel_gate(graph, node) ? "channel_mul" : "mul";
    case Op::Div: return "mul";
    case Op::MaxPool: return "maxpool";
    case Op::AveragePool: return "avgpool";
    case Op::GlobalAveragePool:
    case Op::GlobalMaxPool: return "globalavgpool";
    case Op::Concat: return "concat";
    case Op::Softmax: return "softmax";
    case Op::Pad: return "pad";
    case Op::Reshape:
    case Op::Squeeze: return "reshape";
    case Op::Flatten: return "flatten";
    case Op::Identity:
    case Op::Dropout: return "identity";
    case Op::Transpose: {
      // One matrix transposed (NCHW <-> NHWC of one image) or a copy is a `transpose`; any other is a
      // `permute` (bench/kernel.cpp), which ONNX Runtime runs up to 10x slower per element.
      const auto r = reduced_transpose(graph, node);
      return r && r->rank() >= 2 && !r->is_matrix_transpose() ? "permute" : "transpose";
    }
    case Op::LayerNormalization: return "layernorm";
    case Op::Dequantize:
    case Op::DequantizeLinear: {
      // fp16/int8 weights dequantized once at prepare time (TFLite fp16 models).
      const ir::Tensor* in = tensor_at(graph, node, 0);
      if (in != nullptr && in->is_constant()) return "weights";
      break;
    }
    default: break;
  }
  const ir::OpCategory category = ir::op_category(node.op);
  if (category == ir::OpCategory::kResize) return "resize";
  if (category == ir::OpCategory::kShape || category == ir::OpCategory::kConstant) return "shape";
  std::string name(ir::op_name(node.op));
  if (node.op == Op::Other) name = node.source_op;
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  return name;
}

namespace {

// Anchor class -> regressor family; classes not listed are "other".
const std::map<std::string, std::string>& families_by_class() {
  static const std::map<std::string, std::string> kFamilies = {
      {"conv", "conv"},
      {"dwconv", "dwconv"},
      {"convtranspose", "convtranspose"},
      {"fc", "fc"},
      {"matmul", "matmul"},
      // Its own family: a batched product written as an Einsum runs through ONNX Runtime's
      // Einsum kernel, at 2-7x the time of the same product as a MatMul (bench/kernel.cpp).
      {"einsum", "einsum"},
      {"maxpool", "pool"},
      {"avgpool", "pool"},
      {"globalavgpool", "globalpool"},
      {"add", "eltwise"},
      {"mul", "eltwise"},
      // Its own family: on ONNX Runtime a channel gate carries two layout conversions
      // (channel_gate), which an eltwise regressor would spread over every broadcast Mul.
      {"channel_mul", "gate"},
      {"relu", "activation"},
      {"relu6", "activation"},
      {"clip", "activation"},
      {"hardswish", "activation"},
      {"hardsigmoid", "activation"},
      // Their own family: the activations computed through an exponential. Their FLOPs per
      // element (sigmoid 4, tanh 5) are those of the piecewise-linear ones (hardswish 4),
      // yet they take 1.9x the time per element on XNNPACK; sharing the activation
      // regressor, efficientnets' sigmoids were predicted at a median 0.56 of their time.
      {"sigmoid", "exp_activation"},
      {"tanh", "exp_activation"},
      {"swish", "exp_activation"},
      // Its own family: XNNPACK here runs erf as a scalar loop, ~10x the time per element
      // of the activations above, which FLOPs and bytes alone would not tell apart.
      {"erf", "erf"},
      {"concat", "concat"},
      {"softmax", "softmax"},
      {"resize", "resize"},
      {"pad", "datamove"},
      {"transpose", "datamove"},
      // Its own family: whether a permutation moves blocks or single elements sets its
      // time per byte more than its size does (bench/kernel.cpp).
      {"permute", "permute"},
      // Its own family: a channel or column split copies part of its input, and among the
      // data movers, whose time follows what they write, it was predicted at up to 3x its
      // time (XNNPACK, ShuffleNet's 116-channel halves).
      {"slice", "slice"},
      // Multi-node kernels split_kernels recognises (their first node's class is another).
      {"channel_shuffle", "datamove"},
      {"gelu", "gelu"},
      {"layernorm_ops", "layernorm"},
      {"bn", "norm"},
      {"layernorm", "norm"},
      // Conversions between float and int8 (QDQ ONNX, TFLite), two families: one reads
      // float and writes int8, the other the reverse, with the same bytes moved.
      {"quantizelinear", "quantize"},
      {"quantize", "quantize"},
      {"dequantizelinear", "dequantize"},
      {"dequantize", "dequantize"},
  };
  return kFamilies;
}

// The families a runtime runs as a matrix product of activations and weights.
bool is_gemm_family(const std::string& family) {
  return family == "conv" || family == "gconv" || family == "fc" || family == "se_conv" || family == "matmul";
}

}  // namespace

double weight_bytes(const KernelCost& cost) {
  return 4.0 * cost.params;
}

std::vector<int> kernel_inputs(const ir::Graph& graph, const Kernel& kernel) {
  std::vector<int> inputs;
  for (int n : kernel.nodes)
    for (int t : graph.nodes[static_cast<std::size_t>(n)].inputs)
      if (t >= 0 && !graph.tensors[static_cast<std::size_t>(t)].is_constant() &&
          std::find(inputs.begin(), inputs.end(), t) == inputs.end())
        inputs.push_back(t);
  return inputs;
}

double output_positions(const Kernel& kernel) {
  // features[19] is log2(1 + out_elems / cout).
  return std::max(1.0, std::exp2(static_cast<double>(kernel.features[19])) - 1.0);
}

StaleInputs stale_inputs(const ir::Graph& graph, const std::vector<Kernel>& kernels, double l2_bytes, double llc_bytes,
                         int gemm_tile_rows) {
  StaleInputs stale{std::vector<double>(kernels.size(), 0.0), std::vector<double>(kernels.size(), 0.0)};
  if (!(l2_bytes > 0)) return stale;
  std::vector<int> kernel_of_node(graph.nodes.size(), -1);
  for (std::size_t k = 0; k < kernels.size(); ++k)
    for (int n : kernels[k].nodes) kernel_of_node[static_cast<std::size_t>(n)] = static_cast<int>(k);
  // The tensor whose memory `tensor` is: through views, the tensor a kernel wrote.
  const auto root = [&](int tensor) {
    for (int hops = 0; hops < 64; ++hops) {
      const int producer = graph.tensors[static_cast<std::size_t>(tensor)].producer;
      if (producer < 0) return tensor;
      const int k = kernel_of_node[static_cast<std::size_t>(producer)];
      const ir::Node& node = graph.nodes[static_cast<std::size_t>(producer)];
      if (k < 0 || !kernels[static_cast<std::size_t>(k)].removed || node.inputs.empty() || node.inputs[0] < 0)
        return tensor;
      tensor = node.inputs[0];
    }
    return tensor;
  };
  // Bytes moved by every kernel executed so far, when each root was last touched.
  double moved = 0;
  std::vector<double> touched(graph.tensors.size(), -1.0);
  for (std::size_t i = 0; i < kernels.size(); ++i) {
    if (kernels[i].removed) continue;
    std::vector<int> roots;
    for (int t : kernel_inputs(graph, kernels[i])) {
      const int r = root(t);
      if (std::find(roots.begin(), roots.end(), r) != roots.end()) continue;
      roots.push_back(r);
      const double last = touched[static_cast<std::size_t>(r)];
      if (last < 0 || moved - last <= l2_bytes) continue;  // a graph input, the kernel's own, or still cached
      if (const auto b = graph.tensors[static_cast<std::size_t>(t)].bytes()) {
        stale.beyond_l2[i] += static_cast<double>(*b);
        if (llc_bytes > 0 && moved - last > llc_bytes) stale.beyond_llc[i] += static_cast<double>(*b);
      }
    }
    // A GEMM whose weights outgrow the cache reads them again for every tile of output
    // rows: that traffic passes over its output as it is written, a row tile at a time, so
    // on average half of it comes after a row of the output was stored.
    double rereads = 0;
    const double weights = weight_bytes(kernels[i].cost);
    if (gemm_tile_rows > 0 && weights > l2_bytes && is_gemm_family(kernels[i].family))
      rereads = weights * (std::ceil(output_positions(kernels[i]) / gemm_tile_rows) - 1.0);
    moved += kernels[i].cost.bytes + rereads;
    for (int r : roots)
      if (graph.tensors[static_cast<std::size_t>(r)].producer >= 0) touched[static_cast<std::size_t>(r)] = moved;
    for (int n : kernels[i].nodes)
      for (int t : graph.nodes[static_cast<std::size_t>(n)].outputs)
        if (t >= 0) touched[static_cast<std::size_t>(t)] = moved - 0.5 * rereads;
  }
  return stale;
}

std::string family_of(const std::string& anchor_class) {
  const auto it = families_by_class().find(anchor_class);
  return it == families_by_class().end() ? "other" : it->second;
}

std::string conv_family(std::int64_t groups, bool one_position_pointwise) {
  if (groups > 1) return "gconv";
  return one_position_pointwise ? "se_conv" : "conv";
}

const std::vector<std::string>& family_names() {
  static const std::vector<std::string> kNames = [] {
    // gconv (a conv with groups) and se_conv (a 1x1 conv at one position) are assigned in
    // split_kernels, other to every unlisted class.
    std::set<std::string> names = {"gconv", "se_conv", "other"};
    for (const auto& [anchor, family] : families_by_class()) names.insert(family);
    return std::vector<std::string>(names.begin(), names.end());
  }();
  return kNames;
}

namespace {

float log2p(double x) {
  return static_cast<float>(std::log2(1.0 + std::max(0.0, x)));
}

// log2 of the largest power of two, at most 64, dividing `c`; 0 for a non-positive
// or odd `c`.
float alignment(double c) {
  const auto v = static_cast<std::int64_t>(c);
  if (v <= 0) return 0;
  int a = 0;
  while (a < 6 && v % (std::int64_t{2} << a) == 0) ++a;
  return static_cast<float>(a);
}

// FLOPs per weight byte when the weights are read again for every kWeightPassRows output
// positions, log2(1 + x); 0 without weights. A GEMM that tiles its output rows streams
// all its weights once per tile (XNNPACK: 7 rows with AVX-512), so a conv whose weights
// outgrow the private caches is bound by where they come from: on XNNPACK at 1 thread a
// 3x3 conv 1392->464 at 8x8 (65 MB of weights) ran at 27 GMAC/s and VGG's 3x3 convs
// (0.15-9.4 MB) at 82; the trees, given only the weight and output sizes apart, predicted
// VGG's at 70. With log2_params (which cache the weights come from) this separates the two
// kinds. Retrained with it, six stored held-out profiles had a lower per-kernel MAPE in five
// (docs/results.md), although VGG's convs are still predicted about 20% slow.
float weight_stream_intensity(const KernelCost& cost, double out_pixels) {
  constexpr double kWeightPassRows = 8;
  const double weights = weight_bytes(cost);
  if (!(weights > 0)) return 0;
  const double streamed = weights * std::ceil(std::max(out_pixels, 1.0) / kWeightPassRows);
  return static_cast<float>(std::log2(1.0 + cost.flops / streamed));
}

// A weight the runtime prepares once: the output of a Dequantize of a constant.
bool is_prepared_weight(const ir::Graph& graph, int tensor) {
  const int producer = graph.tensors[static_cast<std::size_t>(tensor)].producer;
  if (producer < 0) return false;
  const ir::Node& p = graph.nodes[static_cast<std::size_t>(producer)];
  if (p.op != ir::Op::Dequantize && p.op != ir::Op::DequantizeLinear) return false;
  return !p.inputs.empty() && p.inputs[0] >= 0 && graph.tensors[static_cast<std::size_t>(p.inputs[0])].is_constant();
}

bool integer_dtype(ir::DType d) {
  return d == ir::DType::kInt8 || d == ir::DType::kUInt8 || d == ir::DType::kInt32;
}

bool is_dequantize(ir::Op op) {
  return op == ir::Op::Dequantize || op == ir::Op::DequantizeLinear;
}

// The tensor a kernel really reads for `tensor`: a QDQ model's DequantizeLinear of int8
// data (or int32 biases) is folded into the op that reads it, so the op reads the integer
// tensor, not the float one the graph spells out. Otherwise `tensor` itself.
const ir::Tensor& stored_tensor(const ir::Graph& graph, int tensor) {
  const ir::Tensor& t = graph.tensors[static_cast<std::size_t>(tensor)];
  if (t.producer < 0) return t;
  const ir::Node& p = graph.nodes[static_cast<std::size_t>(t.producer)];
  if (!is_dequantize(p.op) || p.inputs.empty() || p.inputs[0] < 0) return t;
  const ir::Tensor& in = graph.tensors[static_cast<std::size_t>(p.inputs[0])];
  return integer_dtype(in.dtype) ? in : t;
}

// Fills cost and features of `kernel` from its nodes.
void describe(const ir::Graph& graph, Kernel& kernel) {
  std::vector<int> external;  // activation and weight tensors read from outside the kernel
  int activation_inputs = 0;
  for (int n : kernel.nodes) {
    const ir::Node& node = graph.nodes[static_cast<std::size_t>(n)];
    const cost::LayerCost lc = cost::layer_cost(graph, n);
    kernel.complete = kernel.complete && lc.complete;
    kernel.cost.flops += static_cast<double>(lc.flops);
    kernel.cost.params += static_cast<double>(lc.params);
    for (int t : node.inputs) {
      if (t < 0) continue;
      const int producer = graph.tensors[static_cast<std::size_t>(t)].producer;
      if (producer >= 0 && std::find(kernel.nodes.begin(), kernel.nodes.end(), producer) != kernel.nodes.end())
        continue;
      if (std::find(external.begin(), external.end(), t) != external.end()) continue;
      external.push_back(t);
      const ir::Tensor& tensor = graph.tensors[static_cast<std::size_t>(t)];
      if (is_prepared_weight(graph, t)) {
        if (const auto n = tensor.shape.numel()) kernel.cost.params += static_cast<double>(*n);
      } else if (!tensor.is_constant()) {
        ++activation_inputs;
      }
    }
  }
  for (int t : external) {
    if (const auto b = stored_tensor(graph, t).bytes()) kernel.cost.bytes += static_cast<double>(*b);
  }
  kernel.cost.inputs = std::max(1, activation_inputs);
  const ir::Node& last = graph.nodes[static_cast<std::size_t>(kernel.nodes.back())];
  double out_elems = 0;
  for (int t : last.outputs) {
    if (t < 0) continue;
    const ir::Tensor& tensor = graph.tensors[static_cast<std::size_t>(t)];
    if (const auto b = tensor.bytes()) kernel.cost.bytes += static_cast<double>(*b);
    if (const auto n = tensor.shape.numel()) out_elems += static_cast<double>(*n);
  }

  const ir::Node& anchor = graph.nodes[static_cast<std::size_t>(kernel.nodes.front())];
  const ir::Tensor* in = tensor_at(graph, anchor, 0);
  // A broadcasting binary op is described by its larger operand: torchvision's
  // squeeze-excitation computes scale * x, so its first input is the [1, C, 1, 1] scale,
  // while the timed channel_mul kernel and TFLite models put x first.
  const bool binary =
      anchor.op == ir::Op::Add || anchor.op == ir::Op::Sub || anchor.op == ir::Op::Mul || anchor.op == ir::Op::Div;
  if (binary && in != nullptr) {
    const ir::Tensor* other = tensor_at(graph, anchor, 1);
    const auto a = in->shape.numel();
    const auto b = other != nullptr ? other->shape.numel() : std::nullopt;
    if (a && b && *b > *a) in = other;
  }
  double in_elems = 0, in_h = 0, in_w = 0, cin = 0, cout = 0;
  // A MatMul, Gemm or FullyConnected reduces over its input's last axis whatever the rank,
  // and a Softmax or LayerNormalization normalizes rows of it: ConvNeXt's pixel MLPs read
  // [1, 56, 56, 96] and Swin's window attention softmaxes [64, 3, 49, 49]. Read as NCHW
  // they gave cin 56 and a 56x96 "image", or 3 channels of 49x49, which no sampled FC
  // ([rows, cin]) or softmax ([rows, cols]) has.
  const bool linear = ir::op_category(anchor.op) == ir::OpCategory::kLinear || anchor.op == ir::Op::Softmax ||
                      anchor.op == ir::Op::LogSoftmax || anchor.op == ir::Op::LayerNormalization ||
                      kernel.type == "gelu" || kernel.type == "layernorm_ops";
  if (in != nullptr) {
    if (const auto n = in->shape.numel()) in_elems = static_cast<double>(*n);
    if (in->shape.rank() == 4 && !linear) {
      const bool nhwc = channels_last(graph, anchor);
      const auto& d = in->shape.dims;
      in_h = static_cast<double>(d[nhwc ? 1 : 2].value);
      in_w = static_cast<double>(d[nhwc ? 2 : 3].value);
      cin = static_cast<double>(d[nhwc ? 3 : 1].value);
    } else if (in->shape.rank() >= 1) {
      cin = static_cast<double>(in->shape.dims.back().value);
    }
  }
  if (!anchor.outputs.empty() && anchor.outputs[0] >= 0) {
    const ir::Tensor& out = graph.tensors[static_cast<std::size_t>(anchor.outputs[0])];
    if (out.shape.rank() == 4 && !linear) {
      const bool nhwc = channels_last(graph, anchor);
      cout = static_cast<double>(out.shape.dims[nhwc ? 3 : 1].value);
    } else if (out.shape.rank() >= 1) {
      cout = static_cast<double>(out.shape.dims.back().value);
    }
  }
  const auto kernel_shape = anchor.attrs.get_ints("kernel_shape");
  const auto strides = anchor.attrs.get_ints("strides");
  double k = kernel_shape.empty() ? 0 : static_cast<double>(kernel_shape.front());
  double stride = strides.empty() ? 0 : static_cast<double>(strides.front());
  if (anchor.op == ir::Op::Einsum && anchor.inputs.size() == 2) {
    // An Einsum's form in the window feature: 1 when it contracts its second operand over
    // that operand's last axis (Q K^T), 0 for A V. The two differ by 20-50% on ONNX Runtime
    // for the same sizes, which no other feature tells apart.
    const ir::Tensor* b = tensor_at(graph, anchor, 1);
    if (in != nullptr && b != nullptr && in->shape.is_static() && b->shape.is_static()) {
      const auto mm =
          ir::einsum_batched_matmul(anchor.attrs.get_string("equation", ""), {in->shape.extents(), b->shape.extents()});
      k = mm && mm->transposed_b ? 1 : 0;
    }
  }
  if (kernel.family == "permute") {
    // A permutation by its reduced form: its rank in the window feature, whether it keeps
    // the innermost axis (moves blocks) in the stride, and the contiguous runs it reads
    // (the input's innermost extent) and writes (the output's).
    if (const auto r = reduced_transpose(graph, anchor)) {
      in_h = in_w = 0;
      k = static_cast<double>(r->rank());
      stride = r->keeps_inner_axis() ? 1 : 0;
      cin = r->rank() > 0 ? static_cast<double>(r->dims.back()) : 1;
      cout = r->rank() > 0 ? static_cast<double>(r->dims[static_cast<std::size_t>(r->perm.back())]) : 1;
    }
  }
  if (kernel.family == "se_conv") {
    // A one-position pointwise conv described as the one-row FC it is (see split_kernels):
    // cin and cout are its vectors' lengths, and no window, stride or image.
    in_h = in_w = k = stride = 0;
    cin = in_elems;
    cout = out_elems;
  }
  const double groups = static_cast<double>(anchor.attrs.get_int("group", 1));
  const bool has_activation = kernel.type.find('+') != std::string::npos;

  const double moved = std::max(kernel.cost.bytes, 1.0);
  // The reduction length of one output (a group's input channels times the window) and
  // the output positions: the two GEMM dimensions besides the output channels.
  const double group_count = std::max(groups, 1.0);
  // A depthwise conv's alignment is that of its channels (one per group): ONNX Runtime
  // runs it blocked (NCHWc) only when they are whole 16-channel blocks. ShuffleNet's 58-,
  // 116- and 232-channel depthwise convs take 4-7x as long as 16-aligned ones of their size.
  const bool depthwise = groups > 1 && groups == cin;
  const double reduction = cin / group_count * std::max(k, 1.0) * std::max(k, 1.0);
  const double out_pixels = cout > 0 ? out_elems / cout : out_elems;
  kernel.features = {log2p(kernel.cost.flops),
                     log2p(kernel.cost.bytes),
                     log2p(kernel.cost.params),
                     static_cast<float>(std::log2(1.0 + kernel.cost.flops / moved)),
                     log2p(out_elems),
                     log2p(in_elems),
                     static_cast<float>(in_h),
                     static_cast<float>(in_w),
                     static_cast<float>(cin),
                     static_cast<float>(cout),
                     static_cast<float>(k),
                     static_cast<float>(stride),
                     log2p(groups),
                     static_cast<float>(kernel.nodes.size()),
                     has_activation ? 1.0f : 0.0f,
                     static_cast<float>(activation_inputs),
                     alignment(depthwise ? cin : cin / group_count),
                     alignment(depthwise ? cout : cout / group_count),
                     log2p(reduction),
                     log2p(out_pixels),
                     weight_stream_intensity(kernel.cost, out_pixels)};
  kernel.cost.positions = std::max(1.0, out_pixels);
}

// Number of inputs that are not constants.
int activation_input_count(const ir::Graph& graph, const ir::Node& node) {
  int count = 0;
  for (int t : node.inputs) {
    if (t >= 0 && !graph.tensors[static_cast<std::size_t>(t)].is_constant()) ++count;
  }
  return count;
}

bool is_graph_output(const ir::Graph& graph, int tensor) {
  return std::find(graph.outputs.begin(), graph.outputs.end(), tensor) != graph.outputs.end();
}

// `mul` multiplies `gate`'s output by `gate`'s own input, element by element (the same
// shape: no broadcast), and nothing else: x * gate(x).
bool self_gate(const ir::Graph& graph, const ir::Node& gate, const ir::Node& mul) {
  if (gate.inputs.empty() || gate.inputs[0] < 0 || gate.outputs.size() != 1 || mul.inputs.size() != 2) return false;
  const int x = gate.inputs[0], y = gate.outputs[0];
  const bool uses_both = (mul.inputs[0] == x && mul.inputs[1] == y) || (mul.inputs[0] == y && mul.inputs[1] == x);
  if (!uses_both) return false;
  const ir::Tensor& in = graph.tensors[static_cast<std::size_t>(x)];
  const ir::Tensor& out = graph.tensors[static_cast<std::size_t>(y)];
  const std::string act = mul.attrs.get_string("fused_activation", "");
  return (act.empty() || act == "none") && in.shape.rank() > 0 && in.shape.extents() == out.shape.extents();
}

// The one node reading `node`'s one output (not a graph output), or -1.
int only_reader(const ir::Graph& graph, const ir::Node& node) {
  if (node.outputs.size() != 1 || node.outputs[0] < 0 || is_graph_output(graph, node.outputs[0])) return -1;
  const ir::Tensor& t = graph.tensors[static_cast<std::size_t>(node.outputs[0])];
  return t.consumers.size() == 1 ? t.consumers[0] : -1;
}

// Whether `node` is a binary op of `op` reading `x` and a constant.
bool with_constant(const ir::Graph& graph, const ir::Node& node, ir::Op op, int x) {
  if (node.op != op || node.inputs.size() != 2) return false;
  const int other = node.inputs[0] == x ? node.inputs[1] : node.inputs[1] == x ? node.inputs[0] : -1;
  return other >= 0 && graph.tensors[static_cast<std::size_t>(other)].is_constant();
}

// The two readers of `tensor` when they are x * HardSigmoid(x) over it (hard swish as
// torchvision writes it before opset 14): {HardSigmoid, Mul}, the HardSigmoid's output
// read by the Mul alone. nullopt otherwise.
std::optional<std::pair<int, int>> hsigmoid_mul_readers(const ir::Graph& graph, int tensor) {
  const ir::Tensor& t = graph.tensors[static_cast<std::size_t>(tensor)];
  if (t.consumers.size() != 2 || is_graph_output(graph, tensor)) return std::nullopt;
  for (int k = 0; k < 2; ++k) {
    const int h = t.consumers[static_cast<std::size_t>(k)], m = t.consumers[static_cast<std::size_t>(1 - k)];
    if (h < 0 || m < 0) continue;
    const ir::Node& gate = graph.nodes[static_cast<std::size_t>(h)];
    if (gate.op != ir::Op::HardSigmoid || gate.outputs.size() != 1 || gate.outputs[0] < 0) continue;
    const ir::Tensor& g = graph.tensors[static_cast<std::size_t>(gate.outputs[0])];
    if (g.consumers.size() != 1 || g.consumers[0] != m || is_graph_output(graph, gate.outputs[0])) continue;
    if (self_gate(graph, gate, graph.nodes[static_cast<std::size_t>(m)])) return std::pair{h, m};
  }
  return std::nullopt;
}

// ShuffleNet's channel shuffle starting at Reshape `index`: [N, C, H, W] reshaped to
// [N, g, C/g, H, W], transposed (0, 2, 1, 3, 4), reshaped back to [N, C, H, W], each read
// by the next alone. Returns the Transpose and the second Reshape. Where a runtime holds
// the tensor channels-last (XNNPACK here), the reshapes are copies, not views, so the
// three are one kernel, timed as the bench's channel_shuffle; shufflenet_v2_x0_5 was
// predicted 33% short on XNNPACK with the reshapes as removed views.
std::optional<std::pair<int, int>> channel_shuffle_at(const ir::Graph& graph, int index) {
  const ir::Node& split = graph.nodes[static_cast<std::size_t>(index)];
  if (split.op != ir::Op::Reshape || split.inputs.empty() || split.inputs[0] < 0) return std::nullopt;
  const int t = only_reader(graph, split);
  if (t < 0) return std::nullopt;
  const ir::Node& transpose = graph.nodes[static_cast<std::size_t>(t)];
  if (transpose.op != ir::Op::Transpose || transpose.attrs.get_ints("perm") != std::vector<std::int64_t>{0, 2, 1, 3, 4})
    return std::nullopt;
  const int r = only_reader(graph, transpose);
  if (r < 0) return std::nullopt;
  const ir::Node& merge = graph.nodes[static_cast<std::size_t>(r)];
  if (merge.op != ir::Op::Reshape || merge.outputs.size() != 1 || merge.outputs[0] < 0) return std::nullopt;
  const ir::Tensor& in = graph.tensors[static_cast<std::size_t>(split.inputs[0])];
  const ir::Tensor& grouped = graph.tensors[static_cast<std::size_t>(split.outputs[0])];
  const ir::Tensor& out = graph.tensors[static_cast<std::size_t>(merge.outputs[0])];
  if (in.shape.rank() != 4 || grouped.shape.rank() != 5 || in.shape.extents() != out.shape.extents())
    return std::nullopt;
  const auto d = in.shape.extents();
  const auto g = grouped.shape.extents();
  if (g[0] != d[0] || g[1] * g[2] != d[1] || g[1] < 2 || g[3] != d[2] || g[4] != d[3]) return std::nullopt;
  return std::pair{t, r};
}

// GELU as opset-13 exports write it, from the Div at `index`: Div(x, c), Erf, Add(., c),
// Mul(x, .), Mul(., c), each read by the next alone. Returns the four nodes after the
// Div. ONNX Runtime runs them as one Gelu layer (vit_b_16 at 1 thread: 12 layers,
// 4.6 ms, where the parts were predicted at 9 ms); the bench times the same five nodes
// as `gelu`.
std::optional<std::vector<int>> gelu_at(const ir::Graph& graph, int index) {
  const ir::Node& div = graph.nodes[static_cast<std::size_t>(index)];
  if (div.inputs.empty() || div.inputs[0] < 0 || !with_constant(graph, div, ir::Op::Div, div.inputs[0]))
    return std::nullopt;
  const int x = div.inputs[0];
  const int erf = only_reader(graph, div);
  if (erf < 0 || graph.nodes[static_cast<std::size_t>(erf)].op != ir::Op::Erf) return std::nullopt;
  const int add = only_reader(graph, graph.nodes[static_cast<std::size_t>(erf)]);
  if (add < 0 || !with_constant(graph, graph.nodes[static_cast<std::size_t>(add)], ir::Op::Add,
                                graph.nodes[static_cast<std::size_t>(erf)].outputs[0]))
    return std::nullopt;
  const int mul = only_reader(graph, graph.nodes[static_cast<std::size_t>(add)]);
  if (mul < 0) return std::nullopt;
  const ir::Node& m = graph.nodes[static_cast<std::size_t>(mul)];
  const int added = graph.nodes[static_cast<std::size_t>(add)].outputs[0];
  if (m.op != ir::Op::Mul || m.inputs.size() != 2 ||
      !((m.inputs[0] == x && m.inputs[1] == added) || (m.inputs[1] == x && m.inputs[0] == added)))
    return std::nullopt;
  const int half = only_reader(graph, m);
  if (half < 0 || !with_constant(graph, graph.nodes[static_cast<std::size_t>(half)], ir::Op::Mul, m.outputs[0]))
    return std::nullopt;
  return std::vector<int>{erf, add, mul, half};
}

// LayerNormalization as opset-13 exports write it, from the ReduceMean at `index` over
// the last axis: Sub(x, mean), Pow(., c), ReduceMean, Add(., eps), Sqrt, Div(centred,
// .), Mul(., gamma), Add(., beta). Returns the eight nodes after the first ReduceMean.
// ONNX Runtime runs them as one LayerNormalization layer (vit_b_16: 22 such layers,
// 1.6 ms); the bench times the same nine nodes as `layernorm_ops`.
std::optional<std::vector<int>> layernorm_at(const ir::Graph& graph, int index) {
  auto last_axis_mean = [&](const ir::Node& n) {
    return n.op == ir::Op::ReduceMean && n.attrs.get_ints("axes") == std::vector<std::int64_t>{-1} &&
           n.attrs.get_int("keepdims", 1) == 1 && n.inputs.size() == 1;
  };
  auto node = [&](int i) -> const ir::Node& { return graph.nodes[static_cast<std::size_t>(i)]; };
  const ir::Node& mean = node(index);
  if (!last_axis_mean(mean) || mean.inputs[0] < 0) return std::nullopt;
  const int x = mean.inputs[0];
  const int sub = only_reader(graph, mean);
  if (sub < 0 || node(sub).op != ir::Op::Sub || node(sub).inputs.size() != 2 || node(sub).inputs[0] != x ||
      node(sub).outputs.size() != 1 || node(sub).outputs[0] < 0)
    return std::nullopt;
  const int centred = node(sub).outputs[0];
  const ir::Tensor& c = graph.tensors[static_cast<std::size_t>(centred)];
  if (c.consumers.size() != 2 || is_graph_output(graph, centred)) return std::nullopt;
  const int pow = node(c.consumers[0]).op == ir::Op::Pow ? c.consumers[0] : c.consumers[1];
  const int div = pow == c.consumers[0] ? c.consumers[1] : c.consumers[0];
  if (!with_constant(graph, node(pow), ir::Op::Pow, centred) || node(div).op != ir::Op::Div ||
      node(div).inputs.size() != 2 || node(div).inputs[0] != centred)
    return std::nullopt;
  const int var = only_reader(graph, node(pow));
  if (var < 0 || !last_axis_mean(node(var))) return std::nullopt;
  const int eps = only_reader(graph, node(var));
  if (eps < 0 || !with_constant(graph, node(eps), ir::Op::Add, node(var).outputs[0])) return std::nullopt;
  const int sqrt = only_reader(graph, node(eps));
  if (sqrt < 0 || node(sqrt).op != ir::Op::Sqrt || only_reader(graph, node(sqrt)) != div) return std::nullopt;
  const int scale = only_reader(graph, node(div));
  if (scale < 0 || !with_constant(graph, node(scale), ir::Op::Mul, node(div).outputs[0])) return std::nullopt;
  const int shift = only_reader(graph, node(scale));
  if (shift < 0 || !with_constant(graph, node(shift), ir::Op::Add, node(scale).outputs[0])) return std::nullopt;
  return std::vector<int>{sub, pow, var, eps, sqrt, div, scale, shift};
}

// A zero-valued constant Pad of the spatial axes only (batch and channels unchanged),
// whose one consumer is a convolution: what a runtime that fuses pad+conv (pad+dwconv for
// a depthwise consumer) folds into the convolution's own padding (ONNX Runtime's pad
// fusion). The two are probed apart, since a runtime may fold one and not the other;
// this XNNPACK engine folds neither (face_detection_full_range_sparse: 43 pads before
// depthwise convs, 1.7 ms of 9.3).
bool foldable_pad(const ir::Graph& graph, int index, const std::vector<std::string>& classes,
                  const FusionRules& rules) {
  const ir::Node& node = graph.nodes[static_cast<std::size_t>(index)];
  if (node.op != ir::Op::Pad || node.outputs.size() != 1 || node.outputs[0] < 0) return false;
  if (node.attrs.get_string("mode", "constant") != "constant") return false;
  if (node.inputs.size() > 2 && node.inputs[2] >= 0 && constant_scalar(graph, node, 2).value_or(1.0) != 0.0)
    return false;
  const ir::Tensor* in = tensor_at(graph, node, 0);
  const ir::Tensor& out = graph.tensors[static_cast<std::size_t>(node.outputs[0])];
  if (in == nullptr || in->shape.rank() != 4 || out.shape.rank() != 4) return false;
  const bool nhwc = channels_last(graph, node);
  const std::size_t c = nhwc ? 3 : 1;
  for (std::size_t axis : {std::size_t{0}, c})
    if (in->shape.dims[axis].value != out.shape.dims[axis].value || in->shape.dims[axis].value <= 0) return false;
  if (out.consumers.size() != 1 || is_graph_output(graph, node.outputs[0])) return false;
  const int next = out.consumers[0];
  if (next < 0) return false;
  const std::string& consumer = classes[static_cast<std::size_t>(next)];
  return (consumer == "conv" && rules.fused_pairs.count("pad+conv") != 0) ||
         (consumer == "dwconv" && rules.fused_pairs.count("pad+dwconv") != 0);
}

// A Transpose to channels-last (perm 0,2,3,1) of the one output of a kernel anchored at a
// convolution, read by nothing else: what a runtime that fuses conv+transpose writes in
// that order as it leaves the conv (ONNX Runtime's NCHWc ReorderOutput), so it costs no
// kernel of its own. `anchor_of` gives each assigned node its kernel's anchor class.
bool foldable_transpose(const ir::Graph& graph, int index, const std::vector<std::string>& anchor_of) {
  const ir::Node& node = graph.nodes[static_cast<std::size_t>(index)];
  if (node.op != ir::Op::Transpose || node.inputs.empty() || node.inputs[0] < 0) return false;
  if (node.attrs.get_ints("perm") != std::vector<std::int64_t>{0, 2, 3, 1}) return false;
  const int in = node.inputs[0];
  const ir::Tensor& t = graph.tensors[static_cast<std::size_t>(in)];
  if (t.producer < 0 || t.consumers.size() != 1 || is_graph_output(graph, in)) return false;
  const std::string& anchor = anchor_of[static_cast<std::size_t>(t.producer)];
  return anchor == "conv" || anchor == "dwconv";
}

// QDQ ONNX (an int8 model as ONNX Runtime's quantizer writes it): an op between
// DequantizeLinears of int8 activations and one QuantizeLinear of its output is one
// int8 kernel (ONNX Runtime runs QLinearConv, QLinearAdd, ...). Per node:
// - member: such an op (its one output's only reader is the QuantizeLinear);
// - folded: a DequantizeLinear of a run-time int8 tensor whose readers are all members:
//   no layer of its own.
struct QdqGroups {
  std::vector<char> member, folded;
};

QdqGroups qdq_groups(const ir::Graph& graph) {
  const std::size_t count = graph.nodes.size();
  QdqGroups g{std::vector<char>(count, 0), std::vector<char>(count, 0)};
  auto activation_dq = [&](int producer) {
    if (producer < 0) return false;
    const ir::Node& p = graph.nodes[static_cast<std::size_t>(producer)];
    if (p.op != ir::Op::DequantizeLinear || p.inputs.empty() || p.inputs[0] < 0) return false;
    const ir::Tensor& in = graph.tensors[static_cast<std::size_t>(p.inputs[0])];
    return !in.is_constant() && (in.dtype == ir::DType::kInt8 || in.dtype == ir::DType::kUInt8);
  };
  for (std::size_t i = 0; i < count; ++i) {
    const ir::Node& node = graph.nodes[i];
    if (node.op == ir::Op::DequantizeLinear || node.op == ir::Op::QuantizeLinear) continue;
    if (node.outputs.size() != 1 || node.outputs[0] < 0 || is_graph_output(graph, node.outputs[0])) continue;
    const ir::Tensor& out = graph.tensors[static_cast<std::size_t>(node.outputs[0])];
    if (out.consumers.size() != 1 || out.consumers[0] < 0 ||
        graph.nodes[static_cast<std::size_t>(out.consumers[0])].op != ir::Op::QuantizeLinear)
      continue;
    bool all = false;
    for (int t : node.inputs) {
      if (t < 0 || graph.tensors[static_cast<std::size_t>(t)].is_constant()) continue;
      const int producer = graph.tensors[static_cast<std::size_t>(t)].producer;
      if (is_prepared_weight(graph, t)) continue;
      all = activation_dq(producer);
      if (!all) break;
    }
    g.member[i] = all ? 1 : 0;
  }
  for (std::size_t i = 0; i < count; ++i) {
    const ir::Node& node = graph.nodes[i];
    if (!activation_dq(static_cast<int>(i)) || node.outputs.size() != 1 || node.outputs[0] < 0) continue;
    if (is_graph_output(graph, node.outputs[0])) continue;
    const ir::Tensor& out = graph.tensors[static_cast<std::size_t>(node.outputs[0])];
    bool all = !out.consumers.empty();
    for (int c : out.consumers) all = all && c >= 0 && g.member[static_cast<std::size_t>(c)];
    g.folded[i] = all ? 1 : 0;
  }
  return g;
}

// Per node: whether none of its outputs depends on the values of a graph input, so a
// runtime computes it once when it loads the model and never in a run. ONNX Runtime's
// constant folding and this project's XNNPACK prepare both do (a Shape of a statically
// shaped tensor is a constant to both). Transformer exports compute shapes and masks this
// way: torchvision's swin_t has 2,088 such kernels (Gather, Unsqueeze, Cast, Where,
// Expand, Equal, ScatterND, ... over int64 shape values), which no profiled run of
// ONNX Runtime contains and which were predicted at 6.9 ms of its 62.9 (2 threads).
std::vector<char> load_time_constants(const ir::Graph& graph) {
  std::vector<char> runtime_value(graph.tensors.size(), 0);
  for (int t : graph.inputs)
    if (t >= 0 && !graph.tensors[static_cast<std::size_t>(t)].is_constant())
      runtime_value[static_cast<std::size_t>(t)] = 1;
  std::vector<char> constant(graph.nodes.size(), 0);
  for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
    const ir::Node& node = graph.nodes[i];
    bool depends = false;
    if (node.op == ir::Op::Shape || node.op == ir::Op::Size) {
      const ir::Tensor* in = tensor_at(graph, node, 0);
      depends = in == nullptr || !in->shape.is_static();
    } else {
      for (int t : node.inputs) depends = depends || (t >= 0 && runtime_value[static_cast<std::size_t>(t)] != 0);
    }
    bool outputs = false;
    for (int t : node.outputs) {
      if (t < 0) continue;
      outputs = true;
      runtime_value[static_cast<std::size_t>(t)] = depends ? 1 : 0;
    }
    constant[i] = outputs && !depends ? 1 : 0;
  }
  return constant;
}

// A convolution with a 1x1 window, no padding and a single output position (N = 1):
// what a squeeze-excitation's convs over a pooled [1, C, 1, 1] tensor are.
bool one_position_pointwise(const ir::Graph& graph, const ir::Node& node) {
  const auto kernel_shape = node.attrs.get_ints("kernel_shape");
  if (kernel_shape.empty() ||
      std::any_of(kernel_shape.begin(), kernel_shape.end(), [](std::int64_t k) { return k != 1; }))
    return false;
  const auto pads = node.attrs.get_ints("pads");
  if (std::any_of(pads.begin(), pads.end(), [](std::int64_t p) { return p != 0; })) return false;
  if (node.outputs.empty() || node.outputs[0] < 0) return false;
  const ir::Shape& out = graph.tensors[static_cast<std::size_t>(node.outputs[0])].shape;
  if (out.rank() != 4) return false;
  for (const auto& d : out.dims)
    if (!d.known()) return false;
  const bool nhwc = channels_last(graph, node);
  const auto& d = out.dims;
  return d[0].value == 1 && d[nhwc ? 1 : 2].value == 1 && d[nhwc ? 2 : 3].value == 1;
}

}  // namespace

std::vector<Kernel> split_kernels(const ir::Graph& graph, const FusionRules& rules) {
  const std::size_t count = graph.nodes.size();
  std::vector<std::string> classes(count);
  for (std::size_t i = 0; i < count; ++i) classes[i] = op_class(graph, static_cast<int>(i));
  std::vector<char> assigned(count, 0);
  std::vector<std::string> anchor_of(count);  // the anchor class of each assigned node's kernel
  const QdqGroups qdq = qdq_groups(graph);
  const std::vector<char> load_time = load_time_constants(graph);
  std::vector<Kernel> kernels;
  kernels.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    if (assigned[i]) continue;
    assigned[i] = 1;
    const ir::Node& node = graph.nodes[i];
    Kernel kernel;
    kernel.name = node.name.empty() ? "node" + std::to_string(i) : node.name;
    kernel.nodes.push_back(static_cast<int>(i));
    const std::string& anchor = classes[i];
    kernel.type = anchor;
    const std::string fused = node.attrs.get_string("fused_activation", "");
    if (!fused.empty()) kernel.type += "+" + activation_class(fused);
    const bool folded = (anchor == "pad" && foldable_pad(graph, static_cast<int>(i), classes, rules)) ||
                        (anchor == "transpose" && rules.fused_pairs.count("conv+transpose") != 0 &&
                         foldable_transpose(graph, static_cast<int>(i), anchor_of));
    // Multi-node patterns timed whole as one bench kernel on every runtime: what a
    // runtime fuses (ONNX Runtime's Gelu and LayerNormalization) and what it does not
    // (XNNPACK's parts) are both in the label.
    std::optional<std::vector<int>> pattern;
    std::string pattern_type;
    if (node.op == ir::Op::Reshape) {
      if (const auto shuffle = channel_shuffle_at(graph, static_cast<int>(i))) {
        pattern = std::vector<int>{shuffle->first, shuffle->second};
        pattern_type = "channel_shuffle";
      }
    } else if (node.op == ir::Op::Div) {
      pattern = gelu_at(graph, static_cast<int>(i));
      pattern_type = "gelu";
    } else if (node.op == ir::Op::ReduceMean) {
      pattern = layernorm_at(graph, static_cast<int>(i));
      pattern_type = "layernorm_ops";
    }
    if (pattern && std::none_of(pattern->begin(), pattern->end(),
                                [&](int n) { return assigned[static_cast<std::size_t>(n)] != 0; })) {
      for (int n : *pattern) {
        assigned[static_cast<std::size_t>(n)] = 1;
        kernel.nodes.push_back(n);
      }
      kernel.type = pattern_type;
      kernel.family = family_of(pattern_type);
      for (int n : kernel.nodes) anchor_of[static_cast<std::size_t>(n)] = pattern_type;
      kernels.push_back(std::move(kernel));
      continue;
    }
    if (folded || qdq.folded[i] || load_time[i] || rules.removed_ops.count(anchor) != 0 || anchor == "shape" ||
        anchor == "weights") {
      kernel.removed = true;
      kernel.family = "removed";
      kernels.push_back(std::move(kernel));
      continue;
    }
    kernel.family = family_of(anchor);
    // Grouped convolutions (ResNeXt, RegNet) are their own family: per MAC they run far
    // slower than dense convs, and a dense-conv regressor under-predicts them (conv_family).
    // A dense 1x1 convolution whose output is one position (a squeeze-excitation's reduce
    // and expand convs, after a global pool) is a matrix-vector product, bound by its
    // weights, and its own family (se_conv), described as the one-row FC it computes; the
    // space draws such convs among its conv kernels. In the conv family, with few of them
    // sampled, efficientnet_b0's 240->10 reduce conv was predicted at 0.34 us against 2.2 us
    // in the model, its 1152->48 one at 23 us against 12 us (XNNPACK, 1 thread); in the fc
    // family, ONNX Runtime's were predicted at half their time (2.5 against 5.0 ms over the
    // 360 of the held-out models, 1 thread), at the 1 us of a roofline fitted to its larger
    // FCs, where the bench's one-position convs took 3-6 us.
    if (anchor == "conv")
      kernel.family = conv_family(node.attrs.get_int("group", 1), one_position_pointwise(graph, node));
    if (qdq.member[i]) {
      // The op and the QuantizeLinear of its output: one int8 kernel, fused with nothing
      // else (its reader dequantizes again).
      const int q = graph.tensors[static_cast<std::size_t>(node.outputs[0])].consumers[0];
      if (!assigned[static_cast<std::size_t>(q)]) {
        assigned[static_cast<std::size_t>(q)] = 1;
        kernel.nodes.push_back(q);
      }
      for (int n : kernel.nodes) anchor_of[static_cast<std::size_t>(n)] = anchor;
      kernels.push_back(std::move(kernel));
      continue;
    }
    bool has_add = false;
    std::string trailing_act = fused;  // the activation the kernel ends with so far
    // Grow the kernel along single-consumer edges while the runtime fuses the pair.
    while (true) {
      const ir::Node& last = graph.nodes[static_cast<std::size_t>(kernel.nodes.back())];
      if (last.outputs.size() != 1 || last.outputs[0] < 0) break;
      const int out = last.outputs[0];
      const ir::Tensor& t = graph.tensors[static_cast<std::size_t>(out)];
      // A conv or depthwise conv, then x * HardSigmoid(x) of its output: one layer where
      // the runtime fuses the three (ONNX Runtime's NCHWc conv: mobilenet_v3_large's 20
      // hard swishes after convs leave no layer of their own).
      if ((anchor == "conv" || anchor == "dwconv") && kernel.nodes.size() == 1 &&
          rules.fused_pairs.count(anchor + "+hsigmoid_mul") != 0) {
        if (const auto pair = hsigmoid_mul_readers(graph, out); pair &&
                                                                !assigned[static_cast<std::size_t>(pair->first)] &&
                                                                !assigned[static_cast<std::size_t>(pair->second)]) {
          assigned[static_cast<std::size_t>(pair->first)] = 1;
          assigned[static_cast<std::size_t>(pair->second)] = 1;
          kernel.nodes.push_back(pair->first);
          kernel.nodes.push_back(pair->second);
          kernel.type += "+hsigmoid_mul";
          trailing_act = "hsigmoid_mul";
          continue;
        }
      }
      if (t.consumers.size() != 1 || is_graph_output(graph, out)) break;
      const int next = t.consumers[0];
      if (next < 0 || assigned[static_cast<std::size_t>(next)]) break;
      const std::string& follower = classes[static_cast<std::size_t>(next)];
      // pad+conv and conv+transpose fold the pad or transpose away (above); neither grows
      // a kernel.
      if (anchor == "pad" || follower == "transpose" || rules.fused_pairs.count(anchor + "+" + follower) == 0) break;
      const ir::Node& next_node = graph.nodes[static_cast<std::size_t>(next)];
      // swish, x * sigmoid(x): the Mul reads the Sigmoid's output and its input. A runtime
      // that fuses sigmoid+mul runs the pair as one operator (ONNX Runtime's QuickGelu:
      // efficientnet_b0's 49 swishes are 49 layers), which the bench times as `swish`.
      if (anchor == "sigmoid" && follower == "mul" && kernel.nodes.size() == 1 && self_gate(graph, node, next_node)) {
        assigned[static_cast<std::size_t>(next)] = 1;
        kernel.nodes.push_back(next);
        kernel.type = "swish";
        break;
      }
      // The same with a HardSigmoid: hard swish as torchvision writes it before opset 14.
      if (anchor == "hardsigmoid" && follower == "mul" && kernel.nodes.size() == 1 &&
          self_gate(graph, node, next_node)) {
        assigned[static_cast<std::size_t>(next)] = 1;
        kernel.nodes.push_back(next);
        kernel.type = "hsigmoid_mul";
        break;
      }
      // A follower reads only the kernel's output, except a residual add (conv+add),
      // which sums in one other activation; one per kernel, and only before an activation.
      const bool residual = follower == "add" && !has_add;
      if (activation_input_count(graph, next_node) != (residual ? 2 : 1)) break;
      if (residual && !trailing_act.empty()) break;
      // The residual's other operand must come from a conv or pool kernel: measured on ONNX
      // Runtime, an NCHWc conv sums in an operand that is blocked like its own output (conv
      // -> Add of a conv's output: 1 layer) and not one from a Relu or a Pad (2 layers;
      // BlazeFace's channel-padded residuals stay separate adds).
      if (residual) {
        int other = -1;
        for (int in : next_node.inputs)
          if (in >= 0 && in != out && !graph.tensors[static_cast<std::size_t>(in)].is_constant()) other = in;
        const int producer = other < 0 ? -1 : graph.tensors[static_cast<std::size_t>(other)].producer;
        // A graph input counts as blocked: a kernel graph's residual input is timed behind a
        // conv feeder (bench/timing.cpp).
        const std::string blocked = producer < 0 ? "conv" : anchor_of[static_cast<std::size_t>(producer)];
        if (blocked != "conv" && blocked != "dwconv" && blocked != "maxpool" && blocked != "avgpool") break;
      }
      assigned[static_cast<std::size_t>(next)] = 1;
      kernel.nodes.push_back(next);
      kernel.type += "+" + follower;
      if (residual) has_add = true;
      // A TFLite ADD carries its own fused activation.
      const std::string own = next_node.attrs.get_string("fused_activation", "");
      if (!own.empty() && own != "none") {
        kernel.type += "+" + activation_class(own);
        trailing_act = own;
      } else if (follower != "add" && follower != "bn") {
        trailing_act = follower;
      }
    }
    for (int n : kernel.nodes) anchor_of[static_cast<std::size_t>(n)] = anchor;
    kernels.push_back(std::move(kernel));
  }
  for (Kernel& kernel : kernels) {
    if (!kernel.removed) describe(graph, kernel);
  }
  return kernels;
}

}  // namespace infercast::predict
