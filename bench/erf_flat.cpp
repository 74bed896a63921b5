// Whether the XNNPACK runtime's erf (kernels::erf_flat4, behind Erf and GELU) costs the same
// per element whatever its input, side by side with glibc's erff, which branches by range.
// A latency profile labels its GELU kernels with one input distribution; a model feeds
// another (ConvNeXt's GELU inputs widen from stage to stage), so a data-dependent cost
// is a prediction error no regressor can remove.
//
// Usage: erf_flat [ELEMENTS=1048576] [ROUNDS=9]
// Prints, per input distribution, the median and the fastest ns per element of each.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "runtime/xnnpack/kernels.hpp"

namespace {

// One thread, as kernels::unary runs the runtime's Erf (no pool).
template <class F>
std::pair<double, double> ns_per_element(F f, const std::vector<float>& in, int rounds) {
  std::vector<float> out(in.size());
  std::vector<double> ns;
  for (int r = 0; r < rounds; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    infercast::runtime::xnnpack::kernels::unary(in.data(), out.data(), in.size(), f, nullptr);
    const auto t1 = std::chrono::steady_clock::now();
    ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(in.size()));
  }
  volatile float sink = out[in.size() / 2];
  (void)sink;
  std::sort(ns.begin(), ns.end());
  return {ns[ns.size() / 2], ns.front()};
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : (1u << 20);
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 9;
  std::mt19937 rng(7);
  struct Case {
    std::string name;
    std::vector<float> values;
  };
  std::vector<Case> cases;
  for (double sigma : {0.1, 0.4, 1.0, 3.0, 8.0}) {
    std::normal_distribution<float> d(0.0f, static_cast<float>(sigma));
    Case c{"N(0, " + std::to_string(sigma).substr(0, 3) + ")", std::vector<float>(n)};
    for (float& x : c.values) x = d(rng);
    cases.push_back(std::move(c));
  }
  {
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    Case c{"U(-1, 1)", std::vector<float>(n)};
    for (float& x : c.values) x = d(rng);
    cases.push_back(std::move(c));
  }
  std::printf("| input | erf_flat4 ns/element (median, fastest) | glibc erff ns/element (median, fastest) |\n");
  std::printf("|---|---|---|\n");
  for (const Case& c : cases) {
    const auto flat = ns_per_element(
        [](infercast::runtime::xnnpack::kernels::Float4 x) {
          return infercast::runtime::xnnpack::kernels::erf_flat4(x);
        },
        c.values, rounds);
    const auto libm = ns_per_element([](float x) { return std::erf(x); }, c.values, rounds);
    std::printf("| %s | %.2f, %.2f | %.2f, %.2f |\n", c.name.c_str(), flat.first, flat.second, libm.first, libm.second);
  }
  return 0;
}
