// Folding of shape arithmetic, so that ONNX shape inference sees computed shapes.
//
// Exporters compute target shapes at run time: Shape → Gather → Unsqueeze → Concat →
// Reshape/Expand, often through Equal/Where/ConstantOfShape (torch's expand(n, -1)).
// libonnx 1.12's data propagation covers only a few of those ops, leaving the rest
// of the graph with unknown shapes. fold_shape_values() evaluates such small integer
// computations whose inputs are known (constants, or Shape of a tensor whose shape
// is static) and replaces each evaluated node, in a working copy of the model used
// only for inference, by a Constant node with the same output and value. The
// caller re-runs inference on the copy and reads shapes from it; the analysed graph
// keeps every original node.
#pragma once

#include <onnx/onnx_pb.h>

namespace infercast::import::onnx_fold {

// Values with more elements than this are not folded.
inline constexpr std::int64_t kMaxFoldedElements = 4096;

// Replaces every foldable node of `work`'s main graph by a Constant node. Returns
// the number of nodes replaced. Never throws for malformed nodes: they are left alone.
int fold_shape_values(::onnx::ModelProto& work);

}  // namespace infercast::import::onnx_fold
