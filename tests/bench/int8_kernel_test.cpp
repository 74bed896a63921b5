// int8 kernels: specs, their quantized forms (bench::int8_kernel_form) and their timing on
// both runtimes (bench::time_kernel), small shapes.
#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>

#include "infercast/base/error.hpp"
#include "infercast/bench/bench.hpp"
#include "infercast/bench/sampler.hpp"
#include "infercast/bench/timing.hpp"
#include "infercast/import/import.hpp"

namespace infercast::bench {
namespace {

namespace fs = std::filesystem;
const fs::path kSource = INFERCAST_SOURCE_DIR;

KernelSpec int8_spec(const std::string& type, std::map<std::string, std::int64_t> params) {
  return KernelSpec{type, std::move(params), ir::DType::kInt8};
}

// One small spec of every int8 kernel type.
std::vector<KernelSpec> small_int8_specs() {
  const std::map<std::string, std::int64_t> conv = {{"n", 1},     {"h", 12},    {"w", 12},     {"cin", 8},
                                                    {"cout", 16}, {"k", 3},     {"stride", 1}, {"dilation", 1},
                                                    {"pad", 1},   {"groups", 1}};
  const std::map<std::string, std::int64_t> dw = {{"n", 1}, {"h", 12},     {"w", 12},       {"c", 16},
                                                  {"k", 3}, {"stride", 1}, {"dilation", 1}, {"pad", 1}};
  const std::map<std::string, std::int64_t> nhwc = {{"n", 1}, {"h", 8}, {"w", 8}, {"c", 16}};
  std::vector<KernelSpec> specs;
  for (const std::string& t : int8_kernel_types()) {
    if (t.rfind("conv", 0) == 0) {
      specs.push_back(int8_spec(t, conv));
    } else if (t.rfind("dwconv", 0) == 0) {
      specs.push_back(int8_spec(t, dw));
    } else if (t.rfind("fc", 0) == 0) {
      specs.push_back(int8_spec(t, {{"n", 1}, {"cin", 64}, {"cout", 32}}));
    } else if (t == "maxpool") {
      specs.push_back(int8_spec(t, {{"n", 1}, {"h", 8}, {"w", 8}, {"c", 16}, {"k", 2}, {"stride", 2}, {"pad", 0}}));
    } else if (t == "concat") {
      auto p = nhwc;
      p["inputs"] = 2;
      specs.push_back(int8_spec(t, p));
    } else if (t == "pad") {
      auto p = nhwc;
      p["pad"] = 1;
      specs.push_back(int8_spec(t, p));
    } else if (t == "scale" || t == "shift+relu") {
      auto p = nhwc;
      p["scalar"] = 0;
      specs.push_back(int8_spec(t, p));
    } else {
      specs.push_back(int8_spec(t, nhwc));
    }
  }
  return specs;
}

TimingOptions quick() {
  TimingOptions o;
  o.protocol = BenchOptions::default_protocol();
  o.protocol.min_time_s = 0;
  o.protocol.min_repeats = 3;
  o.protocol.max_remeasure = 0;
  o.cold_pass = false;
  return o;
}

TEST(BenchInt8, SpecsValidateAndRoundTripThroughJson) {
  for (const KernelSpec& s : small_int8_specs()) {
    EXPECT_NO_THROW(validate(s)) << s.key();
    EXPECT_NE(s.key().find("dtype=int8"), std::string::npos);
    EXPECT_EQ(kernel_spec_from_json(to_json(s)), s) << s.key();
    EXPECT_EQ(float_twin(s).dtype, ir::DType::kFloat32);
  }
  // A type without an int8 form is refused, naming the dtype.
  KernelSpec softmax{"softmax", {{"n", 1}, {"c", 10}}, ir::DType::kInt8};
  EXPECT_THROW(validate(softmax), Error);
  // The float graph builder builds float kernels only; int8 goes through the quantizer.
  EXPECT_THROW(build_kernel_graph(small_int8_specs().front()), Error);
}

TEST(BenchInt8, SamplerGivesInt8SpecsOfTheInt8TypesOnly) {
  SamplerOptions o;
  o.sampler = "space";
  o.dtype = ir::DType::kInt8;
  o.max_macs = 1e7;
  const std::vector<KernelSpec> specs = sample_kernels(o, 30);
  ASSERT_EQ(specs.size(), 30u);
  // Each is an int8 spec of an int8 type, or a float spec of a type quantized models run
  // in float (their input's transpose).
  const auto& int8 = int8_kernel_types();
  const auto& as_float = int8_float_kernel_types();
  for (const KernelSpec& s : specs) {
    const bool float_type = std::find(as_float.begin(), as_float.end(), s.type) != as_float.end();
    EXPECT_EQ(s.dtype, float_type ? ir::DType::kFloat32 : ir::DType::kInt8) << s.type;
    EXPECT_TRUE(float_type || std::find(int8.begin(), int8.end(), s.type) != int8.end()) << s.type;
  }
  o.kernel_types = {"transpose", "scale"};
  for (const KernelSpec& s : sample_kernels(o, 4))
    EXPECT_EQ(s.dtype, s.type == "transpose" ? ir::DType::kFloat32 : ir::DType::kInt8) << s.type;
  o.kernel_types = {"softmax"};
  EXPECT_THROW(sample_kernels(o, 1), Error);
  // The conversions are int8 only: a float bench of them is refused by name.
  o.dtype = ir::DType::kFloat32;
  o.kernel_types = {"quantize"};
  try {
    sample_kernels(o, 1);
    FAIL() << "a float quantize kernel";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("quantize"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("--precision int8"), std::string::npos);
  }
}

// The int8 TFLite form: int8 activations between the interface QUANTIZE / DEQUANTIZE,
// int8 weights with one scale per output channel, int32 biases.
TEST(BenchInt8, TfliteFormIsQuantizedAsQuantizeFullMakesIt) {
  const KernelSpec conv = small_int8_specs().front();
  const Int8KernelForm form = int8_kernel_form("xnnpack", conv);
  EXPECT_FALSE(form.onnx);
  ASSERT_NE(form.bytes, nullptr);
  int quantize = 0, dequantize = 0, convs = 0;
  for (const ir::Node& n : form.graph.nodes) {
    quantize += n.op == ir::Op::Quantize;
    dequantize += n.op == ir::Op::Dequantize;
    if (n.op != ir::Op::Conv) continue;
    ++convs;
    const ir::Tensor& x = form.graph.tensors[static_cast<std::size_t>(n.inputs[0])];
    const ir::Tensor& w = form.graph.tensors[static_cast<std::size_t>(n.inputs[1])];
    const ir::Tensor& b = form.graph.tensors[static_cast<std::size_t>(n.inputs[2])];
    EXPECT_EQ(x.dtype, ir::DType::kInt8);
    EXPECT_EQ(w.dtype, ir::DType::kInt8);
    EXPECT_EQ(b.dtype, ir::DType::kInt32);
    EXPECT_EQ(w.quant.scales.size(), 16u) << "one scale per output channel";
  }
  EXPECT_EQ(convs, 1);
  EXPECT_EQ(quantize, 1);
  EXPECT_EQ(dequantize, 1);
  // The float spec is not an int8 kernel.
  EXPECT_THROW(int8_kernel_form("xnnpack", float_twin(conv)), Error);
}

// Every int8 type builds, quantizes and runs on XNNPACK's int8 operators; the kernel's own
// time is one layer: the interface QUANTIZE / DEQUANTIZE (and the TFLite writer's explicit
// pads) are left out.
TEST(BenchInt8, EveryTypeRunsOnXnnpackAsOneOwnLayer) {
  auto xnnpack = runtime::make_runtime("xnnpack");
  for (const KernelSpec& s : small_int8_specs()) {
    SCOPED_TRACE(s.key());
    const KernelTiming t = time_kernel(*xnnpack, s, quick());
    EXPECT_EQ(t.own_layers, 1);
    EXPECT_GE(t.layer_count, 3) << "QUANTIZE, the op, DEQUANTIZE";
    EXPECT_GT(t.own_ms, 0.0);
    EXPECT_LT(t.own_ms, t.layers_ms);
  }
}

// The same on ONNX Runtime with the QDQ ONNX form: ONNX Runtime's own QDQ fusion runs each
// DequantizeLinear -> op -> QuantizeLinear as one layer (QLinearConv, QLinearAdd, ...), which
// is what kernel detection assumes for QDQ models (predict/kernels.cpp).
TEST(BenchInt8, EveryTypeRunsOnOnnxRuntimeAsOneOwnLayer) {
  if (!fs::exists(kSource / "runners/ort/node_modules/onnxruntime-node")) GTEST_SKIP() << "needs runners/ort";
  auto ort = runtime::make_runtime("ort");
  for (const KernelSpec& s : small_int8_specs()) {
    SCOPED_TRACE(s.key());
    const Int8KernelForm form = int8_kernel_form("ort", s);
    EXPECT_TRUE(form.onnx);
    const KernelTiming t = time_kernel(*ort, s, quick());
    EXPECT_GE(t.own_layers, 1);
    EXPECT_GT(t.own_ms, 0.0);
    EXPECT_LT(t.own_ms, t.layers_ms);
    if (s.type.rfind("conv", 0) == 0 || s.type.rfind("dwconv", 0) == 0 || s.type.rfind("add", 0) == 0)
      EXPECT_EQ(t.own_layers, 1) << "ONNX Runtime fuses the QDQ group into one QLinear op";
  }
}

// A conversion between float and int8 is timed as its form's interface: the first
// quantize layer (of the graph input) or the last dequantize layer (to the output).
TEST(BenchInt8, ConversionsAreTheirFormsInterfaceLayers) {
  std::vector<std::string> runtimes = {"xnnpack"};
  if (fs::exists(kSource / "runners/ort/node_modules/onnxruntime-node")) runtimes.push_back("ort");
  for (const std::string& name : runtimes) {
    auto engine = runtime::make_runtime(name);
    for (const std::string type : {"quantize", "dequantize"}) {
      SCOPED_TRACE(name + " " + type);
      TimingOptions o = quick();
      o.cold_pass = false;
      const KernelTiming t = time_kernel(*engine, int8_spec(type, {{"n", 1}, {"h", 8}, {"w", 8}, {"c", 16}}), o);
      EXPECT_EQ(t.own_layers, 1);
      const bool to_int8 = type == "quantize";
      const runtime::LayerTiming* own = nullptr;
      for (const runtime::LayerTiming& l : t.layers) {
        const bool match = to_int8 ? (l.op == "Quantize" || l.op == "QuantizeLinear")
                                   : (l.op == "Dequantize" || l.op == "DequantizeLinear");
        if (match && (own == nullptr || !to_int8)) own = &l;
      }
      ASSERT_NE(own, nullptr);
      EXPECT_EQ(t.own_ms, own->ms.min);
    }
  }
}

// On XNNPACK the int8 per-channel gate, concat and pad compute on channels-last tensors,
// as inside a quantized model (the TFLite writer left them in NCHW order, where the gate
// broadcast along H and W and ran the int8 MUL's index walk, 8x slower per element).
TEST(BenchInt8, XnnpackFormsOfLayoutFreeKernelsAreChannelsLast) {
  const std::int64_t c = 16, h = 8, w = 6;
  const std::map<std::string, std::int64_t> nhwc = {{"n", 1}, {"h", h}, {"w", w}, {"c", c}};
  auto dims = [](const ir::Graph& g, int id) { return g.tensors[static_cast<std::size_t>(id)].shape.extents(); };
  auto op = [](const ir::Graph& g, ir::Op o) -> const ir::Node& {
    for (const ir::Node& n : g.nodes)
      if (n.op == o) return n;
    throw std::runtime_error("no such node");
  };
  {
    const ir::Graph g = int8_kernel_form("xnnpack", int8_spec("channel_mul", nhwc)).graph;
    const ir::Node& mul = op(g, ir::Op::Mul);
    EXPECT_EQ(dims(g, mul.inputs[0]), (std::vector<std::int64_t>{1, h, w, c}));
    EXPECT_EQ(dims(g, mul.inputs[1]), (std::vector<std::int64_t>{1, 1, 1, c}));
  }
  // A per-channel constant lies along the last axis, as XNNPACK's per-channel lookup
  // tables read it inside a quantized model (ops_quant.cpp), for the multiply and the add.
  for (const char* type : {"scale", "shift+relu"}) {
    auto p = nhwc;
    p["scalar"] = 0;
    const ir::Graph g = int8_kernel_form("xnnpack", int8_spec(type, p)).graph;
    const ir::Node& n = op(g, std::string(type) == "scale" ? ir::Op::Mul : ir::Op::Add);
    EXPECT_EQ(dims(g, n.inputs[0]), (std::vector<std::int64_t>{1, h, w, c})) << type;
    EXPECT_EQ(dims(g, n.inputs[1]), (std::vector<std::int64_t>{1, 1, 1, c})) << type;
    EXPECT_TRUE(g.tensors[static_cast<std::size_t>(n.inputs[1])].is_constant()) << type;
  }
  {
    auto p = nhwc;
    p["inputs"] = 2;
    const ir::Graph g = int8_kernel_form("xnnpack", int8_spec("concat", p)).graph;
    EXPECT_EQ(dims(g, op(g, ir::Op::Concat).outputs[0]), (std::vector<std::int64_t>{1, h, w, 2 * c}));
  }
  {
    auto p = nhwc;
    p["pad"] = 1;
    const ir::Graph g = int8_kernel_form("xnnpack", int8_spec("pad", p)).graph;
    EXPECT_EQ(dims(g, op(g, ir::Op::Pad).outputs[0]), (std::vector<std::int64_t>{1, h + 2, w + 2, c}));
  }
  // ONNX Runtime's QDQ form stays NCHW, as ONNX models are.
  const ir::Graph qdq = int8_kernel_form("ort", int8_spec("channel_mul", nhwc)).graph;
  for (const ir::Node& n : qdq.nodes)
    if (n.op == ir::Op::Mul) EXPECT_EQ(dims(qdq, n.inputs[1]), (std::vector<std::int64_t>{1, c, 1, 1}));
}

// An int8 max pool runs on ONNX Runtime as inside a quantized CNN: behind a QLinearConv of
// a rectified map, its explicit pad (torchvision's 3x3 stride-2 pool padded by 1 on an even
// map, not SAME in TFLite's terms) folded into it, as an NhwcMaxPool. Behind the graph's
// QuantizeLinear alone it ran as an NCHW uint8 MaxPool after a float Pad: 21.8 ms against
// 0.18 ms for this shape at 256 channels on 112x112.
TEST(BenchInt8, MaxPoolRunsOnOnnxRuntimeAsInsideQuantizedCnns) {
  if (!fs::exists(kSource / "runners/ort/node_modules/onnxruntime-node")) GTEST_SKIP() << "needs runners/ort";
  const KernelSpec pool =
      int8_spec("maxpool", {{"n", 1}, {"h", 16}, {"w", 16}, {"c", 16}, {"k", 3}, {"stride", 2}, {"pad", 1}});
  const Int8KernelForm form = int8_kernel_form("ort", pool);
  int pads = 0, convs = 0, pools = 0;
  for (const ir::Node& n : form.graph.nodes) {
    pads += n.op == ir::Op::Pad;
    convs += n.op == ir::Op::Conv;
    pools += n.op == ir::Op::MaxPool;
  }
  EXPECT_EQ(pads, 0) << "the explicit pad is folded into the pool";
  EXPECT_EQ(convs, 1) << "the feeder";
  EXPECT_EQ(pools, 1);
  // XNNPACK's form has no feeder: it runs pools channels-last either way.
  for (const ir::Node& n : int8_kernel_form("xnnpack", pool).graph.nodes) EXPECT_NE(n.op, ir::Op::Conv);

  const fs::path file = fs::temp_directory_path() / ("infercast-int8-pool-" + std::to_string(::getpid()) + ".onnx");
  std::ofstream(file, std::ios::binary).write(form.bytes->data(), static_cast<std::streamsize>(form.bytes->size()));
  const ir::Graph loaded = import::load_model(file);
  auto ort = runtime::make_runtime("ort");
  ort->prepare(loaded, {1});
  const runtime::RunResult r = ort->run({quick().protocol, true, 1});
  fs::remove(file);
  std::vector<std::string> ops;
  for (const runtime::LayerTiming& l : r.layers) ops.push_back(l.op);
  EXPECT_NE(std::find(ops.begin(), ops.end(), "NhwcMaxPool"), ops.end()) << testing::PrintToString(ops);
  EXPECT_EQ(std::find(ops.begin(), ops.end(), "Pad"), ops.end()) << testing::PrintToString(ops);
  EXPECT_EQ(time_kernel(*ort, pool, quick()).own_layers, 1) << "the feeder is not the kernel's";
}

}  // namespace
}  // namespace infercast::bench
