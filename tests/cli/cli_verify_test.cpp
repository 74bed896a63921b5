// `infercast verify`: exit 0 on agreement, 1 on a mismatch, 2 on bad input.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../test_files.hpp"

namespace {

namespace fs = std::filesystem;
const std::string kNode = "/usr/share/libonnx-testdata/data/node/";
const fs::path kSource = INFERCAST_SOURCE_DIR;

// Runs `infercast verify` with `args`, stdout to `out`; returns the exit code (-1 on a signal).
int cli(const std::string& args, const std::string& out = "/dev/null") {
  const int status =
      std::system((std::string(INFERCAST_CLI) + " verify " + args + " > " + out + " 2>/dev/null").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool ort_installed() {
  return fs::exists(kSource / "runners/ort/node_modules/onnxruntime-node/package.json");
}

TEST(CliVerify, OnnxTestDataPassesOnOrt) {
  if (!ort_installed() || !fs::exists(kNode)) GTEST_SKIP() << "needs runners/ort and libonnx-testdata";
  const std::string json = infercast::testing::temp_path("infercast_verify_testdata.json").string();
  EXPECT_EQ(cli(kNode + "test_relu/model.onnx --runtime ort --reference testdata --format json", json), 0);
  const auto doc = nlohmann::json::parse(std::ifstream(json));
  EXPECT_TRUE(doc["pass"].get<bool>());
  EXPECT_EQ(doc["outputs"][0]["set"], "test_data_set_0");
  EXPECT_EQ(doc["outputs"][0]["mismatches"], 0);
}

TEST(CliVerify, XnnpackMatchesOnnxTestData) {
  if (!fs::exists(kNode)) GTEST_SKIP() << "needs libonnx-testdata";
  // ONNX's own reference outputs for an elementwise and a pooling model.
  EXPECT_EQ(cli(kNode + "test_sigmoid/model.onnx --runtime xnnpack --reference testdata"), 0);
  EXPECT_EQ(cli(kNode + "test_maxpool_2d_pads/model.onnx --runtime xnnpack --reference testdata"), 0);
}

TEST(CliVerify, DifferentComputationIsAMismatch) {
  if (!ort_installed() || !fs::exists(kNode)) GTEST_SKIP() << "needs runners/ort and libonnx-testdata";
  // Relu against Abs on the same random inputs in [-1, 1): they differ on negatives.
  EXPECT_EQ(cli(kNode + "test_relu/model.onnx --runtime xnnpack --reference ort --reference-model " + kNode +
                "test_abs/model.onnx"),
            1);
}

TEST(CliVerify, BadInputExitsTwo) {
  EXPECT_EQ(cli("/nonexistent.onnx --runtime xnnpack --reference ort"), 2);
  EXPECT_EQ(cli(kNode + "test_relu/model.onnx --runtime nosuch --reference ort"), 2);
  // Refused at prepare: the weights of this Conv are a graph input.
  EXPECT_EQ(cli(kNode + "test_conv_with_strides_padding/model.onnx --runtime xnnpack --reference testdata"), 2);
}

}  // namespace
