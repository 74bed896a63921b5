// Arena planning: hand-checked cases and properties over random DAGs.
#include <gtest/gtest.h>

#include <random>

#include "infercast/cost/memory.hpp"

namespace infercast::cost {
namespace {

int add_tensor(ir::Graph& g, std::int64_t floats, ir::TensorKind kind = ir::TensorKind::kActivation) {
  ir::Tensor t;
  t.name = "t" + std::to_string(g.tensors.size());
  t.dtype = ir::DType::kFloat32;
  t.shape = ir::Shape::of({floats});
  t.kind = kind;
  return g.add_tensor(std::move(t));
}

void add_node(ir::Graph& g, std::vector<int> in, std::vector<int> out) {
  ir::Node n;
  n.name = "n" + std::to_string(g.nodes.size());
  n.op = ir::Op::Add;
  n.source_op = "Add";
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  g.nodes.push_back(std::move(n));
}

TEST(Arena, ChainReusesMemory) {
  // x(64 floats) -> a(128) -> b(64) -> y(16): at most two neighbours live at once.
  ir::Graph g;
  const int x = add_tensor(g, 64, ir::TensorKind::kInput);
  const int a = add_tensor(g, 128);
  const int b = add_tensor(g, 64);
  const int y = add_tensor(g, 16, ir::TensorKind::kOutput);
  g.inputs = {x};
  g.outputs = {y};
  add_node(g, {x}, {a});
  add_node(g, {a}, {b});
  add_node(g, {b}, {y});
  g.finalize("chain");
  const MemoryPlan plan = plan_memory(g);
  EXPECT_EQ(plan.naive_bytes, 4u * (64 + 128 + 64 + 16));
  EXPECT_EQ(plan.lower_bound_bytes, 4u * (128 + 64));  // a and b live together at node 1
  EXPECT_EQ(plan.arena_bytes, 4u * (128 + 64));        // greedy reaches the bound here
}

TEST(Arena, ConstantDerivedTensorsArePersistent) {
  ir::Graph g;
  const int x = add_tensor(g, 8, ir::TensorKind::kInput);
  const int w16 = add_tensor(g, 8, ir::TensorKind::kConstant);
  const int w = add_tensor(g, 8);  // a dequantized weight
  const int y = add_tensor(g, 8, ir::TensorKind::kOutput);
  g.inputs = {x};
  g.outputs = {y};
  add_node(g, {w16}, {w});
  add_node(g, {x, w}, {y});
  g.finalize("dequant");
  const MemoryPlan plan = plan_memory(g);
  EXPECT_EQ(plan.persistent_bytes, 32u);
  EXPECT_EQ(plan.naive_bytes, 64u);
}

TEST(Arena, RandomGraphsNeverOverlapLiveTensors) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    ir::Graph g;
    std::vector<int> live = {add_tensor(g, 1 + rng() % 1000, ir::TensorKind::kInput)};
    g.inputs = {live[0]};
    const int nodes = 2 + static_cast<int>(rng() % 40);
    for (int n = 0; n < nodes; ++n) {
      std::vector<int> in = {live[rng() % live.size()], live[rng() % live.size()]};
      const int out = add_tensor(g, 1 + rng() % 1000);
      add_node(g, in, {out});
      live.push_back(out);
    }
    g.tensors[live.back()].kind = ir::TensorKind::kOutput;
    g.outputs = {live.back()};
    g.finalize("random");
    const MemoryPlan plan = plan_memory(g);
    EXPECT_LE(plan.lower_bound_bytes, plan.arena_bytes);
    for (std::size_t i = 0; i < plan.placements.size(); ++i) {
      const Placement& p = plan.placements[i];
      EXPECT_EQ(p.offset % kArenaAlignment, 0u);
      for (std::size_t j = i + 1; j < plan.placements.size(); ++j) {
        const Placement& q = plan.placements[j];
        const bool time = p.first <= q.last && q.first <= p.last;
        const bool space = p.offset < q.offset + q.size && q.offset < p.offset + p.size;
        ASSERT_FALSE(time && space) << "trial " << trial << ": tensors " << p.tensor << " and " << q.tensor;
      }
    }
  }
}

}  // namespace
}  // namespace infercast::cost
