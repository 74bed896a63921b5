// kernel_spec_of: a fused group of nodes of a real model (NCHW or NHWC) -> KernelSpec.
// Only exact matches: a group whose shapes the vocabulary cannot express (non-square
// kernels, asymmetric padding that changes the output extent, broadcasting adds, ...)
// gives nullopt, never an approximate spec.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "infercast/base/error.hpp"
#include "infercast/bench/kernel.hpp"
#include "infercast/ir/einsum.hpp"

namespace infercast::bench {

namespace {

using Dims = std::vector<std::int64_t>;
using O = ir::Op;

struct Ctx {
  const ir::Graph& g;
  bool nhwc;
};

std::optional<Dims> dims_of(const ir::Graph& g, int tensor) {
  if (tensor < 0 || tensor >= static_cast<int>(g.tensors.size())) return std::nullopt;
  const ir::Shape& s = g.tensors[tensor].shape;
  if (!s.is_static()) return std::nullopt;
  return s.extents();
}

bool is_nhwc(const ir::Graph& g, const ir::Node& n) {
  if (n.layout != ir::Layout::kUnknown) return n.layout == ir::Layout::kNHWC;
  return g.meta.layout == ir::Layout::kNHWC;
}

// A rank-4 activation as {n, h, w, c}.
struct Nhwc {
  std::int64_t n, h, w, c;
};
std::optional<Nhwc> as_nhwc(const Ctx& c, int tensor) {
  auto d = dims_of(c.g, tensor);
  if (!d || d->size() != 4) return std::nullopt;
  const Dims& x = *d;
  return c.nhwc ? Nhwc{x[0], x[1], x[2], x[3]} : Nhwc{x[0], x[2], x[3], x[1]};
}

// Any-rank activation as {n, h, w, c}: rank 4 by layout; lower ranks fill from the
// right (rank 2 [n, c], rank 3 [n, h*? , c] -> n, h, 1, c) so elementwise kernels of
// vector data still map.
std::optional<Nhwc> as_elementwise(const Ctx& c, int tensor) {
  auto d = dims_of(c.g, tensor);
  if (!d) return std::nullopt;
  const Dims& x = *d;
  switch (x.size()) {
    case 4: return as_nhwc(c, tensor);
    case 3: return Nhwc{x[0], x[1], 1, x[2]};
    case 2: return Nhwc{x[0], 1, 1, x[1]};
    case 1: return Nhwc{1, 1, 1, x[0]};
    default: return std::nullopt;
  }
}

std::int64_t conv_out(std::int64_t x, std::int64_t k, std::int64_t s, std::int64_t d, std::int64_t p) {
  return (x + 2 * p - d * (k - 1) - 1) / s + 1;
}

// A square window's k, stride, dilation, and one symmetric pad giving the same output
// extent as the node's pads; nullopt otherwise.
struct Window {
  std::int64_t k, stride, dilation, pad;
};
std::optional<Window> window_of(const ir::Node& n, const Nhwc& in, const Nhwc& out, bool transposed) {
  const Dims k = n.attrs.get_ints("kernel_shape");
  Dims s = n.attrs.get_ints("strides");
  Dims d = n.attrs.get_ints("dilations");
  Dims p = n.attrs.get_ints("pads");
  if (k.size() != 2 || k[0] != k[1]) return std::nullopt;
  if (s.empty()) s = {1, 1};
  if (d.empty()) d = {1, 1};
  if (p.empty()) p = {0, 0, 0, 0};
  if (s.size() != 2 || d.size() != 2 || p.size() != 4 || s[0] != s[1] || d[0] != d[1]) return std::nullopt;
  Dims candidates = p;
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  // Prefer the largest pad: TFLite SAME pads (0, 1) behave like a symmetric 1.
  std::reverse(candidates.begin(), candidates.end());
  for (const std::int64_t pad : candidates) {
    bool ok;
    if (transposed) {
      if (d[0] != 1) return std::nullopt;
      ok = (in.h - 1) * s[0] - 2 * pad + k[0] == out.h && (in.w - 1) * s[0] - 2 * pad + k[0] == out.w;
    } else {
      ok = conv_out(in.h, k[0], s[0], d[0], pad) == out.h && conv_out(in.w, k[0], s[0], d[0], pad) == out.w;
    }
    if (ok) return Window{k[0], s[0], d[0], pad};
  }
  return std::nullopt;
}

// A constant float read from a scalar or one-element tensor.
std::optional<double> scalar_value(const ir::Graph& g, int tensor) {
  if (tensor < 0) return std::nullopt;
  const ir::Tensor& t = g.tensors[tensor];
  if (!t.is_constant() || t.sparse) return std::nullopt;
  if (t.dtype == ir::DType::kFloat32 && t.data.size() == 4) {
    float v;
    std::memcpy(&v, t.data.data(), 4);
    return v;
  }
  return std::nullopt;
}

// Whether a Slice takes every element of its range: no steps (ONNX input 4, TFLite
// STRIDED_SLICE's strides, input 3) other than 1 among its constants. A strided slice
// (Swin's patch merging takes every second row and column) gathers, where a slice kernel
// copies runs.
bool unit_steps(const ir::Graph& g, const ir::Node& n) {
  const std::size_t k = n.layout == ir::Layout::kNHWC ? 3 : 4;
  if (k >= n.inputs.size() || n.inputs[k] < 0) return true;
  const auto steps = g.tensors[static_cast<std::size_t>(n.inputs[k])].ints();
  return steps && std::all_of(steps->begin(), steps->end(), [](std::int64_t s) { return s == 1; });
}

// "relu" / "relu6" / "hardswish" for an activation node; "" for anything else.
std::string activation_name(const ir::Graph& g, const ir::Node& n) {
  switch (n.op) {
    case O::Relu: return "relu";
    case O::HardSwish: return "hardswish";
    case O::HardSigmoid: return "hardsigmoid";
    case O::Sigmoid: return "sigmoid";
    case O::Tanh: return "tanh";
    case O::Erf: return "erf";
    case O::Clip: {
      double lo = n.attrs.get_float("min", -INFINITY), hi = n.attrs.get_float("max", INFINITY);
      if (n.inputs.size() > 1) {
        if (auto v = scalar_value(g, n.inputs[1])) lo = *v;
      }
      if (n.inputs.size() > 2) {
        if (auto v = scalar_value(g, n.inputs[2])) hi = *v;
      }
      return lo == 0.0 && hi == 6.0 ? "relu6" : "";
    }
    default: return "";
  }
}

// The activation TFLite fused into the op itself.
std::string fused_activation(const ir::Node& n) {
  const std::string f = n.attrs.get_string("fused_activation", "");
  if (f == "relu" || f == "relu6") return f;
  if (f.empty() || f == "none") return "";
  return "?";  // fused but not in the vocabulary
}

bool is_weight(const ir::Graph& g, int tensor) {
  if (tensor < 0) return false;
  const ir::Tensor& t = g.tensors[tensor];
  if (t.is_constant()) return true;
  // fp16 / int8 weights dequantized in the graph (TFLite DEQUANTIZE, ONNX DequantizeLinear).
  if (t.producer < 0) return false;
  const ir::Node& p = g.nodes[t.producer];
  if (p.op != O::Dequantize && p.op != O::DequantizeLinear && p.op != O::Identity && p.op != O::Densify) return false;
  return !p.inputs.empty() && p.inputs[0] >= 0 && g.tensors[p.inputs[0]].is_constant();
}

std::optional<KernelSpec> make(std::string type, std::map<std::string, std::int64_t> params, ir::DType dtype) {
  KernelSpec spec{std::move(type), std::move(params), dtype};
  try {
    validate(spec);
  } catch (const Error&) {
    return std::nullopt;
  }
  return spec;
}

ir::DType activation_dtype(const ir::Graph& g, const ir::Node& n) {
  if (n.inputs.empty() || n.inputs[0] < 0) return ir::DType::kUnknown;
  return g.tensors[n.inputs[0]].dtype;
}

// Whether `mul` multiplies `gate`'s output by `gate`'s own input: x * gate(x) (swish,
// hard swish as x * HardSigmoid(x)).
bool gates_its_input(const ir::Node& gate, const ir::Node& mul) {
  if (mul.op != O::Mul || mul.inputs.size() != 2 || gate.inputs.empty() || gate.outputs.empty()) return false;
  return (mul.inputs[0] == gate.inputs[0] && mul.inputs[1] == gate.outputs[0]) ||
         (mul.inputs[1] == gate.inputs[0] && mul.inputs[0] == gate.outputs[0]);
}

std::optional<KernelSpec> match_conv(const Ctx& c, std::span<const int> nodes) {
  const ir::Node& conv = c.g.nodes[nodes[0]];
  if (conv.inputs.size() < 2 || conv.outputs.empty()) return std::nullopt;
  const auto in = as_nhwc(c, conv.inputs[0]);
  const auto out = as_nhwc(c, conv.outputs[0]);
  if (!in || !out || in->n != out->n) return std::nullopt;
  const auto win = window_of(conv, *in, *out, false);
  if (!win) return std::nullopt;
  const std::int64_t groups = conv.attrs.get_int("group", 1);
  const bool depthwise = groups > 1 && groups == in->c && out->c == in->c;
  bool bn = false, add = false, to_nhwc = false;
  std::string act = fused_activation(conv);
  if (act == "?") return std::nullopt;
  int last_out = conv.outputs[0];
  for (std::size_t i = 1; i < nodes.size(); ++i) {
    const ir::Node& n = c.g.nodes[nodes[i]];
    if (n.op == O::Transpose && i == 1 && nodes.size() == 2 && act.empty() && !depthwise && !c.nhwc &&
        n.attrs.get_ints("perm") == std::vector<std::int64_t>{0, 2, 3, 1}) {
      to_nhwc = true;  // conv+transpose: the output written channels-last
      continue;
    }
    if (n.op == O::BatchNormalization && i == 1 && act.empty()) {
      bn = true;
      if (n.outputs.empty()) return std::nullopt;
      last_out = n.outputs[0];
      continue;
    }
    if (n.op == O::Add && !add && act.empty() && !depthwise) {
      // A residual: the other operand an activation of exactly the conv's output shape
      // (no broadcasting, not a constant bias).
      if (n.inputs.size() != 2 || n.outputs.empty()) return std::nullopt;
      const int other = n.inputs[0] == last_out ? n.inputs[1] : n.inputs[1] == last_out ? n.inputs[0] : -1;
      if (other < 0 || is_weight(c.g, other) || dims_of(c.g, other) != dims_of(c.g, last_out)) return std::nullopt;
      add = true;
      act = fused_activation(n);
      if (act == "?") return std::nullopt;
      last_out = n.outputs[0];
      continue;
    }
    // x * HardSigmoid(x) of the output (hard swish before opset 14): the kernel's last two nodes.
    if (n.op == O::HardSigmoid && act.empty() && i + 2 == nodes.size()) {
      if (!gates_its_input(n, c.g.nodes[nodes[i + 1]])) return std::nullopt;
      act = "hsigmoid_mul";
      break;
    }
    const std::string a = activation_name(c.g, n);
    if (a.empty() || !act.empty() || i + 1 != nodes.size()) return std::nullopt;
    act = a;
  }
  std::string type = depthwise ? "dwconv" : "conv";
  if (bn) type += "+bn";
  if (add) type += "+add";
  if (!act.empty()) type += "+" + act;
  if (to_nhwc) type += "+transpose";
  if (std::find(kernel_types().begin(), kernel_types().end(), type) == kernel_types().end()) return std::nullopt;
  const ir::DType dtype = activation_dtype(c.g, conv);
  if (depthwise) {
    return make(type,
                {{"n", in->n},
                 {"h", in->h},
                 {"w", in->w},
                 {"c", in->c},
                 {"k", win->k},
                 {"stride", win->stride},
                 {"dilation", win->dilation},
                 {"pad", win->pad}},
                dtype);
  }
  return make(type,
              {{"n", in->n},
               {"h", in->h},
               {"w", in->w},
               {"cin", in->c},
               {"cout", out->c},
               {"k", win->k},
               {"stride", win->stride},
               {"dilation", win->dilation},
               {"pad", win->pad},
               {"groups", groups}},
              dtype);
}

std::optional<KernelSpec> match_conv_transpose(const Ctx& c, std::span<const int> nodes) {
  if (nodes.size() != 1) return std::nullopt;
  const ir::Node& n = c.g.nodes[nodes[0]];
  if (n.attrs.get_int("group", 1) != 1 || !fused_activation(n).empty() || n.outputs.empty()) return std::nullopt;
  const auto in = as_nhwc(c, n.inputs[0]);
  const auto out = as_nhwc(c, n.outputs[0]);
  if (!in || !out) return std::nullopt;
  const auto win = window_of(n, *in, *out, true);
  if (!win) return std::nullopt;
  return make("convtranspose",
              {{"n", in->n},
               {"h", in->h},
               {"w", in->w},
               {"cin", in->c},
               {"cout", out->c},
               {"k", win->k},
               {"stride", win->stride},
               {"pad", win->pad}},
              activation_dtype(c.g, n));
}

std::optional<KernelSpec> match_linear(const Ctx& c, std::span<const int> nodes) {
  const ir::Node& n = c.g.nodes[nodes[0]];
  if (n.inputs.size() < 2 || n.outputs.empty()) return std::nullopt;
  const auto a = dims_of(c.g, n.inputs[0]);
  const auto w = dims_of(c.g, n.inputs[1]);
  const auto y = dims_of(c.g, n.outputs[0]);
  if (!a || !w || !y || a->empty() || y->empty()) return std::nullopt;
  std::string act = fused_activation(n);
  if (act == "?" || act == "relu6") return std::nullopt;
  if (nodes.size() > 2) return std::nullopt;
  if (nodes.size() == 2) {
    if (!act.empty() || activation_name(c.g, c.g.nodes[nodes[1]]) != "relu") return std::nullopt;
    act = "relu";
  }
  const ir::DType dtype = activation_dtype(c.g, n);
  if (n.op == O::MatMul && !is_weight(c.g, n.inputs[1])) {
    if (!act.empty() || a->size() < 2 || w->size() < 2) return std::nullopt;
    const std::int64_t m = (*a)[a->size() - 2], k = a->back(), cols = w->back();
    if ((*w)[w->size() - 2] != k) return std::nullopt;
    std::int64_t batch = 1;
    for (std::size_t i = 0; i + 2 < y->size(); ++i) batch *= (*y)[i];
    return make("matmul", {{"b", batch}, {"m", m}, {"k", k}, {"n", cols}}, dtype);
  }
  if (w->size() != 2 || !is_weight(c.g, n.inputs[1])) return std::nullopt;
  // Rows: every leading dimension of the output; features: its last.
  const std::int64_t cout = y->back();
  std::int64_t rows = 1;
  for (std::size_t i = 0; i + 1 < y->size(); ++i) rows *= (*y)[i];
  std::int64_t in_elems = 1;
  for (auto d : *a) in_elems *= d;
  if (rows == 0 || in_elems % rows != 0) return std::nullopt;
  const std::int64_t cin = in_elems / rows;
  if (!((*w)[0] == cin && (*w)[1] == cout) && !((*w)[0] == cout && (*w)[1] == cin)) return std::nullopt;
  return make(act.empty() ? "fc" : "fc+relu", {{"n", rows}, {"cin", cin}, {"cout", cout}}, dtype);
}

// An Einsum that is a batched matrix product (ir::einsum_batched_matmul), alone.
std::optional<KernelSpec> match_einsum(const Ctx& c, std::span<const int> nodes) {
  if (nodes.size() != 1) return std::nullopt;
  const ir::Node& n = c.g.nodes[nodes[0]];
  if (n.inputs.size() != 2 || n.outputs.empty()) return std::nullopt;
  const auto a = dims_of(c.g, n.inputs[0]);
  const auto b = dims_of(c.g, n.inputs[1]);
  if (!a || !b || c.g.tensors[n.inputs[0]].is_constant() || c.g.tensors[n.inputs[1]].is_constant()) return std::nullopt;
  const auto mm = ir::einsum_batched_matmul(n.attrs.get_string("equation", ""), {*a, *b});
  if (!mm) return std::nullopt;
  return make("einsum",
              {{"b", mm->batch}, {"m", mm->m}, {"k", mm->k}, {"n", mm->n}, {"form", mm->transposed_b ? 1 : 2}},
              activation_dtype(c.g, n));
}

std::optional<KernelSpec> match_pool(const Ctx& c, std::span<const int> nodes) {
  if (nodes.size() != 1) return std::nullopt;
  const ir::Node& n = c.g.nodes[nodes[0]];
  if (!fused_activation(n).empty() || n.outputs.empty()) return std::nullopt;
  const auto in = as_nhwc(c, n.inputs[0]);
  const auto out = as_nhwc(c, n.outputs[0]);
  if (!in || !out) return std::nullopt;
  const auto win = window_of(n, *in, *out, false);
  if (!win || win->dilation != 1) return std::nullopt;
  return make(n.op == O::MaxPool ? "maxpool" : "avgpool",
              {{"n", in->n},
               {"h", in->h},
               {"w", in->w},
               {"c", in->c},
               {"k", win->k},
               {"stride", win->stride},
               {"pad", win->pad}},
              activation_dtype(c.g, n));
}

std::map<std::string, std::int64_t> nhwc_params(const Nhwc& x) {
  return {{"n", x.n}, {"h", x.h}, {"w", x.w}, {"c", x.c}};
}

// ReduceMean over exactly the two spatial axes, keeping them or not.
bool is_spatial_mean(const Ctx& c, const ir::Node& n) {
  if (n.op != O::ReduceMean) return false;
  auto axes = n.attrs.get_ints("axes");
  if (axes.empty()) return false;
  for (auto& a : axes) a = a < 0 ? a + 4 : a;
  std::sort(axes.begin(), axes.end());
  return axes == (c.nhwc ? Dims{1, 2} : Dims{2, 3});
}

std::optional<KernelSpec> match_se(const Ctx& c, std::span<const int> nodes) {
  // GAP -> (Conv|FC) -> act -> (Conv|FC) -> Sigmoid|HardSigmoid -> Mul
  if (nodes.size() != 6) return std::nullopt;
  const auto& g = c.g;
  const ir::Node& gap = g.nodes[nodes[0]];
  const auto x = as_nhwc(c, gap.inputs[0]);
  if (!x) return std::nullopt;
  const ir::Node& fc1 = g.nodes[nodes[1]];
  if ((fc1.op != O::Conv && fc1.op != O::FullyConnected && fc1.op != O::Gemm) || fc1.outputs.empty()) {
    return std::nullopt;
  }
  const auto mid = dims_of(g, fc1.outputs[0]);
  if (!mid || mid->empty()) return std::nullopt;
  const std::int64_t squeezed = fc1.op == O::Conv && !c.nhwc ? (*mid)[1] : mid->back();
  const ir::Node& gate = g.nodes[nodes[4]];
  if (gate.op != O::Sigmoid && gate.op != O::HardSigmoid) return std::nullopt;
  if (g.nodes[nodes[5]].op != O::Mul) return std::nullopt;
  if (squeezed < 1 || x->c % squeezed != 0) return std::nullopt;
  return make("se", {{"n", x->n}, {"h", x->h}, {"w", x->w}, {"c", x->c}, {"r", x->c / squeezed}},
              activation_dtype(g, gap));
}

std::optional<KernelSpec> match_elementwise(const Ctx& c, std::span<const int> nodes) {
  const ir::Node& n = c.g.nodes[nodes[0]];
  if (n.outputs.empty()) return std::nullopt;
  const ir::DType dtype = activation_dtype(c.g, n);
  if (n.op == O::Add || n.op == O::Mul) {
    if (n.inputs.size() != 2) return std::nullopt;
    const auto a = dims_of(c.g, n.inputs[0]);
    const auto b = dims_of(c.g, n.inputs[1]);
    if (!a || !b || c.g.tensors[n.inputs[0]].is_constant()) return std::nullopt;
    if (c.g.tensors[n.inputs[1]].is_constant()) {
      // x * k or relu(x + k), k one value or one per channel: scale, shift+relu.
      const auto x = as_nhwc(c, n.inputs[0]);
      const auto k = c.g.tensors[n.inputs[1]].shape.numel();
      if (!x || !k || (*k != 1 && static_cast<std::int64_t>(*k) != x->c)) return std::nullopt;
      if (*k != 1) {
        const Dims& kd = *b;
        const std::size_t axis = c.nhwc ? 3 : 1;
        if (kd.size() != 4 || kd[axis] != x->c) return std::nullopt;
      }
      std::string act = fused_activation(n);
      if (nodes.size() == 2 && act.empty()) act = activation_name(c.g, c.g.nodes[nodes[1]]);
      if (nodes.size() > 2 || (n.op == O::Mul ? !act.empty() : act != "relu")) return std::nullopt;
      auto params = nhwc_params(*x);
      params["scalar"] = *k == 1 ? 1 : 0;
      return make(n.op == O::Mul ? "scale" : "shift+relu", params, dtype);
    }
    if (*a != *b) {
      // x * s with s one value per (image, channel): a squeeze-excitation's scaling.
      if (n.op != O::Mul || nodes.size() != 1 || a->size() != 4 || b->size() != 4) return std::nullopt;
      auto count = [](const Dims& d) { return d[0] * d[1] * d[2] * d[3]; };
      const bool a_full = count(*a) >= count(*b);
      const auto x = as_nhwc(c, n.inputs[a_full ? 0 : 1]);
      const auto s = as_nhwc(c, n.inputs[a_full ? 1 : 0]);
      if (!x || !s || s->h != 1 || s->w != 1 || s->n != x->n || s->c != x->c || !fused_activation(n).empty())
        return std::nullopt;
      return make("channel_mul", nhwc_params(*x), dtype);
    }
    const auto x = as_elementwise(c, n.inputs[0]);
    if (!x) return std::nullopt;
    std::string act = fused_activation(n);
    if (act == "?" || act == "relu6") return std::nullopt;
    if (nodes.size() == 2) {
      if (!act.empty() || activation_name(c.g, c.g.nodes[nodes[1]]) != "relu") return std::nullopt;
      act = "relu";
    } else if (nodes.size() > 2) {
      return std::nullopt;
    }
    if (n.op == O::Mul && !act.empty()) return std::nullopt;
    return make(n.op == O::Mul ? "mul" : act.empty() ? "add" : "add+relu", nhwc_params(*x), dtype);
  }
  if (n.op == O::Transpose && nodes.size() == 1) {
    // A transpose other than one matrix transposed is a `permute` of its reduced form; one
    // matrix transposed (or a copy) of a rank 4 or lower tensor is the `transpose` below.
    const auto d = dims_of(c.g, n.inputs.empty() ? -1 : n.inputs[0]);
    const auto r = d ? ir::reduce_permutation(*d, n.attrs.get_ints("perm")) : std::nullopt;
    if (!r) return std::nullopt;
    if (const auto spec = permute_spec(*r, dtype)) return make(spec->type, spec->params, dtype);
  }
  const auto x = as_elementwise(c, n.inputs.empty() ? -1 : n.inputs[0]);
  if (!x) return std::nullopt;
  if ((n.op == O::Sigmoid || n.op == O::HardSigmoid) && nodes.size() == 2) {
    if (!gates_its_input(n, c.g.nodes[nodes[1]])) return std::nullopt;
    return make(n.op == O::Sigmoid ? "swish" : "hsigmoid_mul", nhwc_params(*x), dtype);
  }
  if (nodes.size() != 1) return std::nullopt;
  const std::string act = activation_name(c.g, n);
  if (!act.empty()) return make(act, nhwc_params(*x), dtype);
  switch (n.op) {
    case O::Reshape:
    case O::Flatten:
    case O::Squeeze:
    case O::Unsqueeze: return make("reshape", nhwc_params(*x), dtype);
    case O::Transpose: return make("transpose", nhwc_params(*x), dtype);
    default: return std::nullopt;
  }
}

std::optional<KernelSpec> match_rows(const Ctx& c, const ir::Node& n, const char* type) {
  const auto d = dims_of(c.g, n.inputs.empty() ? -1 : n.inputs[0]);
  if (!d || d->empty()) return std::nullopt;
  const std::int64_t rank = static_cast<std::int64_t>(d->size());
  std::int64_t axis = n.attrs.get_int("axis", -1);
  if (axis < 0) axis += rank;
  if (axis != rank - 1) return std::nullopt;
  std::int64_t rows = 1;
  for (std::size_t i = 0; i + 1 < d->size(); ++i) rows *= (*d)[i];
  return make(type, {{"n", rows}, {"c", d->back()}}, activation_dtype(c.g, n));
}

}  // namespace

std::optional<KernelSpec> kernel_spec_of(const ir::Graph& graph, std::span<const int> nodes) {
  if (nodes.empty()) return std::nullopt;
  for (int i : nodes) {
    if (i < 0 || i >= static_cast<int>(graph.nodes.size())) return std::nullopt;
  }
  const ir::Node& anchor = graph.nodes[nodes[0]];
  const Ctx c{graph, is_nhwc(graph, anchor)};
  // A GELU written op by op, from its Div (predict::split_kernels groups its 5 nodes).
  if (anchor.op == O::Div && nodes.size() == 5 && graph.nodes[nodes[1]].op == O::Erf)
    return match_rows(c, anchor, "gelu");
  switch (anchor.op) {
    case O::Conv: return match_conv(c, nodes);
    case O::ConvTranspose: return match_conv_transpose(c, nodes);
    case O::Gemm:
    case O::FullyConnected:
    case O::MatMul: return match_linear(c, nodes);
    case O::Einsum: return match_einsum(c, nodes);
    case O::MaxPool:
    case O::AveragePool: return match_pool(c, nodes);
    case O::GlobalAveragePool:
    case O::ReduceMean: {
      if (nodes.size() == 6) return match_se(c, nodes);
      // A LayerNormalization written op by op (predict::split_kernels groups its 9 nodes).
      if (anchor.op == O::ReduceMean && nodes.size() == 9) return match_rows(c, anchor, "layernorm_ops");
      if (nodes.size() != 1 || (anchor.op == O::ReduceMean && !is_spatial_mean(c, anchor))) return std::nullopt;
      const auto x = as_nhwc(c, anchor.inputs[0]);
      if (!x) return std::nullopt;
      return make("globalavgpool", nhwc_params(*x), activation_dtype(graph, anchor));
    }
    case O::BatchNormalization: {
      // Standalone: a BatchNormalization after a conv is part of that conv's kernel.
      if (nodes.size() > 2 || anchor.inputs.empty() || anchor.outputs.empty()) return std::nullopt;
      if (nodes.size() == 2 && activation_name(c.g, c.g.nodes[nodes[1]]) != "relu") return std::nullopt;
      const auto x = as_nhwc(c, anchor.inputs[0]);
      if (!x || dims_of(graph, anchor.outputs[0]) != dims_of(graph, anchor.inputs[0])) return std::nullopt;
      return make(nodes.size() == 2 ? "bn+relu" : "bn", nhwc_params(*x), activation_dtype(graph, anchor));
    }
    case O::Concat: {
      if (nodes.size() != 1 || anchor.inputs.empty()) return std::nullopt;
      const auto first = dims_of(graph, anchor.inputs[0]);
      for (int t : anchor.inputs) {
        if (dims_of(graph, t) != first) return std::nullopt;  // only equal-shape inputs
      }
      const auto rank = static_cast<std::int64_t>(first ? first->size() : 0);
      std::int64_t axis = anchor.attrs.get_int("axis", 1);
      if (axis < 0) axis += rank;
      if (rank != 4 || axis != (c.nhwc ? 3 : 1)) return std::nullopt;
      const auto x = as_nhwc(c, anchor.inputs[0]);
      auto params = nhwc_params(*x);
      params["inputs"] = static_cast<std::int64_t>(anchor.inputs.size());
      return make("concat", params, activation_dtype(graph, anchor));
    }
    case O::Slice: {
      // Read from the shapes alone (ONNX's starts/ends/axes and TFLite's begin/size say the
      // same): one axis shrinks. To a whole fraction: the channels of an image (`slice`) or
      // the last axis of rows (`slice_rows`); to any length, an image's channels, rows or
      // columns (`slice_axis`).
      if (nodes.size() != 1 || anchor.inputs.empty() || anchor.outputs.empty()) return std::nullopt;
      if (!unit_steps(graph, anchor)) return std::nullopt;
      const auto in = dims_of(graph, anchor.inputs[0]);
      const auto out = dims_of(graph, anchor.outputs[0]);
      if (!in || !out || in->size() != out->size() || in->empty()) return std::nullopt;
      int shrunk = -1;
      for (std::size_t i = 0; i < in->size(); ++i) {
        if ((*in)[i] == (*out)[i]) continue;
        if (shrunk >= 0 || (*out)[i] < 1 || (*out)[i] > (*in)[i]) return std::nullopt;
        shrunk = static_cast<int>(i);
      }
      if (shrunk < 0) return std::nullopt;
      const std::int64_t extent = (*in)[static_cast<std::size_t>(shrunk)];
      const std::int64_t kept = (*out)[static_cast<std::size_t>(shrunk)];
      const bool fraction = extent % kept == 0;
      const std::int64_t parts = extent / kept;
      const int rank = static_cast<int>(in->size());
      if (rank == 4) {
        auto params = nhwc_params(*as_nhwc(c, anchor.inputs[0]));
        // The NCHW axis of the shrunk one: 1 channels, 2 rows, 3 columns.
        const int axis = c.nhwc ? (shrunk == 3 ? 1 : shrunk + 1) : shrunk;
        if (axis < 1) return std::nullopt;
        if (axis == 1 && fraction) {
          params["parts"] = parts;
          return make("slice", params, activation_dtype(graph, anchor));
        }
        params["axis"] = axis;
        params["keep"] = kept;
        return make("slice_axis", params, activation_dtype(graph, anchor));
      }
      if (!fraction || shrunk != rank - 1) return std::nullopt;
      std::int64_t rows = 1;
      for (int i = 0; i + 1 < rank; ++i) rows *= (*in)[static_cast<std::size_t>(i)];
      return make("slice_rows", {{"n", rows}, {"c", in->back()}, {"parts", parts}}, activation_dtype(graph, anchor));
    }
    case O::Softmax: return nodes.size() == 1 ? match_rows(c, anchor, "softmax") : std::nullopt;
    case O::LayerNormalization: return nodes.size() == 1 ? match_rows(c, anchor, "layernorm") : std::nullopt;
    case O::Resize: {
      if (nodes.size() != 1 || anchor.outputs.empty()) return std::nullopt;
      const auto x = as_nhwc(c, anchor.inputs[0]);
      const auto y = as_nhwc(c, anchor.outputs[0]);
      if (!x || !y || y->h % x->h != 0 || y->w % x->w != 0 || y->h / x->h != y->w / x->w) return std::nullopt;
      const std::string mode = anchor.attrs.get_string("mode", "nearest");
      const char* type = mode == "nearest"                        ? "resize_nearest"
                         : mode == "linear" || mode == "bilinear" ? "resize_bilinear"
                                                                  : nullptr;
      if (type == nullptr) return std::nullopt;
      auto params = nhwc_params(*x);
      params["scale"] = y->h / x->h;
      return make(type, params, activation_dtype(graph, anchor));
    }
    case O::Pad: {
      if (nodes.size() == 2 && c.g.nodes[nodes[1]].op == O::Conv && !anchor.outputs.empty()) {
        // pad+conv: a symmetric spatial zero Pad, then a plain conv that pads nothing.
        const auto x = as_nhwc(c, anchor.inputs[0]);
        const auto y = as_nhwc(c, anchor.outputs[0]);
        if (!x || !y || x->n != y->n || x->c != y->c || y->h - x->h != y->w - x->w || (y->h - x->h) % 2 != 0 ||
            y->h <= x->h)
          return std::nullopt;
        if (anchor.inputs.size() > 2 && anchor.inputs[2] >= 0 && scalar_value(c.g, anchor.inputs[2]).value_or(1) != 0)
          return std::nullopt;
        const std::array<int, 1> conv_node{nodes[1]};
        auto conv = match_conv(c, conv_node);
        if (!conv || (conv->type != "conv" && conv->type != "dwconv") || conv->params.at("pad") != 0 ||
            anchor.attrs.get_string("mode", "constant") != "constant")
          return std::nullopt;
        auto params = conv->params;
        params["h"] = x->h;
        params["w"] = x->w;
        params["pad"] = (y->h - x->h) / 2;
        return make(conv->type == "dwconv" ? "pad+dwconv" : "pad+conv", params, conv->dtype);
      }
      if (nodes.size() != 1 || anchor.outputs.empty()) return std::nullopt;
      const auto x = as_nhwc(c, anchor.inputs[0]);
      const auto y = as_nhwc(c, anchor.outputs[0]);
      if (!x || !y || x->n != y->n) return std::nullopt;
      if (x->h == y->h && x->w == y->w && y->c > x->c) {
        auto params = nhwc_params(*x);
        params["cpad"] = y->c - x->c;
        return make("channel_pad", params, activation_dtype(graph, anchor));
      }
      if (x->c != y->c) return std::nullopt;
      const std::int64_t ph = y->h - x->h, pw = y->w - x->w;
      if (ph != pw || ph < 0 || ph % 2 != 0) return std::nullopt;
      auto params = nhwc_params(*x);
      params["pad"] = ph / 2;
      return make("pad", params, activation_dtype(graph, anchor));
    }
    case O::Reshape: {
      // Reshape -> Transpose -> Reshape over [n, g, c/g, h, w]: a channel shuffle.
      if (nodes.size() == 3 && graph.nodes[nodes[1]].op == O::Transpose && graph.nodes[nodes[2]].op == O::Reshape) {
        const auto x = as_nhwc(c, anchor.inputs[0]);
        const auto mid = dims_of(graph, anchor.outputs[0]);
        if (!x || !mid || mid->size() != 5) return std::nullopt;
        const std::int64_t groups = c.nhwc ? (*mid)[3] : (*mid)[1];
        auto params = nhwc_params(*x);
        params["groups"] = groups;
        return make("channel_shuffle", params, activation_dtype(graph, anchor));
      }
      return match_elementwise(c, nodes);
    }
    default: return match_elementwise(c, nodes);
  }
}

}  // namespace infercast::bench
