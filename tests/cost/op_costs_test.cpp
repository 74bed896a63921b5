// Per-op cost functions. This file is also the example to copy when adding an op
// (docs/adding-an-op.md): the first test is commented line by line.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "infercast/base/error.hpp"
#include "infercast/cost/cost.hpp"
#include "infercast/import/import.hpp"

namespace infercast::cost {
namespace {

const std::string kTestdata = "/usr/share/libonnx-testdata/data/node/";

// Loads one model of ONNX's backend test suite; tests skip when the suite is absent.
ir::Graph load_suite_model(const std::string& test) {
  return import::load_model(kTestdata + test + "/model.onnx");
}

// The first node of a given op in the graph.
int first_node(const ir::Graph& g, ir::Op op) {
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    if (g.nodes[i].op == op) return static_cast<int>(i);
  }
  return -1;
}

// EXAMPLE. A cost test takes a model someone else wrote (here ONNX's own Conv test
// case), reads the shapes ONNX's reference implementation produced, and checks the
// cost function against the op's formula written out from those shapes.
TEST(OpCosts, ConvCountsMacsFromShapes) {
  // 1. The model: x 1x1x7x5, W 1x1x3x3, strides 2, pads 1 (ONNX backend test data).
  if (!std::filesystem::exists(kTestdata)) GTEST_SKIP() << "Debian package libonnx-testdata is not installed";
  const ir::Graph g = load_suite_model("test_conv_with_strides_padding");
  // 2. Find the node under test.
  const int conv = first_node(g, ir::Op::Conv);
  ASSERT_GE(conv, 0);
  // 3. The output shape comes from ONNX shape inference; it must equal the
  //    reference output (test_data_set_0/output_0.pb is 1x1x4x3).
  EXPECT_EQ(g.tensors[g.nodes[conv].outputs[0]].shape.str(), "1x1x4x3");
  // 4. The formula, written out: every output element is a C_in/group * kh * kw dot
  //    product: 12 outputs * 1 channel * 9 taps.
  const LayerCost cost = layer_cost(g, conv);
  EXPECT_EQ(cost.macs, 12u * 1u * 9u);
  EXPECT_EQ(cost.flops, 2 * cost.macs);
  // 5. In the suite W is a graph input, not an initializer: it is data, not a
  //    weight, so params stay 0. x (35 floats) and W (9) are read, y written.
  EXPECT_EQ(cost.params, 0u);
  EXPECT_EQ(cost.weight_bytes, 0u);
  EXPECT_EQ(cost.read_bytes, (35u + 9u) * 4u);
  EXPECT_EQ(cost.write_bytes, 12u * 4u);
  EXPECT_TRUE(cost.complete);
}

TEST(OpCosts, ConvTransposeCountsPerInputElement) {
  if (!std::filesystem::exists(kTestdata)) GTEST_SKIP();
  // x 1x1x3x3, W 1x2x3x3 → each of 9 input elements scatters into 2 channels * 9 taps.
  const ir::Graph g = load_suite_model("test_convtranspose");
  const int node = first_node(g, ir::Op::ConvTranspose);
  ASSERT_GE(node, 0);
  EXPECT_EQ(layer_cost(g, node).macs, 9u * 2u * 9u);
}

TEST(OpCosts, GemmHonoursTranspose) {
  if (!std::filesystem::exists(kTestdata)) GTEST_SKIP();
  // A is 6x3 with transA=1 (so M=3, K=6), B is 6x4 → Y 3x4: 12 outputs * K 6.
  const ir::Graph g = load_suite_model("test_gemm_transposeA");
  const int node = first_node(g, ir::Op::Gemm);
  ASSERT_GE(node, 0);
  EXPECT_EQ(layer_cost(g, node).macs, 3u * 4u * 6u);
}

TEST(OpCosts, BatchedMatMulCountsEveryBatch) {
  if (!std::filesystem::exists(kTestdata)) GTEST_SKIP();
  // 2x3x4 @ 2x4x3 → 2x3x3: 18 outputs * K 4.
  const ir::Graph g = load_suite_model("test_matmul_3d");
  const int node = first_node(g, ir::Op::MatMul);
  ASSERT_GE(node, 0);
  EXPECT_EQ(layer_cost(g, node).macs, 18u * 4u);
}

TEST(OpCosts, DepthwiseConvInNhwc) {
  // Hand-built TFLite-style depthwise conv: x 1x8x8x4 (NHWC), 3x3, group 4 → y 1x8x8x4.
  ir::Graph g;
  auto add = [&](const char* name, ir::Shape shape, ir::TensorKind kind) {
    ir::Tensor t;
    t.name = name;
    t.dtype = ir::DType::kFloat32;
    t.shape = std::move(shape);
    t.kind = kind;
    return g.add_tensor(std::move(t));
  };
  const int x = add("x", ir::Shape::of({1, 8, 8, 4}), ir::TensorKind::kInput);
  const int w = add("w", ir::Shape::of({1, 3, 3, 4}), ir::TensorKind::kConstant);
  const int y = add("y", ir::Shape::of({1, 8, 8, 4}), ir::TensorKind::kOutput);
  g.tensors[w].data = g.own(std::vector<std::byte>(36 * sizeof(float)));
  ir::Node n;
  n.name = "dw";
  n.op = ir::Op::Conv;
  n.source_op = "DEPTHWISE_CONV_2D";
  n.layout = ir::Layout::kNHWC;
  n.inputs = {x, w};
  n.outputs = {y};
  n.attrs.set("kernel_shape", std::vector<std::int64_t>{3, 3});
  n.attrs.set("group", std::int64_t{4});
  n.attrs.set("fused_activation", std::string("relu6"));
  g.nodes.push_back(std::move(n));
  g.inputs = {x};
  g.outputs = {y};
  g.finalize("dw");
  const LayerCost cost = layer_cost(g, 0);
  EXPECT_EQ(cost.macs, 256u * 9u);                    // one 3x3 tap set per output element
  EXPECT_EQ(cost.flops, 2u * 256u * 9u + 2u * 256u);  // plus the fused RELU6 (2 per element)
  EXPECT_EQ(cost.params, 36u);
}

TEST(OpCosts, UnknownShapesMarkLayerIncomplete) {
  ir::Graph g;
  ir::Tensor x;
  x.name = "x";
  x.dtype = ir::DType::kFloat32;
  x.shape = ir::Shape::of({1, 4});
  x.kind = ir::TensorKind::kInput;
  const int xi = g.add_tensor(std::move(x));
  ir::Tensor y;
  y.name = "y";
  y.dtype = ir::DType::kFloat32;
  y.kind = ir::TensorKind::kOutput;  // rank unknown
  const int yi = g.add_tensor(std::move(y));
  ir::Node n;
  n.name = "nz";
  n.op = ir::Op::NonZero;
  n.source_op = "NonZero";
  n.inputs = {xi};
  n.outputs = {yi};
  g.nodes.push_back(std::move(n));
  g.inputs = {xi};
  g.outputs = {yi};
  g.finalize("nz");
  EXPECT_FALSE(layer_cost(g, 0).complete);
}

TEST(OpCosts, SymbolicInputIsAClearError) {
  if (!std::filesystem::exists(kTestdata)) GTEST_SKIP();
  // Any suite model with its input's first dimension made symbolic.
  ir::Graph g = load_suite_model("test_relu");
  g.tensors[g.inputs[0]].shape.dims[0] = ir::Dim{-1, "batch"};
  try {
    analyze(g);
    FAIL() << "a symbolic input dimension was accepted";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'batch'"), std::string::npos) << what;
    EXPECT_NE(what.find("--input-shape"), std::string::npos) << what;
  }
}

TEST(Docs, CostsPageNamesEveryOp) {
  std::ifstream in(std::string(INFERCAST_SOURCE_DIR) + "/docs/costs.md");
  const std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (std::size_t i = 0; i < ir::kOpCount; ++i) {
    const std::string name(ir::op_name(static_cast<ir::Op>(i)));
    EXPECT_TRUE(std::regex_search(doc, std::regex("\\b" + name + " \\(")))
        << "docs/costs.md does not list op " << name << " (regenerate its table from `infercast ops`)";
  }
}

}  // namespace
}  // namespace infercast::cost
