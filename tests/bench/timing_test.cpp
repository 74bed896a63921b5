// Timing one kernel (bench::time_kernel) and the bench loop storing its per-layer view.
#include "infercast/bench/timing.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

#include "infercast/base/error.hpp"
#include "infercast/bench/bench.hpp"

namespace infercast::bench {
namespace {

namespace fs = std::filesystem;
const fs::path kSource = INFERCAST_SOURCE_DIR;

KernelSpec strided_conv() {
  KernelSpec s;
  s.type = "conv";
  s.params = {{"n", 1}, {"h", 32},     {"w", 32},       {"cin", 8}, {"cout", 16},
              {"k", 3}, {"stride", 2}, {"dilation", 1}, {"pad", 1}, {"groups", 1}};
  return s;
}

TimingOptions quick() {
  TimingOptions o;
  o.protocol = BenchOptions::default_protocol();
  o.protocol.min_time_s = 0;
  o.protocol.min_repeats = 5;
  return o;
}

// A kernel's own time is its own layers' time: on XNNPACK a strided 3x3 conv on an even
// map runs as NHWC behind the exporter's boundary Transposes and explicit Pad, none of
// which count; the flushed pass and the layer count are recorded.
TEST(BenchTiming, OwnTimeLeavesOutBoundaryLayers) {
  auto xnnpack = runtime::make_runtime("xnnpack");
  const KernelTiming t = time_kernel(*xnnpack, strided_conv(), quick());
  EXPECT_EQ(t.layer_count, 4) << "Transpose, Pad, Conv, Transpose";
  EXPECT_EQ(t.own_layers, 1);
  EXPECT_GT(t.own_ms, 0.0);
  EXPECT_LT(t.own_ms, t.layers_ms);
  EXPECT_GT(t.cold_ms, 0.0);
  EXPECT_EQ(t.label_ms(), t.own_ms);
  EXPECT_GT(t.stats.n, 0u);
  // An elementwise kernel runs as it is behind a feeder Relu: two layers, one counted.
  KernelSpec sigmoid;
  sigmoid.type = "sigmoid";
  sigmoid.params = {{"n", 1}, {"h", 16}, {"w", 16}, {"c", 8}};
  TimingOptions warm = quick();
  warm.cold_pass = false;
  const KernelTiming e = time_kernel(*xnnpack, sigmoid, warm);
  EXPECT_EQ(e.layer_count, 2);
  EXPECT_EQ(e.own_layers, 1);
  EXPECT_GT(e.own_ms, 0.0);
  EXPECT_EQ(e.cold_ms, 0.0) << "no cold pass asked for";
  // XNNPACK clamps inside its convolution operator: conv->relu executes as one layer,
  // which is what fusion detection reads.
  KernelSpec conv_relu = strided_conv();
  conv_relu.type = "conv+relu";
  EXPECT_EQ(time_kernel(*xnnpack, conv_relu, warm).own_layers, 1);
}

// At several threads XNNPACK times an elementwise kernel with its first input from a long
// copying convolution (every thread writes its share, as a model's convolutions do), its
// second from a 1x1 depthwise conv, and drains its output: the layers are the two feeder
// convs, the kernel, the drain's conv and pool, and only the kernel's counts. At 1 thread
// the feeders stay Relus. Concat and the channel gate are fed so too.
TEST(BenchTiming, SeveralThreadsOnXnnpackFeedElementwiseKernelsFromLongConvs) {
  auto xnnpack = runtime::make_runtime("xnnpack");
  KernelSpec add;
  add.type = "add";
  add.params = {{"n", 1}, {"h", 14}, {"w", 14}, {"c", 32}};
  TimingOptions o = quick();
  o.cold_pass = false;
  o.threads = 2;
  const KernelTiming two = time_kernel(*xnnpack, add, o);
  EXPECT_EQ(two.layer_count, 5) << "2 feeder convs, the Add, the drain's conv and pool";
  EXPECT_EQ(two.own_layers, 1);
  EXPECT_GT(two.own_ms, 0.0);
  EXPECT_LT(two.own_ms, two.layers_ms);
  o.threads = 1;
  const KernelTiming one = time_kernel(*xnnpack, add, o);
  EXPECT_EQ(one.layer_count, 3) << "2 feeder Relus, the Add";
  EXPECT_EQ(one.own_layers, 1);
  // A Relu fuses into a convolution before it, so it keeps its Relu feeder at any thread count.
  KernelSpec relu = add;
  relu.type = "relu";
  o.threads = 2;
  const KernelTiming r = time_kernel(*xnnpack, relu, o);
  EXPECT_EQ(r.layer_count, 2);
  EXPECT_EQ(r.own_layers, 1);
  // A concat and a channel gate keep their NCHW graph at several threads (the feeder
  // convolutions' outputs are channels-last; the gate's are both 1x1 depthwise), where 1
  // thread permutes their dims.
  std::map<std::string, std::int64_t> three_inputs = add.params;
  three_inputs["inputs"] = 3;
  for (const KernelSpec& spec : {KernelSpec{"concat", three_inputs}, KernelSpec{"channel_mul", add.params}}) {
    const ir::Graph nchw = build_kernel_graph(spec);
    const auto in = [](const ir::Graph& g) { return g.tensors[static_cast<std::size_t>(g.inputs[0])].shape.extents(); };
    EXPECT_EQ(in(timed_kernel_graph("xnnpack", spec, 2)), in(nchw)) << spec.type;
    EXPECT_NE(in(timed_kernel_graph("xnnpack", spec, 1)), in(nchw)) << spec.type;
    const KernelTiming t = time_kernel(*xnnpack, spec, o);
    EXPECT_EQ(t.layer_count, static_cast<int>(nchw.inputs.size()) + 3) << spec.type << ": feeders, itself, the drain";
    EXPECT_EQ(t.own_layers, 1) << spec.type;
    EXPECT_GT(t.own_ms, 0.0) << spec.type;
  }
}

// On ONNX Runtime a channel gate runs in NCHW between blocked (NCHWc) layers, as in a
// squeeze-excitation: behind a 1x1 depthwise feeder and drained into another, its own
// layers are the ReorderOutput of the scaled tensor and of the gate, the Mul and the
// ReorderInput after it; the harness's own conversions (each graph input's ReorderInput
// before its feeder, the drained output's ReorderOutput) are not counted.
TEST(BenchTiming, OrtChannelGateOwnsItsLayoutConversions) {
  auto ort = runtime::make_runtime("ort");
  KernelSpec gate;
  gate.type = "channel_mul";
  gate.params = {{"n", 1}, {"h", 28}, {"w", 28}, {"c", 32}};
  TimingOptions warm = quick();
  warm.cold_pass = false;
  const KernelTiming t = time_kernel(*ort, gate, warm);
  EXPECT_EQ(t.layer_count, 11) << "2 x (ReorderInput, feeder), 2 ReorderOutput, Mul, ReorderInput, drain conv, "
                                  "pool, ReorderOutput";
  EXPECT_EQ(t.own_layers, 4);
  EXPECT_GT(t.own_ms, 0.0);
  EXPECT_LT(t.own_ms, t.layers_ms);
  // A Mul of equal shapes has a Relu feeder per input and no conversion.
  KernelSpec mul = gate;
  mul.type = "mul";
  const KernelTiming m = time_kernel(*ort, mul, warm);
  EXPECT_EQ(m.layer_count, 3);
  EXPECT_EQ(m.own_layers, 1);
}

// On ONNX Runtime a conv ending in hard swish, written either way (a HardSwish op, or
// x * HardSigmoid(x)), is drained into a blocked layer as inside mobilenet_v3: its NCHWc
// conv then takes the hard swish in and runs as one layer of its own, which is what
// fusion detection reads. Into a graph output the same graph runs as three.
TEST(BenchTiming, OrtConvTakesHardSwishInWhenABlockedLayerReadsIt) {
  auto ort = runtime::make_runtime("ort");
  TimingOptions warm = quick();
  warm.cold_pass = false;
  for (const char* type : {"conv+hsigmoid_mul", "conv+hardswish"}) {
    KernelSpec conv = strided_conv();
    conv.type = type;
    const KernelTiming t = time_kernel(*ort, conv, warm);
    EXPECT_EQ(t.own_layers, 1) << type;
    EXPECT_GT(t.own_ms, 0.0) << type;
  }
  // The pair alone, behind its feeder Relu, is two layers: ONNX Runtime does not run it
  // as one operator (hardsigmoid+mul is not fused), unlike swish's sigmoid+mul.
  KernelSpec pair;
  pair.type = "hsigmoid_mul";
  pair.params = {{"n", 1}, {"h", 16}, {"w", 16}, {"c", 8}};
  EXPECT_EQ(time_kernel(*ort, pair, warm).own_layers, 2);
}

// On XNNPACK the channel shuffle reads a tensor a 1x1 depthwise conv wrote, channels-last
// as inside ShuffleNet: its first Reshape is then a layout conversion, a layer of its
// own (in shufflenet_v2_x1_0 it is 0.056 of the shuffle's 0.064 ms), which the bench's
// NCHW graph behind a Relu never ran.
TEST(BenchTiming, XnnpackShufflesChannelsLastData) {
  auto xnnpack = runtime::make_runtime("xnnpack");
  TimingOptions warm = quick();
  warm.cold_pass = false;
  KernelSpec shuffle;
  shuffle.type = "channel_shuffle";
  shuffle.params = {{"n", 1}, {"h", 14}, {"w", 14}, {"c", 32}, {"groups", 2}};
  const KernelTiming t = time_kernel(*xnnpack, shuffle, warm);
  EXPECT_EQ(t.layer_count, 3) << "the feeder conv, the Reshape's conversion, the Transpose";
  EXPECT_EQ(t.own_layers, 2);
  EXPECT_GT(t.own_ms, 0.0);
}

// The calibration of kernel_start_ms: the gates run one by one, each after its own block
// of stream layers, and every layer is reported under its node's name; the measurement is a
// duration (its size is a timing, checked in bench/, not here).
TEST(BenchTiming, GateChainInterleavesTheStreamAndKernelStartIsADuration) {
  const ir::Graph g = build_gate_chain(4, 256, 32);
  EXPECT_EQ(g.outputs.size(), 2u);
  EXPECT_EQ(g.nodes.size(), 16u);
  EXPECT_THROW(build_gate_chain(0, 256, 0), Error);
  auto xnnpack = runtime::make_runtime("xnnpack");
  TimingOptions warm = quick();
  warm.cold_pass = false;
  const KernelTiming t = time_graph(*xnnpack, g, "sigmoid", warm);
  std::vector<std::string> names;
  for (const runtime::LayerTiming& l : t.layers) names.push_back(l.name);
  EXPECT_EQ(names, (std::vector<std::string>{"conv0", "dw0", "stream0", "gate0", "conv1", "dw1", "stream1", "gate1",
                                             "conv2", "dw2", "stream2", "gate2", "conv3", "dw3", "stream3", "gate3"}));
  const double start = kernel_start_ms(*xnnpack, warm, 1 << 20);
  EXPECT_TRUE(std::isfinite(start));
  EXPECT_GE(start, 0.0);
  EXPECT_LT(start, 1.0);  // a millisecond per kernel would be a broken measurement, not a cache miss
}

// GELU and LayerNormalization written op by op: ONNX Runtime fuses each into one layer
// (Gelu, LayerNormalization), XNNPACK runs the parts; the label is all of them either way.
TEST(BenchTiming, OpByOpGeluAndLayerNormAreOneLayerOnOrtAndTheirPartsOnXnnpack) {
  auto ort = runtime::make_runtime("ort");
  auto xnnpack = runtime::make_runtime("xnnpack");
  TimingOptions warm = quick();
  warm.cold_pass = false;
  for (const char* type : {"gelu", "layernorm_ops"}) {
    KernelSpec spec;
    spec.type = type;
    spec.params = {{"n", 50}, {"c", 256}};
    const KernelTiming o = time_kernel(*ort, spec, warm);
    EXPECT_EQ(o.own_layers, 1) << type;
    const KernelTiming x = time_kernel(*xnnpack, spec, warm);
    EXPECT_GT(x.own_layers, 3) << type;
    EXPECT_GT(o.own_ms, 0.0) << type;
    EXPECT_GT(x.own_ms, 0.0) << type;
  }
}

// XNNPACK times pads channels-last, as a model runs them: the kernel graph's pads are
// carried over to TFLite's [rank, 2] order, so it computes the NCHW kernel's output in
// NHWC (checked against XNNPACK running the NCHW graph, which re-lays it out itself),
// and it runs as one layer with no re-layout around it (behind its feeder).
TEST(BenchTiming, XnnpackTimesPadsChannelsLast) {
  KernelSpec pad;
  pad.type = "pad";
  pad.params = {{"n", 1}, {"h", 5}, {"w", 7}, {"c", 3}, {"pad", 2}};
  KernelSpec channel_pad;
  channel_pad.type = "channel_pad";
  channel_pad.params = {{"n", 1}, {"h", 4}, {"w", 6}, {"c", 3}, {"cpad", 5}};
  for (const KernelSpec& spec : {pad, channel_pad}) {
    const ir::Graph nchw = build_kernel_graph(spec);
    const ir::Graph nhwc = timed_kernel_graph("xnnpack", spec);
    EXPECT_EQ(timed_kernel_graph("ort", spec).meta.layout, nchw.meta.layout) << "channels-last on XNNPACK only";
    ASSERT_EQ(nhwc.meta.layout, ir::Layout::kNHWC);
    const auto in = nchw.tensors[static_cast<std::size_t>(nchw.inputs[0])].shape.extents();
    const auto out = nchw.tensors[static_cast<std::size_t>(nchw.outputs[0])].shape.extents();
    ASSERT_EQ(in.size(), 4u);
    // NCHW input, its NHWC copy, and NCHW index of an NHWC position.
    std::vector<runtime::HostTensor> x = runtime::random_inputs(nchw, 7);
    ASSERT_EQ(x.size(), 1u);
    const float* xs = reinterpret_cast<const float*>(x[0].data.data());
    runtime::HostTensor xt = x[0];
    xt.dims = {in[0], in[2], in[3], in[1]};
    float* xts = reinterpret_cast<float*>(xt.data.data());
    const auto at = [](const std::vector<std::int64_t>& d, std::int64_t c, std::int64_t h, std::int64_t w) {
      return static_cast<std::size_t>((c * d[2] + h) * d[3] + w);
    };
    for (std::int64_t c = 0; c < in[1]; ++c)
      for (std::int64_t h = 0; h < in[2]; ++h)
        for (std::int64_t w = 0; w < in[3]; ++w)
          xts[static_cast<std::size_t>((h * in[3] + w) * in[1] + c)] = xs[at(in, c, h, w)];
    auto a = runtime::make_runtime("xnnpack");
    auto b = runtime::make_runtime("xnnpack");
    a->prepare(nchw, {1});
    b->prepare(nhwc, {1});
    const std::vector<runtime::HostTensor> ya = a->infer(x);
    const std::vector<runtime::HostTensor> yb = b->infer({xt});
    ASSERT_EQ(yb[0].dims, (std::vector<std::int64_t>{out[0], out[2], out[3], out[1]})) << spec.type;
    const float* pa = reinterpret_cast<const float*>(ya[0].data.data());
    const float* pb = reinterpret_cast<const float*>(yb[0].data.data());
    int mismatches = 0;
    for (std::int64_t c = 0; c < out[1]; ++c)
      for (std::int64_t h = 0; h < out[2]; ++h)
        for (std::int64_t w = 0; w < out[3]; ++w)
          mismatches += pa[at(out, c, h, w)] != pb[static_cast<std::size_t>((h * out[3] + w) * out[1] + c)];
    EXPECT_EQ(mismatches, 0) << spec.type;
    TimingOptions warm = quick();
    warm.cold_pass = false;
    const KernelTiming t = time_kernel(*a, spec, warm);
    EXPECT_EQ(t.layer_count, 2) << spec.type << ": the Pad and its feeder, no Transpose around it";
    EXPECT_EQ(t.own_layers, 1) << spec.type;
  }
}

// XNNPACK times a concat along C and a squeeze-excitation's channel scaling on
// channels-last tensors, as an NHWC model holds them (the TFLite round trip kept both
// NCHW), with no re-layout, and every kernel that skips the round trip reads its inputs
// from feeders of the same run: the layers are the kernel's own plus one Relu per input.
TEST(BenchTiming, XnnpackTimesConcatAndChannelScalingChannelsLastBehindFeeders) {
  const std::map<std::string, std::int64_t> shape = {{"n", 1}, {"h", 6}, {"w", 5}, {"c", 8}};
  std::map<std::string, std::int64_t> two_inputs = shape;
  two_inputs["inputs"] = 2;
  const KernelSpec concat{"concat", two_inputs};
  const KernelSpec scale{"channel_mul", shape};
  const KernelSpec add{"add", shape};
  TimingOptions warm = quick();
  warm.cold_pass = false;
  auto engine = runtime::make_runtime("xnnpack");
  for (const KernelSpec& spec : {concat, scale, add}) {
    const ir::Graph nchw = build_kernel_graph(spec);
    const ir::Graph timed = timed_kernel_graph("xnnpack", spec);
    ASSERT_EQ(timed.inputs.size(), nchw.inputs.size()) << spec.type;
    for (std::size_t i = 0; i < nchw.inputs.size(); ++i) {
      const auto d = nchw.tensors[static_cast<std::size_t>(nchw.inputs[i])].shape.extents();
      const auto t = timed.tensors[static_cast<std::size_t>(timed.inputs[i])].shape.extents();
      ASSERT_EQ(d.size(), 4u) << spec.type;
      const std::vector<std::int64_t> expected =
          spec.type == "add" ? d : std::vector<std::int64_t>{d[0], d[2], d[3], d[1]};
      EXPECT_EQ(t, expected) << spec.type << " input " << i;
    }
    for (const ir::Node& n : timed.nodes)
      if (n.op == ir::Op::Concat) EXPECT_EQ(n.attrs.get_int("axis", 1), 3) << "joined along the last axis";
    const KernelTiming t = time_kernel(*engine, spec, warm);
    EXPECT_EQ(t.own_layers, 1) << spec.type;
    EXPECT_EQ(t.layer_count, 1 + static_cast<int>(nchw.inputs.size())) << spec.type << ": one feeder per input";
    EXPECT_GT(t.own_median_ms, 0) << spec.type;
  }
}

// On ONNX Runtime the runner's NCHWc reorders are boundary layers, and the runner's
// file is gone afterwards.
TEST(BenchTiming, RunnerKernelsLeaveNoFileBehind) {
  if (!fs::exists(kSource / "runners/ort/node_modules/onnxruntime-node")) GTEST_SKIP() << "needs runners/ort";
  auto ort = runtime::make_runtime("ort");
  const fs::path dir = fs::temp_directory_path() / ("infercast_timing_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  TimingOptions o = quick();
  o.scratch_dir = dir;
  const KernelTiming t = time_kernel(*ort, strided_conv(), o);
  EXPECT_GE(t.layer_count, 1);
  EXPECT_GT(t.own_ms, 0.0);
  EXPECT_LE(t.own_ms, t.layers_ms + 1e-12);
  EXPECT_GT(t.cold_ms, 0.0);
  EXPECT_TRUE(fs::is_empty(dir));
  fs::remove_all(dir);
  EXPECT_TRUE(boundary_layer("conv", "ReorderInput"));
  EXPECT_FALSE(boundary_layer("transpose", "Transpose"));
  EXPECT_FALSE(boundary_layer("pad", "Pad"));
  EXPECT_FALSE(boundary_layer("channel_pad", "Pad"));
  EXPECT_TRUE(boundary_layer("conv", "Pad"));
  EXPECT_FALSE(boundary_layer("pad+conv", "Pad"));
  EXPECT_FALSE(boundary_layer("pad+dwconv", "Pad"));
}

// What the bench loop commits carries the per-layer view, so training on a database
// learns kernels' own times rather than one-kernel graphs' end-to-end times.
// The re-measure rule's stop: a median known to 1% (standard error 1.2533 * CV / sqrt(n)).
TEST(BenchTiming, MedianIsSettledWhenItsStandardErrorIsUnderOnePercent) {
  EXPECT_TRUE(median_settled(0.06, 470));    // 0.35%
  EXPECT_FALSE(median_settled(0.06, 10));    // 2.4%
  EXPECT_TRUE(median_settled(0.025, 10));    // 0.99%
  EXPECT_FALSE(median_settled(0.026, 10));   // 1.03%
  EXPECT_FALSE(median_settled(0.80, 5000));  // 1.4%: a jittery microsecond kernel still re-measures
  EXPECT_FALSE(median_settled(0.0, 0));
}

// The flushed pass: 3 to 10 runs, and no more than about 2 GiB of flushing unless 3 runs
// already write more.
TEST(BenchTiming, FlushedPassBoundsItsFlushTraffic) {
  const measure::Protocol p = cold_protocol();
  EXPECT_EQ(p.min_repeats, p.max_repeats);
  EXPECT_GE(p.min_repeats, 3);
  EXPECT_LE(p.min_repeats, 10);
  const std::size_t traffic = static_cast<std::size_t>(p.min_repeats) * cold_flush_bytes();
  if (p.min_repeats > 3) EXPECT_LE(traffic, std::size_t{2} << 30);
  if (p.min_repeats < 10) EXPECT_GT(traffic + cold_flush_bytes(), std::size_t{2} << 30);
}

TEST(BenchLoop, StoresOwnAndColdTimes) {
  const fs::path dir = fs::temp_directory_path() / ("infercast_bench_own_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  store::Database db = store::Database::open(dir / "k.db");
  BenchOptions o;
  o.sampler.kernel_types = {"conv", "relu"};
  o.count = 4;
  o.protocol.min_time_s = 0;
  o.protocol.min_repeats = 3;
  o.quiet = true;
  std::ostringstream progress;
  const BenchSummary s = run_bench(o, db, progress);
  ASSERT_EQ(s.measured, 4u);
  for (const auto& mk : db.measured_kernels(s.profile_id)) {
    const store::Measurement& m = mk.measurement;
    EXPECT_GT(m.own_ms, 0.0) << mk.kernel.key;
    EXPECT_GE(m.layer_count, 1) << mk.kernel.key;
    EXPECT_GT(m.cold_ms, 0.0) << mk.kernel.key;
    EXPECT_LE(m.own_ms, m.layers_ms + 1e-12) << "a subset of layer minima against all layer medians: " << mk.kernel.key;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace infercast::bench
