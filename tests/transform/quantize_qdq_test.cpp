// The QDQ ONNX form of a quantized model: what the ONNX writer makes of the int8
// TFLite graph. References nobody here wrote: the ONNX checker (python3-onnx, full
// check with strict shape inference) and ONNX Runtime running it with its own int8
// kernels, against the int8 TFLite form on XNNPACK.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include "../test_files.hpp"
#include "infercast/base/error.hpp"
#include "infercast/export/export.hpp"
#include "infercast/import/import.hpp"
#include "infercast/runtime/runtime.hpp"
#include "infercast/transform/quantize.hpp"

namespace {

namespace fs = std::filesystem;
using infercast::ir::DType;
namespace transform = infercast::transform;

const fs::path kSource = INFERCAST_SOURCE_DIR;
const fs::path kFace = kSource / ".cache/models/mediapipe/face_detection_short_range.tflite";
// Fire modules: CONCATENATION of two branches, MAX_POOL_2D, global average, RELU.
const fs::path kSqueezenet = kSource / ".cache/models/torchvision/squeezenet1_1.onnx";
const fs::path kTorchvision = kSource / ".cache/models/torchvision";

bool ort_installed() {
  return fs::exists(kSource / "runners/ort/node_modules/onnxruntime-node/package.json");
}

int run(const std::string& command, std::string* output) {
  const fs::path log = infercast::testing::temp_path("infercast_qdq_cmd.log");
  const int status = std::system((command + " > " + log.string() + " 2>&1").c_str());
  *output = infercast::testing::read_file(log);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

transform::QuantizedModel quantize_full(const fs::path& model) {
  transform::QuantizeOptions options;
  options.mode = transform::QuantizeMode::kFull;
  options.calibration = "random:2";
  return transform::quantize(infercast::import::load_model(model), options);
}

fs::path write_qdq(const transform::QuantizedModel& q, const std::string& name) {
  const fs::path path = infercast::testing::temp_path(name);
  infercast::testing::write_file(path, infercast::exporter::to_onnx(q.graph));
  return path;
}

TEST(QuantizeQdq, OnnxPassesTheCheckerAndCarriesTheTfliteParameters) {
  if (!fs::exists(kFace)) GTEST_SKIP() << kFace << " is absent (make models fetches it)";
  const auto q = quantize_full(kFace);
  const fs::path path = write_qdq(q, "infercast_face_qdq.onnx");
  std::string message;
  const int checked =
      run("/usr/bin/python3 " + (kSource / "tests/reference/onnx_check.py").string() + " " + path.string(), &message);
  if (checked == 3) GTEST_SKIP() << "python3-onnx is not installed";
  EXPECT_EQ(checked, 0) << message;

  // The layout ONNX Runtime's quantizer writes: every Conv reads DequantizeLinear
  // outputs only (activation, int8 weights per output channel on axis 0, int32 bias).
  onnx::ModelProto model;
  ASSERT_TRUE(model.ParseFromString(infercast::testing::read_file(path)));
  std::map<std::string, const onnx::NodeProto*> producer;
  for (const auto& n : model.graph().node()) {
    for (const auto& o : n.output()) producer[o] = &n;
  }
  std::map<std::string, const onnx::TensorProto*> init;
  for (const auto& t : model.graph().initializer()) init[t.name()] = &t;
  int convs = 0;
  for (const auto& n : model.graph().node()) {
    if (n.op_type() != "Conv") continue;
    ++convs;
    ASSERT_EQ(n.input_size(), 3) << n.name();
    for (int k = 0; k < 3; ++k) {
      ASSERT_TRUE(producer.count(n.input(k))) << n.name() << " input " << k;
      EXPECT_EQ(producer[n.input(k)]->op_type(), "DequantizeLinear") << n.name() << " input " << k;
    }
    const onnx::NodeProto& w = *producer[n.input(1)];
    ASSERT_TRUE(init.count(w.input(0)));
    EXPECT_EQ(init[w.input(0)]->data_type(), onnx::TensorProto::INT8);
    const auto out_channels = init[w.input(0)]->dims(0);
    ASSERT_TRUE(init.count(w.input(1)));
    EXPECT_EQ(init[w.input(1)]->dims_size(), 1);
    EXPECT_EQ(init[w.input(1)]->dims(0), out_channels) << "one weight scale per output channel";
    bool axis0 = false;
    for (const auto& a : w.attribute()) axis0 = axis0 || (a.name() == "axis" && a.i() == 0);
    EXPECT_TRUE(axis0) << n.name();
    const onnx::NodeProto& b = *producer[n.input(2)];
    ASSERT_TRUE(init.count(b.input(0)));
    EXPECT_EQ(init[b.input(0)]->data_type(), onnx::TensorProto::INT32);
    EXPECT_EQ(init[b.input(2)]->data_type(), onnx::TensorProto::INT32);
    // The Conv's output goes straight into its QuantizeLinear (RELU folded into its range).
  }
  EXPECT_GE(convs, 30);

  // Re-imported, every int8 activation of the TFLite form is a uint8 tensor of the QDQ
  // model with the same scale and its zero point + 128 (read from its Q/DQ nodes): the
  // same real values, in the activation dtype ONNX Runtime's x86 int8 kernels take.
  const auto back = infercast::import::load_model(path);
  int matched = 0, activations = 0;
  for (const auto& t : q.graph.tensors) {
    if (t.dtype != DType::kInt8 || t.is_constant()) continue;
    ++activations;
    for (const std::string& name : {t.name, t.name + "__nchw"}) {
      const int id = back.find_tensor(name);
      if (id < 0) continue;
      const auto& u = back.tensors[static_cast<std::size_t>(id)];
      ASSERT_EQ(u.dtype, DType::kUInt8) << name;
      ASSERT_EQ(u.quant.scales.size(), 1u) << name;
      EXPECT_EQ(u.quant.scales[0], t.quant.scales[0]) << name;
      EXPECT_EQ(u.quant.zero_points[0], t.quant.zero_points[0] + 128) << name;
      ++matched;
      break;
    }
  }
  EXPECT_GT(activations, 50);
  EXPECT_EQ(matched, activations);
  // analyze counts the QDQ model's weights as int8 and int32, as the TFLite form's.
  const auto weights = transform::weight_bytes_by_dtype(back);
  EXPECT_EQ(weights.count("float16"), 0u);
  // (plus the int8 zero points, one per weight channel and activation).
  const double int8_ratio = static_cast<double>(weights.at("int8")) /
                            static_cast<double>(transform::weight_bytes_by_dtype(q.graph).at("int8"));
  EXPECT_GE(int8_ratio, 1.0);
  EXPECT_LT(int8_ratio, 1.1);
}

// The cross-runtime figure of docs/int8.md: the same parameters, two runtimes and
// two files, XNNPACK's fixed-point kernels against ONNX Runtime's int8 kernels.
TEST(QuantizeQdq, XnnpackAndOnnxRuntimeAgreeWithinOneStep) {
  if (!ort_installed()) GTEST_SKIP() << "runners/ort/node_modules is absent: run scripts/install_runners.sh";
  int models = 0;
  for (const fs::path& model : {kFace, kSqueezenet}) {
    if (!fs::exists(model)) continue;
    ++models;
    const auto q = quantize_full(model);
    const fs::path path = write_qdq(q, "infercast_" + model.stem().string() + "_qdq.onnx");
    const auto written = infercast::import::load_model(path);
    const auto reference = transform::float_tflite_form(infercast::import::load_model(model));
    const auto agreement = transform::compare_runtimes(reference, q.graph, written, "ort", 3, 42, 1);
    ASSERT_EQ(agreement.size(), q.graph.outputs.size());
    for (const auto& a : agreement) {
      EXPECT_GT(a.step, 0.0) << model << " " << a.name;
      EXPECT_GE(a.within_step, 0.99) << model << " " << a.name << ": max " << a.max_steps << " steps";
      // The one-step yardstick moved an input element the int8 model sees (its input is
      // quantized, directly or behind a transpose) and the change reached the output.
      EXPECT_GE(a.one_step_within, 0.0) << model << " " << a.name;
      EXPECT_LE(a.one_step_within, 1.0) << model << " " << a.name;
      EXPECT_GT(a.one_step_max_steps, 0.0) << model << " " << a.name;
      // ONNX Runtime ran the file a second time with its graph optimizations off.
      EXPECT_GE(a.unoptimized_within, 0.0) << model << " " << a.name;
      EXPECT_LE(a.unoptimized_within, 1.0) << model << " " << a.name;
    }
  }
  if (models == 0) GTEST_SKIP() << "no test model is present (make models fetches them)";
}

// ONNX Runtime is the reference for which QDQ groups it fuses: its per-layer profile
// names the op each layer ran as. In a quantized ResNet (residual Adds reading a tensor
// that a convolution also reads, explicit PADs before strided convolutions, a global
// average) and MobileNetV2 (depthwise, inverted residuals), every convolution must run
// as QLinearConv, every Add as QLinearAdd, and nothing between the interface's
// QuantizeLinear and DequantizeLinear may run in float: no Conv, Add, Pad, ReduceMean,
// DequantizeLinear or QuantizeLinear layer inside. (With int8 activations ONNX
// Runtime 1.30 ran 8 of resnet18's 20 and 15 of mobilenet_v2's 52 convolutions in
// float: it turns an int8 QuantizeLinear -> DequantizeLinear pair into uint8, the
// activation type of its x86 kernels, only when the QuantizeLinear has one reader.)
TEST(QuantizeQdq, OnnxRuntimeFusesEveryConvolutionOfQuantizedTorchvisionModels) {
  if (!ort_installed()) GTEST_SKIP() << "runners/ort/node_modules is absent: run scripts/install_runners.sh";
  int models = 0;
  for (const char* name : {"resnet18", "mobilenet_v2"}) {
    const fs::path model = kTorchvision / (std::string(name) + ".onnx");
    if (!fs::exists(model)) continue;
    ++models;
    SCOPED_TRACE(name);
    const fs::path path = write_qdq(quantize_full(model), std::string("infercast_fused_") + name + ".onnx");
    const auto written = infercast::import::load_model(path);
    std::map<std::string, int> written_ops;
    int input_quantizers = 0;
    for (const auto& n : written.nodes) {
      ++written_ops[n.source_op];
      if (n.source_op == "QuantizeLinear" &&
          std::find(written.inputs.begin(), written.inputs.end(), n.inputs[0]) != written.inputs.end())
        ++input_quantizers;
    }
    // The lowering's NCHW -> NHWC Transpose after the input is not written as a Transpose
    // pair around the QuantizeLinear: it quantizes the NCHW input itself.
    EXPECT_EQ(input_quantizers, static_cast<int>(written.inputs.size()));
    auto ort = infercast::runtime::make_runtime("ort");
    ort->prepare(written, {1});
    infercast::runtime::RunOptions options;
    options.per_layer = true;
    options.protocol.warmup = 1;
    options.protocol.min_repeats = 1;
    options.protocol.max_repeats = 1;
    options.protocol.min_time_s = 0;
    options.protocol.max_remeasure = 0;
    const auto result = ort->run(options);
    std::map<std::string, int> ran;
    for (const auto& layer : result.layers) ++ran[layer.op];
    EXPECT_GE(written_ops["Conv"], 20);
    EXPECT_EQ(ran["QLinearConv"], written_ops["Conv"]);
    EXPECT_EQ(ran["QLinearAdd"], written_ops["Add"]);
    for (const char* unfused : {"Conv", "Add", "Pad", "ReduceMean"}) EXPECT_EQ(ran[unfused], 0) << unfused;
    EXPECT_EQ(ran["QuantizeLinear"], static_cast<int>(written.inputs.size())) << "only the interface's";
    EXPECT_EQ(ran["DequantizeLinear"], static_cast<int>(written.outputs.size())) << "only the interface's";
  }
  if (models == 0) GTEST_SKIP() << "no torchvision model is present (make models fetches them)";
}

TEST(QuantizeQdq, CliWritesBothFormsAndRefusesAnUnknownExtension) {
  if (!fs::exists(kFace)) GTEST_SKIP() << kFace << " is absent";
  const fs::path tflite = infercast::testing::temp_path("infercast_cli_q.tflite");
  const fs::path onnx = infercast::testing::temp_path("infercast_cli_q.onnx");
  std::string out;
  const std::string cli = std::string(INFERCAST_CLI) + " quantize " + kFace.string() + " --calibration random:2";
  ASSERT_EQ(run(cli + " --samples 2 -o " + tflite.string() + " -o " + onnx.string(), &out), 0) << out;
  EXPECT_NE(out.find("QDQ ONNX"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(tflite));
  EXPECT_TRUE(fs::exists(onnx));
  const fs::path bad = infercast::testing::temp_path("infercast_cli_q.bin");
  EXPECT_EQ(run(cli + " -o " + bad.string(), &out), 2) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_NE(out.find(".onnx"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(bad));
  EXPECT_EQ(run(cli + " --check-runtime ort -o " + tflite.string(), &out), 2) << out;
  EXPECT_NE(out.find("--check-runtime"), std::string::npos) << out;
}

}  // namespace
