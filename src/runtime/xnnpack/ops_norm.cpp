// Softmax/LogSoftmax, LayerNormalization, InstanceNormalization and reductions.
// Softmax over the innermost axis and means over one contiguous block of axes use
// XNNPACK (softmax_nc, global_average_pooling_nwc); the rest are custom loops.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "runtime/xnnpack/ops.hpp"

namespace infercast::runtime::xnnpack {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

bool onnx_legacy_softmax(const ir::Graph& g) {
  return g.meta.format == "onnx" && g.meta.opset < 13;
}

}  // namespace

// --- Softmax / LogSoftmax

XnnpackSupport check_softmax(const Check& c, const ir::Node& n) {
  if (std::string why = input_problem(c, n, 0); !why.empty()) return no(why);
  const std::size_t rank = c.tensor(n.inputs[0]).shape.rank();
  if (rank == 0) return no("scalar input");
  const std::int64_t fallback = onnx_legacy_softmax(c.graph) ? 1 : -1;
  if (!normalize_axis(n.attrs.get_int("axis", fallback), rank)) return no("axis out of range");
  if (std::string why = output_dims_problem(c, n, 0, c.tensor(n.inputs[0]).shape.extents()); !why.empty()) {
    return no(why);
  }
  return yes();
}

void lower_softmax(Builder& b, const ir::Node& n) {
  const bool log = n.op == ir::Op::LogSoftmax;
  const float beta = static_cast<float>(n.attrs.get_float("beta", 1.0));
  int x = b.input(0);
  const Dims xl = b.values[x].logical;
  const std::size_t rank = xl.size();
  const bool legacy = onnx_legacy_softmax(b.graph);
  const int axis = *normalize_axis(n.attrs.get_int("axis", legacy ? 1 : -1), rank);
  std::size_t outer = 1, len = 1, inner = 1;
  Order order = Order::kLogical;
  if (legacy) {
    // Opset < 13: the input is coerced to 2-D at `axis`; softmax over the flattened tail.
    x = b.as_logical(x);
    for (std::size_t i = 0; i < rank; ++i)
      (static_cast<int>(i) < axis ? outer : len) *= static_cast<std::size_t>(xl[i]);
  } else {
    order = b.values[x].order;
    const Dims pd = b.values[x].dims();
    const int pa = physical_axis(rank, order, axis);
    for (std::size_t i = 0; i < rank; ++i) {
      const auto d = static_cast<std::size_t>(pd[i]);
      if (static_cast<int>(i) < pa) outer *= d;
      if (static_cast<int>(i) == pa) len = d;
      if (static_cast<int>(i) > pa) inner *= d;
    }
  }
  const int y = b.make_output(0, order);
  if (inner == 1 && beta == 1.0f && !log) {
    xnn_operator_t raw = nullptr;
    XnnOp op = b.made(xnn_create_softmax_nc_f32(len, len, len, 0, &raw), &raw, "xnn_create_softmax_nc_f32");
    Step& s = b.add_step({x}, {y});
    s.op = std::move(op);
    s.bind = [x, y, outer, &b](Step& step, const Binder& bd) {
      b.check(xnn_setup_softmax_nc_f32(step.op.get(), outer, bd.ptr(x), bd.ptr(y), bd.pool()),
              "xnn_setup_softmax_nc_f32");
    };
    return;
  }
  b.add_kernel({x}, {y}, [=](const Binder& bd) {
    const float* px = bd.ptr(x);
    float* py = bd.ptr(y);
    pthreadpool_t pool = bd.pool();
    return [=] { kernels::softmax(px, py, outer, len, inner, beta, log, pool); };
  });
}

// --- LayerNormalization

XnnpackSupport check_layer_norm(const Check& c, const ir::Node& n) {
  if (std::string why = inputs_problem(c, n, {0, 1}); !why.empty()) return no(why);
  const Dims x = c.tensor(n.inputs[0]).shape.extents();
  const auto axis = normalize_axis(n.attrs.get_int("axis", -1), x.size());
  if (!axis) return no("axis out of range");
  std::int64_t inner = 1;
  for (std::size_t i = static_cast<std::size_t>(*axis); i < x.size(); ++i) inner *= x[i];
  for (std::size_t k = 1; k <= 2; ++k) {
    if (!c.present(n, k)) continue;
    if (std::string why = input_problem(c, n, k); !why.empty()) return no(why);
    const auto size = static_cast<std::int64_t>(*c.tensor(n.inputs[k]).shape.numel());
    if (size != inner && size != 1) return no("scale/bias must have one value per normalized element");
  }
  if (std::string why = output_dims_problem(c, n, 0, x); !why.empty()) return no(why);
  for (std::size_t k = 1; k <= 2; ++k) {
    if (k < n.outputs.size() && c.used(n.outputs[k]) &&
        numel(c.tensor(n.outputs[k]).shape.extents()) != numel(x) / std::max<std::int64_t>(inner, 1)) {
      return no("Mean/InvStdDev output size is not the number of normalized rows");
    }
  }
  return yes();
}

void lower_layer_norm(Builder& b, const ir::Node& n) {
  const int x = b.as_logical(b.input(0));
  const Dims xl = b.values[x].logical;
  const int axis = *normalize_axis(n.attrs.get_int("axis", -1), xl.size());
  std::size_t outer = 1, inner = 1;
  for (std::size_t i = 0; i < xl.size(); ++i)
    (static_cast<int>(i) < axis ? outer : inner) *= static_cast<std::size_t>(xl[i]);
  const float eps = static_cast<float>(n.attrs.get_float("epsilon", 1e-5));
  const int scale = b.input(1);
  const int bias = b.has_input(2) ? b.input(2) : -1;
  const std::size_t scale_size = static_cast<std::size_t>(b.values[scale].size());
  const std::size_t bias_size = bias >= 0 ? static_cast<std::size_t>(b.values[bias].size()) : 0;
  const int y = b.make_output(0, Order::kLogical);
  const int mean = b.output_used(1) ? b.make_output(1, Order::kLogical) : -1;
  const int inv = b.output_used(2) ? b.make_output(2, Order::kLogical) : -1;
  std::vector<int> reads{x, scale}, writes{y};
  if (bias >= 0) reads.push_back(bias);
  if (mean >= 0) writes.push_back(mean);
  if (inv >= 0) writes.push_back(inv);
  b.add_kernel(reads, writes, [=](const Binder& bd) {
    const float* px = bd.ptr(x);
    const float* ps = bd.ptr(scale);
    const float* pb = bias >= 0 ? bd.ptr(bias) : nullptr;
    float* py = bd.ptr(y);
    float* pm = mean >= 0 ? bd.ptr(mean) : nullptr;
    float* pi = inv >= 0 ? bd.ptr(inv) : nullptr;
    pthreadpool_t pool = bd.pool();
    return [=] { kernels::layer_norm(px, py, outer, inner, ps, scale_size, pb, bias_size, eps, pm, pi, pool); };
  });
}

// --- InstanceNormalization

XnnpackSupport check_instance_norm(const Check& c, const ir::Node& n) {
  if (std::string why = inputs_problem(c, n, {0, 1, 2}); !why.empty()) return no(why);
  const Dims x = c.tensor(n.inputs[0]).shape.extents();
  if (x.size() < 3) return no("expects an input of rank >= 3");
  const std::int64_t ch = n.layout == ir::Layout::kNHWC ? x.back() : x[1];
  for (std::size_t k = 1; k <= 2; ++k) {
    if (static_cast<std::int64_t>(*c.tensor(n.inputs[k]).shape.numel()) != ch) return no("scale/bias size != channels");
  }
  if (std::string why = output_dims_problem(c, n, 0, x); !why.empty()) return no(why);
  return yes();
}

void lower_instance_norm(Builder& b, const ir::Node& n) {
  const Dims xl = b.input_dims(0);
  const Order order = n.layout == ir::Layout::kNHWC ? Order::kLogical : Order::kChannelsLast;
  const int x = b.as_order(b.input(0), order);
  const Dims pd = b.values[x].dims();
  const std::size_t batch = static_cast<std::size_t>(pd.front()), ch = static_cast<std::size_t>(pd.back());
  const std::size_t spatial = static_cast<std::size_t>(numel(pd)) / batch / ch;
  const int scale = b.input(1), bias = b.input(2);
  const float eps = static_cast<float>(n.attrs.get_float("epsilon", 1e-5));
  const int y = b.make_output(0, order);
  b.add_kernel({x, scale, bias}, {y}, [=](const Binder& bd) {
    const float* px = bd.ptr(x);
    const float* ps = bd.ptr(scale);
    const float* pb = bd.ptr(bias);
    float* py = bd.ptr(y);
    pthreadpool_t pool = bd.pool();
    return [=] { kernels::instance_norm(px, py, batch, spatial, ch, ps, pb, eps, pool); };
  });
}

// --- LRN

XnnpackSupport check_lrn(const Check& c, const ir::Node& n) {
  if (std::string why = input_problem(c, n, 0); !why.empty()) return no(why);
  if (c.tensor(n.inputs[0]).shape.rank() < 2) return no("expects an input of rank >= 2");
  if (n.attrs.get_int("size", 0) < 1) return no("size must be >= 1");
  if (std::string why = output_dims_problem(c, n, 0, c.tensor(n.inputs[0]).shape.extents()); !why.empty()) {
    return no(why);
  }
  return yes();
}

void lower_lrn(Builder& b, const ir::Node& n) {
  const Dims xl = b.input_dims(0);
  const Order order = n.layout == ir::Layout::kNHWC || xl.size() < 3 ? Order::kLogical : Order::kChannelsLast;
  const int x = b.as_order(b.input(0), order);
  const std::size_t channels = static_cast<std::size_t>(b.values[x].dims().back());
  const std::size_t rows = static_cast<std::size_t>(numel(xl)) / channels;
  const auto size = static_cast<std::size_t>(n.attrs.get_int("size", 1));
  const float alpha = static_cast<float>(n.attrs.get_float("alpha", 1e-4));
  const float beta = static_cast<float>(n.attrs.get_float("beta", 0.75));
  const float bias = static_cast<float>(n.attrs.get_float("bias", 1.0));
  const int y = b.make_output(0, order);
  b.add_kernel({x}, {y}, [=](const Binder& bd) {
    const float* px = bd.ptr(x);
    float* py = bd.ptr(y);
    pthreadpool_t pool = bd.pool();
    return [=] { kernels::lrn(px, py, rows, channels, size, alpha, beta, bias, pool); };
  });
}

// --- Reductions

namespace {

kernels::Reduce reduce_kind(ir::Op op) {
  switch (op) {
    case ir::Op::ReduceSum: return kernels::Reduce::kSum;
    case ir::Op::ReduceMean: return kernels::Reduce::kMean;
    case ir::Op::ReduceMax: return kernels::Reduce::kMax;
    case ir::Op::ReduceMin: return kernels::Reduce::kMin;
    case ir::Op::ReduceProd: return kernels::Reduce::kProd;
    case ir::Op::ReduceL1: return kernels::Reduce::kL1;
    case ir::Op::ReduceL2: return kernels::Reduce::kL2;
    case ir::Op::ReduceLogSum: return kernels::Reduce::kLogSum;
    case ir::Op::ReduceLogSumExp: return kernels::Reduce::kLogSumExp;
    default: return kernels::Reduce::kSumSquare;
  }
}

// The reduced logical axes; nullopt (with `why`) when they cannot be known.
std::optional<std::vector<bool>> reduce_axes(const Check& c, const ir::Node& n, std::string& why) {
  const std::size_t rank = c.tensor(n.inputs[0]).shape.rank();
  std::vector<std::int64_t> axes;
  bool given = false;
  if (n.attrs.has("axes")) {
    axes = n.attrs.get_ints("axes");
    given = true;
  } else if (c.present(n, 1)) {
    const auto v = c.ints(n.inputs[1]);
    if (!v) {
      why = "axes are not a constant";
      return std::nullopt;
    }
    axes = *v;
    given = true;
  }
  std::vector<bool> flags(rank, false);
  if (!given || axes.empty()) {
    if (given && n.attrs.get_int("noop_with_empty_axes", 0) != 0) return flags;
    flags.assign(rank, true);
    return flags;
  }
  for (auto a : axes) {
    const auto ax = normalize_axis(a, rank);
    if (!ax) {
      why = "axis " + std::to_string(a) + " out of range";
      return std::nullopt;
    }
    flags[static_cast<std::size_t>(*ax)] = true;
  }
  return flags;
}

}  // namespace

XnnpackSupport check_reduce(const Check& c, const ir::Node& n) {
  if (std::string why = input_problem(c, n, 0); !why.empty()) return no(why);
  std::string why;
  if (!reduce_axes(c, n, why)) return no(why);
  return yes();
}

void lower_reduce(Builder& b, const ir::Node& n) {
  std::string why;
  const auto flags = reduce_axes(Check(b.graph, b.facts), n, why);
  if (!flags) b.fail(why);
  const int x = b.input(0);
  const Dims xl = b.values[x].logical;
  const Order order = b.values[x].order;
  const std::size_t rank = xl.size();
  const Dims pd = b.values[x].dims();
  std::vector<bool> pflags(rank, false);
  Dims kept = xl;
  for (std::size_t i = 0; i < rank; ++i) {
    if ((*flags)[i]) {
      pflags[static_cast<std::size_t>(physical_axis(rank, order, static_cast<int>(i)))] = true;
      kept[i] = 1;
    }
  }
  const int r = b.new_value(kept, order);
  const kernels::Reduce kind = reduce_kind(n.op);
  // A mean over one contiguous block of (non-unit) axes: XNNPACK's global average pooling.
  std::int64_t outer = 1, len = 1, inner = 1;
  int phase = 0;  // 0 before the block, 1 inside, 2 after; 3 = not contiguous
  for (std::size_t i = 0; i < rank; ++i) {
    if (pd[i] == 1) continue;
    if (pflags[i]) {
      if (phase == 2) phase = 3;
      if (phase == 0) phase = 1;
      if (phase == 1) len *= pd[i];
    } else {
      if (phase == 1) phase = 2;
      (phase == 0 ? outer : inner) *= pd[i];
    }
  }
  if (kind == kernels::Reduce::kMean && phase != 3 && len > 1) {
    xnn_operator_t raw = nullptr;
    const auto channels = static_cast<std::size_t>(inner);
    XnnOp op = b.made(xnn_create_global_average_pooling_nwc_f32(channels, channels, channels, -kInf, kInf, 0, &raw),
                      &raw, "xnn_create_global_average_pooling_nwc_f32");
    Step& s = b.add_step({x}, {r});
    s.op = std::move(op);
    s.bind = [x, r, outer, len, &b](Step& step, const Binder& bd) {
      b.check(xnn_setup_global_average_pooling_nwc_f32(step.op.get(), static_cast<std::size_t>(outer),
                                                       static_cast<std::size_t>(len), bd.ptr(x), bd.ptr(r), bd.pool()),
              "xnn_setup_global_average_pooling_nwc_f32");
    };
  } else {
    b.add_kernel({x}, {r}, [x, r, pd, pflags, kind](const Binder& bd) {
      const float* px = bd.ptr(x);
      float* pr = bd.ptr(r);
      pthreadpool_t pool = bd.pool();
      return [=] { kernels::reduce(px, pr, pd, pflags, kind, pool); };
    });
  }
  // keepdims=0 drops the reduced axes: logical order first, then a reshape.
  const int logical = kept == b.output_dims(0) ? r : b.as_logical(r);
  b.set_output(0, logical);
}

}  // namespace infercast::runtime::xnnpack
