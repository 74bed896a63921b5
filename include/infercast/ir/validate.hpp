// The shape contracts ONNX and TFLite define for the ops infercast costs and runs,
// checked on a finalized graph. Both importers call validate() after building the
// graph, so a model that a runtime would refuse is refused at import, with the rule
// it breaks, instead of being costed as if it were valid.
#pragma once

#include <string>

#include "infercast/ir/graph.hpp"

namespace infercast::ir {

// Checks every node whose shapes are known enough to decide (an unknown rank or
// dimension is never a violation):
//   Conv / ConvTranspose  input channels = weight channels x group, output channels
//                         divisible by group, bias length = output channels, input
//                         rank = weight rank (ONNX OIHW / IOHW weights, TFLite OHWI
//                         and depthwise 1HWO as the node's weight_layout says)
//   MatMul                inner dimensions equal (adj_x/adj_y honoured), batch
//                         dimensions broadcast
//   Gemm                  inner dimensions equal after transA/transB, C broadcasts
//                         to M x N
//   FullyConnected        input element count a multiple of the weight's input size
//                         (equal last dimension with keep_num_dims), bias length = units
//   Concat                equal ranks, axis in range, equal dimensions off the axis
//   binary elementwise    numpy multidirectional broadcasting (PRelu: the slope
//                         broadcasts to the input)
//   BatchNormalization    scale, bias, mean and variance are vectors of the channels
//   Reshape               at most one -1; no -1 beside a 0 with allowzero; element
//                         count preserved
// Throws Error(kBadModel, file, "node I 'name' (source op)", reason) where the reason
// names the values and the rule.
void validate(const Graph& graph, const std::string& file);

}  // namespace infercast::ir
