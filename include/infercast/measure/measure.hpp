// The timing protocol (../shared/docs/measuring.md): warm-up runs, then repeats until
// both a minimum count and a minimum time are reached, then re-measurement while the
// coefficient of variation is above a target. And the machine context every
// measurement carries.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "infercast/measure/stats.hpp"

namespace infercast::measure {

struct Protocol {
  int warmup = 3;           // untimed runs before the first attempt
  int min_repeats = 10;     // an attempt has at least this many samples...
  double min_time_s = 1.0;  // ...and lasts at least this long (wall clock)...
  int max_repeats = 1000;   // ...but never more samples than this
  double cv_target = 0.05;  // re-measure while an attempt's CV is above this
  int max_remeasure = 2;    // at most this many extra attempts
};

// Throws Error(kInvalidArgument) naming the field when a value is out of range
// (negative counts or times, min_repeats < 1, max_repeats < min_repeats).
void validate(const Protocol& protocol);

// Times `run_once_ms` (which runs the workload once and returns its duration in
// milliseconds) under `protocol`: protocol.warmup untimed calls, then attempts of
// protocol.min_repeats..max_repeats calls until min_time_s has passed; while an
// attempt's CV exceeds cv_target, up to max_remeasure further attempts. Returns the
// statistics of the attempt with the lowest CV. Exceptions from `run_once_ms`
// propagate; a negative or non-finite sample throws Error(kInvalidArgument).
Stats measure(const Protocol& protocol, const std::function<double()>& run_once_ms);

// For workloads that time a whole attempt themselves (an external runner): `attempt`
// gets the protocol to follow and whether warm-up runs are due (true for the first
// attempt only) and returns that attempt's samples in milliseconds. The re-measure
// rule and the result are those of measure().
using AttemptFn = std::function<std::vector<double>(const Protocol& protocol, bool with_warmup)>;
Stats measure_attempts(const Protocol& protocol, const AttemptFn& attempt);

// A process-wide hook that measure() calls before every run and measure_attempts()
// before every attempt: it may throw to abandon the measurement (the Python module
// raises KeyboardInterrupt through it on Ctrl-C). Empty (the default) = never called.
// Set it only while no measurement is in flight.
void set_interrupt_check(std::function<void()> check);

// Where a measurement was taken, read from the running machine.
struct MachineContext {
  std::string cpu_model;   // /proc/cpuinfo "model name" (or "Hardware"); empty if unknown
  int cores = 0;           // logical CPUs available to this process
  std::string machine_id;  // /etc/machine-id; empty if absent
  std::string hostname;
  std::string timestamp_utc;  // ISO 8601, "2025-01-31T12:00:00Z"
  // Data cache sizes of CPU 0 (cache_sizes): the per-core L2 and the last level; 0 if unknown.
  std::size_t l2_bytes = 0;
  std::size_t llc_bytes = 0;
};

MachineContext machine_context();

struct CacheSizes {
  std::size_t l2_bytes = 0;
  std::size_t llc_bytes = 0;  // the highest level's
};

// The data (or unified) cache sizes sysfs gives under `sysfs_cache_dir` (a CPU's
// ".../cache" directory: index<i>/level, type, size); a size sysfs does not give is the C
// library's (sysconf's _SC_LEVEL*_CACHE_SIZE, read from CPUID on x86), the last level then
// being the highest it reports; 0 where neither knows.
CacheSizes cache_sizes(const std::string& sysfs_cache_dir);

// How much data stays cached between two uses of it on this machine, measured: a
// 4 MiB block is read, then X MiB of other memory (X = 4, 8, ... up to 2 x `llc_bytes`),
// then the block again (vector loads, as a runtime reads); the returned size is the block plus the X at which the
// re-read rate falls half way from its warm rate (X = 0) to its rate after the largest X (log2 interpolation; the
// median of 5 rounds per X). A model's weights are re-read once per run after the rest of the model, so this, not
// the reported size, decides whether they come from memory: a 2-vCPU VM reporting the host's 504 MiB L3 kept 32 MiB
// (re-read at 28 GB/s) and lost 128 MiB (11.7 GB/s, as from DRAM). Returns `llc_bytes` when the warm rate is not 1.3x
// the cold one (no cache effect to see) or `llc_bytes` is 0. Takes about a second; allocates 2 x `llc_bytes` (at most 2
// GiB) while it runs.
std::size_t effective_cache_bytes(std::size_t llc_bytes);

// The share of a core that each of `threads` threads gets right now, as the slowest of them
// saw it: every thread spins the same fixed loop of vector multiply-adds, bound by the
// core's floating-point throughput (AVX2 and FMA; a dependent scalar chain on a CPU without
// them; about 3 ms on a free core), at the same moment, and the
// result is the fastest loop this process has timed divided by the slowest thread's. About
// 1 when every thread has a core to itself; about 0.5 when two threads share one, in time
// slices (another tenant of a 2-vCPU VM holds the other core, which a parallel operator,
// waiting for its slowest thread, pays in full) or as the two hardware threads of one SMT
// core (sharing its vector units, as SIMD kernels do). 1 for threads <= 1. Costs one loop's
// time; thread-safe.
double core_share(int threads);

// Below this core_share a measurement at several threads ran without the cores it asked
// for (measured here: a 2-thread efficientnet_b1 took 20.4 ms in such a spell, 11.3 ms
// outside it, and 17.7 ms at 1 thread).
inline constexpr double kQuietCoreShare = 0.8;

}  // namespace infercast::measure
