// Elementwise ops: activations and unary math (XNNPACK's *_nc_f32 where it has them,
// custom loops otherwise), Clip, PRelu, and broadcasting binary ops (*_nd_f32).
#include <algorithm>
#include <cmath>
#include <limits>

#include "runtime/xnnpack/ops.hpp"

namespace infercast::runtime::xnnpack {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

using UnarySetup = xnn_status (*)(xnn_operator_t, std::size_t, const float*, float*, pthreadpool_t);

// One XNNPACK unary operator over all elements of `in` (contiguous, channels = 1).
void add_xnn_unary(Builder& b, int in, int out, xnn_status status, xnn_operator_t* raw, UnarySetup setup,
                   const char* call) {
  XnnOp op = b.made(status, raw, call);
  const std::size_t count = static_cast<std::size_t>(b.values[in].size());
  Step& s = b.add_step({in}, {out});
  s.op = std::move(op);
  s.bind = [in, out, count, setup, &b](Step& step, const Binder& bd) {
    b.check(setup(step.op.get(), count, bd.ptr(in), bd.ptr(out), bd.pool()), "xnn_setup (unary)");
  };
}

bool is_xnnpack_unary(ir::Op op) {
  switch (op) {
    case ir::Op::Relu:
    case ir::Op::LeakyRelu:
    case ir::Op::Sigmoid:
    case ir::Op::HardSwish:
    case ir::Op::Elu:
    case ir::Op::Abs:
    case ir::Op::Neg:
    case ir::Op::Sqrt:
    case ir::Op::Square:
    case ir::Op::Floor:
    case ir::Op::Ceil:
    case ir::Op::Round: return true;
    default: return false;
  }
}

bool is_custom_unary(ir::Op op) {
  switch (op) {
    case ir::Op::Tanh:
    case ir::Op::Gelu:
    case ir::Op::HardSigmoid:
    case ir::Op::Selu:
    case ir::Op::Celu:
    case ir::Op::Softplus:
    case ir::Op::Softsign:
    case ir::Op::ThresholdedRelu:
    case ir::Op::Mish:
    case ir::Op::Exp:
    case ir::Op::Log:
    case ir::Op::Erf:
    case ir::Op::Reciprocal:
    case ir::Op::Sin:
    case ir::Op::Cos:
    case ir::Op::Tan:
    case ir::Op::Asin:
    case ir::Op::Acos:
    case ir::Op::Atan:
    case ir::Op::Sinh:
    case ir::Op::Cosh:
    case ir::Op::Asinh:
    case ir::Op::Acosh:
    case ir::Op::Atanh:
    case ir::Op::Shrink:
    case ir::Op::Sign: return true;
    default: return false;
  }
}

std::string gelu_mode(const ir::Node& n) {
  const ir::AttrValue* a = n.attrs.find("approximate");
  if (a == nullptr) return "none";
  if (const auto* s = std::get_if<std::string>(a)) return *s;
  if (const auto* i = std::get_if<std::int64_t>(a)) return *i != 0 ? "tanh" : "none";
  return "?";
}

}  // namespace

std::string input_problem(const Check& c, const ir::Node& n, std::size_t k) {
  if (!c.present(n, k)) return "input " + std::to_string(k) + " is missing";
  std::string why = c.float_problem(n.inputs[k]);
  return why.empty() ? why : "input " + std::to_string(k) + " " + why;
}

std::string inputs_problem(const Check& c, const ir::Node& n, std::initializer_list<std::size_t> ks) {
  for (std::size_t k : ks) {
    if (std::string why = input_problem(c, n, k); !why.empty()) return why;
  }
  return {};
}

std::string output_dims_problem(const Check& c, const ir::Node& n, std::size_t k, const Dims& want) {
  if (k >= n.outputs.size() || n.outputs[k] < 0) return "output " + std::to_string(k) + " is missing";
  const Dims got = c.tensor(n.outputs[k]).shape.extents();
  if (got == want) return {};
  return "output " + std::to_string(k) + " is declared " + dims_str(got) + " but computes " + dims_str(want);
}

std::optional<int> normalize_axis(std::int64_t axis, std::size_t rank) {
  const auto r = static_cast<std::int64_t>(rank);
  if (axis < -r || axis >= r) return std::nullopt;
  return static_cast<int>(axis < 0 ? axis + r : axis);
}

int add_clamp(Builder& b, int in, float min, float max) {
  if (min == -kInf && max == kInf) return in;
  const int out = b.new_value(b.values[in].logical, b.values[in].order);
  xnn_operator_t op = nullptr;
  add_xnn_unary(b, in, out, xnn_create_clamp_nc_f32(1, 1, 1, min, max, 0, &op), &op, xnn_setup_clamp_nc_f32,
                "xnn_create_clamp_nc_f32");
  return out;
}

std::optional<std::pair<float, float>> fused_activation_bounds(const ir::Node& n, std::string* problem) {
  const std::string f = n.attrs.get_string("fused_activation", "");
  if (f.empty()) return std::pair{-kInf, kInf};
  if (f == "relu") return std::pair{0.0f, kInf};
  if (f == "relu6") return std::pair{0.0f, 6.0f};
  if (f == "relu_n1_to_1") return std::pair{-1.0f, 1.0f};
  if (problem != nullptr) *problem = "fused activation '" + f + "' is not supported";
  return std::nullopt;
}

std::optional<std::pair<float, float>> clamp_bounds(const ir::Graph& graph, const ir::Node& n) {
  if (n.op == ir::Op::Relu) return std::pair{0.0f, kInf};
  if (n.op != ir::Op::Clip) return std::nullopt;
  float lo = static_cast<float>(n.attrs.get_float("min", -kInf));
  float hi = static_cast<float>(n.attrs.get_float("max", kInf));
  for (std::size_t k = 1; k <= 2; ++k) {
    if (k >= n.inputs.size() || n.inputs[k] < 0) continue;
    const auto v = read_small_float_constant(graph, n.inputs[k]);
    if (!v || v->size() != 1) return std::nullopt;
    (k == 1 ? lo : hi) = (*v)[0];
  }
  return std::pair{lo, hi};
}

namespace {

// The slope's logical shape for broadcasting against x. ONNX PRelu before opset 7
// applies a 1-D slope per channel (axis 1); later opsets broadcast numpy-style.
Dims prelu_slope_dims(const ir::Graph& g, const Dims& x, const Dims& slope) {
  if (g.meta.format == "onnx" && g.meta.opset < 7 && slope.size() == 1 && x.size() >= 2 && slope[0] == x[1] &&
      slope[0] != 1) {
    Dims d(x.size() - 1, 1);
    d[0] = slope[0];
    return d;
  }
  return slope;
}

// numpy broadcasting of `in` into `out` (unidirectional).
bool broadcasts_into(const Dims& in, const Dims& out) {
  if (in.size() > out.size()) return false;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const std::int64_t o = out[out.size() - in.size() + i];
    if (in[i] != 1 && in[i] != o) return false;
  }
  return true;
}

}  // namespace

// --- unary

XnnpackSupport check_unary(const Check& c, const ir::Node& n) {
  if (std::string why = input_problem(c, n, 0); !why.empty()) return no(why);
  if (n.op == ir::Op::Gelu) {
    const std::string mode = gelu_mode(n);
    if (mode != "none" && mode != "tanh") return no("Gelu approximate='" + mode + "' is not supported");
  }
  if (!is_xnnpack_unary(n.op) && !is_custom_unary(n.op)) return no("not an elementwise op");
  return yes();
}

void lower_unary(Builder& b, const ir::Node& n) {
  const int in = b.input(0);
  const int out = b.new_value(b.values[in].logical, b.values[in].order);
  b.set_output(0, out);
  const auto& a = n.attrs;
  xnn_operator_t op = nullptr;
  switch (n.op) {
    case ir::Op::Relu:
      add_xnn_unary(b, in, out, xnn_create_clamp_nc_f32(1, 1, 1, 0.0f, kInf, 0, &op), &op, xnn_setup_clamp_nc_f32,
                    "xnn_create_clamp_nc_f32");
      return;
    case ir::Op::LeakyRelu: {
      const float alpha = static_cast<float>(a.get_float("alpha", 0.01));
      add_xnn_unary(b, in, out, xnn_create_leaky_relu_nc_f32(1, 1, 1, alpha, 0, &op), &op, xnn_setup_leaky_relu_nc_f32,
                    "xnn_create_leaky_relu_nc_f32");
      return;
    }
    case ir::Op::Sigmoid:
      add_xnn_unary(b, in, out, xnn_create_sigmoid_nc_f32(1, 1, 1, 0, &op), &op, xnn_setup_sigmoid_nc_f32,
                    "xnn_create_sigmoid_nc_f32");
      return;
    case ir::Op::HardSwish:
      add_xnn_unary(b, in, out, xnn_create_hardswish_nc_f32(1, 1, 1, 0, &op), &op, xnn_setup_hardswish_nc_f32,
                    "xnn_create_hardswish_nc_f32");
      return;
    case ir::Op::Elu: {
      const float alpha = static_cast<float>(a.get_float("alpha", 1.0));
      add_xnn_unary(b, in, out, xnn_create_elu_nc_f32(1, 1, 1, alpha, 0, &op), &op, xnn_setup_elu_nc_f32,
                    "xnn_create_elu_nc_f32");
      return;
    }
    case ir::Op::Abs:
      add_xnn_unary(b, in, out, xnn_create_abs_nc_f32(1, 1, 1, 0, &op), &op, xnn_setup_abs_nc_f32,
                    "xnn_create_abs_nc_f32");
      return;
    case ir::Op::Neg:
      add_xnn_unary(b, in, out, xnn_create_negate_nc_f32(1, 1, 1, 0, &op), &op, xnn_setup_negate_nc_f32,
                    "xnn_create_negate_nc_f32");
      return;
    case ir::Op::Sqrt:
      add_xnn_unary(b, in, out, xnn_create_square_root_nc_f32(1, 1, 1, 0, &op), &op, xnn_setup_square_root_nc_f32,
                    "xnn_create_square_root_nc_f32");
      return;
    case ir::Op::Square:
      add_xnn_unary(b, in, out, xnn_create_square_nc_f32(1, 1, 1, 0, &op), &op, xnn_setup_square_nc_f32,
                    "xnn_create_square_nc_f32");
      return;
    case ir::Op::Floor:
      add_xnn_unary(b, in, out, xnn_create_floor_nc_f32(1, 1, 1, 0, &op), &op, xnn_setup_floor_nc_f32,
                    "xnn_create_floor_nc_f32");
      return;
    case ir::Op::Ceil:
      add_xnn_unary(b, in, out, xnn_create_ceiling_nc_f32(1, 1, 1, 0, &op), &op, xnn_setup_ceiling_nc_f32,
                    "xnn_create_ceiling_nc_f32");
      return;
    case ir::Op::Round:  // ONNX Round is half-to-even: XNNPACK's bankers rounding
      add_xnn_unary(b, in, out, xnn_create_bankers_rounding_nc_f32(1, 1, 1, 0, &op), &op,
                    xnn_setup_bankers_rounding_nc_f32, "xnn_create_bankers_rounding_nc_f32");
      return;
    case ir::Op::Tanh: add_unary_kernel(b, in, out, [](float x) { return std::tanh(x); }); return;
    case ir::Op::Gelu:
      if (gelu_mode(n) == "tanh") {
        add_unary_kernel(b, in, out, [](float x) {
          constexpr float k = 0.7978845608028654f;  // sqrt(2/pi)
          return 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x)));
        });
      } else {
        add_unary_kernel(b, in, out, [](kernels::Float4 x) {
          return 0.5f * x * (1.0f + kernels::erf_flat4(x * 0.7071067811865476f));
        });
      }
      return;
    case ir::Op::HardSigmoid: {
      const float alpha = static_cast<float>(a.get_float("alpha", 0.2));
      const float beta = static_cast<float>(a.get_float("beta", 0.5));
      add_unary_kernel(b, in, out, [alpha, beta](float x) { return std::min(1.0f, std::max(0.0f, alpha * x + beta)); });
      return;
    }
    case ir::Op::Selu: {
      const float alpha = static_cast<float>(a.get_float("alpha", 1.67326319217681884765625));
      const float gamma = static_cast<float>(a.get_float("gamma", 1.05070102214813232421875));
      add_unary_kernel(b, in, out,
                       [alpha, gamma](float x) { return x > 0 ? gamma * x : gamma * alpha * (std::exp(x) - 1.0f); });
      return;
    }
    case ir::Op::Celu: {
      const float alpha = static_cast<float>(a.get_float("alpha", 1.0));
      add_unary_kernel(b, in, out, [alpha](float x) {
        return std::max(0.0f, x) + std::min(0.0f, alpha * (std::exp(x / alpha) - 1.0f));
      });
      return;
    }
    case ir::Op::Softplus:
      add_unary_kernel(b, in, out, [](float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); });
      return;
    case ir::Op::Softsign: add_unary_kernel(b, in, out, [](float x) { return x / (1.0f + std::fabs(x)); }); return;
    case ir::Op::ThresholdedRelu: {
      const float alpha = static_cast<float>(a.get_float("alpha", 1.0));
      add_unary_kernel(b, in, out, [alpha](float x) { return x > alpha ? x : 0.0f; });
      return;
    }
    case ir::Op::Mish:
      add_unary_kernel(b, in, out, [](float x) { return x * std::tanh(x > 20.0f ? x : std::log1p(std::exp(x))); });
      return;
    case ir::Op::Exp: add_unary_kernel(b, in, out, [](float x) { return std::exp(x); }); return;
    case ir::Op::Log: add_unary_kernel(b, in, out, [](float x) { return std::log(x); }); return;
    case ir::Op::Erf:
      // A lambda, not the function's address: the loop inlines it (2.2 ns per element; called
      // through a pointer, 2.5).
      add_unary_kernel(b, in, out, [](kernels::Float4 x) { return kernels::erf_flat4(x); });
      return;
    case ir::Op::Reciprocal: add_unary_kernel(b, in, out, [](float x) { return 1.0f / x; }); return;
    case ir::Op::Sin: add_unary_kernel(b, in, out, [](float x) { return std::sin(x); }); return;
    case ir::Op::Cos: add_unary_kernel(b, in, out, [](float x) { return std::cos(x); }); return;
    case ir::Op::Sign:
      add_unary_kernel(b, in, out, [](float x) { return x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : 0.0f; });
      return;
    case ir::Op::Tan: add_unary_kernel(b, in, out, [](float x) { return std::tan(x); }); return;
    case ir::Op::Asin: add_unary_kernel(b, in, out, [](float x) { return std::asin(x); }); return;
    case ir::Op::Acos: add_unary_kernel(b, in, out, [](float x) { return std::acos(x); }); return;
    case ir::Op::Atan: add_unary_kernel(b, in, out, [](float x) { return std::atan(x); }); return;
    case ir::Op::Sinh: add_unary_kernel(b, in, out, [](float x) { return std::sinh(x); }); return;
    case ir::Op::Cosh: add_unary_kernel(b, in, out, [](float x) { return std::cosh(x); }); return;
    case ir::Op::Asinh: add_unary_kernel(b, in, out, [](float x) { return std::asinh(x); }); return;
    case ir::Op::Acosh: add_unary_kernel(b, in, out, [](float x) { return std::acosh(x); }); return;
    case ir::Op::Atanh: add_unary_kernel(b, in, out, [](float x) { return std::atanh(x); }); return;
    case ir::Op::Shrink: {
      const float lambd = static_cast<float>(a.get_float("lambd", 0.5));
      const float bias = static_cast<float>(a.get_float("bias", 0.0));
      add_unary_kernel(b, in, out, [lambd, bias](float x) {
        return x < -lambd ? x + bias : x > lambd ? x - bias : 0.0f;
      });
      return;
    }
    default: b.fail("internal: not a unary op");
  }
}

// --- Clip

XnnpackSupport check_clip(const Check& c, const ir::Node& n) {
  if (std::string why = input_problem(c, n, 0); !why.empty()) return no(why);
  for (std::size_t k = 1; k <= 2; ++k) {
    if (!c.present(n, k)) continue;
    if (std::string why = input_problem(c, n, k); !why.empty()) return no(why);
    if (*c.tensor(n.inputs[k]).shape.numel() != 1)
      return no("Clip bound input " + std::to_string(k) + " is not a scalar");
  }
  return yes();
}

void lower_clip(Builder& b, const ir::Node& n) {
  const int in = b.input(0);
  const int out = b.new_value(b.values[in].logical, b.values[in].order);
  b.set_output(0, out);
  if (auto bounds = clamp_bounds(b.graph, n)) {
    xnn_operator_t op = nullptr;
    add_xnn_unary(b, in, out, xnn_create_clamp_nc_f32(1, 1, 1, bounds->first, bounds->second, 0, &op), &op,
                  xnn_setup_clamp_nc_f32, "xnn_create_clamp_nc_f32");
    return;
  }
  // Bounds computed at run time (graph inputs): read them each run.
  const int lo = b.has_input(1) ? b.input(1) : -1;
  const int hi = b.has_input(2) ? b.input(2) : -1;
  const float lo_attr = static_cast<float>(n.attrs.get_float("min", -kInf));
  const float hi_attr = static_cast<float>(n.attrs.get_float("max", kInf));
  std::vector<int> reads{in};
  if (lo >= 0) reads.push_back(lo);
  if (hi >= 0) reads.push_back(hi);
  const std::size_t count = static_cast<std::size_t>(b.values[in].size());
  b.add_kernel(reads, {out}, [=](const Binder& bd) {
    const float* x = bd.ptr(in);
    float* y = bd.ptr(out);
    const float* plo = lo >= 0 ? bd.ptr(lo) : nullptr;
    const float* phi = hi >= 0 ? bd.ptr(hi) : nullptr;
    pthreadpool_t pool = bd.pool();
    return [=] {
      const float l = plo ? *plo : lo_attr, h = phi ? *phi : hi_attr;
      kernels::unary(
          x, y, count, [l, h](float v) { return std::min(std::max(v, l), h); }, pool);
    };
  });
}

// --- binary and variadic

namespace {

bool is_xnnpack_binary(ir::Op op) {
  switch (op) {
    case ir::Op::Add:
    case ir::Op::Sub:
    case ir::Op::Mul:
    case ir::Op::Div:
    case ir::Op::Max:
    case ir::Op::Min:
    case ir::Op::Sum:
    case ir::Op::Mean:
    case ir::Op::SquaredDifference: return true;
    default: return false;
  }
}

using BinarySetup = xnn_status (*)(xnn_operator_t, std::size_t, const std::size_t*, std::size_t, const std::size_t*,
                                   const float*, const float*, float*, pthreadpool_t);

// out = op(a, b) with numpy broadcasting on physical dims of equal rank.
void add_xnn_binary(Builder& b, ir::Op kind, int a, int c, int out, float min, float max) {
  xnn_operator_t raw = nullptr;
  xnn_status status;
  BinarySetup setup;
  const char* call;
  switch (kind) {
    case ir::Op::Add:
    case ir::Op::Sum:
    case ir::Op::Mean:
      status = xnn_create_add_nd_f32(min, max, 0, &raw);
      setup = xnn_setup_add_nd_f32;
      call = "xnn_create_add_nd_f32";
      break;
    case ir::Op::Sub:
      status = xnn_create_subtract_nd_f32(min, max, 0, &raw);
      setup = xnn_setup_subtract_nd_f32;
      call = "xnn_create_subtract_nd_f32";
      break;
    case ir::Op::Mul:
      status = xnn_create_multiply_nd_f32(min, max, 0, &raw);
      setup = xnn_setup_multiply_nd_f32;
      call = "xnn_create_multiply_nd_f32";
      break;
    case ir::Op::Div:
      status = xnn_create_divide_nd_f32(min, max, 0, &raw);
      setup = xnn_setup_divide_nd_f32;
      call = "xnn_create_divide_nd_f32";
      break;
    case ir::Op::Max:
      status = xnn_create_maximum_nd_f32(0, &raw);
      setup = xnn_setup_maximum_nd_f32;
      call = "xnn_create_maximum_nd_f32";
      break;
    case ir::Op::Min:
      status = xnn_create_minimum_nd_f32(0, &raw);
      setup = xnn_setup_minimum_nd_f32;
      call = "xnn_create_minimum_nd_f32";
      break;
    case ir::Op::SquaredDifference:
      status = xnn_create_squared_difference_nd_f32(0, &raw);
      setup = xnn_setup_squared_difference_nd_f32;
      call = "xnn_create_squared_difference_nd_f32";
      break;
    default: b.fail("internal: not a binary op");
  }
  XnnOp op = b.made(status, &raw, call);
  auto shape = [&](int v) {
    std::vector<std::size_t> s;
    for (auto d : b.values[v].dims()) s.push_back(static_cast<std::size_t>(d));
    if (s.empty()) s.push_back(1);
    return s;
  };
  Step& s = b.add_step({a, c}, {out});
  s.op = std::move(op);
  s.bind = [a, c, out, sa = shape(a), sc = shape(c), setup, &b](Step& step, const Binder& bd) {
    b.check(
        setup(step.op.get(), sa.size(), sa.data(), sc.size(), sc.data(), bd.ptr(a), bd.ptr(c), bd.ptr(out), bd.pool()),
        "xnn_setup (binary)");
  };
}

}  // namespace

XnnpackSupport check_binary(const Check& c, const ir::Node& n) {
  if (n.inputs.empty()) return no("no inputs");
  for (std::size_t k = 0; k < n.inputs.size(); ++k) {
    if (std::string why = input_problem(c, n, k); !why.empty()) return no(why);
    if (c.tensor(n.inputs[k]).shape.rank() > XNN_MAX_TENSOR_DIMS) return no("rank above 6");
    if (!n.outputs.empty() && n.outputs[0] >= 0 &&
        !broadcasts_into(c.tensor(n.inputs[k]).shape.extents(), c.tensor(n.outputs[0]).shape.extents())) {
      return no("input " + std::to_string(k) + " does not broadcast to the output shape");
    }
  }
  if (n.outputs.empty() || c.tensor(n.outputs[0]).shape.rank() > XNN_MAX_TENSOR_DIMS) return no("rank above 6");
  Dims full;
  for (int t : n.inputs) {
    const Dims d = c.tensor(t).shape.extents();
    if (d.size() > full.size()) full.insert(full.begin(), d.size() - full.size(), 1);
    for (std::size_t i = 0; i < d.size(); ++i) {
      std::int64_t& f = full[full.size() - d.size() + i];
      if (f == 1) f = d[i];
    }
  }
  if (std::string why = output_dims_problem(c, n, 0, full); !why.empty()) return no(why);
  if (n.op != ir::Op::Sum && n.op != ir::Op::Mean && n.op != ir::Op::Max && n.op != ir::Op::Min &&
      n.inputs.size() != 2) {
    return no("expects 2 inputs, has " + std::to_string(n.inputs.size()));
  }
  if (n.op == ir::Op::Pow || n.op == ir::Op::Mod) {
    if (n.op == ir::Op::Mod && n.attrs.get_int("fmod", 0) == 0) return no("Mod with fmod=0 on floats is not supported");
    return yes();
  }
  std::string why;
  if (!fused_activation_bounds(n, &why)) return no(why);
  if (!is_xnnpack_binary(n.op)) return no("not a binary op");
  return yes();
}

void lower_binary(Builder& b, const ir::Node& n) {
  const Dims out_dims = b.output_dims(0);
  const std::size_t rank = out_dims.size();
  // Channels-last when any computed input is held so (and the rank allows it).
  Order order = Order::kLogical;
  for (std::size_t k = 0; k < n.inputs.size(); ++k) {
    const int v = b.input(k);
    if (rank >= 3 && !b.is_constant(v) && b.values[v].order == Order::kChannelsLast &&
        b.values[v].logical.size() == rank) {
      order = Order::kChannelsLast;
    }
  }
  std::vector<int> ins;
  for (std::size_t k = 0; k < n.inputs.size(); ++k) ins.push_back(b.as_rank_order(b.input(k), rank, order));

  float min = -kInf, max = kInf;
  if (auto f = fused_activation_bounds(n, nullptr)) std::tie(min, max) = *f;
  min = std::max(min, b.epilogue.min);
  max = std::min(max, b.epilogue.max);

  if (n.op == ir::Op::Pow && b.is_constant(ins[1]) && b.values[ins[1]].size() == 1 &&
      b.values[ins[0]].logical == out_dims) {
    const float e = b.constant_data(ins[1])[0];
    if (e == 2.0f || e == 0.5f) {  // LayerNorm decompositions: XNNPACK square / square root
      const int out = b.new_value(out_dims, order);
      b.set_output(0, out);
      xnn_operator_t op = nullptr;
      if (e == 2.0f) {
        add_xnn_unary(b, ins[0], out, xnn_create_square_nc_f32(1, 1, 1, 0, &op), &op, xnn_setup_square_nc_f32,
                      "xnn_create_square_nc_f32");
      } else {
        add_xnn_unary(b, ins[0], out, xnn_create_square_root_nc_f32(1, 1, 1, 0, &op), &op, xnn_setup_square_root_nc_f32,
                      "xnn_create_square_root_nc_f32");
      }
      return;
    }
  }
  if (n.op == ir::Op::Pow || n.op == ir::Op::Mod) {
    const int out = b.new_value(out_dims, order);
    b.set_output(0, out);
    const kernels::Broadcast bc =
        kernels::broadcast(b.values[ins[0]].dims(), b.values[ins[1]].dims(), physical_dims(out_dims, order));
    const int x = ins[0], y = ins[1];
    const bool pow = n.op == ir::Op::Pow;
    b.add_kernel({x, y}, {out}, [x, y, out, bc, pow](const Binder& bd) {
      const float* px = bd.ptr(x);
      const float* py = bd.ptr(y);
      float* po = bd.ptr(out);
      pthreadpool_t pool = bd.pool();
      return [=] {
        if (pow) {
          kernels::binary(
              px, py, po, bc, [](float u, float v) { return std::pow(u, v); }, pool);
        } else {
          kernels::binary(
              px, py, po, bc, [](float u, float v) { return std::fmod(u, v); }, pool);
        }
      };
    });
    return;
  }

  if (ins.size() == 1) {  // Sum/Mean/Max/Min of one input
    const int out = add_clamp(b, ins[0], min, max);
    if (out == ins[0]) {
      b.set_output(0, b.alias(ins[0], out_dims, order));
    } else {
      b.set_output(0, out);
    }
    return;
  }
  // Variadic ops fold left; the clamp goes on the last step (Mean: after the scale).
  int acc = ins[0];
  for (std::size_t k = 1; k < ins.size(); ++k) {
    const bool last = k + 1 == ins.size() && n.op != ir::Op::Mean;
    Dims dims = k + 1 == ins.size() ? out_dims : Dims{};
    if (dims.empty()) {
      // Intermediate of a variadic op: broadcast of what has been combined so far.
      const Dims& da = b.values[acc].logical;
      const Dims& db = b.values[ins[k]].logical;
      dims.resize(rank);
      for (std::size_t i = 0; i < rank; ++i) dims[i] = std::max(da[i], db[i]);
    }
    const int out = b.new_value(dims, order);
    add_xnn_binary(b, n.op, acc, ins[k], out, last ? min : -kInf, last ? max : kInf);
    acc = out;
  }
  if (n.op == ir::Op::Mean) {
    const int scale = b.new_constant({1.0f / static_cast<float>(ins.size())}, Dims(rank, 1), order);
    const int out = b.new_value(out_dims, order);
    add_xnn_binary(b, ir::Op::Mul, acc, scale, out, min, max);
    acc = out;
  }
  b.set_output(0, acc);
}

// --- PRelu

XnnpackSupport check_prelu(const Check& c, const ir::Node& n) {
  if (std::string why = inputs_problem(c, n, {0, 1}); !why.empty()) return no(why);
  const Dims x = c.tensor(n.inputs[0]).shape.extents();
  if (!broadcasts_into(prelu_slope_dims(c.graph, x, c.tensor(n.inputs[1]).shape.extents()), x)) {
    return no("slope does not broadcast to the input");
  }
  return yes();
}

void lower_prelu(Builder& b, const ir::Node&) {
  const int x0 = b.input(0);
  const Dims dims = b.values[x0].logical;
  const std::size_t rank = dims.size();
  const Order order = b.values[x0].order;
  const int x = x0;
  int slope_in = b.input(1);
  const Dims sdims = prelu_slope_dims(b.graph, dims, b.values[slope_in].logical);
  if (sdims != b.values[slope_in].logical) slope_in = b.alias(b.as_logical(slope_in), sdims, Order::kLogical);
  const int slope = b.as_rank_order(slope_in, rank, order);
  const int out = b.new_value(dims, order);
  b.set_output(0, out);
  const Dims pd = b.values[x].dims();
  const Dims sd = b.values[slope].dims();
  const std::int64_t channels = pd.empty() ? 1 : pd.back();
  bool per_channel = b.is_constant(slope);
  for (std::size_t i = 0; i + 1 < sd.size(); ++i) per_channel = per_channel && sd[i] == 1;
  if (per_channel && (sd.empty() || sd.back() == channels || sd.back() == 1)) {
    // XNNPACK PReLU: one slope per channel of the innermost (physical) axis.
    std::vector<float> slopes(static_cast<std::size_t>(channels));
    const float* s = b.constant_data(slope);
    for (std::int64_t i = 0; i < channels; ++i)
      slopes[static_cast<std::size_t>(i)] = s[sd.empty() || sd.back() == 1 ? 0 : i];
    xnn_operator_t raw = nullptr;
    XnnOp op = b.made(xnn_create_prelu_nc_f32(static_cast<std::size_t>(channels), static_cast<std::size_t>(channels),
                                              static_cast<std::size_t>(channels), slopes.data(), 0, &raw),
                      &raw, "xnn_create_prelu_nc_f32");
    const std::size_t batch = static_cast<std::size_t>(numel(dims) / channels);
    Step& st = b.add_step({x}, {out});
    st.op = std::move(op);
    st.bind = [x, out, batch, &b](Step& step, const Binder& bd) {
      b.check(xnn_setup_prelu_nc_f32(step.op.get(), batch, bd.ptr(x), bd.ptr(out), bd.pool()),
              "xnn_setup_prelu_nc_f32");
    };
    return;
  }
  const kernels::Broadcast bc = kernels::broadcast(pd, sd, pd);
  b.add_kernel({x, slope}, {out}, [x, slope, out, bc](const Binder& bd) {
    const float* px = bd.ptr(x);
    const float* ps = bd.ptr(slope);
    float* po = bd.ptr(out);
    pthreadpool_t pool = bd.pool();
    return [=] {
      kernels::binary(
          px, ps, po, bc, [](float u, float s) { return u < 0.0f ? u * s : u; }, pool);
    };
  });
}

}  // namespace infercast::runtime::xnnpack
