// A Transpose reduced to the data movement it makes.
//
// Axes of extent 1 move nothing and are dropped; axes that are adjacent and in order in
// both the input and the output move as one and are merged. What is left tells how a
// runtime copies the data: [1, 56, 56, 64] by (0, 3, 1, 2) is [3136, 64] by (1, 0), a
// matrix transpose; [1, 49, 8, 32] by (0, 2, 1, 3) is [49, 8, 32] by (1, 0, 2), rows of 32
// contiguous floats moved as blocks; MaxViT's window partition [1, 64, 8, 7, 8, 7] by
// (0, 2, 4, 3, 5, 1) stays [64, 8, 7, 8, 7] by (1, 3, 2, 4, 0), which no block copy or
// matrix transpose does (ONNX Runtime moves it element by element).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace infercast::ir {

struct Permutation {
  std::vector<std::int64_t> dims;  // the input's merged extents, all > 1
  std::vector<std::int64_t> perm;  // output axis i is input axis perm[i]
  std::size_t rank() const { return dims.size(); }
  // One matrix transposed, (1, 0): NCHW <-> NHWC of one image. A batch of them, (0, 2, 1),
  // is not: attention's K^T over 192 windows and heads of 49 x 32 ran at 3.3 ns an element
  // on ONNX Runtime, 10x one large matrix's.
  bool is_matrix_transpose() const;
  // The input's innermost axis stays innermost: the copy moves contiguous blocks.
  bool keeps_inner_axis() const { return !perm.empty() && perm.back() == static_cast<std::int64_t>(rank()) - 1; }
};

// The reduced form of a transpose of `dims` by `perm` (empty `perm`: the axes reversed,
// as ONNX's default); nullopt when `perm` is not a permutation of `dims`' axes or an
// extent is unknown (< 0). A transpose that moves nothing has rank 0 or 1.
std::optional<Permutation> reduce_permutation(const std::vector<std::int64_t>& dims, std::vector<std::int64_t> perm);

}  // namespace infercast::ir
