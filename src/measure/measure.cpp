#include "infercast/measure/measure.hpp"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <fstream>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "infercast/base/error.hpp"
#include "infercast/measure/stats.hpp"

namespace infercast::measure {
namespace {

void check(bool ok, const char* field, const std::string& reason) {
  if (!ok) throw Error(ErrorKind::kInvalidArgument, "", std::string("timing protocol ") + field, reason);
}

void check_samples(const std::vector<double>& samples) {
  for (double s : samples) {
    if (!std::isfinite(s) || s < 0) {
      throw Error(ErrorKind::kInvalidArgument, "", "timing sample",
                  "not a finite non-negative time: " + std::to_string(s));
    }
  }
}

std::string trim(std::string s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  std::string hardware;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = trim(line.substr(0, colon));
    if (key == "model name") return trim(line.substr(colon + 1));
    if (key == "Hardware" && hardware.empty()) hardware = trim(line.substr(colon + 1));  // some ARM kernels
  }
  return hardware;
}

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
  return static_cast<int>(std::thread::hardware_concurrency());
}

}  // namespace

void validate(const Protocol& p) {
  check(p.warmup >= 0, "warmup", "must be >= 0");
  check(p.min_repeats >= 1, "min_repeats", "must be >= 1");
  check(std::isfinite(p.min_time_s) && p.min_time_s >= 0, "min_time_s", "must be a finite time >= 0");
  check(p.max_repeats >= p.min_repeats, "max_repeats", "must be >= min_repeats");
  check(std::isfinite(p.cv_target) && p.cv_target >= 0, "cv_target", "must be >= 0");
  check(p.max_remeasure >= 0, "max_remeasure", "must be >= 0");
}

namespace {
std::function<void()>& interrupt_check() {
  static std::function<void()> check;
  return check;
}
void check_interrupt() {
  if (interrupt_check()) interrupt_check()();
}
}  // namespace

void set_interrupt_check(std::function<void()> check) {
  interrupt_check() = std::move(check);
}

Stats measure_attempts(const Protocol& protocol, const AttemptFn& attempt) {
  validate(protocol);
  Stats best;
  bool have_best = false;
  for (int i = 0; i <= protocol.max_remeasure; ++i) {
    check_interrupt();
    const std::vector<double> samples = attempt(protocol, i == 0);
    check_samples(samples);
    if (samples.empty()) throw Error(ErrorKind::kInvalidArgument, "", "timing attempt", "returned no samples");
    const Stats s = summarize(samples);
    if (!have_best || s.cv < best.cv) best = s;
    have_best = true;
    if (best.cv <= protocol.cv_target) break;
  }
  return best;
}

Stats measure(const Protocol& protocol, const std::function<double()>& run_once_ms) {
  using Clock = std::chrono::steady_clock;
  return measure_attempts(protocol, [&](const Protocol& p, bool with_warmup) {
    if (with_warmup) {
      for (int i = 0; i < p.warmup; ++i) {
        check_interrupt();
        run_once_ms();
      }
    }
    std::vector<double> samples;
    const auto start = Clock::now();
    const auto min_time = std::chrono::duration<double>(p.min_time_s);
    while (static_cast<int>(samples.size()) < p.max_repeats &&
           (static_cast<int>(samples.size()) < p.min_repeats || Clock::now() - start < min_time)) {
      check_interrupt();
      samples.push_back(run_once_ms());
    }
    return samples;
  });
}

namespace {

// "512K", "32768K", "1M" as sysfs writes cache sizes; 0 when unreadable.
std::size_t cache_size(const std::string& dir) {
  std::ifstream in(dir + "/size");
  std::string text;
  if (!(in >> text) || text.empty()) return 0;
  std::size_t scale = 1;
  const char unit = text.back();
  if (unit == 'K') scale = 1024;
  if (unit == 'M') scale = 1024 * 1024;
  if (scale != 1) text.pop_back();
  try {
    return static_cast<std::size_t>(std::stoull(text)) * scale;
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

CacheSizes cache_sizes(const std::string& sysfs_cache_dir) {
  CacheSizes c;
  // Data and unified caches: the L2 and the highest level.
  int top = 0;
  for (int i = 0; i < 8; ++i) {
    const std::string dir = sysfs_cache_dir + "/index" + std::to_string(i);
    std::ifstream level_file(dir + "/level"), type_file(dir + "/type");
    int level = 0;
    std::string type;
    if (!(level_file >> level) || !(type_file >> type) || type == "Instruction") continue;
    const std::size_t size = cache_size(dir);
    if (level == 2) c.l2_bytes = size;
    if (level >= top && size > 0) top = level, c.llc_bytes = size;
  }
  // Some VMs have no cache directory in sysfs; glibc reads the sizes from CPUID. Without
  // them every cache rule of the predictor is off and a flushed run flushes 16 MiB (seen
  // on a 2-vCPU EPYC VM: CPUID reports a 1 MiB L2 and the host's 508 MiB L3, of which
  // effective_cache_bytes finds what the VM keeps).
  const auto sysconf_bytes = [](int name) {
    const long v = sysconf(name);
    return v > 0 ? static_cast<std::size_t>(v) : std::size_t{0};
  };
  if (c.l2_bytes == 0) c.l2_bytes = sysconf_bytes(_SC_LEVEL2_CACHE_SIZE);
  if (c.llc_bytes == 0) {
    for (const int name : {_SC_LEVEL4_CACHE_SIZE, _SC_LEVEL3_CACHE_SIZE, _SC_LEVEL2_CACHE_SIZE}) {
      c.llc_bytes = sysconf_bytes(name);
      if (c.llc_bytes > 0) break;
    }
  }
  return c;
}

MachineContext machine_context() {
  MachineContext c;
  const CacheSizes caches = cache_sizes("/sys/devices/system/cpu/cpu0/cache");
  c.l2_bytes = caches.l2_bytes;
  c.llc_bytes = caches.llc_bytes;
  c.cpu_model = cpu_model();
  c.cores = available_cores();
  {
    std::ifstream in("/etc/machine-id");
    std::string id;
    if (std::getline(in, id)) c.machine_id = trim(id);
  }
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) == 0) c.hostname = host;
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &utc);
  c.timestamp_utc = stamp;
  return c;
}

namespace {

// The probe's loop is bound by the core's vector throughput where the CPU has AVX2 and
// FMA: ten independent chains of 8-wide fused multiply-adds, enough to keep both FMA
// pipes of a core busy through their latency. So it slows down both when another thread
// takes the core in time slices and when something runs on the core's other hardware
// thread (SMT) and shares its vector units, as a parallel operator's SIMD kernels do.
// Measured on a 2-vCPU VM (EPYC host, sysfs: 1 thread per core; bench/smt_pair.sh): in 10
// pairs of runs two threads spinning a dependent chain of scalar multiply-adds got
// 0.99-1.00 of a core each, and two spinning this loop 0.49-0.50 in 6 of the same pairs:
// the vCPUs are hardware threads, at times siblings of one core, their FMA units shared
// while the dependent chain, one operation at a time, leaves them idle. Without AVX2 and
// FMA the loop is that dependent chain (blind to SMT).
// The compiler can neither drop the loops (their results are returned and stored) nor
// fold them (their inputs are read through volatiles).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define INFERCAST_SPIN_FMA 1
__attribute__((target("avx2,fma"))) double spin_fma(std::uint64_t iterations) {
  static volatile float a = 0.9999999f, b = 1e-7f;
  volatile std::uint64_t n = iterations;
  const __m256 m = _mm256_set1_ps(a), c = _mm256_set1_ps(b);
  __m256 x0 = m, x1 = m, x2 = m, x3 = m, x4 = m, x5 = m, x6 = m, x7 = m, x8 = m, x9 = m;
  const std::uint64_t count = n;
  for (std::uint64_t i = 0; i < count; ++i) {
    x0 = _mm256_fmadd_ps(x0, m, c);
    x1 = _mm256_fmadd_ps(x1, m, c);
    x2 = _mm256_fmadd_ps(x2, m, c);
    x3 = _mm256_fmadd_ps(x3, m, c);
    x4 = _mm256_fmadd_ps(x4, m, c);
    x5 = _mm256_fmadd_ps(x5, m, c);
    x6 = _mm256_fmadd_ps(x6, m, c);
    x7 = _mm256_fmadd_ps(x7, m, c);
    x8 = _mm256_fmadd_ps(x8, m, c);
    x9 = _mm256_fmadd_ps(x9, m, c);
  }
  const __m256 sum =
      _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3)),
                    _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(x4, x5), _mm256_add_ps(x6, x7)), _mm256_add_ps(x8, x9)));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, sum);
  return static_cast<double>(lanes[0] + lanes[7]);
}
#endif

double spin_chain(std::uint64_t iterations) {
  static volatile double start = 1.0, a = 0.9999999, b = 1e-7;
  volatile std::uint64_t n = iterations;
  double x = start;
  const double ma = a, mb = b;
  const std::uint64_t count = n;
  for (std::uint64_t i = 0; i < count; ++i) x = x * ma + mb;
  return x;
}

double spin(std::uint64_t iterations) {
#ifdef INFERCAST_SPIN_FMA
  static const bool fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (fma) return spin_fma(iterations);
#endif
  return spin_chain(iterations);
}

struct SpinLoop {
  std::uint64_t iterations = 0;
  double seconds = 0;  // what the loop takes on a free core
};

// Calibrated once: the iterations one free core runs in about 3 ms, from the fastest of 5
// timings of a short loop (0.2-0.3 ms: shorter than a scheduler's time slice, so one of
// them runs undisturbed even on a busy machine).
const SpinLoop& spin_loop() {
  static const SpinLoop loop = [] {
    constexpr std::uint64_t kShort = 200000;
    double best = std::numeric_limits<double>::infinity();
    volatile double sink = 0;
    for (int i = 0; i < 5; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      sink = sink + spin(kShort);
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    best = std::max(best, 1e-6);
    SpinLoop l;
    l.iterations = static_cast<std::uint64_t>(static_cast<double>(kShort) * 3e-3 / best);
    l.seconds = static_cast<double>(l.iterations) * best / static_cast<double>(kShort);
    return l;
  }();
  return loop;
}

}  // namespace

double core_share(int threads) {
  if (threads <= 1) return 1.0;
  const SpinLoop& loop = spin_loop();
  const std::uint64_t iterations = loop.iterations;
  std::vector<double> seconds(static_cast<std::size_t>(threads), 0.0);
  std::vector<double> results(static_cast<std::size_t>(threads), 0.0);
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  // Every thread's time counts from the common start: a thread that waits for a core
  // before its loop begins is as late as one preempted inside it.
  std::chrono::steady_clock::time_point start;
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      results[static_cast<std::size_t>(t)] = spin(iterations);
      seconds[static_cast<std::size_t>(t)] =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    });
  }
  while (ready.load() < threads) std::this_thread::yield();
  start = std::chrono::steady_clock::now();
  go.store(true, std::memory_order_release);
  for (std::thread& t : pool) t.join();
  // The reference is the fastest loop this process has seen, the calibration's included:
  // one probe's threads may all be slowed alike (two threads sharing one core in time
  // slices both finish late).
  static std::mutex mutex;
  static double fastest = loop.seconds;
  const auto [lo, hi] = std::minmax_element(seconds.begin(), seconds.end());
  double reference = 0;
  {
    std::lock_guard<std::mutex> lock(mutex);
    fastest = std::min(fastest, *lo);
    reference = fastest;
  }
  volatile double sink = results.front();
  (void)sink;
  return *hi > 0 ? std::min(1.0, reference / *hi) : 1.0;
}

namespace {

// The sum of `words` words, read as fast as the core can load them: a runtime's kernels
// read with vector loads, and a loop that adds one word a cycle reads at the rate of its
// adds, not of the cache. Measured on a 2-vCPU EPYC VM: one scalar sum re-read a 4 MiB
// block at 27 GB/s from L3 and at 20-24 from memory (no cache to see), four AVX2 sums at
// 86 and 20.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx2"))) std::uint64_t sum_words_avx2(const std::uint64_t* p, std::size_t words) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  std::size_t i = 0;
  for (; i + 16 <= words; i += 16) {
    a0 = _mm256_add_epi64(a0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)));
    a1 = _mm256_add_epi64(a1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 4)));
    a2 = _mm256_add_epi64(a2, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 8)));
    a3 = _mm256_add_epi64(a3, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 12)));
  }
  alignas(32) std::uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes),
                     _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3)));
  std::uint64_t s = lanes[0] + lanes[1] + lanes[2] + lanes[3];
  for (; i < words; ++i) s += p[i];
  return s;
}
#endif

std::uint64_t sum_words(const std::uint64_t* p, std::size_t words) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2) return sum_words_avx2(p, words);
#endif
  // Eight independent sums: loads, not one chain of adds, bound the loop.
  std::uint64_t s[8] = {};
  std::size_t i = 0;
  for (; i + 8 <= words; i += 8)
    for (int j = 0; j < 8; ++j) s[j] += p[i + static_cast<std::size_t>(j)];
  for (; i < words; ++i) s[0] += p[i];
  return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

}  // namespace

std::size_t effective_cache_bytes(std::size_t llc_bytes) {
  constexpr std::size_t kMiB = std::size_t{1} << 20;
  constexpr std::size_t kBlock = 4 * kMiB;
  constexpr int kRounds = 5;
  const std::size_t top = std::min<std::size_t>(2 * llc_bytes, std::size_t{2048} * kMiB);
  if (top < 8 * kMiB) return llc_bytes;
  std::vector<std::uint64_t> block(kBlock / 8, 1);
  std::vector<std::uint64_t> other(top / 8, 2);
  volatile std::uint64_t sink = 0;
  auto read = [&](const std::uint64_t* p, std::size_t words) { sink = sink + sum_words(p, words); };
  std::vector<std::size_t> distances = {0};
  for (std::size_t x = 4 * kMiB; x <= top; x *= 2) distances.push_back(x);
  std::vector<double> rate;  // block bytes per second on re-reading it after each distance
  for (const std::size_t x : distances) {
    std::vector<double> seconds;
    for (int r = 0; r < kRounds; ++r) {
      read(block.data(), block.size());
      read(other.data(), x / 8);
      const auto t0 = std::chrono::steady_clock::now();
      read(block.data(), block.size());
      seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    rate.push_back(static_cast<double>(kBlock) / std::max(median(seconds), 1e-9));
  }
  const double warm = rate.front();
  const double cold = rate.back();
  if (!(warm > 1.3 * cold)) return llc_bytes;
  const double half = cold + 0.5 * (warm - cold);
  for (std::size_t i = 1; i < distances.size(); ++i) {
    if (rate[i] > half) continue;
    if (i == 1) return kBlock + distances[1];
    // Between distances[i-1] (above half) and distances[i] (at or below), in log2.
    const double t = (rate[i - 1] - half) / std::max(rate[i - 1] - rate[i], 1e-9);
    const double lx =
        std::log2(static_cast<double>(distances[i - 1])) +
        t * (std::log2(static_cast<double>(distances[i])) - std::log2(static_cast<double>(distances[i - 1])));
    return kBlock + static_cast<std::size_t>(std::exp2(lx));
  }
  return llc_bytes;
}

}  // namespace infercast::measure
