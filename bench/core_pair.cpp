// How much of a second core a 2-thread run gets, second by second.
//
// A thread pool at 2 threads splits each operator in two and waits for both halves, so
// its speed-up over 1 thread is bounded by how often the second vCPU actually runs at
// the same time as the first. On a shared VM that changes by the second, and
// `validate`'s rounds at 2 threads see it as a spread no predictor can follow. This probe
// measures it directly, with no model and no runtime: fixed chunks of arithmetic (about
// 5 us each on this VM, no memory traffic) done in rounds, alternately by one thread and by two
// threads that meet at a spin barrier after every chunk, as a thread pool's workers do.
// Each window prints the 2-thread chunk rate over the 1-thread rate of the window
// before it: 2.0 when both cores run together, 1.0 when the pair gets one core's worth.
//
// Usage: core_pair [SECONDS=30]     (built and run by bench/core_pair.sh)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

std::atomic<float> sink{0};

// About 5 us of dependent multiply-adds on registers: no memory traffic, so the rate
// depends on the core's availability only.
void chunk() {
  float a[16];
  for (int i = 0; i < 16; ++i) a[i] = static_cast<float>(i);
  for (int k = 0; k < 1200; ++k)
    for (float& v : a) v = v * 0.9999f + 0.5f;
  sink.store(a[3], std::memory_order_relaxed);
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Chunks per second done by one thread alone for `window` seconds.
double one_thread_rate(double window) {
  long chunks = 0;
  const auto start = Clock::now();
  while (seconds_since(start) < window) {
    chunk();
    ++chunks;
  }
  return static_cast<double>(chunks) / seconds_since(start);
}

// Chunks per second done by two threads meeting at a spin barrier after every chunk.
double two_thread_rate(double window) {
  std::atomic<long> round{0}, finished{0};
  std::atomic<bool> stop{false};
  std::thread worker([&] {
    long seen = 0;
    while (true) {
      long r;
      while ((r = round.load(std::memory_order_acquire)) == seen && !stop.load(std::memory_order_relaxed)) {
      }
      if (stop.load(std::memory_order_relaxed)) return;
      seen = r;
      chunk();
      finished.fetch_add(1, std::memory_order_release);
    }
  });
  long rounds = 0;
  const auto start = Clock::now();
  while (seconds_since(start) < window) {
    finished.store(0, std::memory_order_relaxed);
    round.fetch_add(1, std::memory_order_release);
    chunk();
    while (finished.load(std::memory_order_acquire) == 0) {
    }
    ++rounds;
  }
  const double elapsed = seconds_since(start);
  stop.store(true);
  worker.join();
  return 2.0 * static_cast<double>(rounds) / elapsed;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 30.0;
  if (!(seconds > 0)) {
    std::fprintf(stderr, "core_pair: SECONDS must be a positive number\n");
    return 2;
  }
  std::vector<double> speedups;
  const auto start = Clock::now();
  std::printf("second  1-thread chunks/s  2-thread chunks/s  speed-up\n");
  while (seconds_since(start) < seconds) {
    const double one = one_thread_rate(0.25);
    const double two = two_thread_rate(0.75);
    speedups.push_back(two / one);
    std::printf("%6.1f  %17.0f  %17.0f  %8.2f\n", seconds_since(start), one, two, two / one);
    std::fflush(stdout);
  }
  std::sort(speedups.begin(), speedups.end());
  const auto at = [&](double q) { return speedups[static_cast<std::size_t>(q * (speedups.size() - 1))]; };
  const long below = std::count_if(speedups.begin(), speedups.end(), [](double s) { return s < 1.5; });
  std::printf("speed-up over %zu windows: min %.2f, median %.2f, max %.2f; below 1.5 in %ld (%.0f%%)\n",
              speedups.size(), at(0), at(0.5), at(1), below, 100.0 * below / speedups.size());
  return 0;
}
