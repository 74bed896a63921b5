// Graph rewrites that keep the numbers: passes behind one interface, registered in one
// table (pass_table()), run in order by apply(). Every pass takes a finalized graph
// and leaves a finalized graph that ir::validate() accepts; constants a pass creates
// live in storage the graph owns (ir::Graph::own), so the result outlives the file
// it came from only through the graph itself.
//
// A pass whose precondition does not hold on a node (no conv before a BatchNorm, a
// MatMul of dynamic shape) leaves that node alone and says so in its notes: 0
// rewrites is a result, not an error. Errors (Error(kInvalidArgument) for a bad pass
// spec, Error(kUnknownDim) for shapes a pass needs and the model leaves symbolic)
// are thrown before the graph is touched.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "infercast/cost/cost.hpp"
#include "infercast/ir/graph.hpp"

namespace infercast::transform {

struct PassContext {
  // Shapes given with --input-shape (static-shapes pins them into the graph).
  std::map<std::string, std::vector<std::int64_t>> input_shapes;
};

struct PassResult {
  std::uint64_t rewrites = 0;      // how many places the pass rewrote
  std::vector<std::string> notes;  // why places were left alone, what was derived
  // Pass-specific facts for the report, e.g. tile-matmul's per-layer closed-form node
  // count and padded-tile MACs ({"layers": [...]}); null when the pass has none.
  nlohmann::json details;
};

class Pass {
 public:
  virtual ~Pass() = default;
  // The spec that made it: "tile-matmul=64", "fold-bn".
  virtual std::string name() const = 0;
  // One line: what it rewrites.
  virtual std::string summary() const = 0;
  // Rewrites `graph` in place and leaves it finalized and valid. Throws Error only
  // for a graph the pass cannot even inspect; see the file comment.
  virtual PassResult apply(ir::Graph& graph, const PassContext& context) = 0;
};

// One row of the pass table.
struct PassInfo {
  std::string_view name;      // "tile-matmul"
  std::string_view argument;  // "T" when the pass takes "=ARG", else empty
  std::string_view summary;
  // Builds the pass from its argument (empty when none was given). Throws
  // Error(kInvalidArgument) naming the spec for a bad argument.
  std::unique_ptr<Pass> (*make)(const std::string& argument, const std::string& spec);
};

// Every pass, in the order `infercast transform --list` prints them.
const std::vector<PassInfo>& pass_table();

// "NAME" or "NAME=ARG" -> the pass. Throws Error(kInvalidArgument) naming the spec for
// an unknown name, a missing or unexpected argument, or a bad argument value.
std::unique_ptr<Pass> make_pass(const std::string& spec);
std::vector<std::unique_ptr<Pass>> make_passes(const std::vector<std::string>& specs);

// What one pass did, with the model's costs after it.
struct Step {
  std::string pass;
  PassResult result;
  double ms = 0;  // wall time of the pass (rebuild and validation included)
  cost::ModelCost after;
};

struct Outcome {
  cost::ModelCost before;
  std::vector<Step> steps;
};

// Runs `passes` in order on `graph`. apply() alone does no cost analysis;
// apply_with_costs() analyzes before and after every pass (cost::analyze, which
// throws Error(kUnknownDim) for symbolic input dimensions).
std::vector<PassResult> apply(ir::Graph& graph, const std::vector<std::unique_ptr<Pass>>& passes,
                              const PassContext& context = {});
Outcome apply_with_costs(ir::Graph& graph, const std::vector<std::unique_ptr<Pass>>& passes,
                         const PassContext& context = {});

// tile-matmul's closed-form node count for one layer (docs/transform.md): M x K times
// K x N with tile T, `trans_a`/`trans_b` transposes, alpha != 1, and a C input.
std::uint64_t tiled_node_count(std::int64_t m, std::int64_t k, std::int64_t n, std::int64_t t, bool trans_a,
                               bool trans_b, bool alpha, bool bias);

}  // namespace infercast::transform
