#include "runtime/xnnpack/builder.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "runtime/xnnpack/kernels.hpp"

namespace infercast::runtime::xnnpack {

std::int64_t numel(const Dims& dims) {
  std::int64_t n = 1;
  for (auto d : dims) n *= d;
  return n;
}

std::string dims_str(const Dims& dims) {
  if (dims.empty()) return "scalar";
  std::string s;
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? "x" : "") + std::to_string(dims[i]);
  return s;
}

std::vector<int> order_perm(std::size_t rank, Order order) {
  std::vector<int> perm(rank);
  std::iota(perm.begin(), perm.end(), 0);
  if (order == Order::kChannelsLast && rank >= 3) {
    for (std::size_t i = 1; i + 1 < rank; ++i) perm[i] = static_cast<int>(i + 1);
    perm[rank - 1] = 1;
  }
  return perm;
}

Dims physical_dims(const Dims& logical, Order order) {
  if (order == Order::kLogical || logical.size() < 3) return logical;
  Dims out;
  for (int p : order_perm(logical.size(), order)) out.push_back(logical[static_cast<std::size_t>(p)]);
  return out;
}

int physical_axis(std::size_t rank, Order order, int axis) {
  if (order == Order::kLogical || rank < 3) return axis;
  if (axis == 0) return 0;
  if (axis == 1) return static_cast<int>(rank) - 1;
  return axis - 1;
}

bool same_bytes(const Dims& logical, Order a, Order b) {
  if (a == b || logical.size() < 3) return true;
  auto significant = [&](Order o) {
    std::vector<int> axes;
    for (int p : order_perm(logical.size(), o)) {
      if (logical[static_cast<std::size_t>(p)] != 1) axes.push_back(p);
    }
    return axes;
  };
  return significant(a) == significant(b);
}

Builder::Builder(const ir::Graph& graph, pthreadpool_t pool, const GraphFacts& facts)
    : graph(graph), pool(pool), facts(facts), tensor_value(graph.tensors.size(), -1) {}

std::string Builder::where() const {
  if (node == nullptr) return "";
  return "node " + std::to_string(node_index) + " '" + node->name + "' (" + node->source_op + ")";
}

void Builder::fail(const std::string& reason) const {
  throw Error(ErrorKind::kUnsupported, file(), where(), reason);
}

int Builder::value_of_tensor(int tensor) {
  if (tensor < 0) fail("an omitted optional input is read");
  if (tensor_value[tensor] >= 0) return tensor_value[tensor];
  const ir::Tensor& t = graph.tensors[tensor];
  if (!t.is_constant()) fail("tensor '" + t.name + "' is read before any node computes it");
  if (!t.shape.is_static()) fail("constant '" + t.name + "' has no static shape");
  const int v = new_constant(read_float_constant(graph, tensor), t.shape.extents(), Order::kLogical);
  tensor_value[tensor] = v;
  return v;
}

bool Builder::has_input(std::size_t k) const {
  return k < node->inputs.size() && node->inputs[k] >= 0;
}

Dims Builder::input_dims(std::size_t k) const {
  return graph.tensors[node->inputs.at(k)].shape.extents();
}

int Builder::output_tensor(std::size_t k) const {
  if (k == 0 && epilogue.out_tensor >= 0) return epilogue.out_tensor;
  return node->outputs.at(k);
}

Dims Builder::output_dims(std::size_t k) const {
  return graph.tensors[output_tensor(k)].shape.extents();
}

bool Builder::output_used(std::size_t k) const {
  if (k >= node->outputs.size() || node->outputs[k] < 0) return false;
  const int t = output_tensor(k);
  if (!graph.tensors[t].consumers.empty()) return true;
  return std::find(graph.outputs.begin(), graph.outputs.end(), t) != graph.outputs.end();
}

int Builder::root(int value) const {
  const Value& v = values[value];
  return v.storage == Value::Storage::kAlias ? v.root : value;
}

bool Builder::is_constant(int value) const {
  return values[root(value)].storage == Value::Storage::kConstant;
}

const float* Builder::constant_data(int value) const {
  const Value& r = values[root(value)];
  if (r.storage != Value::Storage::kConstant) fail("internal: value is not a constant");
  return r.constant.data();
}

std::vector<float> Builder::constant_copy(int value, Order order) {
  const Value& v = values[value];
  const float* src = constant_data(value);
  std::vector<float> out(static_cast<std::size_t>(v.size()));
  if (same_bytes(v.logical, v.order, order)) {
    std::copy(src, src + out.size(), out.begin());
    return out;
  }
  const auto from = order_perm(v.logical.size(), v.order);
  const auto to = order_perm(v.logical.size(), order);
  std::vector<int> inv(from.size());
  for (std::size_t i = 0; i < from.size(); ++i) inv[static_cast<std::size_t>(from[i])] = static_cast<int>(i);
  std::vector<int> perm;
  for (int logical_axis : to) perm.push_back(inv[static_cast<std::size_t>(logical_axis)]);
  const Dims src_dims = v.dims();
  kernels::gather(src, out.data(), kernels::transpose_view(src_dims, perm), nullptr);
  return out;
}

int Builder::as_order(int value, Order order) {
  const Value& v = values[value];
  if (v.order == order || v.logical.size() < 3) return value;
  for (const Conversion& c : conversions_) {
    if (c.from == value && c.order == order) return c.to;
  }
  int out;
  if (same_bytes(v.logical, v.order, order)) {
    out = alias(value, v.logical, order);
  } else if (is_constant(value)) {
    const Dims logical = v.logical;
    out = new_constant(constant_copy(value, order), logical, order);
  } else {
    const Dims logical = v.logical;
    const Order from_order = v.order;
    out = new_value(logical, order);
    const auto from = order_perm(logical.size(), from_order);
    const auto to = order_perm(logical.size(), order);
    std::vector<int> inv(from.size());
    for (std::size_t i = 0; i < from.size(); ++i) inv[static_cast<std::size_t>(from[i])] = static_cast<int>(i);
    std::vector<int> perm;
    for (int logical_axis : to) perm.push_back(inv[static_cast<std::size_t>(logical_axis)]);
    const kernels::Gather g = kernels::transpose_view(physical_dims(logical, from_order), perm);
    add_kernel({value}, {out}, [value, out, g](const Binder& b) {
      const float* in = b.ptr(value);
      float* o = b.ptr(out);
      pthreadpool_t p = b.pool();
      return [in, o, g, p] { kernels::gather(in, o, g, p); };
    });
  }
  conversions_.push_back({value, out, order});
  return out;
}

int Builder::as_rank_order(int value, std::size_t rank, Order order) {
  if (values[value].logical.size() == rank) return as_order(value, order);
  const int logical = as_logical(value);
  Dims dims = values[logical].logical;
  if (dims.size() > rank) fail("internal: rank " + std::to_string(dims.size()) + " above " + std::to_string(rank));
  dims.insert(dims.begin(), rank - dims.size(), 1);
  return as_order(alias(logical, dims, Order::kLogical), order);
}

Order Builder::spatial_order() const {
  return node->layout == ir::Layout::kNHWC ? Order::kLogical : Order::kChannelsLast;
}

int Builder::new_value(Dims logical, Order order) {
  if (folding) {
    std::vector<float> zeros(static_cast<std::size_t>(numel(logical)), 0.0f);
    return new_constant(std::move(zeros), std::move(logical), order);
  }
  Value v;
  v.logical = std::move(logical);
  v.order = order;
  v.storage = Value::Storage::kArena;
  values.push_back(std::move(v));
  return static_cast<int>(values.size()) - 1;
}

int Builder::new_constant(std::vector<float> data, Dims logical, Order order) {
  Value v;
  v.logical = std::move(logical);
  v.order = order;
  v.storage = Value::Storage::kConstant;
  if (static_cast<std::int64_t>(data.size()) != numel(v.logical)) {
    fail("internal: constant of " + std::to_string(data.size()) + " elements for shape " + dims_str(v.logical));
  }
  data.resize(data.size() + XNN_EXTRA_BYTES / sizeof(float), 0.0f);  // XNNPACK may read past the end
  v.constant = std::move(data);
  values.push_back(std::move(v));
  return static_cast<int>(values.size()) - 1;
}

int Builder::alias(int value, Dims logical, Order order) {
  if (numel(logical) != values[value].size()) {
    fail("internal: alias of " + dims_str(values[value].logical) + " as " + dims_str(logical));
  }
  Value v;
  v.logical = std::move(logical);
  v.order = order;
  v.storage = Value::Storage::kAlias;
  v.root = root(value);
  values.push_back(std::move(v));
  return static_cast<int>(values.size()) - 1;
}

void Builder::set_output(std::size_t k, int value) {
  const int t = output_tensor(k);
  const Dims want = graph.tensors[t].shape.extents();
  const Value& v = values[value];
  if (v.size() != numel(want)) {
    fail("output " + std::to_string(k) + " computes " + dims_str(v.logical) + " but the model declares " +
         dims_str(want));
  }
  if (v.logical != want) {
    if (v.order != Order::kLogical && !same_bytes(v.logical, v.order, Order::kLogical)) {
      fail("internal: output " + std::to_string(k) + " shape " + dims_str(v.logical) + " vs " + dims_str(want));
    }
    value = alias(value, want, Order::kLogical);
  }
  tensor_value[t] = value;
}

int Builder::make_output(std::size_t k, Order order) {
  const int v = new_value(output_dims(k), order);
  set_output(k, v);
  return v;
}

Step& Builder::add_step(std::vector<int> reads, std::vector<int> writes) {
  Step s;
  s.node = node_index;
  s.reads = std::move(reads);
  s.writes = std::move(writes);
  steps.push_back(std::move(s));
  return steps.back();
}

namespace {

const char* status_name(xnn_status s) {
  switch (s) {
    case xnn_status_success: return "success";
    case xnn_status_uninitialized: return "XNNPACK is not initialized";
    case xnn_status_invalid_parameter: return "invalid parameter";
    case xnn_status_invalid_state: return "invalid state";
    case xnn_status_unsupported_parameter: return "unsupported parameter";
    case xnn_status_unsupported_hardware: return "unsupported hardware";
    case xnn_status_out_of_memory: return "out of memory";
  }
  return "unknown status";
}

}  // namespace

XnnOp Builder::made(xnn_status status, xnn_operator_t* op, const char* call) {
  XnnOp owned(*op);
  check(status, call);
  return owned;
}

void Builder::check(xnn_status status, const char* call) const {
  if (status != xnn_status_success) fail(std::string(call) + " failed: " + status_name(status));
}

void Builder::add_kernel(std::vector<int> reads, std::vector<int> writes,
                         std::function<std::function<void()>(const Binder&)> make) {
  Step& s = add_step(std::move(reads), std::move(writes));
  s.bind = [make = std::move(make)](Step& step, const Binder& b) { step.kernel = make(b); };
}

}  // namespace infercast::runtime::xnnpack
