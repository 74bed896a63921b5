// Samplers: which kernels to measure. Every sampler is deterministic for its seed and
// returns distinct, valid specs (bench::validate passes) in the order to measure them,
// kernel types interleaved round-robin so a run cut short by a budget still covers
// every requested type.
//
//   grid      the seed project's grid: kernel {1,3,5,7}, filters {16..256}, input
//             {8..224}, Cin {3..256}, stride {1,2} (and a matching grid for every
//             other type), in a seeded shuffled order
//   prior     the layer configurations found in real models (import + kernel_spec_of
//             over fused groups: simple_fused_groups, or a runtime's own grouping), each
//             exactly, in a seeded order, then jittered copies of them
//   space     the default of `profile`: every type's parameters drawn from documented
//             marginal distributions over the values real networks use (channels 3-2048,
//             spatial 1-320, kernels 1-9, strides, dilation, grouped and depthwise convs,
//             FC up to 25088x4096, attention-sized matmuls, elementwise tensors up to 32 MiB;
//             src/bench/kernel_space.cpp lists them), kept when the layer is plausible
//             (activation size, MACs). Reads no model: the space does not depend on the
//             models later validated. Types get shares of the sequence by space_weight().
//   random    uniform over each type's parameter space (sizes log-uniform)
//   adaptive  candidates from the space, kept with probability growing with a caller-supplied
//             error function (a fitted predictor's error), so bench never depends on
//             predict
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "infercast/bench/kernel.hpp"

namespace infercast::bench {

using ErrorFn = std::function<double(const KernelSpec&)>;
// A graph's kernels as node-index lists, anchor first (see simple_fused_groups).
using GroupingFn = std::function<std::vector<std::vector<int>>(const ir::Graph&)>;

struct SamplerOptions {
  std::string sampler = "grid";           // grid | prior | space | random | adaptive
  std::vector<std::string> kernel_types;  // empty: default_kernel_types()
  std::uint64_t seed = 1;
  std::vector<std::filesystem::path> models;  // prior: model files or folders of .onnx/.tflite
  // prior: sizes of jittered copies are scaled by log-uniform factors in
  // [1/(1+jitter), 1+jitter]: h and w by one factor, each channel count (c, cin, cout;
  // matmul's m, k, n) by its own with probability 0.6 and rounded up to a multiple of 8 above 8, as
  // real networks size them. Grouped kernels (groups > 1) keep their channels.
  double jitter = 1.0;
  int jitter_copies = 2;         // prior: jittered copies per real configuration
  GroupingFn grouping;           // prior: how a graph splits into kernels; empty = simple_fused_groups
  double max_macs = 2e9;         // grid/random/adaptive: skip kernels heavier than this
  ErrorFn error_fn;              // adaptive: required
  int adaptive_candidates = 20;  // adaptive: random candidates per kept kernel
  // float32, or int8: the same sequence restricted to int8_kernel_types() (the default
  // types then), every spec int8. A type without an int8 form is Error(kInvalidArgument).
  ir::DType dtype = ir::DType::kFloat32;
};

// The types `bench` measures when none are named: every type in the vocabulary.
const std::vector<std::string>& default_kernel_types();

// Up to `count` specs (0 = the sampler's whole sequence; random and adaptive then give
// 1000 per type). Throws Error(kInvalidArgument) for an unknown sampler or type, a
// prior without models, or adaptive without an error function; Error from import for
// unreadable models.
std::vector<KernelSpec> sample_kernels(const SamplerOptions& options, std::size_t count);

// The model files `models` names, folders expanded to their .onnx/.tflite files sorted
// by name. Throws Error(kIo) naming a path that does not exist.
std::vector<std::filesystem::path> model_files(const std::vector<std::filesystem::path>& models);

// The real-model layer configurations the prior sampler starts from, one per distinct
// kernel, in model order (files sorted by name). Restricted to `types` when non-empty.
// A group the vocabulary cannot name as a whole contributes its longest nameable prefix.
std::vector<KernelSpec> model_kernels(const std::vector<std::filesystem::path>& models,
                                      const std::vector<std::string>& types = {}, const GroupingFn& grouping = {});

// One kernel of `type` drawn from the space's distributions (see "space" above), or
// nullopt when 200 draws gave no plausible spec. Throws Error(kInvalidArgument) for an
// unknown type.
std::optional<KernelSpec> space_kernel(const std::string& type, std::mt19937_64& rng, double max_macs = 2e9);
// The share of the space sequence a type gets, relative to 1: conv, fc and matmul 4,
// fused convs and depthwise convs 2, the rest 1.
int space_weight(const std::string& type);
// Multiply-accumulates of a spec (elements x 10 for kernels without MACs): the size cap
// the samplers apply.
double kernel_work(const KernelSpec& spec);

// Fused groups of a graph as node-index lists, anchor first: a conv/gemm/matmul/add
// with the BatchNormalization and activation that follow it alone; every other node
// by itself. The bench's own simple grouping; predict detects a runtime's real rules.
std::vector<std::vector<int>> simple_fused_groups(const ir::Graph& graph);

}  // namespace infercast::bench
