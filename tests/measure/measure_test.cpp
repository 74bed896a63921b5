// The timing protocol's rules with synthetic workloads: counts, caps, the re-measure
// rule and validation. No test here depends on how fast anything runs.
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "infercast/base/error.hpp"
#include "infercast/measure/measure.hpp"

namespace infercast::measure {
namespace {

TEST(Measure, WarmupThenMinRepeatsWhenMinTimeIsZero) {
  Protocol p;
  p.warmup = 3;
  p.min_repeats = 10;
  p.min_time_s = 0;
  p.max_remeasure = 0;
  int calls = 0;
  const Stats s = measure(p, [&] { return static_cast<double>(++calls); });
  EXPECT_EQ(calls, 13);
  EXPECT_EQ(s.n, 10u);
  // Samples 4..13 (the three warm-up values are dropped): median 8.5, min 4, max 13.
  EXPECT_DOUBLE_EQ(s.median, 8.5);
  EXPECT_DOUBLE_EQ(s.min, 4.0);
  EXPECT_DOUBLE_EQ(s.max, 13.0);
}

TEST(Measure, MaxRepeatsCapsALongMinTime) {
  Protocol p;
  p.warmup = 0;
  p.min_repeats = 5;
  p.min_time_s = 3600;
  p.max_repeats = 20;
  p.max_remeasure = 0;
  int calls = 0;
  const Stats s = measure(p, [&] {
    ++calls;
    return 1.0;
  });
  EXPECT_EQ(s.n, 20u);
  EXPECT_EQ(calls, 20);
}

TEST(Measure, KeepsRepeatingUntilMinTimeHasPassed) {
  Protocol p;
  p.warmup = 0;
  p.min_repeats = 1;
  p.min_time_s = 0.05;
  p.max_remeasure = 0;
  const auto start = std::chrono::steady_clock::now();
  const Stats s = measure(p, [] {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return 2.0;
  });
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(elapsed, 0.05);  // the protocol's own floor, not a speed claim
  EXPECT_GE(s.n, 2u);
}

TEST(Measure, RemeasuresWhileCvIsHighAndKeepsTheLowestCvAttempt) {
  Protocol p;
  p.cv_target = 0.05;
  p.max_remeasure = 2;
  // Attempt CVs: {1,3} → 0.707; {2,2.2} → 0.067; {1,2} → 0.471. All above target: three
  // attempts, and the second is kept.
  const std::vector<std::vector<double>> attempts = {{1, 3}, {2, 2.2}, {1, 2}};
  std::vector<bool> warmups;
  const Stats s = measure_attempts(p, [&](const Protocol&, bool with_warmup) {
    warmups.push_back(with_warmup);
    return attempts[warmups.size() - 1];
  });
  EXPECT_EQ(warmups, (std::vector<bool>{true, false, false}));
  EXPECT_DOUBLE_EQ(s.mean, 2.1);
  EXPECT_DOUBLE_EQ(s.min, 2.0);
}

TEST(Measure, StopsAtTheFirstAttemptBelowTarget) {
  Protocol p;
  p.cv_target = 0.05;
  p.max_remeasure = 5;
  int attempts = 0;
  // {10, 10.1}: CV = 0.0707/10.05 = 0.007 → below target, no re-measure.
  const Stats s = measure_attempts(p, [&](const Protocol&, bool) {
    ++attempts;
    return std::vector<double>{10, 10.1};
  });
  EXPECT_EQ(attempts, 1);
  EXPECT_EQ(s.n, 2u);
}

TEST(Measure, RemeasureCountIsBounded) {
  Protocol p;
  p.warmup = 1;
  p.min_repeats = 2;
  p.min_time_s = 0;
  p.cv_target = 0.0;
  p.max_remeasure = 3;
  int calls = 0;
  // Alternating 1, 2, 1, 2... never reaches CV 0: 1 warm-up + 4 attempts of 2 samples.
  measure(p, [&] { return 1.0 + (calls++ % 2); });
  EXPECT_EQ(calls, 1 + 4 * 2);
}

TEST(Measure, RejectsBadProtocolsAndSamples) {
  auto rejects = [](Protocol p) {
    try {
      validate(p);
      return false;
    } catch (const Error& e) {
      return e.kind() == ErrorKind::kInvalidArgument;
    }
  };
  Protocol p;
  EXPECT_FALSE(rejects(p));
  p.min_repeats = 0;
  EXPECT_TRUE(rejects(p));
  p = {};
  p.max_repeats = 5;  // below min_repeats = 10
  EXPECT_TRUE(rejects(p));
  p = {};
  p.warmup = -1;
  EXPECT_TRUE(rejects(p));
  p = {};
  p.min_time_s = -1;
  EXPECT_TRUE(rejects(p));
  p = {};
  p.max_remeasure = -1;
  EXPECT_TRUE(rejects(p));

  Protocol quick;
  quick.min_time_s = 0;
  EXPECT_THROW(measure(quick, [] { return -1.0; }), Error);
  EXPECT_THROW(measure(quick, [] { return std::nan(""); }), Error);
  EXPECT_THROW(measure_attempts(quick, [](const Protocol&, bool) { return std::vector<double>{}; }), Error);
}

TEST(Measure, WorkloadErrorsPropagate) {
  Protocol p;
  EXPECT_THROW(measure(p, []() -> double { throw Error(ErrorKind::kIo, "m", "", "runner died"); }), Error);
}

TEST(MachineContext, ReadsTheRunningMachine) {
  const MachineContext c = machine_context();
  EXPECT_GT(c.cores, 0);
  EXPECT_FALSE(c.hostname.empty());
  EXPECT_TRUE(std::regex_match(c.timestamp_utc, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"))) << c.timestamp_utc;
  std::ifstream id("/etc/machine-id");
  std::string expected;
  if (std::getline(id, expected)) EXPECT_EQ(c.machine_id, expected);
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  bool has_model_name = false;
  while (std::getline(cpuinfo, line)) has_model_name |= line.rfind("model name", 0) == 0;
  if (has_model_name) EXPECT_FALSE(c.cpu_model.empty());
}

// sysfs' sizes where it gives them (a cache directory written here, in its format), the C
// library's where it has none (a directory that does not exist), as on VMs without one.
TEST(MachineContext, CacheSizesFromSysfsElseFromTheCLibrary) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "infercast_cache_sizes_test";
  std::filesystem::remove_all(dir);
  const auto index = [&](int i, const char* level, const char* type, const char* size) {
    std::filesystem::create_directories(dir / ("index" + std::to_string(i)));
    std::ofstream(dir / ("index" + std::to_string(i)) / "level") << level << "\n";
    std::ofstream(dir / ("index" + std::to_string(i)) / "type") << type << "\n";
    std::ofstream(dir / ("index" + std::to_string(i)) / "size") << size << "\n";
  };
  index(0, "1", "Data", "48K");
  index(1, "1", "Instruction", "32K");
  index(2, "2", "Unified", "1024K");
  index(3, "3", "Unified", "32768K");
  const CacheSizes sysfs = cache_sizes(dir.string());
  EXPECT_EQ(sysfs.l2_bytes, std::size_t{1} << 20);
  EXPECT_EQ(sysfs.llc_bytes, std::size_t{32} << 20);
  std::filesystem::remove_all(dir);

  const auto libc = [](int name) { return std::max(sysconf(name), 0L); };
  const CacheSizes none = cache_sizes(dir.string());
  EXPECT_EQ(static_cast<long>(none.l2_bytes), libc(_SC_LEVEL2_CACHE_SIZE));
  const long top = libc(_SC_LEVEL4_CACHE_SIZE) > 0   ? libc(_SC_LEVEL4_CACHE_SIZE)
                   : libc(_SC_LEVEL3_CACHE_SIZE) > 0 ? libc(_SC_LEVEL3_CACHE_SIZE)
                                                     : libc(_SC_LEVEL2_CACHE_SIZE);
  EXPECT_EQ(static_cast<long>(none.llc_bytes), top);
}

// The measured cache is the 4 MiB block plus a re-read distance the probe swept (4 MiB up
// to twice the reported LLC), or the reported size itself when no cache effect shows; a
// machine that reports nothing, or too little to sweep, gets its report back.
TEST(MachineContext, EffectiveCacheIsWithinTheSweptDistances) {
  EXPECT_EQ(effective_cache_bytes(0), 0u);
  EXPECT_EQ(effective_cache_bytes(std::size_t{2} << 20), std::size_t{2} << 20);
  const std::size_t llc = machine_context().llc_bytes;
  if (llc < (std::size_t{4} << 20)) GTEST_SKIP() << "the machine reports no last-level cache of 4 MiB or more";
  const std::size_t cache = effective_cache_bytes(llc);
  if (cache == llc) return;
  EXPECT_GE(cache, std::size_t{8} << 20);
  EXPECT_LE(cache, (std::size_t{4} << 20) + std::min<std::size_t>(2 * llc, std::size_t{2048} << 20));
}

// Two threads confined to one CPU share it, which is what another tenant holding the
// second core does: the probe must see about half a core per thread. Pinned, the result
// does not depend on the machine's load (a busy machine can only lower it further).
TEST(CoreShare, TwoThreadsOnOneCpuGetHalfACoreEach) {
  EXPECT_EQ(core_share(1), 1.0);
  EXPECT_EQ(core_share(0), 1.0);
  cpu_set_t saved;
  CPU_ZERO(&saved);
  ASSERT_EQ(sched_getaffinity(0, sizeof(saved), &saved), 0);
  int cpu = 0;
  while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &saved)) ++cpu;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);  // this thread; the probe's threads inherit it
  const double share = core_share(2);
  ASSERT_EQ(sched_setaffinity(0, sizeof(saved), &saved), 0);
  EXPECT_GT(share, 0.0);
  EXPECT_LT(share, kQuietCoreShare);
}

}  // namespace
}  // namespace infercast::measure
