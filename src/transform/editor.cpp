#include "transform/editor.hpp"

#include "transform/passes.hpp"

#include <bit>
#include <memory>

#include "infercast/ir/validate.hpp"

namespace infercast::transform {

std::string Editor::fresh_name(const std::string& hint) {
  std::string name = hint;
  while (name.empty() || g_.find_tensor(name) >= 0) name = hint + "_" + std::to_string(++counter_);
  return name;
}

int Editor::constant(const std::string& hint, ir::DType dtype, const std::vector<std::int64_t>& dims,
                     std::vector<std::byte> bytes) {
  ir::Tensor t;
  t.name = fresh_name(hint);
  t.dtype = dtype;
  t.shape = ir::Shape::of(dims);
  t.kind = ir::TensorKind::kConstant;
  t.data = g_.own(std::move(bytes));
  return g_.add_tensor(std::move(t));
}

int Editor::int64s(const std::vector<std::int64_t>& values) {
  if (auto it = int64_cache_.find(values); it != int64_cache_.end()) return it->second;
  std::string hint = "infercast_i64";
  for (std::size_t i = 0; i < values.size() && i < 4; ++i) hint += "_" + std::to_string(values[i]);
  const int id = constant(hint, ir::DType::kInt64, {static_cast<std::int64_t>(values.size())}, to_bytes(values));
  int64_cache_.emplace(values, id);
  return id;
}

int Editor::floats(const std::string& hint, const std::vector<std::int64_t>& dims, const std::vector<float>& values) {
  return constant(hint, ir::DType::kFloat32, dims, to_bytes(values));
}

int Editor::activation(const std::string& hint, ir::DType dtype, const ir::Shape& shape) {
  ir::Tensor t;
  t.name = fresh_name(hint);
  t.dtype = dtype;
  t.shape = shape;
  t.kind = ir::TensorKind::kActivation;
  return g_.add_tensor(std::move(t));
}

int Editor::add_node(ir::Node node) {
  if (node.source_op.empty()) node.source_op = std::string(ir::op_name(node.op));
  if (node.layout == ir::Layout::kUnknown) node.layout = g_.meta.layout;
  g_.nodes.push_back(std::move(node));
  removed_.push_back(false);
  return static_cast<int>(g_.nodes.size()) - 1;
}

void Editor::replace_uses(int from, int to) {
  for (std::size_t i = 0; i < g_.nodes.size(); ++i) {
    if (removed_[i]) continue;
    for (int& id : g_.nodes[i].inputs) {
      if (id == from) id = to;
    }
  }
}

std::uint64_t Editor::commit(const std::string& file) {
  // The old graph stays alive inside the new one: constants view its storage.
  auto old = std::make_shared<ir::Graph>(std::move(g_));
  g_ = ir::Graph();
  g_.meta = old->meta;
  const std::size_t tensor_count = old->tensors.size();
  std::vector<bool> used(tensor_count, false);
  for (int id : old->inputs) used[id] = true;
  for (int id : old->outputs) used[id] = true;
  for (std::size_t i = 0; i < old->nodes.size(); ++i) {
    if (removed_[i]) continue;
    for (int id : old->nodes[i].inputs) {
      if (id >= 0) used[id] = true;
    }
    for (int id : old->nodes[i].outputs) {
      if (id >= 0) used[id] = true;
    }
  }
  // Aliased constants keep their root only when the root is itself kept.
  std::vector<int> remap(tensor_count, -1);
  std::uint64_t dropped = 0;
  for (std::size_t i = 0; i < tensor_count; ++i) {
    if (!used[i]) {
      dropped += old->tensors[i].is_constant() && old->tensors[i].producer < 0 ? 1 : 0;
      continue;
    }
    remap[i] = g_.add_tensor(std::move(old->tensors[i]));
  }
  for (ir::Tensor& t : g_.tensors) t.alias_of = t.alias_of >= 0 ? remap[t.alias_of] : -1;
  for (int id : old->inputs) g_.inputs.push_back(remap[id]);
  for (int id : old->outputs) g_.outputs.push_back(remap[id]);
  g_.nodes.reserve(old->nodes.size());
  for (std::size_t i = 0; i < old->nodes.size(); ++i) {
    if (removed_[i]) continue;
    ir::Node n = std::move(old->nodes[i]);
    for (int& id : n.inputs) id = id >= 0 ? remap[id] : -1;
    for (int& id : n.outputs) id = id >= 0 ? remap[id] : -1;
    g_.nodes.push_back(std::move(n));
  }
  g_.retain(old);
  g_.finalize(file);
  ir::validate(g_, file);
  removed_.assign(g_.nodes.size(), false);
  int64_cache_.clear();
  return dropped;
}

std::vector<double> float_values(const ir::Graph& graph, int tensor) {
  if (tensor < 0) return {};
  const ir::Tensor& t = graph.tensors[tensor];
  const auto n = t.shape.numel();
  if (!t.is_constant() || t.sparse || !n || t.data.size() != ir::dtype_bytes(t.dtype, *n)) return {};
  std::vector<double> out(*n);
  const std::byte* p = t.data.data();
  for (std::uint64_t i = 0; i < *n; ++i) {
    switch (t.dtype) {
      case ir::DType::kFloat32: {
        float v;
        std::memcpy(&v, p + 4 * i, 4);
        out[i] = v;
        break;
      }
      case ir::DType::kFloat64: std::memcpy(&out[i], p + 8 * i, 8); break;
      case ir::DType::kFloat16: {
        std::uint16_t v;
        std::memcpy(&v, p + 2 * i, 2);
        out[i] = half_to_float(v);
        break;
      }
      default: return {};
    }
  }
  return out;
}

std::vector<std::int64_t> int_values(const ir::Graph& graph, int tensor) {
  if (tensor < 0) return {};
  return graph.tensors[tensor].ints().value_or(std::vector<std::int64_t>{});
}

PassResult fold_each(ir::Graph& graph, ir::Op op, FoldOne fold) {
  PassResult result;
  Editor edit(graph);
  const std::size_t count = graph.nodes.size();
  for (std::size_t i = 0; i < count; ++i) {
    if (graph.nodes[i].op != op) continue;
    std::string why;
    if (fold(edit, static_cast<int>(i), why)) {
      ++result.rewrites;
    } else {
      result.notes.push_back("node '" + graph.nodes[i].name + "' left alone: " + why);
    }
  }
  if (result.rewrites > 0) edit.commit(graph.meta.source_path);
  return result;
}

}  // namespace infercast::transform
