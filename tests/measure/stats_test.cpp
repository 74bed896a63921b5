// Statistics over hand-made sample sets; every expected value is worked out by hand
// in the comment beside it.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "infercast/measure/stats.hpp"

namespace infercast::measure {
namespace {

TEST(Stats, EvenCountByHand) {
  // {2,4,4,4,5,5,7,9}: sum 40, mean 5; sorted middle pair (4,5) → median 4.5;
  // squared deviations 9+1+1+1+0+0+4+16 = 32; sample variance 32/7; std sqrt(32/7).
  const std::vector<double> s = {9, 4, 2, 5, 4, 7, 4, 5};
  EXPECT_DOUBLE_EQ(median(s), 4.5);
  EXPECT_DOUBLE_EQ(mean(s), 5.0);
  EXPECT_DOUBLE_EQ(min(s), 2.0);
  EXPECT_DOUBLE_EQ(max(s), 9.0);
  EXPECT_DOUBLE_EQ(stddev(s), std::sqrt(32.0 / 7.0));
  EXPECT_NEAR(stddev(s), 2.1380899353, 1e-9);
  EXPECT_NEAR(cv(s), 2.1380899353 / 5.0, 1e-9);
  // The samples are left as they were.
  EXPECT_EQ(s, (std::vector<double>{9, 4, 2, 5, 4, 7, 4, 5}));
}

TEST(Stats, OddCountByHand) {
  // {3,1,2}: median 2, mean 2, deviations 1,1,0 → variance 2/2 = 1, std 1, cv 0.5.
  const std::vector<double> s = {3, 1, 2};
  EXPECT_DOUBLE_EQ(median(s), 2.0);
  EXPECT_DOUBLE_EQ(mean(s), 2.0);
  EXPECT_DOUBLE_EQ(stddev(s), 1.0);
  EXPECT_DOUBLE_EQ(cv(s), 0.5);
}

TEST(Stats, MedianOfTwoAndOfTies) {
  EXPECT_DOUBLE_EQ(median(std::vector<double>{10, 20}), 15.0);
  EXPECT_DOUBLE_EQ(median(std::vector<double>{1, 1, 1, 100}), 1.0);  // middle pair (1,1)
  EXPECT_DOUBLE_EQ(median(std::vector<double>{0.25, 0.75, 0.5, 1.0}), 0.625);
}

TEST(Stats, SingleSampleHasNoSpread) {
  const std::vector<double> s = {7.5};
  const Stats st = summarize(s);
  EXPECT_EQ(st.n, 1u);
  EXPECT_DOUBLE_EQ(st.median, 7.5);
  EXPECT_DOUBLE_EQ(st.mean, 7.5);
  EXPECT_DOUBLE_EQ(st.min, 7.5);
  EXPECT_DOUBLE_EQ(st.max, 7.5);
  EXPECT_DOUBLE_EQ(st.std, 0.0);
  EXPECT_DOUBLE_EQ(st.cv, 0.0);
}

TEST(Stats, EmptyHasNoStatistics) {
  const std::vector<double> s;
  const Stats st = summarize(s);
  EXPECT_EQ(st.n, 0u);
  EXPECT_TRUE(std::isnan(st.median));
  EXPECT_TRUE(std::isnan(st.mean));
  EXPECT_TRUE(std::isnan(st.min));
  EXPECT_TRUE(std::isnan(st.max));
  EXPECT_DOUBLE_EQ(st.std, 0.0);
  EXPECT_DOUBLE_EQ(st.cv, 0.0);
}

TEST(Stats, ZeroMeanGivesZeroCv) {
  // {-1, 1}: mean 0, std sqrt(2); CV is undefined, reported as 0.
  const std::vector<double> s = {-1, 1};
  EXPECT_DOUBLE_EQ(stddev(s), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(cv(s), 0.0);
}

TEST(Stats, SummarizeMatchesTheFreeFunctions) {
  // {10, 12, 11, 13, 14}: median 12, mean 12, deviations 4,0,1,1,4 → var 10/4, std 1.5811388301.
  const std::vector<double> s = {10, 12, 11, 13, 14};
  const Stats st = summarize(s);
  EXPECT_EQ(st.n, 5u);
  EXPECT_DOUBLE_EQ(st.median, 12.0);
  EXPECT_DOUBLE_EQ(st.mean, 12.0);
  EXPECT_DOUBLE_EQ(st.min, 10.0);
  EXPECT_DOUBLE_EQ(st.max, 14.0);
  EXPECT_NEAR(st.std, 1.5811388301, 1e-9);
  EXPECT_NEAR(st.cv, 1.5811388301 / 12.0, 1e-9);
}

}  // namespace
}  // namespace infercast::measure
