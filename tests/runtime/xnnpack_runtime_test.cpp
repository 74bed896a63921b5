// The `xnnpack` runtime behind the Runtime interface: timing on a real MediaPipe
// model, and the same outputs as ONNX Runtime on a torchvision export.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "infercast/import/import.hpp"
#include "infercast/runtime/runtime.hpp"

namespace infercast::runtime {
namespace {

namespace fs = std::filesystem;
const fs::path kSource = INFERCAST_SOURCE_DIR;

measure::Protocol quick() {
  measure::Protocol p;
  p.warmup = 1;
  p.min_repeats = 3;
  p.min_time_s = 0;
  p.max_remeasure = 0;
  return p;
}

std::vector<float> floats(const HostTensor& t) {
  std::vector<float> v(t.data.size() / sizeof(float));
  std::memcpy(v.data(), t.data.data(), v.size() * sizeof(float));
  return v;
}

TEST(XnnpackRuntime, IsRegistered) {
  const auto names = runtime_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "xnnpack"), names.end());
}

TEST(XnnpackRuntime, TimesMediaPipeModelEndToEndAndPerLayer) {
  const fs::path model = kSource / ".cache/models/mediapipe/selfie_segmentation.tflite";
  if (!fs::exists(model)) GTEST_SKIP() << "run scripts/fetch_mediapipe.sh";
  const ir::Graph graph = import::load_model(model);
  auto rt = make_runtime("xnnpack");
  rt->prepare(graph, {1});
  RunOptions options;
  options.protocol = quick();
  options.per_layer = true;
  const RunResult r = rt->run(options);
  EXPECT_EQ(r.runtime, "xnnpack");
  EXPECT_EQ(r.threads, 1);
  EXPECT_GE(r.latency_ms.n, 3);
  EXPECT_TRUE(std::isfinite(r.latency_ms.median) && r.latency_ms.median > 0);
  ASSERT_FALSE(r.layers.empty());
  for (const LayerTiming& l : r.layers) EXPECT_TRUE(std::isfinite(l.ms.median) && l.ms.median >= 0) << l.name;
}

TEST(XnnpackRuntime, AgreesWithOnnxRuntimeOnSqueezenet) {
  const fs::path model = kSource / ".cache/models/torchvision/squeezenet1_1.onnx";
  if (!fs::exists(model)) GTEST_SKIP() << "run make models";
  if (!fs::exists(kSource / "runners/ort/node_modules/onnxruntime-node/package.json")) {
    GTEST_SKIP() << "runners/ort/node_modules is absent: run scripts/install_runners.sh (make test does)";
  }
  const ir::Graph graph = import::load_model(model);
  const auto inputs = random_inputs(graph, 7);
  auto xnn = make_runtime("xnnpack");
  auto ort = make_runtime("ort");
  xnn->prepare(graph, {2});
  ort->prepare(graph, {2});
  const auto got = xnn->infer(inputs);
  const auto want = ort->infer(inputs);
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].dims, want[i].dims);
    const auto a = floats(got[i]);
    const auto b = floats(want[i]);
    double scale = 0;
    for (float x : b) scale = std::max(scale, static_cast<double>(std::fabs(x)));
    ASSERT_GT(scale, 0.0) << "reference output is all zeros: the comparison would prove nothing";
    double worst = 0;
    for (std::size_t k = 0; k < a.size(); ++k) worst = std::max(worst, std::fabs(double(a[k]) - double(b[k])) / scale);
    EXPECT_LE(worst, 1e-4) << "output " << got[i].name;
  }
}

}  // namespace
}  // namespace infercast::runtime
