#include <chrono>

#include "infercast/transform/transform.hpp"

namespace infercast::transform {
namespace {

// tile-matmul's report facts checked against the cost analysis of the result: the
// nodes named under each tiled layer's prefix, and the MACs of its MatMuls.
void measure_tiled_layers(const ir::Graph& graph, const cost::ModelCost& cost, PassResult& result) {
  if (!result.details.is_object() || !result.details.contains("layers")) return;
  for (auto& layer : result.details["layers"]) {
    const std::string prefix = layer.value("prefix", "");
    std::uint64_t nodes = 0, macs = 0;
    for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
      if (graph.nodes[i].name.compare(0, prefix.size(), prefix) != 0) continue;
      ++nodes;
      if (graph.nodes[i].op == ir::Op::MatMul) macs += cost.layers[i].macs;
    }
    layer["nodes_in_result"] = nodes;
    layer["tile_macs_in_result"] = macs;
    layer["macs_match"] = macs == layer.value("padded_tile_macs", std::uint64_t{0});
    layer["nodes_match"] = nodes == layer.value("nodes_closed_form", std::uint64_t{0});
  }
}

}  // namespace

std::vector<PassResult> apply(ir::Graph& graph, const std::vector<std::unique_ptr<Pass>>& passes,
                              const PassContext& context) {
  std::vector<PassResult> results;
  for (const auto& pass : passes) results.push_back(pass->apply(graph, context));
  return results;
}

Outcome apply_with_costs(ir::Graph& graph, const std::vector<std::unique_ptr<Pass>>& passes,
                         const PassContext& context) {
  Outcome outcome;
  outcome.before = cost::analyze(graph);
  for (const auto& pass : passes) {
    Step step;
    step.pass = pass->name();
    const auto start = std::chrono::steady_clock::now();
    step.result = pass->apply(graph, context);
    step.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    step.after = cost::analyze(graph);
    measure_tiled_layers(graph, step.after, step.result);
    outcome.steps.push_back(std::move(step));
  }
  return outcome;
}

}  // namespace infercast::transform
