// TFLite writer (src/export/tflite/): torchvision ONNX exports converted to NHWC match
// ONNX Runtime on the original through `infercast verify`; every written file decodes
// with flatc and the project's schema; the five MediaPipe models round-trip
// (import(export(g)) has the same ops, attributes, shapes and weight bytes); hostile
// graphs give one-line errors.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../test_files.hpp"
#include "infercast/base/error.hpp"
#include "infercast/export/export.hpp"
#include "infercast/import/import.hpp"
#include "infercast/ir/graph.hpp"
#include "infercast/runtime/runtime.hpp"
#include "tflite_generated.h"

namespace infercast::exporter {
namespace {

namespace fs = std::filesystem;
const fs::path kSource = INFERCAST_SOURCE_DIR;

fs::path model_path(const std::string& folder, const std::string& file) {
  return kSource / ".cache" / "models" / folder / file;
}

fs::path out_dir() {
  const fs::path dir = infercast::testing::temp_path("infercast_tflite_export_test");
  fs::create_directories(dir);
  return dir;
}

// Runs a shell command; its exit code (-1 on a signal).
int shell(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool ort_installed() {
  return fs::exists(kSource / "runners/ort/node_modules/onnxruntime-node/package.json");
}

// flatc (the flatbuffers compiler, nobody here wrote it) decodes `file` with the
// project's schema; returns the JSON.
nlohmann::json flatc_decode(const fs::path& file) {
  const fs::path dir = out_dir() / ("flatc_" + file.stem().string());
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string cmd = "flatc --json --strict-json --raw-binary -o " + dir.string() + " " +
                          (kSource / "schema/tflite.fbs").string() + " -- " + file.string() + " 2>&1";
  EXPECT_EQ(shell(cmd + " > " + (dir / "log.txt").string()), 0) << testing::read_file(dir / "log.txt");
  const fs::path json = dir / (file.stem().string() + ".json");
  if (!fs::exists(json)) return {};
  return nlohmann::json::parse(std::ifstream(json));
}

std::string export_to(const ir::Graph& g, const fs::path& path, const ExportOptions& options = {}) {
  const std::string bytes = to_tflite(g, options);
  testing::write_file(path, bytes);
  return bytes;
}

// ---------------------------------------------------------------------------
// torchvision (NCHW) -> NHWC TFLite, checked against ONNX Runtime on the original
// ---------------------------------------------------------------------------

void expect_same_graph(const ir::Graph& g, const ir::Graph& back);  // below

class TorchvisionExport : public ::testing::TestWithParam<const char*> {};

TEST_P(TorchvisionExport, MatchesOrtOnTheOriginal) {
  const fs::path onnx = model_path("torchvision", std::string(GetParam()) + ".onnx");
  if (!fs::exists(onnx)) GTEST_SKIP() << onnx << " not found; run `make test` to fetch the models";
  const ir::Graph g = import::load_model(onnx);
  const fs::path tfl = out_dir() / (std::string(GetParam()) + ".tflite");
  export_to(g, tfl);

  // The file reads back with the same interface: NCHW input and output, same names.
  const ir::Graph back = import::load_model(tfl);
  ASSERT_EQ(back.inputs.size(), g.inputs.size());
  ASSERT_EQ(back.outputs.size(), g.outputs.size());
  for (std::size_t i = 0; i < g.inputs.size(); ++i) {
    EXPECT_EQ(back.tensors[back.inputs[i]].name, g.tensors[g.inputs[i]].name);
    EXPECT_EQ(back.tensors[back.inputs[i]].shape, g.tensors[g.inputs[i]].shape);
  }
  for (std::size_t i = 0; i < g.outputs.size(); ++i) {
    EXPECT_EQ(back.tensors[back.outputs[i]].name, g.tensors[g.outputs[i]].name);
    EXPECT_EQ(back.tensors[back.outputs[i]].shape, g.tensors[g.outputs[i]].shape);
  }
  // Convolutions compute channels-last with no transposes between them: one at the
  // input, one before the flatten (or none where only 1x1 axes move).
  int transposes = 0;
  for (const ir::Node& n : back.nodes) transposes += n.op == ir::Op::Transpose;
  EXPECT_LE(transposes, 2);

  // The exported file is a TFLite graph like any other: written again, it round-trips.
  {
    SCOPED_TRACE("re-export of the exported file");
    const fs::path again = out_dir() / (std::string(GetParam()) + "_again.tflite");
    export_to(back, again);
    expect_same_graph(back, import::load_model(again));
  }

  const nlohmann::json doc = flatc_decode(tfl);
  ASSERT_TRUE(doc.contains("buffers"));
  EXPECT_FALSE(doc["buffers"][0].contains("data")) << "buffer 0 must be the empty sentinel";

  if (!ort_installed()) GTEST_SKIP() << "needs runners/ort (scripts/install_runners.sh)";
  const fs::path report = out_dir() / (std::string(GetParam()) + "_verify.json");
  const int rc = shell(std::string(INFERCAST_CLI) + " verify " + tfl.string() +
                       " --runtime xnnpack --reference ort --reference-model " + onnx.string() + " --format json > " +
                       report.string() + " 2>&1");
  const std::string text = testing::read_file(report);
  ASSERT_EQ(rc, 0) << text;
  const auto j = nlohmann::json::parse(text);
  EXPECT_TRUE(j["pass"].get<bool>()) << text;
  for (const auto& o : j["outputs"]) {
    std::cout << "[ verify   ] " << GetParam() << " " << o.dump() << "\n";
  }
}

INSTANTIATE_TEST_SUITE_P(Models, TorchvisionExport,
                         ::testing::Values("resnet18", "mobilenet_v2", "squeezenet1_1", "mobilenet_v3_small"),
                         [](const auto& info) { return std::string(info.param); });

// fp16 weights: float16 buffers behind DEQUANTIZE, the way the TFLite converter writes
// them; every float weight halves, the result stays close to the fp32 original.
TEST(TfliteExport, Fp16WeightsUseDequantize) {
  const fs::path onnx = model_path("torchvision", "mobilenet_v2.onnx");
  if (!fs::exists(onnx)) GTEST_SKIP() << onnx << " not found";
  const ir::Graph g = import::load_model(onnx);
  ExportOptions options;
  options.fp16_weights = true;
  const fs::path tfl = out_dir() / "mobilenet_v2_fp16.tflite";
  const std::string fp16 = export_to(g, tfl, options);
  const std::string fp32 = to_tflite(g);
  EXPECT_LT(fp16.size(), fp32.size() * 0.55);
  const ir::Graph back = import::load_model(tfl);
  int dequantize = 0, conv = 0;
  for (const ir::Node& n : back.nodes) {
    if (n.op == ir::Op::Dequantize) {
      ++dequantize;
      EXPECT_EQ(back.tensors[n.inputs[0]].dtype, ir::DType::kFloat16);
    }
    if (n.op == ir::Op::Conv) {
      ++conv;
      EXPECT_EQ(
          back.tensors[n.inputs[1]].producer >= 0 ? back.nodes[back.tensors[n.inputs[1]].producer].op : ir::Op::Other,
          ir::Op::Dequantize);
    }
  }
  EXPECT_EQ(dequantize, 2 * (conv + 1));  // weights and bias of every conv and the classifier
  flatc_decode(tfl);
  if (!ort_installed()) GTEST_SKIP() << "needs runners/ort";
  // fp16 weights change the numbers by about 1e-3 relative: a looser tolerance.
  EXPECT_EQ(shell(std::string(INFERCAST_CLI) + " verify " + tfl.string() +
                  " --runtime xnnpack --reference ort --rtol 2e-2 --atol 2e-2 --reference-model " + onnx.string() +
                  " > /dev/null 2>&1"),
            0);
}

// The conversion paths the torchvision exports leave out (they come with BatchNorm
// already folded): Conv + BatchNorm + Relu folded, a BatchNorm no conv precedes (MUL +
// ADD), ceil_mode max pooling over a ReLU (zero PAD, exact there), average pooling with
// count_include_pad (explicit PAD), depthwise + Clip(0, 6), Concat on channels, Gemm
// with transB=0, alpha and beta, Softmax. Built with Python onnx (onnx.helper, checked by
// onnx.checker), checked against ONNX Runtime on the original.
// Runs `body`, Python that builds an ONNX graph named `graph`, between the imports every
// such script needs and the model around it (opset 13, IR version 7; onnx.checker's full
// check when `check`), saved to `onnx`; the script sits beside the model.
void write_onnx(const fs::path& onnx, const std::string& body, bool check = true) {
  fs::path script = onnx;
  script.replace_extension(".py");
  testing::write_file(script,
                      "import sys\nimport numpy as np\nimport onnx\n"
                      "from onnx import helper, numpy_helper, TensorProto\n" +
                          body +
                          "model = helper.make_model(graph, opset_imports=[helper.make_opsetid(\"\", 13)])\n"
                          "model.ir_version = 7\n" +
                          (check ? "onnx.checker.check_model(model, full_check=True)\n" : "") +
                          "onnx.save(model, sys.argv[1])\n");
  ASSERT_EQ(shell("/usr/bin/python3 " + script.string() + " " + onnx.string()), 0);
}

// How many operators of each TFLite builtin the exported file holds.
std::map<std::string, int> op_census(const fs::path& tfl) {
  std::map<std::string, int> ops;
  for (const ir::Node& n : import::load_model(tfl).nodes) ++ops[n.source_op];
  return ops;
}

// `infercast verify`: XNNPACK on the exported file against ONNX Runtime on the original.
void expect_verified_against_ort(const fs::path& tfl, const fs::path& onnx) {
  const fs::path report = out_dir() / (tfl.stem().string() + "_verify.txt");
  EXPECT_EQ(shell(std::string(INFERCAST_CLI) + " verify " + tfl.string() +
                  " --runtime xnnpack --reference ort --reference-model " + onnx.string() + " > " + report.string() +
                  " 2>&1"),
            0)
      << testing::read_file(report);
}

TEST(TfliteExport, ConversionPathsMatchOrt) {
  const fs::path dir = out_dir();
  const fs::path onnx = dir / "paths.onnx", tfl = dir / "paths.tflite";
  ASSERT_NO_FATAL_FAILURE(write_onnx(onnx, R"PY(
rng = np.random.default_rng(7)
inits = []
def const(name, *shape, positive=False):
    a = rng.standard_normal(shape).astype(np.float32)
    if positive:
        a = np.abs(a) + 0.5
    inits.append(numpy_helper.from_array(a, name))
    return name
def bn(x, c, y):
    return helper.make_node("BatchNormalization", [x, const(y + "_g", c), const(y + "_b", c), const(y + "_m", c),
                            const(y + "_v", c, positive=True)], [y], epsilon=1e-3)
nodes = [
    helper.make_node("Conv", ["x", const("w1", 8, 3, 3, 3), const("b1", 8)], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2]),
    bn("c1", 8, "n1"),
    helper.make_node("Relu", ["n1"], ["r1"]),
    helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
    helper.make_node("Conv", ["p1", const("w2", 8, 1, 3, 3)], ["c2"], pads=[1, 1, 1, 1], group=8),
    bn("c2", 8, "n2"),
    helper.make_node("Clip", ["n2", "lo", "hi"], ["r2"]),
    helper.make_node("Concat", ["p1", "r2"], ["cat"], axis=1),
    bn("cat", 16, "n3"),
    helper.make_node("AveragePool", ["n3"], ["a1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1),
    helper.make_node("Sub", ["a1", const("bias4", 16, 1, 1)], ["s1"]),
    helper.make_node("GlobalAveragePool", ["s1"], ["g1"]),
    helper.make_node("Flatten", ["g1"], ["f1"]),
    helper.make_node("Gemm", ["f1", const("w5", 16, 10), const("b5", 10)], ["fc"], alpha=0.5, beta=2.0),
    helper.make_node("Softmax", ["fc"], ["y"], axis=-1),
]
inits += [numpy_helper.from_array(np.array(0, np.float32), "lo"), numpy_helper.from_array(np.array(6, np.float32), "hi")]
graph = helper.make_graph(nodes, "paths", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 35, 30])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10]),
                           helper.make_tensor_value_info("fc", TensorProto.FLOAT, [1, 10])], inits)
)PY"));
  const ir::Graph g = import::load_model(onnx);
  export_to(g, tfl);
  std::map<std::string, int> ops = op_census(tfl);
  EXPECT_EQ(ops["MUL"], 1);  // only the BatchNorm after the Concat stays
  EXPECT_EQ(ops["ADD"], 1);
  // ceil_mode max pooling over a ReLU's output: zero padding is exact, so PAD, not PADV2
  EXPECT_EQ(ops["PADV2"], 0);
  EXPECT_EQ(ops["PAD"], 3);  // the strided conv's pads, count_include_pad and the max pooling
  EXPECT_EQ(ops["RELU"] + ops["RELU6"], 0) << "activations fused";
  EXPECT_EQ(ops["DEPTHWISE_CONV_2D"], 1);
  flatc_decode(tfl);
  if (!ort_installed()) GTEST_SKIP() << "needs runners/ort";
  expect_verified_against_ort(tfl, onnx);
}

// What the transform passes leave in ONNX-origin graphs: Split (equal and unequal parts,
// also along NCHW channels of conv data), Sum (same shapes and broadcasting), Slice
// (unit steps, a step of 2, a negative step), Cast of float16 constants (the fp16
// pass's form, read by a Conv, a Gemm and a MatMul) and a Cast of data (float32 to
// float32: XNNPACK runs float32 data only). Checked against
// ONNX Runtime on the original by `infercast verify`.
TEST(TfliteExport, SplitSumSliceCastMatchOrt) {
  const fs::path dir = out_dir();
  const fs::path onnx = dir / "tensor_ops.onnx", tfl = dir / "tensor_ops.tflite";
  ASSERT_NO_FATAL_FAILURE(write_onnx(onnx, R"PY(
rng = np.random.default_rng(5)
inits = []
def const(name, a):
    inits.append(numpy_helper.from_array(np.asarray(a), name))
    return name
def half(name, *shape):
    return const(name, rng.standard_normal(shape).astype(np.float16))
def i64(name, values):
    return const(name, np.array(values, np.int64))
nodes = [
    helper.make_node("Cast", [half("w1", 8, 3, 3, 3)], ["w1f"], to=TensorProto.FLOAT),
    helper.make_node("Conv", ["x", "w1f"], ["c1"], pads=[1, 1, 1, 1]),
    helper.make_node("Split", ["c1", i64("s1", [2, 6])], ["p1", "p2"], axis=1),
    helper.make_node("Split", ["p2"], ["q1", "q2", "q3"], axis=1),
    helper.make_node("Sum", ["q1", "q2", "q3"], ["sum1"]),
    helper.make_node("Sum", ["sum1", "p1", const("bias1", rng.standard_normal((2, 1, 1)).astype(np.float32))], ["sum2"]),
    helper.make_node("Slice", ["sum2", i64("st1", [1, 0]), i64("en1", [9, 100]), i64("ax1", [2, 3])], ["sl1"]),
    helper.make_node("Slice", ["sl1", i64("st2", [-1, 0]), i64("en2", [-1000, 7]), i64("ax2", [2, 3]),
                               i64("sp2", [-1, 2])], ["sl2"]),
    helper.make_node("Flatten", ["sl2"], ["f1"]),
    helper.make_node("Cast", [half("w2", 10, 64)], ["w2f"], to=TensorProto.FLOAT),
    helper.make_node("Gemm", ["f1", "w2f"], ["g1"], transB=1),
    helper.make_node("Split", ["g1"], ["h1", "h2"], axis=1),
    helper.make_node("Cast", [half("w3", 5, 16)], ["w3f"], to=TensorProto.FLOAT),
    helper.make_node("MatMul", ["h2", "w3f"], ["m1"]),
    helper.make_node("Cast", ["m1"], ["y"], to=TensorProto.FLOAT),
]
graph = helper.make_graph(nodes, "tensor_ops", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 10, 9])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16]),
                           helper.make_tensor_value_info("h1", TensorProto.FLOAT, [1, 5])], inits)
)PY"));
  const ir::Graph g = import::load_model(onnx);
  export_to(g, tfl);
  std::map<std::string, int> ops = op_census(tfl);
  EXPECT_EQ(ops["SPLIT"], 2);
  EXPECT_EQ(ops["SPLIT_V"], 1);
  EXPECT_EQ(ops["ADD_N"], 1);
  EXPECT_EQ(ops["ADD"], 2) << "the broadcasting Sum of three is a chain of two ADDs";
  EXPECT_EQ(ops["SLICE"], 1);
  EXPECT_EQ(ops["STRIDED_SLICE"], 1);
  EXPECT_EQ(ops["DEQUANTIZE"], 3) << "the float16 weights stay float16";
  EXPECT_EQ(ops["CAST"], 1);
  const ir::Graph back = import::load_model(tfl);
  int half_constants = 0;
  for (const ir::Tensor& t : back.tensors) half_constants += t.is_constant() && t.dtype == ir::DType::kFloat16;
  EXPECT_EQ(half_constants, 3);
  flatc_decode(tfl);
  if (!ort_installed()) GTEST_SKIP() << "needs runners/ort";
  expect_verified_against_ort(tfl, onnx);
}

// Arm NN 20.08's TFLite parser, an independent reader, on SPLIT, SPLIT_V, a chain of
// broadcasting ADDs, SLICE and STRIDED_SLICE as the writer lowers ONNX Split, Sum and
// Slice (Arm NN has no ADD_N and takes no weights computed by DEQUANTIZE, so this model
// has float32 weights and broadcasting Sums), against ONNX Runtime on the original.
TEST(TfliteExport, SplitSumSliceMatchOrtOnArmnn) {
  try {
    runtime::make_runtime("armnn");
  } catch (const Error& e) {
    GTEST_SKIP() << e.what();
  }
  if (!ort_installed()) GTEST_SKIP() << "needs runners/ort";
  const fs::path dir = out_dir();
  const fs::path onnx = dir / "armnn_ops.onnx", tfl = dir / "armnn_ops.tflite";
  ASSERT_NO_FATAL_FAILURE(write_onnx(onnx, R"PY(
rng = np.random.default_rng(5)
inits = []
def const(name, a):
    inits.append(numpy_helper.from_array(np.asarray(a), name))
    return name
def i64(name, v):
    return const(name, np.array(v, np.int64))
def f(name, *s):
    return const(name, rng.standard_normal(s).astype(np.float32))
nodes = [
    helper.make_node("Conv", ["x", f("w1", 8, 3, 3, 3)], ["c1"], pads=[1, 1, 1, 1]),
    helper.make_node("Split", ["c1", i64("s1", [2, 6])], ["p1", "p2"], axis=1),
    helper.make_node("Split", ["p2"], ["q1", "q2", "q3"], axis=1),
    helper.make_node("Sum", ["q1", "q2", f("bias0", 2, 1, 1)], ["sum1"]),
    helper.make_node("Sum", ["sum1", "p1", f("bias1", 2, 1, 1)], ["sum2"]),
    helper.make_node("Slice", ["sum2", i64("st1", [1, 0]), i64("en1", [9, 100]), i64("ax1", [2, 3])], ["sl1"]),
    helper.make_node("Slice", ["sl1", i64("st2", [0, 0]), i64("en2", [8, 7]), i64("ax2", [2, 3]), i64("sp2", [2, 2])],
                     ["sl2"]),
    helper.make_node("Flatten", ["sl2"], ["f1"]),
    helper.make_node("Gemm", ["f1", f("w2", 10, 32)], ["g1"], transB=1),
    helper.make_node("Split", ["g1"], ["h1", "h2"], axis=1),
    helper.make_node("MatMul", ["h2", f("w3", 5, 16)], ["y"]),
]
graph = helper.make_graph(nodes, "armnn_ops", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 10, 9])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16]),
                           helper.make_tensor_value_info("h1", TensorProto.FLOAT, [1, 5])], inits)
)PY"));
  export_to(import::load_model(onnx), tfl);
  std::map<std::string, int> ops = op_census(tfl);
  EXPECT_EQ(ops["SPLIT"] + ops["SPLIT_V"], 3);
  EXPECT_EQ(ops["STRIDED_SLICE"], 1);
  EXPECT_EQ(ops["SLICE"], 1);
  const fs::path report = out_dir() / "armnn_ops_verify.txt";
  EXPECT_EQ(shell(std::string(INFERCAST_CLI) + " verify " + tfl.string() + " --runtime armnn --reference ort" +
                  " --reference-model " + onnx.string() + " > " + report.string() + " 2>&1"),
            0)
      << testing::read_file(report);
}

// Decoders (segmentation heads): transposed convolutions with VALID and SAME pads and
// resizes under each coordinate rule TFLite has, checked against ONNX Runtime.
TEST(TfliteExport, TransposedConvAndResizeMatchOrt) {
  const fs::path dir = out_dir();
  const fs::path onnx = dir / "decoder.onnx", tfl = dir / "decoder.tflite";
  ASSERT_NO_FATAL_FAILURE(write_onnx(onnx, R"PY(
rng = np.random.default_rng(11)
inits = []
def const(name, a):
    inits.append(numpy_helper.from_array(np.asarray(a), name))
    return name
def rand(name, *shape):
    return const(name, rng.standard_normal(shape).astype(np.float32))
scales = const("scales2", np.array([1, 1, 2, 2], np.float32))
nodes = [
    helper.make_node("ConvTranspose", ["x", rand("w1", 6, 4, 2, 2), rand("b1", 4)], ["t1"], strides=[2, 2]),
    helper.make_node("ConvTranspose", ["t1", rand("w2", 4, 5, 4, 4)], ["t2"], strides=[2, 2], pads=[1, 1, 1, 1]),
    helper.make_node("ConvTranspose", ["t2", rand("w3", 5, 3, 3, 3), rand("b3", 3)], ["t3"], strides=[2, 2],
                     pads=[0, 0, 1, 1]),
    helper.make_node("Resize", ["x", "", scales], ["r1"], mode="linear", coordinate_transformation_mode="half_pixel"),
    helper.make_node("Resize", ["x", "", scales], ["r2"], mode="nearest",
                     coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
    helper.make_node("Resize", ["x", "", "", const("sizes", np.array([1, 6, 13, 9], np.int64))], ["r3"],
                     mode="linear", coordinate_transformation_mode="align_corners"),
]
graph = helper.make_graph(nodes, "decoder", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6, 7, 5])],
                          [helper.make_tensor_value_info("t3", TensorProto.FLOAT, [1, 3, 56, 40]),
                           helper.make_tensor_value_info("r1", TensorProto.FLOAT, [1, 6, 14, 10]),
                           helper.make_tensor_value_info("r2", TensorProto.FLOAT, [1, 6, 14, 10]),
                           helper.make_tensor_value_info("r3", TensorProto.FLOAT, [1, 6, 13, 9])], inits)
)PY"));
  const ir::Graph g = import::load_model(onnx);
  export_to(g, tfl);
  std::map<std::string, int> ops = op_census(tfl);
  EXPECT_EQ(ops["TRANSPOSE_CONV"], 3);
  EXPECT_EQ(ops["RESIZE_BILINEAR"], 2);
  EXPECT_EQ(ops["RESIZE_NEAREST_NEIGHBOR"], 1);
  EXPECT_EQ(ops["PAD"], 0) << "SAME and VALID transposed convs need no explicit padding";
  flatc_decode(tfl);
  if (!ort_installed()) GTEST_SKIP() << "needs runners/ort";
  expect_verified_against_ort(tfl, onnx);
}

// Pads a TFLite transposed conv cannot express, and resize rules it lacks, are refused
// naming the node.
TEST(TfliteExport, InexpressibleTransposedConvAndResizeAreRefused) {
  const fs::path dir = out_dir();
  const fs::path onnx = dir / "bad_decoder.onnx";
  ASSERT_NO_FATAL_FAILURE(write_onnx(onnx, R"PY(
w = numpy_helper.from_array(np.ones((2, 2, 3, 3), np.float32), "w")
scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
nodes = [
    helper.make_node("ConvTranspose", ["x", "w"], ["t"], strides=[1, 1], pads=[2, 0, 0, 0]),
    helper.make_node("Resize", ["x", "", "scales"], ["r"], mode="cubic"),
]
graph = helper.make_graph(nodes, "bad", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
                          [helper.make_tensor_value_info("t", TensorProto.FLOAT, None),
                           helper.make_tensor_value_info("r", TensorProto.FLOAT, None)], [w, scales])
)PY",
                                     false));
  const ir::Graph g = import::load_model(onnx);
  const auto problems = exporter::unsupported_nodes(g, exporter::Format::kTflite);
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_NE(problems[0].find("neither SAME nor VALID"), std::string::npos) << problems[0];
  EXPECT_NE(problems[1].find("mode 'cubic'"), std::string::npos) << problems[1];
}

// ---------------------------------------------------------------------------
// MediaPipe (NHWC) round trips
// ---------------------------------------------------------------------------

// import(export(g)) against g: same nodes in the same order, ops, attributes, tensor
// names, dtypes, shapes, kinds, quantization and constant bytes.
void expect_same_graph(const ir::Graph& g, const ir::Graph& back) {
  ASSERT_EQ(back.nodes.size(), g.nodes.size());
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& a = g.nodes[i];
    const ir::Node& b = back.nodes[i];
    SCOPED_TRACE("node " + std::to_string(i) + " '" + a.name + "' " + a.source_op);
    EXPECT_EQ(b.name, a.name);
    EXPECT_EQ(b.op, a.op);
    EXPECT_EQ(b.source_op, a.source_op);
    EXPECT_TRUE(b.attrs.all() == a.attrs.all());
    ASSERT_EQ(b.inputs.size(), a.inputs.size());
    for (std::size_t k = 0; k < a.inputs.size(); ++k) {
      if (a.inputs[k] < 0) {
        EXPECT_LT(b.inputs[k], 0);
        continue;
      }
      const ir::Tensor& ta = g.tensors[a.inputs[k]];
      const ir::Tensor& tb = back.tensors[b.inputs[k]];
      EXPECT_EQ(tb.name, ta.name);
      EXPECT_EQ(tb.dtype, ta.dtype);
      EXPECT_EQ(tb.shape, ta.shape);
      EXPECT_EQ(tb.kind, ta.kind);
      EXPECT_EQ(tb.sparse, ta.sparse);
      EXPECT_EQ(tb.quant.scales, ta.quant.scales);
      EXPECT_EQ(tb.quant.zero_points, ta.quant.zero_points);
      ASSERT_EQ(tb.data.size(), ta.data.size()) << ta.name;
      EXPECT_TRUE(std::memcmp(tb.data.data(), ta.data.data(), ta.data.size()) == 0) << "weight bytes of " << ta.name;
    }
    ASSERT_EQ(b.outputs.size(), a.outputs.size());
    for (std::size_t k = 0; k < a.outputs.size(); ++k) {
      EXPECT_EQ(back.tensors[b.outputs[k]].name, g.tensors[a.outputs[k]].name);
      EXPECT_EQ(back.tensors[b.outputs[k]].shape, g.tensors[a.outputs[k]].shape);
      EXPECT_EQ(back.tensors[b.outputs[k]].dtype, g.tensors[a.outputs[k]].dtype);
    }
  }
  ASSERT_EQ(back.inputs.size(), g.inputs.size());
  ASSERT_EQ(back.outputs.size(), g.outputs.size());
  for (std::size_t i = 0; i < g.outputs.size(); ++i) {
    EXPECT_EQ(back.tensors[back.outputs[i]].name, g.tensors[g.outputs[i]].name);
  }
}

class MediapipeRoundTrip : public ::testing::TestWithParam<const char*> {};

TEST_P(MediapipeRoundTrip, SameOpsAttributesShapesAndWeights) {
  const fs::path path = model_path("mediapipe", GetParam());
  if (!fs::exists(path)) GTEST_SKIP() << path << " not found; run `make test` to fetch the models";
  const ir::Graph g = import::load_model(path);
  const fs::path tfl = out_dir() / (fs::path(GetParam()).stem().string() + "_roundtrip.tflite");
  export_to(g, tfl);
  const ir::Graph back = import::load_model(tfl);

  expect_same_graph(g, back);

  // flatc agrees: same operator codes in the same order as the original file.
  const nlohmann::json ours = flatc_decode(tfl);
  const nlohmann::json theirs = flatc_decode(path);
  ASSERT_TRUE(ours.contains("subgraphs") && theirs.contains("subgraphs"));
  auto op_names = [](const nlohmann::json& m) {
    std::vector<std::string> names;
    for (const auto& op : m["subgraphs"][0]["operators"]) {
      const auto& code = m["operator_codes"][op.value("opcode_index", 0)];
      // Files before schema 2.5 fill only the byte-sized deprecated code: the real one is the larger.
      int builtin = code.value("deprecated_builtin_code", 0);
      for (auto b : tflite::EnumValuesBuiltinOperator()) {
        if (code.value("builtin_code", std::string("ADD")) == tflite::EnumNameBuiltinOperator(b)) {
          builtin = std::max(builtin, static_cast<int>(b));
        }
      }
      names.push_back(code.contains("custom_code") ? code["custom_code"].get<std::string>()
                                                   : std::string(tflite::EnumNameBuiltinOperator(
                                                         static_cast<tflite::BuiltinOperator>(builtin))));
    }
    return names;
  };
  EXPECT_EQ(op_names(ours), op_names(theirs));
  EXPECT_FALSE(ours["buffers"][0].contains("data"));

  // The exported file runs and gives the same numbers as the original on XNNPACK.
  const fs::path report = out_dir() / (fs::path(GetParam()).stem().string() + "_rt_verify.txt");
  EXPECT_EQ(shell(std::string(INFERCAST_CLI) + " verify " + tfl.string() +
                  " --runtime xnnpack --reference xnnpack --rtol 0 --atol 0 --reference-model " + path.string() +
                  " > " + report.string() + " 2>&1"),
            0)
      << testing::read_file(report);
}

INSTANTIATE_TEST_SUITE_P(Models, MediapipeRoundTrip,
                         ::testing::Values("face_detection_short_range.tflite", "face_detection_full_range.tflite",
                                           "face_detection_full_range_sparse.tflite", "selfie_segmentation.tflite",
                                           "selfie_segmentation_landscape.tflite"),
                         [](const auto& info) {
                           std::string name = fs::path(info.param).stem().string();
                           return name;
                         });

// ---------------------------------------------------------------------------
// Hostile and unsupported graphs: one-line errors
// ---------------------------------------------------------------------------

// A small NCHW graph built by hand: input -> op -> output.
ir::Graph one_node_graph(ir::Op op, ir::DType dtype, std::vector<std::int64_t> shape) {
  ir::Graph g;
  g.meta.format = "onnx";
  g.meta.source_path = "hand.onnx";
  ir::Tensor in;
  in.name = "x";
  in.dtype = dtype;
  in.shape = ir::Shape::of(shape);
  in.kind = ir::TensorKind::kInput;
  ir::Tensor out = in;
  out.name = "y";
  out.kind = ir::TensorKind::kOutput;
  const int a = g.add_tensor(in), b = g.add_tensor(out);
  g.inputs = {a};
  g.outputs = {b};
  ir::Node n;
  n.name = "n0";
  n.op = op;
  n.source_op = std::string(ir::op_name(op));
  n.inputs = {a};
  n.outputs = {b};
  n.layout = ir::Layout::kNCHW;
  g.nodes.push_back(n);
  g.finalize("hand.onnx");
  return g;
}

void expect_one_line_error(const ir::Graph& g, ErrorKind kind, const std::string& fragment) {
  try {
    to_tflite(g);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.kind(), kind) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    EXPECT_NE(what.find(fragment), std::string::npos) << what;
  }
}

TEST(TfliteExport, HugeShapeIsAnError) {
  const ir::Graph g = one_node_graph(ir::Op::Relu, ir::DType::kFloat32, {1, 3, 1LL << 33, 2});
  expect_one_line_error(g, ErrorKind::kUnsupported, "int32");
}

TEST(TfliteExport, UnsupportedDtypeIsAnError) {
  const ir::Graph g = one_node_graph(ir::Op::Relu, ir::DType::kUnknown, {1, 3});
  expect_one_line_error(g, ErrorKind::kUnsupported, "dtype");
}

TEST(TfliteExport, SymbolicShapeIsUnknownDim) {
  ir::Graph g = one_node_graph(ir::Op::Relu, ir::DType::kFloat32, {1, 3});
  for (ir::Tensor& t : g.tensors) t.shape.dims[0] = ir::Dim{-1, "batch"};
  expect_one_line_error(g, ErrorKind::kUnknownDim, "static");
}

TEST(TfliteExport, EveryUnsupportedNodeIsListed) {
  // Two unsupported ops in a chain: both named, in one line.
  ir::Graph g;
  g.meta.source_path = "hand.onnx";
  auto tensor = [&](const std::string& name, ir::TensorKind kind) {
    ir::Tensor t;
    t.name = name;
    t.dtype = ir::DType::kFloat32;
    t.shape = ir::Shape::of({1, 4});
    t.kind = kind;
    return g.add_tensor(t);
  };
  const int x = tensor("x", ir::TensorKind::kInput), m = tensor("m", ir::TensorKind::kActivation),
            y = tensor("y", ir::TensorKind::kOutput);
  g.inputs = {x};
  g.outputs = {y};
  for (auto [name, in, out] : {std::tuple{"first", x, m}, std::tuple{"second", m, y}}) {
    ir::Node n;
    n.name = name;
    n.op = ir::Op::Einsum;
    n.source_op = "Einsum";
    n.inputs = {in};
    n.outputs = {out};
    n.layout = ir::Layout::kNCHW;
    g.nodes.push_back(n);
  }
  g.finalize("hand.onnx");
  const auto problems = unsupported_nodes(g, Format::kTflite);
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_NE(problems[0].find("node 0 'first' (Einsum)"), std::string::npos) << problems[0];
  EXPECT_NE(problems[1].find("node 1 'second' (Einsum)"), std::string::npos) << problems[1];
  expect_one_line_error(g, ErrorKind::kUnsupported, "'second'");
}

TEST(TfliteExport, WeightBytesNotMatchingTheShapeAreAnError) {
  ir::Graph g = one_node_graph(ir::Op::Add, ir::DType::kFloat32, {1, 4});
  ir::Tensor c;
  c.name = "c";
  c.dtype = ir::DType::kFloat32;
  c.shape = ir::Shape::of({4});
  c.kind = ir::TensorKind::kConstant;
  c.data = g.own(std::vector<std::byte>(6));  // 6 bytes for 4 floats
  const int ci = g.add_tensor(c);
  g.nodes[0].inputs.push_back(ci);
  g.tensors[ci].consumers.push_back(0);
  expect_one_line_error(g, ErrorKind::kUnsupported, "holds 6 bytes");
}

}  // namespace
}  // namespace infercast::exporter
