// Editing a finalized ir::Graph: new owned constants, new activations, new nodes,
// removed nodes and rewired uses, then one commit() that rebuilds the graph without
// what nothing reads any more, finalizes (topological order) and validates it.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "infercast/ir/graph.hpp"

namespace infercast::transform {

class Editor {
 public:
  explicit Editor(ir::Graph& graph) : g_(graph), removed_(graph.nodes.size(), false) {}

  ir::Graph& graph() { return g_; }

  // A tensor name not in the graph yet, built from `hint`.
  std::string fresh_name(const std::string& hint);

  // A new constant with bytes the graph owns.
  int constant(const std::string& hint, ir::DType dtype, const std::vector<std::int64_t>& dims,
               std::vector<std::byte> bytes);
  // An int64 vector constant; equal values share one tensor.
  int int64s(const std::vector<std::int64_t>& values);
  // A float32 constant of shape `dims`.
  int floats(const std::string& hint, const std::vector<std::int64_t>& dims, const std::vector<float>& values);
  int activation(const std::string& hint, ir::DType dtype, const ir::Shape& shape);

  // Appends a node (commit() sorts); returns its index.
  int add_node(ir::Node node);
  void remove_node(int index) {
    if (index < static_cast<int>(removed_.size())) removed_[index] = true;
  }
  bool removed(int index) const { return index < static_cast<int>(removed_.size()) && removed_[index]; }
  // Every node input reading `from` reads `to` instead (graph outputs are untouched).
  void replace_uses(int from, int to);

  // Rebuilds the graph: drops removed nodes and every tensor no kept node, graph input
  // or graph output refers to; finalizes and validates. `file` names the model in
  // errors. Returns the number of constants dropped.
  std::uint64_t commit(const std::string& file);

 private:
  ir::Graph& g_;
  std::vector<bool> removed_;
  std::map<std::vector<std::int64_t>, int> int64_cache_;
  std::uint64_t counter_ = 0;
};

// Values of a float constant (float32, float16, float64) as doubles; empty when the
// tensor is not a float constant with data.
std::vector<double> float_values(const ir::Graph& graph, int tensor);
// Values of an integer constant (int64, int32) ; empty otherwise.
std::vector<std::int64_t> int_values(const ir::Graph& graph, int tensor);
using ir::float_to_half;
using ir::half_to_float;

template <typename T>
std::vector<std::byte> to_bytes(const std::vector<T>& values) {
  std::vector<std::byte> out(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

}  // namespace infercast::transform
