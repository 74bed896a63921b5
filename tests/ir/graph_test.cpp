#include <gtest/gtest.h>

#include "infercast/base/error.hpp"
#include "infercast/ir/graph.hpp"

namespace infercast::ir {
namespace {

int add(Graph& g, const std::string& name, TensorKind kind = TensorKind::kActivation) {
  Tensor t;
  t.name = name;
  t.dtype = DType::kFloat32;
  t.shape = Shape::of({1, 4});
  t.kind = kind;
  return g.add_tensor(std::move(t));
}

Node node(const std::string& name, std::vector<int> in, std::vector<int> out) {
  Node n;
  n.name = name;
  n.op = Op::Relu;
  n.source_op = "Relu";
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  return n;
}

TEST(Graph, FinalizeSortsNodesTopologically) {
  Graph g;
  const int x = add(g, "x", TensorKind::kInput);
  const int a = add(g, "a");
  const int b = add(g, "b", TensorKind::kOutput);
  g.inputs = {x};
  g.outputs = {b};
  g.nodes.push_back(node("second", {a}, {b}));
  g.nodes.push_back(node("first", {x}, {a}));
  g.finalize("m");
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.nodes[0].name, "first");
  EXPECT_EQ(g.tensors[a].producer, 0);
  EXPECT_EQ(g.tensors[a].consumers, std::vector<int>{1});
}

TEST(Graph, FinalizeRejectsCycle) {
  Graph g;
  const int a = add(g, "a");
  const int b = add(g, "b");
  g.nodes.push_back(node("n1", {a}, {b}));
  g.nodes.push_back(node("n2", {b}, {a}));
  try {
    g.finalize("m.onnx");
    FAIL() << "cycle accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cycle"), std::string::npos) << e.what();
    EXPECT_EQ(e.file(), "m.onnx");
  }
}

TEST(Graph, FinalizeRejectsDanglingInput) {
  Graph g;
  const int a = add(g, "ghost");
  const int b = add(g, "b");
  g.nodes.push_back(node("n1", {a}, {b}));
  EXPECT_THROW(g.finalize("m"), Error);
}

TEST(Shape, NumelGuardsOverflow) {
  EXPECT_EQ(Shape::of({2, 3, 4}).numel(), 24u);
  EXPECT_FALSE(Shape::of({1LL << 40, 1LL << 40}).numel().has_value());
  Shape s = Shape::of({1, 3});
  s.dims[0] = Dim{-1, "N"};
  EXPECT_FALSE(s.numel().has_value());
  EXPECT_EQ(s.str(), "Nx3");
}

TEST(OpTable, NamesRoundTrip) {
  for (std::size_t i = 0; i < kOpCount; ++i) {
    const Op op = static_cast<Op>(i);
    EXPECT_EQ(op_from_name(op_name(op)), op);
  }
}

}  // namespace
}  // namespace infercast::ir
