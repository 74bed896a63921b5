// Statistics over timing samples, as free functions. Every function takes the
// samples in any order and leaves them unchanged. An empty sample set has no
// statistics: the functions return NaN (stddev and cv: 0 for fewer than two samples).
#pragma once

#include <cstddef>
#include <span>

namespace infercast::measure {

// Middle value; the mean of the two middle values for an even count.
double median(std::span<const double> samples);
double mean(std::span<const double> samples);
double min(std::span<const double> samples);
double max(std::span<const double> samples);
// Sample standard deviation (n - 1 in the denominator); 0 when n < 2.
double stddev(std::span<const double> samples);
// Coefficient of variation: stddev / mean; 0 when n < 2 or the mean is 0.
double cv(std::span<const double> samples);

// The summary every timing row carries.
struct Stats {
  std::size_t n = 0;
  double median = 0;
  double mean = 0;
  double min = 0;
  double max = 0;
  double std = 0;
  double cv = 0;
};

Stats summarize(std::span<const double> samples);

}  // namespace infercast::measure
