// Post-training int8 quantization, and the int8 models it writes run on XNNPACK's
// quantized operators. The reference is the float model on XNNPACK (itself checked
// against ONNX Runtime and the ONNX backend data by tests/runtime).
#include "infercast/transform/quantize.hpp"
#include "infercast/transform/transform.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "../test_files.hpp"
#include "infercast/base/error.hpp"
#include "infercast/bench/kernel.hpp"
#include "infercast/bench/synthetic.hpp"
#include "infercast/cost/cost.hpp"
#include "infercast/import/import.hpp"
#include "infercast/runtime/runtime.hpp"
#include "infercast/runtime/xnnpack_executor.hpp"

namespace {

namespace fs = std::filesystem;
using infercast::Error;
using infercast::ErrorKind;
using infercast::ir::DType;
using infercast::ir::Op;
namespace transform = infercast::transform;

const fs::path kSource = INFERCAST_SOURCE_DIR;
// MediaPipe's short-range face detector: fp16 weights behind DEQUANTIZE, CONV_2D,
// DEPTHWISE_CONV_2D, ADD, PAD, MAX_POOL_2D, RESHAPE, CONCATENATION: small and fast.
const fs::path kFace = kSource / ".cache/models/mediapipe/face_detection_short_range.tflite";

// A .npy file (NumPy format 1.0) holding `count` elements of `descr` with `shape`.
void write_npy(const fs::path& path, const std::string& descr, const std::string& shape, std::size_t bytes) {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out += std::string(bytes, '\0');
  infercast::testing::write_file(path, out);
}

transform::QuantizedModel quantize_face(transform::QuantizeMode mode) {
  const auto model = infercast::import::load_model(kFace);
  transform::QuantizeOptions options;
  options.mode = mode;
  options.calibration = "random:2";
  return transform::quantize(model, options);
}

TEST(Quantize, FullIntegerRunsOnXnnpackInt8AndTracksTheFloatModel) {
  if (!fs::exists(kFace)) GTEST_SKIP() << kFace << " is absent (make models fetches it)";
  const auto q = quantize_face(transform::QuantizeMode::kFull);
  const auto& g = q.graph;
  // The interface stays float; the compute ops read and write int8.
  for (int id : g.inputs) EXPECT_EQ(g.tensors[id].dtype, DType::kFloat32);
  for (int id : g.outputs) EXPECT_EQ(g.tensors[id].dtype, DType::kFloat32);
  int int8_convs = 0;
  for (const auto& n : g.nodes) {
    if (n.op != Op::Conv) continue;
    ASSERT_EQ(g.tensors[n.inputs[0]].dtype, DType::kInt8) << n.name;
    const auto& w = g.tensors[n.inputs[1]];
    EXPECT_EQ(w.dtype, DType::kInt8);
    // Per-channel symmetric weights: one scale per output channel, zero points 0.
    const auto dims = w.shape.extents();
    const std::int64_t cout = n.source_op == "DEPTHWISE_CONV_2D" ? dims[3] : dims[0];
    EXPECT_EQ(static_cast<std::int64_t>(w.quant.scales.size()), cout) << n.name;
    for (auto z : w.quant.zero_points) EXPECT_EQ(z, 0);
    if (n.inputs.size() > 2 && n.inputs[2] >= 0) {
      const auto& b = g.tensors[n.inputs[2]];
      EXPECT_EQ(b.dtype, DType::kInt32);
      // Bias scale = input scale × weight scale.
      EXPECT_NEAR(b.quant.scales[0], g.tensors[n.inputs[0]].quant.scales[0] * w.quant.scales[0],
                  1e-6 * b.quant.scales[0]);
    }
    ++int8_convs;
  }
  EXPECT_GE(int8_convs, 30);
  for (const auto& t : g.tensors) {
    if (t.dtype == DType::kInt8) EXPECT_FALSE(t.quant.empty()) << t.name;
  }
  // analyze counts every MAC of this model as int8 (all its convolutions are).
  const auto cost = infercast::cost::analyze(g);
  EXPECT_EQ(cost.macs_by_dtype.size(), 1u);
  EXPECT_EQ(cost.macs_by_dtype.count("int8") ? cost.macs_by_dtype.at("int8") : 0u, cost.macs);
  EXPECT_GT(cost.macs, 30'000'000u);  // 30.76 M MACs, as for the float model
  const auto weights = transform::weight_bytes_by_dtype(g);
  EXPECT_EQ(weights.count("float16"), 0u);
  EXPECT_GT(weights.at("int8"), 90000u);  // 101k fp16 weights → int8

  // The XNNPACK plan runs the convolutions on int8 operators.
  infercast::runtime::XnnpackExecutor exec;
  exec.prepare(g, 1);
  const auto errors =
      transform::compare_models(transform::float_tflite_form(infercast::import::load_model(kFace)), g, 3, 42, 1);
  ASSERT_EQ(errors.size(), 2u);
  for (const auto& e : errors) {
    // On random inputs (out of distribution for a face detector) full int8 keeps
    // 10-19 dB here; a wrong kernel (a shifted zero point, a per-channel scale on the
    // wrong axis, a missing bias) drops below 5 dB.
    EXPECT_GT(e.sqnr_db, 8.0) << e.name;
    EXPECT_TRUE(std::isfinite(e.max_abs));
  }
}

TEST(Quantize, StandaloneRelusBecomeTheirProducersFusedActivation) {
  if (!fs::exists(kFace)) GTEST_SKIP() << kFace << " is absent (make models fetches it)";
  // The float model has 17 RELU ops, each after a CONV_2D or an ADD whose output feeds it
  // alone; TFLite's converter folds them into those ops before it quantizes.
  const auto model = infercast::import::load_model(kFace);
  int relus = 0;
  for (const auto& n : model.nodes) relus += n.op == Op::Relu ? 1 : 0;
  ASSERT_EQ(relus, 17);
  const auto q = quantize_face(transform::QuantizeMode::kFull);
  int fused = 0;
  for (const auto& n : q.graph.nodes) {
    EXPECT_NE(n.op, Op::Relu) << n.name;
    if (n.attrs.get_string("fused_activation", "") != "relu") continue;
    ++fused;
    EXPECT_TRUE(n.op == Op::Conv || n.op == Op::Add) << n.name;
    // The int8 output covers the clamped range only: its zero point is the lowest code.
    const auto& y = q.graph.tensors[static_cast<std::size_t>(n.outputs[0])];
    ASSERT_EQ(y.dtype, DType::kInt8) << n.name;
    EXPECT_EQ(y.quant.zero_points.at(0), -128) << n.name;
  }
  EXPECT_EQ(fused, 17);
  // Every graph output keeps its name.
  ASSERT_EQ(q.graph.outputs.size(), model.outputs.size());
  for (std::size_t o = 0; o < model.outputs.size(); ++o) {
    EXPECT_EQ(q.graph.tensors[static_cast<std::size_t>(q.graph.outputs[o])].name,
              model.tensors[static_cast<std::size_t>(model.outputs[o])].name);
  }
}

// Every int8 FC's bias is scaled by its input's scale times its weights' (TFLite's rule),
// however many constants the quantizer adds before it writes the bias: the input's
// parameters were once read through a reference into the tensor list those constants
// grow, and the cold-weight chain `profile --precision int8` times (2048->2048 FCs, 8
// copies here) crashed `quantize` and the profile with it.
TEST(Quantize, BiasScaleIsInputTimesWeightScaleInALongChain) {
  const auto spec = infercast::bench::kernel_spec_from_json(
      {{"type", "fc"}, {"params", {{"n", 1}, {"cin", 2048}, {"cout", 2048}}}, {"dtype", "float32"}});
  const auto chain = infercast::bench::weight_chain(spec, 8);
  transform::QuantizeOptions options;
  options.mode = transform::QuantizeMode::kFull;
  options.calibration = "random:2";
  const auto q = transform::quantize(chain, options);
  int checked = 0;
  for (const auto& n : q.graph.nodes) {
    if (n.source_op != "FULLY_CONNECTED") continue;
    const auto quant = [&](int i) { return q.graph.tensors[static_cast<std::size_t>(n.inputs[i])].quant; };
    ASSERT_EQ(n.inputs.size(), 3u) << n.name;
    ASSERT_EQ(quant(2).scales.size(), 1u) << n.name;
    EXPECT_FLOAT_EQ(quant(2).scales[0], quant(0).scales.at(0) * quant(1).scales.at(0)) << n.name;
    ++checked;
  }
  EXPECT_EQ(checked, 8);
}

TEST(Quantize, DynamicRangeKeepsActivationsFloat) {
  if (!fs::exists(kFace)) GTEST_SKIP() << kFace << " is absent";
  const auto q = quantize_face(transform::QuantizeMode::kDynamic);
  EXPECT_EQ(q.calibration_samples, 0u);
  for (const auto& n : q.graph.nodes) {
    if (n.op != Op::Conv) continue;
    EXPECT_EQ(q.graph.tensors[n.inputs[0]].dtype, DType::kFloat32);
    EXPECT_EQ(q.graph.tensors[n.inputs[1]].dtype, DType::kInt8);
  }
  const auto errors =
      transform::compare_models(transform::float_tflite_form(infercast::import::load_model(kFace)), q.graph, 2, 42, 1);
  for (const auto& e : errors) EXPECT_GT(e.sqnr_db, 20.0) << e.name;  // weights only: 25-30 dB here
}

// The transform pass is the same quantizer: the same int8 graph as the free function.
TEST(Quantize, ThePassIsTheSameQuantizer) {
  if (!fs::exists(kFace)) GTEST_SKIP() << kFace << " is absent";
  infercast::ir::Graph graph = infercast::import::load_model(kFace);
  const auto results = transform::apply(graph, transform::make_passes({"quantize=dynamic"}));
  ASSERT_EQ(results.size(), 1u);
  const auto q = quantize_face(transform::QuantizeMode::kDynamic);
  EXPECT_EQ(results[0].rewrites, q.quantized_ops);
  ASSERT_EQ(graph.nodes.size(), q.graph.nodes.size());
  for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
    EXPECT_EQ(graph.nodes[i].op, q.graph.nodes[i].op) << i;
    for (std::size_t k = 0; k < graph.nodes[i].inputs.size() && k < q.graph.nodes[i].inputs.size(); ++k) {
      const int a = graph.nodes[i].inputs[k], b = q.graph.nodes[i].inputs[k];
      if (a >= 0 && b >= 0) EXPECT_EQ(graph.tensors[a].dtype, q.graph.tensors[b].dtype) << i << ":" << k;
    }
  }
}

TEST(Quantize, BadInt8ParametersAreRefusedAtPrepare) {
  if (!fs::exists(kFace)) GTEST_SKIP() << kFace << " is absent";
  auto q = quantize_face(transform::QuantizeMode::kFull);
  int victim = -1;
  for (const auto& n : q.graph.nodes) {
    if (n.op == Op::Conv) {
      victim = n.outputs[0];
      break;
    }
  }
  ASSERT_GE(victim, 0);
  auto& t = q.graph.tensors[static_cast<std::size_t>(victim)];
  const auto saved = t.quant;
  t.quant.scales[0] = 0.0f;
  infercast::runtime::XnnpackExecutor exec;
  try {
    exec.prepare(q.graph, 1);
    FAIL() << "a zero scale was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("scale 0"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(t.name), std::string::npos) << e.what();
  }
  t.quant = saved;
  t.quant.zero_points[0] = 300;
  try {
    exec.prepare(q.graph, 1);
    FAIL() << "zero point 300 was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("zero point 300"), std::string::npos) << e.what();
  }
}

// A model whose interface is int8 (what TFLite's converter writes with
// inference_input_type=int8): XNNPACK takes and returns its inputs and outputs as float,
// quantized/dequantized with the tensors' own parameters, and computes what the
// float-interface model computes.
TEST(Quantize, Int8InputsAndOutputsAreExchangedAsFloat) {
  if (!fs::exists(kFace)) GTEST_SKIP() << kFace << " is absent";
  auto edge = quantize_face(transform::QuantizeMode::kFull);
  const auto same = quantize_face(transform::QuantizeMode::kFull);
  auto& g = edge.graph;
  std::vector<int> inputs, outputs;
  std::vector<std::size_t> drop;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    const auto& n = g.nodes[i];
    if (n.op == Op::Quantize && g.tensors[n.inputs[0]].producer < 0) {
      inputs.push_back(n.outputs[0]);
      drop.push_back(i);
    }
    if (n.op == Op::Dequantize && std::find(g.outputs.begin(), g.outputs.end(), n.outputs[0]) != g.outputs.end()) {
      drop.push_back(i);
    }
  }
  for (int t : g.outputs) outputs.push_back(g.nodes[static_cast<std::size_t>(g.tensors[t].producer)].inputs[0]);
  ASSERT_EQ(inputs.size(), 1u);
  ASSERT_EQ(outputs.size(), 2u);
  for (auto it = drop.rbegin(); it != drop.rend(); ++it) g.nodes.erase(g.nodes.begin() + static_cast<long>(*it));
  for (int t : inputs) g.tensors[t].kind = infercast::ir::TensorKind::kInput;
  g.inputs = inputs;
  g.outputs = outputs;
  for (auto& t : g.tensors) t.producer = -1, t.consumers.clear();
  g.finalize("int8 interface");
  infercast::runtime::XnnpackExecutor a, b;
  a.prepare(same.graph, 1);
  b.prepare(g, 1);
  const std::size_t count = 128 * 128 * 3;
  std::vector<float> x(count);
  for (std::size_t i = 0; i < count; ++i) x[i] = static_cast<float>(static_cast<int>(i * 7919 % 255) - 127) / 128.0f;
  a.set_input(0, x);
  b.set_input(0, x);
  a.run();
  b.run();
  // The xnnpack runtime (run, verify) feeds such a model its own random int8 inputs.
  auto runtime = infercast::runtime::make_runtime("xnnpack");
  runtime->prepare(g, {1});
  const auto outs = runtime->infer(infercast::runtime::random_inputs(g, 42));
  EXPECT_EQ(outs.size(), 2u);
  for (std::size_t o = 0; o < 2; ++o) {
    const auto want = a.output(o);
    const auto got = b.output(o);
    ASSERT_EQ(want.size(), got.size());
    for (std::size_t i = 0; i < want.size(); ++i) ASSERT_EQ(got[i], want[i]) << "output " << o << " element " << i;
  }
}

TEST(Quantize, BadCalibrationSetsAreOneClearError) {
  if (!fs::exists(kFace)) GTEST_SKIP() << kFace << " is absent";
  const auto model = infercast::import::load_model(kFace);  // input_1 float32[1x128x128x3]
  const fs::path dir = infercast::testing::temp_path("infercast_calibration");
  fs::create_directories(dir);
  auto expect_error = [&](const std::string& spec, const std::string& needle) {
    try {
      transform::load_calibration(model, spec, 42);
      ADD_FAILURE() << spec << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(dir.string(), "empty");
  expect_error("random:0", "random:N");
  write_npy(dir / "a.npy", "<f4", "(1, 64, 64, 3)", 64 * 64 * 3 * 4);
  expect_error(dir.string(), "does not match the model's 1x128x128x3");
  fs::remove(dir / "a.npy");
  write_npy(dir / "b.npy", "<f8", "(1, 128, 128, 3)", 128 * 128 * 3 * 8);
  expect_error(dir.string(), "not float32");
  fs::remove(dir / "b.npy");
  write_npy(dir / "c.npy", "<f4", "(1, 128, 128, 3)", 128 * 128 * 3 * 4);
  EXPECT_EQ(transform::load_calibration(model, dir.string(), 42).size(), 1u);

  // The CLI: one line, exit 2, no output file.
  fs::remove(dir / "c.npy");
  const fs::path out = infercast::testing::temp_path("infercast_quantize_bad.tflite");
  const fs::path err = infercast::testing::temp_path("infercast_quantize_bad.err");
  const int status = std::system((std::string(INFERCAST_CLI) + " quantize " + kFace.string() + " --calibration " +
                                  dir.string() + " -o " + out.string() + " > /dev/null 2> " + err.string())
                                     .c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_FALSE(fs::exists(out));
  const std::string text = infercast::testing::read_file(err);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_NE(text.find("empty"), std::string::npos) << text;
}

}  // namespace
