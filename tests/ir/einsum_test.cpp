// Einsum output shapes and MACs for the equation forms of the ONNX Einsum spec
// (explicit, implicit, ellipsis, spaces as PyTorch exports them) and malformed ones.
#include <gtest/gtest.h>

#include "infercast/ir/einsum.hpp"

namespace infercast::ir {
namespace {

using Shapes = std::vector<std::vector<std::int64_t>>;

TEST(Einsum, MatMulAndBatchedMatMul) {
  auto r = evaluate_einsum("ij,jk->ik", Shapes{{2, 3}, {3, 4}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->output_shape, (std::vector<std::int64_t>{2, 4}));
  EXPECT_EQ(r->macs, 2u * 3 * 4);
  // MaxViT's attention, exported by PyTorch with spaces.
  r = evaluate_einsum("B G H I D, B G H J D -> B G H I J", Shapes{{1, 64, 2, 49, 32}, {1, 64, 2, 49, 32}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->output_shape, (std::vector<std::int64_t>{1, 64, 2, 49, 49}));
  EXPECT_EQ(r->macs, 1u * 64 * 2 * 49 * 49 * 32);
}

TEST(Einsum, ImplicitOutputIsSortedLettersUsedOnce) {
  // "ij,jk" -> "ik"; "ba" alone -> "ab" (a transpose); "ii" -> "" (a trace).
  auto r = evaluate_einsum("ij,jk", Shapes{{2, 3}, {3, 5}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->output_shape, (std::vector<std::int64_t>{2, 5}));
  r = evaluate_einsum("ba", Shapes{{3, 7}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->output_shape, (std::vector<std::int64_t>{7, 3}));
  r = evaluate_einsum("ii", Shapes{{4, 4}});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->output_shape.empty());
}

TEST(Einsum, EllipsisBroadcasts) {
  auto r = evaluate_einsum("...ij,...jk->...ik", Shapes{{5, 1, 2, 3}, {4, 3, 6}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->output_shape, (std::vector<std::int64_t>{5, 4, 2, 6}));
  EXPECT_EQ(r->macs, 5u * 4 * 2 * 3 * 6);
}

TEST(Einsum, RefusesWhatDoesNotFit) {
  EXPECT_FALSE(evaluate_einsum("ij,jk->ik", Shapes{{2, 3}, {4, 5}}));  // j bound to 3 and 4
  EXPECT_FALSE(evaluate_einsum("ij,jk->ik", Shapes{{2, 3}}));          // one operand short
  EXPECT_FALSE(evaluate_einsum("ijk->ik", Shapes{{2, 3}}));            // rank mismatch
  EXPECT_FALSE(evaluate_einsum("ij->iz", Shapes{{2, 3}}));             // z bound by no operand
  EXPECT_FALSE(evaluate_einsum("i.j->ij", Shapes{{2, 3}}));            // a lone '.'
  EXPECT_FALSE(evaluate_einsum("i1->i", Shapes{{2, 3}}));              // not a letter
}

}  // namespace
}  // namespace infercast::ir
