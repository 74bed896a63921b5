// transform/: every pass against the closed forms it promises and against real
// runtimes (ONNX Runtime through its runner, XNNPACK in process): the original and
// the rewritten model run on the same inputs and must agree.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "../test_files.hpp"
#include "infercast/base/error.hpp"
#include "infercast/cost/cost.hpp"
#include "infercast/export/export.hpp"
#include "infercast/import/import.hpp"
#include "infercast/runtime/runtime.hpp"
#include "infercast/transform/transform.hpp"
#include "infercast/transform/verify.hpp"

namespace infercast::transform {
namespace {

namespace fs = std::filesystem;
const fs::path kSource = INFERCAST_SOURCE_DIR;
const fs::path kNodeTests = "/usr/share/libonnx-testdata/data/node";

bool ort_installed() {
  return fs::exists(kSource / "runners/ort/node_modules/onnxruntime-node/package.json");
}

// A small ONNX model built in memory: float32 tensors, seeded values.
class ModelBuilder {
 public:
  explicit ModelBuilder(int opset = 13) {
    model_.set_ir_version(7);
    model_.add_opset_import()->set_version(opset);
    model_.mutable_graph()->set_name("test");
  }
  void input(const std::string& name, const std::vector<std::int64_t>& dims, const std::string& symbol = "") {
    value_info(model_.mutable_graph()->add_input(), name, dims, symbol);
  }
  void output(const std::string& name) {
    auto* vi = model_.mutable_graph()->add_output();
    vi->set_name(name);
    vi->mutable_type()->mutable_tensor_type()->set_elem_type(::onnx::TensorProto::FLOAT);
  }
  // Uniform in [lo, hi).
  void weight(const std::string& name, const std::vector<std::int64_t>& dims, float lo = -1, float hi = 1) {
    auto* t = model_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(::onnx::TensorProto::FLOAT);
    std::int64_t n = 1;
    for (auto d : dims) {
      t->add_dims(d);
      n *= d;
    }
    std::uniform_real_distribution<float> dist(lo, hi);
    for (std::int64_t i = 0; i < n; ++i) t->add_float_data(dist(rng_));
  }
  void ints(const std::string& name, const std::vector<std::int64_t>& values) {
    auto* t = model_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(::onnx::TensorProto::INT64);
    t->add_dims(static_cast<std::int64_t>(values.size()));
    for (auto v : values) t->add_int64_data(v);
  }
  ::onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& in,
                          const std::vector<std::string>& out) {
    auto* n = model_.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(out[0] + "_node");
    for (const auto& i : in) n->add_input(i);
    for (const auto& o : out) n->add_output(o);
    return n;
  }
  static void attr(::onnx::NodeProto* n, const std::string& name, std::int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr(::onnx::NodeProto* n, const std::string& name, float v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  static void attr(::onnx::NodeProto* n, const std::string& name, const std::vector<std::int64_t>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::INTS);
    for (auto x : v) a->add_ints(x);
  }
  std::string bytes() const { return model_.SerializeAsString(); }
  fs::path save(const std::string& name) const {
    const fs::path path = testing::temp_path(name);
    testing::write_file(path, bytes());
    return path;
  }

 private:
  static void value_info(::onnx::ValueInfoProto* vi, const std::string& name, const std::vector<std::int64_t>& dims,
                         const std::string& symbol) {
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(::onnx::TensorProto::FLOAT);
    for (std::size_t i = 0; i < dims.size(); ++i) {
      auto* d = tt->mutable_shape()->add_dim();
      if (i == 0 && !symbol.empty()) {
        d->set_dim_param(symbol);
      } else {
        d->set_dim_value(dims[i]);
      }
    }
  }
  ::onnx::ModelProto model_;
  std::mt19937 rng_{7};
};

// Runs `passes` on the model at `path`, writes the result as ONNX beside it, and checks
// both on every runtime available here with numpy.allclose(rtol, atol). Returns the
// pass results.
std::vector<PassResult> transform_and_verify(const fs::path& path, const std::vector<std::string>& specs,
                                             double rtol = 1e-4, double atol = 1e-5,
                                             std::vector<std::string> runtimes = {"ort", "xnnpack"}) {
  ir::Graph graph = import::load_model(path);
  const auto passes = make_passes(specs);
  auto results = transform::apply(graph, passes);
  const fs::path out = testing::temp_path(path.stem().string() + "_out.onnx");
  exporter::save(graph, out, exporter::Format::kOnnx);
  const ir::Graph original = import::load_model(path);
  const ir::Graph written = import::load_model(out);
  for (const std::string& name : runtimes) {
    if (name == "ort" && !ort_installed()) continue;
    CheckOptions options;
    options.time = false;
    const RuntimeCheck check = check_on_runtime(name, original, written, runtime::Tolerance(rtol, atol), options);
    EXPECT_TRUE(check.pass) << path << " on " << name << ": max abs err " << check.max_abs_error;
  }
  return results;
}

std::uint64_t count_op(const ir::Graph& g, ir::Op op) {
  std::uint64_t n = 0;
  for (const auto& node : g.nodes) n += node.op == op ? 1 : 0;
  return n;
}

// Closed form against an independent enumeration of the subgraph's steps.
TEST(TileMatMul, ClosedFormCountsEveryStep) {
  // 1 x 9216 x 4096, T = 64, transB (AlexNet's first classifier layer): Transpose B,
  // Pad A (M), 1 Split of A's columns, 1 Split of B's rows, 144 Splits of B's columns,
  // 144*64 MatMuls, 64 Sums, 1 Concat, Slice, Add.
  EXPECT_EQ(tiled_node_count(1, 9216, 4096, 64, false, true, false, true),
            1u + 1 + 1 + 1 + 144 + 144 * 64 + 64 + 1 + 1 + 1);
  // Exact multiples, no transposes, no bias: just the tiles and their assembly.
  EXPECT_EQ(tiled_node_count(128, 128, 128, 64, false, false, false, false), 1u + 2 + 1 + 2 + 8 + 4 + 2 + 1);
  // One tile: a MatMul (plus Pad/Slice when padded).
  EXPECT_EQ(tiled_node_count(64, 64, 64, 64, false, false, false, false), 1u);
  EXPECT_EQ(tiled_node_count(3, 5, 7, 64, false, false, false, false), 4u);
}

TEST(TileMatMul, GemmVariantsMatchClosedFormAndRuntimes) {
  struct Case {
    std::int64_t m, k, n, t;
    bool trans_a, trans_b;
    float alpha, beta;
    std::vector<std::int64_t> c;  // empty: no C
  };
  const std::vector<Case> cases = {
      {5, 37, 19, 8, false, true, 1.0f, 1.0f, {19}},
      {16, 16, 16, 8, true, false, 0.5f, 2.0f, {16, 16}},
      {7, 9, 11, 4, true, true, 1.5f, 0.25f, {1, 11}},
      {3, 70, 5, 64, false, false, 1.0f, 1.0f, {}},
  };
  int index = 0;
  for (const Case& c : cases) {
    ModelBuilder b;
    b.input("a", c.trans_a ? std::vector<std::int64_t>{c.k, c.m} : std::vector<std::int64_t>{c.m, c.k});
    b.weight("w", c.trans_b ? std::vector<std::int64_t>{c.n, c.k} : std::vector<std::int64_t>{c.k, c.n});
    std::vector<std::string> inputs = {"a", "w"};
    if (!c.c.empty()) {
      b.weight("c", c.c);
      inputs.push_back("c");
    }
    auto* gemm = b.node("Gemm", inputs, {"y"});
    ModelBuilder::attr(gemm, "transA", std::int64_t{c.trans_a});
    ModelBuilder::attr(gemm, "transB", std::int64_t{c.trans_b});
    ModelBuilder::attr(gemm, "alpha", c.alpha);
    ModelBuilder::attr(gemm, "beta", c.beta);
    b.node("Relu", {"y"}, {"z"});
    b.output("z");
    const fs::path path = b.save("infercast_tile_gemm_" + std::to_string(index++) + ".onnx");
    const auto results = transform_and_verify(path, {"tile-matmul=" + std::to_string(c.t)});
    ASSERT_EQ(results[0].rewrites, 1u) << path;
    const auto& layer = results[0].details["layers"][0];
    EXPECT_EQ(layer["nodes"].get<std::uint64_t>(),
              tiled_node_count(c.m, c.k, c.n, c.t, c.trans_a, c.trans_b, c.alpha != 1.0f, !c.c.empty()));
    ir::Graph graph = import::load_model(path);
    const auto passes = make_passes({"tile-matmul=" + std::to_string(c.t)});
    transform::apply(graph, passes);
    const cost::ModelCost cost = cost::analyze(graph);
    std::uint64_t macs = 0;
    for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
      if (graph.nodes[i].op == ir::Op::MatMul) macs += cost.layers[i].macs;
    }
    const auto tiles = [&](std::int64_t x) { return static_cast<std::uint64_t>((x + c.t - 1) / c.t); };
    EXPECT_EQ(macs, tiles(c.m) * tiles(c.k) * tiles(c.n) * static_cast<std::uint64_t>(c.t * c.t * c.t));
    EXPECT_EQ(graph.nodes.size(), layer["nodes"].get<std::uint64_t>() + 1);  // + the Relu
  }
}

TEST(TileMatMul, BatchedMatMulWithBroadcastAndBias) {
  ModelBuilder b;
  b.input("a", {2, 3, 10, 13});
  b.weight("w", {3, 13, 9});
  b.weight("bias", {9});
  b.node("MatMul", {"a", "w"}, {"mm"});
  b.node("Add", {"mm", "bias"}, {"y"});
  b.output("y");
  const fs::path path = b.save("infercast_tile_batched.onnx");
  const auto results = transform_and_verify(path, {"tile-matmul=4"});
  ASSERT_EQ(results[0].rewrites, 1u);
  EXPECT_EQ(results[0].details["layers"][0]["padded_tile_macs"].get<std::uint64_t>(), 6u * 3 * 4 * 3 * 64);
}

// TFLite FULLY_CONNECTED: an ONNX Gemm + Relu, a MatMul without bias and a rank-3
// MatMul, written as TFLite (FULLY_CONNECTED with a fused RELU, without bias, with
// keep_num_dims), tiled in TFLite form, written back and run on XNNPACK against the
// untiled file. Every layer's node count is the closed form plus its reshapes.
TEST(TileMatMul, TfliteFullyConnectedTilesAndAgrees) {
  ModelBuilder b;
  b.input("a", {3, 37});
  b.input("c", {2, 3, 10});
  b.weight("w1", {19, 37});
  b.weight("b1", {19});
  b.weight("w2", {19, 5});
  b.weight("w3", {10, 7});
  auto* gemm = b.node("Gemm", {"a", "w1", "b1"}, {"g"});
  ModelBuilder::attr(gemm, "transB", std::int64_t{1});
  b.node("Relu", {"g"}, {"r"});
  b.node("MatMul", {"r", "w2"}, {"y"});
  b.node("MatMul", {"c", "w3"}, {"z"});
  b.output("y");
  b.output("z");
  const fs::path onnx = b.save("infercast_tile_fc.onnx");
  const fs::path tfl = testing::temp_path("infercast_tile_fc.tflite");
  exporter::save(import::load_model(onnx), tfl, exporter::Format::kTflite);
  ir::Graph graph = import::load_model(tfl);
  ASSERT_EQ(count_op(graph, ir::Op::FullyConnected), 3u);
  const auto results = transform::apply(graph, make_passes({"tile-matmul=8"}));
  ASSERT_EQ(results[0].rewrites, 3u);
  std::uint64_t tile_matmuls = 0;
  for (const auto& layer : results[0].details["layers"]) {
    EXPECT_EQ(layer["nodes"], layer["nodes_closed_form"]) << layer.dump();
    const auto& t = layer["tiles"];
    tile_matmuls += t[0].get<std::uint64_t>() * t[1].get<std::uint64_t>() * t[2].get<std::uint64_t>();
  }
  // 3x37 . 37x19 (Relu fused in the bias ADD), 3x19 . 19x5, 6x10 . 10x7 (reshaped in and out).
  EXPECT_EQ(results[0].details["layers"][0]["nodes"].get<std::uint64_t>(),
            tiled_node_count(3, 37, 19, 8, false, true, false, true));
  EXPECT_EQ(results[0].details["layers"][2]["reshapes"].get<std::uint64_t>(), 2u);
  EXPECT_EQ(count_op(graph, ir::Op::FullyConnected), 0u);
  const fs::path out = testing::temp_path("infercast_tile_fc_out.tflite");
  exporter::save(graph, out, exporter::Format::kTflite);
  const ir::Graph original = import::load_model(tfl);
  const ir::Graph written = import::load_model(out);
  std::uint64_t batch_matmuls = 0;
  for (const ir::Node& n : written.nodes) batch_matmuls += n.source_op == "BATCH_MATMUL";
  EXPECT_EQ(batch_matmuls, tile_matmuls);
  // flatc (the flatbuffers compiler) decodes the file with the project's schema.
  const fs::path decoded = testing::temp_path("infercast_tile_fc_flatc");
  fs::create_directories(decoded);
  EXPECT_EQ(std::system(("flatc --json --strict-json --raw-binary -o " + decoded.string() + " " +
                         (kSource / "schema/tflite.fbs").string() + " -- " + out.string() + " > /dev/null 2>&1")
                            .c_str()),
            0);
  EXPECT_TRUE(fs::exists(decoded / (out.stem().string() + ".json")));
  CheckOptions options;
  options.time = false;
  const RuntimeCheck check = check_on_runtime("xnnpack", original, written, runtime::Tolerance(1e-4, 1e-5), options);
  EXPECT_TRUE(check.pass) << "max abs err " << check.max_abs_error;
  // Tiled once, the tiles are single T x T products: a second run leaves them alone.
  ir::Graph again = import::load_model(out);
  EXPECT_EQ(transform::apply(again, make_passes({"tile-matmul=8"}))[0].rewrites, 0u);
}

// FULLY_CONNECTED with a fused RELU and no bias (TFLite's omitted input -1): the
// activation rides on an ADD of zeros, so the tiled layer still clamps.
TEST(TileMatMul, TfliteFullyConnectedActivationWithoutBias) {
  ModelBuilder b;
  b.input("a", {2, 12});
  b.weight("w", {9, 12});
  b.weight("bias", {9});
  auto* gemm = b.node("Gemm", {"a", "w", "bias"}, {"g"});
  ModelBuilder::attr(gemm, "transB", std::int64_t{1});
  b.node("Relu", {"g"}, {"y"});
  b.output("y");
  const fs::path tfl = testing::temp_path("infercast_tile_fc_nobias.tflite");
  exporter::save(import::load_model(b.save("infercast_tile_fc_nobias.onnx")), tfl, exporter::Format::kTflite);
  // The same file with the FULLY_CONNECTED's bias omitted.
  ir::Graph no_bias = import::load_model(tfl);
  for (ir::Node& n : no_bias.nodes) {
    if (n.op == ir::Op::FullyConnected) {
      ASSERT_EQ(n.attrs.get_string("fused_activation", ""), "relu");
      n.inputs[2] = -1;
    }
  }
  const fs::path original_path = testing::temp_path("infercast_tile_fc_nobias_original.tflite");
  exporter::save(no_bias, original_path, exporter::Format::kTflite);
  ir::Graph graph = import::load_model(original_path);
  const auto results = transform::apply(graph, make_passes({"tile-matmul=4"}));
  ASSERT_EQ(results[0].rewrites, 1u);
  EXPECT_EQ(results[0].details["layers"][0]["nodes"], results[0].details["layers"][0]["nodes_closed_form"]);
  EXPECT_EQ(count_op(graph, ir::Op::Add), 1u);
  const fs::path out = testing::temp_path("infercast_tile_fc_nobias_out.tflite");
  exporter::save(graph, out, exporter::Format::kTflite);
  CheckOptions options;
  options.time = false;
  const RuntimeCheck check = check_on_runtime("xnnpack", import::load_model(original_path), import::load_model(out),
                                              runtime::Tolerance(1e-4, 1e-5), options);
  EXPECT_TRUE(check.pass) << "max abs err " << check.max_abs_error;
}

TEST(TileMatMul, DynamicShapesAreLeftAloneWithANote) {
  ModelBuilder b;
  b.input("a", {1, 8}, "batch");
  b.weight("w", {8, 4});
  b.node("MatMul", {"a", "w"}, {"y"});
  b.output("y");
  ir::Graph graph = import::load_model(b.save("infercast_tile_dynamic.onnx"));
  const auto results = transform::apply(graph, make_passes({"tile-matmul=2"}));
  EXPECT_EQ(results[0].rewrites, 0u);
  ASSERT_EQ(results[0].notes.size(), 1u);
  EXPECT_NE(results[0].notes[0].find("not static"), std::string::npos);
}

TEST(PassTable, BadSpecsAreInvalidArguments) {
  for (const char* spec : {"nosuch", "tile-matmul", "tile-matmul=0", "tile-matmul=-3", "tile-matmul=x", "fold-bn=2",
                           "quantize", "quantize=half"}) {
    try {
      make_pass(spec);
      ADD_FAILURE() << spec << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << spec;
      EXPECT_NE(std::string(e.what()).find(spec), std::string::npos) << e.what();
    }
  }
  std::set<std::string> names;
  for (const PassInfo& info : pass_table()) names.insert(std::string(info.name));
  EXPECT_EQ(names, (std::set<std::string>{"tile-matmul", "fold-bn", "fold-pad", "cleanup", "static-shapes", "fp16",
                                          "quantize"}));
}

TEST(FoldBn, ConvAndGemmFoldAndAgree) {
  ModelBuilder b;
  b.input("x", {1, 3, 12, 12});
  b.weight("w", {8, 3, 3, 3});
  b.weight("wb", {8});
  b.weight("scale", {8}, 0.5f, 1.5f);
  b.weight("shift", {8});
  b.weight("mean", {8});
  b.weight("var", {8}, 0.1f, 2.0f);
  auto* conv = b.node("Conv", {"x", "w", "wb"}, {"c"});
  ModelBuilder::attr(conv, "pads", std::vector<std::int64_t>{1, 1, 1, 1});
  b.node("BatchNormalization", {"c", "scale", "shift", "mean", "var"}, {"bn"});
  b.node("Flatten", {"bn"}, {"f"});
  b.weight("g", {10, 1152});
  auto* gemm = b.node("Gemm", {"f", "g"}, {"h"});
  ModelBuilder::attr(gemm, "transB", std::int64_t{1});
  b.weight("scale2", {10}, 0.5f, 1.5f);
  b.weight("shift2", {10});
  b.weight("mean2", {10});
  b.weight("var2", {10}, 0.1f, 2.0f);
  b.node("BatchNormalization", {"h", "scale2", "shift2", "mean2", "var2"}, {"y"});
  b.output("y");
  const fs::path path = b.save("infercast_fold_bn.onnx");
  const auto results = transform_and_verify(path, {"fold-bn"});
  EXPECT_EQ(results[0].rewrites, 2u);
  ir::Graph graph = import::load_model(path);
  transform::apply(graph, make_passes({"fold-bn"}));
  EXPECT_EQ(count_op(graph, ir::Op::BatchNormalization), 0u);
  // The graph output keeps its name.
  EXPECT_EQ(graph.tensors[graph.outputs[0]].name, "y");
}

TEST(FoldBn, NoConvBeforeIsZeroRewrites) {
  ModelBuilder b;
  b.input("x", {1, 4, 5, 5});
  for (const char* name : {"s", "h", "m", "v"}) b.weight(name, {4}, 0.5f, 1.0f);
  b.node("BatchNormalization", {"x", "s", "h", "m", "v"}, {"y"});
  b.output("y");
  ir::Graph graph = import::load_model(b.save("infercast_fold_bn_none.onnx"));
  const auto results = transform::apply(graph, make_passes({"fold-bn"}));
  EXPECT_EQ(results[0].rewrites, 0u);
  EXPECT_EQ(count_op(graph, ir::Op::BatchNormalization), 1u);
}

TEST(FoldPad, ZeroPadFoldsIntoConv) {
  ModelBuilder b;
  b.input("x", {1, 2, 9, 9});
  b.ints("pads", {0, 0, 1, 2, 0, 0, 3, 1});
  b.node("Pad", {"x", "pads"}, {"p"});
  b.weight("w", {4, 2, 3, 3});
  b.node("Conv", {"p", "w"}, {"y"});
  b.output("y");
  const fs::path path = b.save("infercast_fold_pad.onnx");
  const auto results = transform_and_verify(path, {"fold-pad"});
  EXPECT_EQ(results[0].rewrites, 1u);
  ir::Graph graph = import::load_model(path);
  transform::apply(graph, make_passes({"fold-pad"}));
  ASSERT_EQ(graph.nodes.size(), 1u);
  EXPECT_EQ(graph.nodes[0].attrs.get_ints("pads"), (std::vector<std::int64_t>{1, 2, 3, 1}));
}

TEST(Cleanup, RemovesIdentityDropoutShapeArithmeticAndUnused) {
  ModelBuilder b;
  b.input("x", {2, 3, 4});
  b.weight("unused", {5});
  b.node("Identity", {"x"}, {"i"});
  b.node("Dropout", {"i"}, {"d"});
  b.node("Shape", {"d"}, {"s"});
  b.ints("idx", {0});
  auto* gather = b.node("Gather", {"s", "idx"}, {"g"});
  ModelBuilder::attr(gather, "axis", std::int64_t{0});
  b.ints("rest", {-1});
  auto* concat = b.node("Concat", {"g", "rest"}, {"shape"});
  ModelBuilder::attr(concat, "axis", std::int64_t{0});
  b.node("Reshape", {"d", "shape"}, {"r"});
  b.node("Relu", {"d"}, {"dead"});
  b.node("Identity", {"r"}, {"y"});
  b.output("y");
  const fs::path path = b.save("infercast_cleanup.onnx");
  const auto results = transform_and_verify(path, {"cleanup"});
  ir::Graph graph = import::load_model(path);
  transform::apply(graph, make_passes({"cleanup"}));
  ASSERT_EQ(graph.nodes.size(), 1u);
  EXPECT_EQ(graph.nodes[0].op, ir::Op::Reshape);
  EXPECT_EQ(graph.tensors[graph.outputs[0]].name, "y");
  EXPECT_EQ(graph.find_tensor("unused"), -1);
  EXPECT_EQ(results[0].details["identity_dropout_removed"], 3);
  EXPECT_EQ(results[0].details["shape_nodes_folded"], 3);  // Shape, Gather, Concat
  EXPECT_EQ(results[0].details["dead_nodes_removed"], 1);
}

TEST(Fp16, HalvesWeightBytesAndStaysClose) {
  ModelBuilder b;
  b.input("x", {1, 3, 8, 8});
  b.weight("w", {8, 3, 3, 3});
  b.weight("wb", {8});
  b.node("Conv", {"x", "w", "wb"}, {"y"});
  b.output("y");
  const fs::path path = b.save("infercast_fp16.onnx");
  ir::Graph graph = import::load_model(path);
  const std::uint64_t before = cost::analyze(graph).weight_bytes;
  const auto results = transform::apply(graph, make_passes({"fp16"}));
  EXPECT_EQ(results[0].rewrites, 1u);  // the 8-element bias is a hyper-parameter-sized constant: kept
  EXPECT_EQ(cost::analyze(graph).weight_bytes, before - 8 * 3 * 3 * 3 * 2);
  // float16 weights: relative error up to 2^-11 per weight.
  transform_and_verify(path, {"fp16"}, 1e-2, 1e-2);
}

// Random pass sequences over ONNX backend test models that both runtimes run: every
// result must compute what the original does. (The BatchNormalization test models
// take their variance as a graph input, which random inputs make negative: NaN on
// both sides, so they are not in the list; fold-bn is checked above.)
TEST(Property, RandomPassSequencesKeepTheNumbers) {
  if (!fs::exists(kNodeTests)) GTEST_SKIP() << "needs libonnx-testdata";
  const std::vector<std::string> models = {"test_matmul_2d",
                                           "test_matmul_3d",
                                           "test_matmul_4d",
                                           "test_gemm_default_no_bias",
                                           "test_gemm_alpha",
                                           "test_gemm_beta",
                                           "test_gemm_transposeA",
                                           "test_gemm_transposeB",
                                           "test_gemm_all_attributes",
                                           "test_gemm_default_matrix_bias",
                                           "test_gemm_default_scalar_bias",
                                           "test_gemm_default_vector_bias",
                                           "test_conv_with_autopad_same",
                                           "test_flatten_axis1",
                                           "test_conv_with_strides_padding",
                                           "test_identity",
                                           "test_dropout_default",
                                           "test_relu",
                                           "test_add_bcast",
                                           "test_reshape_extended_dims"};
  const std::vector<std::string> pool = {"tile-matmul=2", "tile-matmul=3", "tile-matmul=4", "fold-bn",
                                         "fold-pad",      "cleanup",       "static-shapes"};
  std::mt19937 rng(2026);
  int checked = 0, checked_tflite = 0;
  for (const std::string& name : models) {
    const fs::path path = kNodeTests / name / "model.onnx";
    if (!fs::exists(path)) continue;
    std::vector<std::string> specs;
    const int length = 1 + static_cast<int>(rng() % 3);
    for (int i = 0; i < length; ++i) specs.push_back(pool[rng() % pool.size()]);
    ir::Graph original;
    try {
      original = import::load_model(path);
      ir::Graph graph = import::load_model(path);
      transform::apply(graph, make_passes(specs));
      const fs::path out = testing::temp_path("infercast_property_" + name + ".onnx");
      exporter::save(graph, out, exporter::Format::kOnnx);
      const ir::Graph written = import::load_model(out);
      for (const std::string runtime_name : {"xnnpack", "ort"}) {
        if (std::string(runtime_name) == "ort" && !ort_installed()) continue;
        CheckOptions options;
        options.time = false;
        RuntimeCheck check;
        try {
          check = check_on_runtime(runtime_name, original, written, runtime::Tolerance(1e-4, 1e-5), options);
        } catch (const Error& e) {
          // A runtime that cannot run the original is no evidence either way.
          if (e.kind() == ErrorKind::kUnsupported) continue;
          throw;
        }
        ++checked;
        std::string sequence;
        for (const auto& s : specs) sequence += s + " ";
        EXPECT_TRUE(check.pass) << name << " after " << sequence << "on " << runtime_name << ": max abs err "
                                << check.max_abs_error;
      }
      // The same result written as TFLite (SPLIT, ADD_N, SLICE, PAD, TRANSPOSE, BATCH_MATMUL
      // for the tiled ones), on XNNPACK against the original.
      const fs::path tfl = testing::temp_path("infercast_property_" + name + ".tflite");
      try {
        exporter::save(graph, tfl, exporter::Format::kTflite);
      } catch (const Error& e) {
        if (e.kind() == ErrorKind::kUnsupported) continue;  // an op of the original without a TFLite lowering
        throw;
      }
      CheckOptions options;
      options.time = false;
      RuntimeCheck check;
      try {
        check = check_on_runtime("xnnpack", original, import::load_model(tfl), runtime::Tolerance(1e-4, 1e-5), options);
      } catch (const Error& e) {
        if (e.kind() == ErrorKind::kUnsupported) continue;
        throw;
      }
      ++checked_tflite;
      std::string sequence;
      for (const auto& s : specs) sequence += s + " ";
      EXPECT_TRUE(check.pass) << name << " after " << sequence << "as TFLite on xnnpack: max abs err "
                              << check.max_abs_error;
    } catch (const Error& e) {
      ADD_FAILURE() << name << ": " << e.what();
    }
  }
  EXPECT_GE(checked, 10);
  EXPECT_GE(checked_tflite, 8);
}

// The CLI: one line, exit 2, input untouched, no output, for every bad input.
int cli(const std::string& args, const std::string& out = "/dev/null") {
  const int status =
      std::system((std::string(INFERCAST_CLI) + " transform " + args + " > " + out + " 2>/dev/null").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// ONNX tile-matmul + fp16 written as TFLite (SPLIT, BATCH_MATMUL, ADD_N, SLICE, float16
// weights behind DEQUANTIZE), checked on XNNPACK under --verify's default verdict, the
// scaled rule of `verify` (float16 weights stay within 1e-3 of the output's scale);
// --rtol switches the report to numpy.allclose.
TEST(CliTransform, TiledFp16OnnxWritesTflite) {
  ModelBuilder b;
  b.input("a", {3, 40});
  b.weight("w", {20, 40});
  b.weight("bias", {20});
  auto* gemm = b.node("Gemm", {"a", "w", "bias"}, {"y"});
  ModelBuilder::attr(gemm, "transB", std::int64_t{1});
  b.output("y");
  const fs::path path = b.save("infercast_cli_tile_fp16.onnx");
  const fs::path out = testing::temp_path("infercast_cli_tile_fp16.tflite");
  const fs::path json = testing::temp_path("infercast_cli_tile_fp16.json");
  fs::remove(out);
  ASSERT_EQ(
      cli(path.string() + " --pass tile-matmul=16 --pass fp16 -o " + out.string() + " --verify xnnpack --format json",
          json.string()),
      0);
  auto doc = nlohmann::json::parse(std::ifstream(json));
  EXPECT_EQ(doc["verify"][0]["rule"], "scaled");
  EXPECT_TRUE(doc["verify"][0]["pass"].get<bool>());
  std::map<std::string, int> ops;
  for (const ir::Node& n : import::load_model(out).nodes) ++ops[n.source_op];
  EXPECT_EQ(ops["BATCH_MATMUL"], 1 * 3 * 2);  // M 3 -> 1 tile, K 40 -> 3, N 20 -> 2
  EXPECT_EQ(ops["ADD_N"], 2);
  EXPECT_EQ(ops["SLICE"], 1);
  EXPECT_EQ(ops["DEQUANTIZE"], 2);  // the weights and the bias
  EXPECT_GE(ops["SPLIT"], 1);
  ASSERT_EQ(cli(path.string() + " --pass tile-matmul=16 --pass fp16 -o " + out.string() +
                    " --verify xnnpack --rtol 1e-2 --format json",
                json.string()),
            0);
  doc = nlohmann::json::parse(std::ifstream(json));
  EXPECT_EQ(doc["verify"][0]["rule"], "allclose");
}

TEST(CliTransform, BadInputExitsTwoAndWritesNothing) {
  ModelBuilder b;
  b.input("a", {2, 8}, "batch");
  b.weight("w", {8, 4});
  b.node("MatMul", {"a", "w"}, {"y"});
  b.output("y");
  const fs::path dynamic = b.save("infercast_cli_dynamic.onnx");
  const std::string before = testing::read_file(dynamic);
  const fs::path out = testing::temp_path("infercast_cli_out.onnx");
  EXPECT_EQ(cli(dynamic.string() + " --pass nosuch -o " + out.string()), 2);
  EXPECT_EQ(cli(dynamic.string() + " --pass tile-matmul=0 -o " + out.string()), 2);
  EXPECT_EQ(cli(dynamic.string() + " --pass tile-matmul=-4 -o " + out.string()), 2);
  EXPECT_EQ(cli(dynamic.string() + " --pass tile-matmul=4 -o " + out.string()), 2);  // symbolic batch
  EXPECT_EQ(cli(dynamic.string() + " --pass cleanup -o " + dynamic.string()), 2);    // output == input
  EXPECT_EQ(cli(dynamic.string() + " --input-shape a=3x8 --pass cleanup -o " + out.string() + " --verify nosuch"),
            2);  // unknown runtime
  // A result the TFLite writer cannot express (Erf has no TFLite lowering): exit 2, and
  // neither the output nor its temporary is left behind.
  ModelBuilder erf;
  erf.input("x", {2, 8});
  erf.node("Erf", {"x"}, {"y"});
  erf.output("y");
  const fs::path erf_path = erf.save("infercast_cli_erf.onnx");
  const fs::path tfl_out = testing::temp_path("infercast_cli_out.tflite");
  EXPECT_EQ(cli(erf_path.string() + " --pass cleanup -o " + tfl_out.string()), 2);
  EXPECT_EQ(cli(erf_path.string() + " --pass cleanup -o " + tfl_out.string() + " --verify xnnpack"), 2);
  EXPECT_FALSE(fs::exists(tfl_out));
  for (const auto& entry : fs::directory_iterator(tfl_out.parent_path())) {
    EXPECT_EQ(entry.path().filename().string().rfind("infercast_cli_out.tflite", 0), std::string::npos)
        << entry.path() << " left behind";
  }
  // A runtime that cannot run the result (XNNPACK packs Conv weights at prepare; here
  // they are a graph input) is an error: exit 2 and nothing left behind.
  if (fs::exists(kNodeTests)) {
    EXPECT_EQ(cli((kNodeTests / "test_conv_with_strides_padding/model.onnx").string() + " --pass cleanup -o " +
                  out.string() + " --verify xnnpack"),
              2);
  }
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out.string() + ".staged.onnx"));
  EXPECT_EQ(testing::read_file(dynamic), before);
  // With the batch pinned it works, and a pass with nothing to do is 0 rewrites, not an error.
  const fs::path json = testing::temp_path("infercast_cli_transform.json");
  EXPECT_EQ(cli(dynamic.string() + " --input-shape a=3x8 --pass fold-bn --pass tile-matmul=4 -o " + out.string() +
                    " --verify xnnpack --format json",
                json.string()),
            0);
  const auto doc = nlohmann::json::parse(std::ifstream(json));
  EXPECT_EQ(doc["passes"][0]["rewrites"], 0);
  EXPECT_EQ(doc["passes"][1]["rewrites"], 1);
  EXPECT_TRUE(doc["tiled_layers"][0]["nodes_match"].get<bool>());
  EXPECT_TRUE(doc["tiled_layers"][0]["macs_match"].get<bool>());
  EXPECT_TRUE(doc["verify"][0]["pass"].get<bool>());
  EXPECT_TRUE(fs::exists(out));
}

}  // namespace
}  // namespace infercast::transform
