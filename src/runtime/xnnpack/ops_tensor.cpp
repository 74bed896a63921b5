// Data movement: reshape-like aliases, Constant, Dequantize/Densify of constants,
// Transpose, Concat/Split (XNNPACK copy_nc_x32 with strides), Slice, Pad
// (constant_pad_nd_x32, or a gather for edge/reflect), Expand/Tile and Gather.
// Ops that only move axes work on the physical order they receive when they can
// (Concat, Split, Slice, Pad, Expand): no layout transpose is inserted for them.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "runtime/xnnpack/ops.hpp"

namespace infercast::runtime::xnnpack {

namespace {

constexpr std::int64_t kBig = std::numeric_limits<std::int64_t>::max() / 4;

std::vector<std::int64_t> row_major_strides(const Dims& dims) {
  std::vector<std::int64_t> s(dims.size(), 1);
  for (std::size_t i = dims.size(); i-- > 1;) s[i - 1] = s[i] * dims[i];
  return s;
}

void add_gather_kernel(Builder& b, int x, int y, kernels::Gather g) {
  b.add_kernel({x}, {y}, [x, y, g](const Binder& bd) {
    const float* px = bd.ptr(x);
    float* py = bd.ptr(y);
    pthreadpool_t pool = bd.pool();
    return [=] { kernels::gather(px, py, g, pool); };
  });
}

void add_indexed_kernel(Builder& b, int x, int y, std::vector<std::vector<std::int64_t>> offsets) {
  b.add_kernel({x}, {y}, [x, y, offsets](const Binder& bd) {
    const float* px = bd.ptr(x);
    float* py = bd.ptr(y);
    pthreadpool_t pool = bd.pool();
    return [=] { kernels::indexed_gather(px, py, offsets, pool); };
  });
}

// XNNPACK strided copy of `batch` rows of `channels` floats.
void add_copy(Builder& b, int x, int y, std::size_t batch, std::size_t channels, std::size_t in_stride,
              std::size_t out_stride, std::size_t in_offset, std::size_t out_offset) {
  xnn_operator_t raw = nullptr;
  XnnOp op = b.made(xnn_create_copy_nc_x32(channels, in_stride, out_stride, 0, &raw), &raw, "xnn_create_copy_nc_x32");
  Step& s = b.add_step({x}, {y});
  s.op = std::move(op);
  s.bind = [x, y, batch, in_offset, out_offset, &b](Step& step, const Binder& bd) {
    b.check(xnn_setup_copy_nc_x32(step.op.get(), batch, bd.ptr(x) + in_offset, bd.ptr(y) + out_offset, bd.pool()),
            "xnn_setup_copy_nc_x32");
  };
}

}  // namespace

// --- Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout, Cast, Dequantize, Densify

XnnpackSupport check_alias(const Check& c, const ir::Node& n) {
  if (!c.present(n, 0)) return no("input 0 is missing");
  const ir::Tensor& in = c.tensor(n.inputs[0]);
  if (n.op == ir::Op::Dequantize) {
    if (!c.constant(n.inputs[0])) return no("Dequantize of run-time data (only constant weights are dequantized)");
    if (in.dtype == ir::DType::kInt8 || in.dtype == ir::DType::kUInt8 || in.dtype == ir::DType::kInt16 ||
        in.dtype == ir::DType::kInt32) {
      if (!in.is_constant()) return no("Dequantize of a computed integer tensor");
      if (in.quant.empty()) return no("integer tensor without quantization parameters");
      return yes();
    }
  }
  if (n.op == ir::Op::Densify) {
    if (!in.is_constant() || !in.sparse) return no("Densify of something other than a sparse constant");
    if (std::string why = tflite_sparse_problem(c.graph, n.inputs[0]); !why.empty()) return no(why);
    return yes();
  }
  if (n.op == ir::Op::Cast) {
    const ir::DType to = c.tensor(n.outputs[0]).dtype;
    if (to != ir::DType::kFloat32) return no("Cast to " + std::string(ir::dtype_name(to)));
  }
  if (n.op == ir::Op::Dropout) {
    if (c.present(n, 2)) {
      const auto training = c.floats(n.inputs[2]);
      const auto training_i = c.ints(n.inputs[2]);
      const bool off = (training && !training->empty() && (*training)[0] == 0.0f) ||
                       (c.tensor(n.inputs[2]).dtype == ir::DType::kBool && c.tensor(n.inputs[2]).is_constant() &&
                        !c.tensor(n.inputs[2]).data.empty() && c.tensor(n.inputs[2]).data[0] == std::byte{0}) ||
                       (training_i && !training_i->empty() && (*training_i)[0] == 0);
      if (!off) return no("Dropout training_mode is not a constant false");
    }
    if (n.outputs.size() > 1 && c.used(n.outputs[1])) return no("Dropout mask output is used");
  }
  if (std::string why = input_problem(c, n, 0); !why.empty()) return no(why);
  if (c.used(n.outputs[0]) && *in.shape.numel() != *c.tensor(n.outputs[0]).shape.numel()) {
    return no("element count changes");
  }
  return yes();
}

void lower_alias(Builder& b, const ir::Node& n) {
  const ir::Tensor& in = b.input_tensor(0);
  if (n.op == ir::Op::Dequantize && in.dtype != ir::DType::kFloat16 && in.dtype != ir::DType::kFloat32 &&
      in.dtype != ir::DType::kBFloat16 && in.dtype != ir::DType::kFloat64) {
    // real = scale · (q − zero_point), per tensor or per channel along quant.axis.
    const Dims dims = in.shape.extents();
    const std::size_t count = static_cast<std::size_t>(numel(dims));
    const std::size_t width = ir::dtype_bits(in.dtype) / 8;
    if (in.data.size() != count * width) b.fail("quantized constant has the wrong size");
    const auto& q = in.quant;
    std::size_t inner = 1, channels = 1;
    if (q.scales.size() > 1) {
      const auto axis = normalize_axis(q.axis, dims.size());
      if (!axis || dims[static_cast<std::size_t>(*axis)] != static_cast<std::int64_t>(q.scales.size())) {
        b.fail("per-channel scales do not match the quantized axis");
      }
      channels = q.scales.size();
      for (std::size_t i = static_cast<std::size_t>(*axis) + 1; i < dims.size(); ++i) {
        inner *= static_cast<std::size_t>(dims[i]);
      }
    }
    std::vector<float> out(count);
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t ch = (i / inner) % channels;
      const std::int64_t zp = q.zero_points.empty() ? 0 : q.zero_points[std::min(ch, q.zero_points.size() - 1)];
      std::int64_t v = 0;
      const std::byte* p = in.data.data() + i * width;
      switch (in.dtype) {
        case ir::DType::kInt8: v = static_cast<std::int8_t>(p[0]); break;
        case ir::DType::kUInt8: v = static_cast<std::uint8_t>(p[0]); break;
        case ir::DType::kInt16: {
          std::int16_t t;
          std::memcpy(&t, p, 2);
          v = t;
          break;
        }
        default: {
          std::int32_t t;
          std::memcpy(&t, p, 4);
          v = t;
          break;
        }
      }
      out[i] = q.scales[ch] * static_cast<float>(v - zp);
    }
    b.set_output(0, b.new_constant(std::move(out), dims, Order::kLogical));
    return;
  }
  const int x = b.input(0);
  const Dims od = b.output_dims(0);
  if (b.values[x].logical == od) {  // same shape: keep whatever order the data is in
    b.set_output(0, x);
    return;
  }
  b.set_output(0, b.alias(b.as_logical(x), od, Order::kLogical));
}

// --- Constant

XnnpackSupport check_constant(const Check& c, const ir::Node& n) {
  if (n.outputs.empty() || n.outputs[0] < 0) return no("no output");
  const ir::Tensor& t = c.tensor(n.outputs[0]);
  if (!t.is_constant()) return no("Constant value of an unsupported kind (not a dense tensor)");
  if (t.sparse) return no("sparse Constant value");
  return yes();
}

void lower_constant(Builder&, const ir::Node&) {}  // the output tensor is a constant already

// --- Transpose

namespace {

std::vector<std::int64_t> transpose_perm(const Check& c, const ir::Node& n, std::size_t rank) {
  std::vector<std::int64_t> perm = n.attrs.get_ints("perm");
  if (perm.empty() && !n.attrs.has("perm") && c.present(n, 1)) perm = c.ints(n.inputs[1]).value_or(perm);
  if (perm.empty()) {
    for (std::size_t i = rank; i-- > 0;) perm.push_back(static_cast<std::int64_t>(i));
  }
  return perm;
}

}  // namespace

XnnpackSupport check_transpose(const Check& c, const ir::Node& n) {
  if (std::string why = input_problem(c, n, 0); !why.empty()) return no(why);
  const std::size_t rank = c.tensor(n.inputs[0]).shape.rank();
  const auto perm = transpose_perm(c, n, rank);
  if (perm.size() != rank) return no("perm does not have one entry per axis");
  std::vector<bool> seen(rank, false);
  for (auto p : perm) {
    if (p < 0 || p >= static_cast<std::int64_t>(rank) || seen[static_cast<std::size_t>(p)]) return no("invalid perm");
    seen[static_cast<std::size_t>(p)] = true;
  }
  const Dims x = c.tensor(n.inputs[0]).shape.extents();
  Dims want;
  for (auto p : perm) want.push_back(x[static_cast<std::size_t>(p)]);
  if (std::string why = output_dims_problem(c, n, 0, want); !why.empty()) return no(why);
  return yes();
}

void lower_transpose(Builder& b, const ir::Node& n) {
  const int x = b.input(0);
  const Dims xl = b.values[x].logical;
  const auto perm = transpose_perm(Check(b.graph, b.facts), n, xl.size());
  // Output axis i is input logical axis perm[i], which the input holds at physical inv[perm[i]].
  const auto from = order_perm(xl.size(), b.values[x].order);
  std::vector<int> inv(from.size());
  for (std::size_t i = 0; i < from.size(); ++i) inv[static_cast<std::size_t>(from[i])] = static_cast<int>(i);
  std::vector<int> phys;
  for (auto p : perm) phys.push_back(inv[static_cast<std::size_t>(p)]);
  const kernels::Gather g = kernels::transpose_view(b.values[x].dims(), phys);
  const kernels::Gather simple = kernels::simplify(g);
  if (simple.dims.size() == 1 && simple.strides[0] == 1) {  // only unit axes move
    b.set_output(0, b.alias(x, b.output_dims(0), Order::kLogical));
    return;
  }
  const int y = b.make_output(0, Order::kLogical);
  add_gather_kernel(b, x, y, g);
}

// --- Concat

XnnpackSupport check_concat(const Check& c, const ir::Node& n) {
  if (n.inputs.empty()) return no("no inputs");
  for (std::size_t k = 0; k < n.inputs.size(); ++k) {
    if (std::string why = input_problem(c, n, k); !why.empty()) return no(why);
  }
  const Dims y = c.tensor(n.outputs[0]).shape.extents();
  const std::size_t rank = y.size();
  const auto axis = normalize_axis(n.attrs.get_int("axis", 0), rank);
  if (!axis) return no("axis out of range");
  std::int64_t along = 0;
  for (int t : n.inputs) {
    const Dims d = c.tensor(t).shape.extents();
    if (d.size() != rank) return no("inputs differ in rank from the output");
    for (std::size_t i = 0; i < rank; ++i) {
      if (static_cast<int>(i) != *axis && d[i] != y[i]) return no("inputs differ from the output off the axis");
    }
    along += d[static_cast<std::size_t>(*axis)];
  }
  if (along != y[static_cast<std::size_t>(*axis)]) return no("inputs do not add up to the output along the axis");
  std::string why;
  if (!fused_activation_bounds(n, &why)) return no(why);
  return yes();
}

void lower_concat(Builder& b, const ir::Node& n) {
  const Dims od = b.output_dims(0);
  const std::size_t rank = od.size();
  const int axis = *normalize_axis(n.attrs.get_int("axis", 0), rank);
  Order order = Order::kLogical;
  for (std::size_t k = 0; k < n.inputs.size(); ++k) {
    const int v = b.input(k);
    if (!b.is_constant(v) && b.values[v].order == Order::kChannelsLast && rank >= 3) order = Order::kChannelsLast;
  }
  const int pa = physical_axis(rank, order, axis);
  const Dims pd = physical_dims(od, order);
  std::size_t outer = 1, after = 1;
  for (int i = 0; i < static_cast<int>(rank); ++i) {
    if (i < pa) outer *= static_cast<std::size_t>(pd[static_cast<std::size_t>(i)]);
    if (i > pa) after *= static_cast<std::size_t>(pd[static_cast<std::size_t>(i)]);
  }
  const std::size_t total = static_cast<std::size_t>(pd[static_cast<std::size_t>(pa)]) * after;
  const int y = b.new_value(od, order);
  std::size_t offset = 0;
  for (std::size_t k = 0; k < n.inputs.size(); ++k) {
    const int v = b.as_order(b.input(k), order);
    const std::size_t inner = static_cast<std::size_t>(b.values[v].dims()[static_cast<std::size_t>(pa)]) * after;
    if (inner > 0) add_copy(b, v, y, outer, inner, inner, total, 0, offset);
    offset += inner;
  }
  if (offset != total) b.fail("inputs do not add up to the output along the axis");
  float min = -std::numeric_limits<float>::infinity(), max = std::numeric_limits<float>::infinity();
  if (auto f = fused_activation_bounds(n, nullptr)) std::tie(min, max) = *f;
  b.set_output(0, add_clamp(b, y, min, max));
}

// --- Split

XnnpackSupport check_split(const Check& c, const ir::Node& n) {
  if (std::string why = input_problem(c, n, 0); !why.empty()) return no(why);
  const Dims x = c.tensor(n.inputs[0]).shape.extents();
  const auto axis = normalize_axis(n.attrs.get_int("axis", 0), x.size());
  if (!axis) return no("axis out of range");
  std::int64_t sum = 0;
  for (int t : n.outputs) {
    if (t < 0) return no("omitted output");
    const Dims o = c.tensor(t).shape.extents();
    if (!c.tensor(t).shape.is_static() || o.size() != x.size()) return no("output shapes are not known");
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (static_cast<int>(i) != *axis && o[i] != x[i]) return no("outputs differ from the input off the axis");
    }
    sum += o[static_cast<std::size_t>(*axis)];
  }
  if (sum != x[static_cast<std::size_t>(*axis)]) return no("output sizes do not add up to the input along the axis");
  return yes();
}

void lower_split(Builder& b, const ir::Node& n) {
  const int x = b.input(0);
  const Dims xl = b.values[x].logical;
  const std::size_t rank = xl.size();
  const int axis = *normalize_axis(n.attrs.get_int("axis", 0), rank);
  const Order order = b.values[x].order;
  const int pa = physical_axis(rank, order, axis);
  const Dims pd = b.values[x].dims();
  std::size_t outer = 1, after = 1;
  for (int i = 0; i < static_cast<int>(rank); ++i) {
    if (i < pa) outer *= static_cast<std::size_t>(pd[static_cast<std::size_t>(i)]);
    if (i > pa) after *= static_cast<std::size_t>(pd[static_cast<std::size_t>(i)]);
  }
  const std::size_t total = static_cast<std::size_t>(pd[static_cast<std::size_t>(pa)]) * after;
  std::size_t offset = 0;
  for (std::size_t k = 0; k < n.outputs.size(); ++k) {
    const Dims od = b.graph.tensors[n.outputs[k]].shape.extents();
    const std::size_t inner = static_cast<std::size_t>(od[static_cast<std::size_t>(axis)]) * after;
    const int y = b.new_value(od, order);
    if (inner > 0) add_copy(b, x, y, outer, inner, total, inner, offset, 0);
    b.set_output(k, y);
    offset += inner;
  }
}

// --- Slice (ONNX Slice, TFLite SLICE and STRIDED_SLICE)

namespace {

struct SlicePlan {
  std::vector<std::int64_t> start, step, count;  // per logical axis
  Dims kept;                                     // output before shrinking axes
};

std::string slice_plan(const Check& c, const ir::Node& n, SlicePlan& plan) {
  const Dims x = c.tensor(n.inputs[0]).shape.extents();
  const std::size_t rank = x.size();
  plan.start.assign(rank, 0);
  plan.step.assign(rank, 1);
  plan.count = x;
  std::vector<bool> shrink(rank, false);
  if (n.layout == ir::Layout::kNHWC) {  // TFLite
    const auto begin = c.present(n, 1) ? c.ints(n.inputs[1]) : std::nullopt;
    const auto second = c.present(n, 2) ? c.ints(n.inputs[2]) : std::nullopt;
    if (!begin || !second || begin->size() != rank || second->size() != rank) return "begin/size are not constants";
    if (n.source_op == "SLICE") {
      for (std::size_t i = 0; i < rank; ++i) {
        plan.start[i] = (*begin)[i];
        plan.count[i] = (*second)[i] < 0 ? x[i] - (*begin)[i] : (*second)[i];
      }
    } else {  // STRIDED_SLICE
      const auto strides = c.present(n, 3)
                               ? c.ints(n.inputs[3])
                               : std::optional<std::vector<std::int64_t>>(std::vector<std::int64_t>(rank, 1));
      if (!strides || strides->size() != rank) return "strides are not constants";
      if (n.attrs.get_int("ellipsis_mask", 0) != 0 || n.attrs.get_int("new_axis_mask", 0) != 0) {
        return "ellipsis_mask and new_axis_mask are not supported";
      }
      const std::int64_t bm = n.attrs.get_int("begin_mask", 0), em = n.attrs.get_int("end_mask", 0),
                         sm = n.attrs.get_int("shrink_axis_mask", 0);
      for (std::size_t i = 0; i < rank; ++i) {
        const std::int64_t s = (*strides)[i];
        if (s == 0) return "stride 0";
        std::int64_t b = (*begin)[i], e = (*second)[i];
        if (bm >> i & 1) b = s > 0 ? 0 : x[i] - 1;
        if (b < 0) b += x[i];
        if (sm >> i & 1) {
          shrink[i] = true;
          if (b < 0 || b >= x[i]) return "shrunk index out of range";
          plan.start[i] = b, plan.step[i] = 1, plan.count[i] = 1;
          continue;
        }
        if (em >> i & 1) {
          e = s > 0 ? x[i] : -1;
        } else if (e < 0) {
          e += x[i];
        }
        b = s > 0 ? std::clamp<std::int64_t>(b, 0, x[i]) : std::clamp<std::int64_t>(b, -1, x[i] - 1);
        e = s > 0 ? std::clamp<std::int64_t>(e, 0, x[i]) : std::clamp<std::int64_t>(e, -1, x[i] - 1);
        plan.start[i] = b, plan.step[i] = s;
        plan.count[i] =
            s > 0 ? std::max<std::int64_t>(0, (e - b + s - 1) / s) : std::max<std::int64_t>(0, (b - e - s - 1) / -s);
      }
    }
  } else {  // ONNX: attributes (opset < 10) or inputs starts, ends, axes, steps
    const bool attrs = n.attrs.has("starts");
    const auto starts = attrs             ? std::optional(n.attrs.get_ints("starts"))
                        : c.present(n, 1) ? c.ints(n.inputs[1])
                                          : std::nullopt;
    const auto ends = attrs             ? std::optional(n.attrs.get_ints("ends"))
                      : c.present(n, 2) ? c.ints(n.inputs[2])
                                        : std::nullopt;
    if (!starts || !ends || starts->size() != ends->size()) return "starts/ends are not constants";
    std::vector<std::int64_t> axes;
    if (attrs ? n.attrs.has("axes") : c.present(n, 3)) {
      const auto a = attrs ? std::optional(n.attrs.get_ints("axes")) : c.ints(n.inputs[3]);
      if (!a) return "axes are not constants";
      axes = *a;
    } else {
      for (std::size_t i = 0; i < starts->size(); ++i) axes.push_back(static_cast<std::int64_t>(i));
    }
    std::vector<std::int64_t> steps(starts->size(), 1);
    if (!attrs && c.present(n, 4)) {
      const auto s = c.ints(n.inputs[4]);
      if (!s) return "steps are not constants";
      steps = *s;
    }
    if (axes.size() != starts->size() || steps.size() != starts->size())
      return "starts/ends/axes/steps differ in length";
    for (std::size_t j = 0; j < axes.size(); ++j) {
      const auto ax = normalize_axis(axes[j], rank);
      if (!ax) return "axis out of range";
      const std::size_t i = static_cast<std::size_t>(*ax);
      const std::int64_t s = steps[j], d = x[i];
      if (s == 0) return "step 0";
      std::int64_t b = std::clamp((*starts)[j], -kBig, kBig), e = std::clamp((*ends)[j], -kBig, kBig);
      if (b < 0) b += d;
      if (e < 0) e += d;
      if (s > 0) {
        b = std::clamp<std::int64_t>(b, 0, d);
        e = std::clamp<std::int64_t>(e, 0, d);
        plan.count[i] = std::max<std::int64_t>(0, (e - b + s - 1) / s);
      } else {
        b = std::clamp<std::int64_t>(b, 0, d - 1);
        e = std::clamp<std::int64_t>(e, -1, d - 1);
        plan.count[i] = std::max<std::int64_t>(0, (b - e + (-s) - 1) / -s);
      }
      plan.start[i] = b, plan.step[i] = s;
    }
  }
  plan.kept = plan.count;
  Dims shrunk;
  for (std::size_t i = 0; i < rank; ++i) {
    if (!shrink[i]) shrunk.push_back(plan.count[i]);
  }
  const Dims declared = c.tensor(n.outputs[0]).shape.extents();
  if (numel(shrunk) != numel(declared)) {
    return "computed output " + dims_str(shrunk) + " differs from the declared " + dims_str(declared);
  }
  if (numel(shrunk) == 0) return "empty output";
  return {};
}

}  // namespace

XnnpackSupport check_slice(const Check& c, const ir::Node& n) {
  if (std::string why = input_problem(c, n, 0); !why.empty()) return no(why);
  SlicePlan plan;
  if (std::string why = slice_plan(c, n, plan); !why.empty()) return no(why);
  return yes();
}

void lower_slice(Builder& b, const ir::Node& n) {
  SlicePlan plan;
  if (std::string why = slice_plan(Check(b.graph, b.facts), n, plan); !why.empty()) b.fail(why);
  const int x = b.input(0);
  const Order order = b.values[x].order;
  const std::size_t rank = plan.kept.size();
  const auto perm = order_perm(rank, order);  // physical axis i holds logical perm[i]
  const Dims pd = b.values[x].dims();
  const auto in_strides = row_major_strides(pd);
  kernels::Gather g;
  for (std::size_t i = 0; i < rank; ++i) {
    const std::size_t l = static_cast<std::size_t>(perm[i]);
    g.dims.push_back(plan.count[l]);
    g.strides.push_back(in_strides[i] * plan.step[l]);
    g.base += plan.start[l] * in_strides[i];
  }
  const int y = b.new_value(plan.kept, order);
  add_gather_kernel(b, x, y, g);
  const Dims od = b.output_dims(0);
  b.set_output(0, plan.kept == od ? y : b.alias(b.as_logical(y), od, Order::kLogical));
}

// --- Pad

namespace {

struct PadPlan {
  std::vector<std::int64_t> before, after;  // per logical axis
  std::string mode;
  float value = 0.0f;
};

std::string pad_plan(const Check& c, const ir::Node& n, PadPlan& plan) {
  const std::size_t rank = c.tensor(n.inputs[0]).shape.rank();
  plan.mode = n.attrs.get_string("mode", "constant");
  std::vector<std::int64_t> pads;
  if (n.layout == ir::Layout::kNHWC) {  // TFLite paddings [rank, 2]
    const auto p = c.present(n, 1) ? c.ints(n.inputs[1]) : std::nullopt;
    if (!p || p->size() != 2 * rank) return "paddings are not a constant [rank, 2] tensor";
    for (std::size_t i = 0; i < rank; ++i) plan.before.push_back((*p)[2 * i]), plan.after.push_back((*p)[2 * i + 1]);
  } else {
    if (n.attrs.has("pads")) {
      pads = n.attrs.get_ints("pads");
      plan.value = static_cast<float>(n.attrs.get_float("value", 0.0));
    } else {
      const auto p = c.present(n, 1) ? c.ints(n.inputs[1]) : std::nullopt;
      if (!p) return "pads are not constants";
      pads = *p;
    }
    std::vector<std::int64_t> axes;
    if (c.present(n, 3)) {
      const auto a = c.ints(n.inputs[3]);
      if (!a) return "axes are not constants";
      axes = *a;
    } else {
      for (std::size_t i = 0; i < rank; ++i) axes.push_back(static_cast<std::int64_t>(i));
    }
    if (pads.size() != 2 * axes.size()) return "pads do not have two values per axis";
    plan.before.assign(rank, 0);
    plan.after.assign(rank, 0);
    for (std::size_t j = 0; j < axes.size(); ++j) {
      const auto ax = normalize_axis(axes[j], rank);
      if (!ax) return "axis out of range";
      plan.before[static_cast<std::size_t>(*ax)] = pads[j];
      plan.after[static_cast<std::size_t>(*ax)] = pads[j + axes.size()];
    }
  }
  if (c.present(n, 2)) {
    const auto v = c.floats(n.inputs[2]);
    if (!v || v->size() != 1) return "constant_value is not a constant scalar";
    plan.value = (*v)[0];
  }
  for (std::size_t i = 0; i < rank; ++i) {
    if (plan.before[i] < 0 || plan.after[i] < 0) return "negative pads (cropping) are not supported";
  }
  if (plan.mode != "constant" && plan.mode != "edge" && plan.mode != "reflect" && plan.mode != "symmetric") {
    return "mode '" + plan.mode + "' is not supported";
  }
  if (plan.mode == "reflect" || plan.mode == "symmetric") {
    const Dims x = c.tensor(n.inputs[0]).shape.extents();
    for (std::size_t i = 0; i < rank; ++i) {
      const std::int64_t limit = plan.mode == "reflect" ? x[i] - 1 : x[i];
      if (plan.before[i] > limit || plan.after[i] > limit) return "reflect padding wider than the input";
    }
  }
  return {};
}

}  // namespace

XnnpackSupport check_pad(const Check& c, const ir::Node& n) {
  if (std::string why = input_problem(c, n, 0); !why.empty()) return no(why);
  if (c.tensor(n.inputs[0]).shape.rank() > XNN_MAX_TENSOR_DIMS) return no("rank above 6");
  PadPlan plan;
  if (std::string why = pad_plan(c, n, plan); !why.empty()) return no(why);
  Dims want = c.tensor(n.inputs[0]).shape.extents();
  for (std::size_t i = 0; i < want.size(); ++i) want[i] += plan.before[i] + plan.after[i];
  if (std::string why = output_dims_problem(c, n, 0, want); !why.empty()) return no(why);
  return yes();
}

void lower_pad(Builder& b, const ir::Node& n) {
  PadPlan plan;
  if (std::string why = pad_plan(Check(b.graph, b.facts), n, plan); !why.empty()) b.fail(why);
  const int x = b.input(0);
  const Order order = b.values[x].order;
  const Dims xl = b.values[x].logical;
  const std::size_t rank = xl.size();
  const auto perm = order_perm(rank, order);
  const Dims pd = b.values[x].dims();
  const int y = b.make_output(0, order);
  if (plan.mode == "constant") {
    std::vector<std::size_t> shape, pre, post;
    for (std::size_t i = 0; i < rank; ++i) {
      const std::size_t l = static_cast<std::size_t>(perm[i]);
      shape.push_back(static_cast<std::size_t>(pd[i]));
      pre.push_back(static_cast<std::size_t>(plan.before[l]));
      post.push_back(static_cast<std::size_t>(plan.after[l]));
    }
    if (shape.empty()) shape = {1}, pre = {0}, post = {0};
    const int value = b.new_constant({plan.value}, {1}, Order::kLogical);
    xnn_operator_t raw = nullptr;
    XnnOp op =
        b.made(xnn_create_constant_pad_nd_x32(b.constant_data(value), 0, &raw), &raw, "xnn_create_constant_pad_nd_x32");
    Step& s = b.add_step({x, value}, {y});  // keeps the padding value alive, whether or not XNNPACK copies it
    s.op = std::move(op);
    s.bind = [x, y, shape, pre, post, &b](Step& step, const Binder& bd) {
      b.check(xnn_setup_constant_pad_nd_x32(step.op.get(), shape.size(), shape.data(), pre.data(), post.data(),
                                            bd.ptr(x), bd.ptr(y), bd.pool()),
              "xnn_setup_constant_pad_nd_x32");
    };
    return;
  }
  // edge / reflect / symmetric: each output index maps to one source index per axis.
  const auto strides = row_major_strides(pd);
  std::vector<std::vector<std::int64_t>> offsets(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    const std::size_t l = static_cast<std::size_t>(perm[i]);
    const std::int64_t d = pd[i];
    for (std::int64_t o = -plan.before[l]; o < d + plan.after[l]; ++o) {
      std::int64_t s = o;
      if (plan.mode == "edge") {
        s = std::clamp<std::int64_t>(o, 0, d - 1);
      } else if (plan.mode == "reflect") {
        if (s < 0) s = -s;
        if (s >= d) s = 2 * (d - 1) - s;
      } else {
        if (s < 0) s = -s - 1;
        if (s >= d) s = 2 * d - 1 - s;
      }
      offsets[i].push_back(s * strides[i]);
    }
  }
  add_indexed_kernel(b, x, y, std::move(offsets));
}

// --- Expand / Tile

XnnpackSupport check_expand(const Check& c, const ir::Node& n) {
  if (std::string why = input_problem(c, n, 0); !why.empty()) return no(why);
  const Dims x = c.tensor(n.inputs[0]).shape.extents();
  const Dims y = c.tensor(n.outputs[0]).shape.extents();
  if (y.size() < x.size()) return no("output rank below input rank");
  for (std::size_t i = 0; i < x.size(); ++i) {
    const std::int64_t o = y[y.size() - x.size() + i];
    if (n.op == ir::Op::Expand && x[i] != 1 && x[i] != o) return no("shape does not broadcast");
    if (n.op == ir::Op::Tile && (x[i] == 0 || o % x[i] != 0)) return no("output is not a whole tiling");
  }
  if (n.op == ir::Op::Tile && y.size() != x.size()) return no("Tile changes the rank");
  return yes();
}

void lower_expand(Builder& b, const ir::Node& n) {
  const Dims od = b.output_dims(0);
  const std::size_t rank = od.size();
  int x = b.input(0);
  const Order order = b.values[x].order == Order::kChannelsLast && b.values[x].logical.size() == rank
                          ? Order::kChannelsLast
                          : Order::kLogical;
  x = b.as_rank_order(x, rank, order);
  const Dims xd = b.values[x].dims();
  const Dims pd = physical_dims(od, order);
  const auto strides = row_major_strides(xd);
  const int y = b.make_output(0, order);
  if (n.op == ir::Op::Expand) {
    kernels::Gather g;
    for (std::size_t i = 0; i < rank; ++i) {
      g.dims.push_back(pd[i]);
      g.strides.push_back(xd[i] == 1 ? 0 : strides[i]);
    }
    add_gather_kernel(b, x, y, g);
    return;
  }
  std::vector<std::vector<std::int64_t>> offsets(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    for (std::int64_t o = 0; o < pd[i]; ++o) offsets[i].push_back((o % xd[i]) * strides[i]);
  }
  add_indexed_kernel(b, x, y, std::move(offsets));
}

// --- Gather (constant indices)

XnnpackSupport check_gather(const Check& c, const ir::Node& n) {
  if (std::string why = input_problem(c, n, 0); !why.empty()) return no(why);
  if (!c.present(n, 1)) return no("indices are missing");
  const auto idx = c.ints(n.inputs[1]);
  if (!idx) return no("indices are not constant integers");
  const Dims x = c.tensor(n.inputs[0]).shape.extents();
  const auto axis = normalize_axis(n.attrs.get_int("axis", 0), x.size());
  if (!axis) return no("axis out of range");
  if (n.attrs.get_int("batch_dims", 0) != 0) return no("batch_dims is not supported");
  const std::int64_t d = x[static_cast<std::size_t>(*axis)];
  for (auto i : *idx) {
    if (i < -d || i >= d) return no("index out of range");
  }
  if (idx->empty()) return no("empty indices");
  return yes();
}

void lower_gather(Builder& b, const ir::Node& n) {
  const int x = b.as_logical(b.input(0));
  const Dims xl = b.values[x].logical;
  const int axis = *normalize_axis(n.attrs.get_int("axis", 0), xl.size());
  const auto idx = *Check(b.graph, b.facts).ints(n.inputs[1]);
  const auto strides = row_major_strides(xl);
  std::vector<std::vector<std::int64_t>> offsets;
  Dims flat;
  for (std::size_t i = 0; i < xl.size(); ++i) {
    std::vector<std::int64_t> o;
    if (static_cast<int>(i) == axis) {
      for (auto v : idx) o.push_back((v < 0 ? v + xl[i] : v) * strides[i]);
    } else {
      for (std::int64_t j = 0; j < xl[i]; ++j) o.push_back(j * strides[i]);
    }
    flat.push_back(static_cast<std::int64_t>(o.size()));
    offsets.push_back(std::move(o));
  }
  const int y = b.new_value(flat, Order::kLogical);
  add_indexed_kernel(b, x, y, std::move(offsets));
  const Dims od = b.output_dims(0);
  b.set_output(0, flat == od ? y : b.alias(y, od, Order::kLogical));
}

}  // namespace infercast::runtime::xnnpack
