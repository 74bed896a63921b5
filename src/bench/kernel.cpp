// Kernel specs: the vocabulary, validation, JSON, and spec -> one-kernel graph.
// kernel_spec_of (graph nodes -> spec) lives in kernel_match.cpp.
#include "infercast/bench/kernel.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <random>

#include "graph_builder.hpp"
#include "infercast/base/error.hpp"

namespace infercast::bench {

namespace {

using Names = std::vector<std::string>;

const Names kConvParams{"n", "h", "w", "cin", "cout", "k", "stride", "dilation", "pad", "groups"};
const Names kDwParams{"n", "h", "w", "c", "k", "stride", "dilation", "pad"};
const Names kConvTParams{"n", "h", "w", "cin", "cout", "k", "stride", "pad"};
const Names kFcParams{"n", "cin", "cout"};
const Names kMatMulParams{"b", "m", "k", "n"};
const Names kEinsumParams{"b", "m", "k", "n", "form"};
const Names kPoolParams{"n", "h", "w", "c", "k", "stride", "pad"};
const Names kNhwc{"n", "h", "w", "c"};
const Names kConcatParams{"n", "h", "w", "c", "inputs"};
const Names kRowParams{"n", "c"};
const Names kResizeParams{"n", "h", "w", "c", "scale"};
const Names kPadParams{"n", "h", "w", "c", "pad"};
const Names kChannelPadParams{"n", "h", "w", "c", "cpad"};
const Names kSeParams{"n", "h", "w", "c", "r"};
const Names kShuffleParams{"n", "h", "w", "c", "groups"};
const Names kSliceParams{"n", "h", "w", "c", "parts"};
const Names kRowSliceParams{"n", "c", "parts"};
const Names kAxisSliceParams{"n", "h", "w", "c", "axis", "keep"};
const Names kConstParams{"n", "h", "w", "c", "scalar"};
const Names kPermuteParams{"d0", "d1", "d2", "d3", "d4", "perm"};

struct TypeInfo {
  std::string type;
  const Names* params;
};

const std::vector<TypeInfo>& type_table() {
  static const std::vector<TypeInfo> table = {
      {"conv", &kConvParams},
      {"conv+relu", &kConvParams},
      {"conv+relu6", &kConvParams},
      {"conv+bn", &kConvParams},
      {"conv+bn+relu", &kConvParams},
      {"conv+hardswish", &kConvParams},
      // Activations ONNX Runtime's NCHWc convolution applies itself (SE gates, MediaPipe's
      // h_swish gate).
      {"conv+sigmoid", &kConvParams},
      {"conv+hardsigmoid", &kConvParams},
      // Hard swish written as x * HardSigmoid(x) (torchvision before opset 14), after the
      // conv: ONNX Runtime's NCHWc conv runs the three nodes as one layer, while it runs a
      // HardSwish op apart.
      {"conv+hsigmoid_mul", &kConvParams},
      // A zero Pad of `pad` on each spatial side, then the convolution without padding:
      // the fusion probe for runtimes that fold the pad into the convolution.
      {"pad+conv", &kConvParams},
      // The same before a depthwise conv: runtimes differ (ONNX Runtime folds it; this
      // XNNPACK engine runs the Pad).
      {"pad+dwconv", &kDwParams},
      // The convolution, then a Transpose of its output to channels-last (NHWC): the
      // fusion probe for runtimes that write a conv's output in that order directly
      // (ONNX Runtime's NCHWc ReorderOutput). A probe only: never sampled by default.
      {"conv+transpose", &kConvParams},
      // A residual Add of a second input of the conv's output shape after the conv (ONNX
      // Runtime's NCHWc convolution sums it in; ResNet and BlazeFace blocks end so).
      {"conv+add", &kConvParams},
      {"conv+add+relu", &kConvParams},
      {"conv+bn+add", &kConvParams},
      {"conv+bn+add+relu", &kConvParams},
      {"dwconv", &kDwParams},
      {"dwconv+relu", &kDwParams},
      {"dwconv+relu6", &kDwParams},
      {"dwconv+bn+relu", &kDwParams},
      {"dwconv+hardswish", &kDwParams},
      {"dwconv+hsigmoid_mul", &kDwParams},
      {"convtranspose", &kConvTParams},
      {"fc", &kFcParams},
      {"fc+relu", &kFcParams},
      {"matmul", &kMatMulParams},
      // The same product written as an Einsum (MaxViT's attention, "B G H I D, B G H J D -> B G
      // H I J"): ONNX Runtime runs it through its own Einsum kernel, not its MatMul; for MaxViT's
      // 128 products of 49x32 by 32x49 measured at 2.1x the MatMul's time at 1 thread and 3-7x at
      // 2 threads (medians of 3 alternating runs). form 1: Q K^T ("...ik,...jk->...ij"), 2: A V
      // ("...ik,...kj->...ij").
      {"einsum", &kEinsumParams},
      {"maxpool", &kPoolParams},
      {"avgpool", &kPoolParams},
      {"globalavgpool", &kNhwc},
      {"add", &kNhwc},
      {"add+relu", &kNhwc},
      {"mul", &kNhwc},
      {"channel_mul", &kNhwc},
      {"concat", &kConcatParams},
      {"relu", &kNhwc},
      {"relu6", &kNhwc},
      {"sigmoid", &kNhwc},
      {"hardswish", &kNhwc},
      {"hardsigmoid", &kNhwc},
      {"swish", &kNhwc},
      {"hsigmoid_mul", &kNhwc},
      // int8 only: the QuantizeLinear / DequantizeLinear (TFLite QUANTIZE / DEQUANTIZE) of
      // an NCHW float tensor, as a quantized model runs them where an op stays float (the
      // graph's input, ONNX Runtime's float islands: MediaPipe's hard swish as HardSigmoid
      // and Mul). Timed inside their int8 form's interface (int8_kernel_form).
      {"quantize", &kNhwc},
      {"dequantize", &kNhwc},
      {"tanh", &kNhwc},
      // The Gauss error function of GELU (ViT, ConvNeXt): runtimes without a vector erf run it
      // an order of magnitude slower per element than the other activations.
      {"erf", &kNhwc},
      {"softmax", &kRowParams},
      // GELU and LayerNormalization as opset-13 exports write them, op by op over rows of
      // c: x * 0.5 * (1 + erf(x / sqrt 2)) (5 nodes), and mean, centre, square, mean,
      // + eps, sqrt, divide, scale, shift (9 nodes). ONNX Runtime fuses each into one
      // layer (Gelu, LayerNormalization); XNNPACK runs the parts. Timed whole either way.
      {"gelu", &kRowParams},
      {"layernorm_ops", &kRowParams},
      {"resize_nearest", &kResizeParams},
      {"resize_bilinear", &kResizeParams},
      {"pad", &kPadParams},
      // Zeros appended to the channels (BlazeFace's residual branch: the shortcut
      // widened to the block's output channels before the Add).
      {"channel_pad", &kChannelPadParams},
      {"reshape", &kNhwc},
      {"transpose", &kNhwc},
      // Every other transpose, by the movement it makes (ir::reduce_permutation): heads
      // split off a sequence ([49, 8, 32] by (1, 0, 2): blocks of 32 floats), attention's K^T
      // over windows and heads (a batch of small matrix transposes), Swin's window partition
      // (4-D, blocks of a window row's channels), MaxViT's window and grid partitions (5-D,
      // the innermost axis moved). In MaxViT on ONNX Runtime at 2 threads, the partitions of
      // 200K elements took 0.67-1.86 ms each (3-9 ns an element; 0.58 ms as a model of its
      // own) and its block moves 0.7 ns an element; as a `transpose` (one matrix transposed,
      // of the same size) a partition was predicted at 0.12 ms.
      {"permute", &kPermuteParams},
      {"layernorm", &kRowParams},
      // An inference BatchNormalization no convolution absorbs (DenseNet's pre-activation
      // norm1 after each concat).
      {"bn", &kNhwc},
      {"bn+relu", &kNhwc},
      {"se", &kSeParams},
      {"channel_shuffle", &kShuffleParams},
      // The first c/parts channels of an NCHW tensor (ShuffleNet's channel split): one
      // contiguous block per image in NCHW, a strided copy in NHWC.
      {"slice", &kSliceParams},
      // The first c/parts columns of [n, c] rows (a transformer's packed q/k/v split along
      // the last axis): a strided copy in every layout.
      {"slice_rows", &kRowSliceParams},
      // The first `keep` channels (axis 1), rows (2) or columns (3) of an NCHW tensor, any
      // count short of the whole axis: Swin's cyclic shift (torch.roll) is two slices along
      // the rows and two along the columns, 53 and 3 of 56, each then joined by a concat;
      // neither a `slice` (a whole fraction of the channels) nor a `slice_rows`.
      {"slice_axis", &kAxisSliceParams},
      // An activation times a constant with one value per channel (`scalar` 0) or one value
      // (`scalar` 1), and relu(x + constant): an inference BatchNormalization no convolution
      // absorbs, quantized (DenseNet's norm1 after each concat: int8 MUL, then ADD with
      // RELU), and hard swish's x + 3 and x / 6. XNNPACK runs the int8 forms as a lookup
      // table per channel, not as the arithmetic of an int8 MUL or ADD of two tensors
      // (measured at 1 thread: densenet121's int8 scales took 1.7x their prediction from
      // two-tensor muls). int8 kernel types; not in the default float space.
      {"scale", &kConstParams},
      {"shift+relu", &kConstParams},
  };
  return table;
}

[[noreturn]] void invalid(const KernelSpec& spec, const std::string& where, const std::string& reason) {
  throw Error(ErrorKind::kInvalidArgument, "kernel '" + spec.type + "'", where, reason);
}

bool starts_with(const std::string& s, const char* prefix) {
  return s.rfind(prefix, 0) == 0;
}

// Largest extent any single parameter may take, and the largest tensor a kernel may
// allocate (elements): keeps a hostile spec from asking for terabytes.
constexpr std::int64_t kMaxExtent = 1 << 20;
constexpr std::int64_t kMaxElements = std::int64_t{1} << 28;

std::int64_t checked_product(const KernelSpec& spec, std::initializer_list<std::int64_t> dims) {
  std::int64_t total = 1;
  for (auto d : dims) {
    if (__builtin_mul_overflow(total, d, &total) || total > kMaxElements) {
      invalid(spec, "shape", "a tensor would have more than 2^28 elements");
    }
  }
  return total;
}

using detail::conv_out;

}  // namespace

std::string KernelSpec::key() const {
  std::string k = type;
  for (const auto& [name, value] : params) k += "|" + name + "=" + std::to_string(value);
  k += "|dtype=";
  k += ir::dtype_name(dtype);
  return k;
}

std::int64_t KernelSpec::get(const std::string& name) const {
  const auto it = params.find(name);
  if (it == params.end()) {
    throw Error(ErrorKind::kInvalidArgument, "kernel '" + type + "'", "parameter '" + name + "'", "is absent");
  }
  return it->second;
}

const std::vector<std::string>& kernel_types() {
  // The types with a float graph: the conversions between float and int8 have none.
  static const std::vector<std::string> types = [] {
    std::vector<std::string> v;
    for (const auto& t : type_table())
      if (!conversion_type(t.type)) v.push_back(t.type);
    return v;
  }();
  return types;
}

bool conversion_type(const std::string& type) {
  return type == "quantize" || type == "dequantize";
}

const std::vector<std::string>& int8_kernel_types() {
  static const std::vector<std::string> types = {"conv", "conv+relu", "conv+relu6", "dwconv", "dwconv+relu",
                                                 "dwconv+relu6", "fc", "fc+relu", "add", "add+relu", "maxpool",
                                                 "globalavgpool", "concat", "pad",
                                                 // Elementwise ops of quantized mobile nets: hard-swish's and SE's
                                                 // multiplies, the SE gate's sigmoid, MediaPipe's HARD_SWISH.
                                                 "mul", "channel_mul", "sigmoid", "hardswish",
                                                 // Per-channel and scalar constants: a standalone
                                                 // BatchNormalization, hard swish's x + 3 and x / 6.
                                                 "scale", "shift+relu",
                                                 // The conversions between float and int8 themselves.
                                                 "quantize", "dequantize"};
  return types;
}

const std::vector<std::string>& int8_float_kernel_types() {
  static const std::vector<std::string> types = {"transpose"};
  return types;
}

const std::vector<std::string>& int8_probe_types() {
  static const std::vector<std::string> types = {"pad+conv",       "pad+dwconv",       "conv+add",
                                                 "conv+hardswish", "dwconv+hardswish", "conv+sigmoid"};
  return types;
}

KernelSpec same_conv_spec(std::int64_t h, std::int64_t c, std::int64_t k) {
  return KernelSpec{"conv",
                    {{"n", 1},
                     {"h", h},
                     {"w", h},
                     {"cin", c},
                     {"cout", c},
                     {"k", k},
                     {"stride", 1},
                     {"dilation", 1},
                     {"pad", k / 2},
                     {"groups", 1}}};
}

KernelSpec float_twin(const KernelSpec& spec) {
  KernelSpec twin = spec;
  twin.dtype = ir::DType::kFloat32;
  return twin;
}

std::optional<KernelSpec> permute_spec(const ir::Permutation& p, ir::DType dtype) {
  if (p.rank() < 2 || p.rank() > 5 || p.is_matrix_transpose()) return std::nullopt;
  KernelSpec spec{"permute", {}, dtype};
  std::int64_t code = 0;
  for (std::size_t i = 0; i < 5; ++i) {
    spec.params["d" + std::to_string(i)] = i < p.rank() ? p.dims[i] : 1;
    if (i < p.rank()) code = code * 10 + p.perm[i] + 1;
  }
  spec.params["perm"] = code;
  return spec;
}

ir::Permutation permutation_of(const KernelSpec& spec) {
  ir::Permutation p;
  for (std::int64_t code = spec.get("perm"); code > 0; code /= 10) p.perm.insert(p.perm.begin(), code % 10 - 1);
  for (std::size_t i = 0; i < p.perm.size(); ++i) p.dims.push_back(spec.get("d" + std::to_string(i)));
  return p;
}

const std::vector<std::string>& kernel_parameters(const std::string& type) {
  for (const auto& t : type_table()) {
    if (t.type == type) return *t.params;
  }
  std::string known;
  for (const auto& t : type_table()) known += (known.empty() ? "" : ", ") + t.type;
  throw Error(ErrorKind::kInvalidArgument, "kernel '" + type + "'", "type",
              "unknown kernel type (known: " + known + ")");
}

void validate(const KernelSpec& spec) {
  const Names& names = kernel_parameters(spec.type);
  for (const auto& name : names) {
    const auto it = spec.params.find(name);
    if (it == spec.params.end()) invalid(spec, "parameter '" + name + "'", "is missing");
    const std::int64_t v = it->second;
    const std::int64_t lowest = name == "pad" || name == "scalar" ? 0 : 1;
    if (v < lowest || v > kMaxExtent) {
      invalid(
          spec, "parameter '" + name + "'",
          "must be in [" + std::to_string(lowest) + ", " + std::to_string(kMaxExtent) + "], got " + std::to_string(v));
    }
  }
  for (const auto& [name, value] : spec.params) {
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      invalid(spec, "parameter '" + name + "'", "is not a parameter of this kernel type");
    }
  }
  if (spec.dtype == ir::DType::kInt8) {
    const auto& int8 = int8_kernel_types();
    const auto& probes = int8_probe_types();
    if (std::find(int8.begin(), int8.end(), spec.type) == int8.end() &&
        std::find(probes.begin(), probes.end(), spec.type) == probes.end())
      invalid(spec, "dtype", "this kernel type has no int8 form (bench::int8_kernel_types)");
  } else if (!ir::is_floating(spec.dtype)) {
    invalid(spec, "dtype", "must be a floating type or int8, got " + std::string(ir::dtype_name(spec.dtype)));
  }
  const auto p = [&](const char* n) { return spec.params.at(n); };
  const std::string& t = spec.type;
  auto window = [&](std::int64_t k, std::int64_t dilation, std::int64_t pad, std::int64_t stride) {
    const std::int64_t reach = dilation * (k - 1) + 1;
    if (reach > p("h") + 2 * pad || reach > p("w") + 2 * pad) {
      invalid(spec, "parameter 'k'",
              "kernel extent " + std::to_string(reach) + " is larger than the padded input " +
                  std::to_string(p("h") + 2 * pad) + "x" + std::to_string(p("w") + 2 * pad));
    }
    if (pad >= reach)
      invalid(spec, "parameter 'pad'", "must be smaller than the kernel extent " + std::to_string(reach));
    (void)stride;
  };
  if (starts_with(t, "conv+") || t == "conv" || t == "pad+conv") {
    if (p("cin") % p("groups") != 0 || p("cout") % p("groups") != 0) {
      invalid(spec, "parameter 'groups'",
              std::to_string(p("groups")) + " does not divide cin " + std::to_string(p("cin")) + " and cout " +
                  std::to_string(p("cout")));
    }
    window(p("k"), p("dilation"), p("pad"), p("stride"));
    checked_product(spec, {p("n"), p("cin"), p("h") + 2 * p("pad"), p("w") + 2 * p("pad")});
    checked_product(spec, {p("n"), p("cout"), p("h"), p("w")});
    checked_product(spec, {p("cout"), p("cin") / p("groups"), p("k"), p("k")});
  } else if (starts_with(t, "dwconv") || t == "pad+dwconv") {
    window(p("k"), p("dilation"), p("pad"), p("stride"));
    checked_product(spec, {p("n"), p("c"), p("h") + 2 * p("pad"), p("w") + 2 * p("pad")});
  } else if (t == "convtranspose") {
    const std::int64_t oh = (p("h") - 1) * p("stride") - 2 * p("pad") + p("k");
    const std::int64_t ow = (p("w") - 1) * p("stride") - 2 * p("pad") + p("k");
    if (oh < 1 || ow < 1) invalid(spec, "parameter 'pad'", "leaves an empty output");
    if (p("pad") >= p("k")) invalid(spec, "parameter 'pad'", "must be smaller than the kernel");
    checked_product(spec, {p("n"), p("cout"), oh, ow});
    checked_product(spec, {p("n"), p("cin"), p("h"), p("w")});
    checked_product(spec, {p("cin"), p("cout"), p("k"), p("k")});
  } else if (starts_with(t, "fc")) {
    checked_product(spec, {p("cin"), p("cout")});
    checked_product(spec, {p("n"), std::max(p("cin"), p("cout"))});
  } else if (t == "matmul" || t == "einsum") {
    if (t == "einsum" && p("form") > 2) invalid(spec, "parameter 'form'", "must be 1 (Q K^T) or 2 (A V)");
    checked_product(spec, {p("b"), p("m"), p("k")});
    checked_product(spec, {p("b"), p("k"), p("n")});
    checked_product(spec, {p("b"), p("m"), p("n")});
  } else if (t == "maxpool" || t == "avgpool") {
    window(p("k"), 1, p("pad"), p("stride"));
    checked_product(spec, {p("n"), p("c"), p("h") + 2 * p("pad"), p("w") + 2 * p("pad")});
  } else if (t == "softmax" || t == "layernorm" || t == "gelu" || t == "layernorm_ops") {
    checked_product(spec, {p("n"), p("c")});
  } else if (t == "concat") {
    checked_product(spec, {p("n"), p("c"), p("h"), p("w"), p("inputs")});
  } else if (starts_with(t, "resize")) {
    checked_product(spec, {p("n"), p("c"), p("h") * p("scale"), p("w") * p("scale")});
  } else if (t == "pad") {
    checked_product(spec, {p("n"), p("c"), p("h") + 2 * p("pad"), p("w") + 2 * p("pad")});
  } else if (t == "channel_pad") {
    checked_product(spec, {p("n"), p("c") + p("cpad"), p("h"), p("w")});
  } else if (t == "se") {
    if (p("r") > p("c")) invalid(spec, "parameter 'r'", "must not exceed c (c/r squeezed channels)");
    checked_product(spec, {p("n"), p("c"), p("h"), p("w")});
  } else if (t == "channel_shuffle") {
    if (p("c") % p("groups") != 0) invalid(spec, "parameter 'groups'", "does not divide c");
    checked_product(spec, {p("n"), p("c"), p("h"), p("w")});
  } else if (t == "slice_axis") {
    const std::int64_t axis = p("axis");
    if (axis < 1 || axis > 3) invalid(spec, "parameter 'axis'", "must be 1 (channels), 2 (rows) or 3 (columns)");
    const std::int64_t extent = axis == 1 ? p("c") : axis == 2 ? p("h") : p("w");
    if (p("keep") >= extent)
      invalid(spec, "parameter 'keep'", "must be less than the axis (keeping all copies nothing away)");
    if (axis == 1 && p("c") % p("keep") == 0)
      invalid(spec, "parameter 'keep'", "divides c: a whole fraction of the channels is a `slice`");
    checked_product(spec, {p("n"), p("c"), p("h"), p("w")});
  } else if (t == "slice" || t == "slice_rows") {
    if (p("parts") < 2) invalid(spec, "parameter 'parts'", "must be at least 2 (parts == 1 copies nothing away)");
    if (p("c") % p("parts") != 0) invalid(spec, "parameter 'parts'", "does not divide c");
    if (t == "slice")
      checked_product(spec, {p("n"), p("c"), p("h"), p("w")});
    else
      checked_product(spec, {p("n"), p("c")});
  } else if (t == "permute") {
    // The digits p(i) + 1 of the reduced form of a permutation of 2 to 5 axes (no unit
    // extent, no axes that move together), not one matrix transposed (a `transpose`): one
    // movement, one spec. reduce_permutation refuses what is no permutation.
    const std::int64_t rank = static_cast<std::int64_t>(std::to_string(p("perm")).size());
    const auto as_given = rank <= 5 ? std::optional(permutation_of(spec)) : std::nullopt;
    const auto reduced = as_given ? ir::reduce_permutation(as_given->dims, as_given->perm) : std::nullopt;
    if (!reduced || reduced->dims != as_given->dims || reduced->perm != as_given->perm || !permute_spec(*reduced))
      invalid(spec, "parameter 'perm'",
              "must be the digits p(i) + 1 of a reduced permutation of 2 to 5 axes of d0 .. d4 (extents > 1, no axes "
              "moving together) other than (1, 0)");
    for (std::int64_t i = rank; i < 5; ++i)
      if (p(("d" + std::to_string(i)).c_str()) != 1)
        invalid(spec, "parameter 'd" + std::to_string(i) + "'", "must be 1 beyond the permutation's rank");
    checked_product(spec, {p("d0"), p("d1"), p("d2"), p("d3"), p("d4")});
  } else if (t == "scale" || t == "shift+relu") {
    if (p("scalar") > 1) invalid(spec, "parameter 'scalar'", "must be 0 (one value per channel) or 1 (one value)");
    checked_product(spec, {p("n"), p("c"), p("h"), p("w")});
  } else {
    checked_product(spec, {p("n"), p("c"), p("h"), p("w")});
  }
}

nlohmann::json to_json(const KernelSpec& spec) {
  nlohmann::json params = nlohmann::json::object();
  for (const auto& [name, value] : spec.params) params[name] = value;
  return {{"type", spec.type}, {"params", params}, {"dtype", std::string(ir::dtype_name(spec.dtype))}};
}

KernelSpec kernel_spec_from_json(const nlohmann::json& j) {
  auto bad = [](const std::string& where, const std::string& reason) -> KernelSpec {
    throw Error(ErrorKind::kInvalidArgument, "kernel spec JSON", where, reason);
  };
  if (!j.is_object()) return bad("", "is not an object");
  if (!j.contains("type") || !j["type"].is_string()) return bad("type", "missing or not a string");
  if (!j.contains("params") || !j["params"].is_object()) return bad("params", "missing or not an object");
  KernelSpec spec;
  spec.type = j["type"].get<std::string>();
  for (const auto& [name, value] : j["params"].items()) {
    if (!value.is_number_integer()) return bad("params." + name, "is not an integer");
    spec.params[name] = value.get<std::int64_t>();
  }
  if (j.contains("dtype")) {
    if (!j["dtype"].is_string()) return bad("dtype", "is not a string");
    const std::string d = j["dtype"].get<std::string>();
    if (d == "float32") {
      spec.dtype = ir::DType::kFloat32;
    } else if (d == "float16") {
      spec.dtype = ir::DType::kFloat16;
    } else if (d == "int8") {
      spec.dtype = ir::DType::kInt8;
    } else {
      return bad("dtype", "unsupported dtype '" + d + "'");
    }
  }
  return spec;
}

// ---------------------------------------------------------------------------
// build_kernel_graph
// ---------------------------------------------------------------------------

namespace {

// The activation a fused type ends with ("conv+bn+relu" -> "relu"), or "".
std::string trailing_activation(const std::string& type) {
  const auto plus = type.rfind('+');
  if (plus == std::string::npos) return {};
  const std::string last = type.substr(plus + 1);
  return last == "bn" || last == "add" || last == "conv" || last == "dwconv" || last == "transpose" ? std::string()
                                                                                                    : last;
}

}  // namespace

ir::Graph build_relu_chain(int length, std::int64_t channels) {
  if (length < 1 || channels < 1)
    throw Error(ErrorKind::kInvalidArgument, "relu chain", "length", "needs at least one node and one channel");
  detail::GraphBuilder b("relu_chain_" + std::to_string(length), 0);
  int x = b.input("x", {1, channels, 1, 1});
  for (int i = 0; i < length; ++i) {
    const int y = b.activation("y" + std::to_string(i), {1, channels, 1, 1});
    b.node(ir::Op::Relu, "relu" + std::to_string(i), {x}, {y});
    x = y;
  }
  return b.finish(x);
}

ir::Graph build_gate_chain(int length, std::int64_t channels, std::int64_t stream_side) {
  if (length < 1 || channels < 1 || stream_side < 0)
    throw Error(ErrorKind::kInvalidArgument, "gate chain", "length",
                "needs at least one node and one channel, and a stream side >= 0");
  detail::GraphBuilder b("gate_chain_" + std::to_string(length), 0);
  int x = b.input("x", {1, channels, 1, 1});
  constexpr std::int64_t kStreamChannels = 16;
  const std::initializer_list<std::int64_t> image = {1, kStreamChannels, stream_side, stream_side};
  int s = stream_side > 0 ? b.input("s", image) : -1;
  for (int i = 0; i < length; ++i) {
    if (s >= 0) {
      // A residual block of a CNN: its layers run other code than the gate (GEMM,
      // depthwise and elementwise kernels) over data that is not the gate's.
      const std::string n = std::to_string(i);
      const int c = b.activation("c" + n, image);
      ir::Node& conv = b.node(
          ir::Op::Conv, "conv" + n,
          {s, b.weights("cw" + n, {kStreamChannels, kStreamChannels, 3, 3}), b.weights("cb" + n, {kStreamChannels})},
          {c});
      detail::set_window(conv, 3, 1, 1, 1);
      conv.attrs.set("group", std::int64_t{1});
      const int d = b.activation("d" + n, image);
      ir::Node& dw = b.node(
          ir::Op::Conv, "dw" + n,
          {c, b.weights("dw" + n + "_w", {kStreamChannels, 1, 3, 3}), b.weights("dw" + n + "_b", {kStreamChannels})},
          {d});
      detail::set_window(dw, 3, 1, 1, 1);
      dw.attrs.set("group", kStreamChannels);
      const int t = b.activation("t" + n, image);
      b.node(ir::Op::Add, "stream" + n, {d, s}, {t});
      s = t;
    }
    const int y = b.activation("y" + std::to_string(i), {1, channels, 1, 1});
    b.node(ir::Op::Sigmoid, "gate" + std::to_string(i), {x}, {y});
    x = y;
  }
  if (s >= 0) {
    b.graph().tensors[static_cast<std::size_t>(s)].kind = ir::TensorKind::kOutput;
    b.graph().outputs.push_back(s);
  }
  return b.finish(x);
}

ir::Graph build_kernel_graph(const KernelSpec& spec, std::uint64_t seed) {
  validate(spec);
  if (spec.dtype != ir::DType::kFloat32) {
    throw Error(ErrorKind::kUnsupported, "kernel '" + spec.type + "'", "dtype",
                "only float32 kernel graphs are built, got " + std::string(ir::dtype_name(spec.dtype)) +
                    " (an int8 kernel is its float twin quantized: bench::int8_kernel_form)");
  }
  detail::GraphBuilder b("kernel '" + spec.key() + "'", seed);
  b.graph().meta.graph_name = spec.type;
  const auto p = [&](const char* n) { return spec.params.at(n); };
  const std::string& t = spec.type;
  const std::string act = trailing_activation(t);
  using O = ir::Op;

  if (t == "conv" || starts_with(t, "conv+") || starts_with(t, "dwconv") || t == "pad+conv" || t == "pad+dwconv") {
    const bool dw = starts_with(t, "dwconv") || t == "pad+dwconv";
    const bool pad_op = t == "pad+conv" || t == "pad+dwconv";  // the padding as its own Pad node
    const std::int64_t n = p("n"), h = p("h"), w = p("w"), cin = dw ? p("c") : p("cin"), cout = dw ? p("c") : p("cout");
    const std::int64_t k = p("k"), s = p("stride"), d = p("dilation");
    const std::int64_t groups = dw ? cin : p("groups");
    const std::int64_t oh = conv_out(h, k, s, d, p("pad")), ow = conv_out(w, k, s, d, p("pad"));
    int x = b.input("x", {n, cin, h, w});
    std::int64_t pad = p("pad");
    if (pad_op) {
      const int padded = b.activation("padded", {n, cin, h + 2 * pad, w + 2 * pad});
      b.node(O::Pad, "pad", {x, b.ints("pads", {0, 0, pad, pad, 0, 0, pad, pad})}, {padded})
          .attrs.set("mode", std::string("constant"));
      x = padded;
      pad = 0;
    }
    const int wt = b.weights("weight", {cout, cin / groups, k, k});
    const int bias = b.weights("bias", {cout});
    int y = b.activation("conv_out", {n, cout, oh, ow});
    ir::Node& conv = b.node(O::Conv, "conv", {x, wt, bias}, {y});
    detail::set_window(conv, k, s, d, pad);
    conv.attrs.set("group", groups);
    if (t.find("+bn") != std::string::npos) {
      const int z = b.activation("bn_out", {n, cout, oh, ow});
      ir::Node& bn = b.node(O::BatchNormalization, "bn",
                            {y, b.weights("bn_scale", {cout}, 0.5f, 1.5f), b.weights("bn_bias", {cout}),
                             b.weights("bn_mean", {cout}), b.weights("bn_var", {cout}, 0.5f, 1.5f)},
                            {z});
      bn.attrs.set("epsilon", 1e-5);
      bn.attrs.set("momentum", 0.9);
      y = z;
    }
    if (t.find("+add") != std::string::npos) {
      const int residual = b.input("residual", {n, cout, oh, ow});
      const int z = b.activation("add_out", {n, cout, oh, ow});
      b.node(O::Add, "add", {y, residual}, {z});
      y = z;
    }
    if (t == "conv+transpose") {
      const int z = b.activation("nhwc", {n, oh, ow, cout});
      b.node(O::Transpose, "transpose", {y}, {z}).attrs.set("perm", std::vector<std::int64_t>{0, 2, 3, 1});
      return b.finish(z);
    }
    return b.finish(detail::append_activation(b, act, y, {n, cout, oh, ow}));
  }
  if (t == "convtranspose") {
    const std::int64_t n = p("n"), h = p("h"), w = p("w"), cin = p("cin"), cout = p("cout");
    const std::int64_t k = p("k"), s = p("stride"), pad = p("pad");
    const std::int64_t oh = (h - 1) * s - 2 * pad + k, ow = (w - 1) * s - 2 * pad + k;
    const int x = b.input("x", {n, cin, h, w});
    const int y = b.activation("y", {n, cout, oh, ow});
    ir::Node& node = b.node(O::ConvTranspose, "convtranspose",
                            {x, b.weights("weight", {cin, cout, k, k}), b.weights("bias", {cout})}, {y});
    detail::set_window(node, k, s, 1, pad);
    node.attrs.set("group", std::int64_t{1});
    return b.finish(y);
  }
  if (starts_with(t, "fc")) {
    const std::int64_t n = p("n"), cin = p("cin"), cout = p("cout");
    const int x = b.input("x", {n, cin});
    const int y = b.activation("y", {n, cout});
    ir::Node& gemm = b.node(O::Gemm, "fc", {x, b.weights("weight", {cout, cin}), b.weights("bias", {cout})}, {y});
    gemm.attrs.set("transB", std::int64_t{1});
    return b.finish(detail::append_activation(b, act, y, {n, cout}));
  }
  if (t == "matmul") {
    const std::int64_t bt = p("b"), m = p("m"), k = p("k"), n = p("n");
    const int a = b.input("a", {bt, m, k});
    const int bb = b.input("b", {bt, k, n});
    const int y = b.activation("y", {bt, m, n});
    b.node(O::MatMul, "matmul", {a, bb}, {y});
    return b.finish(y);
  }
  if (t == "einsum") {
    // Rank 4 with a leading 1, as attention exports write it ([1, batch, rows, width]); on
    // ONNX Runtime rank 3 ran 10-25% faster and ranks 4 and 5 alike (1 thread).
    const std::int64_t bt = p("b"), m = p("m"), k = p("k"), n = p("n");
    const bool qk = p("form") == 1;
    const int a = b.input("a", {1, bt, m, k});
    const int bb = qk ? b.input("b", {1, bt, n, k}) : b.input("b", {1, bt, k, n});
    const int y = b.activation("y", {1, bt, m, n});
    b.node(O::Einsum, "einsum", {a, bb}, {y})
        .attrs.set("equation", std::string(qk ? "zbik,zbjk->zbij" : "zbik,zbkj->zbij"));
    return b.finish(y);
  }
  if (t == "maxpool" || t == "avgpool") {
    const std::int64_t n = p("n"), h = p("h"), w = p("w"), c = p("c"), k = p("k"), s = p("stride"), pad = p("pad");
    const int x = b.input("x", {n, c, h, w});
    const int y = b.activation("y", {n, c, conv_out(h, k, s, 1, pad), conv_out(w, k, s, 1, pad)});
    ir::Node& pool = b.node(t == "maxpool" ? O::MaxPool : O::AveragePool, t, {x}, {y});
    pool.attrs.set("kernel_shape", std::vector<std::int64_t>{k, k});
    pool.attrs.set("strides", std::vector<std::int64_t>{s, s});
    pool.attrs.set("pads", std::vector<std::int64_t>{pad, pad, pad, pad});
    if (t == "maxpool") {
      pool.attrs.set("dilations", std::vector<std::int64_t>{1, 1});
    } else {
      pool.attrs.set("count_include_pad", std::int64_t{0});
    }
    return b.finish(y);
  }
  if (t == "gelu") {
    const std::int64_t n = p("n"), c = p("c");
    const int x = b.input("x", {n, c});
    const int d = b.activation("gelu_div", {n, c});
    b.node(O::Div, "gelu_div", {x, b.scalar("sqrt2", 1.4142135f)}, {d});
    const int e = b.activation("gelu_erf", {n, c});
    b.node(O::Erf, "gelu_erf", {d}, {e});
    const int a = b.activation("gelu_add", {n, c});
    b.node(O::Add, "gelu_add", {e, b.scalar("one", 1.0f)}, {a});
    const int m = b.activation("gelu_mul", {n, c});
    b.node(O::Mul, "gelu_mul", {x, a}, {m});
    const int y = b.activation("y", {n, c});
    b.node(O::Mul, "gelu_half", {m, b.scalar("half", 0.5f)}, {y});
    return b.finish(y);
  }
  if (t == "layernorm_ops") {
    const std::int64_t n = p("n"), c = p("c");
    auto mean = [&](const std::string& name, int in) {
      const int out = b.activation(name, {n, 1});
      ir::Node& r = b.node(O::ReduceMean, name, {in}, {out});
      r.attrs.set("axes", std::vector<std::int64_t>{-1});
      r.attrs.set("keepdims", std::int64_t{1});
      return out;
    };
    const int x = b.input("x", {n, c});
    const int m1 = mean("ln_mean", x);
    const int d = b.activation("ln_centred", {n, c});
    b.node(O::Sub, "ln_centred", {x, m1}, {d});
    const int sq = b.activation("ln_square", {n, c});
    b.node(O::Pow, "ln_square", {d, b.scalar("two", 2.0f)}, {sq});
    const int var = mean("ln_var", sq);
    const int ve = b.activation("ln_var_eps", {n, 1});
    b.node(O::Add, "ln_var_eps", {var, b.scalar("eps", 1e-5f)}, {ve});
    const int sd = b.activation("ln_std", {n, 1});
    b.node(O::Sqrt, "ln_std", {ve}, {sd});
    const int z = b.activation("ln_normed", {n, c});
    b.node(O::Div, "ln_normed", {d, sd}, {z});
    const int sc = b.activation("ln_scaled", {n, c});
    b.node(O::Mul, "ln_scaled", {z, b.weights("gamma", {c}, 0.5f, 1.5f)}, {sc});
    const int y = b.activation("y", {n, c});
    b.node(O::Add, "ln_shifted", {sc, b.weights("beta", {c})}, {y});
    return b.finish(y);
  }
  if (t == "slice_rows") {
    const std::int64_t n = p("n"), c = p("c"), part = c / p("parts");
    const int x = b.input("x", {n, c});
    const int y = b.activation("y", {n, part});
    b.node(O::Slice, "slice", {x, b.ints("starts", {0}), b.ints("ends", {part}), b.ints("axes", {1})}, {y});
    return b.finish(y);
  }
  if (t == "softmax" || t == "layernorm") {
    const std::int64_t n = p("n"), c = p("c");
    const int x = b.input("x", {n, c});
    const int y = b.activation("y", {n, c});
    if (t == "softmax") {
      b.node(O::Softmax, "softmax", {x}, {y}).attrs.set("axis", std::int64_t{-1});
    } else {
      b.graph().meta.opset = 17;
      ir::Node& ln = b.node(O::LayerNormalization, "layernorm",
                            {x, b.weights("scale", {c}, 0.5f, 1.5f), b.weights("bias", {c})}, {y});
      ln.attrs.set("axis", std::int64_t{-1});
      ln.attrs.set("epsilon", 1e-5);
    }
    return b.finish(y);
  }

  if (t == "permute") {
    const ir::Permutation perm = permutation_of(spec);
    std::vector<std::int64_t> out;
    for (std::int64_t a : perm.perm) out.push_back(perm.dims[static_cast<std::size_t>(a)]);
    const int x = b.input("x", perm.dims);
    const int y = b.activation("y", out);
    b.node(O::Transpose, "permute", {x}, {y}).attrs.set("perm", perm.perm);
    return b.finish(y);
  }
  const std::int64_t n = p("n"), h = p("h"), w = p("w"), c = p("c");
  if (t == "globalavgpool") {
    const int x = b.input("x", {n, c, h, w});
    const int y = b.activation("y", {n, c, 1, 1});
    b.node(O::GlobalAveragePool, "globalavgpool", {x}, {y});
    return b.finish(y);
  }
  if (t == "add" || t == "add+relu" || t == "mul") {
    const int x0 = b.input("x0", {n, c, h, w});
    const int x1 = b.input("x1", {n, c, h, w});
    const int y = b.activation("y", {n, c, h, w});
    b.node(t == "mul" ? O::Mul : O::Add, t == "mul" ? "mul" : "add", {x0, x1}, {y});
    return b.finish(detail::append_activation(b, act, y, {n, c, h, w}));
  }
  if (t == "scale" || t == "shift+relu") {
    const int x = b.input("x", {n, c, h, w});
    const std::int64_t kc = p("scalar") == 1 ? 1 : c;
    const int k = t == "scale" ? b.weights("k", {1, kc, 1, 1}, 0.5f, 1.5f) : b.weights("k", {1, kc, 1, 1});
    const int y = b.activation("y", {n, c, h, w});
    b.node(t == "scale" ? O::Mul : O::Add, t == "scale" ? "scale" : "shift", {x, k}, {y});
    return b.finish(t == "scale" ? y : detail::append_activation(b, "relu", y, {n, c, h, w}));
  }
  if (t == "channel_mul") {
    const int x = b.input("x", {n, c, h, w});
    const int scale = b.input("scale", {n, c, 1, 1});
    const int y = b.activation("y", {n, c, h, w});
    b.node(O::Mul, "channel_mul", {x, scale}, {y});
    return b.finish(y);
  }
  if (t == "concat") {
    const std::int64_t count = p("inputs");
    std::vector<int> xs;
    for (std::int64_t i = 0; i < count; ++i) xs.push_back(b.input("x" + std::to_string(i), {n, c, h, w}));
    const int y = b.activation("y", {n, c * count, h, w});
    b.node(O::Concat, "concat", xs, {y}).attrs.set("axis", std::int64_t{1});
    return b.finish(y);
  }
  if (t == "relu" || t == "relu6" || t == "sigmoid" || t == "hardswish" || t == "hardsigmoid" || t == "swish" ||
      t == "hsigmoid_mul" || t == "tanh" || t == "erf") {
    const int x = b.input("x", {n, c, h, w});
    return b.finish(detail::append_activation(b, t, x, {n, c, h, w}));
  }
  if (t == "bn" || t == "bn+relu") {
    const int x = b.input("x", {n, c, h, w});
    const int y = b.activation("y", {n, c, h, w});
    ir::Node& bn = b.node(O::BatchNormalization, "bn",
                          {x, b.weights("bn_scale", {c}, 0.5f, 1.5f), b.weights("bn_bias", {c}),
                           b.weights("bn_mean", {c}), b.weights("bn_var", {c}, 0.5f, 1.5f)},
                          {y});
    bn.attrs.set("epsilon", 1e-5);
    bn.attrs.set("momentum", 0.9);
    return b.finish(t == "bn" ? y : detail::append_activation(b, "relu", y, {n, c, h, w}));
  }
  if (starts_with(t, "resize")) {
    const std::int64_t s = p("scale");
    const int x = b.input("x", {n, c, h, w});
    const int y = b.activation("y", {n, c, h * s, w * s});
    const float fs = static_cast<float>(s);
    ir::Node& r = b.node(O::Resize, t, {x, -1, b.floats("scales", {1.0f, 1.0f, fs, fs})}, {y});
    if (t == "resize_nearest") {
      r.attrs.set("mode", std::string("nearest"));
      r.attrs.set("coordinate_transformation_mode", std::string("asymmetric"));
      r.attrs.set("nearest_mode", std::string("floor"));
    } else {
      r.attrs.set("mode", std::string("linear"));
      r.attrs.set("coordinate_transformation_mode", std::string("half_pixel"));
    }
    return b.finish(y);
  }
  if (t == "pad") {
    const std::int64_t pad = p("pad");
    const int x = b.input("x", {n, c, h, w});
    const int y = b.activation("y", {n, c, h + 2 * pad, w + 2 * pad});
    b.node(O::Pad, "pad", {x, b.ints("pads", {0, 0, pad, pad, 0, 0, pad, pad})}, {y})
        .attrs.set("mode", std::string("constant"));
    return b.finish(y);
  }
  if (t == "channel_pad") {
    const std::int64_t cpad = p("cpad");
    const int x = b.input("x", {n, c, h, w});
    const int y = b.activation("y", {n, c + cpad, h, w});
    b.node(O::Pad, "pad", {x, b.ints("pads", {0, 0, 0, 0, 0, cpad, 0, 0})}, {y})
        .attrs.set("mode", std::string("constant"));
    return b.finish(y);
  }
  if (t == "reshape") {
    const int x = b.input("x", {n, c, h, w});
    const int y = b.activation("y", {n, c, h * w});
    b.node(O::Reshape, "reshape", {x, b.ints("shape", {n, c, h * w})}, {y});
    return b.finish(y);
  }
  if (t == "slice_axis") {
    const std::int64_t axis = p("axis"), keep = p("keep");
    std::vector<std::int64_t> dims{n, c, h, w};
    const int x = b.input("x", dims);
    dims[static_cast<std::size_t>(axis)] = keep;
    const int y = b.activation("y", dims);
    b.node(O::Slice, "slice", {x, b.ints("starts", {0}), b.ints("ends", {keep}), b.ints("axes", {axis})}, {y});
    return b.finish(y);
  }
  if (t == "slice") {
    const std::int64_t part = c / p("parts");
    const int x = b.input("x", {n, c, h, w});
    const int y = b.activation("y", {n, part, h, w});
    b.node(O::Slice, "slice", {x, b.ints("starts", {0}), b.ints("ends", {part}), b.ints("axes", {1})}, {y});
    return b.finish(y);
  }
  if (t == "transpose") {
    const int x = b.input("x", {n, c, h, w});
    const int y = b.activation("y", {n, h, w, c});
    b.node(O::Transpose, "transpose", {x}, {y}).attrs.set("perm", std::vector<std::int64_t>{0, 2, 3, 1});
    return b.finish(y);
  }
  if (t == "se") {
    const std::int64_t squeezed = std::max<std::int64_t>(1, c / p("r"));
    const int x = b.input("x", {n, c, h, w});
    const int pooled = b.activation("se_pool", {n, c, 1, 1});
    b.node(O::GlobalAveragePool, "se_pool", {x}, {pooled});
    auto conv1x1 = [&](const std::string& name, int in, std::int64_t ci, std::int64_t co) {
      const int out = b.activation(name, {n, co, 1, 1});
      ir::Node& node = b.node(
          O::Conv, name, {in, b.weights(name + "_weight", {co, ci, 1, 1}), b.weights(name + "_bias", {co})}, {out});
      detail::set_window(node, 1, 1, 1, 0);
      node.attrs.set("group", std::int64_t{1});
      return out;
    };
    const int fc1 = conv1x1("se_fc1", pooled, c, squeezed);
    const int relu = b.activation("se_relu", {n, squeezed, 1, 1});
    b.node(O::Relu, "se_relu", {fc1}, {relu});
    const int fc2 = conv1x1("se_fc2", relu, squeezed, c);
    const int gate = b.activation("se_gate", {n, c, 1, 1});
    b.node(O::Sigmoid, "se_gate", {fc2}, {gate});
    const int y = b.activation("y", {n, c, h, w});
    b.node(O::Mul, "se_scale", {x, gate}, {y});
    return b.finish(y);
  }
  if (t == "channel_shuffle") {
    const std::int64_t g = p("groups");
    const int x = b.input("x", {n, c, h, w});
    const int r1 = b.activation("shuffle_split", {n, g, c / g, h, w});
    b.node(O::Reshape, "shuffle_split", {x, b.ints("shape_split", {n, g, c / g, h, w})}, {r1});
    const int tr = b.activation("shuffle_swap", {n, c / g, g, h, w});
    b.node(O::Transpose, "shuffle_swap", {r1}, {tr}).attrs.set("perm", std::vector<std::int64_t>{0, 2, 1, 3, 4});
    const int y = b.activation("y", {n, c, h, w});
    b.node(O::Reshape, "shuffle_merge", {tr, b.ints("shape_merge", {n, c, h, w})}, {y});
    return b.finish(y);
  }
  assert(false && "kernel type without a builder");
  throw Error(ErrorKind::kUnsupported, "kernel '" + t + "'", "type", "no graph builder");
}

}  // namespace infercast::bench
