#include <algorithm>
#include <set>

#include "infercast/base/error.hpp"
#include "infercast/cost/cost.hpp"

namespace infercast::cost {

ModelCost analyze(const ir::Graph& graph) {
  for (int id : graph.inputs) {
    const ir::Tensor& t = graph.tensors[id];
    if (!t.shape.rank_known) {
      throw Error(ErrorKind::kUnknownDim, graph.meta.source_path, "input '" + t.name + "'",
                  "has unknown rank; give its shape with --input-shape " + t.name + "=1x3x224x224");
    }
    for (std::size_t i = 0; i < t.shape.rank(); ++i) {
      const ir::Dim& d = t.shape.dims[i];
      if (d.known()) continue;
      std::string suggestion;
      for (std::size_t j = 0; j < t.shape.rank(); ++j) {
        suggestion +=
            (j ? "x" : "") + (t.shape.dims[j].known() ? std::to_string(t.shape.dims[j].value) : std::string("N"));
      }
      throw Error(
          ErrorKind::kUnknownDim, graph.meta.source_path,
          "input '" + t.name + "' dimension " + std::to_string(i) + (d.symbol.empty() ? "" : " ('" + d.symbol + "')"),
          "is not fixed; give it with --input-shape " + t.name + "=" + suggestion);
    }
  }

  ModelCost model;
  model.layers.reserve(graph.nodes.size());
  std::set<std::string> unknown;
  std::size_t incomplete = 0;
  for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
    const ir::Node& node = graph.nodes[i];
    LayerCost layer = layer_cost(graph, static_cast<int>(i));
    model.macs += layer.macs;
    if (layer.macs > 0) {
      // By the dtype of the data the MACs multiply: int8 for quantized kernels, float32
      // for float ones (dynamic-range int8 weights with float activations count as float).
      const int x = node.inputs.empty() ? -1 : node.inputs[0];
      const ir::DType dt = x >= 0 ? graph.tensors[static_cast<std::size_t>(x)].dtype : ir::DType::kUnknown;
      model.macs_by_dtype[std::string(ir::dtype_name(dt))] += layer.macs;
    }
    model.flops += layer.flops;
    model.read_bytes += layer.read_bytes;
    model.write_bytes += layer.write_bytes;
    if (!layer.complete) {
      if (++incomplete <= 5) {
        model.warnings.push_back("layer '" + node.name + "' (" + node.source_op +
                                 "): a shape it needs is unknown; its costs are partial");
      }
    }
    if (node.op == ir::Op::Other) {
      unknown.insert(node.source_op);
      ++model.op_counts["Other(" + node.source_op + ")"];
    } else {
      ++model.op_counts[std::string(ir::op_name(node.op))];
    }
    model.layers.push_back(layer);
  }
  if (incomplete > 5) {
    model.warnings.push_back(std::to_string(incomplete - 5) + " more layers have partial costs (unknown shapes)");
  }
  model.unknown_ops.assign(unknown.begin(), unknown.end());
  for (const std::string& op : model.unknown_ops) {
    model.warnings.push_back("op '" + op + "' is not in infercast's op table: counted for memory only");
  }
  // Weights once each: a tensor aliasing another (Identity of an initializer) or
  // consumed by several layers is counted one time.
  for (std::size_t id = 0; id < graph.tensors.size(); ++id) {
    const ir::Tensor& t = graph.tensors[id];
    if (t.sparse && t.alias_of < 0 && t.is_constant()) ++model.sparse_tensors;
    if (t.alias_of >= 0 || !is_weight(graph, static_cast<int>(id))) continue;
    const std::uint64_t bytes = t.data.empty() ? t.bytes().value_or(0) : t.data.size();
    model.params += t.shape.numel().value_or(0);
    model.weight_bytes += bytes;
    model.weight_bytes_by_dtype[std::string(ir::dtype_name(t.dtype))] += bytes;
  }
  model.memory = plan_memory(graph);
  return model;
}

}  // namespace infercast::cost
