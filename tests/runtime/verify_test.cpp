// runtime::compare_outputs: the default rule judges each output against its own scale
// (max |got - want| <= tolerance x max |want|); Tolerance(rtol, atol) is numpy.allclose
// per element. Cosine similarity and SQNR are reported beside the errors.
#include "infercast/runtime/verify.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace infercast::runtime {
namespace {

HostTensor floats(const std::vector<float>& v, const std::string& name = "y") {
  HostTensor t;
  t.name = name;
  t.dtype = ir::DType::kFloat32;
  t.dims = {static_cast<std::int64_t>(v.size())};
  t.data.resize(v.size() * 4);
  std::memcpy(t.data.data(), v.data(), t.data.size());
  return t;
}

OutputComparison compare(const std::vector<float>& got, const std::vector<float>& want,
                         const Tolerance& tolerance = {}) {
  const auto result = compare_outputs({floats(got)}, {floats(want)}, tolerance);
  EXPECT_EQ(result.size(), 1u);
  return result.at(0);
}

// Logits of magnitude up to ~300 with a few near zero, and the same values summed in
// another order: float32 round-off a small fraction of the scale, relatively large at
// the near-zero elements.
struct Logits {
  std::vector<float> want, got;
};
Logits logits() {
  std::mt19937 rng(7);
  std::normal_distribution<float> value(0.f, 100.f);
  Logits l;
  for (int i = 0; i < 1000; ++i) l.want.push_back(std::clamp(value(rng), -299.f, 299.f));
  l.want[3] = 300.f;  // the scale
  l.want[97] = 1e-3f;
  l.got = l.want;
  for (std::size_t i = 0; i < l.got.size(); i += 97) l.got[i] += 5e-4f;
  return l;
}

TEST(Verify, SummationOrderRoundOffPassesByDefault) {
  const Logits l = logits();
  const OutputComparison c = compare(l.got, l.want);
  EXPECT_TRUE(c.pass);
  EXPECT_EQ(c.mismatches, 0u);
  EXPECT_NEAR(c.max_abs_error, 5e-4, 5e-5);
  EXPECT_NEAR(c.max_rel_error, c.max_abs_error / 300, 1e-12);
  EXPECT_GT(c.cosine, 0.999999);
  EXPECT_GT(c.sqnr_db, 100);
  EXPECT_FALSE(c.identical);
  // numpy.allclose(rtol 1e-4, atol 1e-5) calls the near-zero elements wrong.
  const OutputComparison strict = compare(l.got, l.want, Tolerance(1e-4, 1e-5));
  EXPECT_FALSE(strict.pass);
  EXPECT_GT(strict.mismatches, 0u);
  EXPECT_EQ(strict.max_rel_error, c.max_rel_error);
}

TEST(Verify, ErrorsAtTheOutputsScaleFail) {
  Logits l = logits();
  // One region off by 1% of the scale: a wrong padding's border, a missing bias.
  for (std::size_t i = 100; i < 140; ++i) l.got[i] += 3.f;
  const OutputComparison c = compare(l.got, l.want);
  EXPECT_FALSE(c.pass);
  EXPECT_EQ(c.mismatches, 40u);
  EXPECT_NEAR(c.max_rel_error, 0.01, 1e-4);
  // A tolerance of 2% lets it through; the tolerance is the caller's to choose.
  EXPECT_TRUE(compare(l.got, l.want, Tolerance::scaled_by(0.02)).pass);
}

TEST(Verify, CosineAndSqnr) {
  const std::vector<float> want{1, -2, 3, 4};
  const OutputComparison same = compare(want, want);
  EXPECT_TRUE(same.identical);
  EXPECT_EQ(same.cosine, 1);
  EXPECT_TRUE(std::isinf(same.sqnr_db) && same.sqnr_db > 0);
  std::vector<float> scaled;
  for (float v : want) scaled.push_back(v * 1.0005f);
  const OutputComparison close = compare(scaled, want);
  EXPECT_NEAR(close.sqnr_db, -20 * std::log10(5e-4), 0.01);  // noise amplitude 5e-4 of the signal's
  EXPECT_NEAR(close.cosine, 1, 1e-12);
  EXPECT_TRUE(close.pass);  // within 1e-3 x max |want|, the default bound
  std::vector<float> negated;
  for (float v : want) negated.push_back(-v);
  const OutputComparison opposite = compare(negated, want);
  EXPECT_NEAR(opposite.cosine, -1, 1e-12);
  EXPECT_FALSE(opposite.pass);
}

TEST(Verify, ZeroReference) {
  EXPECT_TRUE(compare({0, 0}, {0, 0}).pass);
  const OutputComparison c = compare({0, 1e-9f}, {0, 0});
  EXPECT_FALSE(c.pass);
  EXPECT_TRUE(std::isinf(c.max_rel_error));
  EXPECT_EQ(c.cosine, 0);
  EXPECT_TRUE(std::isinf(c.sqnr_db) && c.sqnr_db < 0);
}

TEST(Verify, NanAndShape) {
  EXPECT_TRUE(compare({NAN, 1}, {NAN, 1}).pass);
  EXPECT_FALSE(compare({NAN, 1}, {0, 1}).pass);
  HostTensor two = floats({1, 2});
  two.dims = {2, 1};
  const auto result = compare_outputs({two}, {floats({1, 2})}, {});
  EXPECT_FALSE(result[0].pass);
  EXPECT_EQ(result[0].note, "shape differs");
}

TEST(Verify, IntegersCompareExactly) {
  HostTensor a;
  a.dtype = ir::DType::kInt32;
  a.dims = {2};
  a.data.resize(8);
  const std::int32_t values[2] = {1000000, 5};
  std::memcpy(a.data.data(), values, 8);
  HostTensor b = a;
  const std::int32_t off[2] = {1000000, 6};
  std::memcpy(b.data.data(), off, 8);
  EXPECT_TRUE(compare_outputs({a}, {a}, {})[0].pass);
  EXPECT_FALSE(compare_outputs({b}, {a}, {})[0].pass);
}

}  // namespace
}  // namespace infercast::runtime
