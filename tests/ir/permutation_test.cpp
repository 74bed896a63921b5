// Transposes reduced to the movement they make: the reduced form must move every element
// where the original transpose moves it, and name the layouts runtimes tell apart.
#include <gtest/gtest.h>

#include <numeric>
#include <random>

#include "infercast/ir/permutation.hpp"

namespace infercast::ir {
namespace {

using Ints = std::vector<std::int64_t>;

// For each output element (row-major), the flat index of the input element it copies.
std::vector<std::int64_t> sources(const Ints& dims, const Ints& perm) {
  const std::size_t rank = dims.size();
  Ints stride(rank, 1);
  for (std::size_t d = rank; d-- > 1;) stride[d - 1] = stride[d] * dims[d];
  Ints out_dims;
  for (auto p : perm) out_dims.push_back(dims[static_cast<std::size_t>(p)]);
  const std::int64_t total = std::accumulate(dims.begin(), dims.end(), std::int64_t{1}, std::multiplies<>());
  std::vector<std::int64_t> src;
  for (std::int64_t flat = 0; flat < total; ++flat) {
    std::int64_t rem = flat, at = 0;
    for (std::size_t i = rank; i-- > 0;) {
      at += rem % out_dims[i] * stride[static_cast<std::size_t>(perm[i])];
      rem /= out_dims[i];
    }
    src.push_back(at);
  }
  return src;
}

TEST(Permutation, ReducesTheLayoutsNetworksUse) {
  // NHWC -> NCHW: a matrix transpose of pixels by channels.
  auto r = reduce_permutation({1, 56, 56, 64}, {0, 3, 1, 2});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->dims, (Ints{3136, 64}));
  EXPECT_EQ(r->perm, (Ints{1, 0}));
  EXPECT_TRUE(r->is_matrix_transpose());
  // Heads split off a sequence: blocks of a head's 32 values move whole.
  r = reduce_permutation({1, 49, 8, 32}, {0, 2, 1, 3});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->dims, (Ints{49, 8, 32}));
  EXPECT_EQ(r->perm, (Ints{1, 0, 2}));
  EXPECT_TRUE(r->keeps_inner_axis());
  EXPECT_FALSE(r->is_matrix_transpose());
  // Attention's K^T over windows and heads: a batch of matrix transposes, not one.
  r = reduce_permutation({64, 3, 49, 32}, {0, 1, 3, 2});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->dims, (Ints{192, 49, 32}));
  EXPECT_EQ(r->perm, (Ints{0, 2, 1}));
  EXPECT_FALSE(r->is_matrix_transpose());
  // MaxViT's window partition stays rank 5 and moves its innermost axis.
  r = reduce_permutation({1, 64, 8, 7, 8, 7}, {0, 2, 4, 3, 5, 1});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->dims, (Ints{64, 8, 7, 8, 7}));
  EXPECT_EQ(r->perm, (Ints{1, 3, 2, 4, 0}));
  EXPECT_FALSE(r->keeps_inner_axis());
  // Only unit axes move: nothing is left to move. ONNX's default perm reverses the axes.
  r = reduce_permutation({1, 1, 5, 1}, {1, 3, 2, 0});
  ASSERT_TRUE(r);
  EXPECT_LE(r->rank(), 1u);
  r = reduce_permutation({2, 3, 4}, {});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->perm, (Ints{2, 1, 0}));
}

TEST(Permutation, RejectsWhatIsNoPermutation) {
  EXPECT_FALSE(reduce_permutation({2, 3}, {0, 0}));
  EXPECT_FALSE(reduce_permutation({2, 3}, {0, 2}));
  EXPECT_FALSE(reduce_permutation({2, 3}, {1, 0, 2}));
  EXPECT_FALSE(reduce_permutation({2, -1}, {1, 0}));
}

TEST(Permutation, ReducedFormMovesEveryElementAsTheOriginal) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    const std::size_t rank = 1 + rng() % 6;
    Ints dims, perm(rank);
    for (std::size_t i = 0; i < rank; ++i) dims.push_back(1 + static_cast<std::int64_t>(rng() % 4));
    std::iota(perm.begin(), perm.end(), std::int64_t{0});
    std::shuffle(perm.begin(), perm.end(), rng);
    const auto r = reduce_permutation(dims, perm);
    ASSERT_TRUE(r);
    for (std::int64_t d : r->dims) EXPECT_GT(d, 1);
    for (std::size_t i = 1; i < r->rank(); ++i) EXPECT_NE(r->perm[i], r->perm[i - 1] + 1) << "left unmerged";
    EXPECT_EQ(sources(r->dims, r->perm), sources(dims, perm));
  }
}

}  // namespace
}  // namespace infercast::ir
