// Timing one kernel on a runtime: the bench loop's measurement, also used by fusion
// probes. A kernel's cost inside a model is its own layers' time, not the one-kernel
// graph's end-to-end time, so the runtime's per-layer view is recorded with it:
//
// - own_ms: the sum of per-layer minima, leaving out the layers only a one-kernel graph
//   runs (layout conversions at its boundary: the NHWC round trip's Transposes, ONNX
//   Runtime's NCHWc ReorderInput/ReorderOutput, the TFLite writer's explicit Pad). The
//   minimum because on a shared machine other tenants only ever add time.
// - own_median_ms: the same layers' medians summed: what the typical run pays, as a user
//   running a model sees its median run.
// - layers_ms, layer_count: every layer's median summed and how many there were;
//   stats.median - layers_ms is the runtime's per-run overhead.
// - cold_ms: own_ms again with the caches flushed before every run (cold_protocol(),
//   cold_flush_bytes() of scratch): the kernel inside a model too large for the caches.
//
// int8 kernels (spec.dtype int8): the float twin's graph quantized as `quantize --mode full`
// quantizes a model (transform::quantize, random calibration), timed as int8 TFLite on
// XNNPACK and as QDQ ONNX on other runtimes. The QUANTIZE / DEQUANTIZE at the graph's
// float interface (QuantizeLinear / DequantizeLinear on ONNX Runtime), the layout
// Transposes and the TFLite writer's explicit Pad are boundary layers, so own_ms is what
// the op costs between int8 neighbours inside a quantized model. No feeders (the kernel
// already reads a tensor the QuantizeLinear before it has just written), except for max
// pools on ONNX Runtime: a rectifying 1x1 depthwise conv (a QLinearConv), without which
// ONNX Runtime runs the pool in NCHW, 40-120x slower than inside a quantized CNN. On
// XNNPACK the per-channel gate, concat and pad kernels compute channels-last, as in
// quantized models (the float twin permuted before quantizing).
//
// Materialization: on XNNPACK a spatial kernel runs as NHWC (a .tflite round trip) so
// its per-layer time does not include the NCHW re-layout a real model does not pay per
// layer; elementwise kernels run as they are (a TFLite round trip could lower them
// differently), concat and channel scaling on channels-last dims, and every kernel the
// round trip does not feed reads its inputs from a Relu of the same run, as ONNX Runtime's
// kernels read theirs from feeders. External runners get a one-kernel .onnx in `scratch_dir`, imported back
// so the runner and the graph agree, and removed afterwards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "infercast/bench/kernel.hpp"
#include "infercast/measure/measure.hpp"
#include "infercast/runtime/runtime.hpp"

namespace infercast::bench {

struct TimingOptions {
  int threads = 1;
  measure::Protocol protocol;
  bool cold_pass = true;  // also time the kernel with flushed caches
  std::uint64_t input_seed = 42;
  std::filesystem::path scratch_dir;  // model files for the runtime; empty = the system temp folder
};

struct KernelTiming {
  measure::Stats stats;      // end to end, milliseconds: the lowest-CV attempt
  int remeasured = 0;        // extra attempts the CV target took
  double timed_s = 0;        // seconds spent in timed runs, every attempt
  double own_ms = 0;         // 0 when the runtime reports no layers
  double own_median_ms = 0;  // the same layers' medians summed: the typical run's own time
  int own_layers = 0;        // the layers own_ms sums (the kernel's, boundary layers left out)
  double layers_ms = 0;
  int layer_count = 0;
  double cold_ms = 0;                        // 0 without the cold pass or layers
  double prepare_s = 0;                      // building, converting and preparing the graph
  std::vector<runtime::LayerTiming> layers;  // the kept attempt's layers, in execution order
  // What a model pays for this kernel: own_ms when measured, else the end-to-end median.
  double label_ms() const { return own_ms > 0 ? own_ms : stats.median; }
};

// The one-kernel graph of `spec` as it is timed on the runtime named so: build_kernel_graph,
// turned channels-last for the kernel types XNNPACK runs so inside a model (standalone
// BatchNormalization, Pad; at 1 thread also concat and channel scaling, which at several
// threads keep their NCHW graph and get convolution feeders, whose output is channels-last;
// see timing.cpp for the measurements behind each). `threads` is the count it is timed at.
ir::Graph timed_kernel_graph(const std::string& runtime_name, const KernelSpec& spec, int threads = 1);

// The int8 form of an int8 `spec` as runtime `runtime_name` loads it: `bytes` is the int8
// TFLite file (xnnpack) or the QDQ ONNX file (other runtimes) and `graph` that file
// imported (it views `bytes`, which it retains). Throws Error(kInvalidArgument) for a spec
// that is not int8, and what transform::quantize throws.
struct Int8KernelForm {
  std::shared_ptr<const std::string> bytes;
  ir::Graph graph;
  bool onnx = false;
};
Int8KernelForm int8_kernel_form(const std::string& runtime_name, const KernelSpec& spec);

// Any float graph in the int8 form `quantize --mode full` writes for `runtime_name`, with
// the random calibration int8 kernels get (the one quantizer, as int8_kernel_form uses
// it): the weight chains of an int8 profile. Throws what transform::quantize throws.
Int8KernelForm int8_form_of(const std::string& runtime_name, const ir::Graph& float_graph);

// Builds (timed_kernel_graph, or int8_kernel_form), prepares and times `spec` on `engine`. Throws what building,
// exporting or the runtime throws. No further attempt starts once stop_requested() (bench.hpp).
KernelTiming time_kernel(runtime::Runtime& engine, const KernelSpec& spec, const TimingOptions& options);

// Times a whole model end to end (unprofiled runs, `protocol`) at `threads`, as `run` does:
// external runners get it as an .onnx file in `scratch_dir` (the system temp folder when
// empty), removed afterwards. The synthetic networks of profile --network-share.
measure::Stats time_network(runtime::Runtime& engine, const ir::Graph& graph, int threads,
                            const measure::Protocol& protocol, const std::filesystem::path& scratch_dir = {});

// time_kernel for a graph built otherwise; `type` is the kernel type its boundary
// layers and materialization are judged by.
KernelTiming time_graph(runtime::Runtime& engine, const ir::Graph& graph, const std::string& type,
                        const TimingOptions& options);

// What a runtime's per-layer profiler adds inside every layer's reported span,
// milliseconds: ONNX Runtime's profiler reports about 4 us for a Relu over 8 elements
// that runs in well under 1 us unprofiled, while XNNPACK's per-operator timing adds
// nothing measurable. Layer times (own_ms) carry it; a model's unprofiled run does not.
// Measured on chains of empty Relus (per-layer span minus the unprofiled end-to-end step
// per layer), >= 0; 0 when the runtime reports no per-node layers.
double layer_span_excess_ms(runtime::Runtime& engine, const TimingOptions& options);

// What a kernel pays inside a model however small it is, milliseconds: a Sigmoid over 256
// values timed between residual blocks of a CNN (a 3x3 conv, a depthwise conv and an Add
// over a stream of at least 4 MiB and four times `l2_bytes`; build_gate_chain), minus the
// same Sigmoid timed back to back, per layer (the gates' median layer times; the
// profiler's share is in both). Inside a model every layer's code and the runtime's state
// for it were last touched a few megabytes of traffic and several other kernels' code
// ago; the bench's runs back to back find them in the core's private caches. (Between
// Relus over 4 MiB, whose few instructions leave the gate's code cached, it measured
// 0.09-0.19 us on XNNPACK at 1 thread, while such gates took 0.4-0.5 us more than their
// labels inside efficientnet and mobilenet_v3.) Median of five rounds,
// >= 0; 0 when the runtime reports no per-node layers or runs the gates out of order.
double kernel_start_ms(runtime::Runtime& engine, const TimingOptions& options, std::size_t l2_bytes);

// Whether the median of `n` runs whose CV is `cv` is known to 1%: its standard error,
// 1.2533 * cv / sqrt(n) for a normal spread, is at most 0.01. The bench stops re-measuring
// a kernel then, however wide its single runs spread: another attempt cannot move the label
// by more than a quiet machine's run-to-run drift (±5%). A 0.25 ms conv whose own layer
// spreads by 6% over 470 runs has its median to 0.35%; a heavy kernel timed 10 times needs
// CV <= 2.5%.
bool median_settled(double cv, std::size_t n);

// The flushed pass: each run after writing cold_flush_bytes() of scratch (twice the
// last-level cache, at least 16 MiB); ten runs, or as many as about 2 GiB of flushing
// allows, at least 3.
measure::Protocol cold_protocol();
std::size_t cold_flush_bytes();

// Whether a layer the runtime reports for a kernel of `kernel_type` is a boundary layer
// of the one-kernel graph (see own_ms above).
bool boundary_layer(const std::string& kernel_type, const std::string& op);

// Kernel types whose output a model's next convolution reads in ONNX Runtime's blocked
// NCHWc layout while the kernel itself runs in NCHW: a squeeze-excitation's channel
// scaling (efficientnet, regnet_y, mobilenet_v3). Inside those models ONNX Runtime puts a
// ReorderOutput of the scaled tensor before the Mul and a ReorderInput after it, and both
// are the kernel's own layers (its label includes them).
bool nchwc_reordered(const std::string& kernel_type);

}  // namespace infercast::bench
