// MACs and params of real torchvision exports against two references nobody here
// wrote: an independent count from Python onnx's shape inference
// (tests/reference/onnx_reference_counts.py, run by `make references`) and
// torchvision's documented GMACs ("GFLOPS" in its model tables).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "infercast/cost/cost.hpp"
#include "infercast/import/import.hpp"

namespace infercast::cost {
namespace {

const std::string kRoot = INFERCAST_SOURCE_DIR;

struct Published {
  const char* model;
  double gmacs;  // torchvision's model table, printed with two decimals
};

void PrintTo(const Published& p, std::ostream* os) {
  *os << p.model << " (" << p.gmacs << " GMACs)";
}

// Facts from torchvision's documentation (weights tables, "GFLOPS" column = GMACs).
constexpr Published kPublished[] = {
    {"resnet18", 1.81},           {"resnet50", 4.09},      {"mobilenet_v2", 0.30},
    {"mobilenet_v3_large", 0.22}, {"squeezenet1_1", 0.35}, {"densenet121", 2.83},
    {"googlenet", 1.50},          {"alexnet", 0.71},       {"vit_b_16", 17.56},
};

class TorchvisionReference : public ::testing::TestWithParam<Published> {};

TEST_P(TorchvisionReference, MacsAndParamsMatchIndependentCounts) {
  const std::string name = GetParam().model;
  const std::string model = kRoot + "/.cache/models/torchvision/" + name + ".onnx";
  const std::string reference = kRoot + "/.cache/reference/torchvision/" + name + ".json";
  if (!std::filesystem::exists(model) || !std::filesystem::exists(reference)) {
    GTEST_SKIP() << "run `make references` to export " << name << " and count it";
  }
  const auto ref = nlohmann::json::parse(std::ifstream(reference));
  const ir::Graph graph = import::load_model(model);
  const ModelCost cost = analyze(graph);

  const double ref_macs = ref["macs"].get<double>();
  EXPECT_LE(std::fabs(static_cast<double>(cost.macs) - ref_macs), 0.005 * ref_macs)
      << name << ": infercast " << cost.macs << " MACs, reference " << ref_macs;
  EXPECT_EQ(cost.params, ref["params"].get<std::uint64_t>()) << name;
  // Consistent with the published figure at its printed precision.
  EXPECT_NEAR(static_cast<double>(cost.macs) / 1e9, GetParam().gmacs, 0.005 + 1e-9) << name;
  // Same op census as the file, nothing unknown.
  for (const auto& [op, count] : ref["ops"].items()) {
    const auto it = cost.op_counts.find(op);
    ASSERT_NE(it, cost.op_counts.end()) << name << ": op " << op << " missing from census";
    EXPECT_EQ(it->second, count.get<int>()) << name << ": " << op;
  }
  EXPECT_TRUE(cost.unknown_ops.empty());
  // Every shape resolved (ViT's class-token Expand needs shape folding for this).
  for (const LayerCost& layer : cost.layers) {
    EXPECT_TRUE(layer.complete) << name << ": layer " << graph.nodes[layer.node].name << " has unknown shapes";
  }
  // Peak memory is bracketed by its lower bound and the naive sum.
  EXPECT_LE(cost.memory.lower_bound_bytes, cost.memory.arena_bytes);
  EXPECT_LE(cost.memory.arena_bytes, cost.memory.naive_bytes + kArenaAlignment * cost.memory.placements.size());
}

INSTANTIATE_TEST_SUITE_P(Models, TorchvisionReference, ::testing::ValuesIn(kPublished),
                         [](const auto& info) { return std::string(info.param.model); });

// Swin computes its window padding at run time ((7 - H % 7) % 7 through Mod, F.pad's
// pads table reversed by a 2-D Slice with step -1 and a Transpose), which Python
// onnx's inference does not follow (it counts 14 M MACs): only torchvision's
// published figure is a reference here, and every layer's shape must resolve.
TEST(TorchvisionPublished, SwinTinyShapeArithmeticFoldsToThePublishedMacs) {
  const std::string path = kRoot + "/.cache/models/torchvision/swin_t.onnx";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "run `make models` to export swin_t";
  const ir::Graph graph = import::load_model(path);
  const ModelCost cost = analyze(graph);
  EXPECT_NEAR(static_cast<double>(cost.macs) / 1e9, 4.49, 0.005 + 1e-9);
  int incomplete = 0;
  for (const LayerCost& layer : cost.layers) incomplete += layer.complete ? 0 : 1;
  EXPECT_EQ(incomplete, 0);
  ASSERT_EQ(graph.outputs.size(), 1u);
  EXPECT_EQ(graph.tensors[graph.outputs[0]].shape.str(), ir::Shape::of({1, 1000}).str());
}

TEST(MediaPipe, FiveModelsAnalyzeWithNoUnknownOps) {
  const char* models[] = {"face_detection_short_range", "face_detection_full_range", "face_detection_full_range_sparse",
                          "selfie_segmentation", "selfie_segmentation_landscape"};
  for (const char* m : models) {
    const std::string path = kRoot + "/.cache/models/mediapipe/" + m + ".tflite";
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "run scripts/fetch_mediapipe.sh";
    const ir::Graph graph = import::load_model(path);
    const ModelCost cost = analyze(graph);
    EXPECT_TRUE(cost.unknown_ops.empty()) << m;
    EXPECT_GT(cost.macs, 0u) << m;
    EXPECT_GT(cost.params, 0u) << m;
    EXPECT_GT(cost.memory.arena_bytes, 0u) << m;
    for (const LayerCost& layer : cost.layers) EXPECT_TRUE(layer.complete) << m << " layer " << layer.node;
  }
}

}  // namespace
}  // namespace infercast::cost
