// Spatial ops on NHWC data: convolution (grouped, depthwise, dilated, asymmetric
// pads), transposed convolution, max/average/global pooling, batch normalization,
// resize, depth↔space. Weights are repacked to XNNPACK's layouts here, once.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "runtime/xnnpack/ops.hpp"

namespace infercast::runtime::xnnpack {

// Reads kernel_shape/strides/dilations/pads for 1 or 2 spatial dims; empty string on success.
std::string read_window(const ir::Node& n, std::size_t spatial, Window& w, bool need_kernel) {
  const auto k = n.attrs.get_ints("kernel_shape");
  const auto s = n.attrs.get_ints("strides");
  const auto d = n.attrs.get_ints("dilations");
  const auto p = n.attrs.get_ints("pads");
  if (need_kernel && k.size() != spatial) return "kernel_shape does not have " + std::to_string(spatial) + " values";
  if (!s.empty() && s.size() != spatial) return "strides do not have " + std::to_string(spatial) + " values";
  if (!d.empty() && d.size() != spatial) return "dilations do not have " + std::to_string(spatial) + " values";
  if (p.size() != 2 * spatial) return "pads are not resolved to " + std::to_string(2 * spatial) + " values";
  auto at = [](const std::vector<std::int64_t>& v, std::size_t i, std::int64_t fallback) {
    return i < v.size() ? v[i] : fallback;
  };
  if (spatial == 2) {
    w.kh = at(k, 0, 1), w.kw = at(k, 1, 1);
    w.sh = at(s, 0, 1), w.sw = at(s, 1, 1);
    w.dh = at(d, 0, 1), w.dw = at(d, 1, 1);
    w.top = p[0], w.left = p[1], w.bottom = p[2], w.right = p[3];
  } else {  // 1-D: width only
    w.kw = at(k, 0, 1), w.sw = at(s, 0, 1), w.dw = at(d, 0, 1);
    w.left = p[0], w.right = p[1];
  }
  for (auto v : {w.kh, w.kw, w.sh, w.sw, w.dh, w.dw}) {
    if (v < 1 || v > (1 << 20)) return "kernel, stride and dilation must be in [1, 2^20]";
  }
  for (auto v : {w.top, w.left, w.bottom, w.right}) {
    if (v < 0 || v > (1 << 20)) return "negative or huge padding is not supported";
  }
  return {};
}

Nhwc nhwc_of(const Dims& logical, ir::Layout layout) {
  Nhwc g;
  if (layout == ir::Layout::kNHWC) {
    g.n = static_cast<std::size_t>(logical[0]);
    g.h = static_cast<std::size_t>(logical[1]);
    g.w = static_cast<std::size_t>(logical[2]);
    g.c = static_cast<std::size_t>(logical[3]);
  } else if (logical.size() == 4) {
    g.n = static_cast<std::size_t>(logical[0]);
    g.c = static_cast<std::size_t>(logical[1]);
    g.h = static_cast<std::size_t>(logical[2]);
    g.w = static_cast<std::size_t>(logical[3]);
  } else {  // 1-D NCW
    g.n = static_cast<std::size_t>(logical[0]);
    g.c = static_cast<std::size_t>(logical[1]);
    g.w = static_cast<std::size_t>(logical[2]);
  }
  return g;
}

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::string spatial_rank_problem(const Check& c, const ir::Node& n, int tensor) {
  const std::size_t rank = c.tensor(tensor).shape.rank();
  if (n.layout == ir::Layout::kNHWC) return rank == 4 ? "" : "expects a 4-D NHWC input";
  if (rank == 4 || rank == 3) return {};
  return rank > 4 ? "3-D and higher spatial ops are not supported (XNNPACK 2022 has 2-D kernels only)"
                  : "expects a 3-D or 4-D input";
}

std::pair<float, float> output_range(const Builder& b, const ir::Node& n) {
  float min = -kInf, max = kInf;
  if (auto f = fused_activation_bounds(n, nullptr)) std::tie(min, max) = *f;
  return {std::max(min, b.epilogue.min), std::min(max, b.epilogue.max)};
}

// Per-output-channel scale and shift of an inference BatchNormalization.
void batch_norm_affine(Builder& b, const ir::Node& bn, std::vector<float>& scale, std::vector<float>& shift) {
  const auto gamma = read_float_constant(b.graph, bn.inputs[1]);
  const auto beta = read_float_constant(b.graph, bn.inputs[2]);
  const auto mean = read_float_constant(b.graph, bn.inputs[3]);
  const auto var = read_float_constant(b.graph, bn.inputs[4]);
  const double eps = bn.attrs.get_float("epsilon", 1e-5);
  scale.resize(gamma.size());
  shift.resize(gamma.size());
  for (std::size_t c = 0; c < gamma.size(); ++c) {
    const double s = gamma[c] / std::sqrt(static_cast<double>(var[c]) + eps);
    scale[c] = static_cast<float>(s);
    shift[c] = static_cast<float>(beta[c] - mean[c] * s);
  }
}

XnnpackSupport check_bn_params(const Check& c, const ir::Node& n, std::int64_t channels) {
  if (n.inputs.size() < 5) return no("BatchNormalization needs 5 inputs");
  for (std::size_t k = 1; k <= 4; ++k) {
    if (std::string why = input_problem(c, n, k); !why.empty()) return no(why);
    if (!c.tensor(n.inputs[k]).is_constant()) {
      return no("BatchNormalization parameter " + std::to_string(k) + " is not a constant");
    }
    if (*c.tensor(n.inputs[k]).shape.numel() != static_cast<std::uint64_t>(channels)) {
      return no("BatchNormalization parameter " + std::to_string(k) + " does not have one value per channel");
    }
  }
  if (n.attrs.get_int("training_mode", 0) != 0) return no("BatchNormalization in training mode");
  for (std::size_t k = 1; k < n.outputs.size(); ++k) {
    if (c.used(n.outputs[k])) return no("BatchNormalization running statistics outputs are used (training)");
  }
  return yes();
}

}  // namespace

// --- Conv

// Conv and ConvTranspose: a spatial data input, constant weights and an optional
// constant bias (XNNPACK packs weights and bias at prepare).
static std::string conv_inputs_problem(const Check& c, const ir::Node& n) {
  if (std::string why = inputs_problem(c, n, {0, 1}); !why.empty()) return why;
  if (std::string why = spatial_rank_problem(c, n, n.inputs[0]); !why.empty()) return why;
  if (!c.constant(n.inputs[1])) return "weights are computed at run time; XNNPACK packs them at prepare";
  if (c.present(n, 2)) {
    if (std::string why = input_problem(c, n, 2); !why.empty()) return why;
    if (!c.constant(n.inputs[2])) return "bias is computed at run time";
  }
  return {};
}

XnnpackSupport check_conv(const Check& c, const ir::Node& n) {
  if (std::string why = conv_inputs_problem(c, n); !why.empty()) return no(why);
  const Dims x = c.tensor(n.inputs[0]).shape.extents();
  const Dims w = c.tensor(n.inputs[1]).shape.extents();
  const std::size_t spatial = x.size() - 2;
  Window win;
  if (std::string why = read_window(n, spatial, win, false); !why.empty()) return no(why);
  const std::int64_t group = n.attrs.get_int("group", 1);
  const std::string layout = n.attrs.get_string("weight_layout", n.layout == ir::Layout::kNHWC ? "OHWI" : "OIHW");
  const std::int64_t cin = n.layout == ir::Layout::kNHWC ? x[3] : x[1];
  if (group < 1 || cin % group != 0) return no("group " + std::to_string(group) + " does not divide the channels");
  if (w.size() != x.size()) return no("weight rank differs from input rank");
  if (layout == "OIHW") {
    if (w[1] * group != cin || w[0] % group != 0) return no("weight shape does not match channels and group");
  } else if (layout == "OHWI") {
    if (w[3] * group != cin || w[0] % group != 0) return no("weight shape does not match channels and group");
  } else if (layout == "1HWO") {
    if (w[0] != 1 || group != cin || w[3] % cin != 0) return no("depthwise weight shape does not match the channels");
  } else {
    return no("weight layout '" + layout + "' is not supported");
  }
  const std::int64_t cout = layout == "1HWO" ? w[3] : w[0];
  if (c.present(n, 2) && static_cast<std::int64_t>(*c.tensor(n.inputs[2]).shape.numel()) != cout) {
    return no("bias size != output channels");
  }
  std::string why;
  if (!fused_activation_bounds(n, &why)) return no(why);
  // What XNNPACK will write: floor((in + pads − dilated kernel) / stride) + 1 per axis.
  const bool nhwc = n.layout == ir::Layout::kNHWC;
  const std::int64_t kh = spatial == 2 ? (layout == "OIHW" ? w[2] : w[1]) : 1;
  const std::int64_t kw = layout == "OIHW" ? w[spatial == 2 ? 3 : 2] : w[2];
  auto extent = [](std::int64_t in, std::int64_t pb, std::int64_t pe, std::int64_t k, std::int64_t s,
                   std::int64_t d) -> std::int64_t {
    const std::int64_t span = in + pb + pe - ((k - 1) * d + 1);
    return span < 0 ? -1 : span / s + 1;
  };
  const Nhwc in = nhwc_of(x, n.layout);
  const std::int64_t oh =
      spatial == 2 ? extent(static_cast<std::int64_t>(in.h), win.top, win.bottom, kh, win.sh, win.dh) : 1;
  const std::int64_t ow = extent(static_cast<std::int64_t>(in.w), win.left, win.right, kw, win.sw, win.dw);
  if (oh < 1 || ow < 1) return no("the kernel is larger than the padded input");
  const Dims want = nhwc ? Dims{x[0], oh, ow, cout} : spatial == 2 ? Dims{x[0], cout, oh, ow} : Dims{x[0], cout, ow};
  if (std::string problem = output_dims_problem(c, n, 0, want); !problem.empty()) return no(problem);
  return yes();
}

void lower_conv(Builder& b, const ir::Node& n) {
  const Order order = b.spatial_order();
  const Dims xl = b.input_dims(0);
  const int x = b.as_order(b.input(0), order);
  const std::size_t spatial = xl.size() - 2;
  Window win;
  if (std::string why = read_window(n, spatial, win, false); !why.empty()) b.fail(why);
  const Nhwc in = nhwc_of(xl, n.layout);
  const Nhwc out = nhwc_of(b.output_dims(0), n.layout);
  const std::int64_t groups = n.attrs.get_int("group", 1);
  const std::string layout = n.attrs.get_string("weight_layout", n.layout == ir::Layout::kNHWC ? "OHWI" : "OIHW");
  const Dims wd = b.input_dims(1);
  const int wv = b.input(1);
  const float* w = b.constant_data(wv);
  std::uint32_t flags = 0;
  std::vector<float> kernel;
  std::size_t cout, kh, kw;
  if (layout == "OIHW") {
    // [O, I/g, (kh,) kw] → [O, kh, kw, I/g] (XNNPACK: groups × group_out × kh × kw × group_in)
    cout = static_cast<std::size_t>(wd[0]);
    const std::size_t ci = static_cast<std::size_t>(wd[1]);
    kh = spatial == 2 ? static_cast<std::size_t>(wd[2]) : 1;
    kw = static_cast<std::size_t>(wd[spatial == 2 ? 3 : 2]);
    kernel.resize(cout * kh * kw * ci);
    for (std::size_t o = 0; o < cout; ++o)
      for (std::size_t i = 0; i < ci; ++i)
        for (std::size_t y = 0; y < kh; ++y)
          for (std::size_t z = 0; z < kw; ++z)
            kernel[((o * kh + y) * kw + z) * ci + i] = w[((o * ci + i) * kh + y) * kw + z];
  } else if (layout == "OHWI") {
    cout = static_cast<std::size_t>(wd[0]);
    kh = static_cast<std::size_t>(wd[1]);
    kw = static_cast<std::size_t>(wd[2]);
    kernel.assign(w, w + numel(wd));
  } else {  // 1HWO: TFLite depthwise, XNNPACK's HWGo layout as is
    cout = static_cast<std::size_t>(wd[3]);
    kh = static_cast<std::size_t>(wd[1]);
    kw = static_cast<std::size_t>(wd[2]);
    kernel.assign(w, w + numel(wd));
    flags |= XNN_FLAG_DEPTHWISE_CONVOLUTION;
  }
  std::vector<float> bias(cout, 0.0f);
  if (b.has_input(2)) {
    const float* bd = b.constant_data(b.input(2));
    std::copy(bd, bd + cout, bias.begin());
  }
  if (b.epilogue.bn_node >= 0) {  // fold: w' = w·s[o], b' = b·s[o] + t[o]
    std::vector<float> scale, shift;
    batch_norm_affine(b, b.graph.nodes[static_cast<std::size_t>(b.epilogue.bn_node)], scale, shift);
    const std::size_t per_o = kernel.size() / cout;
    for (std::size_t o = 0; o < cout; ++o) {
      for (std::size_t i = 0; i < per_o; ++i) kernel[o * per_o + i] *= scale[o];
      bias[o] = bias[o] * scale[o] + shift[o];
    }
  }
  const auto range = output_range(b, n);
  const float min = range.first, max = range.second;
  const std::size_t group_in = in.c / static_cast<std::size_t>(groups);
  const std::size_t group_out = cout / static_cast<std::size_t>(groups);
  xnn_operator_t raw = nullptr;
  XnnOp op = b.made(
      xnn_create_convolution2d_nhwc_f32(
          static_cast<std::uint32_t>(win.top), static_cast<std::uint32_t>(win.right),
          static_cast<std::uint32_t>(win.bottom), static_cast<std::uint32_t>(win.left), static_cast<std::uint32_t>(kh),
          static_cast<std::uint32_t>(kw), static_cast<std::uint32_t>(win.sh), static_cast<std::uint32_t>(win.sw),
          static_cast<std::uint32_t>(win.dh), static_cast<std::uint32_t>(win.dw), static_cast<std::uint32_t>(groups),
          group_in, group_out, in.c, cout, kernel.data(), bias.data(), min, max, flags, &raw),
      &raw, "xnn_create_convolution2d_nhwc_f32");
  const int y = b.make_output(0, order);
  if (out.c != cout)
    b.fail("output channels " + std::to_string(out.c) + " differ from the weights' " + std::to_string(cout));
  Step& s = b.add_step({x}, {y});
  s.op = std::move(op);
  s.bind = [x, y, in, &b](Step& step, const Binder& bd) {
    b.check(xnn_setup_convolution2d_nhwc_f32(step.op.get(), in.n, in.h, in.w, bd.ptr(x), bd.ptr(y), bd.pool()),
            "xnn_setup_convolution2d_nhwc_f32");
  };
}

// --- ConvTranspose

XnnpackSupport check_conv_transpose(const Check& c, const ir::Node& n) {
  if (std::string why = conv_inputs_problem(c, n); !why.empty()) return no(why);
  const Dims x = c.tensor(n.inputs[0]).shape.extents();
  const Dims w = c.tensor(n.inputs[1]).shape.extents();
  const std::size_t spatial = x.size() - 2;
  Window win;
  if (std::string why = read_window(n, spatial, win, false); !why.empty()) return no(why);
  const std::int64_t group = n.attrs.get_int("group", 1);
  const std::string layout = n.attrs.get_string("weight_layout", "IOHW");
  if (w.size() != x.size()) return no("weight rank differs from input rank");
  const std::int64_t cin = n.layout == ir::Layout::kNHWC ? x[3] : x[1];
  if (layout == "IOHW") {
    if (group < 1 || w[0] != cin || cin % group != 0) return no("weight shape does not match channels and group");
  } else if (layout == "OHWI") {
    if (group != 1 || w[3] != cin) return no("weight shape does not match the channels");
  } else {
    return no("weight layout '" + layout + "' is not supported");
  }
  const auto op = n.attrs.get_ints("output_padding");
  for (auto v : op) {
    if (v < 0) return no("negative output_padding");
  }
  const Dims y = c.tensor(n.outputs[0]).shape.extents();
  const std::int64_t cout = layout == "IOHW" ? w[1] * group : w[0];
  if (y.size() != x.size() || y[0] != x[0] || (n.layout == ir::Layout::kNHWC ? y[3] : y[1]) != cout) {
    return no("declared output " + dims_str(y) + " does not have the batch and " + std::to_string(cout) + " channels");
  }
  std::string why;
  if (!fused_activation_bounds(n, &why)) return no(why);
  return yes();
}

void lower_conv_transpose(Builder& b, const ir::Node& n) {
  const Order order = b.spatial_order();
  const Dims xl = b.input_dims(0);
  const int x = b.as_order(b.input(0), order);
  const std::size_t spatial = xl.size() - 2;
  Window win;
  if (std::string why = read_window(n, spatial, win, false); !why.empty()) b.fail(why);
  const Nhwc in = nhwc_of(xl, n.layout);
  const Nhwc out = nhwc_of(b.output_dims(0), n.layout);
  const std::int64_t groups = n.attrs.get_int("group", 1);
  const std::string layout = n.attrs.get_string("weight_layout", "IOHW");
  const Dims wd = b.input_dims(1);
  const float* w = b.constant_data(b.input(1));
  std::vector<float> kernel;
  std::size_t cout, kh, kw;
  if (layout == "IOHW") {
    // [Cin, Cout/g, (kh,) kw] → [g, Cout/g, kh, kw, Cin/g]
    const std::size_t cin = static_cast<std::size_t>(wd[0]);
    const std::size_t og = static_cast<std::size_t>(wd[1]);
    const std::size_t g = static_cast<std::size_t>(groups);
    const std::size_t ig = cin / g;
    kh = spatial == 2 ? static_cast<std::size_t>(wd[2]) : 1;
    kw = static_cast<std::size_t>(wd[spatial == 2 ? 3 : 2]);
    cout = og * g;
    kernel.resize(cout * kh * kw * ig);
    for (std::size_t gi = 0; gi < g; ++gi)
      for (std::size_t i = 0; i < ig; ++i)
        for (std::size_t o = 0; o < og; ++o)
          for (std::size_t y = 0; y < kh; ++y)
            for (std::size_t z = 0; z < kw; ++z)
              kernel[(((gi * og + o) * kh + y) * kw + z) * ig + i] = w[(((gi * ig + i) * og + o) * kh + y) * kw + z];
  } else {  // OHWI
    cout = static_cast<std::size_t>(wd[0]);
    kh = static_cast<std::size_t>(wd[1]);
    kw = static_cast<std::size_t>(wd[2]);
    kernel.assign(w, w + numel(wd));
  }
  if (out.c != cout) b.fail("output channels differ from the weights'");
  std::vector<float> bias(cout, 0.0f);
  if (b.has_input(2)) {
    const float* bd = b.constant_data(b.input(2));
    std::copy(bd, bd + cout, bias.begin());
  }
  // Padding and output adjustment reproduce the declared output size. An explicit
  // output_shape (ONNX) overrides pads: total = s·(in−1) + output_padding + ((k−1)·d+1) − out.
  const auto output_padding = n.attrs.get_ints("output_padding");
  auto op_at = [&](std::size_t i) -> std::int64_t {
    if (output_padding.size() == spatial) return output_padding[i];
    return 0;
  };
  const bool explicit_shape = n.attrs.has("output_shape");
  const bool same_upper = n.attrs.get_string("auto_pad", "NOTSET") == "SAME_UPPER";
  auto axis = [&](std::int64_t in_len, std::int64_t out_len, std::int64_t k, std::int64_t s, std::int64_t d,
                  std::int64_t adj_attr, std::int64_t& pb, std::int64_t& pe, std::int64_t& adj) {
    const std::int64_t full = s * (in_len - 1) + (k - 1) * d + 1;
    if (explicit_shape) {
      // ONNX: total = s·(in−1) + output_padding + ((k−1)·d+1) − out, split with floor division;
      // a negative end pad (out larger than the full result) becomes output adjustment.
      const std::int64_t total = full + adj_attr - out_len;
      const std::int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
      pb = same_upper ? half : total - half;
      pe = same_upper ? total - half : half;
      if (pb < 0) b.fail("output_shape needs negative leading padding");
      pe = std::max<std::int64_t>(pe, 0);
    }
    adj = out_len - (full - pb - pe);
    if (adj < 0 || adj >= std::max(s, d)) {
      b.fail("output size " + std::to_string(out_len) + " is not reachable with these pads and strides");
    }
  };
  std::int64_t adj_h = 0, adj_w = 0;
  if (spatial == 2) {
    axis(static_cast<std::int64_t>(in.h), static_cast<std::int64_t>(out.h), static_cast<std::int64_t>(kh), win.sh,
         win.dh, op_at(0), win.top, win.bottom, adj_h);
  }
  axis(static_cast<std::int64_t>(in.w), static_cast<std::int64_t>(out.w), static_cast<std::int64_t>(kw), win.sw, win.dw,
       op_at(spatial - 1), win.left, win.right, adj_w);
  const auto range = output_range(b, n);
  const float min = range.first, max = range.second;
  const std::size_t group_in = in.c / static_cast<std::size_t>(groups);
  const std::size_t group_out = cout / static_cast<std::size_t>(groups);
  xnn_operator_t raw = nullptr;
  XnnOp op = b.made(
      xnn_create_deconvolution2d_nhwc_f32(
          static_cast<std::uint32_t>(win.top), static_cast<std::uint32_t>(win.right),
          static_cast<std::uint32_t>(win.bottom), static_cast<std::uint32_t>(win.left), static_cast<std::uint32_t>(kh),
          static_cast<std::uint32_t>(kw), static_cast<std::uint32_t>(win.sh), static_cast<std::uint32_t>(win.sw),
          static_cast<std::uint32_t>(win.dh), static_cast<std::uint32_t>(win.dw), static_cast<std::uint32_t>(groups),
          group_in, group_out, in.c, cout, kernel.data(), bias.data(), min, max, 0, &raw),
      &raw, "xnn_create_deconvolution2d_nhwc_f32");
  const int y = b.make_output(0, order);
  Step& s = b.add_step({x}, {y});
  s.op = std::move(op);
  s.bind = [x, y, in, adj_h, adj_w, &b](Step& step, const Binder& bd) {
    b.check(xnn_setup_deconvolution2d_nhwc_f32(step.op.get(), in.n, in.h, in.w, static_cast<std::uint32_t>(adj_h),
                                               static_cast<std::uint32_t>(adj_w), bd.ptr(x), bd.ptr(y), bd.pool()),
            "xnn_setup_deconvolution2d_nhwc_f32");
  };
}

// --- MaxPool / AveragePool

XnnpackSupport check_pool(const Check& c, const ir::Node& n) {
  if (std::string why = input_problem(c, n, 0); !why.empty()) return no(why);
  if (std::string why = spatial_rank_problem(c, n, n.inputs[0]); !why.empty()) return no(why);
  if (n.outputs.size() > 1 && c.used(n.outputs[1])) return no("MaxPool indices output is not supported");
  const std::size_t spatial = c.tensor(n.inputs[0]).shape.rank() - 2;
  Window win;
  if (std::string why = read_window(n, spatial, win, true); !why.empty()) return no(why);
  if (n.op == ir::Op::AveragePool && (win.dh != 1 || win.dw != 1)) return no("AveragePool with dilations");
  if (n.attrs.get_int("storage_order", 0) != 0) return no("storage_order=1");
  std::string why;
  if (!fused_activation_bounds(n, &why)) return no(why);
  // The declared output must be what floor or ceil rounding gives.
  const Nhwc in = nhwc_of(c.tensor(n.inputs[0]).shape.extents(), n.layout);
  if (c.tensor(n.outputs[0]).shape.rank() != c.tensor(n.inputs[0]).shape.rank()) return no("output rank differs");
  const Nhwc out = nhwc_of(c.tensor(n.outputs[0]).shape.extents(), n.layout);
  if (in.n != out.n || in.c != out.c) return no("output batch or channels differ from the input's");
  auto reachable = [](std::int64_t i, std::int64_t o, std::int64_t pb, std::int64_t pe, std::int64_t k, std::int64_t s,
                      std::int64_t d) {
    const std::int64_t span = i + pb + pe - ((k - 1) * d + 1);
    if (span < 0) return false;
    return o == span / s + 1 || o == (span + s - 1) / s + 1;
  };
  if (!reachable(static_cast<std::int64_t>(in.h), static_cast<std::int64_t>(out.h), win.top, win.bottom, win.kh, win.sh,
                 win.dh) ||
      !reachable(static_cast<std::int64_t>(in.w), static_cast<std::int64_t>(out.w), win.left, win.right, win.kw, win.sw,
                 win.dw)) {
    return no("output size does not follow from the window (floor or ceil)");
  }
  return yes();
}

void lower_pool(Builder& b, const ir::Node& n) {
  const Order order = b.spatial_order();
  const Dims xl = b.input_dims(0);
  int x = b.as_order(b.input(0), order);
  Window win;
  if (std::string why = read_window(n, xl.size() - 2, win, true); !why.empty()) b.fail(why);
  Nhwc in = nhwc_of(xl, n.layout);
  const Nhwc out = nhwc_of(b.output_dims(0), n.layout);
  const auto range = output_range(b, n);
  const float min = range.first, max = range.second;
  const bool average = n.op == ir::Op::AveragePool;

  // count_include_pad: pad with zeros explicitly, then pool without padding.
  if (average && n.attrs.get_int("count_include_pad", 0) != 0 && (win.top || win.left || win.bottom || win.right)) {
    const Dims pd{static_cast<std::int64_t>(in.n), static_cast<std::int64_t>(in.h + win.top + win.bottom),
                  static_cast<std::int64_t>(in.w + win.left + win.right), static_cast<std::int64_t>(in.c)};
    const int padded = b.new_value(pd, Order::kLogical);
    static const float zero = 0.0f;
    xnn_operator_t raw = nullptr;
    XnnOp op = b.made(xnn_create_constant_pad_nd_x32(&zero, 0, &raw), &raw, "xnn_create_constant_pad_nd_x32");
    Step& s = b.add_step({x}, {padded});
    s.op = std::move(op);
    const std::array<std::size_t, 4> shape{in.n, in.h, in.w, in.c};
    const std::array<std::size_t, 4> pre{0, static_cast<std::size_t>(win.top), static_cast<std::size_t>(win.left), 0};
    const std::array<std::size_t, 4> post{0, static_cast<std::size_t>(win.bottom), static_cast<std::size_t>(win.right),
                                          0};
    s.bind = [x, padded, shape, pre, post, &b](Step& step, const Binder& bd) {
      b.check(xnn_setup_constant_pad_nd_x32(step.op.get(), 4, shape.data(), pre.data(), post.data(), bd.ptr(x),
                                            bd.ptr(padded), bd.pool()),
              "xnn_setup_constant_pad_nd_x32");
    };
    x = padded;
    in.h += static_cast<std::size_t>(win.top + win.bottom);
    in.w += static_cast<std::size_t>(win.left + win.right);
    win.top = win.left = win.bottom = win.right = 0;
  }
  // ceil_mode: extra bottom/right padding until the floor formula gives the declared size
  // (XNNPACK ignores padded elements in both max and average).
  auto extend = [](std::size_t i, std::size_t o, std::int64_t pb, std::int64_t& pe, std::int64_t k, std::int64_t s,
                   std::int64_t d) {
    const std::int64_t need = (static_cast<std::int64_t>(o) - 1) * s + (k - 1) * d + 1;
    const std::int64_t have = static_cast<std::int64_t>(i) + pb + pe;
    if (need > have) pe += need - have;
  };
  extend(in.h, out.h, win.top, win.bottom, win.kh, win.sh, win.dh);
  extend(in.w, out.w, win.left, win.right, win.kw, win.sw, win.dw);

  const int y = b.make_output(0, order);
  if (win.kh == 1 && win.kw == 1) {
    // XNNPACK rejects 1×1 windows: a strided subsample (pads < kernel, so none).
    kernels::Gather g;
    const auto c = static_cast<std::int64_t>(in.c);
    g.dims = {static_cast<std::int64_t>(out.n), static_cast<std::int64_t>(out.h), static_cast<std::int64_t>(out.w), c};
    g.strides = {static_cast<std::int64_t>(in.h * in.w) * c, win.sh * static_cast<std::int64_t>(in.w) * c, win.sw * c,
                 1};
    b.add_kernel({x}, {y}, [x, y, g, min, max](const Binder& bd) {
      const float* px = bd.ptr(x);
      float* py = bd.ptr(y);
      const std::size_t count = static_cast<std::size_t>(numel(g.dims));
      pthreadpool_t pool = bd.pool();
      return [=] {
        kernels::gather(px, py, g, pool);
        for (std::size_t i = 0; i < count; ++i) py[i] = std::min(std::max(py[i], min), max);
      };
    });
    return;
  }
  xnn_operator_t raw = nullptr;
  XnnOp op;
  if (average) {
    op = b.made(
        xnn_create_average_pooling2d_nhwc_f32(
            static_cast<std::uint32_t>(win.top), static_cast<std::uint32_t>(win.right),
            static_cast<std::uint32_t>(win.bottom), static_cast<std::uint32_t>(win.left),
            static_cast<std::uint32_t>(win.kh), static_cast<std::uint32_t>(win.kw), static_cast<std::uint32_t>(win.sh),
            static_cast<std::uint32_t>(win.sw), in.c, in.c, in.c, min, max, 0, &raw),
        &raw, "xnn_create_average_pooling2d_nhwc_f32");
  } else {
    op = b.made(
        xnn_create_max_pooling2d_nhwc_f32(static_cast<std::uint32_t>(win.top), static_cast<std::uint32_t>(win.right),
                                          static_cast<std::uint32_t>(win.bottom), static_cast<std::uint32_t>(win.left),
                                          static_cast<std::uint32_t>(win.kh), static_cast<std::uint32_t>(win.kw),
                                          static_cast<std::uint32_t>(win.sh), static_cast<std::uint32_t>(win.sw),
                                          static_cast<std::uint32_t>(win.dh), static_cast<std::uint32_t>(win.dw), in.c,
                                          in.c, in.c, min, max, 0, &raw),
        &raw, "xnn_create_max_pooling2d_nhwc_f32");
  }
  Step& s = b.add_step({x}, {y});
  s.op = std::move(op);
  s.bind = [x, y, in, average, &b](Step& step, const Binder& bd) {
    if (average) {
      b.check(xnn_setup_average_pooling2d_nhwc_f32(step.op.get(), in.n, in.h, in.w, bd.ptr(x), bd.ptr(y), bd.pool()),
              "xnn_setup_average_pooling2d_nhwc_f32");
    } else {
      b.check(xnn_setup_max_pooling2d_nhwc_f32(step.op.get(), in.n, in.h, in.w, bd.ptr(x), bd.ptr(y), bd.pool()),
              "xnn_setup_max_pooling2d_nhwc_f32");
    }
  };
}

// --- GlobalAveragePool / GlobalMaxPool

XnnpackSupport check_global_pool(const Check& c, const ir::Node& n) {
  if (std::string why = input_problem(c, n, 0); !why.empty()) return no(why);
  const Dims x = c.tensor(n.inputs[0]).shape.extents();
  if (x.size() < 3) return no("expects an input of rank >= 3");
  Dims want(x.size(), 1);
  want[0] = x[0];
  if (n.layout == ir::Layout::kNHWC) {
    want.back() = x.back();
  } else {
    want[1] = x[1];
  }
  if (std::string why = output_dims_problem(c, n, 0, want); !why.empty()) return no(why);
  return yes();
}

void lower_global_pool(Builder& b, const ir::Node& n) {
  const Dims xl = b.input_dims(0);
  const Order order = n.layout == ir::Layout::kNHWC ? Order::kLogical : Order::kChannelsLast;
  const int x = b.as_order(b.input(0), order);
  const Dims phys = b.values[x].dims();
  const std::size_t batch = static_cast<std::size_t>(phys.front());
  const std::size_t channels = static_cast<std::size_t>(phys.back());
  const std::size_t width = static_cast<std::size_t>(numel(phys)) / batch / channels;
  const int y = b.make_output(0, order);
  if (n.op == ir::Op::GlobalMaxPool) {
    const Dims dims{static_cast<std::int64_t>(batch), static_cast<std::int64_t>(width),
                    static_cast<std::int64_t>(channels)};
    b.add_kernel({x}, {y}, [x, y, dims](const Binder& bd) {
      const float* px = bd.ptr(x);
      float* py = bd.ptr(y);
      pthreadpool_t pool = bd.pool();
      return [=] { kernels::reduce(px, py, dims, {false, true, false}, kernels::Reduce::kMax, pool); };
    });
    return;
  }
  xnn_operator_t raw = nullptr;
  XnnOp op = b.made(xnn_create_global_average_pooling_nwc_f32(channels, channels, channels, -kInf, kInf, 0, &raw), &raw,
                    "xnn_create_global_average_pooling_nwc_f32");
  Step& s = b.add_step({x}, {y});
  s.op = std::move(op);
  s.bind = [x, y, batch, width, &b](Step& step, const Binder& bd) {
    b.check(xnn_setup_global_average_pooling_nwc_f32(step.op.get(), batch, width, bd.ptr(x), bd.ptr(y), bd.pool()),
            "xnn_setup_global_average_pooling_nwc_f32");
  };
}

// --- BatchNormalization (when not folded into a convolution)

XnnpackSupport check_batch_norm(const Check& c, const ir::Node& n) {
  if (std::string why = input_problem(c, n, 0); !why.empty()) return no(why);
  const Dims x = c.tensor(n.inputs[0]).shape.extents();
  if (x.size() < 2) return no("expects an input of rank >= 2");
  if (std::string why = output_dims_problem(c, n, 0, x); !why.empty()) return no(why);
  return check_bn_params(c, n, n.layout == ir::Layout::kNHWC ? x.back() : x[1]);
}

void lower_batch_norm(Builder& b, const ir::Node& n) {
  const Dims xl = b.input_dims(0);
  const Order order = xl.size() >= 3 ? b.spatial_order() : Order::kLogical;
  const int x = b.as_order(b.input(0), order);
  std::vector<float> scale, shift;
  batch_norm_affine(b, n, scale, shift);
  const std::size_t channels = scale.size();
  const std::size_t rows = static_cast<std::size_t>(numel(xl)) / channels;
  const int sv = b.new_constant(scale, {static_cast<std::int64_t>(channels)}, Order::kLogical);
  const int tv = b.new_constant(shift, {static_cast<std::int64_t>(channels)}, Order::kLogical);
  const int y = b.make_output(0, order);
  const float min = b.epilogue.min, max = b.epilogue.max;
  b.add_kernel({x, sv, tv}, {y}, [=](const Binder& bd) {
    const float* px = bd.ptr(x);
    float* py = bd.ptr(y);
    const float* ps = bd.ptr(sv);
    const float* pt = bd.ptr(tv);
    pthreadpool_t pool = bd.pool();
    return [=] { kernels::channel_affine(px, py, rows, channels, ps, pt, min, max, pool); };
  });
}

XnnpackSupport check_bn_fold(const Check& c, const ir::Node& conv, const ir::Node& bn) {
  if (conv.op != ir::Op::Conv || conv.layout != ir::Layout::kNCHW) return no("not an ONNX convolution");
  const Dims w = c.tensor(conv.inputs[1]).shape.extents();
  return check_bn_params(c, bn, w.empty() ? 0 : w[0]);
}

// --- Resize

namespace {

struct ResizeSpec {
  std::string mode;                 // "nearest" or "linear"
  std::string coordinates;          // ONNX coordinate_transformation_mode
  std::string nearest;              // ONNX nearest_mode
  double scale_h = 0, scale_w = 0;  // output/input as the model states it
};

std::string resize_spec(const Check& c, const ir::Node& n, ResizeSpec& spec) {
  const Dims x = c.tensor(n.inputs[0]).shape.extents();
  const Dims y = c.tensor(n.outputs[0]).shape.extents();
  if (x.size() != 4 || y.size() != 4) return "only 4-D resize is supported";
  const bool nhwc = n.layout == ir::Layout::kNHWC;
  const std::size_t ha = nhwc ? 1 : 2, wa = nhwc ? 2 : 3, ca = nhwc ? 3 : 1;
  if (x[0] != y[0] || x[ca] != y[ca]) return "resizing the batch or channel axis is not supported";
  spec.mode = n.attrs.get_string("mode", "nearest");
  if (spec.mode == "bilinear") spec.mode = "linear";
  if (spec.mode != "nearest" && spec.mode != "linear") return "mode '" + spec.mode + "' is not supported";
  const bool legacy = n.source_op == "Upsample" || (n.layout == ir::Layout::kNCHW && c.graph.meta.opset < 11);
  spec.coordinates = n.attrs.get_string("coordinate_transformation_mode", legacy ? "asymmetric" : "half_pixel");
  spec.nearest = n.attrs.get_string("nearest_mode", legacy ? "floor" : "round_prefer_floor");
  if (nhwc && spec.mode == "nearest") {
    spec.nearest = spec.coordinates == "align_corners" ? "round_prefer_ceil" : "floor";
  }
  static const char* kModes[] = {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                                 "tf_half_pixel_for_nn"};
  if (std::find(std::begin(kModes), std::end(kModes), spec.coordinates) == std::end(kModes)) {
    return "coordinate_transformation_mode '" + spec.coordinates + "' is not supported";
  }
  if (n.attrs.get_int("antialias", 0) != 0) return "antialias is not supported";
  if (n.attrs.has("axes")) return "the axes attribute is not supported";
  // Scales the coordinate transform uses: given scales, or output/input when sizes are given.
  spec.scale_h = static_cast<double>(y[ha]) / static_cast<double>(x[ha]);
  spec.scale_w = static_cast<double>(y[wa]) / static_cast<double>(x[wa]);
  if (nhwc) return {};
  std::optional<std::vector<float>> scales;
  bool sizes = false;
  if (const auto* a = n.attrs.find("scales"); a != nullptr) {
    if (const auto* v = std::get_if<std::vector<double>>(a)) scales = std::vector<float>(v->begin(), v->end());
  }
  const std::size_t scales_input = n.source_op == "Resize" && c.graph.meta.opset >= 11 ? 2 : 1;
  if (c.present(n, scales_input) && *c.tensor(n.inputs[scales_input]).shape.numel() > 0) {
    scales = c.floats(n.inputs[scales_input]);
    if (!scales) return "scales are not a constant";
  }
  if (n.source_op == "Resize" && c.graph.meta.opset >= 11 && c.present(n, 3) &&
      *c.tensor(n.inputs[3]).shape.numel() > 0) {
    sizes = true;
  }
  if (!sizes) {
    if (!scales || scales->size() != 4) return "needs 4 constant scales or sizes";
    if ((*scales)[0] != 1.0f || (*scales)[1] != 1.0f) return "scales on the batch or channel axis";
    spec.scale_h = (*scales)[2];
    spec.scale_w = (*scales)[3];
  }
  return {};
}

kernels::ResizeAxis resize_axis(const ResizeSpec& spec, std::int64_t in, std::int64_t out, double scale) {
  kernels::ResizeAxis a;
  for (std::int64_t o = 0; o < out; ++o) {
    double xo;
    const std::string& m = spec.coordinates;
    if (m == "half_pixel") {
      xo = (o + 0.5) / scale - 0.5;
    } else if (m == "pytorch_half_pixel") {
      xo = out > 1 ? (o + 0.5) / scale - 0.5 : 0.0;
    } else if (m == "align_corners") {
      // ONNX divides by (in·scale − 1): the unrounded output length when scales are given.
      const double len = static_cast<double>(in) * scale - 1.0;
      xo = len <= 0.0 ? 0.0 : static_cast<double>(o) * static_cast<double>(in - 1) / len;
    } else if (m == "tf_half_pixel_for_nn") {
      xo = (o + 0.5) / scale;
    } else {  // asymmetric
      xo = o / scale;
    }
    if (spec.mode == "nearest") {
      double r;
      const std::string& nm = spec.nearest;
      if (nm == "floor") {
        r = std::floor(xo);
      } else if (nm == "ceil") {
        r = std::ceil(xo);
      } else if (nm == "round_prefer_ceil") {
        r = std::floor(xo + 0.5);
      } else {  // round_prefer_floor
        r = std::ceil(xo - 0.5);
      }
      const std::int64_t i = std::clamp<std::int64_t>(static_cast<std::int64_t>(r), 0, in - 1);
      a.i0.push_back(i);
      a.i1.push_back(i);
      a.w.push_back(0.0f);
    } else {
      const double c = std::clamp(xo, 0.0, static_cast<double>(in - 1));
      const std::int64_t i0 = static_cast<std::int64_t>(std::floor(c));
      const std::int64_t i1 = std::min(i0 + 1, in - 1);
      a.i0.push_back(i0);
      a.i1.push_back(i1);
      a.w.push_back(static_cast<float>(c - static_cast<double>(i0)));
    }
  }
  return a;
}

}  // namespace

XnnpackSupport check_resize(const Check& c, const ir::Node& n) {
  if (std::string why = input_problem(c, n, 0); !why.empty()) return no(why);
  ResizeSpec spec;
  if (std::string why = resize_spec(c, n, spec); !why.empty()) return no(why);
  return yes();
}

void lower_resize(Builder& b, const ir::Node& n) {
  const Check c(b.graph, b.facts);
  ResizeSpec spec;
  if (std::string why = resize_spec(c, n, spec); !why.empty()) b.fail(why);
  const Order order = b.spatial_order();
  const Dims xl = b.input_dims(0);
  const int x = b.as_order(b.input(0), order);
  const Nhwc in = nhwc_of(xl, n.layout);
  const Nhwc out = nhwc_of(b.output_dims(0), n.layout);
  const int y = b.make_output(0, order);
  // XNNPACK's bilinear resize: TFLite's own modes (it is TFLite's engine), and ONNX
  // half_pixel / align_corners when the scale is output/input (the coordinate transform
  // is then the same; ONNX's backend tests and the pytorch_half_pixel cross-check in
  // executor_test.cpp confirm it). Other ONNX linear cases use the custom kernel.
  const bool tflite = n.layout == ir::Layout::kNHWC;
  const bool consistent = std::fabs(spec.scale_h * static_cast<double>(in.h) - static_cast<double>(out.h)) < 1e-9 &&
                          std::fabs(spec.scale_w * static_cast<double>(in.w) - static_cast<double>(out.w)) < 1e-9;
  const bool xnn_mode = spec.coordinates == "half_pixel" || spec.coordinates == "align_corners";
  if ((tflite || (consistent && xnn_mode)) && spec.mode == "linear") {
    std::uint32_t flags = 0;
    if (spec.coordinates == "align_corners") flags |= XNN_FLAG_ALIGN_CORNERS;
    if (spec.coordinates == "asymmetric") flags |= XNN_FLAG_TENSORFLOW_LEGACY_MODE;
    xnn_operator_t raw = nullptr;
    XnnOp op = b.made(xnn_create_resize_bilinear2d_nhwc_f32(in.c, in.c, in.c, flags, &raw), &raw,
                      "xnn_create_resize_bilinear2d_nhwc_f32");
    Step& s = b.add_step({x}, {y});
    s.op = std::move(op);
    s.bind = [x, y, in, out, &b](Step& step, const Binder& bd) {
      b.check(xnn_setup_resize_bilinear2d_nhwc_f32(step.op.get(), in.n, in.h, in.w, out.h, out.w, bd.ptr(x), bd.ptr(y),
                                                   bd.pool()),
              "xnn_setup_resize_bilinear2d_nhwc_f32");
    };
    return;
  }
  const auto ay = resize_axis(spec, static_cast<std::int64_t>(in.h), static_cast<std::int64_t>(out.h), spec.scale_h);
  const auto ax = resize_axis(spec, static_cast<std::int64_t>(in.w), static_cast<std::int64_t>(out.w), spec.scale_w);
  const bool linear = spec.mode == "linear";
  b.add_kernel({x}, {y}, [=](const Binder& bd) {
    const float* px = bd.ptr(x);
    float* py = bd.ptr(y);
    pthreadpool_t pool = bd.pool();
    return [=] { kernels::resize_nhwc(px, py, in.n, in.h, in.w, in.c, ay, ax, linear, pool); };
  });
}

// --- DepthToSpace / SpaceToDepth

XnnpackSupport check_depth_space(const Check& c, const ir::Node& n) {
  if (std::string why = input_problem(c, n, 0); !why.empty()) return no(why);
  if (c.tensor(n.inputs[0]).shape.rank() != 4) return no("expects a 4-D input");
  const std::int64_t bs = n.attrs.get_int("blocksize", 0);
  if (bs < 1) return no("blocksize must be >= 1");
  const std::string mode = n.attrs.get_string("mode", "DCR");
  if (mode != "DCR" && mode != "CRD") return no("mode '" + mode + "' is not supported");
  const Dims x = c.tensor(n.inputs[0]).shape.extents();
  const bool nhwc = n.layout == ir::Layout::kNHWC;
  const std::int64_t h = x[nhwc ? 1 : 2], w = x[nhwc ? 2 : 3], ch = x[nhwc ? 3 : 1];
  std::int64_t oh, ow, oc;
  if (n.op == ir::Op::DepthToSpace) {
    if (ch % (bs * bs) != 0) return no("channels are not a multiple of blocksize²");
    oh = h * bs, ow = w * bs, oc = ch / (bs * bs);
  } else {
    if (h % bs != 0 || w % bs != 0) return no("height or width is not a multiple of blocksize");
    oh = h / bs, ow = w / bs, oc = ch * bs * bs;
  }
  const Dims want = nhwc ? Dims{x[0], oh, ow, oc} : Dims{x[0], oc, oh, ow};
  if (std::string why = output_dims_problem(c, n, 0, want); !why.empty()) return no(why);
  return yes();
}

void lower_depth_space(Builder& b, const ir::Node& n) {
  const Order order = b.spatial_order();
  const Dims xl = b.input_dims(0);
  const int x = b.as_order(b.input(0), order);
  const Nhwc in = nhwc_of(xl, n.layout);
  const Nhwc out = nhwc_of(b.output_dims(0), n.layout);
  const auto bs = static_cast<std::int64_t>(n.attrs.get_int("blocksize", 1));
  const bool crd = n.attrs.get_string("mode", "DCR") == "CRD";
  const int y = b.make_output(0, order);
  const auto N = static_cast<std::int64_t>(in.n), H = static_cast<std::int64_t>(in.h),
             W = static_cast<std::int64_t>(in.w), C = static_cast<std::int64_t>(in.c);
  kernels::Gather g;
  if (n.op == ir::Op::DepthToSpace) {
    const std::int64_t co = static_cast<std::int64_t>(out.c);
    if (!crd) {
      xnn_operator_t raw = nullptr;
      XnnOp op = b.made(xnn_create_depth_to_space_nhwc_x32(out.c, in.c, out.c, static_cast<std::uint32_t>(bs), 0, &raw),
                        &raw, "xnn_create_depth_to_space_nhwc_x32");
      Step& s = b.add_step({x}, {y});
      s.op = std::move(op);
      s.bind = [x, y, in, &b](Step& step, const Binder& bd) {
        b.check(xnn_setup_depth_to_space_nhwc_x32(step.op.get(), in.n, in.h, in.w, bd.ptr(x), bd.ptr(y), bd.pool()),
                "xnn_setup_depth_to_space_nhwc_x32");
      };
      return;
    }
    // CRD: channel = (c·bs + by)·bs + bx. Output [N, H, by, W, bx, c].
    g.dims = {N, H, bs, W, bs, co};
    g.strides = {H * W * C, W * C, bs, C, 1, bs * bs};
  } else {
    // SpaceToDepth (DCR order): out[n, h, w, (by·bs + bx)·C + c] = in[n, h·bs + by, w·bs + bx, c].
    const std::int64_t oh = static_cast<std::int64_t>(out.h), ow = static_cast<std::int64_t>(out.w);
    g.dims = {N, oh, ow, bs, bs, C};
    g.strides = {H * W * C, bs * W * C, bs * C, W * C, C, 1};
  }
  b.add_kernel({x}, {y}, [x, y, g](const Binder& bd) {
    const float* px = bd.ptr(x);
    float* py = bd.ptr(y);
    pthreadpool_t pool = bd.pool();
    return [=] { kernels::gather(px, py, g, pool); };
  });
}

}  // namespace infercast::runtime::xnnpack
