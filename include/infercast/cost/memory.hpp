// Activation memory from tensor lifetimes: the naive sum, the lower bound (largest
// set of simultaneously live tensors), and a greedy-by-size arena plan like the one
// TFLite's arena planner makes.
#pragma once

#include <cstdint>
#include <vector>

#include "infercast/ir/graph.hpp"

namespace infercast::cost {

inline constexpr std::uint64_t kArenaAlignment = 64;

struct Placement {
  int tensor = -1;
  int first = 0;             // node index that writes it (0 for graph inputs)
  int last = 0;              // last node index that reads it (the last node for graph outputs)
  std::uint64_t size = 0;    // bytes, unaligned
  std::uint64_t offset = 0;  // in the arena, aligned to kArenaAlignment
};

struct MemoryPlan {
  std::vector<Placement> placements;    // every planned tensor
  std::uint64_t naive_bytes = 0;        // sum of all planned tensors
  std::uint64_t lower_bound_bytes = 0;  // max over steps of live bytes
  std::uint64_t arena_bytes = 0;        // greedy-by-size arena size
  std::uint64_t persistent_bytes = 0;   // tensors computed from constants only (e.g. dequantized weights)
};

// Plans graph inputs, outputs and activations with known sizes. Tensors computed
// only from constants are runtime-persistent and reported in persistent_bytes,
// not planned. Unknown-size tensors are skipped.
MemoryPlan plan_memory(const ir::Graph& graph);

// True for tensors a runtime computes once from constants alone.
std::vector<bool> constant_derived(const ir::Graph& graph);

}  // namespace infercast::cost
