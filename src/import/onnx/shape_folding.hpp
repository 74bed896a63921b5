// Folding of shape arithmetic, so that ONNX shape inference sees computed shapes.
//
// Exporters compute target shapes at run time: Shape → Gather → Unsqueeze → Concat →
// Reshape/Expand, often through Equal/Where/ConstantOfShape (torch's expand(n, -1)).
// libonnx 1.12's data propagation covers only a few of those ops, leaving the rest
// of the graph with unknown shapes. find_foldable() evaluates such small integer
// computations whose inputs are known (constants, or Shape of a tensor whose shape
// is static) and apply() replaces each evaluated node, in a working copy of the model
// used only for inference, by a Constant node with the same output and value. The
// caller re-runs inference on the copy and reads shapes from it; the analysed graph
// keeps every original node.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace infercast::import::onnx_fold {

// Values with more elements than this are not folded.
inline constexpr std::int64_t kMaxFoldedElements = 4096;

// What one folding pass over a model's main graph found: nodes to replace by Constant
// nodes (by index in graph.node), and static output shapes of Einsum nodes to record
// as value_info.
struct Folding {
  std::vector<std::pair<int, ::onnx::NodeProto>> constants;
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> shapes;
  int count() const { return static_cast<int>(constants.size() + shapes.size()); }
};

// One pass, reading `model` only. Never throws for malformed nodes: they are left alone.
Folding find_foldable(const ::onnx::ModelProto& model);
// Makes the edits of a pass over `work` (or over an identical copy of it).
void apply(Folding folding, ::onnx::ModelProto& work);

}  // namespace infercast::import::onnx_fold
