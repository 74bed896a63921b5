// predict/: kernel detection on real models, fusion decisions on given timings,
// regressors recovering known laws, bundle round trip and rejection, CLI contracts.
// No test depends on a timing taken here.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <span>
#include <tuple>

#include "../test_files.hpp"
#include "infercast/base/error.hpp"
#include "infercast/bench/kernel.hpp"
#include "infercast/import/import.hpp"
#include "infercast/predict/fusion.hpp"
#include "infercast/predict/predictor.hpp"
#include "infercast/predict/profile.hpp"
#include "infercast/predict/validate.hpp"
#include "infercast/runtime/runtime.hpp"

namespace {

namespace fs = std::filesystem;
using namespace infercast;
using namespace infercast::predict;
namespace predict = infercast::predict;

// A 3x3 convolution with `c` channels in and out on `hw` x `hw`, same padding.
bench::KernelSpec same_conv3x3(std::int64_t c, std::int64_t hw) {
  return bench::KernelSpec{"conv",
                           {{"n", 1},
                            {"h", hw},
                            {"w", hw},
                            {"cin", c},
                            {"cout", c},
                            {"k", 3},
                            {"stride", 1},
                            {"dilation", 1},
                            {"pad", 1},
                            {"groups", 1}},
                           ir::DType::kFloat32};
}

const fs::path kModels = fs::path(INFERCAST_SOURCE_DIR) / ".cache/models";

std::vector<fs::path> real_models() {
  std::vector<fs::path> out;
  for (const char* dir : {"torchvision", "mediapipe"}) {
    if (!fs::is_directory(kModels / dir)) continue;
    for (const auto& e : fs::directory_iterator(kModels / dir)) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

FusionRules rich_rules() {
  FusionRules r = default_fusion_rules();
  r.fused_pairs = {"conv+bn",     "conv+relu",    "conv+relu6", "dwconv+bn",
                   "dwconv+relu", "dwconv+relu6", "add+relu",   "fc+relu"};
  return r;
}

// A made-up but physical law: a fixed cost, compute at 20 GFLOP/s, memory at 10 GB/s.
double law_ms(const KernelCost& c) {
  return 0.002 + std::max(c.flops / 2e7, c.bytes / 1e7);
}

TEST(PredictKernels, RealModelsSplitEveryNodeExactlyOnce) {
  const auto models = real_models();
  if (models.empty()) GTEST_SKIP() << "no models in .cache/models (make test fetches them)";
  for (const auto& path : models) {
    const ir::Graph g = import::load_model(path);
    for (const FusionRules& rules : {default_fusion_rules(), rich_rules()}) {
      std::vector<int> seen(g.nodes.size(), 0);
      for (const Kernel& k : split_kernels(g, rules)) {
        ASSERT_FALSE(k.nodes.empty());
        for (int n : k.nodes) ++seen.at(static_cast<std::size_t>(n));
        if (!k.removed) EXPECT_NE(k.family, "removed") << path;
      }
      for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], 1) << path << " node " << g.nodes[i].name;
    }
  }
}

TEST(PredictKernels, OnnxClipBoundsAndPreparedWeights) {
  const fs::path mv2 = kModels / "torchvision/mobilenet_v2.onnx";
  const fs::path selfie = kModels / "mediapipe/selfie_segmentation.tflite";
  if (!fs::exists(mv2) || !fs::exists(selfie)) GTEST_SKIP() << "needs mobilenet_v2 and selfie_segmentation";
  // Opset-11 Clip takes min/max as inputs: 0..6 is relu6, which the rules fuse.
  std::map<std::string, int> types;
  for (const Kernel& k : split_kernels(import::load_model(mv2), rich_rules())) ++types[k.type];
  EXPECT_EQ(types["conv+relu6"], 18);
  EXPECT_EQ(types["dwconv+relu6"], 17);
  EXPECT_EQ(types["clip"], 0);
  // fp16 weights dequantized at prepare time cost nothing and count as the conv's params.
  for (const Kernel& k : split_kernels(import::load_model(selfie), rich_rules())) {
    if (k.type.rfind("dequantize", 0) == 0) EXPECT_TRUE(k.removed) << k.name;
    if (k.family == "conv") {
      EXPECT_GT(k.cost.params, 0) << k.name;
      EXPECT_EQ(k.features[15], 1.0f) << k.name;  // one activation input
    }
  }
}

TEST(PredictKernels, FusionRulesDecideTheGrouping) {
  bench::KernelSpec spec{"conv+bn+relu",
                         {{"n", 1},
                          {"h", 16},
                          {"w", 16},
                          {"cin", 8},
                          {"cout", 8},
                          {"k", 3},
                          {"stride", 1},
                          {"dilation", 1},
                          {"pad", 1},
                          {"groups", 1}}};
  const ir::Graph g = bench::build_kernel_graph(spec);
  ASSERT_EQ(g.nodes.size(), 3u);
  const auto fused = split_kernels(g, rich_rules());
  ASSERT_EQ(fused.size(), 1u);
  EXPECT_EQ(fused[0].type, "conv+bn+relu");
  EXPECT_EQ(fused[0].family, "conv");
  const auto separate = split_kernels(g, default_fusion_rules());
  ASSERT_EQ(separate.size(), 3u);
  EXPECT_EQ(separate[1].type, "bn");
  EXPECT_EQ(separate[2].type, "relu");
  // A fused kernel moves fewer bytes than its parts: the intermediate tensors stay inside.
  double parts = 0;
  for (const auto& k : separate) parts += k.cost.bytes;
  EXPECT_LT(fused[0].cost.bytes, parts);
  // A spec whose time mixes several kernels under the rules is no training row.
  EXPECT_TRUE(training_kernel(bench::to_json(spec), 1.0, rich_rules()).has_value());
  EXPECT_FALSE(training_kernel(bench::to_json(spec), 1.0, default_fusion_rules()).has_value());
}

// swish: where the runtime fuses sigmoid+mul, x * sigmoid(x) is one kernel; a
// squeeze-excitation's sigmoid, whose Mul scales another tensor, is not.
TEST(PredictKernels, SwishIsOneKernelWhereSigmoidMulFuses) {
  const fs::path b0 = kModels / "torchvision/efficientnet_b0.onnx";
  if (!fs::exists(b0)) GTEST_SKIP() << "needs efficientnet_b0 (make test fetches it)";
  const ir::Graph g = import::load_model(b0);
  FusionRules swish = rich_rules();
  swish.fused_pairs.insert("sigmoid+mul");
  std::map<std::string, int> with, without;
  for (const Kernel& k : split_kernels(g, swish)) {
    ++with[k.type];
    if (k.type == "swish") {
      EXPECT_EQ(k.nodes.size(), 2u) << k.name;
      EXPECT_EQ(k.family, "exp_activation") << k.name;
      EXPECT_EQ(k.features[15], 1.0f) << k.name;  // x is read once
    }
  }
  for (const Kernel& k : split_kernels(g, rich_rules())) ++without[k.type];
  // torchvision's EfficientNet-B0: 49 SiLUs, 16 squeeze-excitation gates (a Mul by one
  // value per channel: channel_mul, the gate family).
  EXPECT_EQ(with["swish"], 49);
  EXPECT_EQ(with["sigmoid"], 16);
  EXPECT_EQ(with["channel_mul"], 16);
  EXPECT_EQ(with["mul"], 0);
  EXPECT_EQ(without["swish"], 0);
  EXPECT_EQ(without["sigmoid"], 65);
  EXPECT_EQ(without["mul"], 49);
  EXPECT_EQ(without["channel_mul"], 16);
  // The bench's swish graph is one training row exactly where the pair fuses.
  const bench::KernelSpec spec{"swish", {{"n", 1}, {"h", 8}, {"w", 8}, {"c", 16}}};
  EXPECT_TRUE(training_kernel(bench::to_json(spec), 1.0, swish).has_value());
  EXPECT_FALSE(training_kernel(bench::to_json(spec), 1.0, rich_rules()).has_value());
}

// Hard swish as torchvision writes it before opset 14, x * HardSigmoid(x): where the
// runtime fuses it into the conv or depthwise conv before it (ONNX Runtime's NCHWc conv),
// the three nodes are one kernel; elsewhere the HardSigmoid and the Mul stay apart, and
// a squeeze-excitation's HardSigmoid, whose Mul scales another tensor, is no part of one.
TEST(PredictKernels, HardSwishAsHardSigmoidTimesXJoinsTheConvWhereFused) {
  const fs::path mv3 = kModels / "torchvision/mobilenet_v3_large.onnx";
  if (!fs::exists(mv3)) GTEST_SKIP() << "needs mobilenet_v3_large (make test fetches it)";
  const ir::Graph g = import::load_model(mv3);
  FusionRules fused = rich_rules();
  fused.fused_pairs.insert({"conv+hsigmoid_mul", "dwconv+hsigmoid_mul", "conv+hardsigmoid"});
  std::map<std::string, int> with, without;
  for (const Kernel& k : split_kernels(g, fused)) {
    ++with[k.type];
    if (k.type.find("hsigmoid_mul") != std::string::npos) {
      ASSERT_EQ(k.nodes.size(), 3u) << k.name;
      EXPECT_EQ(g.nodes[static_cast<std::size_t>(k.nodes[1])].op, ir::Op::HardSigmoid) << k.name;
      EXPECT_EQ(g.nodes[static_cast<std::size_t>(k.nodes[2])].op, ir::Op::Mul) << k.name;
      // The bench names the same group (a --models top-up samples what the model runs).
      const auto spec = bench::kernel_spec_of(g, k.nodes);
      ASSERT_TRUE(spec) << k.name;
      EXPECT_EQ(spec->type, k.type) << k.name;
    }
  }
  for (const Kernel& k : split_kernels(g, rich_rules())) ++without[k.type];
  // torchvision's MobileNetV3-Large: 21 hard swishes (11 after a 1x1 conv, 9 after a
  // depthwise conv, 1 after the classifier's first FC) and 8 squeeze-excitation gates
  // (conv -> HardSigmoid -> channel Mul).
  EXPECT_EQ(with["conv+hsigmoid_mul"], 11);
  EXPECT_EQ(with["dwconv+hsigmoid_mul"], 9);
  EXPECT_EQ(with["conv+hardsigmoid"], 8);
  EXPECT_EQ(with["hardsigmoid"], 1);
  EXPECT_EQ(with["mul"], 1);
  EXPECT_EQ(with["channel_mul"], 8);
  EXPECT_EQ(without["hardsigmoid"], 29);
  EXPECT_EQ(without["mul"], 21);
  EXPECT_EQ(without["conv+hsigmoid_mul"], 0);
  // The bench's graphs are one training row exactly where the runtime fuses them.
  const bench::KernelSpec conv{"conv+hsigmoid_mul",
                               {{"n", 1},
                                {"h", 8},
                                {"w", 8},
                                {"cin", 16},
                                {"cout", 16},
                                {"k", 1},
                                {"stride", 1},
                                {"dilation", 1},
                                {"pad", 0},
                                {"groups", 1}}};
  EXPECT_TRUE(training_kernel(bench::to_json(conv), 1.0, fused).has_value());
  EXPECT_FALSE(training_kernel(bench::to_json(conv), 1.0, rich_rules()).has_value());
  FusionRules pair = rich_rules();
  pair.fused_pairs.insert("hardsigmoid+mul");
  const bench::KernelSpec alone{"hsigmoid_mul", {{"n", 1}, {"h", 8}, {"w", 8}, {"c", 16}}};
  EXPECT_TRUE(training_kernel(bench::to_json(alone), 1.0, pair).has_value());
  EXPECT_FALSE(training_kernel(bench::to_json(alone), 1.0, rich_rules()).has_value());
}

// ShuffleNet's channel shuffle (Reshape to groups, Transpose of the two channel axes,
// Reshape back) is one kernel, the bench's channel_shuffle, whatever the rules: where a
// runtime holds tensors channels-last the reshapes are copies. Another permutation leaves
// a transpose kernel of its own (a permute) between removed reshapes.
TEST(PredictKernels, ChannelShuffleIsOneKernel) {
  const bench::KernelSpec spec{"channel_shuffle", {{"n", 1}, {"h", 7}, {"w", 7}, {"c", 32}, {"groups", 2}}};
  ir::Graph g = bench::build_kernel_graph(spec);
  std::vector<Kernel> live;
  for (Kernel& k : split_kernels(g, rich_rules()))
    if (!k.removed) live.push_back(std::move(k));
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].type, "channel_shuffle");
  EXPECT_EQ(live[0].family, "datamove");
  EXPECT_EQ(live[0].nodes.size(), 3u);
  // Reads and writes the tensor once (and the two reshapes' shape constants, 72 bytes).
  EXPECT_NEAR(live[0].cost.bytes, 2.0 * 32 * 7 * 7 * 4, 100.0);
  EXPECT_TRUE(training_kernel(bench::to_json(spec), 1.0, rich_rules()).has_value());
  for (ir::Node& n : g.nodes)
    if (n.op == ir::Op::Transpose) n.attrs.set("perm", std::vector<std::int64_t>{0, 1, 2, 4, 3});
  std::map<std::string, int> types;
  for (const Kernel& k : split_kernels(g, rich_rules())) ++types[k.removed ? "removed" : k.type];
  EXPECT_EQ(types["permute"], 1);  // 32 7x7 maps transposed: a batch of matrix transposes
  EXPECT_EQ(types["channel_shuffle"], 0);
}

// GELU and LayerNormalization written op by op (the opset-13 exports of vit_b_16) are
// one kernel each, `gelu` and `layernorm_ops`, of the rows their last axis makes: the
// bench times the same nodes whole, fused or not, and names the model's groups so.
TEST(PredictKernels, OpByOpGeluAndLayerNormAreOneKernelEach) {
  const fs::path vit = kModels / "torchvision/vit_b_16.onnx";
  if (!fs::exists(vit)) GTEST_SKIP() << "needs vit_b_16 (make test fetches it)";
  const ir::Graph g = import::load_model(vit);
  std::map<std::string, int> types;
  for (const Kernel& k : split_kernels(g, rich_rules())) {
    ++types[k.removed ? "removed" : k.type];
    if (k.type != "gelu" && k.type != "layernorm_ops") continue;
    EXPECT_EQ(k.nodes.size(), k.type == "gelu" ? 5u : 9u) << k.name;
    EXPECT_EQ(k.family, k.type == "gelu" ? "gelu" : "layernorm") << k.name;
    const auto spec = bench::kernel_spec_of(g, k.nodes);
    ASSERT_TRUE(spec) << k.name;
    EXPECT_EQ(spec->type, k.type) << k.name;
    EXPECT_EQ(spec->get("n"), 197) << k.name;  // 196 patches and the class token
    EXPECT_EQ(spec->get("c"), k.type == "gelu" ? 3072 : 768) << k.name;
    EXPECT_EQ(k.features[8], static_cast<float>(spec->get("c"))) << "cin is the row width: " << k.name;
  }
  // ViT-B/16: 12 encoder blocks of two LayerNorms and one MLP GELU, and the final LayerNorm.
  EXPECT_EQ(types["gelu"], 12);
  EXPECT_EQ(types["layernorm_ops"], 25);
  EXPECT_EQ(types["erf"], 0);
  EXPECT_EQ(types["reducemean"], 0);
  EXPECT_EQ(types["pow"], 0);
  EXPECT_EQ(types["sqrt"], 0);
  for (const char* type : {"gelu", "layernorm_ops"}) {
    const bench::KernelSpec spec{type, {{"n", 50}, {"c", 768}}};
    EXPECT_TRUE(training_kernel(bench::to_json(spec), 1.0, rich_rules()).has_value()) << type;
  }
}

// A Mul by one value per channel is a channel gate in either layout; a Mul of equal
// shapes, by a scalar, or over a single pixel is not. The bench's channel_mul graph
// trains the gate family.
TEST(PredictKernels, ChannelGateIsItsOwnFamily) {
  auto family_of_mul = [](ir::Layout layout, std::vector<std::int64_t> x, std::vector<std::int64_t> g) {
    ir::Graph graph;
    graph.meta.layout = layout;
    auto tensor = [&](const char* name, const std::vector<std::int64_t>& dims, ir::TensorKind kind) {
      ir::Tensor t;
      t.name = name;
      t.kind = kind;
      t.dtype = ir::DType::kFloat32;
      t.shape = ir::Shape::of(dims);
      return graph.add_tensor(std::move(t));
    };
    const int a = tensor("x", x, ir::TensorKind::kInput), b = tensor("g", g, ir::TensorKind::kInput),
              y = tensor("y", x, ir::TensorKind::kOutput);
    graph.inputs = {a, b};
    graph.outputs = {y};
    ir::Node mul;
    mul.name = "scale";
    mul.op = ir::Op::Mul;
    mul.source_op = "Mul";
    mul.inputs = {a, b};
    mul.outputs = {y};
    graph.nodes.push_back(std::move(mul));
    graph.finalize("gate.onnx");
    const std::vector<Kernel> kernels = split_kernels(graph, rich_rules());
    return kernels.size() == 1 ? kernels[0].type + "/" + kernels[0].family : std::string("?");
  };
  EXPECT_EQ(family_of_mul(ir::Layout::kNCHW, {1, 32, 14, 14}, {1, 32, 1, 1}), "channel_mul/gate");
  EXPECT_EQ(family_of_mul(ir::Layout::kNHWC, {1, 14, 14, 32}, {1, 1, 1, 32}), "channel_mul/gate");
  EXPECT_EQ(family_of_mul(ir::Layout::kNCHW, {1, 32, 14, 14}, {1, 32, 14, 14}), "mul/eltwise");
  EXPECT_EQ(family_of_mul(ir::Layout::kNCHW, {1, 32, 14, 14}, {1, 1, 1, 1}), "mul/eltwise");
  EXPECT_EQ(family_of_mul(ir::Layout::kNCHW, {1, 32, 1, 1}, {1, 32, 1, 1}), "mul/eltwise");
  const bench::KernelSpec spec{"channel_mul", {{"n", 1}, {"h", 8}, {"w", 8}, {"c", 16}}};
  const auto row = training_kernel(bench::to_json(spec), 1.0, rich_rules());
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->kernel.family, "gate");
}

// An Einsum written as attention is a kernel of its own family, its form (Q K^T or A V) in
// the window feature; the profile draws a kernel type only for a runtime that runs it: XNNPACK
// runs every default kernel type (Einsum through its batched matmul), and a runtime that
// refused Einsum would be profiled without it.
TEST(PredictKernels, EinsumIsItsOwnFamilyAndProfiledWhereItRuns) {
  for (const std::int64_t form : {1, 2}) {
    const bench::KernelSpec spec{"einsum", {{"b", 8}, {"m", 49}, {"k", 32}, {"n", 49}, {"form", form}}};
    const std::vector<Kernel> kernels = split_kernels(bench::build_kernel_graph(spec), rich_rules());
    ASSERT_EQ(kernels.size(), 1u);
    EXPECT_EQ(kernels[0].family, "einsum");
    EXPECT_EQ(kernels[0].features[10], form == 1 ? 1.0f : 0.0f) << "the form, in the kernel feature";
    EXPECT_EQ(kernels[0].cost.flops, 2.0 * 8 * 49 * 32 * 49);
  }
  const std::vector<std::string> all = single_kernel_types(rich_rules());
  auto xnnpack = runtime::make_runtime("xnnpack");
  const std::vector<std::string> runnable = single_kernel_types(rich_rules(), [&](const ir::Graph& g) {
    for (int i = 0; i < static_cast<int>(g.nodes.size()); ++i)
      if (!xnnpack->supports(g, i).ok) return false;
    return true;
  });
  EXPECT_NE(std::find(all.begin(), all.end(), "einsum"), all.end());
  EXPECT_EQ(runnable, all);
  const std::vector<std::string> without_einsum = single_kernel_types(rich_rules(), [&](const ir::Graph& g) {
    return std::none_of(g.nodes.begin(), g.nodes.end(), [](const ir::Node& n) { return n.op == ir::Op::Einsum; });
  });
  EXPECT_EQ(std::find(without_einsum.begin(), without_einsum.end(), "einsum"), without_einsum.end());
  EXPECT_EQ(without_einsum.size() + 1, all.size());
}

// Swin-T's transposes by the movement they make: its patch embedding's NCHW -> NHWC is a
// matrix transpose (a `transpose`); its window partitions ([1, 8, 7, 8, 7, 96] by
// (0, 1, 3, 2, 4, 5)), head splits and their reverses are `permute` kernels, but for the
// last stage's, which move nothing (one window) and are copies. Each one's
// bench spec (kernel_spec_of) rebuilds a graph whose kernel has the model kernel's
// features, so the profile's samples and the model's kernels are described alike.
TEST(PredictKernels, TransposesAreTheMovementTheyMake) {
  const fs::path swin = kModels / "torchvision/swin_t.onnx";
  if (!fs::exists(swin)) GTEST_SKIP() << "needs `make models`";
  const ir::Graph g = import::load_model(swin);
  int permutes = 0, window_partitions = 0, matrix = 0;
  for (const Kernel& k : split_kernels(g, rich_rules())) {
    const ir::Node& node = g.nodes[static_cast<std::size_t>(k.nodes.front())];
    if (k.removed || node.op != ir::Op::Transpose) continue;
    SCOPED_TRACE(k.name);
    const auto in = g.tensors[static_cast<std::size_t>(node.inputs[0])].shape.extents();
    const bool partition = node.attrs.get_ints("perm") == std::vector<std::int64_t>{0, 1, 3, 2, 4, 5};
    if (k.family != "permute") {
      EXPECT_EQ(k.family, "datamove");
      matrix += in == std::vector<std::int64_t>{1, 96, 56, 56} ? 1 : 0;
      // The last stage's 7x7 map is one window: its partitions move nothing.
      if (partition) EXPECT_EQ(in.back(), 768);
      continue;
    }
    ++permutes;
    if (partition) {
      ++window_partitions;
      EXPECT_EQ(k.features[10], 4.0f) << "reduced rank";
      EXPECT_EQ(k.features[11], 1.0f) << "keeps the innermost axis";
    }
    const auto spec = bench::kernel_spec_of(g, k.nodes);
    ASSERT_TRUE(spec.has_value());
    EXPECT_EQ(spec->type, "permute");
    const auto rebuilt = split_kernels(bench::build_kernel_graph(*spec), rich_rules());
    ASSERT_EQ(rebuilt.size(), 1u);
    EXPECT_EQ(rebuilt[0].family, "permute");
    EXPECT_EQ(rebuilt[0].features, k.features);
  }
  EXPECT_EQ(matrix, 1);
  EXPECT_EQ(window_partitions, 20);
  EXPECT_GE(permutes, 20 + 12);
}

// Folds: a runtime that fuses pad+conv runs the zero spatial Pad inside the conv, and
// one that fuses conv+transpose writes the conv's output channels-last as it leaves the
// conv. Either way the folded node is a removed kernel, the conv keeps its own type, and
// without the rule the node is a kernel of its own.
TEST(PredictKernels, PadAndChannelsLastTransposeFoldIntoTheConv) {
  const std::map<std::string, std::int64_t> params{{"n", 1}, {"h", 16},     {"w", 16},       {"cin", 8}, {"cout", 8},
                                                   {"k", 3}, {"stride", 1}, {"dilation", 1}, {"pad", 1}, {"groups", 1}};
  for (const auto& [type, rule, folded_op] : {std::tuple{"pad+conv", "pad+conv", ir::Op::Pad},
                                              std::tuple{"conv+transpose", "conv+transpose", ir::Op::Transpose}}) {
    SCOPED_TRACE(type);
    const ir::Graph g = bench::build_kernel_graph({type, params});
    ASSERT_EQ(g.nodes.size(), 2u);
    FusionRules rules = rich_rules();
    rules.fused_pairs.insert(rule);
    const auto fused = split_kernels(g, rules);
    ASSERT_EQ(fused.size(), 2u);
    int removed = 0;
    for (const Kernel& k : fused) {
      const bool folded = g.nodes[static_cast<std::size_t>(k.nodes[0])].op == folded_op;
      EXPECT_EQ(k.removed, folded) << k.name;
      if (!folded) EXPECT_EQ(k.type, "conv");
      removed += k.removed ? 1 : 0;
    }
    EXPECT_EQ(removed, 1);
    for (const Kernel& k : split_kernels(g, rich_rules())) EXPECT_FALSE(k.removed) << k.name;
  }
  // A pad before a depthwise conv folds under its own rule only: this XNNPACK engine
  // folds pad+conv and runs the pad before a depthwise conv.
  const ir::Graph dw = bench::build_kernel_graph(
      {"pad+dwconv", {{"n", 1}, {"h", 16}, {"w", 16}, {"c", 8}, {"k", 3}, {"stride", 1}, {"dilation", 1}, {"pad", 1}}});
  ASSERT_EQ(dw.nodes.size(), 2u);
  FusionRules conv_only = rich_rules();
  conv_only.fused_pairs.insert("pad+conv");
  conv_only.fused_pairs.erase("pad+dwconv");
  for (const Kernel& k : split_kernels(dw, conv_only)) EXPECT_FALSE(k.removed) << k.name;
  FusionRules both = conv_only;
  both.fused_pairs.insert("pad+dwconv");
  const auto dw_kernels = split_kernels(dw, both);
  ASSERT_EQ(dw_kernels.size(), 2u);
  for (const Kernel& k : dw_kernels) {
    const bool pad = dw.nodes[static_cast<std::size_t>(k.nodes[0])].op == ir::Op::Pad;
    EXPECT_EQ(k.removed, pad) << k.name;
    if (!pad) EXPECT_EQ(k.type, "dwconv");
  }
  // A transpose of anything else, or to another order, is not folded.
  const ir::Graph t = bench::build_kernel_graph({"transpose", {{"n", 1}, {"h", 8}, {"w", 8}, {"c", 8}}});
  FusionRules rules = rich_rules();
  rules.fused_pairs.insert("conv+transpose");
  for (const Kernel& k : split_kernels(t, rules)) EXPECT_FALSE(k.removed) << k.name;
}

// A MatMul over a rank-4 tensor (ConvNeXt's pixel MLP: [1, 56, 56, 96] x [96, 384]) is
// described as the 2-D FC the bench times ([3136, 96] x [96, 384]): channels from the
// last axis, no image extent. Read as NCHW it had cin 56 and a 56x96 image. The same for
// a softmax's rows.
TEST(PredictKernels, LinearKernelsAreDescribedWhateverTheirRank) {
  const std::map<std::string, std::int64_t> params{{"n", 3136}, {"cin", 96}, {"cout", 384}};
  const ir::Graph fc = bench::build_kernel_graph({"fc", params});
  ir::Graph pixels = bench::build_kernel_graph({"fc", params});
  ASSERT_EQ(pixels.nodes.size(), 1u);
  ir::Node& gemm = pixels.nodes[0];
  gemm.op = ir::Op::MatMul;
  gemm.source_op = "MatMul";
  gemm.attrs = {};
  gemm.inputs.resize(2);
  pixels.tensors[static_cast<std::size_t>(gemm.inputs[0])].shape = ir::Shape::of({1, 56, 56, 96});
  pixels.tensors[static_cast<std::size_t>(gemm.inputs[1])].shape = ir::Shape::of({96, 384});
  pixels.tensors[static_cast<std::size_t>(gemm.outputs[0])].shape = ir::Shape::of({1, 56, 56, 384});
  pixels.finalize("pixel-mlp");
  const auto a = split_kernels(fc, default_fusion_rules());
  const auto b = split_kernels(pixels, default_fusion_rules());
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].type, "fc");
  for (int i = 0; i < kFeatureCount; ++i) {
    const std::string name = kFeatureNames[static_cast<std::size_t>(i)];
    // The Gemm has a bias, the MatMul none.
    if (name == "log2_bytes" || name == "log2_params" || name == "log2_intensity" || name == "log2_flops" ||
        name == "log2_weight_stream_intensity")
      continue;
    EXPECT_EQ(a[0].features[static_cast<std::size_t>(i)], b[0].features[static_cast<std::size_t>(i)]) << name;
  }
  // Swin's window attention: a softmax over [64, 3, 49, 49] is 9408 rows of 49.
  const ir::Graph rows = bench::build_kernel_graph({"softmax", {{"n", 64 * 3 * 49}, {"c", 49}}});
  ir::Graph windows = bench::build_kernel_graph({"softmax", {{"n", 64 * 3 * 49}, {"c", 49}}});
  for (ir::Tensor& t : windows.tensors)
    if (!t.is_constant()) t.shape = ir::Shape::of({64, 3, 49, 49});
  windows.finalize("window-attention");
  const auto r = split_kernels(rows, default_fusion_rules());
  const auto w = split_kernels(windows, default_fusion_rules());
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(r[0].features, w[0].features);
}

// A squeeze-excitation's convs run over a pooled [1, C, 1, 1] tensor: a 1x1 conv with one
// output position is the one-row FC it computes (family se_conv, described as the bench's
// [1, cin] x [cin, cout]), while a 1x1 conv over an image, a grouped one and a padded
// 3x3 one over one pixel stay convolutions.
TEST(PredictKernels, OnePositionPointwiseConvIsDescribedAsAnFc) {
  auto conv = [](std::int64_t h, std::int64_t k, std::int64_t pad, std::int64_t groups) {
    return bench::build_kernel_graph({"conv",
                                      {{"n", 1},
                                       {"h", h},
                                       {"w", h},
                                       {"cin", 240},
                                       {"cout", 16},
                                       {"k", k},
                                       {"stride", 1},
                                       {"dilation", 1},
                                       {"pad", pad},
                                       {"groups", groups}}});
  };
  const auto se = split_kernels(conv(1, 1, 0, 1), default_fusion_rules());
  const auto fc =
      split_kernels(bench::build_kernel_graph({"fc", {{"n", 1}, {"cin", 240}, {"cout", 16}}}), default_fusion_rules());
  ASSERT_EQ(se.size(), 1u);
  ASSERT_EQ(fc.size(), 1u);
  EXPECT_EQ(se[0].family, "se_conv");
  EXPECT_EQ(fc[0].family, "fc");
  EXPECT_EQ(se[0].type, "conv");
  for (int i = 0; i < kFeatureCount; ++i) {
    const std::string name = kFeatureNames[static_cast<std::size_t>(i)];
    if (name == "log2_bytes" || name == "log2_params" || name == "log2_intensity" || name == "log2_flops") continue;
    EXPECT_EQ(se[0].features[static_cast<std::size_t>(i)], fc[0].features[static_cast<std::size_t>(i)]) << name;
  }
  EXPECT_EQ(split_kernels(conv(2, 1, 0, 1), default_fusion_rules())[0].family, "conv");
  EXPECT_EQ(split_kernels(conv(1, 1, 0, 8), default_fusion_rules())[0].family, "gconv");
  EXPECT_EQ(split_kernels(conv(1, 3, 1, 1), default_fusion_rules())[0].family, "conv");
  // torchvision's mobilenet_v3_large: its eight squeeze-excitations' fc1 and fc2.
  const fs::path path = kModels / "torchvision/mobilenet_v3_large.onnx";
  if (!fs::exists(path)) GTEST_SKIP() << "needs mobilenet_v3_large (make test fetches it)";
  const ir::Graph g = import::load_model(path);
  int se_convs = 0;
  for (const Kernel& k : split_kernels(g, rich_rules())) {
    const bool squeeze = k.name.find("/fc1/") != std::string::npos || k.name.find("/fc2/") != std::string::npos;
    if (squeeze) ++se_convs;
    if (k.type.starts_with("conv")) EXPECT_EQ(k.family, squeeze ? "se_conv" : "conv") << k.name;
  }
  EXPECT_EQ(se_convs, 16);
}

// A depthwise conv's alignment features are its channels' (one per group): 48 channels
// are 16-aligned (log2 16 = 4), 58 only 2-aligned.
TEST(PredictKernels, DepthwiseAlignmentIsThatOfItsChannels) {
  auto align = [](std::int64_t c) {
    const ir::Graph g = bench::build_kernel_graph(
        {"dwconv", {{"n", 1}, {"h", 28}, {"w", 28}, {"c", c}, {"k", 3}, {"stride", 1}, {"dilation", 1}, {"pad", 1}}});
    const auto kernels = split_kernels(g, default_fusion_rules());
    EXPECT_EQ(kernels.size(), 1u);
    std::size_t in = 0, out = 0;
    for (std::size_t i = 0; i < kFeatureNames.size(); ++i) {
      if (std::string(kFeatureNames[i]) == "cin_align") in = i;
      if (std::string(kFeatureNames[i]) == "cout_align") out = i;
    }
    EXPECT_EQ(kernels[0].features[in], kernels[0].features[out]);
    return kernels[0].features[in];
  };
  EXPECT_EQ(align(48), 4.0f);
  EXPECT_EQ(align(58), 1.0f);
  EXPECT_EQ(align(64), 6.0f);
}

// A squeeze-excitation's scaling is described by the scaled map whichever operand comes
// first: torchvision computes scale * x, the timed channel_mul kernel x * scale.
TEST(PredictKernels, BroadcastingMulIsDescribedByItsLargerOperand) {
  const bench::KernelSpec spec{"channel_mul", {{"n", 1}, {"h", 14}, {"w", 12}, {"c", 32}}};
  const ir::Graph x_first = bench::build_kernel_graph(spec);
  ir::Graph scale_first = bench::build_kernel_graph(spec);
  for (ir::Node& n : scale_first.nodes)
    if (n.op == ir::Op::Mul) std::swap(n.inputs[0], n.inputs[1]);
  const auto a = split_kernels(x_first, default_fusion_rules());
  const auto b = split_kernels(scale_first, default_fusion_rules());
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(a[0].features, b[0].features);
  for (std::size_t i = 0; i < kFeatureNames.size(); ++i) {
    if (std::string(kFeatureNames[i]) == "in_h") EXPECT_EQ(b[0].features[i], 14.0f);
    if (std::string(kFeatureNames[i]) == "in_w") EXPECT_EQ(b[0].features[i], 12.0f);
  }
}

// A runtime that sums a residual into its conv (conv+add, as ONNX Runtime's NCHWc conv
// does): ResNet's conv→add→relu (BN folded by the export) is one kernel whose type the bench vocabulary
// names, so it can be timed and trained on; every node still lands in exactly one kernel.
TEST(PredictKernels, ResidualAddJoinsTheConvWhenFused) {
  const fs::path model = kModels / "torchvision/resnet18.onnx";
  if (!fs::exists(model)) GTEST_SKIP() << "needs the resnet18 export";
  const ir::Graph g = import::load_model(model);
  FusionRules rules = rich_rules();
  rules.fused_pairs.insert("conv+add");
  std::map<std::string, int> types;
  std::size_t nodes = 0;
  for (const Kernel& k : split_kernels(g, rules)) {
    ++types[k.type];
    nodes += k.nodes.size();
    if (k.type == "conv+add+relu") {
      const auto spec = bench::kernel_spec_of(g, k.nodes);
      ASSERT_TRUE(spec.has_value()) << k.name;
      EXPECT_EQ(spec->type, k.type);
      EXPECT_TRUE(training_kernel(bench::to_json(*spec), 1.0, rules).has_value());
    }
  }
  EXPECT_EQ(nodes, g.nodes.size());
  EXPECT_EQ(types["conv+add+relu"], 8) << "one per basic block";
  EXPECT_EQ(types["add+relu"], 0);
  // Without the pair, the adds stay kernels of their own.
  std::map<std::string, int> plain;
  for (const Kernel& k : split_kernels(g, rich_rules())) ++plain[k.type];
  EXPECT_EQ(plain["add+relu"], 8);
}

TEST(PredictFusion, DecisionOnGivenTimings) {
  // conv 1.0 ms, relu 0.3 ms: fused saves ~0.3 (ratio ~1), unfused saves ~0.
  EXPECT_TRUE(is_fused({"conv+relu", 1.0, 0.3, 1.02}));
  EXPECT_FALSE(is_fused({"conv+relu", 1.0, 0.3, 1.28}));
  // The threshold is α·min(T(a), T(b)) = 0.15 ms: a saving of 0.16 fuses, 0.14 does not.
  EXPECT_TRUE(is_fused({"conv+relu", 1.0, 0.3, 1.14}));
  EXPECT_FALSE(is_fused({"conv+relu", 1.0, 0.3, 1.16}));
  // Layer counts, when the runtime reports them, decide over the times: conv and relu
  // ran as one layer although the times (a shifted conv) say otherwise, and the other
  // way round.
  EXPECT_TRUE(is_fused({"conv+relu", 1.0, 0.3, 1.28, 1, 1, 1}));
  EXPECT_FALSE(is_fused({"conv+relu", 1.0, 0.3, 1.02, 1, 1, 2}));
  EXPECT_TRUE(is_fused({"conv+relu", 1.0, 0.3, 1.02, 1, 0, 2})) << "a count missing: the time rule";
  const FusionRules r = decide_fusion({{"conv+relu", 1.0, 0.3, 1.02}, {"add+relu", 0.5, 0.4, 0.9}});
  EXPECT_EQ(r.fused_pairs, (std::set<std::string>{"conv+relu"}));
  EXPECT_EQ(r.evidence[0]["decided_by"], "time");
  EXPECT_EQ(r.evidence.size(), 2u);
  EXPECT_TRUE(r.removed_ops.count("reshape"));
  EXPECT_THROW(decide_fusion({{"conv+relu", -1.0, 0.3, 1.0}}), Error);
  EXPECT_THROW(decide_fusion({{"convrelu", 1.0, 0.3, 1.0}}), Error);
  // Round trip through the profile's JSON.
  EXPECT_EQ(fusion_rules_from_json(to_json(r)).fused_pairs, r.fused_pairs);
}

// A runtime that fuses every activation into its anchor except hardswish; one timing of
// the first round is disturbed (a fused pair timed 3x too slow) and the fc probe cannot
// run. The minimum over rounds ignores the disturbance; the fc pair is recorded, not fused.
TEST(PredictFusion, DetectionTakesMinimaOverInterleavedRounds) {
  int calls = 0;
  auto time_ms = [&](const nlohmann::json& spec) -> ProbeTime {
    ++calls;
    const std::string type = spec.at("type");
    if (type.rfind("fc", 0) == 0) throw Error(ErrorKind::kUnsupported, "", type, "not here");
    const auto plus = type.find('+');
    const double anchor = type.rfind("conv", 0) == 0 ? 1.0 : type.rfind("dwconv", 0) == 0 ? 0.8 : 0.5;
    const bool act = type == "relu" || type == "relu6" || type == "hardswish" || type == "mul";
    if (plus == std::string::npos) return {act ? 0.3 : anchor, 0};  // no layer counts: the time rule decides
    const bool fused = type.substr(plus + 1) != "hardswish";
    const double t = fused ? anchor * 1.02 : anchor + 0.3;
    return {type == "conv+relu" && calls < 10 ? 3 * t : t, 0};
  };
  const FusionRules r = detect_fusion(time_ms, kFusionAlpha, 3);
  EXPECT_TRUE(r.fused_pairs.count("conv+relu")) << "the disturbed first timing must not decide";
  EXPECT_TRUE(r.fused_pairs.count("dwconv+relu6"));
  EXPECT_TRUE(r.fused_pairs.count("add+relu"));
  EXPECT_FALSE(r.fused_pairs.count("conv+hardswish"));
  EXPECT_FALSE(r.fused_pairs.count("fc+relu"));
  bool fc_recorded = false;
  for (const auto& e : r.evidence) fc_recorded |= e.value("pair", "") == "fc+relu" && e.contains("error");
  EXPECT_TRUE(fc_recorded);
}

// A profile stored before a probe existed measures only that probe, and its stored
// verdicts stand: a pair it decided keeps its verdict whatever a new measurement says.
TEST(PredictFusion, StoredRulesGainOnlyTheProbesTheyLack) {
  auto time_ms = [](const nlohmann::json& spec) -> ProbeTime {
    const std::string type = spec.at("type");
    return {type.size() > 0 ? 1.0 : 0.0, 1};  // every pair fuses: 1 < 1 + 1 layers
  };
  const FusionRules all = detect_fusion(time_ms, kFusionAlpha, 1);
  ASSERT_TRUE(all.fused_pairs.count("conv+hsigmoid_mul"));
  FusionRules stored = all;
  // An older profile: no evidence for the hard-swish probes, and conv+relu decided unfused.
  nlohmann::json kept = nlohmann::json::array();
  for (const nlohmann::json& e : stored.evidence) {
    const std::string pair = e.value("pair", "");
    if (pair.find("hsigmoid_mul") == std::string::npos && pair != "hardsigmoid+mul") kept.push_back(e);
  }
  stored.evidence = kept;
  for (const char* p : {"conv+hsigmoid_mul", "dwconv+hsigmoid_mul", "hardsigmoid+mul", "conv+relu"})
    stored.fused_pairs.erase(p);
  for (auto& e : stored.evidence)
    if (e.value("pair", "") == "conv+relu") e["fused"] = false;
  const std::vector<FusionProbe> missing = missing_probes(stored);
  std::set<std::string> names;
  for (const FusionProbe& p : missing) names.insert(p.pair);
  EXPECT_EQ(names, (std::set<std::string>{"hardsigmoid+mul", "conv+hsigmoid_mul", "dwconv+hsigmoid_mul"}));
  int calls = 0;
  auto counted = [&](const nlohmann::json& spec) {
    ++calls;
    return time_ms(spec);
  };
  const FusionRules grown = merge_fusion(stored, detect_fusion(counted, kFusionAlpha, 1, &missing));
  EXPECT_LE(calls, 9) << "only the missing probes are timed";
  EXPECT_TRUE(grown.fused_pairs.count("conv+hsigmoid_mul"));
  EXPECT_TRUE(grown.fused_pairs.count("hardsigmoid+mul"));
  EXPECT_FALSE(grown.fused_pairs.count("conv+relu")) << "a stored verdict stands";
  EXPECT_TRUE(missing_probes(grown).empty());
  EXPECT_EQ(grown.evidence.size(), all.evidence.size());
}

// Kernels of a real model labelled by law_ms: every regressor must recover the law.
std::vector<TrainingKernel> law_data(const std::vector<fs::path>& models, const FusionRules& rules) {
  std::vector<TrainingKernel> data;
  for (const auto& path : models) {
    const ir::Graph g = import::load_model(path);
    for (Kernel& k : split_kernels(g, rules)) {
      if (k.removed || !k.complete) continue;
      const double ms = law_ms(k.cost);
      data.push_back({std::move(k), ms});
    }
  }
  return data;
}

TEST(PredictRegressor, RooflineRecoversItsCeilings) {
  std::vector<Sample> samples;
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(3, 9);
  for (int i = 0; i < 400; ++i) {
    Sample s;
    s.cost.flops = std::pow(10.0, u(rng));
    s.cost.bytes = std::pow(10.0, u(rng) - 1);
    s.latency_ms = std::max(s.cost.flops / 2e7, s.cost.bytes / 1e7);
    samples.push_back(s);
  }
  const Roofline r = Roofline::fit(samples);
  EXPECT_NEAR(r.flops_per_ms / 2e7, 1.0, 0.01);
  EXPECT_NEAR(r.bytes_per_ms / 1e7, 1.0, 0.01);
}

TEST(PredictRegressor, BoostingAndForestRecoverAKnownLaw) {
  const fs::path model = kModels / "torchvision/resnet50.onnx";
  if (!fs::exists(model)) GTEST_SKIP() << "needs the resnet50 export";
  const auto data = law_data({model}, rich_rules());
  std::vector<Sample> conv;
  for (const auto& t : data)
    if (t.kernel.family == "conv") conv.push_back({t.kernel.features, t.kernel.cost, t.latency_ms});
  ASSERT_GT(conv.size(), 40u);  // resnet50: 53 convs
  const CvScore gbm = cross_validate(conv, ModelKind::kGbm, 5, 1);
  const CvScore forest = cross_validate(conv, ModelKind::kForest, 5, 1);
  const CvScore roof = cross_validate(conv, ModelKind::kRoofline, 5, 1);
  // The law is a function of the features, so held-out error is small.
  EXPECT_LT(gbm.rmse_log, 0.25) << gbm.rmspe;
  EXPECT_LT(forest.rmse_log, 0.35) << forest.rmspe;
  EXPECT_LT(roof.rmse_log, 0.05);  // the law *is* a roofline
  EXPECT_EQ(gbm.n, static_cast<int>(conv.size()));
}

// The selection score weights each kernel's log error by its measured time: a 2x miss on a
// 10 µs kernel barely moves it, the same miss on a 10 ms kernel dominates it.
TEST(PredictRegressor, TimeWeightedScoreFollowsTheHeavyKernels) {
  const std::vector<double> measured{0.01, 10.0};
  const CvScore small_miss = score(std::vector<double>{0.02, 10.0}, measured);
  const CvScore heavy_miss = score(std::vector<double>{0.01, 20.0}, measured);
  EXPECT_DOUBLE_EQ(small_miss.rmse_log, heavy_miss.rmse_log);  // unweighted: the two are alike
  EXPECT_NEAR(small_miss.rmse_log_timed, std::log(2.0) * std::sqrt(0.01 / 10.01), 1e-12);
  EXPECT_NEAR(heavy_miss.rmse_log_timed, std::log(2.0) * std::sqrt(10.0 / 10.01), 1e-12);
}

TEST(PredictRegressor, TreesOverTheRooflineExtrapolateBeyondTheData) {
  // Kernels of 1e6..1e8 FLOPs at 2e7 FLOP/ms plus a fixed cost; asked for one 100x larger
  // than any, trees on raw log latency return their largest leaf, trees on the residual
  // over the roofline follow the physics.
  const auto sample = [](double flops) {
    Sample s;
    s.cost.flops = flops;
    s.cost.bytes = flops / 50;
    s.latency_ms = flops / 2e7 + 0.002;
    s.x[0] = static_cast<float>(std::log2(1 + s.cost.flops));
    s.x[1] = static_cast<float>(std::log2(1 + s.cost.bytes));
    return s;
  };
  std::vector<Sample> samples;
  for (int i = 0; i <= 200; ++i) samples.push_back(sample(std::pow(10.0, 6 + 2.0 * i / 200)));
  const Sample far = sample(1e10);
  const Roofline roof = Roofline::fit(samples);
  for (ModelKind kind : {ModelKind::kGbm, ModelKind::kForest}) {
    SCOPED_TRACE(model_kind_name(kind));
    XgbModel raw, residual;
    raw.fit(samples, kind, 1);
    residual.fit(samples, kind, 1, &roof);
    const std::vector<Features> rows{far.x};
    EXPECT_LT(raw.predict_ms(rows)[0], 0.05 * far.latency_ms);  // capped near the largest label
    EXPECT_NEAR(residual.predict_ms(rows)[0] / far.latency_ms, 1.0, 0.1);
  }
}

// Concats of 2-4 inputs and a few of 8-40, each input costing a dispatch of 2 us beside the
// bytes (but at one output position, which runs without dispatches): the roofline fits the
// cost per input, so a 33-input concat of little data, whose input count only a few samples
// reach, lands near its time with trees over the residual.
TEST(PredictRegressor, RooflineChargesACostPerInputWhereItsSamplesDo) {
  const auto sample = [](double bytes, double inputs) {
    Sample s;
    s.cost.bytes = bytes;
    s.cost.inputs = inputs;
    s.cost.positions = 49;
    s.latency_ms = 0.001 + 0.002 * (inputs - 1) + bytes / 1e7;
    s.x[1] = static_cast<float>(std::log2(1 + s.cost.bytes));
    s.x[15] = static_cast<float>(inputs);
    s.x[19] = static_cast<float>(std::log2(1 + s.cost.positions));
    return s;
  };
  std::vector<Sample> samples;
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(4, 8);
  for (int i = 0; i < 200; ++i) samples.push_back(sample(std::pow(10.0, u(rng)), 2 + i % 3));
  for (int i = 0; i < 6; ++i) samples.push_back(sample(std::pow(10.0, u(rng)), 8 + 6 * i));
  // A kernel of one output position runs its copies without a dispatch.
  for (int i = 0; i < 6; ++i) {
    Sample one = sample(1e4, 8 + 6 * i);
    one.cost.positions = 1;
    one.x[19] = 1;
    one.latency_ms = 0.001 + one.cost.bytes / 1e7;
    samples.push_back(one);
  }
  const Roofline roof = Roofline::fit(samples);
  EXPECT_NEAR(roof.overhead_per_input_ms / 0.002, 1.0, 0.3);
  const Sample many = sample(2e5, 33);
  EXPECT_NEAR(roof.predict_ms(many.cost) / many.latency_ms, 1.0, 0.2);
  XgbModel residual;
  residual.fit(samples, ModelKind::kGbm, 1, &roof);
  EXPECT_NEAR(residual.predict_ms(std::vector<Features>{many.x})[0] / many.latency_ms, 1.0, 0.2);
  // Without samples of 3 or more inputs there is nothing to fit it on.
  std::vector<Sample> pairs;
  for (int i = 0; i < 100; ++i) pairs.push_back(sample(std::pow(10.0, u(rng)), 2));
  EXPECT_EQ(Roofline::fit(pairs).overhead_per_input_ms, 0.0);
  EXPECT_EQ(Roofline::from_json(roof.to_json()).overhead_per_input_ms, roof.overhead_per_input_ms);
}

TEST(PredictRegressor, RooflineStreamsKernelsBeyondTheCacheAtTheDramCeiling) {
  // In-cache kernels at 1e7 bytes/ms, kernels over 32 MB at 2e6: one ceiling cannot fit
  // both; the fitted DRAM ceiling does.
  std::vector<Sample> samples;
  for (int i = 0; i < 60; ++i) {
    Sample s;
    s.cost.bytes = std::pow(10.0, 5 + 4.0 * i / 60);
    s.cost.flops = s.cost.bytes;
    s.latency_ms = s.cost.bytes / (s.cost.bytes > 32e6 ? 2e6 : 1e7);
    samples.push_back(s);
  }
  const Roofline one = Roofline::fit(samples);
  const Roofline two = Roofline::fit(samples, 32e6);
  KernelCost big;
  big.bytes = 4e8;
  big.flops = 4e8;
  EXPECT_NEAR(two.predict_ms(big) / (4e8 / 2e6), 1.0, 0.1);
  EXPECT_LT(one.predict_ms(big) / (4e8 / 2e6), 0.75);
  EXPECT_NEAR(Roofline::from_json(two.to_json()).predict_ms(big), two.predict_ms(big), 1e-9);
}

TEST(PredictRegressor, RooflineFindsWhereKernelsStartStreamingBelowTheCacheSize) {
  // A 32 MB cache whose kernels stream from DRAM from 24 MB on (the cache is shared and
  // does not keep a working set of most of its size): the knee lands at 3/4 of it, so a
  // 28 MB kernel gets the DRAM ceiling, not the in-cache one.
  std::vector<Sample> samples;
  for (int i = 0; i < 80; ++i) {
    Sample s;
    s.cost.bytes = std::pow(10.0, 5 + 4.0 * i / 80);
    s.cost.flops = s.cost.bytes / 100;  // memory-bound throughout
    s.latency_ms = s.cost.bytes / (s.cost.bytes > 24e6 ? 2e6 : 1e7);
    samples.push_back(s);
  }
  EXPECT_EQ(Roofline::fit(samples, 32e6).llc_bytes, 32e6) << "the cache's size unless asked to search below";
  const Roofline r = Roofline::fit(samples, 32e6, 0.5);
  EXPECT_NEAR(r.llc_bytes, 24e6, 1.0);
  KernelCost mid;
  mid.bytes = 28e6;
  mid.flops = 28e4;
  EXPECT_NEAR(r.predict_ms(mid) / (28e6 / 2e6), 1.0, 0.1);
  mid.bytes = 16e6;
  mid.flops = 16e4;
  EXPECT_NEAR(r.predict_ms(mid) / (16e6 / 1e7), 1.0, 0.1);
}

TEST(PredictBundle, KernelsOutsideTheTrainedRangeAreFlagged) {
  // A bundle trained on convs of 16-64 channels at 14-28 pixels; a 1024-channel conv is an
  // extrapolation along its channel features, a conv inside the range is not.
  auto conv = same_conv3x3;
  const FusionRules rules = default_fusion_rules();
  std::vector<TrainingKernel> data;
  for (std::int64_t c : {16, 24, 32, 48, 64})
    for (std::int64_t hw : {14, 20, 28}) {
      for (Kernel& k : split_kernels(bench::build_kernel_graph(conv(c, hw)), rules))
        if (!k.removed) data.push_back({k, law_ms(k.cost)});
    }
  const Bundle b = train(data, rules);
  const Prediction inside = infercast::predict::predict(b, bench::build_kernel_graph(conv(32, 20)));
  const Prediction outside = infercast::predict::predict(b, bench::build_kernel_graph(conv(1024, 20)));
  EXPECT_EQ(inside.extrapolated, 0);
  ASSERT_EQ(outside.extrapolated, 1);
  for (std::size_t i = 0; i < outside.kernels.size(); ++i) {
    if (outside.kernels[i].removed) continue;
    const auto& names = outside.per_kernel[i].outside;
    EXPECT_NE(std::find(names.begin(), names.end(), std::string("cin")), names.end());
    EXPECT_EQ(std::find(names.begin(), names.end(), std::string("in_h")), names.end());
  }
}

TEST(PredictBundle, RoundTripPredictsTheSameAndRejectsForeignBundles) {
  const fs::path model = kModels / "torchvision/resnet18.onnx";
  if (!fs::exists(model)) GTEST_SKIP() << "needs the resnet18 export";
  Bundle b = train(law_data({model, kModels / "torchvision/mobilenet_v2.onnx"}, rich_rules()), rich_rules());
  b.runtime = "ort";
  b.runtime_version = "test";
  const fs::path path = infercast::testing::temp_path("infercast_predict_test.bundle");
  save_bundle(b, path);
  const Bundle loaded = load_bundle(path, "ort");
  EXPECT_EQ(loaded.families.size(), b.families.size());
  EXPECT_EQ(loaded.rules.fused_pairs, b.rules.fused_pairs);
  const ir::Graph g = import::load_model(model);
  const Prediction p1 = predict::predict(b, g), p2 = predict::predict(loaded, g);
  EXPECT_NEAR(p1.ms, p2.ms, 1e-9 * p1.ms);
  // The prediction is the sum of its kernels, inside its band, and close to the law.
  double sum = 0, law = 0;
  for (std::size_t i = 0; i < p1.kernels.size(); ++i) {
    sum += p1.per_kernel[i].ms;
    if (!p1.kernels[i].removed) law += law_ms(p1.kernels[i].cost);
    EXPECT_LE(p1.per_kernel[i].lo_ms, p1.per_kernel[i].ms);
    EXPECT_GE(p1.per_kernel[i].hi_ms, p1.per_kernel[i].ms);
  }
  EXPECT_NEAR(sum, p1.ms, 1e-9 * sum);
  EXPECT_NEAR(p1.ms / law, 1.0, 0.15);

  // Another runtime: a clear error naming both.
  try {
    load_bundle(path, "xnnpack");
    FAIL() << "a bundle for ort loaded as xnnpack";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("trained for runtime 'ort', not 'xnnpack'"), std::string::npos) << e.what();
  }
  // The bundle with its manifest's schema_version rewritten, the manifest's length in the
  // header (bytes 20-27, little-endian) changed with it.
  const std::string original = infercast::testing::read_file(path);
  const std::string field = "\"schema_version\":" + std::to_string(kBundleSchemaVersion);
  const auto at = original.find(field);
  ASSERT_NE(at, std::string::npos);
  const auto with_version = [&](const std::string& version) {
    std::string bytes = original;
    const std::size_t digits = field.size() - 17;
    bytes.replace(at + 17, digits, version);
    std::uint64_t size = 0;
    for (int i = 7; i >= 0; --i) size = size << 8 | static_cast<unsigned char>(bytes[20 + i]);
    size = size + version.size() - digits;
    for (int i = 0; i < 8; ++i) bytes[20 + i] = static_cast<char>(size >> (8 * i) & 0xff);
    return bytes;
  };
  // A newer schema (the version with a 9 appended: 99, 109, ...).
  const fs::path newer = infercast::testing::temp_path("infercast_predict_test_newer.bundle");
  infercast::testing::write_file(newer, with_version(std::to_string(kBundleSchemaVersion) + "9"));
  try {
    load_bundle(newer);
    FAIL() << "a bundle of a newer schema loaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("newer"), std::string::npos) << e.what();
  }
  // An older schema: its missing fields would read as 0, so it is refused, not guessed.
  infercast::testing::write_file(newer, with_version("1"));
  try {
    load_bundle(newer);
    FAIL() << "a bundle of schema 1 loaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("older"), std::string::npos) << e.what();
  }
  // Garbage and truncation are bad files, never a crash.
  infercast::testing::write_file(newer, "not a bundle at all");
  EXPECT_THROW(load_bundle(newer), Error);
  infercast::testing::write_file(newer, infercast::testing::read_file(path).substr(0, 200));
  EXPECT_THROW(load_bundle(newer), Error);
  const std::string whole = infercast::testing::read_file(path);
  infercast::testing::write_file(newer, whole.substr(0, whole.size() - 100));
  EXPECT_THROW(load_bundle(newer), Error);
}

// The cold-cache excess is fitted per family from flushed times, scaled by the model's
// working set between the L2 and the last-level cache, and survives the bundle file;
// per-run and per-kernel overheads are added once per model and once per kernel.
TEST(PredictBundle, ColdExcessAndOverheadsAreFittedAndApplied) {
  const fs::path model = kModels / "torchvision/resnet18.onnx";
  if (!fs::exists(model)) GTEST_SKIP() << "needs the resnet18 export";
  std::vector<TrainingKernel> data = law_data({model, kModels / "torchvision/mobilenet_v2.onnx"}, rich_rules());
  auto weight = [](const KernelCost& c) { return 4.0 * c.params; };
  for (TrainingKernel& t : data)
    t.cold_ms =
        t.latency_ms + 3e-8 * weight(t.kernel.cost) + 1e-8 * std::max(0.0, t.kernel.cost.bytes - weight(t.kernel.cost));
  TrainOptions options;
  options.llc_bytes = std::size_t{1} << 30;  // every kernel takes part in the fit
  Bundle b = train(data, rich_rules(), options);
  ASSERT_EQ(b.families.count("conv"), 1u);
  EXPECT_NEAR(b.families.at("conv").ms_per_weight_byte / 3e-8, 1.0, 1e-6);
  EXPECT_NEAR(b.families.at("conv").ms_per_io_byte / 1e-8, 1.0, 1e-6);

  const ir::Graph g = import::load_model(model);
  const Prediction warm = predict::predict(b, g);  // no cache sizes: no excess
  EXPECT_EQ(warm.cold_fraction, 0.0);
  b.l2_bytes = 512 * 1024;
  b.llc_bytes = 16 * 1024 * 1024;
  b.run_overhead_ms = 0.25;
  b.run_ms_per_io_byte = 1e-6;
  const fs::path path = infercast::testing::temp_path("infercast_predict_cold_test.bundle");
  save_bundle(b, path);
  const Bundle loaded = load_bundle(path);
  EXPECT_EQ(loaded.l2_bytes, b.l2_bytes);
  EXPECT_EQ(loaded.llc_bytes, b.llc_bytes);
  EXPECT_EQ(loaded.run_overhead_ms, 0.25);
  EXPECT_EQ(loaded.run_ms_per_io_byte, 1e-6);
  EXPECT_EQ(loaded.families.at("conv").ms_per_weight_byte, b.families.at("conv").ms_per_weight_byte);
  const Prediction p = predict::predict(loaded, g);
  // resnet18's 47 MB of weights alone are more than twice the last-level cache: fully cold.
  EXPECT_GT(p.moved_bytes, 4.0e7);
  EXPECT_EQ(p.cold_fraction, 1.0);
  // An input from beyond the last-level cache pays the larger of its family's flushed rate
  // and the fc family's flushed rate per weight byte (a stream read from memory).
  const double memory_rate = loaded.families.at("fc").ms_per_weight_byte;
  EXPECT_NEAR(memory_rate / 3e-8, 1.0, 1e-6);
  struct Paid {
    double excess = 0, stale_ms = 0;
    int stale_kernels = 0, memory_kernels = 0;
  };
  auto check = [&](const Bundle& bundle, const Prediction& pred) {
    Paid paid;
    const double llc = static_cast<double>(bundle.llc_bytes);
    const StaleInputs stale = stale_inputs(g, pred.kernels, static_cast<double>(bundle.l2_bytes), llc);
    for (std::size_t i = 0; i < pred.kernels.size(); ++i) {
      const Kernel& k = pred.kernels[i];
      if (k.removed) continue;
      const FamilyModel& f = bundle.families.at(k.family);
      // Kernels moving more than the cache were measured cold already: no excess. Inside
      // the model the weights are cold, and the activations only where they left the L2
      // since they were written (a block's shortcut): the others were just written.
      const double e = k.cost.bytes > llc ? 0.0 : f.ms_per_weight_byte * weight(k.cost);
      const double gone = stale.beyond_llc[i];
      const double s = f.ms_per_io_byte * (stale.beyond_l2[i] - gone) + std::max(memory_rate, f.ms_per_io_byte) * gone;
      paid.stale_kernels += stale.beyond_l2[i] > 0;
      paid.memory_kernels += gone > 0;
      paid.stale_ms += s;
      EXPECT_NEAR(pred.per_kernel[i].ms, warm.per_kernel[i].ms + e + s, 1e-9 + 1e-9 * pred.per_kernel[i].ms) << k.name;
      EXPECT_NEAR(pred.per_kernel[i].cold_excess_ms, e, 1e-12) << k.name;
      paid.excess += e;
    }
    return paid;
  };
  const Paid paid = check(loaded, p);
  const double excess = paid.excess, stale_ms = paid.stale_ms;
  EXPECT_GT(paid.stale_kernels, 0);
  EXPECT_EQ(paid.memory_kernels, 0);  // a block moves a few MB, far from 16 MiB
  // With a 2 MiB last level, the first stages' shortcuts come from memory.
  Bundle tight = load_bundle(path);
  tight.l2_bytes = 256 * 1024;
  tight.llc_bytes = 2 * 1024 * 1024;
  EXPECT_GT(check(tight, predict::predict(tight, g)).memory_kernels, 0);
  const nlohmann::json doc = prediction_json(loaded, g, p);
  EXPECT_EQ(doc.at("cold_fraction").get<double>(), 1.0);
  EXPECT_EQ(doc.at("moved_bytes").get<double>(), p.moved_bytes);
  double listed = 0;
  for (const nlohmann::json& k : doc.at("kernels")) listed += k.at("cold_excess_ms").get<double>();
  EXPECT_NEAR(listed, excess, 1e-9);
  // What a run moves, not its weights, decides: resnet18's 47 MB of weights fit a
  // 50 MiB cache, but a run reads and writes about 75 MiB, so its weights are partly
  // evicted between two runs of a kernel.
  Bundle mid = load_bundle(path);
  mid.llc_bytes = std::size_t{50} << 20;
  const Prediction partly = predict::predict(mid, g);
  EXPECT_GT(partly.moved_bytes, 1.4 * static_cast<double>(mid.llc_bytes));
  EXPECT_GT(partly.cold_fraction, 0.3);
  EXPECT_LT(partly.cold_fraction, 0.9);
  // resnet18 reads a 1x3x224x224 float image and writes 1000 logits.
  EXPECT_EQ(graph_io_bytes(g), 4.0 * (3 * 224 * 224 + 1000));
  EXPECT_NEAR(p.ms, warm.ms + excess + stale_ms + 0.25 + 1e-6 * graph_io_bytes(g), 1e-9 * p.ms);

  // A negative rate is a corrupt bundle.
  std::string bytes = infercast::testing::read_file(path);
  const auto at = bytes.find("\"run_overhead_ms\":0.25");
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 22, "\"run_overhead_ms\":-.25");
  infercast::testing::write_file(path, bytes);
  EXPECT_THROW(load_bundle(path), Error);
}

// A flushed run's excess that no weight byte explains (the first weight lines and the
// operator's state fetched one latency at a time) is fitted for the GEMM families as the
// median left after the rates on their small-weight kernels, survives the bundle file, and
// is paid by their kernels with weights in proportion to how much of the last-level cache
// the model's weights fill: all of it where they outgrow the cache, none where they fit
// many times over.
TEST(PredictBundle, ColdStartOfGemmKernelsIsFittedAndScaledByTheModelsWeights) {
  const fs::path model = kModels / "torchvision/mobilenet_v3_small.onnx";
  if (!fs::exists(model)) GTEST_SKIP() << "needs the mobilenet_v3_small export";
  std::vector<TrainingKernel> data = law_data({model, kModels / "torchvision/resnet18.onnx"}, rich_rules());
  auto weight = [](const KernelCost& c) { return 4.0 * c.params; };
  constexpr double kStart = 2e-3;  // 2 us for every kernel of at most 64 KiB of weights
  int small_se = 0;
  for (TrainingKernel& t : data) {
    const double w = weight(t.kernel.cost);
    t.cold_ms = t.latency_ms + 3e-8 * w + (w > 0 && w <= 64 * 1024 ? kStart : 0.0);
    small_se += t.kernel.family == "se_conv" && w > 0 && w <= 64 * 1024;
  }
  ASSERT_GE(small_se, 3);  // mobilenet_v3_small's squeeze-excitation convs
  TrainOptions options;
  options.kinds = {ModelKind::kRoofline};
  options.llc_bytes = std::size_t{1} << 30;
  Bundle b = train(data, rich_rules(), options);
  // The rates come from the family's large kernels (its 83 and 330 KB convs), so what is
  // left on the small ones is the start.
  EXPECT_NEAR(b.families.at("se_conv").cold_start_ms / kStart, 1.0, 1e-6);
  EXPECT_NEAR(b.families.at("se_conv").ms_per_weight_byte / 3e-8, 1.0, 1e-6);
  EXPECT_GT(b.families.at("fc").cold_start_ms, 0.0);    // the group's: resnet18's and its FCs are large
  EXPECT_EQ(b.families.at("conv").cold_start_ms, 0.0);  // not a GEMM: hidden under its positions' compute
  EXPECT_EQ(b.families.at("dwconv").cold_start_ms, 0.0);

  const fs::path path = infercast::testing::temp_path("infercast_predict_cold_start_test.bundle");
  save_bundle(b, path);
  Bundle loaded = load_bundle(path);
  EXPECT_EQ(loaded.families.at("se_conv").cold_start_ms, b.families.at("se_conv").cold_start_ms);
  const ir::Graph g = import::load_model(model);
  double model_weights = 0;
  for (const Kernel& k : split_kernels(g, rich_rules()))
    if (!k.removed) model_weights += weight(k.cost);
  ASSERT_GT(model_weights, 8e6);  // 2.5 M parameters
  for (const double llc : {1e9, 32e6, 4e6}) {
    loaded.llc_bytes = static_cast<std::size_t>(llc);
    Bundle without = load_bundle(path);  // bundles hold boosters: loaded again, not copied
    without.llc_bytes = loaded.llc_bytes;
    for (auto& [name, f] : without.families) f.cold_start_ms = 0;
    const Prediction with_start = predict::predict(loaded, g), plain = predict::predict(without, g);
    const double fraction = std::min(1.0, model_weights / llc);
    int paid = 0;
    for (std::size_t i = 0; i < plain.kernels.size(); ++i) {
      const Kernel& k = plain.kernels[i];
      if (k.removed) continue;
      const double expected = weight(k.cost) > 0 ? fraction * loaded.families.at(k.family).cold_start_ms : 0.0;
      EXPECT_NEAR(with_start.per_kernel[i].ms - plain.per_kernel[i].ms, expected, 1e-12) << k.name << " at " << llc;
      paid += expected > 0;
    }
    EXPECT_GT(paid, small_se / 2) << llc;
  }
}

// No family's weights come from memory slower than the FC family streams its own: a family
// whose flushed excess reads as a higher rate per weight byte (per-channel vectors that
// cannot be told from the activations) is held to the FC's rate; without an FC family
// nothing bounds it.
TEST(PredictBundle, NoWeightRateAboveTheFcStream) {
  const fs::path model = kModels / "torchvision/resnet18.onnx";
  if (!fs::exists(model)) GTEST_SKIP() << "needs the resnet18 export";
  std::vector<TrainingKernel> data = law_data({model, kModels / "torchvision/mobilenet_v2.onnx"}, rich_rules());
  for (TrainingKernel& t : data)
    t.cold_ms = t.latency_ms + (t.kernel.family == "fc" ? 3e-8 : 3e-7) * weight_bytes(t.kernel.cost);
  TrainOptions options;
  options.llc_bytes = std::size_t{1} << 30;
  const Bundle b = train(data, rich_rules(), options);
  ASSERT_EQ(b.families.count("fc"), 1u);
  EXPECT_NEAR(b.families.at("fc").ms_per_weight_byte / 3e-8, 1.0, 1e-6);
  for (const std::string family : {"conv", "dwconv"}) {
    ASSERT_EQ(b.families.count(family), 1u) << family;
    EXPECT_DOUBLE_EQ(b.families.at(family).ms_per_weight_byte, b.families.at("fc").ms_per_weight_byte) << family;
  }
  std::erase_if(data, [](const TrainingKernel& t) { return t.kernel.family == "fc"; });
  const Bundle no_fc = train(data, rich_rules(), options);
  EXPECT_NEAR(no_fc.families.at("conv").ms_per_weight_byte / 3e-7, 1.0, 1e-6);
}

// A kernel the runtime timed layers of but ran none of its own (folded into its feeder)
// has no label: its end-to-end time is the feeder's and the run's, not its own.
TEST(PredictBundle, AKernelFoldedIntoItsFeederGivesNoLabel) {
  std::vector<TimedSpec> timed;
  for (int i = 0; i < 24; ++i) {
    TimedSpec t;
    const int c = 16 + 8 * i;
    t.spec = {{"type", "bn"}, {"params", {{"n", 1}, {"h", 14}, {"w", 14}, {"c", c}}}, {"dtype", "float32"}};
    t.layer_count = 3;
    t.kernel_ms = t.kernel_median_ms = 1e-6 * c * 14 * 14;
    t.layers_ms = 3 * t.kernel_ms;
    t.stats.median = t.stats.min = t.layers_ms + 0.02;
    if (i % 4 == 1) {  // folded: the one layer left is the feeder's
      t.layer_count = 1;
      t.kernel_ms = t.kernel_median_ms = 0;
    }
    EXPECT_EQ(t.label_ms() > 0, i % 4 != 1) << c;
    timed.push_back(t);
  }
  TimedSpec unprofiled = timed[1];  // a runtime without per-layer times keeps its end-to-end label
  unprofiled.layer_count = 0;
  EXPECT_DOUBLE_EQ(unprofiled.label_ms(), unprofiled.stats.median);
  TrainOptions options;
  options.kinds = {ModelKind::kRoofline};
  const Bundle b = train_from_timed(timed, default_fusion_rules(), options);
  EXPECT_EQ(b.families.at("norm").samples, 18);
}

// The per-run overhead comes from the one-kernel graphs' end-to-end time beyond their
// layers (less the profiler's share of each layer): a line through the I/O bytes.
TEST(PredictBundle, RunOverheadIsALineThroughTheGraphsIoBytes) {
  std::vector<TimedSpec> timed;
  TrainOptions options;
  options.layer_excess_ms = 0.004;
  for (int i = 0; i < 30; ++i) {
    TimedSpec t;
    const int h = 8 + 4 * i;
    t.spec = {{"type", "relu"}, {"params", {{"n", 1}, {"h", h}, {"w", 8}, {"c", 16}}}, {"dtype", "float32"}};
    const double io = 2.0 * 4 * 16 * 8 * h;  // a relu graph reads and writes one tensor
    t.layer_count = 1;
    t.kernel_ms = 0.01 * (1 + i);
    t.layers_ms = t.kernel_ms;
    t.stats.median = t.layers_ms - 0.004 + 0.02 + 1e-7 * io + (i % 2 == 0 ? 1e-4 : -1e-4);
    timed.push_back(t);
  }
  const Bundle b = train_from_timed(timed, default_fusion_rules(), options);
  EXPECT_NEAR(b.run_overhead_ms, 0.02, 3e-4);
  EXPECT_NEAR(b.run_ms_per_io_byte / 1e-7, 1.0, 0.02);
  EXPECT_EQ(b.layer_excess_ms, 0.004);
}

// A GEMM whose weights outgrow what stays cached between runs is labelled with its flushed
// time (inside a model its weights come from memory), one that fits keeps its warm label, and
// a convolution keeps its warm label whatever its weights. Labels here: warm at 50 bytes/ns,
// flushed at 25.
TEST(PredictBundle, GemmsBeyondTheCacheAreLabelledFlushed) {
  constexpr double kLlc = 8e6;
  std::vector<TimedSpec> timed;
  auto add = [&](const nlohmann::json& spec, double weight_bytes) {
    TimedSpec t;
    t.spec = spec;
    t.kernel_ms = t.kernel_median_ms = 0.01 + weight_bytes / 50e6;
    t.cold_ms = 0.01 + weight_bytes / 25e6;
    t.stats.median = t.kernel_ms;
    timed.push_back(t);
  };
  for (int i = 0; i < 24; ++i) {
    const int cin = 64 + 128 * i;  // 0.26 MB to 12.3 MB of one-row FC weights
    add({{"type", "fc"}, {"params", {{"n", 1}, {"cin", cin}, {"cout", 1024}}}, {"dtype", "float32"}}, 4.0 * cin * 1024);
  }
  for (int i = 0; i < 8; ++i) {
    const int c = 128 + 128 * i;  // 3x3 convs on 7x7, up to 37.7 MB of weights
    add(bench::to_json(same_conv3x3(c, 7)), 36.0 * c * c);
  }
  TrainOptions options;
  options.kinds = {ModelKind::kRoofline};
  options.llc_bytes = static_cast<std::size_t>(kLlc);
  std::vector<TrainingKernel> rows;
  for (const TimedSpec& t : timed) rows.push_back(*training_kernel(t.spec, t.label_ms(), default_fusion_rules()));
  const Bundle b = train_from_timed(timed, default_fusion_rules(), options);
  // The trained rooflines read the labels back: the FC family's memory ceiling beyond its knee
  // is the flushed rate, the convolutions' any-size ceiling the warm one.
  const Roofline& fc = b.families.at("fc").roofline;
  ASSERT_GT(fc.dram_bytes_per_ms, 0);
  const Kernel& big_fc = rows[20].kernel;  // 10.7 MB of weights
  ASSERT_GT(weight_bytes(big_fc.cost), kLlc);
  EXPECT_NEAR(fc.predict_ms(big_fc.cost) / timed[20].cold_ms, 1.0, 0.1);
  const Kernel& small_fc = rows[8].kernel;                                    // 4.5 MB
  EXPECT_NEAR(fc.predict_ms(small_fc.cost) / timed[8].kernel_ms, 1.0, 0.25);  // the fit's grid is coarse
  EXPECT_LT(fc.predict_ms(small_fc.cost), 0.7 * timed[8].cold_ms);
  const Kernel& big_conv = rows[24 + 7].kernel;
  ASSERT_GT(weight_bytes(big_conv.cost), kLlc);
  EXPECT_LT(b.families.at("conv").roofline.predict_ms(big_conv.cost), 0.8 * timed[24 + 7].cold_ms);
  // Without a known cache nothing is relabelled.
  options.llc_bytes = 0;
  const Bundle warm = train_from_timed(timed, default_fusion_rules(), options);
  EXPECT_LT(warm.families.at("fc").roofline.predict_ms(big_fc.cost), 0.8 * timed[20].cold_ms);
}

// Bundle::kernel_start_ms: every executed kernel pays it once, removed ones do not; it
// survives a save and load, and a negative one is a corrupt bundle.
TEST(PredictBundle, KernelStartIsPaidOncePerExecutedKernel) {
  const fs::path model = kModels / "torchvision/resnet18.onnx";
  if (!fs::exists(model)) GTEST_SKIP() << "needs the resnet18 export";
  Bundle b = train(law_data({model}, rich_rules()), rich_rules());
  const ir::Graph g = import::load_model(model);
  const Prediction before = predict::predict(b, g);
  b.kernel_start_ms = 0.0003;
  const fs::path path = infercast::testing::temp_path("infercast_kernel_start_test.bundle");
  save_bundle(b, path);
  const Bundle loaded = load_bundle(path);
  EXPECT_EQ(loaded.kernel_start_ms, 0.0003);
  const Prediction after = predict::predict(loaded, g);
  int executed = 0;
  for (std::size_t i = 0; i < after.kernels.size(); ++i) {
    if (after.kernels[i].removed) {
      EXPECT_EQ(after.per_kernel[i].ms, 0.0);
      continue;
    }
    ++executed;
    EXPECT_NEAR(after.per_kernel[i].ms, before.per_kernel[i].ms + 0.0003, 1e-12);
  }
  EXPECT_GT(executed, 20);
  EXPECT_NEAR(after.ms, before.ms + executed * 0.0003, 1e-9);
  std::string bytes = infercast::testing::read_file(path);
  const auto at = bytes.find("\"kernel_start_ms\":0.0003");
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 24, "\"kernel_start_ms\":-.0003");
  infercast::testing::write_file(path, bytes);
  EXPECT_THROW(load_bundle(path), Error);
  std::filesystem::remove(path);
}

// XNNPACK turns an NCHW model's image channels-last inside the stem's layer: that kernel
// alone pays the bench's transpose of the input's shape, on an XNNPACK bundle only.
TEST(PredictBundle, XnnpackPaysTheInputsLayoutConversionInTheStem) {
  const fs::path model = kModels / "torchvision/resnet18.onnx";
  if (!fs::exists(model)) GTEST_SKIP() << "needs the resnet18 export";
  std::vector<TrainingKernel> data = law_data({model}, rich_rules());
  int transposes = 0;
  for (std::int64_t c : {1, 3, 8, 16, 32, 64})
    for (std::int64_t hw : {16, 32, 56, 112, 224}) {
      const bench::KernelSpec spec{"transpose", {{"n", 1}, {"c", c}, {"h", hw}, {"w", hw}}, ir::DType::kFloat32};
      for (Kernel& k : split_kernels(bench::build_kernel_graph(spec), rich_rules())) {
        if (k.removed) continue;
        ASSERT_EQ(k.family, "datamove");
        const double ms = 1e-6 * static_cast<double>(c * hw * hw) * (c < 8 ? 4.0 : 1.0);
        data.push_back({std::move(k), ms});
        ++transposes;
      }
    }
  ASSERT_EQ(transposes, 30);
  Bundle b = train(data, rich_rules());
  ASSERT_TRUE(b.families.count("datamove"));
  const ir::Graph g = import::load_model(model);
  b.runtime = "ort";
  const Prediction ort = predict::predict(b, g);
  b.runtime = "xnnpack";
  const Prediction xnn = predict::predict(b, g);
  ASSERT_EQ(xnn.kernels.size(), ort.kernels.size());
  int changed = 0;
  for (std::size_t i = 0; i < xnn.kernels.size(); ++i) {
    if (xnn.per_kernel[i].ms == ort.per_kernel[i].ms) continue;
    ++changed;
    const auto& in = g.nodes[static_cast<std::size_t>(xnn.kernels[i].nodes.front())].inputs;
    EXPECT_NE(std::find(in.begin(), in.end(), g.inputs[0]), in.end()) << "the stem reads the image";
    EXPECT_EQ(xnn.kernels[i].family, "conv");
    // About the law's 4e-6 ms per element of a 3-channel image (150528 elements).
    EXPECT_NEAR(xnn.per_kernel[i].ms - ort.per_kernel[i].ms, 0.6, 0.3);
  }
  EXPECT_EQ(changed, 1);
  // A channels-last (TFLite) model converts nothing.
  ir::Graph nhwc = import::load_model(model);
  nhwc.meta.layout = ir::Layout::kNHWC;
  const Prediction tflite_like = predict::predict(b, nhwc);
  b.runtime = "ort";
  EXPECT_EQ(tflite_like.ms, predict::predict(b, nhwc).ms);
}

// A ShuffleNet unit's tail: XNNPACK holds a channel shuffle's output in NCHW order and a
// slice keeps it, so the conv reading one half and the concat joining the other half
// with that conv's channels-last output each convert it in their layer, as the stem does
// the image; the shuffle and the slices themselves pay nothing more.
TEST(PredictBundle, XnnpackConvertsAShuffledTensorWhereAChannelsLastKernelReadsIt) {
  const fs::path model = kModels / "torchvision/resnet18.onnx";
  if (!fs::exists(model)) GTEST_SKIP() << "needs the resnet18 export";
  std::vector<TrainingKernel> data = law_data({model}, rich_rules());
  for (std::int64_t c : {1, 3, 8, 16, 32, 64})
    for (std::int64_t hw : {8, 16, 32, 56, 112})
      for (const std::string type : {"transpose", "concat"}) {
        bench::KernelSpec spec{type, {{"n", 1}, {"c", c}, {"h", hw}, {"w", hw}}, ir::DType::kFloat32};
        if (type == "concat") spec.params["inputs"] = 2;
        for (Kernel& k : split_kernels(bench::build_kernel_graph(spec), rich_rules()))
          if (!k.removed) data.push_back({std::move(k), 1e-6 * static_cast<double>(c * hw * hw) * (c < 8 ? 4.0 : 1.0)});
      }
  Bundle b = train(data, rich_rules());
  for (const char* family : {"datamove", "concat"})
    ASSERT_TRUE(b.families.count(family) && b.families.at(family).kind != ModelKind::kRoofline) << family;

  ::onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  ::onnx::GraphProto& g = *m.mutable_graph();
  g.set_name("shuffle_unit");
  const auto value = [](::onnx::ValueInfoProto* v, const std::string& name, std::vector<std::int64_t> dims) {
    v->set_name(name);
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(::onnx::TensorProto::FLOAT);
    for (auto d : dims) t->mutable_shape()->add_dim()->set_dim_value(d);
  };
  value(g.add_input(), "x", {1, 32, 16, 16});
  value(g.add_output(), "y", {1, 32, 16, 16});
  const auto ints = [&](const std::string& name, std::vector<std::int64_t> v) {
    auto* t = g.add_initializer();
    t->set_name(name);
    t->set_data_type(::onnx::TensorProto::INT64);
    t->add_dims(static_cast<std::int64_t>(v.size()));
    for (auto x : v) t->add_int64_data(x);
  };
  const auto conv_weights = [&](const std::string& name, std::int64_t cout, std::int64_t cin) {
    auto* t = g.add_initializer();
    t->set_name(name);
    t->set_data_type(::onnx::TensorProto::FLOAT);
    for (auto d : {cout, cin, std::int64_t{1}, std::int64_t{1}}) t->add_dims(d);
    for (std::int64_t i = 0; i < cout * cin; ++i) t->add_float_data(0.01f * static_cast<float>(i % 7));
  };
  const auto node = [&](const std::string& op, const std::string& name, std::vector<std::string> in,
                        const std::string& out) -> ::onnx::NodeProto& {
    auto* n = g.add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (auto& s : in) n->add_input(s);
    n->add_output(out);
    return *n;
  };
  conv_weights("wa", 32, 32);
  conv_weights("wb", 16, 16);
  ints("five", {1, 2, 16, 16, 16});
  ints("four", {1, 32, 16, 16});
  ints("zero", {0});
  ints("half", {16});
  ints("all", {32});
  ints("axis", {1});
  node("Conv", "stem", {"x", "wa"}, "a");
  node("Reshape", "shuffle", {"a", "five"}, "a5");
  auto* perm = node("Transpose", "shuffle_t", {"a5"}, "t5").add_attribute();
  perm->set_name("perm");
  perm->set_type(::onnx::AttributeProto::INTS);
  for (std::int64_t p : {0, 2, 1, 3, 4}) perm->add_ints(p);
  node("Reshape", "shuffle_r", {"t5", "four"}, "s");
  node("Slice", "pass", {"s", "zero", "half", "axis"}, "x1");
  node("Slice", "branch", {"s", "half", "all", "axis"}, "x2");
  node("Conv", "branch_conv", {"x2", "wb"}, "b");
  auto* axis = node("Concat", "join", {"x1", "b"}, "j").add_attribute();
  axis->set_name("axis");
  axis->set_type(::onnx::AttributeProto::INT);
  axis->set_i(1);
  node("Relu", "tail", {"j"}, "y");
  const std::string bytes = m.SerializeAsString();
  const ir::Graph graph =
      import::load_onnx_bytes(std::as_bytes(std::span<const char>(bytes.data(), bytes.size())), "shuffle_unit.onnx");

  b.runtime = "ort";
  const Prediction ort = predict::predict(b, graph);
  b.runtime = "xnnpack";
  const Prediction xnn = predict::predict(b, graph);
  ASSERT_EQ(xnn.kernels.size(), ort.kernels.size());
  std::set<std::string> types, converted;
  for (std::size_t i = 0; i < xnn.kernels.size(); ++i) {
    types.insert(xnn.kernels[i].type);
    if (xnn.per_kernel[i].ms != ort.per_kernel[i].ms) {
      converted.insert(xnn.kernels[i].name);
      EXPECT_GT(xnn.per_kernel[i].ms, ort.per_kernel[i].ms) << xnn.kernels[i].name;
    }
  }
  ASSERT_TRUE(types.count("channel_shuffle")) << "the Reshape-Transpose-Reshape is one shuffle kernel";
  EXPECT_EQ(converted, (std::set<std::string>{"stem", "branch_conv", "join"}));
}

// What no graph input's values reach is computed when the model is loaded, not in a run:
// a shape computed from a Shape (Gather, Unsqueeze, Concat into a Reshape) and a Gather
// of a constant table at constant rows, as transformer exports write masks and position
// biases. Those kernels are removed; the Add that reads the input is the one kernel left.
TEST(PredictKernels, WhatNoInputReachesIsComputedAtLoad) {
  ::onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  ::onnx::GraphProto& g = *m.mutable_graph();
  g.set_name("load_time");
  const auto value = [](::onnx::ValueInfoProto* v, const std::string& name, std::vector<std::int64_t> dims) {
    v->set_name(name);
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(::onnx::TensorProto::FLOAT);
    for (auto d : dims) t->mutable_shape()->add_dim()->set_dim_value(d);
  };
  value(g.add_input(), "x", {1, 2, 3, 4});
  value(g.add_output(), "y", {1, 24});
  const auto ints = [&](const std::string& name, std::vector<std::int64_t> dims, std::vector<std::int64_t> v) {
    auto* t = g.add_initializer();
    t->set_name(name);
    t->set_data_type(::onnx::TensorProto::INT64);
    for (auto d : dims) t->add_dims(d);
    for (auto x : v) t->add_int64_data(x);
  };
  auto* table = g.add_initializer();
  table->set_name("table");
  table->set_data_type(::onnx::TensorProto::FLOAT);
  table->add_dims(8);
  table->add_dims(24);
  for (int i = 0; i < 8 * 24; ++i) table->add_float_data(0.01f * static_cast<float>(i));
  const auto node = [&](const std::string& op, const std::string& name, std::vector<std::string> in,
                        const std::string& out) {
    auto* n = g.add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (auto& s : in) n->add_input(s);
    n->add_output(out);
    return n;
  };
  ints("first", {}, {0});
  ints("axes", {1}, {0});
  ints("rest", {1}, {-1});
  ints("rows", {1}, {3});
  node("Shape", "shape", {"x"}, "s");
  node("Gather", "batch", {"s", "first"}, "n0");
  node("Unsqueeze", "batch_1d", {"n0", "axes"}, "n1");
  auto* axis = node("Concat", "target", {"n1", "rest"}, "t")->add_attribute();
  axis->set_name("axis");
  axis->set_type(::onnx::AttributeProto::INT);
  axis->set_i(0);
  node("Reshape", "flat", {"x", "t"}, "r");
  node("Gather", "bias", {"table", "rows"}, "b");
  node("Add", "add", {"r", "b"}, "y");
  const std::string bytes = m.SerializeAsString();
  const ir::Graph graph =
      import::load_onnx_bytes(std::as_bytes(std::span<const char>(bytes.data(), bytes.size())), "load_time.onnx");
  std::set<std::string> run, removed;
  for (const Kernel& k : split_kernels(graph, default_fusion_rules())) (k.removed ? removed : run).insert(k.name);
  EXPECT_EQ(run, (std::set<std::string>{"add"}));
  EXPECT_TRUE(removed.count("bias")) << "a Gather of constants";
  EXPECT_TRUE(removed.count("flat")) << "the Reshape itself is a view";
}

int cli(const std::string& args, const std::string& out, const std::string& err = "/dev/null") {
  const int status = std::system((std::string(INFERCAST_CLI) + " " + args + " > " + out + " 2>" + err).c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(PredictCli, JsonContractAndForeignBundle) {
  const fs::path model = kModels / "torchvision/resnet18.onnx";
  if (!fs::exists(model)) GTEST_SKIP() << "needs the resnet18 export";
  Bundle b = train(law_data({model}, rich_rules()), rich_rules());
  b.runtime = "ort";
  const fs::path bundle = infercast::testing::temp_path("infercast_predict_cli.bundle");
  save_bundle(b, bundle);
  const fs::path out = infercast::testing::temp_path("infercast_predict_cli.json");
  ASSERT_EQ(cli("predict " + model.string() + " --predictor " + bundle.string() + " --format json", out.string()), 0);
  const auto j = nlohmann::json::parse(std::ifstream(out));
  for (const char* key : {"model", "predictor", "latency_ms", "interval_ms", "kernels"}) EXPECT_TRUE(j.contains(key));
  EXPECT_LE(j["interval_ms"][0].get<double>(), j["latency_ms"].get<double>());
  EXPECT_GE(j["interval_ms"][1].get<double>(), j["latency_ms"].get<double>());
  double sum = 0;
  std::set<std::string> nodes;
  for (const auto& k : j["kernels"]) {
    for (const char* key : {"name", "type", "nodes", "latency_ms"}) EXPECT_TRUE(k.contains(key));
    sum += k["latency_ms"].get<double>();
    for (const auto& n : k["nodes"]) EXPECT_TRUE(nodes.insert(n.get<std::string>()).second) << n;
  }
  EXPECT_NEAR(sum, j["latency_ms"].get<double>(), 1e-6 * sum);
  EXPECT_EQ(nodes.size(), import::load_model(model).nodes.size());
  // CSV: one row per kernel plus the header.
  ASSERT_EQ(cli("predict " + model.string() + " --predictor " + bundle.string() + " --format csv", out.string()), 0);
  const std::string csv = infercast::testing::read_file(out);
  EXPECT_EQ(static_cast<std::size_t>(std::count(csv.begin(), csv.end(), '\n')), j["kernels"].size() + 1);
  // validate refuses a bundle of another runtime before measuring anything.
  const fs::path err = infercast::testing::temp_path("infercast_predict_cli.err");
  EXPECT_EQ(cli("validate --predictor " + bundle.string() + " --runtime xnnpack " + model.string(), "/dev/null",
                err.string()),
            2);
  EXPECT_NE(infercast::testing::read_file(err).find("trained for runtime 'ort'"), std::string::npos);

  // ONNX Runtime loads .onnx files: validate measures and predicts a .tflite model
  // through the ONNX writer, and its per-kernel runs (one in each round's session) load the
  // same converted file.
  const fs::path tflite = kModels / "mediapipe/face_detection_short_range.tflite";
  if (!fs::exists(fs::path(INFERCAST_SOURCE_DIR) / "runners/ort/node_modules/onnxruntime-node") || !fs::exists(tflite))
    GTEST_SKIP() << "needs runners/ort and the MediaPipe models";
  ASSERT_EQ(cli("validate --predictor " + bundle.string() + " --runtime ort " + tflite.string() +
                    " --repeat 3 --min-time 0 --rounds 2 --per-kernel --format json",
                out.string(), err.string()),
            0)
      << infercast::testing::read_file(err);
  const auto v = nlohmann::json::parse(std::ifstream(out));
  ASSERT_EQ(v["models"].size(), 1u);
  EXPECT_EQ(v["models"][0]["model"], "face_detection_short_range.tflite (as ONNX)");
  EXPECT_GT(v["models"][0]["measured_ms"].get<double>(), 0.0);
  EXPECT_GT(v["models"][0]["predicted_ms"].get<double>(), 0.0);
  EXPECT_EQ(v["summary"]["failed"], 0);
  const auto& per_model = v["per_kernel"]["models"];
  ASSERT_EQ(per_model.size(), 1u);
  EXPECT_FALSE(per_model[0].contains("error")) << per_model[0]["error"];
  EXPECT_EQ(per_model[0]["rounds"], 2);  // the kernels' times are the median of both rounds'
  EXPECT_EQ(v["models"][0]["rounds_ms"].size(), 2u);
  EXPECT_GT(v["per_kernel"]["kernels"].get<int>(), 0);
  EXPECT_GT(v["per_kernel"]["mape_first_round"].get<double>(), 0.0);
}

TEST(PredictValidate, SummaryAndBaselines) {
  std::vector<ValidationRow> rows(3);
  rows[0] = {"a", "", 10.0, 0.01, 10.5, 9, 12, 8.0, 1e9};
  rows[1] = {"b", "", 20.0, 0.02, 17.0, 15, 22, 10.0, 2e9};
  rows[2] = {"c", "failed to run", 0, 0, 0, 0, 0, 0, 0};
  const auto j = validation_json(rows, "p", "xnnpack");
  const auto& s = j["summary"];
  EXPECT_EQ(s["n"], 2);
  EXPECT_EQ(s["failed"], 1);
  EXPECT_DOUBLE_EQ(s["within10"].get<double>(), 0.5);  // +5% in, -15% out
  EXPECT_DOUBLE_EQ(s["within5"].get<double>(), 0.5);
  EXPECT_NEAR(s["mape"].get<double>(), 10.0, 1e-9);
  // Both models run at 100 GFLOP/s: the FLOPs line fits them exactly.
  EXPECT_NEAR(s["baselines"]["flops"]["gflops"].get<double>(), 100.0, 1e-6);
  EXPECT_DOUBLE_EQ(s["baselines"]["flops"]["within10"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(s["baselines"]["conv_only"]["within10"].get<double>(), 0.0);
  EXPECT_FALSE(s.contains("quiet"));            // one thread: no probes, no second figure
  EXPECT_FALSE(s.contains("host_normalized"));  // no host readings
}

// Two models measured at 20 ms in their median round, predicted at 10.5 and 17 ms
// (-47.5% and -15%): the rows the second figures' tests add their rounds to.
std::vector<ValidationRow> two_slow_rows() {
  std::vector<ValidationRow> rows(2);
  rows[0] = {"a", "", 20.0, 0.01, 10.5, 9, 12, 8.0, 1e9};
  rows[0].median_ms = 20.0;
  rows[1] = {"b", "", 20.0, 0.02, 17.0, 15, 22, 10.0, 2e9};
  rows[1].median_ms = 20.0;
  return rows;
}

// With host readings: the host-normalized figure compares each model's median of its rounds
// divided by the host's speed, over the models that had a reading; the score stays the median.
TEST(PredictValidate, HostSpeedGivesASecondFigure) {
  std::vector<ValidationRow> rows = two_slow_rows();
  rows[0].rounds_host_speed = {1.8, 2.0, 1.9};
  rows[0].host_median_ms = 10.0;       // +5% on the profile's host
  rows[1].rounds_host_speed = {0, 0};  // every reading failed: left out of the figure
  const auto j = validation_json(rows, "p", "xnnpack");
  const auto& h = j["summary"]["host_normalized"];
  EXPECT_EQ(h["n"], 1);
  EXPECT_DOUBLE_EQ(h["within10"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(h["within5"].get<double>(), 1.0);
  EXPECT_NEAR(h["mape"].get<double>(), 5.0, 1e-9);
  EXPECT_DOUBLE_EQ(j["summary"]["within10"].get<double>(), 0.0);
  EXPECT_EQ(j["models"][0]["rounds_host_speed"].size(), 3u);
  EXPECT_DOUBLE_EQ(j["models"][0]["host_median_ms"].get<double>(), 10.0);
  EXPECT_DOUBLE_EQ(j["models"][1]["host_median_ms"].get<double>(), 0.0);
}

// The host read before each run: each model's prediction times the readings before its runs
// (the median over the rounds, host_read_predicted_ms) against the median, over the models
// that had a reading; the score stays the plain prediction's.
TEST(PredictValidate, ReadHostGivesAThirdFigure) {
  std::vector<ValidationRow> rows = two_slow_rows();
  rows[0].rounds_host_before = {1.8, 1.81, 1.9};
  rows[0].host_read_predicted_ms = 19.0;  // -5%
  rows[1].rounds_host_before = {1.3, 1.35, 1.4};
  rows[1].host_read_predicted_ms = 23.0;  // +15%
  const auto j = validation_json(rows, "p", "xnnpack");
  const auto& r = j["summary"]["read_host"];
  EXPECT_EQ(r["n"], 2);
  EXPECT_DOUBLE_EQ(r["within10"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(r["within5"].get<double>(), 0.5);
  EXPECT_NEAR(r["mape"].get<double>(), 10.0, 1e-9);
  EXPECT_DOUBLE_EQ(j["summary"]["within10"].get<double>(), 0.0);
  EXPECT_EQ(j["models"][1]["rounds_host_before"].size(), 3u);
  EXPECT_DOUBLE_EQ(j["models"][1]["host_read_predicted_ms"].get<double>(), 23.0);
  EXPECT_FALSE(validation_json(two_slow_rows(), "p", "xnnpack")["summary"].contains("read_host"));
}

// At several threads: the quiet figure compares each model's quiet-round median, over the
// models that had a quiet round, and counts the contended rounds of all of them.
TEST(PredictValidate, QuietRoundsGiveASecondFigure) {
  std::vector<ValidationRow> rows = two_slow_rows();  // the median round contended
  rows[0].rounds_core_share = {0.5, 0.45, 0.97};
  rows[0].quiet_rounds = 1;
  rows[0].quiet_median_ms = 10.0;          // +5%
  rows[1].rounds_core_share = {0.5, 0.5};  // no quiet round: left out of the figure
  const auto j = validation_json(rows, "p", "xnnpack");
  const auto& q = j["summary"]["quiet"];
  EXPECT_EQ(q["n"], 1);
  EXPECT_EQ(q["rounds"], 5);
  EXPECT_EQ(q["contended_rounds"], 4);
  EXPECT_DOUBLE_EQ(q["within10"].get<double>(), 1.0);
  EXPECT_NEAR(q["mape"].get<double>(), 5.0, 1e-9);
  EXPECT_DOUBLE_EQ(j["summary"]["within10"].get<double>(), 0.0);  // the median figure keeps every round
  EXPECT_EQ(j["models"][0]["quiet_rounds"], 1);
  EXPECT_FALSE(j["models"][1].contains("quiet_median_ms") && j["models"][1]["quiet_median_ms"].get<double>() > 0);
}

}  // namespace

namespace {

runtime::LayerTiming layer(const std::string& name, const std::string& op, double ms) {
  runtime::LayerTiming l{name, op, {}};
  l.ms.median = ms;
  return l;
}

}  // namespace

// Layer names as ONNX Runtime 1.30 reports them for torchvision's squeeze-excitation and
// classifier (measured: mobilenet_v3_small, vgg11 at 1 thread).
TEST(PredictValidate, KernelTimesClaimRenamedFusedAndGateConversionLayers) {
  ir::Graph g;
  for (const char* name : {"/se/fc2/Conv", "/se/HardSigmoid", "/block/Mul", "/next/Conv", "/classifier.0/Gemm"}) {
    g.nodes.emplace_back();
    g.nodes.back().name = name;
  }
  Prediction p;
  p.kernels = {Kernel{"/se/fc2/Conv", "conv+hardsigmoid", "conv", {0, 1}},
               Kernel{"/block/Mul", "channel_mul", "gate", {2}}, Kernel{"/next/Conv", "conv", "conv", {3}},
               Kernel{"/classifier.0/Gemm", "fc+relu", "fc", {4}}};
  const std::vector<runtime::LayerTiming> layers = {
      layer("/se/HardSigmoid_output_0_nchwc", "Conv", 1.0),
      layer("ReorderOutput_token_153", "ReorderOutput", 0.5),  // the scale [1, C, 1, 1]
      layer("ReorderOutput_token_152", "ReorderOutput", 2.0),  // the scaled tensor
      layer("/block/Mul", "Mul", 3.0),
      layer("ReorderInput_token_52", "ReorderInput", 4.0),
      layer("/next/Conv_output_0_nchwc", "Conv", 5.0),
      layer("ReorderOutput", "ReorderOutput", 6.0),  // before a kernel whose label has none
      layer("fused /classifier.0/Gemm", "FusedGemm", 7.0),
  };
  const KernelTimes t = kernel_times(g, p, layers);
  ASSERT_EQ(t.ms.size(), 4u);
  EXPECT_DOUBLE_EQ(t.ms[0], 1.0);
  EXPECT_DOUBLE_EQ(t.ms[1], 0.5 + 2.0 + 3.0 + 4.0);
  EXPECT_DOUBLE_EQ(t.ms[2], 5.0);
  EXPECT_DOUBLE_EQ(t.ms[3], 7.0);
  EXPECT_DOUBLE_EQ(t.unmapped_ms, 6.0);
  EXPECT_EQ(t.layers, (std::vector<int>{1, 4, 1, 1}));
  // The profiler's share comes off every layer, down to a tenth of it.
  const KernelTimes u = kernel_times(g, p, layers, 0.75);
  EXPECT_DOUBLE_EQ(u.ms[1], 0.05 + 1.25 + 2.25 + 3.25);
  EXPECT_DOUBLE_EQ(u.ms[3], 6.25);
}

// torchvision's ResNet-18: a basic block's identity shortcut is read again by its Add two
// convs later. With a 1 MiB cache, the shortcut has left it wherever those convs moved
// more than that; the conv reading the kernel just before it never pays.
TEST(PredictKernels, StaleInputsAreTheShortcutsThatLeftTheCache) {
  const fs::path path = kModels / "torchvision/resnet18.onnx";
  if (!fs::exists(path)) GTEST_SKIP() << "needs resnet18 (make test fetches it)";
  const ir::Graph g = import::load_model(path);
  const std::vector<Kernel> kernels = split_kernels(g, rich_rules());
  const StaleInputs levels = stale_inputs(g, kernels, 1 << 20, 32 << 20);
  const std::vector<double>& stale = levels.beyond_l2;
  ASSERT_EQ(stale.size(), kernels.size());
  EXPECT_EQ(stale_inputs(g, kernels, 0, 32 << 20).beyond_l2, std::vector<double>(kernels.size(), 0.0));
  // A block moves at most a few MB between its input and its Add: nothing leaves 32 MiB.
  EXPECT_EQ(levels.beyond_llc, std::vector<double>(kernels.size(), 0.0));
  int stale_adds = 0;
  for (std::size_t i = 0; i < kernels.size(); ++i) {
    const Kernel& k = kernels[i];
    const ir::Node& anchor = g.nodes[static_cast<std::size_t>(k.nodes.front())];
    if (k.type.starts_with("add")) {
      // Exactly one operand, the shortcut: a block input (1 x 64 x 56 x 56 floats in the
      // first stage) or a downsampling conv's output.
      if (stale[i] == 0) continue;
      ++stale_adds;
      const auto a = g.tensors[static_cast<std::size_t>(anchor.inputs[0])].bytes();
      const auto b = g.tensors[static_cast<std::size_t>(anchor.inputs[1])].bytes();
      ASSERT_TRUE(a && b) << k.name;
      EXPECT_TRUE(stale[i] == static_cast<double>(*a) || stale[i] == static_cast<double>(*b)) << k.name;
    } else if (k.family == "conv" && anchor.inputs[0] >= 0) {
      // A conv that reads what the kernel before it wrote pays nothing.
      const int producer = g.tensors[static_cast<std::size_t>(anchor.inputs[0])].producer;
      if (i > 0 && producer >= 0 &&
          std::find(kernels[i - 1].nodes.begin(), kernels[i - 1].nodes.end(), producer) != kernels[i - 1].nodes.end())
        EXPECT_EQ(stale[i], 0.0) << k.name;
    }
  }
  // Eight basic blocks; the first stage's convs move 2 x 147 KB of weights and 2 x 1.6 MB
  // of activations between a block's input and its Add.
  EXPECT_GE(stale_adds, 6);
  EXPECT_LE(stale_adds, 8);
}

// ViT-B/16's MLP: a MatMul [197, 768] x [768, 3072] (9.4 MB of weights) and the Add of its
// bias. Read once, the weights leave the MatMul's output in a 1 MiB cache; read again for
// every 7-row tile (XNNPACK's GEMM), 28 times, they evict it before the Add reads it.
TEST(PredictKernels, GemmWeightRereadsEvictTheirOwnOutput) {
  const fs::path path = kModels / "torchvision/vit_b_16.onnx";
  if (!fs::exists(path)) GTEST_SKIP() << "needs vit_b_16 (make test fetches it)";
  const ir::Graph g = import::load_model(path);
  const std::vector<Kernel> kernels = split_kernels(g, rich_rules());
  const StaleInputs once_in = stale_inputs(g, kernels, 1 << 20, 32 << 20);
  const StaleInputs tiled_in = stale_inputs(g, kernels, 1 << 20, 32 << 20, 7);
  const std::vector<double>& once = once_in.beyond_l2;
  const std::vector<double>& tiled = tiled_in.beyond_l2;
  int bias_adds = 0;
  for (std::size_t i = 0; i < kernels.size(); ++i) {
    if (kernels[i].name.find("/mlp/mlp.0/Add") == std::string::npos) continue;
    ++bias_adds;
    EXPECT_EQ(once[i], 0.0) << kernels[i].name;
    EXPECT_EQ(tiled[i], 197.0 * 3072 * 4) << kernels[i].name;
  }
  EXPECT_EQ(bias_adds, 12);
  // Half of 28 passes over 9.4 MB is past a 32 MiB last-level cache, which the private
  // cache's evictions fill (a victim cache): the bias comes from memory. Read once, the
  // weights never push it out of the last level.
  for (std::size_t i = 0; i < kernels.size(); ++i) {
    if (kernels[i].name.find("/mlp/mlp.0/Add") == std::string::npos) continue;
    EXPECT_EQ(tiled_in.beyond_llc[i], 197.0 * 3072 * 4) << kernels[i].name;
    EXPECT_EQ(once_in.beyond_llc[i], 0.0) << kernels[i].name;
  }
  EXPECT_EQ(stale_inputs(g, kernels, 1 << 20, 1 << 30, 7).beyond_llc, std::vector<double>(kernels.size(), 0.0));
  // Re-reads only add staleness: no input is fresher for them.
  for (std::size_t i = 0; i < kernels.size(); ++i) {
    EXPECT_GE(tiled[i], once[i]) << kernels[i].name;
    EXPECT_LE(tiled_in.beyond_llc[i], tiled[i]) << kernels[i].name;
  }
}
