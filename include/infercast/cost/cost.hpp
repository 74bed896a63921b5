// Static cost analysis of an ir::Graph: per-layer params, weight bytes, MACs, FLOPs,
// bytes read and written, and model totals with peak activation memory. The
// conventions (what counts as a MAC, each op's FLOPs) are in docs/costs.md.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "infercast/cost/memory.hpp"
#include "infercast/ir/graph.hpp"

namespace infercast::cost {

struct LayerCost {
  int node = -1;                   // index into Graph::nodes
  std::uint64_t params = 0;        // elements of the layer's weight inputs
  std::uint64_t weight_bytes = 0;  // bytes of those weights as stored in the file
  std::uint64_t macs = 0;          // multiply-accumulates (conv, conv-transpose, gemm, fc, matmul)
  std::uint64_t flops = 0;         // 2*macs + the op's other floating-point work
  std::uint64_t read_bytes = 0;    // every distinct input tensor, weights included
  std::uint64_t write_bytes = 0;   // every output tensor
  bool complete = true;            // false when a shape the cost needs is unknown

  // FLOPs per byte moved; 0 when nothing moves.
  double intensity() const noexcept {
    const double moved = static_cast<double>(read_bytes + write_bytes);
    return moved > 0 ? static_cast<double>(flops) / moved : 0.0;
  }
};

struct ModelCost {
  std::vector<LayerCost> layers;  // one per node, in graph order

  // Totals. params and weight_bytes count each stored weight tensor once (shared
  // and Identity-aliased weights are not double counted), so they can be less than
  // the sum over layers.
  std::uint64_t params = 0;
  std::uint64_t weight_bytes = 0;
  std::map<std::string, std::uint64_t> weight_bytes_by_dtype;
  std::uint64_t macs = 0;
  // MACs by the dtype of the layer's data input ("int8" for quantized kernels).
  std::map<std::string, std::uint64_t> macs_by_dtype;
  std::uint64_t flops = 0;
  std::uint64_t read_bytes = 0;
  std::uint64_t write_bytes = 0;
  std::uint64_t sparse_tensors = 0;
  MemoryPlan memory;

  std::map<std::string, int> op_counts;  // canonical op name (Other as "Other(<source op>)") → nodes
  std::vector<std::string> unknown_ops;  // source op names outside the op table, sorted
  std::vector<std::string> warnings;
};

// Costs of one node. Never throws: unknown shapes leave `complete` false.
LayerCost layer_cost(const ir::Graph& graph, int node);

// Whole-model analysis. Throws Error(kUnknownDim) naming the input and dimension
// when a graph input has a symbolic or unknown dimension (give it with
// ImportOptions::input_shapes / --input-shape).
ModelCost analyze(const ir::Graph& graph);

// Whether a weight input counts as params: a stored floating-point or quantized
// constant, not a shape/index constant and not a scalar hyper-parameter.
bool is_weight(const ir::Graph& graph, int tensor);

}  // namespace infercast::cost
