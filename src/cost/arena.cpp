#include <algorithm>

#include "infercast/cost/memory.hpp"

namespace infercast::cost {
namespace {

std::uint64_t align_up(std::uint64_t v) {
  return (v + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
}

bool overlaps_in_time(const Placement& a, const Placement& b) {
  return a.first <= b.last && b.first <= a.last;
}

}  // namespace

std::vector<bool> constant_derived(const ir::Graph& graph) {
  std::vector<bool> derived(graph.tensors.size(), false);
  for (const ir::Node& node : graph.nodes) {
    bool all_constant = !node.inputs.empty();
    for (int id : node.inputs) {
      if (id >= 0 && !graph.tensors[id].is_constant() && !derived[id]) all_constant = false;
    }
    if (!all_constant) continue;
    for (int id : node.outputs) {
      if (id >= 0 && !graph.tensors[id].is_constant() && graph.tensors[id].kind != ir::TensorKind::kOutput)
        derived[id] = true;
    }
  }
  return derived;
}

MemoryPlan plan_memory(const ir::Graph& graph) {
  MemoryPlan plan;
  const std::vector<bool> derived = constant_derived(graph);
  const int last_step = std::max(static_cast<int>(graph.nodes.size()) - 1, 0);
  for (std::size_t id = 0; id < graph.tensors.size(); ++id) {
    const ir::Tensor& t = graph.tensors[id];
    if (t.is_constant()) continue;
    const auto bytes = t.bytes();
    if (!bytes || *bytes == 0) continue;
    if (derived[id]) {
      plan.persistent_bytes += *bytes;
      continue;
    }
    Placement p;
    p.tensor = static_cast<int>(id);
    p.size = *bytes;
    p.first = t.producer >= 0 ? t.producer : 0;
    p.last = p.first;
    for (int consumer : t.consumers) p.last = std::max(p.last, consumer);
    if (t.kind == ir::TensorKind::kOutput ||
        std::find(graph.outputs.begin(), graph.outputs.end(), static_cast<int>(id)) != graph.outputs.end()) {
      p.last = last_step;
    }
    plan.naive_bytes += p.size;
    plan.placements.push_back(p);
  }

  // Lower bound: the most bytes live at any one step.
  std::vector<std::uint64_t> live(static_cast<std::size_t>(last_step) + 2, 0);
  for (const Placement& p : plan.placements) {
    live[static_cast<std::size_t>(p.first)] += p.size;
    live[static_cast<std::size_t>(p.last) + 1] -= p.size;
  }
  std::uint64_t running = 0;
  for (std::size_t s = 0; s + 1 < live.size(); ++s) {
    running += live[s];
    plan.lower_bound_bytes = std::max(plan.lower_bound_bytes, running);
  }

  // Greedy by size: largest first, each at the lowest aligned offset that does not
  // collide with an already placed tensor whose lifetime overlaps.
  std::vector<std::size_t> order(plan.placements.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const Placement& pa = plan.placements[a];
    const Placement& pb = plan.placements[b];
    return pa.size != pb.size ? pa.size > pb.size : pa.first < pb.first;
  });
  std::vector<std::size_t> placed;  // indices into placements, kept sorted by offset
  placed.reserve(order.size());
  for (std::size_t index : order) {
    Placement& p = plan.placements[index];
    std::uint64_t offset = 0;
    for (std::size_t other : placed) {
      const Placement& q = plan.placements[other];
      if (!overlaps_in_time(p, q)) continue;
      if (q.offset >= offset + p.size) break;  // the gap before q fits
      offset = std::max(offset, align_up(q.offset + q.size));
    }
    p.offset = offset;
    plan.arena_bytes = std::max(plan.arena_bytes, p.offset + p.size);
    const auto at = std::lower_bound(placed.begin(), placed.end(), p.offset,
                                     [&](std::size_t i, std::uint64_t off) { return plan.placements[i].offset < off; });
    placed.insert(at, index);
  }
  return plan;
}

}  // namespace infercast::cost
