// Kernels: one op or one fused group as a runtime executes it (conv+bn+relu, a
// depthwise conv with its activation, an SE block, ...). A KernelSpec names a kernel
// type and its integer parameters; the same vocabulary describes the kernels bench
// measures and the kernels predict finds in real models, so the two always agree.
//
// Kernel types (type string; parameters, all integers; NCHW semantics):
//   conv, conv+relu, conv+relu6, conv+bn, conv+bn+relu, conv+hardswish
//                      n h w cin cout k stride dilation pad groups
//   dwconv, dwconv+relu, dwconv+relu6, dwconv+bn+relu, dwconv+hardswish
//                      n h w c k stride dilation pad            (channel multiplier 1)
//   convtranspose      n h w cin cout k stride pad
//   fc, fc+relu        n cin cout
//   matmul             b m k n                                  (b = batch of matrices)
//   einsum             b m k n form                             (the same as an Einsum; form 1: Q K^T, 2: A V)
//   maxpool, avgpool   n h w c k stride pad
//   globalavgpool      n h w c
//   add, add+relu, mul n h w c                                  (two inputs of one shape)
//   concat             n h w c inputs                           (`inputs` tensors of c channels each)
//   relu, relu6, sigmoid, hardswish, swish, tanh, erf
//                      n h w c
//   softmax            n c                                      (softmax over c, n rows)
//   resize_nearest, resize_bilinear
//                      n h w c scale
//   pad                n h w c pad
//   reshape, transpose n h w c                                  (transpose: NCHW -> NHWC, one matrix transposed)
//   permute            d0 d1 d2 d3 d4 perm                      (any other transpose, reduced: the input
//                                                                [d0 .. d(r-1)], perm the digits p(i) + 1)
//   layernorm          n c                                      (normalized over c)
//   se                 n h w c r                                (GAP -> FC c/r -> ReLU -> FC c -> sigmoid -> Mul)
//   channel_shuffle    n h w c groups
// `pad` is the symmetric padding on every spatial side.
//
// Precision: a spec's dtype is float32 (the default) or int8. An int8 kernel is the op as
// it runs inside a full-integer quantized model (int8 activations, per-channel int8
// weights, int32 biases); only int8_kernel_types() have one. Its graph is the float
// kernel graph quantized by transform::quantize (bench/timing.hpp: int8_kernel_form).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "infercast/ir/graph.hpp"
#include "infercast/ir/permutation.hpp"

namespace infercast::bench {

struct KernelSpec {
  std::string type;                            // one of kernel_types(), or an int8 conversion
  std::map<std::string, std::int64_t> params;  // the type's parameters, all present
  ir::DType dtype = ir::DType::kFloat32;

  // Canonical, stable identity: "conv+relu|cin=32|cout=64|...|dtype=float32" with
  // parameters in name order. Equal keys mean the same kernel.
  std::string key() const;
  std::int64_t get(const std::string& name) const;  // throws Error(kInvalidArgument) when absent
  friend bool operator==(const KernelSpec&, const KernelSpec&) = default;
};

// Every kernel type with a float graph, in the order above (all but the int8-only
// conversions, conversion_type()).
const std::vector<std::string>& kernel_types();
// Whether `type` is a conversion between float and int8 ("quantize", "dequantize"): an int8
// kernel type without a float graph of its own, timed at its int8 form's interface.
bool conversion_type(const std::string& type);
// The kernel types with an int8 form: the ops `quantize --mode full` makes int8 that a
// CNN spends its time in (convolutions and depthwise convolutions with their fused
// ReLU/ReLU6, fully connected, add, mul, per-channel mul, sigmoid, hard-swish, max pooling,
// global average pooling, concat, pad), and the conversions "quantize" (float to int8)
// and "dequantize" that a quantized model runs at its interface and around ops left float.
const std::vector<std::string>& int8_kernel_types();
// Kernel types a quantized model runs in float: the transpose of its float NCHW input to
// channels-last before its QUANTIZE (the TFLite form `quantize` writes). An int8 profile
// samples them beside int8_kernel_types(), as float32 specs.
const std::vector<std::string>& int8_float_kernel_types();
// The pairs int8 fusion probes time as one graph (predict::int8_fusion_probes: a PAD
// before a convolution, a residual add, hard-swish and sigmoid after a convolution):
// int8 specs like int8_kernel_types(), never sampled into a profile's kernel space.
// int8 pad+conv / pad+dwconv are the padded convolution as the TFLite writer writes one
// whose padding is not TFLite's SAME or VALID: PAD, then a VALID convolution
// (bench::int8_kernel_form).
const std::vector<std::string>& int8_probe_types();
// The parameter names of `type`; throws Error(kInvalidArgument) for an unknown type.
const std::vector<std::string>& kernel_parameters(const std::string& type);
// Throws Error(kInvalidArgument) naming the type and parameter when a parameter is
// missing, unknown, or out of range (sizes < 1, a kernel larger than the padded input, ...),
// or when the dtype is neither floating nor int8 of an int8_kernel_types() type.
void validate(const KernelSpec& spec);

nlohmann::json to_json(const KernelSpec& spec);
// Throws Error(kInvalidArgument) on a malformed object.
KernelSpec kernel_spec_from_json(const nlohmann::json& j);

// `length` Relus in a row over a [1, channels, 1, 1] tensor: the calibration graph of
// layer_span_excess_ms (timing.hpp).
ir::Graph build_relu_chain(int length, std::int64_t channels);

// `length` Sigmoids in a row over a [1, channels, 1, 1] tensor (a squeeze-excitation's
// gate), named gate0, gate1, ...; with `stream_side` > 0 each gate comes after a residual
// block over [1, 16, stream_side, stream_side] (conv<i>: a 3x3 conv, dw<i>: a 3x3
// depthwise conv, stream<i>: the Add of the block's input; a chain of its own, the graph's
// second output), whose code and traffic evict the gate's from the core's private caches
// between two gates as a model's other layers do. The calibration graphs of
// kernel_start_ms (timing.hpp).
ir::Graph build_gate_chain(int length, std::int64_t channels, std::int64_t stream_side);

// A runnable one-kernel model: NCHW (ONNX conventions, canonical attributes), static
// shapes, weights filled from a fixed-seed generator and owned by the graph, finalized.
// Float specs only (Error(kUnsupported) otherwise): an int8 spec's graph is its float
// twin's (float_twin) quantized, bench::int8_kernel_form.
ir::Graph build_kernel_graph(const KernelSpec& spec, std::uint64_t seed = 1);
// The same spec in float32.
KernelSpec float_twin(const KernelSpec& spec);

// The `permute` spec of a reduced transpose (ir::reduce_permutation) of rank 2 to 5 that
// is not one matrix transposed, (1, 0); nullopt for the rest (that is a `transpose`).
std::optional<KernelSpec> permute_spec(const ir::Permutation& p, ir::DType dtype = ir::DType::kFloat32);
// The reduced transpose a `permute` spec stands for (validate()d specs only).
ir::Permutation permutation_of(const KernelSpec& spec);

// A float `conv` that keeps its input's shape: batch 1, h x h, c -> c channels, a k x k
// window (k odd), stride 1, same padding, one group (fusion probes, weight chains).
KernelSpec same_conv_spec(std::int64_t h, std::int64_t c, std::int64_t k);

// The kernel that `nodes` (indices into graph.nodes, in execution order: a fused
// group, anchor op first) form in a real model, in this vocabulary; nullopt when
// they match no kernel type or a shape is not static. Works on NCHW and NHWC graphs.
std::optional<KernelSpec> kernel_spec_of(const ir::Graph& graph, std::span<const int> nodes);

}  // namespace infercast::bench
