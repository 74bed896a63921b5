// Real models end to end on XnnpackExecutor:
// - the five MediaPipe TFLite models (fp16 weights with DEQUANTIZE, a sparse weight
//   tensor with DENSIFY, MediaPipe's Convolution2DTransposeBias): they prepare, run,
//   give finite outputs, and agree between 1 and 2 threads;
// - torchvision ONNX exports (NCHW, through the layout pass) against PyTorch's own
//   float64 logits for the same weights and input (torch_reference.py), and the
//   classifier's input (random-init heads are often zero or tiny).
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "infercast/base/error.hpp"
#include "infercast/import/import.hpp"
#include "infercast/runtime/xnnpack_executor.hpp"

namespace infercast::runtime {
namespace {

namespace fs = std::filesystem;

const fs::path kRoot = INFERCAST_SOURCE_DIR;

std::vector<float> random_input(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

std::size_t count(const std::vector<std::int64_t>& shape) {
  std::size_t n = 1;
  for (auto d : shape) n *= static_cast<std::size_t>(d);
  return n;
}

// Largest |a − b| relative to the largest |b|.
double relative_error(std::span<const float> a, std::span<const float> b) {
  double worst = 0, scale = 0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  }
  return scale > 0 ? worst / scale : worst;
}

std::string roles(const XnnpackExecutor& ex) {
  std::map<XnnpackNodeRole, int> n;
  for (const auto& p : ex.node_plans()) ++n[p.role];
  return "xnnpack " + std::to_string(n[XnnpackNodeRole::kXnnpack]) + ", custom " +
         std::to_string(n[XnnpackNodeRole::kCustom]) + ", fused " + std::to_string(n[XnnpackNodeRole::kFused]) +
         ", constant " + std::to_string(n[XnnpackNodeRole::kConstant]) + ", alias " +
         std::to_string(n[XnnpackNodeRole::kAlias]) + ", unused " + std::to_string(n[XnnpackNodeRole::kUnused]);
}

// Runs `graph` with `threads` on `inputs`; returns the outputs.
std::vector<std::vector<float>> run(const ir::Graph& graph, int threads, const std::vector<std::vector<float>>& inputs,
                                    XnnpackExecutor* keep = nullptr) {
  XnnpackExecutor local;
  XnnpackExecutor& ex = keep != nullptr ? *keep : local;
  ex.prepare(graph, threads);
  for (std::size_t i = 0; i < inputs.size(); ++i) ex.set_input(i, inputs[i]);
  ex.run();
  std::vector<std::vector<float>> out;
  for (std::size_t i = 0; i < ex.output_count(); ++i) out.emplace_back(ex.output(i).begin(), ex.output(i).end());
  return out;
}

class MediaPipe : public ::testing::TestWithParam<std::string> {};

TEST_P(MediaPipe, RunsWithFiniteOutputsAtOneAndTwoThreads) {
  const fs::path path = kRoot / ".cache" / "models" / "mediapipe" / GetParam();
  if (!fs::exists(path)) GTEST_SKIP() << path << " not found; run scripts/fetch_mediapipe.sh";
  const ir::Graph graph = import::load_model(path);
  XnnpackExecutor ex;
  ex.prepare(graph, 1);
  std::vector<std::vector<float>> inputs;
  for (std::size_t i = 0; i < ex.input_count(); ++i) inputs.push_back(random_input(count(ex.input_info(i).shape), 7));
  for (std::size_t i = 0; i < inputs.size(); ++i) ex.set_input(i, inputs[i]);
  ex.set_profiling(true);
  ex.run();
  ASSERT_GT(ex.output_count(), 0u);
  std::vector<std::vector<float>> one;
  for (std::size_t i = 0; i < ex.output_count(); ++i) {
    const auto out = ex.output(i);
    EXPECT_EQ(out.size(), count(ex.output_info(i).shape));
    EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](float v) { return std::isfinite(v); }))
        << "output " << ex.output_info(i).name << " has non-finite values";
    const auto [lo, hi] = std::minmax_element(out.begin(), out.end());
    EXPECT_LT(*lo, *hi) << "output " << ex.output_info(i).name << " is constant";
    one.emplace_back(out.begin(), out.end());
  }
  double total = 0;
  for (std::size_t i = 0; i < ex.node_times_ms().size(); ++i) {
    const double t = ex.node_times_ms()[i];
    EXPECT_TRUE(std::isfinite(t) && t >= 0) << "node " << i;
    total += t;
  }
  EXPECT_GT(total, 0.0);
  std::cout << "[xnnpack " << GetParam() << "] " << graph.nodes.size() << " nodes: " << roles(ex) << "; arena "
            << ex.arena_bytes() / 1024 << " KiB\n";

  const auto two = run(graph, 2, inputs);
  for (std::size_t i = 0; i < one.size(); ++i) {
    EXPECT_LE(relative_error(two[i], one[i]), 1e-5) << "1 vs 2 threads, output " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(XnnpackModels, MediaPipe,
                         ::testing::Values("face_detection_short_range.tflite", "face_detection_full_range.tflite",
                                           "face_detection_full_range_sparse.tflite", "selfie_segmentation.tflite",
                                           "selfie_segmentation_landscape.tflite"),
                         [](const auto& info) {
                           std::string n = info.param.substr(0, info.param.find('.'));
                           return n;
                         });

// The sparse face detector densifies its weights once; it must compute what the dense
// one does only if the weights were equal, which they are not (different training), so
// the check here is the densified weights' effect: finite and different from zero.
TEST(XnnpackModels, SparseModelDensifiesEveryWeight) {
  const fs::path path = kRoot / ".cache" / "models" / "mediapipe" / "face_detection_full_range_sparse.tflite";
  if (!fs::exists(path)) GTEST_SKIP() << path << " not found";
  const ir::Graph graph = import::load_model(path);
  int densify = 0;
  for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
    if (graph.nodes[i].op != ir::Op::Densify) continue;
    ++densify;
    EXPECT_TRUE(XnnpackExecutor::supports(graph, static_cast<int>(i)).ok) << graph.nodes[i].name;
  }
  EXPECT_GT(densify, 0);
  XnnpackExecutor ex;
  ex.prepare(graph, 1);
  for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
    if (graph.nodes[i].op == ir::Op::Densify) EXPECT_EQ(ex.node_plans()[i].role, XnnpackNodeRole::kConstant);
  }
}

// The model with the input of its last Gemm (the classifier) as a second graph output.
ir::Graph with_classifier_input_output(const fs::path& path, std::string& bytes) {
  std::ifstream f(path, std::ios::binary);
  const std::string original((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ::onnx::ModelProto m;
  if (!m.ParseFromString(original)) throw Error(ErrorKind::kBadModel, path.string(), "", "not parseable");
  std::string features;
  for (const auto& node : m.graph().node()) {
    if (node.op_type() == "Gemm") features = node.input(0);
  }
  if (features.empty()) throw Error(ErrorKind::kBadModel, path.string(), "", "no Gemm classifier");
  auto* out = m.mutable_graph()->add_output();
  out->set_name(features);
  out->mutable_type()->mutable_tensor_type()->set_elem_type(::onnx::TensorProto::FLOAT);
  bytes = m.SerializeAsString();
  return import::load_onnx_bytes(std::as_bytes(std::span<const char>(bytes.data(), bytes.size())), path.string());
}

class Torchvision : public ::testing::TestWithParam<std::string> {};

TEST_P(Torchvision, MatchesPyTorchLogits) {
  const std::string name = GetParam();
  const fs::path model = kRoot / ".cache" / "models" / "torchvision" / (name + ".onnx");
  if (!fs::exists(model)) GTEST_SKIP() << model << " not found; run scripts/fetch_torchvision.sh " << name;
  const fs::path ref_dir = kRoot / ".cache" / "reference" / "xnnpack_torchvision";
  const fs::path in_path = ref_dir / (name + ".input.f32"), out_path = ref_dir / (name + ".output.f32");
  if (!fs::exists(out_path) || fs::last_write_time(out_path) < fs::last_write_time(model)) {
    const std::string cmd = "/usr/bin/python3 " + (kRoot / "tests/runtime/xnnpack/torch_reference.py").string() + " " +
                            ref_dir.string() + " " + name + " > /dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0 || !fs::exists(out_path)) {
      GTEST_SKIP() << "PyTorch reference unavailable (python3-torchvision): " << cmd;
    }
  }
  auto read = [](const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::vector<float> v(fs::file_size(p) / sizeof(float));
    f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
    return v;
  };
  const std::vector<float> input = read(in_path), want = read(out_path);
  const fs::path features_path = ref_dir / (name + ".features.f32");
  const bool with_features = fs::exists(features_path);
  std::string bytes;
  const ir::Graph graph = with_features ? with_classifier_input_output(model, bytes) : import::load_model(model);
  XnnpackExecutor ex;
  const auto got = run(graph, 2, {input}, &ex);
  ASSERT_EQ(got.size(), with_features ? 2u : 1u);
  ASSERT_EQ(got[0].size(), want.size());
  EXPECT_TRUE(std::all_of(got[0].begin(), got[0].end(), [](float v) { return std::isfinite(v); }));
  const double err = relative_error(got[0], want);
  std::cout << "[xnnpack " << name << "] logits: max |xnnpack - pytorch| / max |pytorch| = " << err;
  EXPECT_LE(err, 1e-4);
  if (with_features) {
    const std::vector<float> features = read(features_path);
    ASSERT_EQ(got[1].size(), features.size());
    const auto [lo, hi] = std::minmax_element(got[1].begin(), got[1].end());
    EXPECT_LT(*lo, *hi) << "classifier input is constant";
    const double ferr = relative_error(got[1], features);
    std::cout << "; classifier input: " << ferr;
    EXPECT_LE(ferr, 1e-4);
  } else {
    const auto [lo, hi] = std::minmax_element(got[0].begin(), got[0].end());
    EXPECT_LT(*lo, *hi) << "logits are constant";
  }
  std::cout << "; " << roles(ex) << "; arena " << ex.arena_bytes() / 1024 << " KiB\n";
}

INSTANTIATE_TEST_SUITE_P(XnnpackModels, Torchvision,
                         ::testing::Values("resnet18", "mobilenet_v2", "resnet50", "mobilenet_v3_small",
                                           "squeezenet1_1", "densenet121", "googlenet", "efficientnet_b0", "vit_b_16"));

}  // namespace
}  // namespace infercast::runtime
