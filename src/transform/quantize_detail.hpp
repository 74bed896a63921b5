// Internals of the quantizer shared by quantize.cpp and quantize_rewrite.cpp.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "infercast/ir/graph.hpp"
#include "infercast/transform/quantize.hpp"

namespace infercast::transform::detail {

struct Plan {
  std::vector<bool> int8_node;    // per node: computes in int8 (full) / gets int8 weights (dynamic)
  std::vector<bool> needs_range;  // per tensor: an activation whose calibrated range is needed
  std::vector<int> weight_of;     // per node: the float constant its weights are (through DEQUANTIZE), -1
  std::vector<std::string> float_ops;
  std::size_t quantized_count = 0;
};

// Per-tensor asymmetric int8 parameters covering [lo, hi] and real 0 (exact, for
// padding and ReLU): scale = (hi − lo) / 255, zero point = round(−128 − lo / scale).
ir::Quantization activation_params(float lo, float hi);

// Decides per node of the TFLite-form graph `g` what becomes int8.
Plan plan_quantization(const ir::Graph& g, QuantizeMode mode);

// The quantized graph: `g`'s nodes with int8 tensors, QUANTIZE/DEQUANTIZE at island
// edges. Constant tensors it does not rewrite view `g`'s data: `g` must outlive the
// result (quantize() serializes it before `g` goes). `params[t]`: calibrated
// parameters of activation t (full mode). Throws Error(kUnsupported) naming a tensor
// that an int8 node reads but calibration never saw.
ir::Graph rewrite(const ir::Graph& g, const Plan& plan, const std::vector<std::optional<ir::Quantization>>& params,
                  QuantizeMode mode);

}  // namespace infercast::transform::detail
