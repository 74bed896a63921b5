// Private to the export room: the per-format checks that exporter::unsupported_nodes
// dispatches to. Each returns one entry per node the writer cannot express, in node
// order, formatted "node 12 'conv3' (Foo): <reason>"; empty when the graph can be written.
#pragma once

#include <string>
#include <vector>

#include "infercast/ir/graph.hpp"

namespace infercast::exporter::detail {

// Defined in src/export/onnx/.
std::vector<std::string> unsupported_onnx(const ir::Graph& graph);
// Defined in src/export/tflite/.
std::vector<std::string> unsupported_tflite(const ir::Graph& graph);

}  // namespace infercast::exporter::detail
