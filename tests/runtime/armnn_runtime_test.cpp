// The armnn runtime: Arm NN's own TFLite parser and CpuRef kernels against XNNPACK on
// the same .tflite files, and Arm NN's refusals reported as one line. Skipped only
// when this build has no Arm NN (CMake did not find it).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "../test_files.hpp"
#include "infercast/base/error.hpp"
#include "infercast/export/export.hpp"
#include "infercast/import/import.hpp"
#include "infercast/runtime/runtime.hpp"
#include "infercast/runtime/verify.hpp"
#include "tflite_generated.h"

namespace infercast::runtime {
namespace {

namespace fs = std::filesystem;
const fs::path kSource = INFERCAST_SOURCE_DIR;

int shell(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

fs::path out_dir() {
  const fs::path dir = infercast::testing::temp_path("infercast_armnn_test");
  fs::create_directories(dir);
  return dir;
}

// The armnn runtime, or nullptr when this build has none.
std::unique_ptr<Runtime> armnn_or_null() {
  try {
    return make_runtime("armnn");
  } catch (const Error& e) {
    EXPECT_NE(e.reason().find("not built"), std::string::npos) << e.what();
    return nullptr;
  }
}

// Arm NN and XNNPACK on the same file and the same random inputs; their outputs.
std::vector<OutputComparison> compare_with_xnnpack(const fs::path& tfl) {
  const ir::Graph g = import::load_model(tfl);
  auto armnn = make_runtime("armnn");
  auto xnnpack = make_runtime("xnnpack");
  armnn->prepare(g, {1});
  xnnpack->prepare(g, {1});
  const auto inputs = random_inputs(g, 42);
  return compare_outputs(armnn->infer(inputs), xnnpack->infer(inputs), Tolerance());
}

// A small convolutional net, written by Python's onnx and exported by infercast: every
// form the writer picks for torchvision models (fused BatchNorm and activations,
// explicit PAD, max pooling over ReLU output padded with zeros, depthwise convolution,
// residual ADD, MEAN, FULLY_CONNECTED, SOFTMAX).
TEST(ArmnnRuntime, AgreesWithXnnpackOnAnExportedNet) {
  if (armnn_or_null() == nullptr) GTEST_SKIP() << "Arm NN was not found at build time";
  const fs::path dir = out_dir();
  const fs::path onnx = dir / "small.onnx", tfl = dir / "small.tflite", script = dir / "small.py";
  testing::write_file(script, R"PY(import sys
import numpy as np
from onnx import helper, numpy_helper, TensorProto, save
rng = np.random.default_rng(3)
inits = []
def const(name, *shape, positive=False):
    a = rng.standard_normal(shape).astype(np.float32) * 0.5
    if positive:
        a = np.abs(a) + 0.5
    inits.append(numpy_helper.from_array(a, name))
    return name
nodes = [
    helper.make_node("Conv", ["x", const("w1", 8, 3, 3, 3), const("b1", 8)], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2]),
    helper.make_node("BatchNormalization", ["c1", const("g", 8), const("b", 8), const("m", 8),
                     const("v", 8, positive=True)], ["n1"]),
    helper.make_node("Relu", ["n1"], ["r1"]),
    helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    helper.make_node("Conv", ["p1", const("w2", 8, 1, 3, 3)], ["c2"], pads=[1, 1, 1, 1], group=8),
    helper.make_node("Clip", ["c2", "lo", "hi"], ["r2"]),
    helper.make_node("Add", ["p1", "r2"], ["s1"]),
    helper.make_node("GlobalAveragePool", ["s1"], ["g1"]),
    helper.make_node("Flatten", ["g1"], ["f1"]),
    helper.make_node("Gemm", ["f1", const("w3", 10, 8), const("b3", 10)], ["fc"], transB=1),
    helper.make_node("Softmax", ["fc"], ["y"], axis=-1),
]
inits += [numpy_helper.from_array(np.array(0, np.float32), "lo"), numpy_helper.from_array(np.array(6, np.float32), "hi")]
graph = helper.make_graph(nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 7
save(model, sys.argv[1])
)PY");
  ASSERT_EQ(shell("/usr/bin/python3 " + script.string() + " " + onnx.string()), 0);
  exporter::save(import::load_model(onnx), tfl, exporter::Format::kTflite);
  int padv2 = 0;
  for (const ir::Node& n : import::load_model(tfl).nodes) padv2 += n.source_op == "PADV2";
  EXPECT_EQ(padv2, 0) << "max pooling over a ReLU is padded with zeros (PAD), which Arm NN reads";

  const auto result = compare_with_xnnpack(tfl);
  ASSERT_EQ(result.size(), 1u);
  EXPECT_TRUE(result[0].pass) << "max error " << result[0].max_abs_error << " " << result[0].note;
  EXPECT_LT(result[0].max_rel_error, 1e-4);
}

// A MediaPipe model: its float16 weights (DEQUANTIZE ops) are refused by Arm NN
// 20.08's parser (RefusalIsOneClearLine), so it runs the float32 TFLite infercast
// writes from it through ONNX (the same operators, weights as float32 constants).
TEST(ArmnnRuntime, AgreesWithXnnpackOnAMediapipeModel) {
  if (armnn_or_null() == nullptr) GTEST_SKIP() << "Arm NN was not found at build time";
  const fs::path original = kSource / ".cache/models/mediapipe/face_detection_short_range.tflite";
  if (!fs::exists(original)) GTEST_SKIP() << original << " not found; run `make models`";
  const fs::path dir = out_dir();
  const fs::path onnx = dir / "face.onnx", tfl = dir / "face_fp32.tflite";
  exporter::save(import::load_model(original), onnx, exporter::Format::kOnnx);
  exporter::save(import::load_model(onnx), tfl, exporter::Format::kTflite);

  const auto result = compare_with_xnnpack(tfl);
  ASSERT_EQ(result.size(), 2u);  // box regressors, scores
  for (const OutputComparison& c : result) {
    EXPECT_TRUE(c.pass) << c.name << ": max error " << c.max_abs_error << " " << c.note;
    EXPECT_LT(c.max_rel_error, 1e-4) << c.name;
  }
}

// What Arm NN refuses comes back from prepare as one line naming the file, the node,
// its TFLite op and Arm NN's reason; nothing crashes.
TEST(ArmnnRuntime, RefusalIsOneClearLine) {
  if (armnn_or_null() == nullptr) GTEST_SKIP() << "Arm NN was not found at build time";
  const fs::path original = kSource / ".cache/models/mediapipe/face_detection_short_range.tflite";
  if (!fs::exists(original)) GTEST_SKIP() << original << " not found; run `make models`";
  const ir::Graph g = import::load_model(original);
  auto armnn = make_runtime("armnn");
  int refused = 0;
  for (int i = 0; i < static_cast<int>(g.nodes.size()); ++i) refused += !armnn->supports(g, i).ok;
  EXPECT_EQ(refused, 1) << "the parser stops at the first operator it cannot read";
  try {
    armnn->prepare(g, {1});
    FAIL() << "Arm NN 20.08 has no parser for float16 weights behind DEQUANTIZE";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    EXPECT_NE(what.find("face_detection_short_range.tflite"), std::string::npos) << what;
    EXPECT_NE(what.find("CONV_2D"), std::string::npos) << what;
    EXPECT_NE(what.find("Arm NN"), std::string::npos) << what;
  }

  // An ONNX graph is not Arm NN's to read: every node says why.
  const fs::path onnx = out_dir() / "face.onnx";
  exporter::save(g, onnx, exporter::Format::kOnnx);
  const ir::Graph o = import::load_model(onnx);
  EXPECT_FALSE(armnn->supports(o, 0).ok);
  EXPECT_THROW(armnn->prepare(o, {1}), Error);

  // The CLI: exit code 2, one line on stderr.
  const fs::path err = out_dir() / "refusal.txt";
  const int rc = shell(std::string(INFERCAST_CLI) + " verify " + original.string() +
                       " --runtime armnn --reference xnnpack > /dev/null 2> " + err.string());
  const std::string text = testing::read_file(err);
  EXPECT_EQ(rc, 2) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
}

// Bilinear resizes: Arm NN 20.08 computes half_pixel_centers = true as if it were
// false, so that form is refused on its node; align_corners it computes right (checked
// here against XNNPACK, which agrees with ONNX Runtime on both).
TEST(ArmnnRuntime, RefusesTheResizeItComputesWrong) {
  if (armnn_or_null() == nullptr) GTEST_SKIP() << "Arm NN was not found at build time";
  const fs::path dir = out_dir();
  for (const std::string mode : {"half_pixel", "align_corners"}) {
    SCOPED_TRACE(mode);
    const fs::path onnx = dir / ("resize_" + mode + ".onnx"), tfl = dir / ("resize_" + mode + ".tflite");
    const fs::path script = dir / "resize.py";
    testing::write_file(script, R"PY(import sys
import numpy as np
from onnx import helper, numpy_helper, TensorProto, save
nodes = [helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="linear", coordinate_transformation_mode=sys.argv[2])]
inits = [numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")]
graph = helper.make_graph(nodes, "resize", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 6, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 12, 12])], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 7
save(model, sys.argv[1])
)PY");
    ASSERT_EQ(shell("/usr/bin/python3 " + script.string() + " " + onnx.string() + " " + mode), 0);
    exporter::save(import::load_model(onnx), tfl, exporter::Format::kTflite);
    const ir::Graph g = import::load_model(tfl);
    auto armnn = make_runtime("armnn");
    std::string reasons;
    for (int i = 0; i < static_cast<int>(g.nodes.size()); ++i) {
      const Support s = armnn->supports(g, i);
      if (!s.ok) reasons += g.nodes[static_cast<std::size_t>(i)].source_op + ": " + s.reason + "\n";
    }
    if (mode == "half_pixel") {
      EXPECT_NE(reasons.find("RESIZE_BILINEAR: Arm NN 20.08 ignores half_pixel_centers"), std::string::npos) << reasons;
      EXPECT_THROW(armnn->prepare(g, {1}), Error);
    } else {
      EXPECT_EQ(reasons, "");
      const auto result = compare_with_xnnpack(tfl);
      ASSERT_EQ(result.size(), 1u);
      EXPECT_TRUE(result[0].pass) << "max error " << result[0].max_abs_error;
    }
  }
}

// A TFLite file with int8 tensors at its interface: input "x" (float32 [1, 8]) ->
// QUANTIZE -> "q" (int8, scale 0.25, zero point 3; an output) -> DEQUANTIZE -> "y"
// (float32; an output), and a second input "p" (int8, same quantization) -> DEQUANTIZE
// -> "z" (float32; an output). Written with the TFLite schema's generated API.
std::string int8_model() {
  flatbuffers::FlatBufferBuilder fbb;
  const std::vector<flatbuffers::Offset<tflite::Buffer>> buffers{tflite::CreateBuffer(fbb)};
  const std::vector<std::int32_t> shape{1, 8};
  auto quant = [&] {
    const std::vector<float> scale{0.25f};
    const std::vector<std::int64_t> zero_point{3};
    return tflite::CreateQuantizationParametersDirect(fbb, nullptr, nullptr, &scale, &zero_point);
  };
  const std::vector<flatbuffers::Offset<tflite::Tensor>> tensors{
      tflite::CreateTensorDirect(fbb, &shape, tflite::TensorType::FLOAT32, 0, "x"),
      tflite::CreateTensorDirect(fbb, &shape, tflite::TensorType::INT8, 0, "q", quant()),
      tflite::CreateTensorDirect(fbb, &shape, tflite::TensorType::FLOAT32, 0, "y"),
      tflite::CreateTensorDirect(fbb, &shape, tflite::TensorType::INT8, 0, "p", quant()),
      tflite::CreateTensorDirect(fbb, &shape, tflite::TensorType::FLOAT32, 0, "z")};
  const std::vector<std::int32_t> in0{0}, out0{1}, in1{1}, out1{2}, in2{3}, out2{4};
  const std::vector<flatbuffers::Offset<tflite::Operator>> operators{tflite::CreateOperatorDirect(fbb, 0, &in0, &out0),
                                                                     tflite::CreateOperatorDirect(fbb, 1, &in1, &out1),
                                                                     tflite::CreateOperatorDirect(fbb, 1, &in2, &out2)};
  const std::vector<std::int32_t> inputs{0, 3}, outputs{1, 2, 4};
  const std::vector<flatbuffers::Offset<tflite::SubGraph>> subgraphs{
      tflite::CreateSubGraphDirect(fbb, &tensors, &inputs, &outputs, &operators, "main")};
  const std::vector<flatbuffers::Offset<tflite::OperatorCode>> codes{
      tflite::CreateOperatorCodeDirect(fbb, static_cast<std::int8_t>(tflite::BuiltinOperator::QUANTIZE), nullptr, 1,
                                       tflite::BuiltinOperator::QUANTIZE),
      tflite::CreateOperatorCodeDirect(fbb, static_cast<std::int8_t>(tflite::BuiltinOperator::DEQUANTIZE), nullptr, 1,
                                       tflite::BuiltinOperator::DEQUANTIZE)};
  tflite::FinishModelBuffer(fbb, tflite::CreateModelDirect(fbb, 3, &codes, &subgraphs, "int8", &buffers));
  return {reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize()};
}

// int8 tensors cross the runtime's interface as int8 (inputs and outputs), with the
// values TFLite's quantization rules give: real = scale * (q - zero_point).
TEST(ArmnnRuntime, RunsInt8Tensors) {
  if (armnn_or_null() == nullptr) GTEST_SKIP() << "Arm NN was not found at build time";
  const fs::path tfl = out_dir() / "int8.tflite";
  testing::write_file(tfl, int8_model());
  const ir::Graph g = import::load_model(tfl);
  auto armnn = make_runtime("armnn");
  armnn->prepare(g, {1});
  const auto inputs = random_inputs(g, 7);  // x: floats in [-1, 1); p: int8 in [0, 8)
  const auto out = armnn->infer(inputs);
  ASSERT_EQ(out.size(), 3u);
  ASSERT_EQ(out[0].dtype, ir::DType::kInt8);
  ASSERT_EQ(out[1].dtype, ir::DType::kFloat32);
  ASSERT_EQ(out[2].dtype, ir::DType::kFloat32);
  auto f32 = [](const HostTensor& t, int i) {
    float v;
    std::memcpy(&v, t.data.data() + 4 * i, 4);
    return v;
  };
  const HostTensor& x = inputs[0].name == "x" ? inputs[0] : inputs[1];
  const HostTensor& p = inputs[0].name == "p" ? inputs[0] : inputs[1];
  for (int i = 0; i < 8; ++i) {
    const int q = static_cast<std::int8_t>(out[0].data[static_cast<std::size_t>(i)]);
    EXPECT_FLOAT_EQ(f32(out[1], i), 0.25f * static_cast<float>(q - 3)) << i;
    EXPECT_LE(std::fabs(f32(out[1], i) - f32(x, i)), 0.125f + 1e-6f) << i;  // within half a step
    const int pi = static_cast<std::int8_t>(p.data[static_cast<std::size_t>(i)]);
    EXPECT_FLOAT_EQ(f32(out[2], i), 0.25f * static_cast<float>(pi - 3)) << i;
  }
}

}  // namespace
}  // namespace infercast::runtime
