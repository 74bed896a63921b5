// Hand-built graphs (graph_builder.hpp).
#include "graph_builder.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace infercast::bench::detail {

GraphBuilder::GraphBuilder(std::string label, std::uint64_t seed) : label_(std::move(label)), rng_(seed) {
  g_.meta.format = "onnx";
  g_.meta.producer = "infercast bench";
  g_.meta.opset = 13;
  g_.meta.layout = ir::Layout::kNCHW;
  g_.meta.graph_name = label_;
}

int GraphBuilder::input(const std::string& name, std::initializer_list<std::int64_t> dims) {
  return input(name, std::vector<std::int64_t>(dims));
}

int GraphBuilder::input(const std::string& name, const std::vector<std::int64_t>& dims) {
  ir::Tensor t;
  t.name = name;
  t.dtype = ir::DType::kFloat32;
  t.shape = ir::Shape::of(dims);
  t.kind = ir::TensorKind::kInput;
  const int id = g_.add_tensor(std::move(t));
  g_.inputs.push_back(id);
  return id;
}

int GraphBuilder::weights(const std::string& name, std::initializer_list<std::int64_t> dims, float lo, float hi) {
  return weights(name, std::vector<std::int64_t>(dims), lo, hi);
}

int GraphBuilder::weights(const std::string& name, const std::vector<std::int64_t>& dims, float lo, float hi) {
  const auto shape = ir::Shape::of(dims);
  const std::size_t count = static_cast<std::size_t>(*shape.numel());
  std::vector<float> values(count);
  std::uniform_real_distribution<float> dist(lo, hi);
  for (auto& v : values) v = dist(rng_);
  return constant_bytes(name, ir::DType::kFloat32, shape, values.data(), count * sizeof(float));
}

int GraphBuilder::floats(const std::string& name, std::vector<float> values) {
  const auto shape = ir::Shape::of({static_cast<std::int64_t>(values.size())});
  return constant_bytes(name, ir::DType::kFloat32, shape, values.data(), values.size() * sizeof(float));
}

int GraphBuilder::floats(const std::string& name, const std::vector<std::int64_t>& dims,
                         const std::vector<float>& values) {
  const auto shape = ir::Shape::of(dims);
  return constant_bytes(name, ir::DType::kFloat32, shape, values.data(), values.size() * sizeof(float));
}

int GraphBuilder::scalar(const std::string& name, float value) {
  return constant_bytes(name, ir::DType::kFloat32, ir::Shape::of(std::initializer_list<std::int64_t>{}), &value,
                        sizeof(float));
}

int GraphBuilder::ints(const std::string& name, std::vector<std::int64_t> values) {
  const auto shape = ir::Shape::of({static_cast<std::int64_t>(values.size())});
  return constant_bytes(name, ir::DType::kInt64, shape, values.data(), values.size() * sizeof(std::int64_t));
}

int GraphBuilder::activation(const std::string& name, std::initializer_list<std::int64_t> dims) {
  return activation(name, std::vector<std::int64_t>(dims));
}

int GraphBuilder::activation(const std::string& name, const std::vector<std::int64_t>& dims) {
  ir::Tensor t;
  t.name = name;
  t.dtype = ir::DType::kFloat32;
  t.shape = ir::Shape::of(dims);
  t.kind = ir::TensorKind::kActivation;
  return g_.add_tensor(std::move(t));
}

ir::Node& GraphBuilder::node(ir::Op op, const std::string& name, std::vector<int> inputs, std::vector<int> outputs) {
  ir::Node n;
  n.name = name;
  n.op = op;
  n.source_op = std::string(ir::op_name(op));
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  n.layout = ir::Layout::kNCHW;
  g_.nodes.push_back(std::move(n));
  return g_.nodes.back();
}

ir::Graph GraphBuilder::finish(int output) {
  g_.tensors[output].kind = ir::TensorKind::kOutput;
  g_.outputs.push_back(output);
  g_.finalize(label_);
  return std::move(g_);
}

int GraphBuilder::constant_bytes(const std::string& name, ir::DType dtype, const ir::Shape& shape, const void* data,
                                 std::size_t bytes) {
  std::vector<std::byte> owned(bytes);
  if (bytes != 0) std::memcpy(owned.data(), data, bytes);
  ir::Tensor t;
  t.name = name;
  t.dtype = dtype;
  t.shape = shape;
  t.kind = ir::TensorKind::kConstant;
  t.data = g_.own(std::move(owned));
  return g_.add_tensor(std::move(t));
}

void set_window(ir::Node& n, std::int64_t k, std::int64_t stride, std::int64_t dilation, std::int64_t pad) {
  n.attrs.set("kernel_shape", std::vector<std::int64_t>{k, k});
  n.attrs.set("strides", std::vector<std::int64_t>{stride, stride});
  n.attrs.set("dilations", std::vector<std::int64_t>{dilation, dilation});
  n.attrs.set("pads", std::vector<std::int64_t>{pad, pad, pad, pad});
}

int append_activation(GraphBuilder& b, const std::string& act, int x, const std::vector<std::int64_t>& dims,
                      const std::string& prefix) {
  if (act.empty()) return x;
  const int y = b.activation(prefix + "y_" + act, dims);
  if (act == "relu") {
    b.node(ir::Op::Relu, prefix + "relu", {x}, {y});
  } else if (act == "relu6") {
    b.node(ir::Op::Clip, prefix + "relu6",
           {x, b.scalar(prefix + "clip_min", 0.0f), b.scalar(prefix + "clip_max", 6.0f)}, {y});
  } else if (act == "hardswish") {
    b.graph().meta.opset = std::max<std::int64_t>(b.graph().meta.opset, 14);
    b.node(ir::Op::HardSwish, prefix + "hardswish", {x}, {y});
  } else if (act == "hardsigmoid") {
    // torchvision's form of hard sigmoid (and, times x, of hardswish before opset 14)
    ir::Node& hs = b.node(ir::Op::HardSigmoid, prefix + "hardsigmoid", {x}, {y});
    hs.attrs.set("alpha", 1.0 / 6.0);
    hs.attrs.set("beta", 0.5);
  } else if (act == "hsigmoid_mul") {
    // hard swish as x * HardSigmoid(x), the form torchvision's exports before opset 14
    // write (mobilenet_v3): a runtime may fuse the pair, with or without the conv before
    // it, where it would not fuse a HardSwish op
    const int s = b.activation(prefix + "hsigmoid_mul_gate", dims);
    ir::Node& hs = b.node(ir::Op::HardSigmoid, prefix + "hsigmoid_mul_gate", {x}, {s});
    hs.attrs.set("alpha", 1.0 / 6.0);
    hs.attrs.set("beta", 0.5);
    b.node(ir::Op::Mul, prefix + "hsigmoid_mul", {x, s}, {y});
  } else if (act == "sigmoid") {
    b.node(ir::Op::Sigmoid, prefix + "sigmoid", {x}, {y});
  } else if (act == "erf") {
    b.node(ir::Op::Erf, prefix + "erf", {x}, {y});
  } else if (act == "tanh") {
    b.node(ir::Op::Tanh, prefix + "tanh", {x}, {y});
  } else if (act == "swish") {
    const int s = b.activation(prefix + "swish_sigmoid", dims);
    b.node(ir::Op::Sigmoid, prefix + "swish_sigmoid", {x}, {s});
    b.node(ir::Op::Mul, prefix + "swish_mul", {x, s}, {y});
  } else {
    assert(false && "unknown activation");
  }
  return y;
}

}  // namespace infercast::bench::detail
