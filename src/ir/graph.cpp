#include "infercast/ir/graph.hpp"

#include <algorithm>
#include <cstring>
#include <queue>

#include "infercast/base/error.hpp"

namespace infercast::ir {

namespace {
constexpr std::uint64_t kMaxElements = std::uint64_t{1} << 62;
}

Shape Shape::of(std::initializer_list<std::int64_t> extents) {
  return of(std::span<const std::int64_t>(extents.begin(), extents.size()));
}

Shape Shape::of(std::span<const std::int64_t> extents) {
  Shape s;
  s.dims.reserve(extents.size());
  for (std::int64_t e : extents) s.dims.push_back(Dim{e, {}});
  return s;
}

bool Shape::is_static() const noexcept {
  return rank_known && std::all_of(dims.begin(), dims.end(), [](const Dim& d) { return d.known(); });
}

std::optional<std::uint64_t> Shape::numel() const noexcept {
  if (!is_static()) return std::nullopt;
  std::uint64_t n = 1;
  for (const Dim& d : dims) {
    const auto v = static_cast<std::uint64_t>(d.value);
    if (v != 0 && n > kMaxElements / v) return std::nullopt;
    n *= v;
  }
  return n;
}

std::string Shape::str() const {
  if (!rank_known) return "*";
  std::string out;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (i) out += 'x';
    if (dims[i].known()) {
      out += std::to_string(dims[i].value);
    } else {
      out += dims[i].symbol.empty() ? "?" : dims[i].symbol;
    }
  }
  return out;
}

std::vector<std::int64_t> Shape::extents() const {
  std::vector<std::int64_t> out;
  out.reserve(dims.size());
  for (const Dim& d : dims) out.push_back(d.known() ? d.value : -1);
  return out;
}

std::optional<std::uint64_t> Tensor::bytes() const noexcept {
  const auto n = shape.numel();
  if (!n || dtype_bits(dtype) == 0) return std::nullopt;
  return dtype_bytes(dtype, *n);
}

std::optional<std::vector<std::int64_t>> Tensor::ints() const {
  if (!is_constant() || sparse) return std::nullopt;
  const auto count = shape.numel();
  if (!count) return std::nullopt;
  const std::size_t width = dtype == DType::kInt64 ? 8 : dtype == DType::kInt32 ? 4 : 0;
  if (width == 0 || data.size() != *count * width) return std::nullopt;
  std::vector<std::int64_t> out(*count);
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (width == 8) {
      std::memcpy(&out[i], data.data() + i * 8, 8);
    } else {
      std::int32_t v;
      std::memcpy(&v, data.data() + i * 4, 4);
      out[i] = v;
    }
  }
  return out;
}

std::string_view tensor_kind_name(TensorKind k) noexcept {
  switch (k) {
    case TensorKind::kInput: return "input";
    case TensorKind::kOutput: return "output";
    case TensorKind::kConstant: return "constant";
    case TensorKind::kActivation: return "activation";
  }
  return "activation";
}

std::string_view layout_name(Layout l) noexcept {
  switch (l) {
    case Layout::kNCHW: return "NCHW";
    case Layout::kNHWC: return "NHWC";
    case Layout::kUnknown: return "unknown";
  }
  return "unknown";
}

const AttrValue* Attributes::find(std::string_view name) const {
  auto it = values_.find(name);
  return it == values_.end() ? nullptr : &it->second;
}

std::int64_t Attributes::get_int(std::string_view name, std::int64_t fallback) const {
  const AttrValue* v = find(name);
  if (v == nullptr) return fallback;
  if (const auto* i = std::get_if<std::int64_t>(v)) return *i;
  if (const auto* f = std::get_if<double>(v)) return static_cast<std::int64_t>(*f);
  return fallback;
}

double Attributes::get_float(std::string_view name, double fallback) const {
  const AttrValue* v = find(name);
  if (v == nullptr) return fallback;
  if (const auto* f = std::get_if<double>(v)) return *f;
  if (const auto* i = std::get_if<std::int64_t>(v)) return static_cast<double>(*i);
  return fallback;
}

std::string Attributes::get_string(std::string_view name, std::string fallback) const {
  const AttrValue* v = find(name);
  if (v == nullptr) return fallback;
  if (const auto* s = std::get_if<std::string>(v)) return *s;
  return fallback;
}

std::vector<std::int64_t> Attributes::get_ints(std::string_view name) const {
  const AttrValue* v = find(name);
  if (v == nullptr) return {};
  if (const auto* is = std::get_if<std::vector<std::int64_t>>(v)) return *is;
  if (const auto* i = std::get_if<std::int64_t>(v)) return {*i};
  return {};
}

int Graph::add_tensor(Tensor t) {
  const int index = static_cast<int>(tensors.size());
  if (!t.name.empty()) by_name_.emplace(t.name, index);
  tensors.push_back(std::move(t));
  return index;
}

int Graph::find_tensor(std::string_view name) const {
  auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? -1 : it->second;
}

std::span<const std::byte> Graph::own(std::vector<std::byte> bytes) {
  owned_.push_back(std::move(bytes));
  return {owned_.back().data(), owned_.back().size()};
}

void Graph::finalize(const std::string& file) {
  const int tensor_count = static_cast<int>(tensors.size());
  auto node_where = [&](std::size_t i) {
    return "node " + std::to_string(i) + " '" + nodes[i].name + "' (" + nodes[i].source_op + ")";
  };
  for (Tensor& t : tensors) {
    t.producer = -1;
    t.consumers.clear();
  }
  for (int id : inputs) {
    if (id < 0 || id >= tensor_count)
      throw Error(ErrorKind::kBadModel, file, "graph inputs", "tensor index out of range");
  }
  for (int id : outputs) {
    if (id < 0 || id >= tensor_count)
      throw Error(ErrorKind::kBadModel, file, "graph outputs", "tensor index out of range");
  }
  // Producers first: a tensor written by two nodes, or written while also being a
  // graph input or constant, is malformed.
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    for (int id : nodes[i].outputs) {
      if (id == -1) continue;  // an omitted optional output
      if (id < 0 || id >= tensor_count) {
        throw Error(ErrorKind::kBadModel, file, node_where(i),
                    "output tensor index " + std::to_string(id) + " out of range");
      }
      Tensor& t = tensors[id];
      if (t.producer >= 0) {
        throw Error(ErrorKind::kBadModel, file, node_where(i), "tensor '" + t.name + "' is produced twice");
      }
      if (t.kind == TensorKind::kInput) {
        throw Error(ErrorKind::kBadModel, file, node_where(i),
                    "writes tensor '" + t.name + "', which is a graph input");
      }
      t.producer = static_cast<int>(i);
    }
  }
  // Every input must be defined: produced by a node, a graph input, or a constant.
  std::vector<std::vector<int>> successors(nodes.size());
  std::vector<int> indegree(nodes.size(), 0);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    for (int id : nodes[i].inputs) {
      if (id == -1) continue;
      if (id < 0 || id >= tensor_count) {
        throw Error(ErrorKind::kBadModel, file, node_where(i),
                    "input tensor index " + std::to_string(id) + " out of range");
      }
      const Tensor& t = tensors[id];
      if (t.producer < 0 && t.kind != TensorKind::kInput && t.kind != TensorKind::kConstant) {
        throw Error(ErrorKind::kBadModel, file, node_where(i),
                    "input '" + t.name + "' is not produced by any node, graph input or constant");
      }
      if (t.producer >= 0) {
        successors[t.producer].push_back(static_cast<int>(i));
        ++indegree[i];
      }
    }
  }
  for (int id : outputs) {
    const Tensor& t = tensors[id];
    if (t.producer < 0 && t.kind != TensorKind::kInput && t.kind != TensorKind::kConstant) {
      throw Error(ErrorKind::kBadModel, file, "graph output '" + t.name + "'", "is not produced by any node");
    }
  }
  // Kahn's algorithm, stable: among ready nodes the earliest in file order goes first,
  // so an already-sorted file keeps its order.
  std::priority_queue<int, std::vector<int>, std::greater<>> ready;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (indegree[i] == 0) ready.push(static_cast<int>(i));
  }
  std::vector<int> order;
  order.reserve(nodes.size());
  while (!ready.empty()) {
    const int n = ready.top();
    ready.pop();
    order.push_back(n);
    for (int s : successors[n]) {
      if (--indegree[s] == 0) ready.push(s);
    }
  }
  if (order.size() != nodes.size()) {
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (indegree[i] > 0) throw Error(ErrorKind::kBadModel, file, node_where(i), "is part of a cycle");
    }
  }
  bool sorted = true;
  for (std::size_t i = 0; i < order.size(); ++i) sorted = sorted && order[i] == static_cast<int>(i);
  if (!sorted) {
    std::vector<Node> reordered;
    reordered.reserve(nodes.size());
    for (int n : order) reordered.push_back(std::move(nodes[n]));
    nodes = std::move(reordered);
    for (Tensor& t : tensors) t.producer = -1;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      for (int id : nodes[i].outputs) {
        if (id >= 0) tensors[id].producer = static_cast<int>(i);
      }
    }
  }
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    for (int id : nodes[i].inputs) {
      if (id >= 0) tensors[id].consumers.push_back(static_cast<int>(i));
    }
  }
}

}  // namespace infercast::ir
