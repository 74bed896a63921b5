// Shape folding's rounds of ONNX shape inference (src/import/onnx/onnx_importer.cpp,
// refine_with_folding): a folded value read by an op whose inference reads no input
// values (torchvision's Identity over a shared bias, read by Conv) needs no second round,
// while one read as a value (Reshape's target shape) must get it. The expected shapes
// are the ones the ONNX operator specifications define for these inputs.
#include <gtest/gtest.h>

#include <onnx/onnx_pb.h>

#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "infercast/import/import.hpp"

namespace infercast::import {
namespace {

void add_input(::onnx::GraphProto* g, const std::string& name, const std::vector<std::int64_t>& dims) {
  auto* v = g->add_input();
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(::onnx::TensorProto::FLOAT);
  for (std::int64_t d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
}

void add_output(::onnx::GraphProto* g, const std::string& name) {
  auto* v = g->add_output();
  v->set_name(name);
  v->mutable_type()->mutable_tensor_type()->set_elem_type(::onnx::TensorProto::FLOAT);
}

template <typename T>
void add_initializer(::onnx::GraphProto* g, const std::string& name, int type, const std::vector<std::int64_t>& dims,
                     const std::vector<T>& values) {
  auto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(type);
  for (std::int64_t d : dims) t->add_dims(d);
  std::string raw(values.size() * sizeof(T), '\0');
  std::memcpy(raw.data(), values.data(), raw.size());
  t->set_raw_data(raw);
}

::onnx::NodeProto* add_node(::onnx::GraphProto* g, const std::string& op, const std::vector<std::string>& inputs,
                            const std::string& output) {
  auto* n = g->add_node();
  n->set_op_type(op);
  n->set_name(op + "_" + output);
  for (const auto& i : inputs) n->add_input(i);
  n->add_output(output);
  return n;
}

::onnx::ModelProto empty_model() {
  ::onnx::ModelProto model;
  model.set_ir_version(8);
  model.set_producer_name("onnx_folding_rounds_test");
  model.add_opset_import()->set_version(13);
  model.mutable_graph()->set_name("g");
  return model;
}

std::string shape_of(const ir::Graph& graph, const std::string& tensor) {
  const int id = graph.find_tensor(tensor);
  return id < 0 ? "missing" : graph.tensors[static_cast<std::size_t>(id)].shape.str();
}

ir::Graph load(const ::onnx::ModelProto& model) {
  const std::string bytes = model.SerializeAsString();
  return load_onnx_bytes(std::as_bytes(std::span<const char>(bytes.data(), bytes.size())), "<test>");
}

// x [1,3,8,8] -> Conv(W [4,3,3,3], Identity(B [4]), pads 1) -> Relu -> y: the folded
// Identity feeds only Conv's bias; the shapes are those of the first round.
TEST(OnnxFoldingRounds, IdentityOverABiasReadByConvKeepsTheFirstRoundsShapes) {
  ::onnx::ModelProto model = empty_model();
  auto* g = model.mutable_graph();
  add_input(g, "x", {1, 3, 8, 8});
  add_initializer<float>(g, "W", ::onnx::TensorProto::FLOAT, {4, 3, 3, 3}, std::vector<float>(108, 0.5f));
  add_initializer<float>(g, "B", ::onnx::TensorProto::FLOAT, {4}, {1, 2, 3, 4});
  add_node(g, "Identity", {"B"}, "b");
  auto* conv = add_node(g, "Conv", {"x", "W", "b"}, "c");
  auto* pads = conv->add_attribute();
  pads->set_name("pads");
  pads->set_type(::onnx::AttributeProto::INTS);
  for (int i = 0; i < 4; ++i) pads->add_ints(1);
  add_node(g, "Relu", {"c"}, "y");
  add_output(g, "y");
  const ir::Graph graph = load(model);
  EXPECT_EQ(shape_of(graph, "b"), "4");
  EXPECT_EQ(shape_of(graph, "c"), "1x4x8x8");
  EXPECT_EQ(shape_of(graph, "y"), "1x4x8x8");
}

// x [1,3,8,8] -> Reshape(Identity(S = [2, -1])) -> y: Reshape's inference reads its
// shape input as a value, which only the folded Constant carries, so the second round
// must run for y's shape [2, 96].
TEST(OnnxFoldingRounds, IdentityOverAShapeReadByReshapeGetsTheSecondRound) {
  ::onnx::ModelProto model = empty_model();
  auto* g = model.mutable_graph();
  add_input(g, "x", {1, 3, 8, 8});
  add_initializer<std::int64_t>(g, "S", ::onnx::TensorProto::INT64, {2}, {2, -1});
  add_node(g, "Identity", {"S"}, "s");
  add_node(g, "Reshape", {"x", "s"}, "r");
  add_node(g, "Relu", {"r"}, "y");
  add_output(g, "y");
  const ir::Graph graph = load(model);
  EXPECT_EQ(shape_of(graph, "r"), "2x96");
  EXPECT_EQ(shape_of(graph, "y"), "2x96");
}

// Both at once: one folded value read by Conv, another by Reshape; the Reshape decides.
TEST(OnnxFoldingRounds, OneValueReadAsAValueDecidesForAll) {
  ::onnx::ModelProto model = empty_model();
  auto* g = model.mutable_graph();
  add_input(g, "x", {1, 3, 8, 8});
  add_initializer<float>(g, "W", ::onnx::TensorProto::FLOAT, {4, 3, 1, 1}, std::vector<float>(12, 0.5f));
  add_initializer<float>(g, "B", ::onnx::TensorProto::FLOAT, {4}, {1, 2, 3, 4});
  add_initializer<std::int64_t>(g, "S", ::onnx::TensorProto::INT64, {3}, {1, 4, -1});
  add_node(g, "Identity", {"B"}, "b");
  add_node(g, "Conv", {"x", "W", "b"}, "c");
  add_node(g, "Identity", {"S"}, "s");
  add_node(g, "Reshape", {"c", "s"}, "y");
  add_output(g, "y");
  const ir::Graph graph = load(model);
  EXPECT_EQ(shape_of(graph, "c"), "1x4x8x8");
  EXPECT_EQ(shape_of(graph, "y"), "1x4x64");
}

}  // namespace
}  // namespace infercast::import
