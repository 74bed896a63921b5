// Synthetic networks: whole models drawn from a design space of CNN building blocks, for
// measuring what a model pays beyond the sum of its kernels (per-op dispatch, thread-pool
// hand-offs, caches shared with the neighbouring layers, layout changes between kernels).
// They are not any published architecture: each network draws its block family, resolution,
// widths, depths, activations, groups and kernel sizes from the distributions below, so a
// predictor calibrated on them has seen no model it is later validated on.
//
// The space (each draw independent, from a generator seeded by `seed`):
//   resolution   224 (45%), else 96, 128, 160, 192 or 256
//   family       plain (3x3 convs, max-pool between stages), basic (two 3x3 convs and a
//                residual add), bottleneck (1x1, 3x3 with 1 or 2-64 groups, 1x1, add; SE in
//                30%), inverted (1x1 expansion x1-6, depthwise 3/5/7, SE in 40%, 1x1
//                projection, add), branches (1x1, 1x1->3x3, pool->1x1, concatenated), dense
//                (1x1->3x3 growth concatenated onto the input, 1x1+avg-pool transitions),
//                shuffle (a 1x1 and a depthwise branch concatenated, then a channel shuffle)
//   stem         3x3 or 7x7 stride-2 conv of 8-64 channels, then a max-pool in some families
//   stages       3-5, the first block of each strided (or a pool), 1-4 blocks; widths grow
//                x1.4-2.2 a stage (multiples of 8)
//   activations  ReLU in most; ReLU6, hardswish or swish in the inverted family
//   head         global average pool and a classifier (1000); a 1x1 conv before it
//                (inverted) or a flattened 2-layer MLP (plain, 30%)
// Weights are uniform with variance 1/fan-in, so activations stay O(1) through any depth
// (read from one table of random values: the speed of a runtime does not depend on them).
// A network above `max_macs` is redrawn narrower.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "infercast/bench/kernel.hpp"
#include "infercast/ir/graph.hpp"

namespace infercast::bench {

struct SyntheticNetwork {
  std::uint64_t seed = 0;
  std::string name;                                       // "synthetic-<seed>-<family>"
  nlohmann::json description = nlohmann::json::object();  // the draws: family, resolution, widths, ...
  double macs = 0;
  ir::Graph graph;  // finalized, NCHW, batch 1, static shapes, weights owned by the graph
};

// The network of `seed`: the same seed gives the same graph on every build and machine.
SyntheticNetwork synthetic_network(std::uint64_t seed, double max_macs = 1.5e9);

// Cold weights inside a model: `copies` copies of one `conv` or `fc` kernel in sequence,
// each with its own weights (uniform, variance 1/fan-in, so activations stay O(1)).
// Between two runs of a copy the other copies read theirs, so a chain whose weights
// outgrow the caches runs every copy on weights fetched from memory while the previous
// copy's output is warm, as a large model does. The spec must keep its shape: a conv with
// cin == cout, stride 1 and same padding, or an fc with cin == cout. Throws
// Error(kInvalidArgument) otherwise, or for copies outside 1..kMaxChainCopies. The cap
// leaves room for three times a 120 MiB cache in copies of ViT-B/32's 2.4 MB projection
// (32 copies, 75 MB, stayed in a 93 MiB cache and measured no cold excess at all).
inline constexpr int kMaxChainCopies = 160;
ir::Graph weight_chain(const KernelSpec& spec, int copies);

// The chains `profile` times to measure what cold weights cost inside a model
// (predict::calibrate_cold): layer shapes that hold most of the weights of large CNNs
// and of transformers and classifier heads.
//   conv 3x3 512->512 on 7x7      (ResNet's last stage, 9.4 MB of weights)
//   conv 1x1 1024->1024 on 14x14  (a bottleneck's expansion width, 4.2 MB)
//   fc 2048->2048, 1 row          (a classifier head's GEMV, 16.8 MB)
//   fc 768->768, 50 rows          (a ViT-B/32 token projection, 2.4 MB)
//   fc 768->768, 197 rows         (a ViT-B/16 token projection)
std::vector<KernelSpec> cold_chain_specs();

}  // namespace infercast::bench
