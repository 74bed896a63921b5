// Building runnable float graphs by hand: the one-kernel graphs of kernel.cpp and the
// synthetic networks of synthetic.cpp. NCHW, ONNX conventions (canonical attributes),
// static shapes, weights from a seeded generator and owned by the graph.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "infercast/ir/graph.hpp"

namespace infercast::bench::detail {

class GraphBuilder {
 public:
  // `label` names the graph in finalize's errors and in meta.graph_name.
  GraphBuilder(std::string label, std::uint64_t seed);

  int input(const std::string& name, std::initializer_list<std::int64_t> dims);
  int input(const std::string& name, const std::vector<std::int64_t>& dims);
  // A float constant, uniform in [lo, hi) from the seeded generator (never all zeros).
  int weights(const std::string& name, std::initializer_list<std::int64_t> dims, float lo = -0.5f, float hi = 0.5f);
  int weights(const std::string& name, const std::vector<std::int64_t>& dims, float lo = -0.5f, float hi = 0.5f);
  int floats(const std::string& name, std::vector<float> values);
  // A float constant of shape `dims` holding `values` (numel(dims) of them).
  int floats(const std::string& name, const std::vector<std::int64_t>& dims, const std::vector<float>& values);
  int scalar(const std::string& name, float value);
  int ints(const std::string& name, std::vector<std::int64_t> values);
  int activation(const std::string& name, std::initializer_list<std::int64_t> dims);
  int activation(const std::string& name, const std::vector<std::int64_t>& dims);
  ir::Node& node(ir::Op op, const std::string& name, std::vector<int> inputs, std::vector<int> outputs);
  // Marks `output` the graph's output and finalizes (throws what finalize throws).
  ir::Graph finish(int output);
  ir::Graph& graph() { return g_; }

 private:
  int constant_bytes(const std::string& name, ir::DType dtype, const ir::Shape& shape, const void* data,
                     std::size_t bytes);

  std::string label_;
  std::mt19937_64 rng_;
  ir::Graph g_;
};

// kernel_shape, strides, dilations and symmetric pads of a 2-D window op.
void set_window(ir::Node& n, std::int64_t k, std::int64_t stride, std::int64_t dilation, std::int64_t pad);

// Appends activation `act` (relu, relu6, hardswish, hardsigmoid, sigmoid, tanh, erf, swish) to
// tensor `x` of shape `dims`; returns the new tensor (x when act is empty). Node names
// get `prefix`.
int append_activation(GraphBuilder& b, const std::string& act, int x, const std::vector<std::int64_t>& dims,
                      const std::string& prefix = "");

// The output extent of a convolution or pooling window.
inline std::int64_t conv_out(std::int64_t x, std::int64_t k, std::int64_t s, std::int64_t d, std::int64_t p) {
  return (x + 2 * p - d * (k - 1) - 1) / s + 1;
}

}  // namespace infercast::bench::detail
