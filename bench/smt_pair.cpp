// Two threads against one on three loops, pair by pair: a dependent chain of scalar
// multiply-adds, measure::core_share(2) itself (ten chains of 8-wide FMAs held in
// registers, bound by the FMA units), and the same ten chains kept in an array in memory
// (bound by loads and stores through the L1 cache). Each line is one pair of runs: the
// share of a core each of two threads got on each loop (one thread's fastest time over
// the slower thread's) and the one-thread times of the two loops timed here.
// Usage: smt_pair [PAIRS=10]
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "infercast/measure/measure.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double dependent(long n) {
  static volatile double a = 0.9999999, b = 1e-9;
  const double ma = a, mb = b;
  double x = 1.0;
  for (long i = 0; i < n; ++i) x = x * ma + mb;
  return x;
}

// The same FMAs with the chains in an array the compiler keeps in memory.
__attribute__((target("avx2,fma"))) double memory_fma(long n) {
  static volatile float a = 0.9999999f, b = 1e-7f;
  const __m256 m = _mm256_set1_ps(a), c = _mm256_set1_ps(b);
  volatile __m256 x[10];
  for (int j = 0; j < 10; ++j) x[j] = m;
  for (long i = 0; i < n; ++i)
    for (int j = 0; j < 10; ++j) x[j] = _mm256_fmadd_ps(x[j], m, c);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, x[0]);
  return lanes[0];
}

template <class F>
double seconds(F f) {
  const auto t0 = Clock::now();
  volatile double sink = f();
  (void)sink;
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The slower of two threads started together.
template <class F>
double pair(F f) {
  std::atomic<bool> go{false};
  double t[2] = {0, 0};
  auto body = [&](int k) {
    while (!go.load()) {
    }
    t[k] = seconds(f);
  };
  std::thread a(body, 0), b(body, 1);
  go = true;
  a.join();
  b.join();
  return std::max(t[0], t[1]);
}

}  // namespace

int main(int argc, char** argv) {
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    std::fprintf(stderr, "smt_pair: needs AVX2 and FMA\n");
    return 2;
  }
  const int pairs = argc > 1 ? std::atoi(argv[1]) : 10;
  const long nd = 3000000, nm = 1000000;
  auto dep = [&] { return dependent(nd); };
  auto mem = [&] { return memory_fma(nm); };
  for (int p = 0; p < pairs; ++p) {
    double d1 = 1e9, m1 = 1e9;
    for (int i = 0; i < 3; ++i) d1 = std::min(d1, seconds(dep)), m1 = std::min(m1, seconds(mem));
    const double d2 = pair(dep), v = infercast::measure::core_share(2), m2 = pair(mem);
    std::printf(
        "dependent chain %.2f   FMAs in registers (core_share) %.2f   FMAs through memory %.2f   (one thread: %.2f, "
        "%.2f ms)\n",
        d1 / d2, v, m1 / m2, d1 * 1e3, m1 * 1e3);
  }
}
