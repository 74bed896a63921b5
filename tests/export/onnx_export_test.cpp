// The ONNX writer against references nobody here wrote: onnx.checker (full check) on
// every exported MediaPipe model, ONNX Runtime running the export against XNNPACK
// running the original TFLite file, and the ONNX importer reading back what was
// written (round trips of torchvision models and the ONNX backend-test node models).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "../test_files.hpp"
#include "infercast/base/error.hpp"
#include "infercast/export/export.hpp"
#include "infercast/import/import.hpp"
#include "infercast/runtime/runtime.hpp"
#include "infercast/runtime/verify.hpp"

namespace {

namespace fs = std::filesystem;
using infercast::Error;
using infercast::ErrorKind;
namespace exporter = infercast::exporter;
namespace import = infercast::import;
namespace ir = infercast::ir;

const fs::path kSource = INFERCAST_SOURCE_DIR;
const fs::path kMediapipe = kSource / ".cache/models/mediapipe";
const fs::path kTorchvision = kSource / ".cache/models/torchvision";
const fs::path kNodeTests = "/usr/share/libonnx-testdata/data/node";

// One folder per process (several test runs may share the machine), removed at exit:
// the exports of resnet18 alone are ~100 MB.
fs::path scratch_dir() {
  return fs::temp_directory_path() / ("infercast_onnx_export_test_" + std::to_string(getpid()));
}

class RemoveScratch : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(scratch_dir(), ec);
  }
};
[[maybe_unused]] ::testing::Environment* const kRemoveScratch = ::testing::AddGlobalTestEnvironment(new RemoveScratch);

fs::path scratch(const std::string& name) {
  fs::create_directories(scratch_dir());
  return scratch_dir() / name;
}

// Runs `command`, capturing stdout; returns the exit code (-1 on a signal).
int run(const std::string& command, std::string* out = nullptr) {
  std::string text;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe) != nullptr) text += buffer.data();
  const int status = pclose(pipe);
  if (out != nullptr) *out = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool ort_installed() {
  return fs::exists(kSource / "runners/ort/node_modules/onnxruntime-node/package.json");
}

// 0: passes onnx.checker full check; 3: python onnx missing; else the checker's line.
int onnx_check(const fs::path& model, std::string* message) {
  return run("/usr/bin/python3 " + (kSource / "tests/reference/onnx_check.py").string() + " " + model.string(),
             message);
}

// --- 1. MediaPipe TFLite -> ONNX: checker and numerics -----------------------------

class MediapipeToOnnx : public ::testing::TestWithParam<std::string> {};

TEST_P(MediapipeToOnnx, PassesCheckerAndMatchesXnnpackOnTheOriginal) {
  const fs::path original = kMediapipe / (GetParam() + ".tflite");
  if (!fs::exists(original)) GTEST_SKIP() << original << " is absent (make test fetches it)";
  const fs::path exported = scratch(GetParam() + ".onnx");
  const ir::Graph graph = import::load_tflite(original);
  ASSERT_TRUE(exporter::unsupported_nodes(graph, exporter::Format::kOnnx).empty());
  exporter::save(graph, exported, exporter::Format::kOnnx);

  // Same interface: names, dtypes and NHWC shapes of inputs and outputs.
  const ir::Graph back = import::load_onnx(exported);
  ASSERT_EQ(back.inputs.size(), graph.inputs.size());
  ASSERT_EQ(back.outputs.size(), graph.outputs.size());
  for (std::size_t i = 0; i < graph.inputs.size(); ++i) {
    const auto& a = graph.tensors[graph.inputs[i]];
    const auto& b = back.tensors[back.inputs[i]];
    EXPECT_EQ(b.name, a.name);
    EXPECT_EQ(b.dtype, a.dtype);
    EXPECT_EQ(b.shape, a.shape);
  }
  for (std::size_t i = 0; i < graph.outputs.size(); ++i) {
    const auto& a = graph.tensors[graph.outputs[i]];
    const auto& b = back.tensors[back.outputs[i]];
    EXPECT_EQ(b.name, a.name);
    EXPECT_EQ(b.dtype, a.dtype);
    EXPECT_EQ(b.shape, a.shape) << b.name;
  }

  std::string message;
  const int checked = onnx_check(exported, &message);
  if (checked == 3) {
    std::cerr << "python onnx is missing: checker not run\n";
  } else {
    EXPECT_EQ(checked, 0) << message;
  }

  if (!ort_installed()) GTEST_SKIP() << "needs runners/ort (ONNX Runtime) for the numeric check";
  const fs::path json = scratch(GetParam() + ".verify.json");
  const std::string verify = std::string(INFERCAST_CLI) + " verify " + original.string() +
                             " --runtime xnnpack --reference ort --reference-model " + exported.string() +
                             " --rtol 1e-4 --format json -o " + json.string();
  const int code = run(verify, &message);
  ASSERT_TRUE(code == 0 || code == 1) << message;  // 1: some element outside atol + rtol*|ref|
  const auto doc = nlohmann::json::parse(std::ifstream(json));
  ASSERT_EQ(doc["outputs"].size(), graph.outputs.size());
  for (const auto& o : doc["outputs"]) {
    EXPECT_EQ(o["note"], "") << o["name"];
    // max |xnnpack(original) - ort(export)| relative to the output's largest magnitude.
    EXPECT_LE(o["max_rel_error"].get<double>(), 1e-4) << o["name"];
    // Elementwise numpy.allclose(rtol 1e-4, atol 1e-5) may miss only a handful of
    // near-zero elements of long accumulations (XNNPACK and ORT sum in different orders).
    EXPECT_LE(o["mismatches"].get<int>(), 16) << o["name"];
  }
}

INSTANTIATE_TEST_SUITE_P(FiveModels, MediapipeToOnnx,
                         ::testing::Values("face_detection_short_range", "face_detection_full_range",
                                           "face_detection_full_range_sparse", "selfie_segmentation",
                                           "selfie_segmentation_landscape"));

TEST(OnnxExport, ConvertedGraphIsExactOnXnnpack) {
  // The export computes the same function, not just a close one: XNNPACK on the export
  // against XNNPACK on the original agrees to the bit (weights are only permuted, and
  // fp16 -> fp32 is exact). Opset 14 keeps HardSwish one op; opset 13 writes it as
  // x * HardSigmoid(x), equal up to rounding.
  for (const auto& [name, opset] : {std::pair<std::string, int>{"face_detection_full_range", 13},
                                    std::pair<std::string, int>{"selfie_segmentation", 14}}) {
    const fs::path original = kMediapipe / (name + ".tflite");
    if (!fs::exists(original)) GTEST_SKIP() << original << " is absent";
    const fs::path exported = scratch(name + "_exact.onnx");
    exporter::ExportOptions options;
    options.opset = opset;
    exporter::save(import::load_tflite(original), exported, exporter::Format::kOnnx, options);
    const fs::path json = scratch(name + "_exact.json");
    std::string message;
    run(std::string(INFERCAST_CLI) + " verify " + original.string() + " --runtime xnnpack --reference xnnpack " +
            "--reference-model " + exported.string() + " --format json -o " + json.string(),
        &message);
    const auto doc = nlohmann::json::parse(std::ifstream(json));
    ASSERT_FALSE(doc["outputs"].empty()) << message;
    for (const auto& o : doc["outputs"]) EXPECT_EQ(o["max_abs_error"].get<double>(), 0.0) << name << " " << o["name"];
  }
}

class SeedModels : public ::testing::TestWithParam<std::string> {};

TEST_P(SeedModels, SmallTfliteModelsExportCheckedAndMatching) {
  // The TFLite fuzz seeds (fuzz/corpus/tflite/) cover single ops the MediaPipe models
  // lack: STRIDED_SLICE, GATHER, TRANSPOSE_CONV, FULLY_CONNECTED + SOFTMAX, pooling,
  // CONCATENATION, RESHAPE and MEAN.
  const fs::path original = kSource / "fuzz/corpus/tflite" / (GetParam() + ".tflite");
  if (!fs::exists(original)) GTEST_SKIP() << original << " is absent";
  const fs::path exported = scratch("seed_" + GetParam() + ".onnx");
  exporter::save(import::load_tflite(original), exported, exporter::Format::kOnnx);
  std::string message;
  const int checked = onnx_check(exported, &message);
  if (checked != 3) EXPECT_EQ(checked, 0) << message;
  if (!ort_installed()) GTEST_SKIP() << "needs runners/ort (ONNX Runtime)";
  EXPECT_EQ(run(std::string(INFERCAST_CLI) + " verify " + original.string() +
                    " --runtime xnnpack --reference ort --reference-model " + exported.string(),
                &message),
            0)
      << message;
}

INSTANTIATE_TEST_SUITE_P(Corpus, SeedModels,
                         ::testing::Values("conv2d", "depthwise_conv2d", "fully_connected_softmax", "many_ops",
                                           "mediapipe_transpose_conv_bias", "pool_concat_reshape_mean",
                                           "transpose_conv"));

// --- 2. Round trips of ONNX-form graphs -------------------------------------------

// Same nodes (op, name, attributes, wiring), tensors (kind, dtype, shape) and constant
// bytes. Returns the first difference, empty when none.
std::string difference(const ir::Graph& a, const ir::Graph& b) {
  auto tensor_name = [](const ir::Graph& g, int id) { return id < 0 ? std::string("<none>") : g.tensors[id].name; };
  if (a.nodes.size() != b.nodes.size()) {
    return "node count " + std::to_string(a.nodes.size()) + " vs " + std::to_string(b.nodes.size());
  }
  for (std::size_t i = 0; i < a.nodes.size(); ++i) {
    const ir::Node& x = a.nodes[i];
    const ir::Node& y = b.nodes[i];
    const std::string where = "node " + std::to_string(i) + " '" + x.name + "': ";
    if (x.op != y.op || x.source_op != y.source_op) return where + "op " + x.source_op + " vs " + y.source_op;
    if (x.name != y.name) return where + "name vs '" + y.name + "'";
    if (x.attrs.all() != y.attrs.all()) return where + "attributes differ";
    if (x.inputs.size() != y.inputs.size() || x.outputs.size() != y.outputs.size()) return where + "arity differs";
    for (std::size_t k = 0; k < x.inputs.size(); ++k) {
      if (tensor_name(a, x.inputs[k]) != tensor_name(b, y.inputs[k])) return where + "input " + std::to_string(k);
    }
    for (std::size_t k = 0; k < x.outputs.size(); ++k) {
      if (tensor_name(a, x.outputs[k]) != tensor_name(b, y.outputs[k])) return where + "output " + std::to_string(k);
    }
  }
  if (a.inputs.size() != b.inputs.size() || a.outputs.size() != b.outputs.size()) return "graph interface differs";
  for (std::size_t i = 0; i < a.inputs.size(); ++i) {
    if (a.tensors[a.inputs[i]].name != b.tensors[b.inputs[i]].name) return "graph input " + std::to_string(i);
  }
  for (std::size_t i = 0; i < a.outputs.size(); ++i) {
    if (a.tensors[a.outputs[i]].name != b.tensors[b.outputs[i]].name) return "graph output " + std::to_string(i);
  }
  for (const ir::Tensor& t : a.tensors) {
    if (t.name.empty() || (t.consumers.empty() && t.producer < 0 && t.kind != ir::TensorKind::kInput)) continue;
    const int id = b.find_tensor(t.name);
    if (id < 0) return "tensor '" + t.name + "' is missing";
    const ir::Tensor& u = b.tensors[id];
    if (t.kind != u.kind) return "tensor '" + t.name + "' kind differs";
    if (t.dtype != u.dtype) return "tensor '" + t.name + "' dtype differs";
    if (t.shape != u.shape) return "tensor '" + t.name + "' shape " + t.shape.str() + " vs " + u.shape.str();
    if (t.is_constant() && !std::equal(t.data.begin(), t.data.end(), u.data.begin(), u.data.end())) {
      return "tensor '" + t.name + "' bytes differ";
    }
  }
  return {};
}

class TorchvisionRoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchvisionRoundTrip, ImportOfExportIsTheSameGraph) {
  const fs::path model = kTorchvision / (GetParam() + ".onnx");
  if (!fs::exists(model)) GTEST_SKIP() << model << " is absent (make test fetches it)";
  const ir::Graph graph = import::load_onnx(model);
  const std::string bytes = exporter::to_onnx(graph);
  const ir::Graph back = import::load_onnx_bytes(std::as_bytes(std::span(bytes.data(), bytes.size())), "export");
  EXPECT_EQ(difference(graph, back), "");
  EXPECT_EQ(back.meta.opset, std::max<std::int64_t>(13, graph.meta.opset));
  // Idempotent: writing the read-back graph gives the same bytes.
  EXPECT_EQ(exporter::to_onnx(back), bytes);
}

INSTANTIATE_TEST_SUITE_P(Models, TorchvisionRoundTrip,
                         ::testing::Values("resnet18", "mobilenet_v2", "squeezenet1_1", "vit_b_16"));

TEST(OnnxExport, NodeTestModelsRoundTrip) {
  if (!fs::exists(kNodeTests)) GTEST_SKIP() << "needs libonnx-testdata";
  int written = 0, refused = 0, unreadable = 0;
  std::vector<std::string> failures;
  for (const auto& dir : fs::directory_iterator(kNodeTests)) {
    const fs::path model = dir.path() / "model.onnx";
    if (!fs::exists(model)) continue;
    std::optional<ir::Graph> graph;
    try {
      graph.emplace(import::load_onnx(model));
    } catch (const Error&) {
      ++unreadable;
      continue;
    }
    if (!exporter::unsupported_nodes(*graph, exporter::Format::kOnnx).empty()) {
      // The writer must refuse with the same verdict, as one line.
      try {
        exporter::to_onnx(*graph);
        failures.push_back(dir.path().filename().string() + ": listed unsupported but written");
      } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
        EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
      }
      ++refused;
      continue;
    }
    try {
      const std::string bytes = exporter::to_onnx(*graph);
      const ir::Graph back = import::load_onnx_bytes(std::as_bytes(std::span(bytes.data(), bytes.size())), "export");
      if (auto diff = difference(*graph, back); !diff.empty()) {
        failures.push_back(dir.path().filename().string() + ": " + diff);
      }
      ++written;
    } catch (const Error& e) {
      failures.push_back(dir.path().filename().string() + ": " + e.what());
    }
  }
  std::string list;
  for (const auto& f : failures) list += f + "\n";
  EXPECT_TRUE(failures.empty()) << failures.size() << " of " << written << " round trips differ:\n" << list;
  EXPECT_GT(written, 500);
  std::cerr << written << " node models round-tripped, " << refused << " refused, " << unreadable
            << " not importable\n";
}

TEST(OnnxExport, NodeTestExportsPassChecker) {
  if (!fs::exists(kNodeTests)) GTEST_SKIP() << "needs libonnx-testdata";
  std::string paths;
  for (const char* name : {"test_conv_with_strides_padding", "test_maxpool_2d_pads", "test_averagepool_2d_pads",
                           "test_resize_downsample_scales_linear", "test_constant", "test_gemm_default_matrix_bias",
                           "test_batchnorm_example", "test_reshape_reduced_dims"}) {
    const fs::path model = kNodeTests / name / "model.onnx";
    if (!fs::exists(model)) continue;
    const fs::path out = scratch(std::string(name) + ".onnx");
    exporter::save(import::load_onnx(model), out, exporter::Format::kOnnx);
    paths += " " + out.string();
  }
  std::string message;
  const int checked = run("/usr/bin/python3 " + (kSource / "tests/reference/onnx_check.py").string() + paths, &message);
  if (checked == 3) GTEST_SKIP() << "python onnx is missing";
  EXPECT_EQ(checked, 0) << message;
}

class ThroughTflite : public ::testing::TestWithParam<std::string> {};

TEST_P(ThroughTflite, OnnxToTfliteToOnnxMatchesTheOriginalOnOrt) {
  // Both writers in a row: torchvision ONNX -> TFLite (NHWC, the TFLite writer) -> ONNX
  // (NCHW again, this writer), run by ONNX Runtime against the original file.
  const fs::path model = kTorchvision / (GetParam() + ".onnx");
  if (!fs::exists(model)) GTEST_SKIP() << model << " is absent (make test fetches it)";
  if (!ort_installed()) GTEST_SKIP() << "needs runners/ort (ONNX Runtime)";
  const fs::path tflite = scratch(GetParam() + "_via.tflite");
  const fs::path back = scratch(GetParam() + "_back.onnx");
  exporter::save(import::load_onnx(model), tflite, exporter::Format::kTflite);
  exporter::save(import::load_tflite(tflite), back, exporter::Format::kOnnx);
  std::string message;
  const int checked = onnx_check(back, &message);
  if (checked != 3) EXPECT_EQ(checked, 0) << message;
  const fs::path json = scratch(GetParam() + "_back.json");
  const int code = run(std::string(INFERCAST_CLI) + " verify " + back.string() + " --runtime ort --reference ort " +
                           "--reference-model " + model.string() + " --format json -o " + json.string(),
                       &message);
  EXPECT_EQ(code, 0) << message;
  const auto doc = nlohmann::json::parse(std::ifstream(json));
  for (const auto& o : doc["outputs"]) EXPECT_LE(o["max_rel_error"].get<double>(), 1e-5) << o["name"];
}

INSTANTIATE_TEST_SUITE_P(ThreeModels, ThroughTflite, ::testing::Values("resnet18", "mobilenet_v2", "squeezenet1_1"));

// --- 3. Hostile and unsupported input --------------------------------------------

int add(ir::Graph& g, const std::string& name, ir::DType dtype, std::vector<std::int64_t> dims, ir::TensorKind kind) {
  ir::Tensor t;
  t.name = name;
  t.dtype = dtype;
  t.shape = ir::Shape::of(dims);
  t.kind = kind;
  return g.add_tensor(std::move(t));
}

// x(NHWC) -> op -> y, one node per op in `ops`, chained.
ir::Graph tflite_chain(const std::vector<ir::Op>& ops) {
  ir::Graph g;
  g.meta.format = "tflite";
  g.meta.layout = ir::Layout::kNHWC;
  int prev = add(g, "x", ir::DType::kFloat32, {1, 8, 8, 4}, ir::TensorKind::kInput);
  g.inputs.push_back(prev);
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const bool last = i + 1 == ops.size();
    const int out = add(g, last ? "y" : "t" + std::to_string(i), ir::DType::kFloat32, {1, 8, 8, 4},
                        last ? ir::TensorKind::kOutput : ir::TensorKind::kActivation);
    ir::Node n;
    n.name = "op" + std::to_string(i);
    n.op = ops[i];
    n.source_op = std::string(ir::op_name(ops[i]));
    n.layout = ir::Layout::kNHWC;
    n.inputs = {prev};
    n.outputs = {out};
    g.nodes.push_back(std::move(n));
    prev = out;
  }
  g.outputs.push_back(prev);
  g.finalize("chain");
  return g;
}

template <typename F>
std::string error_of(F&& f, ErrorKind kind) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return {};
}

TEST(OnnxExport, UnsupportedOpsAreAllListedOnOneLine) {
  const ir::Graph g = tflite_chain({ir::Op::Relu, ir::Op::GRU, ir::Op::Sigmoid, ir::Op::Other});
  const auto listed = exporter::unsupported_nodes(g, exporter::Format::kOnnx);
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_NE(listed[0].find("'op1' (GRU)"), std::string::npos) << listed[0];
  EXPECT_NE(listed[1].find("'op3' (Other)"), std::string::npos) << listed[1];
  const std::string what = error_of([&] { exporter::to_onnx(g); }, ErrorKind::kUnsupported);
  EXPECT_NE(what.find("op1"), std::string::npos) << what;
  EXPECT_NE(what.find("op3"), std::string::npos) << what;
  EXPECT_EQ(what.find("op2"), std::string::npos) << "a supported node is not blamed: " << what;
}

TEST(OnnxExport, SupportedChainIsWritten) {
  const ir::Graph g = tflite_chain({ir::Op::Relu, ir::Op::Sigmoid, ir::Op::Tanh});
  EXPECT_TRUE(exporter::unsupported_nodes(g, exporter::Format::kOnnx).empty());
  const std::string bytes = exporter::to_onnx(g);
  const ir::Graph back = import::load_onnx_bytes(std::as_bytes(std::span(bytes.data(), bytes.size())), "chain");
  EXPECT_EQ(back.tensors[back.inputs[0]].shape, ir::Shape::of({1, 8, 8, 4}));
  EXPECT_EQ(back.tensors[back.outputs[0]].shape, ir::Shape::of({1, 8, 8, 4}));
}

TEST(OnnxExport, HugeShapesAndBadConstantsAreRefused) {
  // A constant whose declared shape is far larger than its bytes.
  ir::Graph g;
  g.meta.format = "onnx";
  g.meta.layout = ir::Layout::kNCHW;
  g.meta.opset = 13;
  const int x = add(g, "x", ir::DType::kFloat32, {1, 4}, ir::TensorKind::kInput);
  const int w =
      add(g, "w", ir::DType::kFloat32, {std::int64_t{1} << 40, std::int64_t{1} << 20}, ir::TensorKind::kConstant);
  static const float four[1] = {1.0f};
  g.tensors[w].data = std::as_bytes(std::span(four));
  const int y = add(g, "y", ir::DType::kFloat32, {1, 4}, ir::TensorKind::kOutput);
  ir::Node n;
  n.name = "add";
  n.op = ir::Op::Add;
  n.source_op = "Add";
  n.inputs = {x, w};
  n.outputs = {y};
  g.nodes.push_back(std::move(n));
  g.inputs = {x};
  g.outputs = {y};
  g.finalize("huge");
  const std::string what = error_of([&] { exporter::to_onnx(g); }, ErrorKind::kBadModel);
  EXPECT_NE(what.find("'w'"), std::string::npos) << what;
}

TEST(OnnxExport, DtypesOnnxCannotHoldAreRefused) {
  ir::Graph g = tflite_chain({ir::Op::Relu});
  g.tensors[g.inputs[0]].dtype = ir::DType::kInt4;
  g.meta.layout = ir::Layout::kNCHW;  // the node-for-node path checks dtypes per node
  g.meta.format = "onnx";
  const auto listed = exporter::unsupported_nodes(g, exporter::Format::kOnnx);
  // The node reading it and the graph input itself.
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_NE(listed[0].find("'op0'"), std::string::npos) << listed[0];
  EXPECT_NE(listed[1].find("graph input 'x': dtype int4"), std::string::npos) << listed[1];
  error_of([&] { exporter::to_onnx(g); }, ErrorKind::kUnsupported);
}

TEST(OnnxExport, TfliteInputShapeOverrideIsRefused) {
  // The TFLite importer changes only the inputs; an export would declare a 4096x4096
  // input feeding layers sized for 128x128.
  const fs::path model = kMediapipe / "face_detection_short_range.tflite";
  if (!fs::exists(model)) GTEST_SKIP() << model << " is absent";
  import::ImportOptions options;
  import::add_input_shape(options, "input=1x4096x4096x3");
  const ir::Graph g = import::load_tflite(model, options);
  ASSERT_EQ(exporter::unsupported_nodes(g, exporter::Format::kOnnx).size(), 1u);
  const std::string what = error_of([&] { exporter::to_onnx(g); }, ErrorKind::kUnsupported);
  EXPECT_NE(what.find("--input-shape"), std::string::npos) << what;
}

// An int8 CONV_2D with an int8 interface and an int32 bias without parameters of its
// own (older files): QDQ, the bias with TFLite's implied scale (input × weight scale).
TEST(OnnxExport, QuantizedComputationIsWrittenAsQdq) {
  const fs::path original = kSource / "fuzz/corpus/tflite/quantized_conv.tflite";
  if (!fs::exists(original)) GTEST_SKIP() << original << " is absent";
  const fs::path exported = scratch("quantized_conv.onnx");
  exporter::save(import::load_tflite(original), exported, exporter::Format::kOnnx);
  std::string message;
  const int checked = onnx_check(exported, &message);
  if (checked != 3) EXPECT_EQ(checked, 0) << message;
  const ir::Graph back = import::load_onnx(exported);
  std::vector<std::string> ops;
  for (const auto& n : back.nodes) ops.push_back(n.source_op);
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "DequantizeLinear"), 3);  // input, weights, bias
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "QuantizeLinear"), 1);
  for (const auto& n : back.nodes) {
    if (n.op != ir::Op::DequantizeLinear || back.tensors[n.inputs[0]].dtype != ir::DType::kInt32) continue;
    const auto& q = back.tensors[n.inputs[0]].quant;  // read back from the DequantizeLinear
    ASSERT_EQ(q.scales.size(), 3u);
    EXPECT_FLOAT_EQ(q.scales[0], 0.5f * 0.1f);
    EXPECT_FLOAT_EQ(q.scales[2], 0.5f * 0.3f);
  }
  EXPECT_EQ(back.tensors[back.inputs[0]].dtype, ir::DType::kInt8);
  // The input's parameters are on its NCHW transpose, which the DequantizeLinear reads.
  bool input_params = false;
  for (const auto& t : back.tensors) {
    input_params = input_params || (!t.quant.empty() && t.quant.scales[0] == 0.5f && t.quant.zero_points[0] == -3);
  }
  EXPECT_TRUE(input_params);
}

TEST(OnnxExport, RaisingTheOpsetKeepsOnlyNodesValidThere) {
  // An opset-11 graph written at 13: Relu is the same op, Squeeze's axes moved from an
  // attribute to an input and Softmax changed meaning, so those two are refused.
  ir::Graph g = tflite_chain({ir::Op::Relu, ir::Op::Squeeze, ir::Op::Softmax});
  g.meta.format = "onnx";
  g.meta.layout = ir::Layout::kNCHW;
  g.meta.opset = 11;
  g.nodes[1].attrs.set("axes", std::vector<std::int64_t>{0});
  const auto listed = exporter::unsupported_nodes(g, exporter::Format::kOnnx);
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_NE(listed[0].find("'op1' (Squeeze): the op changed between opset 11 and 13"), std::string::npos) << listed[0];
  EXPECT_NE(listed[1].find("'op2' (Softmax)"), std::string::npos) << listed[1];

  // resnet18 (opset 13) at opset 17: every node is valid there; ORT agrees exactly.
  const fs::path model = kTorchvision / "resnet18.onnx";
  if (!fs::exists(model)) GTEST_SKIP() << model << " is absent";
  exporter::ExportOptions options;
  options.opset = 17;
  const fs::path out = scratch("resnet18_opset17.onnx");
  exporter::save(import::load_onnx(model), out, exporter::Format::kOnnx, options);
  EXPECT_EQ(import::load_onnx(out).meta.opset, 17);
  std::string message;
  const int checked = onnx_check(out, &message);
  if (checked != 3) EXPECT_EQ(checked, 0) << message;
}

TEST(OnnxExport, OptionsOutOfRangeAreRefused) {
  const ir::Graph g = tflite_chain({ir::Op::Relu});
  exporter::ExportOptions options;
  options.opset = 7;
  error_of([&] { exporter::to_onnx(g, options); }, ErrorKind::kInvalidArgument);
  options.opset = 13;
  options.fp16_weights = true;
  error_of([&] { exporter::to_onnx(g, options); }, ErrorKind::kInvalidArgument);
  error_of([&] { exporter::format_of("model.pb"); }, ErrorKind::kInvalidArgument);
  EXPECT_EQ(exporter::format_of("a/b.onnx"), exporter::Format::kOnnx);
  EXPECT_EQ(exporter::format_of("a/b.tflite"), exporter::Format::kTflite);
}

TEST(OnnxExport, SaveIsAtomicAndWritesDevices) {
  const ir::Graph g = tflite_chain({ir::Op::Relu});
  const fs::path path = scratch("atomic.onnx");
  infercast::testing::write_file(path, "old");
  exporter::save(g, path, exporter::Format::kOnnx);
  EXPECT_EQ(infercast::testing::read_file(path), exporter::to_onnx(g));
  EXPECT_FALSE(fs::exists(path.string() + ".tmp"));
  // A refused graph leaves the existing file alone.
  const ir::Graph bad = tflite_chain({ir::Op::GRU});
  EXPECT_THROW(exporter::save(bad, path, exporter::Format::kOnnx), Error);
  EXPECT_EQ(infercast::testing::read_file(path), exporter::to_onnx(g));
  exporter::save(g, "/dev/null", exporter::Format::kOnnx);  // written in place, not replaced
  EXPECT_TRUE(fs::is_character_file("/dev/null"));
  error_of([&] { exporter::save(g, "/nonexistent-dir/x.onnx", exporter::Format::kOnnx); }, ErrorKind::kIo);
}

TEST(OnnxExport, CliErrorsAreOneLineExitTwo) {
  std::string out;
  const std::string cli = INFERCAST_CLI;
  const fs::path node = kNodeTests / "test_relu/model.onnx";
  EXPECT_EQ(run(cli + " export /nonexistent.onnx --to onnx -o " + scratch("x.onnx").string(), &out), 2);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  if (!fs::exists(node)) GTEST_SKIP() << "needs libonnx-testdata";
  EXPECT_EQ(run(cli + " export " + node.string() + " --to pb -o " + scratch("x.onnx").string(), &out), 2);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_EQ(run(cli + " export " + node.string() + " --to onnx --opset 99 -o " + scratch("x.onnx").string(), &out), 2);
  EXPECT_NE(out.find("opset"), std::string::npos) << out;
  EXPECT_EQ(run(cli + " export " + node.string() + " --to onnx -o " + scratch("relu.onnx").string(), &out), 0) << out;
  EXPECT_NE(out.find("wrote"), std::string::npos) << out;
}

// --- 4. Layout conversion on a graph built in code ---------------------------------

// An NHWC graph built as the TFLite importer builds one, exercising what the MediaPipe
// models do not: a channel Concat of a logical and an NCHW tensor, a constant broadcast
// over channels, a reduction that drops dims, a Reshape that must see NHWC order before
// a fully connected layer, Softmax, explicit Pad, and an output made in NCHW. XNNPACK
// runs the IR graph, ONNX Runtime runs the export.
class NhwcGraph {
 public:
  NhwcGraph() {
    g.meta.format = "tflite";
    g.meta.layout = ir::Layout::kNHWC;
    g.meta.source_path = "synthetic";
  }
  int tensor(const std::string& name, std::vector<std::int64_t> dims,
             ir::TensorKind kind = ir::TensorKind::kActivation) {
    return add(g, name, ir::DType::kFloat32, std::move(dims), kind);
  }
  int weights(const std::string& name, std::vector<std::int64_t> dims) {
    const int id = tensor(name, dims, ir::TensorKind::kConstant);
    const auto n = *g.tensors[id].shape.numel();
    std::vector<std::byte> bytes(n * 4);
    for (std::uint64_t i = 0; i < n; ++i) {
      const float v = static_cast<float>((i * 7919 + static_cast<std::uint64_t>(id) * 104729) % 2001) / 1000.0f - 1.0f;
      std::memcpy(bytes.data() + i * 4, &v, 4);
    }
    g.tensors[id].data = g.own(std::move(bytes));
    return id;
  }
  int ints(const std::string& name, const std::vector<std::int32_t>& values, std::vector<std::int64_t> dims) {
    const int id = add(g, name, ir::DType::kInt32, std::move(dims), ir::TensorKind::kConstant);
    std::vector<std::byte> bytes(values.size() * 4);
    std::memcpy(bytes.data(), values.data(), bytes.size());
    g.tensors[id].data = g.own(std::move(bytes));
    return id;
  }
  ir::Node& node(const std::string& name, ir::Op op, std::vector<int> inputs, std::vector<int> outputs) {
    ir::Node n;
    n.name = name;
    n.op = op;
    n.source_op = std::string(ir::op_name(op));
    n.layout = ir::Layout::kNHWC;
    n.inputs = std::move(inputs);
    n.outputs = std::move(outputs);
    g.nodes.push_back(std::move(n));
    return g.nodes.back();
  }
  ir::Graph g;
};

TEST(OnnxExport, NhwcLayoutHandlingMatchesXnnpack) {
  if (!ort_installed()) GTEST_SKIP() << "needs runners/ort (ONNX Runtime)";
  using V = std::vector<std::int64_t>;
  NhwcGraph b;
  const int x = b.tensor("x", {1, 4, 4, 3}, ir::TensorKind::kInput);
  const int c = b.tensor("c", {1, 4, 4, 5});
  auto& conv = b.node("conv", ir::Op::Conv, {x, b.weights("w1", {5, 1, 1, 3}), b.weights("b1", {5})}, {c});
  for (const char* a : {"strides", "dilations"}) conv.attrs.set(a, V{1, 1});
  conv.attrs.set("kernel_shape", V{1, 1});
  conv.attrs.set("pads", V{0, 0, 0, 0});
  conv.attrs.set("group", std::int64_t{1});
  conv.attrs.set("weight_layout", std::string("OHWI"));
  conv.attrs.set("fused_activation", std::string("relu6"));
  const int k = b.tensor("k", {1, 4, 4, 8});
  b.node("concat", ir::Op::Concat, {x, c}, {k}).attrs.set("axis", std::int64_t{3});
  const int a = b.tensor("a", {1, 4, 4, 8});
  b.node("add", ir::Op::Add, {k, b.weights("bias8", {8})}, {a});
  const int m = b.tensor("m", {1, 8}, ir::TensorKind::kOutput);
  auto& mean = b.node("mean", ir::Op::ReduceMean, {a, b.ints("axes", {1, 2}, {2})}, {m});
  mean.attrs.set("axes", V{1, 2});
  mean.attrs.set("keepdims", std::int64_t{0});
  const int r = b.tensor("r", {1, 128});
  b.node("reshape", ir::Op::Reshape, {a, b.ints("shape", {1, 128}, {2})}, {r});
  const int f = b.tensor("f", {1, 6});
  auto& fc = b.node("fc", ir::Op::FullyConnected, {r, b.weights("w2", {6, 128}), b.weights("b2", {6})}, {f});
  fc.attrs.set("weight_layout", std::string("OI"));
  fc.attrs.set("keep_num_dims", std::int64_t{0});
  const int s = b.tensor("s", {1, 6}, ir::TensorKind::kOutput);
  auto& softmax = b.node("softmax", ir::Op::Softmax, {f}, {s});
  softmax.attrs.set("axis", std::int64_t{-1});
  softmax.attrs.set("beta", 1.0);
  const int p = b.tensor("p", {1, 6, 6, 3});
  b.node("pad", ir::Op::Pad, {x, b.ints("paddings", {0, 0, 2, 0, 1, 1, 0, 0}, {4, 2})}, {p})
      .attrs.set("mode", std::string("constant"));
  const int q = b.tensor("q", {1, 4, 4, 3});
  auto& pool = b.node("pool", ir::Op::AveragePool, {p}, {q});
  pool.attrs.set("kernel_shape", V{3, 3});
  pool.attrs.set("strides", V{1, 1});
  pool.attrs.set("dilations", V{1, 1});
  pool.attrs.set("pads", V{0, 0, 0, 0});
  const int y = b.tensor("y", {1, 4, 4, 3}, ir::TensorKind::kOutput);
  b.node("mul", ir::Op::Mul, {q, x}, {y});
  b.g.inputs = {x};
  b.g.outputs = {m, s, y};
  b.g.finalize("synthetic");
  ir::Graph& g = b.g;

  const fs::path path = scratch("synthetic_nhwc.onnx");
  exporter::save(g, path, exporter::Format::kOnnx);
  std::string message;
  if (onnx_check(path, &message) != 3) EXPECT_EQ(onnx_check(path, &message), 0) << message;
  const ir::Graph exported = import::load_onnx(path);
  int transposes = 0;
  for (const auto& n : exported.nodes) transposes += n.op == ir::Op::Transpose;
  // x to NCHW, a back to NHWC for the Reshape, y's NCHW form back to NHWC; nothing else.
  EXPECT_EQ(transposes, 3);

  const auto inputs = infercast::runtime::random_inputs(g, 7);
  auto xnnpack = infercast::runtime::make_runtime("xnnpack");
  xnnpack->prepare(g, {1});
  auto ort = infercast::runtime::make_runtime("ort");
  ort->prepare(exported, {1});
  const auto results = infercast::runtime::compare_outputs(ort->infer(inputs), xnnpack->infer(inputs), {1e-4, 1e-5});
  ASSERT_EQ(results.size(), 3u);
  for (const auto& r : results) {
    EXPECT_TRUE(r.pass) << r.name << ": " << r.note << " max abs " << r.max_abs_error << ", " << r.mismatches
                        << " mismatches";
  }
}

TEST(OnnxExport, NhwcDataMovementOpsMatchXnnpack) {
  // STRIDED_SLICE with masks and a shrunk axis, GELU and SQUARED_DIFFERENCE (composed
  // from opset-13 ops), SPLIT, BATCH_MATMUL with adj_y, GATHER and TILE.
  if (!ort_installed()) GTEST_SKIP() << "needs runners/ort (ONNX Runtime)";
  NhwcGraph b;
  const int x = b.tensor("x", {1, 6, 4, 8}, ir::TensorKind::kInput);
  const int s1 = b.tensor("s1", {2, 4, 2});
  auto& slice = b.node(
      "slice", ir::Op::Slice,
      {x, b.ints("begin", {0, 1, 0, 2}, {4}), b.ints("end", {1, 5, 1, 8}, {4}), b.ints("strides", {1, 2, 1, 3}, {4})},
      {s1});
  slice.source_op = "STRIDED_SLICE";
  slice.attrs.set("begin_mask", std::int64_t{0});
  slice.attrs.set("end_mask", std::int64_t{4});
  slice.attrs.set("ellipsis_mask", std::int64_t{0});
  slice.attrs.set("new_axis_mask", std::int64_t{0});
  slice.attrs.set("shrink_axis_mask", std::int64_t{1});
  const int g1 = b.tensor("g1", {2, 4, 2});
  b.node("gelu", ir::Op::Gelu, {s1}, {g1}).attrs.set("approximate", std::int64_t{0});
  const int sd = b.tensor("sd", {2, 4, 2}, ir::TensorKind::kOutput);
  b.node("sqdiff", ir::Op::SquaredDifference, {g1, b.weights("c2", {2})}, {sd});
  const int h0 = b.tensor("h0", {1, 6, 4, 4});
  const int h1 = b.tensor("h1", {1, 6, 4, 4});
  auto& split = b.node("split", ir::Op::Split, {x, b.ints("split_axis", {3}, {})}, {h0, h1});
  split.source_op = "SPLIT";
  split.attrs.set("axis", std::int64_t{3});
  split.attrs.set("num_outputs", std::int64_t{2});
  const int mm = b.tensor("mm", {1, 6, 4, 4}, ir::TensorKind::kOutput);
  auto& matmul = b.node("matmul", ir::Op::MatMul, {h0, h1}, {mm});
  matmul.attrs.set("adj_x", std::int64_t{0});
  matmul.attrs.set("adj_y", std::int64_t{1});
  const int ga = b.tensor("ga", {1, 2, 4, 8});
  auto& gather = b.node("gather", ir::Op::Gather, {x, b.ints("indices", {3, 0}, {2})}, {ga});
  gather.attrs.set("axis", std::int64_t{1});
  gather.attrs.set("batch_dims", std::int64_t{0});
  const int ti = b.tensor("ti", {1, 2, 4, 16}, ir::TensorKind::kOutput);
  b.node("tile", ir::Op::Tile, {ga, b.ints("multiples", {1, 1, 1, 2}, {4})}, {ti});
  b.g.inputs = {x};
  b.g.outputs = {sd, mm, ti};
  b.g.finalize("synthetic");

  const fs::path path = scratch("synthetic_data_movement.onnx");
  exporter::save(b.g, path, exporter::Format::kOnnx);
  std::string message;
  if (onnx_check(path, &message) != 3) EXPECT_EQ(onnx_check(path, &message), 0) << message;
  const ir::Graph exported = import::load_onnx(path);
  const auto inputs = infercast::runtime::random_inputs(b.g, 11);
  auto xnnpack = infercast::runtime::make_runtime("xnnpack");
  xnnpack->prepare(b.g, {1});
  auto ort = infercast::runtime::make_runtime("ort");
  ort->prepare(exported, {1});
  const auto results = infercast::runtime::compare_outputs(ort->infer(inputs), xnnpack->infer(inputs), {1e-4, 1e-5});
  ASSERT_EQ(results.size(), 3u);
  for (const auto& r : results) {
    EXPECT_TRUE(r.pass) << r.name << ": " << r.note << " max abs " << r.max_abs_error << ", " << r.mismatches
                        << " mismatches";
  }
}

}  // namespace
