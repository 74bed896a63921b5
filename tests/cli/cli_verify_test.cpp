// `infercast verify`: exit 0 on agreement, 1 on a mismatch, 2 on bad input.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <onnx/onnx_pb.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

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

// Deliberately broken models -------------------------------------------------------
//
// A two-convolution network x[1,3,16,16] -> Conv(8, 3x3, pad 1) -> Relu -> Conv(8, 3x3,
// pad 1) -> y, with seeded weights and biases of the size trained networks carry, and
// variants with one bug each that keeps every shape: the output has the same shape, so
// only the numbers can tell.
struct Bugs {
  bool swap_layout = false;    // second weight's O and I axes swapped (IOHW read as OIHW)
  bool no_bias = false;        // second conv without its bias
  bool wrong_padding = false;  // first conv padded (0,0,2,2) instead of (1,1,1,1)
};

std::string two_convs(const Bugs& bugs) {
  std::mt19937 rng(11);
  auto uniform = [&rng](int n, float bound) {
    std::uniform_real_distribution<float> d(-bound, bound);
    std::vector<float> v(static_cast<std::size_t>(n));
    for (float& x : v) x = d(rng);
    return v;
  };
  const auto w1 = uniform(8 * 3 * 9, 0.35f);
  const auto b1 = uniform(8, 0.1f);
  auto w2 = uniform(8 * 8 * 9, 0.2f);
  const auto b2 = uniform(8, 0.1f);
  if (bugs.swap_layout) {
    auto swapped = w2;
    for (int o = 0; o < 8; ++o)
      for (int i = 0; i < 8; ++i)
        for (int k = 0; k < 9; ++k) swapped[(i * 8 + o) * 9 + k] = w2[(o * 8 + i) * 9 + k];
    w2 = swapped;
  }
  ::onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(13);
  auto* g = model.mutable_graph();
  g->set_name("two_convs");
  auto add_weight = [g](const std::string& name, const std::vector<std::int64_t>& dims, const std::vector<float>& v) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(::onnx::TensorProto::FLOAT);
    for (std::int64_t d : dims) t->add_dims(d);
    t->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4));
  };
  add_weight("w1", {8, 3, 3, 3}, w1);
  add_weight("b1", {8}, b1);
  add_weight("w2", {8, 8, 3, 3}, w2);
  if (!bugs.no_bias) add_weight("b2", {8}, b2);
  auto conv = [g](const std::string& name, std::vector<std::string> inputs, const std::string& out,
                  const std::vector<std::int64_t>& pads) {
    auto* n = g->add_node();
    n->set_op_type("Conv");
    n->set_name(name);
    for (const auto& i : inputs) n->add_input(i);
    n->add_output(out);
    auto* a = n->add_attribute();
    a->set_name("pads");
    a->set_type(::onnx::AttributeProto::INTS);
    for (std::int64_t p : pads) a->add_ints(p);
  };
  conv("conv1", {"x", "w1", "b1"}, "c1",
       bugs.wrong_padding ? std::vector<std::int64_t>{0, 0, 2, 2} : std::vector<std::int64_t>{1, 1, 1, 1});
  auto* relu = g->add_node();
  relu->set_op_type("Relu");
  relu->set_name("relu");
  relu->add_input("c1");
  relu->add_output("r1");
  conv("conv2", bugs.no_bias ? std::vector<std::string>{"r1", "w2"} : std::vector<std::string>{"r1", "w2", "b2"}, "y",
       {1, 1, 1, 1});
  auto typed = [](::onnx::ValueInfoProto* v, const std::string& name, int channels) {
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(::onnx::TensorProto::FLOAT);
    for (int d : {1, channels, 16, 16}) tt->mutable_shape()->add_dim()->set_dim_value(d);
  };
  typed(g->add_input(), "x", 3);
  typed(g->add_output(), "y", 8);
  return model.SerializeAsString();
}

fs::path write_model(const std::string& name, const std::string& bytes) {
  const fs::path path = infercast::testing::temp_path(name);
  infercast::testing::write_file(path, bytes);
  return path;
}

// The reference runtime for model-against-model checks: ONNX Runtime when installed,
// else XNNPACK itself (the broken model runs on the reference side either way).
std::string reference_runtime() {
  return ort_installed() ? "ort" : "xnnpack";
}

TEST(CliVerify, CorrectModelPassesByDefault) {
  const fs::path good = write_model("infercast_verify_good.onnx", two_convs({}));
  const fs::path json = infercast::testing::temp_path("infercast_verify_good.json");
  EXPECT_EQ(
      cli(good.string() + " --runtime xnnpack --reference " + reference_runtime() + " --format json", json.string()),
      0);
  const auto doc = nlohmann::json::parse(std::ifstream(json));
  EXPECT_EQ(doc["rule"], "scaled");
  EXPECT_EQ(doc["tolerance"], 1e-3);
  const auto& y = doc["outputs"][0];
  EXPECT_LT(y["max_rel_error"].get<double>(), 1e-5);
  EXPECT_GT(y["cosine"].get<double>(), 0.99999);
  EXPECT_TRUE(y["sqnr_db"].is_null() || y["sqnr_db"].get<double>() > 80) << y;
}

TEST(CliVerify, BrokenModelsFail) {
  const fs::path good = write_model("infercast_verify_good2.onnx", two_convs({}));
  const std::vector<std::pair<std::string, Bugs>> cases = {{"swapped_layout", {true, false, false}},
                                                           {"no_bias", {false, true, false}},
                                                           {"wrong_padding", {false, false, true}}};
  for (const auto& [name, bugs] : cases) {
    const fs::path broken = write_model("infercast_verify_" + name + ".onnx", two_convs(bugs));
    const fs::path json = infercast::testing::temp_path("infercast_verify_" + name + ".json");
    EXPECT_EQ(cli(good.string() + " --runtime xnnpack --reference " + reference_runtime() + " --reference-model " +
                      broken.string() + " --format json",
                  json.string()),
              1)
        << name;
    const auto doc = nlohmann::json::parse(std::ifstream(json));
    const auto& y = doc["outputs"][0];
    EXPECT_FALSE(doc["pass"].get<bool>()) << name;
    EXPECT_EQ(y["note"], "") << name;  // same shape: judged on the numbers
    EXPECT_GT(y["max_rel_error"].get<double>(), 1e-2) << name << ": " << y;
    EXPECT_LT(y["cosine"].get<double>(), 0.9999) << name << ": " << y;
    std::cerr << name << ": max rel err " << y["max_rel_error"] << ", cosine " << y["cosine"] << ", SQNR "
              << y["sqnr_db"] << " dB\n";
  }
}

TEST(CliVerify, ExplicitTolerancesAreNumpyAllclose) {
  const fs::path good = write_model("infercast_verify_good3.onnx", two_convs({}));
  const fs::path json = infercast::testing::temp_path("infercast_verify_allclose.json");
  // Zero tolerance against the same runtime on the same model: bit-identical passes.
  EXPECT_EQ(
      cli(good.string() + " --runtime xnnpack --reference xnnpack --rtol 0 --atol 0 --format json", json.string()), 0);
  const auto doc = nlohmann::json::parse(std::ifstream(json));
  EXPECT_EQ(doc["rule"], "allclose");
  EXPECT_EQ(doc["rtol"], 0.0);
  EXPECT_TRUE(doc["tolerance"].is_null());
  EXPECT_TRUE(doc["outputs"][0]["identical"].get<bool>());
  // --tolerance and --rtol/--atol are two rules: giving both is a usage error.
  EXPECT_EQ(cli(good.string() + " --runtime xnnpack --reference xnnpack --tolerance 1e-3 --rtol 1e-4"), 2);
  EXPECT_EQ(cli(good.string() + " --runtime xnnpack --reference xnnpack --tolerance -1"), 2);
}

// Real models: correct results computed in a different summation order pass by default.
const fs::path kModels = kSource / ".cache/models";

TEST(CliVerify, Resnet50XnnpackAgainstOrtPasses) {
  const fs::path model = kModels / "torchvision/resnet50.onnx";
  if (!ort_installed() || !fs::exists(model)) GTEST_SKIP() << "needs runners/ort and " << model;
  const fs::path json = infercast::testing::temp_path("infercast_verify_resnet50.json");
  EXPECT_EQ(cli(model.string() + " --runtime xnnpack --reference ort --format json", json.string()), 0);
  const auto doc = nlohmann::json::parse(std::ifstream(json));
  const auto& y = doc["outputs"][0];
  EXPECT_LT(y["max_rel_error"].get<double>(), 1e-4) << y;
  EXPECT_GT(y["cosine"].get<double>(), 0.99999) << y;
  std::cerr << "resnet50: max abs err " << y["max_abs_error"] << ", max rel err " << y["max_rel_error"] << ", cosine "
            << y["cosine"] << ", SQNR " << y["sqnr_db"] << " dB\n";
}

TEST(CliVerify, FaceDetectorExportAgainstOriginalPasses) {
  const fs::path model = kModels / "mediapipe/face_detection_short_range.tflite";
  if (!ort_installed() || !fs::exists(model)) GTEST_SKIP() << "needs runners/ort and " << model;
  const fs::path exported = infercast::testing::temp_path("infercast_verify_fd.onnx");
  const std::string export_cmd =
      std::string(INFERCAST_CLI) + " export " + model.string() + " --to onnx -o " + exported.string() + " >/dev/null";
  ASSERT_EQ(std::system(export_cmd.c_str()), 0);
  const fs::path json = infercast::testing::temp_path("infercast_verify_fd.json");
  EXPECT_EQ(cli(model.string() + " --runtime xnnpack --reference ort --reference-model " + exported.string() +
                    " --format json",
                json.string()),
            0);
  const auto doc = nlohmann::json::parse(std::ifstream(json));
  for (const auto& y : doc["outputs"]) {
    EXPECT_TRUE(y["pass"].get<bool>()) << y;
    std::cerr << "face_detection_short_range " << y["name"] << ": max rel err " << y["max_rel_error"] << ", cosine "
              << y["cosine"] << ", SQNR " << y["sqnr_db"] << " dB\n";
  }
}

}  // namespace
