// TFLite sparse constants (SparsityParameters) densified for writers that store only
// dense tensors.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "infercast/ir/graph.hpp"

namespace infercast::exporter {

// The dense little-endian bytes of sparse constant `tensor` of a graph imported from
// TFLite, in its own dtype. The sparsity parameters are re-read from the model file
// (the IR keeps only the stored values). Throws Error(kUnsupported) naming `where`
// for block-sparse tensors, a file that changed or cannot be read, and any index out
// of range.
std::vector<std::byte> densify_tflite(const ir::Graph& graph, int tensor, const std::string& where);

}  // namespace infercast::exporter
