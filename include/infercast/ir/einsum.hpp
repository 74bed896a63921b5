// ONNX Einsum equations: the output shape and the multiply-add count they imply.
//
// Grammar (ONNX Einsum-12): operands are terms of letters separated by ',', an
// optional "->" names the output's letters; "..." stands for broadcast leading dims;
// spaces are ignored (PyTorch exports "B G H I D, B G H J D -> B G H I J"). Without
// "->" the output is the letters used exactly once, in alphabetical order, after the
// ellipsis dims.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace infercast::ir {

struct EinsumResult {
  std::vector<std::int64_t> output_shape;
  // Product of the extents of every distinct letter and of the broadcast ellipsis
  // dims: one multiply-add per point of the full index space.
  std::uint64_t macs = 0;
};

// nullopt when the equation is malformed or does not fit the input shapes (wrong
// rank, a letter bound to two different extents, ellipsis dims that do not broadcast).
std::optional<EinsumResult> evaluate_einsum(std::string_view equation,
                                            const std::vector<std::vector<std::int64_t>>& input_shapes);

// An Einsum that is a batched matrix product, as attention writes it: two operands and an
// output of one rank r >= 3 whose first r - 2 letters are the same batch letters with the
// same extents (no ellipsis, no broadcast), then "ik,jk->ij" (the second operand
// contracted over its last axis: Q K^T) or "ik,kj->ij" (the attention times V).
struct BatchedMatmul {
  std::int64_t batch = 1;  // the product of the batch extents
  std::int64_t m = 0, k = 0, n = 0;
  bool transposed_b = false;  // "ik,jk->ij"
};
// nullopt for any other equation, or shapes that do not fit it.
std::optional<BatchedMatmul> einsum_batched_matmul(std::string_view equation,
                                                   const std::vector<std::vector<std::int64_t>>& input_shapes);

}  // namespace infercast::ir
