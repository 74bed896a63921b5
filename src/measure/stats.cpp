#include "infercast/measure/stats.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

namespace infercast::measure {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

double median(std::span<const double> samples) {
  if (samples.empty()) return kNaN;
  std::vector<double> sorted(samples.begin(), samples.end());
  const std::size_t mid = sorted.size() / 2;
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(mid), sorted.end());
  const double upper = sorted[mid];
  if (sorted.size() % 2 == 1) return upper;
  // The lower middle is the largest value left of `mid` after nth_element.
  const double lower = *std::max_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(mid));
  return lower + (upper - lower) / 2;
}

double mean(std::span<const double> samples) {
  if (samples.empty()) return kNaN;
  return std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(samples.size());
}

double min(std::span<const double> samples) {
  if (samples.empty()) return kNaN;
  return *std::min_element(samples.begin(), samples.end());
}

double max(std::span<const double> samples) {
  if (samples.empty()) return kNaN;
  return *std::max_element(samples.begin(), samples.end());
}

double stddev(std::span<const double> samples) {
  if (samples.size() < 2) return 0.0;
  const double m = mean(samples);
  double sum_sq = 0.0;
  for (double x : samples) sum_sq += (x - m) * (x - m);
  return std::sqrt(sum_sq / static_cast<double>(samples.size() - 1));
}

double cv(std::span<const double> samples) {
  if (samples.size() < 2) return 0.0;
  const double m = mean(samples);
  return m == 0.0 ? 0.0 : stddev(samples) / m;
}

Stats summarize(std::span<const double> samples) {
  Stats s;
  s.n = samples.size();
  s.median = median(samples);
  s.mean = mean(samples);
  s.min = min(samples);
  s.max = max(samples);
  s.std = stddev(samples);
  s.cv = cv(samples);
  return s;
}

}  // namespace infercast::measure
