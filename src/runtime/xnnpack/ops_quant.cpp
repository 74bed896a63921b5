// int8 execution: nodes that read or write run-time int8 tensors (TFLite full-integer
// models: per-tensor asymmetric activations, per-channel symmetric conv weights, int32
// biases) run on XNNPACK's quantized operators — qc8 convolution (per-channel weight
// scales), qs8 fully connected / add / multiply / global average pooling, s8 max
// pooling, x8 pad, f32↔qs8 converts — plus custom kernels: a requantizing concat and
// 256-entry lookup tables for elementwise activations (RELU, RELU6, LOGISTIC, TANH,
// HARD_SWISH).
//
// Contract: int8 runs on NHWC (TFLite) graphs. Every int8 activation carries one
// finite scale > 0 and a zero point in [-128, 127]; ops that only move bytes (reshape,
// pad, max pool) need the same parameters on input and output, as TFLite's
// kernels do. What does not hold is refused at prepare with the reason.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>

#include "runtime/xnnpack/ops.hpp"

namespace infercast::runtime::xnnpack {

namespace {

struct Q {
  float scale = 1.0f;
  std::int8_t zero_point = 0;
};

Q qof(const ir::Tensor& t) {
  return {t.quant.scales.at(0), static_cast<std::int8_t>(t.quant.zero_points.empty() ? 0 : t.quant.zero_points[0])};
}

bool same_q(const ir::Tensor& a, const ir::Tensor& b) {
  const Q x = qof(a), y = qof(b);
  return x.scale == y.scale && x.zero_point == y.zero_point;
}

std::int8_t quantize_bound(float v, Q q) {
  if (std::isinf(v)) return v < 0 ? std::numeric_limits<std::int8_t>::min() : std::numeric_limits<std::int8_t>::max();
  const float r = std::nearbyint(v / q.scale) + static_cast<float>(q.zero_point);
  return static_cast<std::int8_t>(std::clamp(r, -128.0f, 127.0f));
}

// Output clamp of a TFLite fused activation in the output's int8 domain.
std::pair<std::int8_t, std::int8_t> int8_range(const ir::Node& n, const ir::Tensor& out) {
  const auto bounds = fused_activation_bounds(n, nullptr);
  const Q q = qof(out);
  if (!bounds) return {-128, 127};
  return {quantize_bound(bounds->first, q), quantize_bound(bounds->second, q)};
}

std::int8_t* i8(const Binder& bd, int v) {
  return reinterpret_cast<std::int8_t*>(bd.ptr(v));
}

bool is_int8(const ir::Tensor& t) {
  return t.dtype == ir::DType::kInt8;
}

// The run-time int8 data input k: present, int8 with activation parameters, static.
std::string int8_input_problem(const Check& c, const ir::Node& n, std::size_t k) {
  if (!c.present(n, k)) return "input " + std::to_string(k) + " is missing";
  const ir::Tensor& t = c.tensor(n.inputs[k]);
  if (!is_int8(t)) return "input '" + t.name + "' is " + std::string(ir::dtype_name(t.dtype)) + ", not int8";
  if (c.constant(n.inputs[k])) return "input '" + t.name + "' is an int8 constant (only run-time int8 data runs here)";
  if (!t.shape.is_static() || *t.shape.numel() == 0) return "input '" + t.name + "' has no static, non-empty shape";
  if (std::string why = activation_quant_problem(t); !why.empty()) return why;
  return {};
}

std::string int8_output_problem(const Check& c, const ir::Node& n) {
  const ir::Tensor& t = c.tensor(n.outputs.at(0));
  if (!is_int8(t)) return "output '" + t.name + "' is " + std::string(ir::dtype_name(t.dtype)) + ", not int8";
  if (!t.shape.is_static()) return "output '" + t.name + "' has no static shape";
  return activation_quant_problem(t);
}

std::string window_problem(const Check& c, const ir::Node& n, bool need_kernel) {
  if (c.tensor(n.inputs[0]).shape.rank() != 4) return "expects a 4-D NHWC input";
  Window w;
  return read_window(n, 2, w, need_kernel);
}

// Per-channel symmetric int8 conv weights (OHWI or 1HWO) with one scale per output
// channel or one for all, and an optional int32 bias of one value per output channel.
std::string conv_weights_problem(const Check& c, const ir::Node& n, std::int64_t cout) {
  const ir::Tensor& w = c.tensor(n.inputs[1]);
  if (!w.is_constant() || !is_int8(w)) return "weights are not an int8 constant";
  if (w.quant.empty()) return "int8 weights without scales";
  if (w.quant.scales.size() != 1 && static_cast<std::int64_t>(w.quant.scales.size()) != cout) {
    return "weights have " + std::to_string(w.quant.scales.size()) + " scales for " + std::to_string(cout) +
           " output channels";
  }
  for (float s : w.quant.scales) {
    if (!(s > 0.0f) || !std::isfinite(s)) return "weight scale " + std::to_string(s) + " is not a finite value > 0";
  }
  for (auto z : w.quant.zero_points) {
    if (z != 0) return "weights are not symmetric (zero point " + std::to_string(z) + ")";
  }
  if (w.data.size() != *w.shape.numel()) return "weight data size does not match its shape";
  if (c.present(n, 2)) {
    const ir::Tensor& b = c.tensor(n.inputs[2]);
    if (!b.is_constant() || b.dtype != ir::DType::kInt32) return "bias is not an int32 constant";
    if (static_cast<std::int64_t>(*b.shape.numel()) != cout || b.data.size() != static_cast<std::size_t>(cout) * 4) {
      return "bias size != output channels";
    }
  }
  return {};
}

std::vector<std::int32_t> int32_bias(const Builder& b, const ir::Node& n, std::size_t cout) {
  std::vector<std::int32_t> bias(cout, 0);
  if (n.inputs.size() > 2 && n.inputs[2] >= 0)
    std::memcpy(bias.data(), b.graph.tensors[n.inputs[2]].data.data(), cout * 4);
  return bias;
}

const std::int8_t* int8_data(const ir::Tensor& t) {
  return reinterpret_cast<const std::int8_t*>(t.data.data());
}

XnnpackSupport check_op(const Check& c, const ir::Node& n) {
  using O = ir::Op;
  if (n.layout != ir::Layout::kNHWC && c.graph.meta.layout != ir::Layout::kNHWC) {
    return no("int8 runs on NHWC (TFLite) graphs only");
  }
  if (n.outputs.empty() || n.outputs[0] < 0) return no("no output");
  const ir::Tensor& out = c.tensor(n.outputs[0]);
  switch (n.op) {
    case O::Quantize: {
      const ir::Tensor& in = c.tensor(n.inputs.at(0));
      if (is_int8(in)) return no("QUANTIZE int8 → int8 (requantization) is not supported");
      if (std::string why = input_problem(c, n, 0); !why.empty()) return no(why);
      if (std::string why = int8_output_problem(c, n); !why.empty()) return no(why);
      return yes();
    }
    case O::Dequantize: {
      if (std::string why = int8_input_problem(c, n, 0); !why.empty()) return no(why);
      if (out.dtype != ir::DType::kFloat32) return no("DEQUANTIZE to " + std::string(ir::dtype_name(out.dtype)));
      return yes();
    }
    default: break;
  }
  if (std::string why = int8_output_problem(c, n); !why.empty()) return no(why);
  switch (n.op) {
    case O::Conv: {
      if (std::string why = int8_input_problem(c, n, 0); !why.empty()) return no(why);
      if (std::string why = window_problem(c, n, false); !why.empty()) return no(why);
      const Dims x = c.tensor(n.inputs[0]).shape.extents();
      const Dims w = c.tensor(n.inputs.at(1)).shape.extents();
      const std::string layout = n.attrs.get_string("weight_layout", "OHWI");
      const std::int64_t group = n.attrs.get_int("group", 1);
      if (w.size() != 4) return no("weights are not 4-D");
      std::int64_t cout = 0;
      if (layout == "OHWI") {
        if (w[3] * group != x[3] || w[0] % group != 0) return no("weight shape does not match channels and group");
        cout = w[0];
      } else if (layout == "1HWO") {
        if (w[0] != 1 || group != x[3] || w[3] % x[3] != 0) return no("depthwise weight shape does not match");
        cout = w[3];
      } else {
        return no("weight layout '" + layout + "' is not supported in int8");
      }
      if (std::string why = conv_weights_problem(c, n, cout); !why.empty()) return no(why);
      std::string why;
      if (!fused_activation_bounds(n, &why)) return no(why);
      const Dims y = out.shape.extents();
      if (y.size() != 4 || y[0] != x[0] || y[3] != cout) return no("output shape does not match the convolution");
      return yes();
    }
    case O::FullyConnected:
    case O::Gemm: {
      if (std::string why = int8_input_problem(c, n, 0); !why.empty()) return no(why);
      const ir::Tensor& w = c.tensor(n.inputs.at(1));
      const Dims wd = w.shape.extents();
      if (wd.size() != 2) return no("weights are not 2-D [out, in]");
      if (n.attrs.get_int("transB", 1) != 1 || n.attrs.get_int("transA", 0) != 0) return no("transposed operands");
      if (std::string why = conv_weights_problem(c, n, wd[0]); !why.empty()) return no(why);
      if (w.quant.scales.size() != 1) return no("per-channel FC weights (XNNPACK 2022 has per-tensor qs8 FC only)");
      const auto numel_in = static_cast<std::int64_t>(*c.tensor(n.inputs[0]).shape.numel());
      if (numel_in % wd[1] != 0) return no("input size is not a multiple of the weight's input channels");
      if (static_cast<std::int64_t>(*out.shape.numel()) != numel_in / wd[1] * wd[0]) return no("output size mismatch");
      std::string why;
      if (!fused_activation_bounds(n, &why)) return no(why);
      return yes();
    }
    case O::Add:
    case O::Mul: {
      if (n.inputs.size() != 2) return no("expects 2 inputs");
      for (std::size_t k : {0u, 1u}) {
        if (!c.present(n, k)) return no("input " + std::to_string(k) + " is missing");
        const ir::Tensor& t = c.tensor(n.inputs[k]);
        if (k == 1 && t.is_constant() && is_int8(t)) {  // a constant operand (folded BatchNorm)
          if (std::string why = activation_quant_problem(t); !why.empty()) return no(why);
          if (!t.shape.is_static() || t.data.size() != *t.shape.numel()) return no("int8 constant of the wrong size");
        } else if (std::string why = int8_input_problem(c, n, k); !why.empty()) {
          return no(why);
        }
        if (t.shape.rank() > XNN_MAX_TENSOR_DIMS) return no("rank above 6");
      }
      std::string why;
      if (!fused_activation_bounds(n, &why)) return no(why);
      return yes();
    }
    case O::MaxPool: {
      if (std::string why = int8_input_problem(c, n, 0); !why.empty()) return no(why);
      if (std::string why = window_problem(c, n, true); !why.empty()) return no(why);
      if (!same_q(c.tensor(n.inputs[0]), out)) return no("MAX_POOL_2D with different input and output scales");
      std::string why;
      if (!fused_activation_bounds(n, &why)) return no(why);
      return yes();
    }
    case O::AveragePool: {  // global only (SE blocks): XNNPACK 2022 has no qs8 windowed average pooling
      if (std::string why = int8_input_problem(c, n, 0); !why.empty()) return no(why);
      if (std::string why = window_problem(c, n, true); !why.empty()) return no(why);
      Window w;
      read_window(n, 2, w, true);
      const Dims x = c.tensor(n.inputs[0]).shape.extents();
      if (w.kh != x[1] || w.kw != x[2] || w.top || w.left || w.bottom || w.right) {
        return no("int8 AVERAGE_POOL_2D other than a global average (no qs8 windowed pooling in XNNPACK 2022)");
      }
      std::string why;
      if (!fused_activation_bounds(n, &why)) return no(why);
      if (fused_activation_bounds(n, nullptr)->first > -1e30f)
        return no("int8 AVERAGE_POOL_2D with a fused activation");
      return yes();
    }
    case O::ReduceMean: {
      if (std::string why = int8_input_problem(c, n, 0); !why.empty()) return no(why);
      const Dims x = c.tensor(n.inputs[0]).shape.extents();
      const auto axes = c.present(n, 1) ? c.ints(n.inputs[1]) : std::nullopt;
      if (x.size() != 4 || !axes) return no("int8 MEAN needs a 4-D input and constant axes");
      std::vector<std::int64_t> a = *axes;
      for (auto& v : a) v = v < 0 ? v + 4 : v;
      std::sort(a.begin(), a.end());
      if (a != std::vector<std::int64_t>{1, 2}) return no("int8 MEAN over axes other than H and W");
      return yes();
    }
    case O::Pad: {
      if (std::string why = int8_input_problem(c, n, 0); !why.empty()) return no(why);
      if (n.attrs.get_string("mode", "constant") != "constant") return no("int8 MIRROR_PAD");
      const std::size_t rank = c.tensor(n.inputs[0]).shape.rank();
      const auto p = c.present(n, 1) ? c.ints(n.inputs[1]) : std::nullopt;
      if (!p || p->size() != 2 * rank || rank > XNN_MAX_TENSOR_DIMS) return no("paddings are not a constant [rank, 2]");
      for (auto v : *p) {
        if (v < 0) return no("negative padding");
      }
      if (!same_q(c.tensor(n.inputs[0]), out)) return no("PAD with different input and output scales");
      if (c.present(n, 2)) {
        const ir::Tensor& v = c.tensor(n.inputs[2]);
        if (!v.is_constant() || !is_int8(v) || v.data.size() != 1) return no("PADV2 value is not an int8 scalar");
      }
      return yes();
    }
    case O::Reshape:
    case O::Squeeze:
    case O::Unsqueeze:
    case O::Flatten:
    case O::Identity: {
      if (std::string why = int8_input_problem(c, n, 0); !why.empty()) return no(why);
      if (!same_q(c.tensor(n.inputs[0]), out)) return no("reshape with different input and output scales");
      if (*c.tensor(n.inputs[0]).shape.numel() != *out.shape.numel()) return no("element count changes");
      return yes();
    }
    case O::Relu:
    case O::Clip:
    case O::Sigmoid:
    case O::Tanh:
    case O::HardSwish: {
      if (std::string why = int8_input_problem(c, n, 0); !why.empty()) return no(why);
      if (n.op == O::Clip && !clamp_bounds(c.graph, n)) return no("clip bounds are not constant");
      return yes();
    }
    case O::Concat: {
      const std::size_t rank = out.shape.rank();
      const auto axis = normalize_axis(n.attrs.get_int("axis", 0), rank);
      if (!axis) return no("axis out of range");
      for (std::size_t k = 0; k < n.inputs.size(); ++k) {
        if (std::string why = int8_input_problem(c, n, k); !why.empty()) return no(why);
        if (c.tensor(n.inputs[k]).shape.rank() != rank) return no("inputs of different ranks");
      }
      std::string why;
      if (!fused_activation_bounds(n, &why)) return no(why);
      return yes();
    }
    default: break;
  }
  return no("op " + (n.op == ir::Op::Other ? n.source_op : std::string(ir::op_name(n.op))) +
            " has no int8 kernel in the XNNPACK runtime");
}

void lower_conv_q(Builder& b, const ir::Node& n) {
  const ir::Tensor& xt = b.input_tensor(0);
  const ir::Tensor& wt = b.input_tensor(1);
  const ir::Tensor& yt = b.graph.tensors[n.outputs[0]];
  const int x = b.input(0);
  const int y = b.make_output(0, Order::kLogical);
  Window win;
  if (std::string why = read_window(n, 2, win, false); !why.empty()) b.fail(why);
  const Nhwc in = nhwc_of(b.input_dims(0), ir::Layout::kNHWC);
  const Dims wd = wt.shape.extents();
  const std::string layout = n.attrs.get_string("weight_layout", "OHWI");
  const auto groups = static_cast<std::size_t>(n.attrs.get_int("group", 1));
  std::uint32_t flags = 0;
  std::size_t cout, kh = static_cast<std::size_t>(wd[1]), kw = static_cast<std::size_t>(wd[2]);
  if (layout == "OHWI") {
    cout = static_cast<std::size_t>(wd[0]);
  } else {
    cout = static_cast<std::size_t>(wd[3]);
    flags |= XNN_FLAG_DEPTHWISE_CONVOLUTION;
  }
  std::vector<float> scales(cout, wt.quant.scales[0]);
  if (wt.quant.scales.size() == cout) scales = wt.quant.scales;
  const std::vector<std::int32_t> bias = int32_bias(b, n, cout);
  const auto [qmin, qmax] = int8_range(n, yt);
  const Q qx = qof(xt), qy = qof(yt);
  const std::size_t group_in = in.c / groups, group_out = cout / groups;
  xnn_operator_t raw = nullptr;
  XnnOp op = b.made(
      xnn_create_convolution2d_nhwc_qc8(
          static_cast<std::uint32_t>(win.top), static_cast<std::uint32_t>(win.right),
          static_cast<std::uint32_t>(win.bottom), static_cast<std::uint32_t>(win.left), static_cast<std::uint32_t>(kh),
          static_cast<std::uint32_t>(kw), static_cast<std::uint32_t>(win.sh), static_cast<std::uint32_t>(win.sw),
          static_cast<std::uint32_t>(win.dh), static_cast<std::uint32_t>(win.dw), static_cast<std::uint32_t>(groups),
          group_in, group_out, in.c, cout, qx.zero_point, qx.scale, scales.data(), int8_data(wt), bias.data(),
          qy.zero_point, qy.scale, qmin, qmax, flags, &raw),
      &raw, "xnn_create_convolution2d_nhwc_qc8");
  Step& s = b.add_step({x}, {y});
  s.op = std::move(op);
  s.bind = [x, y, in, &b](Step& step, const Binder& bd) {
    b.check(xnn_setup_convolution2d_nhwc_qc8(step.op.get(), in.n, in.h, in.w, i8(bd, x), i8(bd, y), bd.pool()),
            "xnn_setup_convolution2d_nhwc_qc8");
  };
}

void lower_fc_q(Builder& b, const ir::Node& n) {
  const ir::Tensor& xt = b.input_tensor(0);
  const ir::Tensor& wt = b.input_tensor(1);
  const ir::Tensor& yt = b.graph.tensors[n.outputs[0]];
  const int x = b.input(0);
  const int y = b.make_output(0, Order::kLogical);
  const Dims wd = wt.shape.extents();
  const auto cout = static_cast<std::size_t>(wd[0]), cin = static_cast<std::size_t>(wd[1]);
  const std::size_t batch = static_cast<std::size_t>(*xt.shape.numel()) / cin;
  const std::vector<std::int32_t> bias = int32_bias(b, n, cout);
  const auto [qmin, qmax] = int8_range(n, yt);
  const Q qx = qof(xt), qy = qof(yt);
  xnn_operator_t raw = nullptr;
  XnnOp op = b.made(
      xnn_create_fully_connected_nc_qs8(cin, cout, cin, cout, qx.zero_point, qx.scale, wt.quant.scales[0],
                                        int8_data(wt), bias.data(), qy.zero_point, qy.scale, qmin, qmax, 0, &raw),
      &raw, "xnn_create_fully_connected_nc_qs8");
  Step& s = b.add_step({x}, {y});
  s.op = std::move(op);
  s.bind = [x, y, batch, &b](Step& step, const Binder& bd) {
    b.check(xnn_setup_fully_connected_nc_qs8(step.op.get(), batch, i8(bd, x), i8(bd, y), bd.pool()),
            "xnn_setup_fully_connected_nc_qs8");
  };
}

// Parameters of add_binary_float's arithmetic, and its loop over n element pairs.
struct BinaryRequant {
  float sa, za, sb, zb, sy, lo, hi, zy;  // lo, hi: the output clamp less its zero point
};

template <bool kAdd>
void requantize_pairs(const BinaryRequant& p, const std::int8_t* a, const std::int8_t* b, std::int8_t* y,
                      std::size_t n) {
  // |r| stays below 2^22 after the clamp, where (r + 1.5·2^23) − 1.5·2^23 rounds half to
  // even, like nearbyint; blocks of a fixed size let the compiler vectorize at -O2.
  constexpr float kMagic = 12582912.0f;
  constexpr std::size_t kBlock = 16;
  auto one = [&p](std::int8_t va, std::int8_t vb) {
    const float x = p.sa * (static_cast<float>(va) - p.za);
    const float z = p.sb * (static_cast<float>(vb) - p.zb);
    const float r = std::min(std::max((kAdd ? x + z : x * z) / p.sy, p.lo), p.hi);
    return ((r + kMagic) - kMagic) + p.zy;
  };
  std::size_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    float r[kBlock];
    for (std::size_t k = 0; k < kBlock; ++k) r[k] = one(a[i + k], b[i + k]);
    for (std::size_t k = 0; k < kBlock; ++k) y[i + k] = static_cast<std::int8_t>(r[k]);
  }
  for (; i < n; ++i) y[i] = static_cast<std::int8_t>(one(a[i], b[i]));
}

// int8 ADD / MUL requantized in float (rounding half to even): exactly what the QDQ form
// of the model defines (DequantizeLinear, the float op, QuantizeLinear). XNNPACK 2022's
// qs8 add and multiply use fixed-point multipliers instead, which land one step off on
// some elements, and such differences grow through a network (face_detection_short_range
// against ONNX Runtime with its convolutions unfused: 91% of its outputs within
// one step with them, all bit-identical with this kernel). Same-shape operands and an operand repeating
// along the leading axes (a per-channel gate, a scalar) run as plain loops the compiler
// vectorizes; other broadcasts walk the index space.
void add_binary_float(Builder& b, const ir::Node& n, int a, int c, int y, Q qa, Q qb, Q qy, std::int8_t qmin,
                      std::int8_t qmax) {
  const Dims yd = b.output_dims(0);
  const std::size_t rank = yd.size();
  // Element strides of each input in the output's index space (0 where it broadcasts).
  auto strides_of = [&](const Dims& d) {
    std::vector<std::size_t> st(rank, 0);
    std::size_t step = 1;
    for (std::size_t i = 0; i < d.size(); ++i) {
      const std::size_t axis = d.size() - 1 - i, out_axis = rank - 1 - i;
      if (d[axis] != 1) st[out_axis] = step;
      step *= static_cast<std::size_t>(d[axis]);
    }
    return st;
  };
  // The period of an operand that repeats along the output's leading axes: its element
  // count when its dims, right-aligned, are 1 up to some axis and the output's after it.
  auto period_of = [&](const Dims& d) -> std::size_t {
    std::size_t k = rank;  // first output axis from which d matches the output
    for (std::size_t i = 0; i < rank; ++i) {
      const std::int64_t e = i + d.size() >= rank ? d[i + d.size() - rank] : 1;
      if (yd[i] == 1) continue;
      if (e == yd[i]) {
        if (k == rank) k = i;
      } else if (e == 1 && k == rank) {
        continue;
      } else {
        return 0;
      }
    }
    std::size_t p = 1;
    for (std::size_t i = k; i < rank; ++i) p *= static_cast<std::size_t>(yd[i]);
    return p;
  };
  const Dims ad = b.input_dims(0), bd_dims = b.input_dims(1);
  const auto st_a = strides_of(ad), st_b = strides_of(bd_dims);
  const std::size_t pa_period = period_of(ad), pb_period = period_of(bd_dims);
  const std::vector<std::size_t> dims(yd.begin(), yd.end());
  std::size_t total = 1;
  for (auto d : dims) total *= d;
  const bool add = n.op == ir::Op::Add;
  b.add_kernel({a, c}, {y}, [=](const Binder& bd) {
    const std::int8_t* pa = i8(bd, a);
    const std::int8_t* pb = i8(bd, c);
    std::int8_t* py = i8(bd, y);
    return [=] {
      // What a DequantizeLinear → op → QuantizeLinear chain defines: both operands
      // dequantized, the float result divided by the output scale and rounded.
      const float zy = static_cast<float>(qy.zero_point);
      const BinaryRequant p{qa.scale,
                            static_cast<float>(qa.zero_point),
                            qb.scale,
                            static_cast<float>(qb.zero_point),
                            qy.scale,
                            static_cast<float>(qmin) - zy,
                            static_cast<float>(qmax) - zy,
                            zy};
      auto run = [&](const std::int8_t* x, const std::int8_t* z, std::int8_t* out, std::size_t n) {
        if (add) {
          requantize_pairs<true>(p, x, z, out, n);
        } else {
          requantize_pairs<false>(p, x, z, out, n);
        }
      };
      if (pa_period == total && pb_period != 0) {
        for (std::size_t o = 0; o < total; o += pb_period) run(pa + o, pb, py + o, pb_period);
        return;
      }
      if (pb_period == total && pa_period != 0) {
        for (std::size_t o = 0; o < total; o += pa_period) run(pa, pb + o, py + o, pa_period);
        return;
      }
      std::vector<std::size_t> idx(rank, 0);
      for (std::size_t i = 0; i < total; ++i) {
        std::size_t oa = 0, ob = 0;
        for (std::size_t k = 0; k < rank; ++k) oa += idx[k] * st_a[k], ob += idx[k] * st_b[k];
        run(pa + oa, pb + ob, py + i, 1);
        for (std::size_t k = rank; k-- > 0;) {
          if (++idx[k] < dims[k]) break;
          idx[k] = 0;
        }
      }
    };
  });
}

void lower_binary_q(Builder& b, const ir::Node& n) {
  const ir::Tensor& at = b.input_tensor(0);
  const ir::Tensor& bt = b.input_tensor(1);
  const ir::Tensor& yt = b.graph.tensors[n.outputs[0]];
  const Q qa = qof(at), qb = qof(bt), qy = qof(yt);
  const int a = b.input(0);
  int c = -1;
  // x + k, x · k with a constant k that is a scalar or one value per channel (the last
  // axis: a BatchNorm the export could not fold, hard-sigmoid's +3) is a function of
  // one int8 value per channel: 256-entry tables.
  const Dims ad = at.shape.extents(), kd = bt.shape.extents();
  const std::size_t channels = bt.data.size();
  const bool per_channel =
      bt.is_constant() && !ad.empty() && ad == b.output_dims(0) &&
      (channels == 1 || (!kd.empty() && kd.back() == ad.back() && static_cast<std::int64_t>(channels) == ad.back()));
  if (per_channel) {
    std::vector<std::int8_t> table(channels * 256);
    const auto [lo, hi] = int8_range(n, yt);
    for (std::size_t ch = 0; ch < channels; ++ch) {
      const float k = qb.scale * static_cast<float>(static_cast<std::int8_t>(bt.data[ch]) - qb.zero_point);
      for (int v = -128; v <= 127; ++v) {
        const float x = qa.scale * static_cast<float>(v - qa.zero_point);
        const float r = n.op == ir::Op::Add ? x + k : x * k;
        table[ch * 256 + static_cast<std::size_t>(v + 128)] = std::clamp(quantize_bound(r, qy), lo, hi);
      }
    }
    const int y = b.make_output(0, Order::kLogical);
    const auto count = static_cast<std::size_t>(b.values[a].size());
    b.add_kernel({a}, {y}, [a, y, count, channels, table](const Binder& bd) {
      const std::int8_t* in = i8(bd, a);
      std::int8_t* out = i8(bd, y);
      return [in, out, count, channels, table] {
        for (std::size_t i = 0, ch = 0; i < count; ++i) {
          out[i] = table[ch * 256 + static_cast<std::size_t>(in[i] + 128)];
          if (++ch == channels) ch = 0;
        }
      };
    });
    return;
  }
  if (bt.is_constant()) {  // int8 bytes kept in a constant value (its float slots only hold them)
    std::vector<float> holder((bt.data.size() + sizeof(float) - 1) / sizeof(float), 0.0f);
    std::memcpy(holder.data(), bt.data.data(), bt.data.size());
    const auto count = static_cast<std::int64_t>(holder.size());
    c = b.new_constant(std::move(holder), {count}, Order::kLogical);
  } else {
    c = b.input(1);
  }
  const int y = b.make_output(0, Order::kLogical);
  const auto [qmin, qmax] = int8_range(n, yt);
  add_binary_float(b, n, a, c, y, qa, qb, qy, qmin, qmax);
}

void lower_max_pool_q(Builder& b, const ir::Node& n) {
  const ir::Tensor& yt = b.graph.tensors[n.outputs[0]];
  const int x = b.input(0);
  const int y = b.make_output(0, Order::kLogical);
  Window win;
  if (std::string why = read_window(n, 2, win, true); !why.empty()) b.fail(why);
  const Nhwc in = nhwc_of(b.input_dims(0), ir::Layout::kNHWC);
  const auto [qmin, qmax] = int8_range(n, yt);
  xnn_operator_t raw = nullptr;
  XnnOp op = b.made(
      xnn_create_max_pooling2d_nhwc_s8(static_cast<std::uint32_t>(win.top), static_cast<std::uint32_t>(win.right),
                                       static_cast<std::uint32_t>(win.bottom), static_cast<std::uint32_t>(win.left),
                                       static_cast<std::uint32_t>(win.kh), static_cast<std::uint32_t>(win.kw),
                                       static_cast<std::uint32_t>(win.sh), static_cast<std::uint32_t>(win.sw),
                                       static_cast<std::uint32_t>(win.dh), static_cast<std::uint32_t>(win.dw), in.c,
                                       in.c, in.c, qmin, qmax, 0, &raw),
      &raw, "xnn_create_max_pooling2d_nhwc_s8");
  Step& s = b.add_step({x}, {y});
  s.op = std::move(op);
  s.bind = [x, y, in, &b](Step& step, const Binder& bd) {
    b.check(xnn_setup_max_pooling2d_nhwc_s8(step.op.get(), in.n, in.h, in.w, i8(bd, x), i8(bd, y), bd.pool()),
            "xnn_setup_max_pooling2d_nhwc_s8");
  };
}

void lower_mean_q(Builder& b, const ir::Node& n) {
  const Q qx = qof(b.input_tensor(0)), qy = qof(b.graph.tensors[n.outputs[0]]);
  const int x = b.input(0);
  const int y = b.make_output(0, Order::kLogical);
  const Nhwc in = nhwc_of(b.input_dims(0), ir::Layout::kNHWC);
  xnn_operator_t raw = nullptr;
  XnnOp op = b.made(xnn_create_global_average_pooling_nwc_qs8(in.c, in.c, in.c, qx.zero_point, qx.scale, qy.zero_point,
                                                              qy.scale, -128, 127, 0, &raw),
                    &raw, "xnn_create_global_average_pooling_nwc_qs8");
  Step& s = b.add_step({x}, {y});
  s.op = std::move(op);
  const std::size_t width = in.h * in.w;
  s.bind = [x, y, in, width, &b](Step& step, const Binder& bd) {
    b.check(xnn_setup_global_average_pooling_nwc_qs8(step.op.get(), in.n, width, i8(bd, x), i8(bd, y), bd.pool()),
            "xnn_setup_global_average_pooling_nwc_qs8");
  };
}

void lower_pad_q(Builder& b, const ir::Node& n) {
  const Check c(b.graph, b.facts);
  const auto p = *c.ints(n.inputs[1]);
  const Dims xl = b.input_dims(0);
  std::vector<std::size_t> shape, pre, post;
  for (std::size_t i = 0; i < xl.size(); ++i) {
    shape.push_back(static_cast<std::size_t>(xl[i]));
    pre.push_back(static_cast<std::size_t>(p[2 * i]));
    post.push_back(static_cast<std::size_t>(p[2 * i + 1]));
  }
  // PAD fills with the zero point (real 0); PADV2 with its own int8 value.
  std::int8_t value = qof(b.input_tensor(0)).zero_point;
  if (b.has_input(2)) value = int8_data(b.input_tensor(2))[0];
  const int x = b.input(0);
  const int y = b.make_output(0, Order::kLogical);
  xnn_operator_t raw = nullptr;
  XnnOp op = b.made(xnn_create_constant_pad_nd_x8(&value, 0, &raw), &raw, "xnn_create_constant_pad_nd_x8");
  Step& s = b.add_step({x}, {y});
  s.op = std::move(op);
  s.bind = [x, y, shape, pre, post, &b](Step& step, const Binder& bd) {
    b.check(xnn_setup_constant_pad_nd_x8(step.op.get(), shape.size(), shape.data(), pre.data(), post.data(), bd.ptr(x),
                                         bd.ptr(y), bd.pool()),
            "xnn_setup_constant_pad_nd_x8");
  };
}

// Elementwise activations as a 256-entry table: y = quantize_out(f(dequantize_in(x))).
// Exact for any int8 → int8 function, and it requantizes (RELU's output keeps only the
// non-negative range, so it gets its own, finer scale).
float activation(const ir::Node& n, const std::pair<float, float>& bounds, float x) {
  switch (n.op) {
    case ir::Op::Sigmoid: return 1.0f / (1.0f + std::exp(-x));
    case ir::Op::Tanh: return std::tanh(x);
    case ir::Op::HardSwish: return x * std::clamp(x + 3.0f, 0.0f, 6.0f) / 6.0f;
    default: return std::clamp(x, bounds.first, bounds.second);
  }
}

void lower_lut_q(Builder& b, const ir::Node& n) {
  const Q qx = qof(b.input_tensor(0)), qy = qof(b.graph.tensors[n.outputs[0]]);
  std::pair<float, float> bounds{0.0f, std::numeric_limits<float>::infinity()};
  if (n.op == ir::Op::Clip) bounds = *clamp_bounds(b.graph, n);
  std::array<std::int8_t, 256> table{};
  for (int v = -128; v <= 127; ++v) {
    const float x = qx.scale * static_cast<float>(v - qx.zero_point);
    table[static_cast<std::size_t>(v + 128)] = quantize_bound(activation(n, bounds, x), qy);
  }
  const int x = b.input(0);
  const int y = b.make_output(0, Order::kLogical);
  const auto count = static_cast<std::size_t>(b.values[x].size());
  b.add_kernel({x}, {y}, [x, y, count, table](const Binder& bd) {
    const std::int8_t* in = i8(bd, x);
    std::int8_t* out = i8(bd, y);
    return [in, out, count, table] {
      for (std::size_t i = 0; i < count; ++i) out[i] = table[static_cast<std::size_t>(in[i] + 128)];
    };
  });
}

// Concatenation as a custom kernel: each input's slices are copied, requantized to the
// output's parameters when they differ (TFLite's int8 CONCATENATION does the same).
void lower_concat_q(Builder& b, const ir::Node& n) {
  const ir::Tensor& yt = b.graph.tensors[n.outputs[0]];
  const Q qy = qof(yt);
  const Dims yd = yt.shape.extents();
  const auto axis = static_cast<std::size_t>(*normalize_axis(n.attrs.get_int("axis", 0), yd.size()));
  std::size_t outer = 1, inner = 1;
  for (std::size_t i = 0; i < axis; ++i) outer *= static_cast<std::size_t>(yd[i]);
  for (std::size_t i = axis + 1; i < yd.size(); ++i) inner *= static_cast<std::size_t>(yd[i]);
  struct Part {
    int value;
    std::size_t width;                 // elements per outer slice
    bool copy;                         // same parameters and no clamp: bytes as they are
    std::array<std::int8_t, 256> map;  // otherwise: requantization table
  };
  const auto [qmin, qmax] = int8_range(n, yt);
  std::vector<Part> parts;
  std::vector<int> reads;
  for (std::size_t k = 0; k < n.inputs.size(); ++k) {
    const ir::Tensor& t = b.input_tensor(k);
    const Q q = qof(t);
    const int v = b.input(k);
    Part p{v,
           static_cast<std::size_t>(t.shape.extents()[axis]) * inner,
           q.scale == qy.scale && q.zero_point == qy.zero_point && qmin == -128 && qmax == 127,
           {}};
    for (int x = -128; x <= 127; ++x) {
      const float r = q.scale * static_cast<float>(x - q.zero_point);
      p.map[static_cast<std::size_t>(x + 128)] = std::clamp(quantize_bound(r, qy), qmin, qmax);
    }
    parts.push_back(p);
    reads.push_back(v);
  }
  const int y = b.make_output(0, Order::kLogical);
  b.add_kernel(reads, {y}, [parts, outer, y](const Binder& bd) {
    std::vector<const std::int8_t*> src;
    for (const Part& p : parts) src.push_back(i8(bd, p.value));
    std::int8_t* dst = i8(bd, y);
    return [parts, src, dst, outer] {
      std::int8_t* out = dst;
      for (std::size_t o = 0; o < outer; ++o) {
        for (std::size_t k = 0; k < parts.size(); ++k) {
          const Part& p = parts[k];
          const std::int8_t* in = src[k] + o * p.width;
          if (p.copy) {
            std::memcpy(out, in, p.width);
          } else {
            for (std::size_t i = 0; i < p.width; ++i) out[i] = p.map[static_cast<std::size_t>(in[i] + 128)];
          }
          out += p.width;
        }
      }
    };
  });
}

}  // namespace

std::string activation_quant_problem(const ir::Tensor& t) {
  const std::string name = "'" + t.name + "'";
  if (t.quant.scales.empty()) return name + " is int8 without quantization parameters";
  if (t.quant.scales.size() != 1) return name + " has per-channel parameters; int8 activations are per-tensor";
  const float s = t.quant.scales[0];
  if (!(s > 0.0f) || !std::isfinite(s)) return name + " has scale " + std::to_string(s) + "; it must be finite and > 0";
  const std::int64_t zp = t.quant.zero_points.empty() ? 0 : t.quant.zero_points[0];
  if (zp < -128 || zp > 127) return name + " has zero point " + std::to_string(zp) + ", outside int8 [-128, 127]";
  return {};
}

bool is_quantized_node(const ir::Graph& graph, const GraphFacts& facts, const ir::Node& n) {
  auto runtime_int8 = [&](int t) {
    return t >= 0 && graph.tensors[t].dtype == ir::DType::kInt8 && !graph.tensors[t].is_constant() &&
           !facts.derived[static_cast<std::size_t>(t)];
  };
  for (std::size_t k = 0; k < n.inputs.size(); ++k) {
    if (!is_parameter_input(n, k) && runtime_int8(n.inputs[k])) return true;
  }
  for (int t : n.outputs) {
    if (runtime_int8(t)) return true;
  }
  return false;
}

XnnpackSupport check_quantized(const Check& c, const ir::Node& n) {
  return check_op(c, n);
}

void lower_quantized(Builder& b, const ir::Node& n) {
  using O = ir::Op;
  switch (n.op) {
    case O::Quantize: {
      const int x = b.input(0);
      const int y = quantize_value(b, x, b.graph.tensors[n.outputs[0]]);
      b.set_output(0, y);
      return;
    }
    case O::Dequantize: b.set_output(0, dequantize_value(b, b.input(0), b.input_tensor(0))); return;
    case O::Conv: lower_conv_q(b, n); return;
    case O::FullyConnected:
    case O::Gemm: lower_fc_q(b, n); return;
    case O::Add:
    case O::Mul: lower_binary_q(b, n); return;
    case O::MaxPool: lower_max_pool_q(b, n); return;
    case O::AveragePool:
    case O::ReduceMean: lower_mean_q(b, n); return;
    case O::Pad: lower_pad_q(b, n); return;
    case O::Relu:
    case O::Clip:
    case O::Sigmoid:
    case O::Tanh:
    case O::HardSwish: lower_lut_q(b, n); return;
    case O::Concat: lower_concat_q(b, n); return;
    default: {  // reshape-like: the same bytes under the output's shape
      const int x = b.input(0);
      b.set_output(0, b.alias(x, b.output_dims(0), Order::kLogical));
      return;
    }
  }
}

int quantize_value(Builder& b, int v, const ir::Tensor& t) {
  const Q q = qof(t);
  const int x = b.as_logical(v);
  const int y = b.new_value(b.values[x].logical, Order::kLogical);
  const auto count = static_cast<std::size_t>(b.values[x].size());
  xnn_operator_t raw = nullptr;
  XnnOp op = b.made(xnn_create_convert_nc_f32_qs8(1, 1, 1, q.scale, q.zero_point, -128, 127, 0, &raw), &raw,
                    "xnn_create_convert_nc_f32_qs8");
  Step& s = b.add_step({x}, {y});
  s.op = std::move(op);
  s.bind = [x, y, count, &b](Step& step, const Binder& bd) {
    b.check(xnn_setup_convert_nc_f32_qs8(step.op.get(), count, bd.ptr(x), i8(bd, y), bd.pool()),
            "xnn_setup_convert_nc_f32_qs8");
  };
  return y;
}

int dequantize_value(Builder& b, int v, const ir::Tensor& t) {
  const Q q = qof(t);
  const int x = b.as_logical(v);
  const int y = b.new_value(b.values[x].logical, Order::kLogical);
  const auto count = static_cast<std::size_t>(b.values[x].size());
  xnn_operator_t raw = nullptr;
  XnnOp op = b.made(xnn_create_convert_nc_qs8_f32(1, 1, 1, q.scale, q.zero_point, 0, &raw), &raw,
                    "xnn_create_convert_nc_qs8_f32");
  Step& s = b.add_step({x}, {y});
  s.op = std::move(op);
  s.bind = [x, y, count, &b](Step& step, const Binder& bd) {
    b.check(xnn_setup_convert_nc_qs8_f32(step.op.get(), count, i8(bd, x), bd.ptr(y), bd.pool()),
            "xnn_setup_convert_nc_qs8_f32");
  };
  return y;
}

}  // namespace infercast::runtime::xnnpack
