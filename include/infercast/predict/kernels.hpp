// Kernel detection: split an ir::Graph into the kernels a runtime actually executes
// (a conv with its folded BatchNorm and fused ReLU is one kernel; a Reshape the
// runtime treats as a view is none), and the features that describe each kernel.
//
// The same two functions (split_kernels, kernel_features) run at train time on the
// one-kernel graphs bench measured and at predict time on real models, so a kernel
// looks the same to the regressor in both places.
#pragma once

#include <array>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "infercast/ir/graph.hpp"

namespace infercast::predict {

// What a runtime does to a graph before it runs it. Pairs are "anchor+follower" of
// op classes (op_class()): "conv+relu" means a ReLU whose only producer is a conv is
// executed inside the conv's kernel. Removed ops cost nothing (views, folded ops).
struct FusionRules {
  std::set<std::string> fused_pairs;  // "conv+bn", "conv+relu", "dwconv+relu6", "add+relu", "fc+relu", ...
  std::set<std::string> removed_ops;  // op classes executed as views: "reshape", "flatten", "identity", ...
  double alpha = 0.5;                 // the detection threshold the pairs were measured with
  nlohmann::json evidence = nlohmann::json::array();  // [{"pair","t_a_ms","t_b_ms","t_ab_ms","saving","fused"}]
};

nlohmann::json to_json(const FusionRules& rules);
// Throws Error(kInvalidArgument) naming the field on a malformed object.
FusionRules fusion_rules_from_json(const nlohmann::json& j);

// Rules no measurement has vouched for: nothing fused, the view-like ops removed.
FusionRules default_fusion_rules();

// The class of one node as fusion rules and kernel types name it: conv, dwconv,
// convtranspose, fc, matmul, bn, relu, relu6, sigmoid, hardswish, swish, tanh, add,
// mul, maxpool, avgpool, globalavgpool, concat, softmax, resize, pad, reshape,
// flatten, transpose, identity, layernorm, ... and "other" for the rest.
std::string op_class(const ir::Graph& graph, int node);

// The features of a kernel, in this order (kFeatureNames). Sizes are log2(1 + x) so
// a tree split and a linear ceiling both see orders of magnitude. The alignments are the
// exponent of the largest power of two (at most 64) dividing a group's input and output
// channels (a depthwise conv's: its channels): runtimes tile channels in blocks of 8 or 16 (XNNPACK's 7x16 GEMM tiles,
// ONNX Runtime's NCHWc convolutions, used only when the channels fill whole blocks), so a 136-channel layer and a
// 128-channel one of the same FLOPs run at different speeds.
inline constexpr int kFeatureCount = 21;
extern const std::array<const char*, kFeatureCount> kFeatureNames;
using Features = std::array<float, kFeatureCount>;

// The physics of a kernel in raw units (what the roofline uses).
struct KernelCost {
  double flops = 0;  // every node of the kernel
  double bytes = 0;  // external inputs (weights included) + final output
  double params = 0;
  double inputs = 1;     // activations read from outside the kernel (at least 1): Features' "inputs"
  double positions = 1;  // output elements per output channel (at least 1): Features' "log2_out_pixels"
};

struct Kernel {
  std::string name;        // the anchor node's name
  std::string type;        // "conv+bn+relu", "dwconv+relu6", "add", ... (classes joined by '+')
  std::string family;      // the regressor it goes to: conv, gconv (grouped, not depthwise), dwconv, convtranspose,
                           // fc, se_conv (a 1x1 conv at one position), matmul, einsum, pool, globalpool, eltwise,
                           // activation, erf, concat, softmax, resize, datamove, permute, norm, other; "removed"
                           // for no-op kernels
  std::vector<int> nodes;  // node indices, anchor first, in execution order
  bool removed = false;    // a view or folded op: predicted 0 ms
  bool complete = true;    // every shape its features need is static
  KernelCost cost;
  Features features{};
};

// Splits `graph` into kernels under `rules`: every node lands in exactly one kernel.
// A follower joins the kernel before it when the pair (anchor class, follower class)
// is fused and it is the only consumer of the kernel's output (and that output is not
// a graph output). TFLite fused activations are part of the node's own type.
std::vector<Kernel> split_kernels(const ir::Graph& graph, const FusionRules& rules);

// The bytes of a kernel's weights, taken at 4 a parameter.
double weight_bytes(const KernelCost& cost);

// The non-constant tensors a kernel's nodes read, each once, in node order (a tensor one
// of its own nodes writes included).
std::vector<int> kernel_inputs(const ir::Graph& graph, const Kernel& kernel);

// A kernel's output positions (output elements per output channel; a GEMM's rows), at least 1.
double output_positions(const Kernel& kernel);

// Per kernel of `kernels` (split_kernels of `graph`, in execution order), the bytes of its
// activation inputs that came from beyond a cache: `beyond_l2` those that left a core's
// private cache of `l2_bytes` since a kernel last wrote or read them, i.e. more than that
// many bytes (KernelCost::bytes of the kernels in between) were moved since: a residual
// branch, DenseNet's earlier layers, a transformer's skip connection; `beyond_llc` those of
// them that also left a last-level cache of `llc_bytes` (more than that moved since), so
// they come from memory. The bench times a kernel behind a feeder that has just written its
// inputs, so they are in the private cache; an input beyond it comes from further out, as
// in the bench's flushed run. A view (a removed kernel) is the tensor it views; graph inputs
// count as just written (a runner copies them in before every run). A level of size <= 0
// gives all zeros.
// With `gemm_tile_rows` > 0, a conv, grouped conv, FC or MatMul whose weights (4 bytes a
// parameter) exceed `l2_bytes` is taken to read them once per tile of that many output
// positions, as XNNPACK's GEMMs do (the row tiles outside, the column tiles inside), and
// that traffic counts as moved too, at both levels: the last-level caches of AMD's Zen and
// Intel's Skylake-SP and later are victim caches, filled by what the private cache evicts,
// so every pass of weights through it pushes older lines out of the last level too. Its own
// output counts as touched half way through it.
// Measured on XNNPACK at 1 thread (AMD EPYC, 1 MiB L2, 32 MiB L3): a bias Add over a
// [197, 3072] MatMul output takes 147-260 us behind the MatMul with 9.4 MB of weights
// (28 passes, 264 MB) and 57-62 us behind a Relu; a Relu behind that MatMul takes 166 us,
// against 58 us alone.
struct StaleInputs {
  std::vector<double> beyond_l2;
  std::vector<double> beyond_llc;
};
StaleInputs stale_inputs(const ir::Graph& graph, const std::vector<Kernel>& kernels, double l2_bytes, double llc_bytes,
                         int gemm_tile_rows = 0);

// The regressor family of a kernel type's anchor class.
std::string family_of(const std::string& anchor_class);

// The family of a conv-anchored kernel: gconv with groups (not depthwise), se_conv for a
// dense 1x1 conv whose output is one position (a squeeze-excitation's), conv otherwise.
// split_kernels and the adaptive sampler both decide by it.
std::string conv_family(std::int64_t groups, bool one_position_pointwise);
// Every family split_kernels can assign (sorted), "removed" aside: what train
// --exclude-family accepts.
const std::vector<std::string>& family_names();

}  // namespace infercast::predict
