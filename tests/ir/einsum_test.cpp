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

// Attention's two products read as a batched MatMul: MaxViT's Q K^T and A V (PyTorch
// writes them with spaces), any batch rank; anything else is no product.
TEST(Einsum, BatchedMatmulReadsAttentionsTwoForms) {
  auto r = einsum_batched_matmul("B G H I D, B G H J D -> B G H I J", Shapes{{1, 64, 2, 49, 32}, {1, 64, 2, 49, 32}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->batch, 128);
  EXPECT_EQ(r->m, 49);
  EXPECT_EQ(r->k, 32);
  EXPECT_EQ(r->n, 49);
  EXPECT_TRUE(r->transposed_b);
  r = einsum_batched_matmul("BGHIJ,BGHJD->BGHID", Shapes{{1, 16, 4, 49, 49}, {1, 16, 4, 49, 32}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->batch, 64);
  EXPECT_EQ(r->m, 49);
  EXPECT_EQ(r->k, 49);
  EXPECT_EQ(r->n, 32);
  EXPECT_FALSE(r->transposed_b);
  r = einsum_batched_matmul("bij,bjk->bik", Shapes{{12, 197, 64}, {12, 64, 197}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->batch, 12);
  EXPECT_EQ(r->n, 197);

  EXPECT_FALSE(einsum_batched_matmul("ij,jk->ik", Shapes{{2, 3}, {3, 5}}));                 // no batch axis
  EXPECT_FALSE(einsum_batched_matmul("...ij,...jk->...ik", Shapes{{4, 2, 3}, {4, 3, 5}}));  // an ellipsis
  EXPECT_FALSE(einsum_batched_matmul("bij,bjk", Shapes{{4, 2, 3}, {4, 3, 5}}));             // implicit output
  EXPECT_FALSE(einsum_batched_matmul("bij,bjk->bik", Shapes{{4, 2, 3}, {1, 3, 5}}));        // a broadcast batch
  EXPECT_FALSE(einsum_batched_matmul("bij,bjk->bik", Shapes{{4, 2, 3}, {4, 7, 5}}));        // k bound twice
  EXPECT_FALSE(einsum_batched_matmul("bij,bjk->bki", Shapes{{4, 2, 3}, {4, 3, 5}}));        // output transposed
  EXPECT_FALSE(einsum_batched_matmul("bii,bik->bik", Shapes{{4, 3, 3}, {4, 3, 5}}));        // a diagonal
  EXPECT_FALSE(einsum_batched_matmul("bij,bjk,bkl->bil", Shapes{{4, 2, 3}, {4, 3, 5}, {4, 5, 6}}));
}

}  // namespace
}  // namespace infercast::ir
