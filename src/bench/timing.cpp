// Timing one kernel (include/infercast/bench/timing.hpp).
#include "infercast/bench/timing.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <string_view>
#include <vector>

#include "infercast/base/error.hpp"
#include "infercast/bench/bench.hpp"
#include "infercast/export/export.hpp"
#include "infercast/import/import.hpp"
#include "infercast/measure/stats.hpp"
#include "infercast/transform/quantize.hpp"

namespace infercast::bench {

namespace {

namespace fs = std::filesystem;

// Kernels anchored at a convolution or depthwise convolution (conv, conv+..., dwconv...,
// pad+conv, pad+dwconv; not convtranspose).
bool conv_kernel(const std::string& type) {
  return type == "conv" || type.rfind("conv+", 0) == 0 || type.rfind("dwconv", 0) == 0 || type == "pad+conv" ||
         type == "pad+dwconv";
}

// Kernels whose NCHW one-kernel graph XNNPACK would time with a re-layout inside the
// op: the spatial ones, timed through a TFLite round trip (NHWC). Elementwise kernels run
// as they are: their time does not depend on the layout, and a round trip could lower
// them differently (HardSigmoid becomes MUL, ADD, RELU_0_TO_1, while a model runs one
// HardSigmoid). Concat and channel scaling are layout-free to the TFLite writer, which
// kept them NCHW; they are made channels-last instead (timed_kernel_graph).
bool layout_sensitive(const std::string& type) {
  static const std::set<std::string> spatial = {"convtranspose",  "maxpool", "avgpool", "globalavgpool",
                                                "resize_nearest", "pad",     "se",      "channel_pad",
                                                "resize_bilinear"};
  return conv_kernel(type) || spatial.count(type) != 0;
}

// make_channels_last and permute_to_channels_last: every Pad's 8 constant int64 pads
// (ONNX order: begins then ends of N, C, H, W) rewritten as `order` picks them (as
// TFLite's [4, 2] paddings when `tflite_pads`), then every 4-D activation's dims
// N, C, H, W made N, H, W, C.
void permute_dims_and_pads(ir::Graph& g, const std::array<int, 8>& order, bool tflite_pads) {
  for (ir::Node& n : g.nodes) {
    if (n.op != ir::Op::Pad || n.inputs.size() < 2 || n.inputs[1] < 0) continue;
    ir::Tensor& pads = g.tensors[static_cast<std::size_t>(n.inputs[1])];
    if (!pads.is_constant() || pads.dtype != ir::DType::kInt64 || pads.data.size() != 8 * sizeof(std::int64_t))
      throw Error(ErrorKind::kInvalidArgument, "", "kernel node " + n.name, "pads are not 8 constant int64 values");
    std::int64_t onnx[8];
    std::memcpy(onnx, pads.data.data(), sizeof onnx);
    std::int64_t permuted[8];
    for (std::size_t i = 0; i < 8; ++i) permuted[i] = onnx[static_cast<std::size_t>(order[i])];
    std::vector<std::byte> bytes(sizeof permuted);
    std::memcpy(bytes.data(), permuted, sizeof permuted);
    pads.data = g.own(std::move(bytes));
    if (tflite_pads) pads.shape = ir::Shape::of({4, 2});
  }
  for (ir::Tensor& t : g.tensors) {
    const auto d = t.shape.extents();
    if (d.size() != 4) continue;
    // A constant keeps its bytes, so only one whose order they do not fix is permuted: at
    // most one extent above 1 (scale's [1, C, 1, 1] becomes [1, 1, 1, C]).
    if (t.is_constant() && std::count_if(d.begin(), d.end(), [](std::int64_t e) { return e > 1; }) > 1) continue;
    t.shape = ir::Shape::of({d[0], d[2], d[3], d[1]});
  }
}

// Turns a kernel graph's activations channels-last, as XNNPACK runs the kernel inside a
// model, and times it without a TFLite round trip (time_graph leaves an NHWC graph as
// it is). ONNX-order pads of a Pad ([begins..., ends...] over N, C, H, W) become
// TFLite's [rank, 2] paddings over N, H, W, C.
// - A standalone BatchNormalization reads the channels-last output of the layer before
//   it (DenseNet: a concat). The NCHW graph would time a re-layout of its input inside
//   the layer (56x56x256: 2.55 ms against 0.66 ms in densenet121), and a TFLite round
//   trip would lower it to MUL and ADD, two passes.
// - A Pad costs per innermost row: channels-last, one row per pixel. The TFLite writer
//   pads before its NHWC transpose, so the NCHW kernel timed rows of W floats: the
//   3-channel 192x192 input pad of face_detection_full_range_sparse took 0.025 ms as a
//   kernel and 0.50 ms in the model (about 13 ns a pixel whatever the channel count).
void make_channels_last(ir::Graph& g) {
  permute_dims_and_pads(g, {0, 4, 2, 6, 3, 7, 1, 5}, true);
  for (ir::Node& n : g.nodes) n.layout = ir::Layout::kNHWC;
  g.meta.layout = ir::Layout::kNHWC;
}

// Makes a graph of elementwise and data-movement nodes compute on channels-last tensors
// while keeping its layout tag (so writers treat the ops as layout-free, as they are):
// every 4-D activation's dims N, C, H, W become N, H, W, C, a Pad's ONNX-order pads
// follow their axes and a concat along C joins along the last axis.
void permute_to_channels_last(ir::Graph& g) {
  for (ir::Node& n : g.nodes)
    if (n.op == ir::Op::Concat && n.attrs.get_int("axis", 1) == 1) n.attrs.set("axis", std::int64_t{3});
  permute_dims_and_pads(g, {0, 2, 3, 1, 4, 6, 7, 5}, false);
}

bool per_channel(const std::string& type) {
  return type == "bn" || type == "bn+relu";
}

// Kernel types XNNPACK is timed on channels-last (make_channels_last).
bool channels_last_on_xnnpack(const std::string& type) {
  return per_channel(type) || type == "pad" || type == "channel_pad";
}

// Whether XNNPACK times `graph` through a TFLite round trip (time_graph): an NCHW graph
// of a layout_sensitive() type the TFLite writer can write. Its boundary Transposes then
// write the kernel's input; other kernels get feeders (time_kernel).
bool tflite_round_trip(const ir::Graph& graph, const std::string& type) {
  return layout_sensitive(type) && graph.meta.layout != ir::Layout::kNHWC &&
         exporter::unsupported_nodes(graph, exporter::Format::kTflite).empty();
}

// Layout-free kernel types whose tensors XNNPACK holds channels-last inside a model, so
// they are timed on permuted dims (permute_to_channels_last): a concat along C joins
// rows of pixels, not whole planes, and a squeeze-excitation's scale varies along the
// innermost axis. Measured here (1 thread): [1,36,64,16] x [1,1,1,16] 10.5 us, its NCHW
// form [1,16,36,64] x [1,16,1,1] 3.0 us; selfie_segmentation_landscape's first such Mul
// 10.6 us in the model, predicted 3.8 us from the NCHW kernels.
bool permuted_on_xnnpack(const std::string& type) {
  return type == "concat" || type == "channel_mul" || type == "scale" || type == "shift+relu";
}

// Of those, the ones XNNPACK times at several threads on their NCHW graphs behind
// convolutions instead: a convolution's output is channels-last, so the concat joins rows
// of pixels and the gate scales along the innermost axis as inside a model, and both read
// what more than one thread wrote. The concat's first input comes from a long convolution
// (long_feeder_on_xnnpack), the gate's inputs from 1x1 depthwise convs (short, mostly the
// calling thread's), as its tensor inside efficientnet and mobilenet_v3 comes from a swish,
// an elementwise op XNNPACK runs as one task. Measured at 2 threads against the in-model
// times of a 2-thread validation (per-layer medians): efficientnet_b0's ten gate shapes
// 0.28-0.85 of them behind Relus on permuted dims, 0.53-2.8 (1.7-2.8 but one) behind a long
// conv, 0.66-0.84 behind depthwise convs; regnet_y_800mf's four, which read a grouped conv's
// output, 0.24-0.53, 0.48-1.33 and 0.42-0.55. DenseNet's concats were labelled at 0.33-0.51
// of their in-model times on permuted dims behind Relus.
bool conv_fed_on_xnnpack(const std::string& type, int threads) {
  return threads != 1 && (type == "concat" || type == "channel_mul");
}

// Kernel types XNNPACK reads channels-last inside a model where the bench's NCHW graph
// would not: the channel shuffle's first Reshape (to [N, g, C/g, H, W]) is a view of NCHW
// data but a layout conversion of the channels-last output of the conv before it
// (shufflenet_v2_x0_5 at 1 thread: 12.3 us per Reshape layer, 3.5 us per Transpose). Their
// feeder is a 1x1 depthwise conv, which XNNPACK runs channels-last.
bool channels_last_input_on_xnnpack(const std::string& type) {
  return type == "channel_shuffle";
}

// Kernels XNNPACK times at several threads behind a long convolution (make_long_conv): a
// memory-bound layer reading what every thread of the pool wrote runs slower than behind a
// Relu, which the calling thread mostly runs alone. Measured here at 2 threads (per-layer
// medians of 200 runs; 1 thread: 17.6-20.7 us whatever the producer): an Add of two
// [1,48,56,56] tensors 32.6 us behind Relus, 45 behind 3x3 depthwise convs, 46 behind 1x1
// convs, 61 behind 3x3 convs, where regnet_y_400mf's Add+Relu of that size takes 63.8 us
// inside the model; of two [1,192,14,14] tensors 7.6 behind Relus, 17.3 behind 3x3 convs
// (2.1 at 1 thread). The layout-free elementwise types, which read the convolution's
// channels-last output as they do inside a model (and are not fused into it, as a Relu, a
// Clip or a BatchNormalization would be), and the channel shuffle, whose channels-last input
// is the point of its feeder, and concat (conv_fed_on_xnnpack); on the NCHW graphs only
// (the channels-last ones' 4-D tensors are not NCHW).
bool long_feeder_on_xnnpack(const ir::Graph& graph, const std::string& type, int threads) {
  static const std::set<std::string> types = {"add",  "add+relu", "mul",  "sigmoid",         "hardswish", "hardsigmoid",
                                              "tanh", "erf",      "gelu", "channel_shuffle", "concat"};
  if (threads == 1 || graph.meta.layout == ir::Layout::kNHWC) return false;
  return types.count(type) != 0;
}

// The feeder layers add_input_feeders() puts in front of a kernel are named so.
constexpr std::string_view kFeederPrefix = "infercast_feed_";

// Kernel types timed on ONNX Runtime with a drain after their output (add_output_drain):
// the nchwc_reordered() ones, and a conv or depthwise conv ending in hard swish (a
// HardSwish op, or x * HardSigmoid(x)). ONNX Runtime's NCHWc conv takes the hard swish
// in only when a blocked layer reads the result, as the next conv does inside
// mobilenet_v3 (measured, 1 thread: conv+hsigmoid_mul over 16x56x56 runs as 3 layers
// into a graph output, as 1 into a 1x1 depthwise conv).
bool nchwc_drained(const std::string& type) {
  return nchwc_reordered(type) ||
         (conv_kernel(type) && (type.ends_with("+hardswish") || type.ends_with("+hsigmoid_mul")));
}

bool feeder_layer(const runtime::LayerTiming& l) {
  return l.name.rfind(kFeederPrefix, 0) == 0;
}

// add_output_drain's layers: feeder layers named "<prefix>drain...".
bool drain_layer(const runtime::LayerTiming& l) {
  return feeder_layer(l) && l.name.compare(kFeederPrefix.size(), 5, "drain") == 0;
}

// Whether layer `i` of a run (in execution order) is the kernel's own. For a
// nchwc_reordered() kernel the layout conversions are, except the two its harness adds: a
// ReorderInput right before an input feeder (a graph input converted for it) and the
// last layer's ReorderOutput (the drained graph output). Measured (1 thread, channel gate
// over 32x112x112): the feeder's ReorderInput took 0.108 ms, as much as the two the model
// pays (0.100 and 0.099 ms; 0.106 and 0.103 ms inside efficientnet_b0).
bool own_layer(const std::string& kernel_type, const std::vector<runtime::LayerTiming>& layers, std::size_t i) {
  const runtime::LayerTiming& l = layers[i];
  if (feeder_layer(l)) return false;
  // A conversion kernel's own layer is its form's first quantize (of the graph input) or
  // its last dequantize (to the graph output); everything between is the form's.
  const auto quantize = [&](std::size_t j) { return layers[j].op == "QuantizeLinear" || layers[j].op == "Quantize"; };
  const auto dequantize = [&](std::size_t j) {
    return layers[j].op == "DequantizeLinear" || layers[j].op == "Dequantize";
  };
  if (kernel_type == "quantize") {
    for (std::size_t j = 0; j < layers.size(); ++j)
      if (quantize(j)) return j == i;
    return false;
  }
  if (kernel_type == "dequantize") {
    for (std::size_t j = layers.size(); j-- > 0;)
      if (dequantize(j)) return j == i;
    return false;
  }
  if (nchwc_reordered(kernel_type) && (l.op == "ReorderInput" || l.op == "ReorderOutput")) {
    if (l.op == "ReorderInput" && i + 1 < layers.size() && feeder_layer(layers[i + 1]) && !drain_layer(layers[i + 1]))
      return false;
    return !(l.op == "ReorderOutput" && i + 1 == layers.size());
  }
  return !boundary_layer(kernel_type, l.op);
}

// The kernel's own layers summed: their minima, or their medians (`median`).
double own_time_ms(const std::string& kernel_type, const runtime::RunResult& r, bool median = false) {
  double sum = 0;
  for (std::size_t i = 0; i < r.layers.size(); ++i)
    if (own_layer(kernel_type, r.layers, i)) sum += median ? r.layers[i].ms.median : r.layers[i].ms.min;
  return sum;
}

// Kernel types ONNX Runtime runs in its blocked NCHWc layout when their input comes from
// an NCHWc convolution, as inside a CNN; their feeder is a 1x1 depthwise conv.
// - Resizes and pools: a 2x bilinear Resize of 16 channels on 36x64 takes 0.245 ms after a
//   Relu and 0.081 ms (NCHWc Upsample) after the conv, 0.083 ms inside
//   selfie_segmentation_landscape.
// - Convolutions: a conv reads the blocked output of the conv before it, and a residual
//   Add joins the conv (NCHWc Sum) only when its other input is blocked as well: conv ->
//   Add(conv output, dw-conv output) runs as 1 layer, Add(.., graph input or Relu) as 2.
// - A standalone BatchNormalization after a blocked producer runs as an NCHWc 1x1
//   depthwise conv (densenet121: "..._bn_nchwc" Conv layers, the ReLU after it fused).
// Other kernels keep a Relu: ONNX Runtime fuses an activation into a conv before it,
// which would merge the kernel into its feeder.
bool nchwc_follower(const std::string& type) {
  static const std::set<std::string> types = {"resize_nearest", "resize_bilinear", "maxpool", "avgpool",
                                              "globalavgpool"};
  return conv_kernel(type) || per_channel(type) || nchwc_reordered(type) || types.count(type) != 0;
}

// Makes `node` (named, its input set) a k x k convolution in `groups` with the float weights
// `values` of shape `weight_shape`, stride 1 and same padding; the weight is added to `g` as
// "<node name>_weight".
void make_feeder_conv(ir::Graph& g, ir::Node& node, const std::vector<float>& values,
                      std::vector<std::int64_t> weight_shape, std::int64_t groups, std::int64_t k) {
  ir::Tensor weight;
  weight.name = node.name + "_weight";
  weight.dtype = ir::DType::kFloat32;
  weight.shape = ir::Shape::of(std::move(weight_shape));
  weight.kind = ir::TensorKind::kConstant;
  std::vector<std::byte> bytes(values.size() * sizeof(float));
  std::memcpy(bytes.data(), values.data(), bytes.size());
  weight.data = g.own(std::move(bytes));
  node.inputs.push_back(g.add_tensor(std::move(weight)));
  node.op = ir::Op::Conv;
  node.source_op = "Conv";
  node.attrs.set("group", groups);
  node.attrs.set("kernel_shape", std::vector<std::int64_t>{k, k});
  // Spelled out: XNNPACK's lowering takes no defaults.
  node.attrs.set("strides", std::vector<std::int64_t>{1, 1});
  node.attrs.set("dilations", std::vector<std::int64_t>{1, 1});
  const std::int64_t pad = k / 2;
  node.attrs.set("pads", std::vector<std::int64_t>{pad, pad, pad, pad});
}

// Makes `node` a 1x1 depthwise conv of ones over `channels`: the blocked layer ONNX Runtime
// runs before and after the kernels that read or feed NCHWc data.
void make_ones_depthwise(ir::Graph& g, ir::Node& node, std::int64_t channels) {
  make_feeder_conv(g, node, std::vector<float>(static_cast<std::size_t>(channels), 1.0f), {channels, 1, 1, 1}, channels,
                   1);
}

// Makes `node` a 3x3 convolution over `channels` on an h x w map that copies its input (the
// centre tap of each group's own channel is 1, every other weight 0), in groups of as many
// channels as keep it near kLongFeederMacs multiply-adds: a producer long enough that every
// thread of the pool writes its share of the output, as a model's convolutions do.
constexpr double kLongFeederMacs = 1.2e8;
void make_long_conv(ir::Graph& g, ir::Node& node, std::int64_t channels, std::int64_t h, std::int64_t w) {
  std::int64_t groups = 1;
  while (groups < channels && (channels % groups != 0 ||
                               9.0 * static_cast<double>(channels * (channels / groups) * h * w) > kLongFeederMacs))
    ++groups;
  const std::int64_t per_group = channels / groups;
  std::vector<float> values(static_cast<std::size_t>(channels * per_group * 9), 0.0f);
  for (std::int64_t o = 0; o < channels; ++o)
    values[static_cast<std::size_t>((o * per_group + o % per_group) * 9 + 4)] = 1.0f;
  make_feeder_conv(g, node, values, {channels, per_group, 3, 3}, groups, 3);
}

// Puts a feeder in front of every float graph input, so the kernel reads a tensor an
// earlier layer of the same run has just written, as nearly every layer of a model does.
// Measured on ONNX Runtime 1.30 (1 thread, this VM's profiler spans, fastest of 300): a
// layer reading the graph input directly runs slower than the same layer behind a feeder:
// Sigmoid over 512 KB 66 vs 46 us, over 64 KB 16 vs 12 us; a channel Pad over 43 KB 12 vs
// 6 us, which inside a MediaPipe detector takes 5 us. On XNNPACK a Sigmoid or a Pad
// takes the same either way, but an Add does not (time_kernel).
// The feeder is a Relu, or where `depthwise` a 1x1 depthwise conv of ones (followed by a
// Relu when `rectify`: a non-negative input, as behind a CNN's ReLU), or where `long_conv`
// a copying 3x3 convolution long enough to occupy every thread (make_long_conv) for the
// first 4-D input and the 1x1 depthwise conv for the others: a model's Add reads one tensor a
// convolution has just written and one older (the shortcut), both channels-last. (With long
// convolutions on both inputs an XNNPACK 2-thread profile labelled the adds at a median 1.5x
// their in-model times; resnet50's [1,256,56,56] adds at 395 us against 256-300 inside it.)
void add_input_feeders(ir::Graph& g, const std::string& file, bool depthwise, bool rectify = false,
                       bool long_conv = false) {
  const std::vector<int> inputs = g.inputs;
  int k = 0;
  bool long_fed = false;
  for (const int id : inputs) {
    const ir::Tensor in = g.tensors[static_cast<std::size_t>(id)];  // a copy: add_tensor reallocates
    if (in.dtype != ir::DType::kFloat32 || in.consumers.empty()) continue;
    const std::string name = std::string(kFeederPrefix) + std::to_string(k++);
    ir::Tensor fed;
    // ONNX Runtime renames an NCHWc node after its output ("<output>_nchwc"), so the
    // output carries the feeder prefix too.
    fed.name = name + "_out";
    fed.dtype = in.dtype;
    fed.shape = in.shape;
    const int fed_id = g.add_tensor(std::move(fed));
    for (ir::Node& n : g.nodes)
      for (int& x : n.inputs)
        if (x == id) x = fed_id;
    ir::Node feeder;
    feeder.name = name;
    feeder.inputs = {id};
    feeder.outputs = {fed_id};
    const std::int64_t channels = in.shape.rank() == 4 ? in.shape.dims[1].value : 0;
    if (long_conv && channels > 0 && !long_fed) {
      make_long_conv(g, feeder, channels, in.shape.dims[2].value, in.shape.dims[3].value);
      long_fed = true;
    } else if ((depthwise || long_conv) && channels > 0) {
      make_ones_depthwise(g, feeder, channels);
      if (rectify) {
        ir::Tensor conv_out;
        conv_out.name = name + "_conv";
        conv_out.dtype = in.dtype;
        conv_out.shape = in.shape;
        const int conv_id = g.add_tensor(std::move(conv_out));
        feeder.outputs = {conv_id};
        ir::Node relu;
        relu.name = name + "_relu";
        relu.op = ir::Op::Relu;
        relu.source_op = "Relu";
        relu.inputs = {conv_id};
        relu.outputs = {fed_id};
        g.nodes.push_back(std::move(feeder));
        g.nodes.push_back(std::move(relu));
        continue;
      }
    } else {
      feeder.op = ir::Op::Relu;
      feeder.source_op = "Relu";
    }
    g.nodes.push_back(std::move(feeder));
  }
  g.finalize(file);
}

// Puts a drain after every 4-D float graph output of a nchwc_drained() kernel: a 1x1
// depthwise conv of ones (blocked, as the model's next conv) and a global average pool,
// so the runtime converts the kernel's output back to its blocked layout as it does in
// the model, and the graph's own output, after the pool, costs a reorder of C floats
// (the model's gate path has two of those too). Drain layers carry the feeder prefix.
void add_output_drain(ir::Graph& g, const std::string& file) {
  const std::vector<int> outputs = g.outputs;
  std::vector<int> drained;
  int k = 0;
  for (const int id : outputs) {
    const ir::Tensor out = g.tensors[static_cast<std::size_t>(id)];  // a copy: add_tensor reallocates
    if (out.dtype != ir::DType::kFloat32 || out.shape.rank() != 4) {
      drained.push_back(id);
      continue;
    }
    const std::int64_t channels = out.shape.dims[1].value;
    const std::string name = std::string(kFeederPrefix) + "drain" + std::to_string(k++);
    ir::Tensor conv_out;
    conv_out.name = name + "_out";
    conv_out.dtype = out.dtype;
    conv_out.shape = out.shape;
    const int conv_id = g.add_tensor(std::move(conv_out));
    ir::Tensor pooled;
    pooled.name = name + "_pool_out";
    pooled.dtype = out.dtype;
    pooled.shape = ir::Shape::of({out.shape.dims[0].value, channels, 1, 1});
    const int pool_id = g.add_tensor(std::move(pooled));
    ir::Node conv;
    conv.name = name;
    conv.inputs = {id};
    conv.outputs = {conv_id};
    make_ones_depthwise(g, conv, channels);
    g.nodes.push_back(std::move(conv));
    ir::Node pool;
    pool.name = name + "_pool";
    pool.op = ir::Op::GlobalAveragePool;
    pool.source_op = "GlobalAveragePool";
    pool.inputs = {conv_id};
    pool.outputs = {pool_id};
    g.nodes.push_back(std::move(pool));
    drained.push_back(pool_id);
  }
  g.outputs = drained;
  g.finalize(file);
}

double all_layers_ms(const runtime::RunResult& r) {
  double sum = 0;
  for (const runtime::LayerTiming& l : r.layers) sum += l.ms.median;
  return sum;
}

// Removes a file when it goes out of scope.
struct FileGuard {
  fs::path path;
  ~FileGuard() {
    if (path.empty()) return;
    std::error_code ec;
    fs::remove(path, ec);
  }
};

// The spread of what a kernel is labelled with: its own layers' time. Their summed
// standard deviations over their summed means (a bound: the layers' covariances are not
// known); the whole run's CV when the runtime reported no own layer. Why not the whole
// run's: on ONNX Runtime that includes the runner's per-run cost (the request, copying
// the inputs), whose jitter is no part of the label — on a VM whose runs jitter by a
// median 13% (its small kernels by up to 80%), that CV sent 84% of the kernels to two
// more attempts, while their own layers spread mostly by 5-9% (5 convs checked).
double label_cv(const std::string& type, const runtime::RunResult& r) {
  double std_sum = 0;
  double mean_sum = 0;
  for (std::size_t i = 0; i < r.layers.size(); ++i) {
    if (!own_layer(type, r.layers, i)) continue;
    std_sum += r.layers[i].ms.std;
    mean_sum += r.layers[i].ms.mean;
  }
  return mean_sum > 0 ? std_sum / mean_sum : r.latency_ms.cv;
}

// Times the kernel `engine` has prepared into `out` (everything but prepare_s).
void measure_prepared(runtime::Runtime& engine, const std::string& type, const TimingOptions& o, KernelTiming& out) {
  // The protocol's re-measure rule, attempt by attempt, so the extra attempts and every
  // attempt's timed time are known: warm-up before the first attempt only; further
  // attempts while the label's CV (label_cv) is above the target and its median is not
  // settled (median_settled). The attempt with the lowest label median is kept: another
  // tenant only ever adds time, and one that held a core through a whole attempt leaves
  // it slow with a low CV. Kept by lowest CV, a 2-thread ONNX Runtime profile here
  // labelled 5 of 8 large convolutions 15-50% above what the same graphs took minutes
  // later (a 1x1 conv 960->432 on 45x45: 8.25 ms stored, 4.16-4.38 ms re-run).
  measure::Protocol one = o.protocol;
  one.max_remeasure = 0;
  runtime::RunResult best;
  double best_label = 0;
  for (int attempt = 0; attempt <= o.protocol.max_remeasure; ++attempt) {
    one.warmup = attempt == 0 ? o.protocol.warmup : 0;
    runtime::RunResult r = engine.run({one, true, o.input_seed});
    const measure::Stats& s = r.latency_ms;
    out.timed_s += static_cast<double>(s.n) * s.mean / 1000.0;
    const double cv = label_cv(type, r);
    const double own = own_time_ms(type, r, true);
    const double label = own > 0 ? own : s.median;
    if (attempt == 0 || label < best_label) {
      best = std::move(r);
      best_label = label;
    }
    out.remeasured = attempt;
    if (cv <= o.protocol.cv_target || median_settled(cv, s.n) || stop_requested()) break;
  }
  out.stats = best.latency_ms;
  out.own_ms = own_time_ms(type, best);
  out.own_median_ms = own_time_ms(type, best, true);
  for (std::size_t i = 0; i < best.layers.size(); ++i) out.own_layers += own_layer(type, best.layers, i) ? 1 : 0;
  out.layers_ms = all_layers_ms(best);
  out.layer_count = static_cast<int>(best.layers.size());
  if (o.cold_pass && !best.layers.empty() && !stop_requested()) {
    const runtime::RunResult cold = engine.run({cold_protocol(), true, o.input_seed, cold_flush_bytes()});
    out.cold_ms = own_time_ms(type, cold);
  }
  out.layers = std::move(best.layers);
}

}  // namespace

// Measured: efficientnet_b0 at 1 thread spends 0.96 of 9.1 ms in the two conversions of its
// channel gates, which are no other kernel's layers.
bool nchwc_reordered(const std::string& kernel_type) {
  return kernel_type == "channel_mul";
}

bool median_settled(double cv, std::size_t n) {
  return n > 0 && 1.2533 * cv / std::sqrt(static_cast<double>(n)) <= 0.01;
}

bool boundary_layer(const std::string& kernel_type, const std::string& op) {
  // ONNX Runtime's layout conversions; a channel gate's are its own (own_layer).
  if (op == "ReorderInput" || op == "ReorderOutput") return true;
  // The float interface of an int8 kernel graph (XNNPACK's Quantize / Dequantize, ONNX
  // Runtime's QuantizeLinear / DequantizeLinear): inside a quantized model the kernel
  // reads and writes int8 neighbours. Float kernel graphs have none.
  if (op == "Quantize" || op == "Dequantize" || op == "QuantizeLinear" || op == "DequantizeLinear") return true;
  if (op == "Transpose")
    return kernel_type != "transpose" && kernel_type != "permute" && kernel_type != "channel_shuffle" &&
           kernel_type != "conv+transpose";
  // A Pad is the kernel's own in the pad kernels and in pad+conv / pad+dwconv, where the
  // fusion probe asks whether the runtime runs it; elsewhere it is the explicit pad the
  // TFLite writer puts before a convolution whose pads are not SAME or VALID. Counted as
  // boundary, pad+conv's Pad would leave the probe one layer either way, so it would call
  // the pair fused on XNNPACK, which runs the Pad (face_detection_full_range_sparse: 1.7 ms
  // of pads predicted at 0).
  if (op == "Pad")
    return kernel_type != "pad" && kernel_type != "channel_pad" && kernel_type != "pad+conv" &&
           kernel_type != "pad+dwconv";
  return false;
}

measure::Protocol cold_protocol() {
  // Ten runs, fewer where the flush is large: the pass writes at most about 2 GiB of
  // scratch, and at least 3 runs. Why: each run first writes the whole flush, so with a
  // 504 MiB last-level cache (a 2-vCPU VM on a large Xeon host) ten flushed runs wrote
  // 10 GiB per kernel and took three quarters of a profile's time, leaving it a fifth of
  // the kernels. The cold time is the runs' minimum, as own_ms is.
  constexpr std::size_t kFlushTraffic = std::size_t{2} << 30;
  measure::Protocol p;
  const int runs = static_cast<int>(std::clamp<std::size_t>(kFlushTraffic / cold_flush_bytes(), 3, 10));
  p.warmup = 1;
  p.min_repeats = runs;
  p.max_repeats = runs;
  p.min_time_s = 0;
  p.max_remeasure = 0;
  return p;
}

std::size_t cold_flush_bytes() {
  static const std::size_t bytes = std::max<std::size_t>(2 * measure::machine_context().llc_bytes, 16u << 20);
  return bytes;
}

ir::Graph timed_kernel_graph(const std::string& runtime_name, const KernelSpec& spec, int threads) {
  ir::Graph graph = build_kernel_graph(spec);
  if (runtime_name != "xnnpack") return graph;
  if (channels_last_on_xnnpack(spec.type)) make_channels_last(graph);
  if (permuted_on_xnnpack(spec.type) && !conv_fed_on_xnnpack(spec.type, threads)) permute_to_channels_last(graph);
  return graph;
}

Int8KernelForm int8_kernel_form(const std::string& runtime_name, const KernelSpec& spec) {
  if (spec.dtype != ir::DType::kInt8)
    throw Error(ErrorKind::kInvalidArgument, "kernel '" + spec.type + "'", "dtype", "is not int8");
  validate(spec);
  // The one quantizer (the pass `quantize --mode full` runs), on the float twin's graph
  // (int8_form_of).
  // pad+conv's float graph pads in its own (NCHW) Pad node, which would reach the int8
  // form in NCHW order behind a float TRANSPOSE; its int8 form is the padded convolution,
  // which the TFLite writer writes as PAD + a VALID convolution when the padding is not
  // SAME (a stride-2 convolution padded by 1 on an even map, as in torchvision models).
  KernelSpec twin = float_twin(spec);
  if (twin.type == "pad+conv" || twin.type == "pad+dwconv") twin.type = twin.type.substr(4);
  // A conversion is timed at its form's float interface: the QuantizeLinear of the input
  // (QUANTIZE) or the DequantizeLinear of the output (DEQUANTIZE) around an int8 Relu,
  // which ONNX Runtime drops (it clamps through the zero point) and XNNPACK runs as a
  // clamp (own_layer).
  if (conversion_type(twin.type)) twin.type = "relu";
  ir::Graph float_graph = build_kernel_graph(twin);
  float_graph.meta.source_path = "kernel '" + spec.key() + "'";
  // On ONNX Runtime an int8 MaxPool runs as NhwcMaxPool only when its input comes from a
  // QLinearConv the NHWC transformer has made channels-last, as inside a quantized CNN;
  // behind the graph's QuantizeLinear alone it stays an NCHW uint8 MaxPool, measured 40x
  // slower than the pools of the quantized torchvision models (googlenet: 13 pools
  // predicted at 33.9 ms, measured at 0.36). So its float twin gets the 1x1 depthwise conv
  // feeder of the float NCHWc followers, which quantizes to a QLinearConv, and a Relu, as
  // CNNs pool rectified maps: the writer then folds the pool's explicit pad into it.
  if (runtime_name != "xnnpack" && twin.type == "maxpool")
    add_input_feeders(float_graph, float_graph.meta.source_path, true, true);
  // On XNNPACK a quantized model's tensors are channels-last. The TFLite writer keeps an
  // elementwise or data-movement kernel in its graph's NCHW order, where a per-channel
  // gate broadcasts along H and W instead of repeating along the leading axes (the int8
  // MUL's slow index walk: 5.5 ns an element against 0.7 inside mobilenet_v3 and
  // densenet), a concat copies whole planes and a pad pads the last two axes. So their
  // float twins are made channels-last first.
  if (runtime_name == "xnnpack" && (permuted_on_xnnpack(twin.type) || twin.type == "pad"))
    permute_to_channels_last(float_graph);
  return int8_form_of(runtime_name, float_graph);
}

Int8KernelForm int8_form_of(const std::string& runtime_name, const ir::Graph& float_graph) {
  // Random calibration as validate's int8 models get; four samples, since a one-kernel
  // graph's ranges settle quickly and calibration runs the float kernel once per sample.
  transform::QuantizeOptions q;
  q.mode = transform::QuantizeMode::kFull;
  q.calibration = "random:4";
  transform::QuantizedModel model = transform::quantize(float_graph, q);
  Int8KernelForm form;
  if (runtime_name == "xnnpack") {
    form.bytes = model.tflite;
    form.graph = std::move(model.graph);
    return form;
  }
  // The QDQ ONNX form, as `quantize -o M.onnx` writes it.
  form.onnx = true;
  form.bytes = std::make_shared<const std::string>(exporter::to_onnx(model.graph));
  form.graph = import::load_onnx_bytes({reinterpret_cast<const std::byte*>(form.bytes->data()), form.bytes->size()},
                                       float_graph.meta.source_path);
  form.graph.retain(form.bytes);
  return form;
}

KernelTiming time_kernel(runtime::Runtime& engine, const KernelSpec& spec, const TimingOptions& o) {
  if (spec.dtype != ir::DType::kInt8) {
    ir::Graph graph = timed_kernel_graph(engine.name(), spec, o.threads);
    // On XNNPACK, a kernel timed without the TFLite round trip (whose boundary Transposes
    // write its input) reads a tensor a Relu of the same run wrote, as inside a model. Measured here: an Add of two
    // [1,64,48,48] tensors 20.7 us reading the caller's buffers, 28.5 us behind Relus
    // (31.9 us at 2 threads), while a Sigmoid takes the same either way;
    // selfie_segmentation_landscape's adds of that size take 24 us in the model at 1
    // thread and 45 us at 2. ONNX Runtime gets its feeders in time_graph.
    if (engine.name() == "xnnpack" && !tflite_round_trip(graph, spec.type)) {
      // Behind its feeder convolutions the kernel's output is channels-last too; a drain (a
      // 1x1 depthwise conv and a pool) reads it as the model's next layer would, where a
      // graph output would add its conversion back to NCHW to the kernel's own layer.
      const bool long_feeder = long_feeder_on_xnnpack(graph, spec.type, o.threads);
      const bool short_convs = !long_feeder && conv_fed_on_xnnpack(spec.type, o.threads);
      add_input_feeders(graph, graph.meta.source_path, channels_last_input_on_xnnpack(spec.type) || short_convs, false,
                        long_feeder);
      if (long_feeder || short_convs) add_output_drain(graph, graph.meta.source_path);
    }
    return time_graph(engine, graph, spec.type, o);
  }
  // int8: the runtime gets the file `quantize` would write, as it is (no layout round trip,
  // no feeders; see timing.hpp).
  const auto t0 = std::chrono::steady_clock::now();
  KernelTiming out;
  const Int8KernelForm form = int8_kernel_form(engine.name(), spec);
  FileGuard runner_file;
  ir::Graph loaded;
  const ir::Graph* timed = &form.graph;
  if (engine.name() != "xnnpack") {
    const fs::path dir = o.scratch_dir.empty() ? fs::temp_directory_path() : o.scratch_dir;
    runner_file.path = dir / ("infercast-kernel-" + std::to_string(::getpid()) + "-int8.onnx");
    {
      std::ofstream file(runner_file.path, std::ios::binary);
      file.write(form.bytes->data(), static_cast<std::streamsize>(form.bytes->size()));
      if (!file) throw Error(ErrorKind::kIo, runner_file.path.string(), "", "cannot be written");
    }
    loaded = import::load_model(runner_file.path);
    timed = &loaded;
  }
  engine.prepare(*timed, {o.threads});
  out.prepare_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  measure_prepared(engine, spec.type, o, out);
  return out;
}

measure::Stats time_network(runtime::Runtime& engine, const ir::Graph& graph, int threads,
                            const measure::Protocol& protocol, const fs::path& scratch_dir) {
  FileGuard file;
  ir::Graph loaded;
  const ir::Graph* timed = &graph;
  if (engine.name() != "xnnpack") {
    // External runners load a file, as `run` gives them the user's model.
    file.path = (scratch_dir.empty() ? fs::temp_directory_path() : scratch_dir) /
                ("infercast-network-" + std::to_string(::getpid()) + ".onnx");
    exporter::ExportOptions eo;
    eo.opset = static_cast<int>(std::max<std::int64_t>(13, graph.meta.opset));
    exporter::save(graph, file.path, exporter::Format::kOnnx, eo);
    loaded = import::load_model(file.path);
    timed = &loaded;
  }
  engine.prepare(*timed, {threads});
  return engine.run({protocol, false, 42}).latency_ms;
}

KernelTiming time_graph(runtime::Runtime& engine, const ir::Graph& graph, const std::string& type,
                        const TimingOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  KernelTiming out;
  const fs::path dir = o.scratch_dir.empty() ? fs::temp_directory_path() : o.scratch_dir;
  const std::string stem = "infercast-kernel-" + std::to_string(::getpid());
  ir::Graph converted;  // the kernel as the runtime loads it, when it is not `graph` itself
  const ir::Graph* timed_graph = &graph;
  FileGuard runner_file;  // an external runner reads its file again for the profiled passes
  if (engine.name() == "xnnpack") {
    if (tflite_round_trip(graph, type)) {
      // XNNPACK computes spatial ops in NHWC; an NCHW kernel graph's per-layer time
      // includes the re-layout of its input and output (3x the conv itself for a 1x1
      // conv), which a real NHWC model, or an NCHW one after the layout pass, does not
      // pay per layer.
      FileGuard file{dir / (stem + ".tflite")};
      exporter::save(graph, file.path, exporter::Format::kTflite);
      converted = import::load_model(file.path);
      timed_graph = &converted;
    }
  } else {
    exporter::ExportOptions eo;
    eo.opset = static_cast<int>(std::max<std::int64_t>(13, graph.meta.opset));
    runner_file.path = dir / (stem + ".onnx");
    // Feeders on ONNX Runtime only, where they were measured; an external benchmark_model
    // names its layers otherwise, so they would count as the kernel's own. The graph as
    // imported from ONNX (what the runner sees) gets them and is written again: `fed`
    // views the first file's weights, so it outlives neither.
    FileGuard plain;
    if (engine.name() == "ort") {
      plain.path = dir / (stem + "-plain.onnx");
      exporter::save(graph, plain.path, exporter::Format::kOnnx, eo);
      ir::Graph fed = import::load_model(plain.path);
      add_input_feeders(fed, plain.path.string(), nchwc_follower(type));
      if (nchwc_drained(type)) add_output_drain(fed, plain.path.string());
      exporter::save(fed, runner_file.path, exporter::Format::kOnnx, eo);
    } else {
      exporter::save(graph, runner_file.path, exporter::Format::kOnnx, eo);
    }
    converted = import::load_model(runner_file.path);
    timed_graph = &converted;
  }
  engine.prepare(*timed_graph, {o.threads});
  out.prepare_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  measure_prepared(engine, type, o, out);
  return out;
}

namespace {

// The options of a calibration graph: warm, one attempt, at least 0.1 s of runs.
TimingOptions calibration_options(const TimingOptions& options, int warmup, int min_repeats, int max_repeats) {
  TimingOptions o = options;
  o.cold_pass = false;
  o.protocol.warmup = warmup;
  o.protocol.min_repeats = min_repeats;
  o.protocol.min_time_s = 0.1;
  o.protocol.max_repeats = max_repeats;
  o.protocol.max_remeasure = 0;
  return o;
}

}  // namespace

double layer_span_excess_ms(runtime::Runtime& engine, const TimingOptions& options) {
  // Chains of 2 and 34 Relus over 8 elements: nothing to compute, so a layer's profiled
  // span is the runtime's dispatch plus its profiler's own work, and the end-to-end
  // step per added layer (unprofiled) is the dispatch alone. Minima on both sides (a
  // shared machine only adds time); the median of seven rounds.
  const TimingOptions o = calibration_options(options, 20, 200, 4000);
  // Seven rounds: with three, four profiles of ONNX Runtime on this VM gave 1.72, 1.81,
  // 1.86 and 3.35 us, and every executed kernel of a model carries the error.
  constexpr int kShort = 2, kLong = 34, kRounds = 7;
  const ir::Graph short_chain = build_relu_chain(kShort, 8);
  const ir::Graph long_chain = build_relu_chain(kLong, 8);
  std::vector<double> rounds;
  for (int round = 0; round < kRounds && !stop_requested(); ++round) {
    const KernelTiming a = time_graph(engine, short_chain, "relu", o);
    const KernelTiming b = time_graph(engine, long_chain, "relu", o);
    if (b.own_layers != kLong || a.own_layers != kShort) return 0;  // layers not reported one per node
    const double step = (b.stats.min - a.stats.min) / (kLong - kShort);
    rounds.push_back(b.own_ms / kLong - step);
  }
  if (rounds.empty()) return 0;
  return std::max(0.0, measure::median(rounds));
}

double kernel_start_ms(runtime::Runtime& engine, const TimingOptions& options, std::size_t l2_bytes) {
  const TimingOptions o = calibration_options(options, 10, 50, 2000);
  constexpr int kGates = 16, kRounds = 5;
  constexpr std::int64_t kChannels = 256;
  // The stream: at least 4 MiB and four private caches, as the megabytes a model's other
  // layers move between two of its squeeze-excitation gates.
  const double stream_bytes = std::max(4.0 * (1 << 20), 4.0 * static_cast<double>(l2_bytes));
  // Four tensors of the stream's 16 channels pass per gate (a conv's, a depthwise conv's
  // and an add's outputs, the block's input read again).
  const auto side = static_cast<std::int64_t>(std::ceil(std::sqrt(stream_bytes / 4.0 / 4.0 / 16.0)));
  const ir::Graph alone = build_gate_chain(kGates, kChannels, 0);
  const ir::Graph streamed = build_gate_chain(kGates, kChannels, side);
  // The gates' median layer times, when every gate was reported once and, with the
  // stream, each after its own stream layer; empty otherwise.
  auto gates = [](const KernelTiming& t, bool stream) {
    std::vector<double> ms;
    int streams_before = 0;
    for (const runtime::LayerTiming& l : t.layers) {
      if (l.name.rfind("stream", 0) == 0) ++streams_before;
      if (l.name.rfind("gate", 0) != 0) continue;
      if (stream && streams_before != static_cast<int>(ms.size()) + 1) return std::vector<double>{};
      ms.push_back(l.ms.median);
    }
    if (ms.size() != static_cast<std::size_t>(kGates)) return std::vector<double>{};
    return ms;
  };
  std::vector<double> rounds;
  for (int round = 0; round < kRounds && !stop_requested(); ++round) {
    const std::vector<double> a = gates(time_graph(engine, alone, "sigmoid", o), false);
    const std::vector<double> b = gates(time_graph(engine, streamed, "sigmoid", o), true);
    if (a.empty() || b.empty()) return 0;
    rounds.push_back(measure::median(b) - measure::median(a));
  }
  if (rounds.empty()) return 0;
  return std::max(0.0, measure::median(rounds));
}

}  // namespace infercast::bench
