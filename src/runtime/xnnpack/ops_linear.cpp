// Gemm, TFLite FullyConnected, MatMul and the Einsums that are batched matrix products.
// Constant weights go to XNNPACK's fully_connected_nc (packed once at prepare); products
// of two activations, and the transposed-A / batched-weight cases, run the custom
// batched matmul.
#include <algorithm>
#include <cmath>
#include <limits>

#include "infercast/ir/einsum.hpp"
#include "runtime/xnnpack/ops.hpp"

namespace infercast::runtime::xnnpack {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// y[batch, n] = x[batch, k] · W + bias, W given as [n, k] or, with `kn`, as [k, n].
void add_fully_connected(Builder& b, int x, int y, std::size_t batch, std::size_t k, std::size_t n, const float* w,
                         bool kn, const float* bias, float min, float max) {
  xnn_operator_t raw = nullptr;
  XnnOp op = b.made(
      xnn_create_fully_connected_nc_f32(k, n, k, n, w, bias, min, max, kn ? XNN_FLAG_TRANSPOSE_WEIGHTS : 0, &raw), &raw,
      "xnn_create_fully_connected_nc_f32");
  Step& s = b.add_step({x}, {y});
  s.op = std::move(op);
  s.bind = [x, y, batch, &b](Step& step, const Binder& bd) {
    b.check(xnn_setup_fully_connected_nc_f32(step.op.get(), batch, bd.ptr(x), bd.ptr(y), bd.pool()),
            "xnn_setup_fully_connected_nc_f32");
  };
}

// Custom batched matmul step; `mm` has its offsets filled.
void add_matmul_kernel(Builder& b, int a, int w, int y, int bias, kernels::MatMul mm) {
  std::vector<int> reads{a, w};
  if (bias >= 0) reads.push_back(bias);
  b.add_kernel(reads, {y}, [a, w, y, bias, mm](const Binder& bd) mutable {
    const float* pa = bd.ptr(a);
    const float* pw = bd.ptr(w);
    float* py = bd.ptr(y);
    mm.bias = bias >= 0 ? bd.ptr(bias) : nullptr;
    pthreadpool_t pool = bd.pool();
    return [=] { kernels::matmul(pa, pw, py, mm, pool); };
  });
}

std::pair<float, float> output_range(const Builder& b, const ir::Node& n) {
  float min = -kInf, max = kInf;
  if (auto f = fused_activation_bounds(n, nullptr)) std::tie(min, max) = *f;
  return {std::max(min, b.epilogue.min), std::min(max, b.epilogue.max)};
}

}  // namespace

// --- Gemm / FullyConnected

XnnpackSupport check_gemm(const Check& c, const ir::Node& n) {
  if (std::string why = inputs_problem(c, n, {0, 1}); !why.empty()) return no(why);
  const Dims a = c.tensor(n.inputs[0]).shape.extents();
  const Dims w = c.tensor(n.inputs[1]).shape.extents();
  if (w.size() != 2) return no("weights are not 2-D");
  if (n.op == ir::Op::Gemm) {
    if (a.size() != 2) return no("Gemm input A is not 2-D");
    const bool ta = n.attrs.get_int("transA", 0) != 0, tb = n.attrs.get_int("transB", 0) != 0;
    const std::int64_t m = ta ? a[1] : a[0], k = ta ? a[0] : a[1];
    const std::int64_t k2 = tb ? w[1] : w[0], nn = tb ? w[0] : w[1];
    if (k != k2) return no("inner dimensions differ");
    if (c.present(n, 2)) {
      if (std::string why = input_problem(c, n, 2); !why.empty()) return no(why);
      const Dims cd = c.tensor(n.inputs[2]).shape.extents();
      if (cd.size() > 2) return no("bias C has rank above 2");
      const Dims full = cd.size() == 2 ? cd : cd.size() == 1 ? Dims{1, cd[0]} : Dims{1, 1};
      if ((full[0] != 1 && full[0] != m) || (full[1] != 1 && full[1] != nn)) return no("bias C does not broadcast");
    }
    if (std::string why = output_dims_problem(c, n, 0, {m, nn}); !why.empty()) return no(why);
    return yes();
  }
  // TFLite FULLY_CONNECTED: weights [n, k].
  if (numel(a) % w[1] != 0) return no("input size is not a multiple of the weights' input channels");
  if (numel(c.tensor(n.outputs[0]).shape.extents()) != numel(a) / w[1] * w[0]) {
    return no("output size is not batch × units");
  }
  if (c.present(n, 2)) {
    if (std::string why = input_problem(c, n, 2); !why.empty()) return no(why);
    if (static_cast<std::int64_t>(*c.tensor(n.inputs[2]).shape.numel()) != w[0]) return no("bias size != units");
  }
  std::string why;
  if (!fused_activation_bounds(n, &why)) return no(why);
  return yes();
}

void lower_gemm(Builder& b, const ir::Node& n) {
  const auto range = output_range(b, n);
  const float min = range.first, max = range.second;
  const int a = b.as_logical(b.input(0));
  const int w = b.input(1);
  const Dims ad = b.values[a].logical;
  const Dims wd = b.values[w].logical;
  const Dims yd = b.output_dims(0);
  const int y = b.new_value(yd, Order::kLogical);

  if (n.op == ir::Op::FullyConnected) {
    const std::size_t k = static_cast<std::size_t>(wd[1]), units = static_cast<std::size_t>(wd[0]);
    const std::size_t batch = static_cast<std::size_t>(numel(ad)) / k;
    const int bias = b.has_input(2) ? b.input(2) : -1;
    if (b.is_constant(w) && (bias < 0 || b.is_constant(bias))) {
      b.set_output(0, y);
      add_fully_connected(b, a, y, batch, k, units, b.constant_data(w), false,
                          bias >= 0 ? b.constant_data(bias) : nullptr, min, max);
      return;
    }
    kernels::MatMul mm;
    mm.m = batch, mm.k = k, mm.n = units, mm.trans_b = true;
    mm.a_offsets = {0}, mm.b_offsets = {0};
    if (bias >= 0) mm.bias_offsets = {0}, mm.bias_row = 0, mm.bias_col = 1;
    add_matmul_kernel(b, a, w, y, bias, mm);
    b.set_output(0, add_clamp(b, y, min, max));
    return;
  }

  const bool ta = n.attrs.get_int("transA", 0) != 0, tb = n.attrs.get_int("transB", 0) != 0;
  const float alpha = static_cast<float>(n.attrs.get_float("alpha", 1.0));
  const float beta = static_cast<float>(n.attrs.get_float("beta", 1.0));
  const std::size_t m = static_cast<std::size_t>(ta ? ad[1] : ad[0]), k = static_cast<std::size_t>(ta ? ad[0] : ad[1]);
  const std::size_t units = static_cast<std::size_t>(tb ? wd[0] : wd[1]);
  const int c = b.has_input(2) ? b.input(2) : -1;
  Dims cd;
  if (c >= 0) cd = b.values[c].logical;
  const Dims cfull = cd.size() == 2 ? cd : cd.size() == 1 ? Dims{1, cd[0]} : Dims{1, 1};
  const bool bias_is_row = c >= 0 && cfull[0] == 1;

  if (b.is_constant(w) && !ta && (c < 0 || (b.is_constant(c) && bias_is_row))) {
    std::vector<float> weights(b.constant_data(w), b.constant_data(w) + numel(wd));
    if (alpha != 1.0f) {
      for (float& v : weights) v *= alpha;
    }
    std::vector<float> bias;
    if (c >= 0) {
      const float* cp = b.constant_data(c);
      bias.resize(units);
      for (std::size_t j = 0; j < units; ++j) bias[j] = beta * cp[cfull[1] == 1 ? 0 : j];
    }
    b.set_output(0, y);
    add_fully_connected(b, a, y, m, k, units, weights.data(), !tb, c >= 0 ? bias.data() : nullptr, min, max);
    return;
  }
  kernels::MatMul mm;
  mm.m = m, mm.k = k, mm.n = units, mm.trans_a = ta, mm.trans_b = tb, mm.alpha = alpha, mm.beta = beta;
  mm.a_offsets = {0}, mm.b_offsets = {0};
  if (c >= 0) {
    mm.bias_offsets = {0};
    mm.bias_row = cfull[0] == 1 ? 0 : static_cast<std::size_t>(cfull[1]);
    mm.bias_col = cfull[1] == 1 ? 0 : 1;
  }
  add_matmul_kernel(b, a, w, y, c, mm);
  const int clamped = add_clamp(b, y, min, max);
  b.set_output(0, clamped);
}

// --- MatMul (ONNX MatMul, TFLite BATCH_MATMUL)

XnnpackSupport check_matmul(const Check& c, const ir::Node& n) {
  if (std::string why = inputs_problem(c, n, {0, 1}); !why.empty()) return no(why);
  Dims a = c.tensor(n.inputs[0]).shape.extents();
  Dims w = c.tensor(n.inputs[1]).shape.extents();
  if (a.empty() || w.empty()) return no("scalar operands");
  if (a.size() == 1) a.insert(a.begin(), 1);
  if (w.size() == 1) w.push_back(1);
  const bool ta = n.attrs.get_int("adj_x", 0) != 0, tb = n.attrs.get_int("adj_y", 0) != 0;
  const std::int64_t k1 = ta ? a[a.size() - 2] : a.back();
  const std::int64_t k2 = tb ? w.back() : w[w.size() - 2];
  if (k1 != k2) return no("inner dimensions differ");
  const std::size_t batch_rank = std::max(a.size(), w.size()) - 2;
  std::int64_t batches = 1;
  for (std::size_t i = 0; i < batch_rank; ++i) {
    const std::int64_t da = i + a.size() >= batch_rank + 2 ? a[i + a.size() - batch_rank - 2] : 1;
    const std::int64_t dw = i + w.size() >= batch_rank + 2 ? w[i + w.size() - batch_rank - 2] : 1;
    if (da != dw && da != 1 && dw != 1) return no("batch dimensions do not broadcast");
    batches *= std::max(da, dw);
  }
  const std::int64_t m = ta ? a.back() : a[a.size() - 2], units = tb ? w[w.size() - 2] : w.back();
  if (numel(c.tensor(n.outputs[0]).shape.extents()) != batches * m * units) return no("output size does not match");
  return yes();
}

void lower_matmul(Builder& b, const ir::Node& n) {
  const int a = b.as_logical(b.input(0));
  const int w = b.as_logical(b.input(1));
  Dims ad = b.values[a].logical, wd = b.values[w].logical;
  if (ad.size() == 1) ad.insert(ad.begin(), 1);
  if (wd.size() == 1) wd.push_back(1);
  const bool ta = n.attrs.get_int("adj_x", 0) != 0, tb = n.attrs.get_int("adj_y", 0) != 0;
  const std::size_t m = static_cast<std::size_t>(ta ? ad[ad.size() - 1] : ad[ad.size() - 2]);
  const std::size_t k = static_cast<std::size_t>(ta ? ad[ad.size() - 2] : ad[ad.size() - 1]);
  const std::size_t units = static_cast<std::size_t>(tb ? wd[wd.size() - 2] : wd[wd.size() - 1]);
  const Dims yd = b.output_dims(0);
  const int y = b.make_output(0, Order::kLogical);

  bool weight_batched = false;
  for (std::size_t i = 0; i + 2 < wd.size(); ++i) weight_batched = weight_batched || wd[i] != 1;
  if (b.is_constant(w) && !weight_batched && !ta) {
    const std::size_t rows = static_cast<std::size_t>(numel(ad)) / k;
    add_fully_connected(b, a, y, rows, k, units, b.constant_data(w), !tb, nullptr, -kInf, kInf);
    return;
  }
  // Broadcast batch offsets, row-major over the output's batch dims.
  const std::size_t batch_rank = std::max(ad.size(), wd.size()) - 2;
  Dims bdims(batch_rank, 1);
  auto batch_dim = [&](const Dims& d, std::size_t i) -> std::int64_t {
    const std::size_t lead = d.size() - 2;
    return i + lead >= batch_rank ? d[i + lead - batch_rank] : 1;
  };
  for (std::size_t i = 0; i < batch_rank; ++i) bdims[i] = std::max(batch_dim(ad, i), batch_dim(wd, i));
  kernels::MatMul mm;
  mm.m = m, mm.k = k, mm.n = units, mm.trans_a = ta, mm.trans_b = tb;
  const std::int64_t batches = numel(bdims);
  for (std::int64_t bi = 0; bi < batches; ++bi) {
    std::int64_t rem = bi, ao = 0, wo = 0, astride = 1, wstride = 1;
    for (std::size_t i = batch_rank; i-- > 0;) {
      const std::int64_t idx = rem % bdims[i];
      rem /= bdims[i];
      const std::int64_t da = batch_dim(ad, i), dw = batch_dim(wd, i);
      if (da != 1) ao += idx * astride;
      if (dw != 1) wo += idx * wstride;
      astride *= da;
      wstride *= dw;
    }
    mm.a_offsets.push_back(static_cast<std::size_t>(ao) * m * k);
    mm.b_offsets.push_back(static_cast<std::size_t>(wo) * k * units);
  }
  if (static_cast<std::int64_t>(batches) * static_cast<std::int64_t>(m * units) != numel(yd)) {
    b.fail("output " + dims_str(yd) + " does not match the product's size");
  }
  add_matmul_kernel(b, a, w, y, -1, mm);
}

// --- Einsum: the batched matrix products attention writes as an Einsum (MaxViT's
// "B G H I D, B G H J D -> B G H I J" and "..., B G H J D -> B G H I D"; ir::einsum_batched_matmul
// says which); any other equation is refused with the reason. XNNPACK 2022 has no batched
// matrix multiply, so both run the custom batched matmul, as MatMul of two activations does.

namespace {

std::optional<ir::BatchedMatmul> einsum_form(const ir::Node& n, const Dims& a, const Dims& b) {
  return ir::einsum_batched_matmul(n.attrs.get_string("equation", ""), {a, b});
}

}  // namespace

XnnpackSupport check_einsum(const Check& c, const ir::Node& n) {
  if (n.inputs.size() != 2) return no("only two-operand equations run here");
  if (std::string why = inputs_problem(c, n, {0, 1}); !why.empty()) return no(why);
  const auto mm = einsum_form(n, c.tensor(n.inputs[0]).shape.extents(), c.tensor(n.inputs[1]).shape.extents());
  if (!mm) {
    return no("equation '" + n.attrs.get_string("equation", "") +
              "' is not a batched matrix product (batch letters, then ik,jk->ij or ik,kj->ij)");
  }
  if (numel(c.tensor(n.outputs[0]).shape.extents()) != mm->batch * mm->m * mm->n)
    return no("output size does not match");
  return yes();
}

void lower_einsum(Builder& b, const ir::Node& n) {
  const int a = b.as_logical(b.input(0));
  const int w = b.as_logical(b.input(1));
  const auto form = einsum_form(n, b.values[a].logical, b.values[w].logical);
  if (!form) b.fail("equation does not fit its operands");
  const int y = b.make_output(0, Order::kLogical);
  kernels::MatMul mm;
  mm.m = static_cast<std::size_t>(form->m), mm.k = static_cast<std::size_t>(form->k);
  mm.n = static_cast<std::size_t>(form->n), mm.trans_b = form->transposed_b;
  for (std::int64_t i = 0; i < form->batch; ++i) {
    const auto bi = static_cast<std::size_t>(i);
    mm.a_offsets.push_back(bi * mm.m * mm.k);
    mm.b_offsets.push_back(bi * mm.k * mm.n);
  }
  add_matmul_kernel(b, a, w, y, -1, mm);
}

}  // namespace infercast::runtime::xnnpack
