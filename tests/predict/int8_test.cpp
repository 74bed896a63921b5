// int8 prediction: kernel detection of quantized forms (QDQ ONNX, int8 TFLite), the
// training rows of int8 kernels, and the precision check between bundle and model.
#include <gtest/gtest.h>

#include <cmath>

#include <filesystem>
#include <iostream>

#include "infercast/base/error.hpp"
#include "infercast/bench/kernel.hpp"
#include "infercast/bench/timing.hpp"
#include "infercast/predict/fusion.hpp"
#include "infercast/predict/predictor.hpp"
#include "infercast/predict/profile.hpp"
#include "infercast/runtime/runtime.hpp"

namespace infercast::predict {
namespace {

bench::KernelSpec int8_conv(const std::string& type = "conv+relu") {
  return {type,
          {{"n", 1},
           {"h", 12},
           {"w", 12},
           {"cin", 8},
           {"cout", 16},
           {"k", 3},
           {"stride", 1},
           {"dilation", 1},
           {"pad", 1},
           {"groups", 1}},
          ir::DType::kInt8};
}

// The kernels that are neither removed nor the float interface (quantize / dequantize /
// transposes at the graph's edges).
std::vector<Kernel> compute_kernels(const ir::Graph& g) {
  std::vector<Kernel> out;
  for (Kernel& k : split_kernels(g, default_fusion_rules())) {
    if (k.removed || k.family == "datamove") continue;
    const std::string& anchor = k.type;
    if (anchor == "quantize" || anchor == "dequantize" || anchor == "quantizelinear" || anchor == "dequantizelinear")
      continue;
    out.push_back(std::move(k));
  }
  return out;
}

// QDQ ONNX, as ONNX Runtime's quantizer lays it out: DequantizeLinear -> Conv ->
// QuantizeLinear is one conv kernel; the activation's DequantizeLinear is folded into it,
// the weights' and bias's are prepared once. It reads and writes what the int8 TFLite conv
// reads and writes (int8 activations and weights, int32 bias): the same bytes.
TEST(PredictInt8, QdqConvIsOneInt8ConvKernel) {
  const bench::Int8KernelForm qdq = bench::int8_kernel_form("ort", int8_conv());
  const bench::Int8KernelForm tflite = bench::int8_kernel_form("xnnpack", int8_conv());
  const std::vector<Kernel> q = compute_kernels(qdq.graph);
  const std::vector<Kernel> t = compute_kernels(tflite.graph);
  ASSERT_EQ(q.size(), 1u);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(q[0].family, "conv");
  ASSERT_EQ(q[0].nodes.size(), 2u);
  EXPECT_EQ(qdq.graph.nodes[static_cast<std::size_t>(q[0].nodes[0])].op, ir::Op::Conv);
  EXPECT_EQ(qdq.graph.nodes[static_cast<std::size_t>(q[0].nodes[1])].op, ir::Op::QuantizeLinear);
  // The TFLite conv carries its ReLU; QDQ drops it (QuantizeLinear saturates at the same 0).
  EXPECT_EQ(t[0].type, "conv+relu");
  EXPECT_EQ(t[0].family, "conv");
  const double bytes = 8 * 12 * 12 + 16 * 8 * 9 + 16 * 4 + 16 * 12 * 12;
  EXPECT_EQ(t[0].cost.bytes, bytes);
  // The QDQ kernel also reads its QuantizeLinear's scale and zero point (5 bytes, 2 values),
  // which TFLite keeps on the tensor.
  EXPECT_NEAR(q[0].cost.bytes, bytes, 5);
  EXPECT_NEAR(q[0].cost.params, t[0].cost.params, 2);
  // Every activation DequantizeLinear of the QDQ graph that feeds the conv is removed.
  int folded = 0;
  for (const Kernel& k : split_kernels(qdq.graph, default_fusion_rules()))
    folded += k.removed && qdq.graph.nodes[static_cast<std::size_t>(k.nodes[0])].op == ir::Op::DequantizeLinear;
  EXPECT_GE(folded, 3) << "the activation's, the weights' and the bias's";
}

TEST(PredictInt8, TrainingRowOfAnInt8SpecIsItsOneKernel) {
  for (const std::string runtime : {"xnnpack", "ort"}) {
    SCOPED_TRACE(runtime);
    const auto row = training_kernel(bench::to_json(int8_conv()), 0.1, default_fusion_rules(), runtime);
    ASSERT_TRUE(row.has_value());
    EXPECT_EQ(row->kernel.family, "conv");
    EXPECT_GT(row->kernel.cost.flops, 2.0 * 16 * 8 * 9 * 12 * 12 - 1);
  }
}

// A conversion's training row is its form's interface: the quantize of the graph input or
// the dequantize of its output, each in its own family, with the tensor's elements.
TEST(PredictInt8, TrainingRowOfAConversionIsItsFormsInterface) {
  for (const std::string runtime : {"xnnpack", "ort"}) {
    for (const std::string type : {"quantize", "dequantize"}) {
      SCOPED_TRACE(runtime + " " + type);
      const bench::KernelSpec spec{type, {{"n", 1}, {"h", 8}, {"w", 6}, {"c", 16}}, ir::DType::kInt8};
      const auto row = training_kernel(bench::to_json(spec), 0.01, default_fusion_rules(), runtime);
      ASSERT_TRUE(row.has_value());
      EXPECT_EQ(row->kernel.family, type);
      EXPECT_NEAR(std::exp2(row->kernel.features[4]) - 1, 8 * 6 * 16, 0.5) << "log2_out_elems";
    }
  }
}

TEST(PredictInt8, PrecisionMismatchIsRefused) {
  const ir::Graph int8 = bench::int8_kernel_form("xnnpack", int8_conv()).graph;
  const ir::Graph qdq = bench::int8_kernel_form("ort", int8_conv()).graph;
  const ir::Graph fp32 = bench::build_kernel_graph(bench::float_twin(int8_conv()));
  EXPECT_EQ(model_precision(int8), "int8");
  EXPECT_EQ(model_precision(qdq), "int8");
  EXPECT_EQ(model_precision(fp32), "fp32");
  Bundle float_bundle;
  Bundle int8_bundle;
  int8_bundle.precision = "int8";
  try {
    predict(float_bundle, int8);
    FAIL() << "an int8 model on an fp32 bundle";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("int8"), std::string::npos);
  }
  EXPECT_THROW(predict(int8_bundle, fp32), Error);
  EXPECT_NO_THROW(predict(int8_bundle, qdq));
  EXPECT_NO_THROW(predict(float_bundle, fp32));
}

// int8 fusion probes on both runtimes, decided by the layers each runtime reports (the
// reference: what the runtime itself executed). ONNX Runtime: the QDQ writer folds a
// zero PAD into the next convolution's padding, so pad+conv and pad+dwconv run as one
// QLinearConv; it has no QDQ fusion of hard-swish or sigmoid into QLinearConv, nor of a
// residual QLinearAdd. XNNPACK: the int8 TFLite form keeps PAD, ADD, HARD_SWISH and
// LOGISTIC as their own operators, one layer each.
TEST(PredictInt8, FusionProbesDecideByTheLayersEachRuntimeRan) {
  const std::filesystem::path source = INFERCAST_SOURCE_DIR;
  std::vector<std::string> runtimes = {"xnnpack"};
  if (std::filesystem::exists(source / "runners/ort/node_modules/onnxruntime-node")) runtimes.push_back("ort");
  for (const std::string& name : runtimes) {
    SCOPED_TRACE(name);
    auto engine = runtime::make_runtime(name);
    bench::TimingOptions o;
    o.threads = 1;
    o.protocol.warmup = 1;
    o.protocol.min_repeats = 3;
    o.protocol.min_time_s = 0;
    o.protocol.max_remeasure = 0;
    o.cold_pass = false;
    auto time_ms = [&](const nlohmann::json& spec) {
      const bench::KernelTiming t = bench::time_kernel(*engine, bench::kernel_spec_from_json(spec), o);
      return ProbeTime{t.label_ms(), t.own_layers};
    };
    const FusionRules rules = detect_fusion(time_ms, kFusionAlpha, 1, &int8_fusion_probes());
    std::map<std::string, bool> fused;
    for (const auto& e : rules.evidence) {
      ASSERT_FALSE(e.contains("error")) << e.dump();
      EXPECT_EQ(e.value("decided_by", ""), "layers") << e.dump();
      fused[e.at("pair").get<std::string>()] = e.at("fused").get<bool>();
      std::cout << name << " " << e.dump() << "\n";
    }
    EXPECT_EQ(fused.size(), int8_fusion_probes().size());
    const bool ort = name == "ort";
    EXPECT_EQ(fused["pad+conv"], ort);
    EXPECT_EQ(fused["pad+dwconv"], ort);
    EXPECT_FALSE(fused["conv+add"]);
    EXPECT_FALSE(fused["conv+hardswish"]);
    EXPECT_FALSE(fused["dwconv+hardswish"]);
    EXPECT_FALSE(fused["conv+sigmoid"]);
  }
}

}  // namespace
}  // namespace infercast::predict
