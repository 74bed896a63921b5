// The bench loop: sample kernels, materialize each for a runtime, time it under the
// measurement protocol and commit it to the store before the next one starts.
//
// - Resumable: a (profile, kernel) pair already in the database, failed or not, is
//   skipped (failed ones are retried with retry_failed), so a rerun with the same
//   options continues where the last one stopped.
// - A kernel that fails (cannot be built, refused, runner crash or timeout) becomes a
//   failed measurement with its error and the run goes on.
// - request_stop() (the CLI calls it on SIGINT) ends the run after the measurement in
//   flight has been committed.
// - Timing: bench::time_kernel (timing.hpp): end-to-end statistics and the runtime's
//   per-layer view (the kernel's own time without boundary layers, the cold pass).
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include "infercast/bench/sampler.hpp"
#include "infercast/bench/timing.hpp"
#include "infercast/measure/measure.hpp"
#include "infercast/store/store.hpp"

namespace infercast::bench {

struct BenchOptions {
  std::string runtime = "xnnpack";
  std::string profile;  // empty: "<runtime>-<threads>t", "<runtime>-<threads>t-int8" for int8
  // fp32, or int8: the sampler's int8 kernel types, each timed in its int8 form
  // (timing.hpp). The profile records it; a profile of the other precision is refused.
  std::string precision = "fp32";
  SamplerOptions sampler;
  // The plan: the first `count` kernels of the sampler's seeded sequence (0 = all of it).
  // Kernels of the plan already measured are skipped, so a rerun completes the plan and a
  // rerun of a finished plan measures nothing.
  std::size_t count = 0;
  // Instead of a plan: measure the next `more` kernels of the whole sequence that the
  // database lacks (0 = unused; takes precedence over count).
  std::size_t more = 0;
  double budget_s = 0;  // stop starting new kernels after this many seconds; 0 = no limit
  int threads = 1;      // 0 = all available cores (resolved)
  measure::Protocol protocol = default_protocol();
  double timeout_s = 120;                   // external runners: seconds one request may take
  std::vector<std::string> runner_command;  // external runners: the command; empty = the runtime's default
  // benchmark_model (docs/devices.md): the device command, the push command, the device folder.
  std::string device_command;
  std::string push_command;
  std::string device_dir = "/data/local/tmp/";
  // The farm (docs/farm.md): the plan (`count` kernels) is written once per profile and any
  // number of bench processes claim its kernels one at a time, each claim leased for
  // `lease_s` seconds (longer than the slowest kernel takes: an expired lease lets another
  // worker take the kernel over). `infercast bench` sets it for every PostgreSQL database
  // (and for SQLite with --farm); `more` never uses it.
  bool farm = false;
  double lease_s = 600;
  std::uint64_t input_seed = 42;
  // Also time every kernel with flushed caches (bench::KernelTiming::cold_ms): about
  // 1.8x the run time on XNNPACK; predictors use it for models larger than the caches.
  bool cold_pass = true;
  // Progress: a bar with rate and ETA redrawn in place when `tty`, else one line per kernel.
  bool tty = false;
  bool quiet = false;         // no per-kernel progress at all (the summary is still returned)
  bool retry_failed = false;  // measure again the kernels whose stored measurement failed
  // The host's speed while the kernels are timed: every this many seconds (and before the
  // first kernel) the loop times host_reference_spec() and stores it as a model
  // measurement of the profile (host_reference_reading); training divides each kernel's
  // times by the host's speed around it (predict::HostSpeed). A shared host's speed moves
  // by several percent within a minute and here ran 45% slow for minutes at a time, and
  // every kernel measured in a slow minute would carry that minute into its label. 0 = off
  // (the farm path never takes readings: its workers are many hosts).
  double reference_every_s = 0;

  // Shorter than `infercast run`'s protocol: kernels are many and small.
  static measure::Protocol default_protocol() {
    measure::Protocol p;
    p.warmup = 1;  // weights are packed at prepare; one run touches the arena and caches
    p.min_repeats = 10;
    p.min_time_s = 0.2;
    p.max_repeats = 10000;
    p.cv_target = 0.05;
    p.max_remeasure = 2;
    return p;
  }
};

struct BenchSummary {
  std::string profile;
  std::int64_t profile_id = 0;
  std::size_t planned = 0;        // specs the sampler gave
  std::size_t skipped = 0;        // already in the database
  std::size_t measured = 0;       // committed successful measurements
  std::size_t failed = 0;         // committed failed measurements
  std::size_t remeasured = 0;     // measurements that needed at least one extra attempt
  double wall_s = 0;              // the loop's wall time (sampling excluded)
  std::size_t host_readings = 0;  // host reference readings stored (reference_every_s)
  double timed_s = 0;             // sum of the kernels' own timed runs (every attempt's samples)
  // Where the wall time went: building graphs and features, exporting + preparing,
  // running (warm-up, timed runs, runner round trips), committing to the database.
  double build_s = 0, prepare_s = 0, run_s = 0, store_s = 0;
  bool interrupted = false;  // request_stop() ended the run
  bool budget_exhausted = false;
  // The farm path: this worker's id, the plan's size, kernels whose lease another worker
  // took over before this one finished (their measurement was dropped, not written).
  bool farm = false;
  std::int64_t worker_id = 0;
  std::int64_t plan_size = 0;
  std::size_t lost_leases = 0;

  // (wall - timed) / wall: the harness's overhead (building, preparing, warm-up, storing).
  double overhead() const { return wall_s > 0 ? (wall_s - timed_s) / wall_s : 0.0; }
  double kernels_per_minute() const { return wall_s > 0 ? (measured + failed) * 60.0 / wall_s : 0.0; }
};

// Runs the loop against `db`. Throws Error for bad options (unknown runtime, sampler,
// type, invalid protocol) and store errors; kernel failures are rows, not exceptions.
// Progress goes to `progress`.
BenchSummary run_bench(const BenchOptions& options, store::Database& db, std::ostream& progress);

// The one-line summary the CLI prints at the end.
std::string summary_line(const BenchSummary& s);

// Asks a running run_bench to stop after the measurement in flight (async-signal-safe).
void request_stop() noexcept;
// Clears a previous request (for callers that run the loop more than once).
void clear_stop() noexcept;
// Whether a stop was requested.
bool stop_requested() noexcept;

// The kernel that stands for the host's speed: a 3x3 convolution 64 -> 64 over 28x28
// (29 MMAC, a fraction of a millisecond), compute-bound like the kernels that hold most of
// a model's time, whatever the profile's precision.
KernelSpec host_reference_spec();
// One host reference reading on `engine` with `timing` (its flushed pass off): profile's bench
// loop and validate's rounds time the reference the same way, so their readings compare.
KernelTiming time_host_reference(runtime::Runtime& engine, TimingOptions timing);
// A reading's time: the reference's own time as its median run sees it (the label's
// statistic), else the end-to-end median.
double host_reference_ms(const KernelTiming& t);
// The model name and hash under which a host reference reading is stored
// (store::ModelMeasurement): the name says what it is, the hash is the spec's key.
inline constexpr const char* kHostReferenceName = "host reference";
// Whether a stored model measurement is a host reference reading.
bool host_reference_reading(const store::ModelMeasurement& m);
// A stored reading's time, as host_reference_ms(KernelTiming) took it.
double host_reference_ms(const store::ModelMeasurement& m);
// Times the host reference on `engine` and commits it to `db` as a reading of profile
// `profile_id`: the bench loop's readings and those profile takes between its synthetic
// networks. False when the reading failed; nothing is stored then, and training uses the
// readings around it.
bool store_host_reading(store::Database& db, std::int64_t profile_id, runtime::Runtime& engine,
                        const TimingOptions& timing);

// Feature values of a kernel for the store and the predictors: MACs, FLOPs, params,
// bytes read/written and arithmetic intensity of its graph (an int8 kernel's int8 graph).
nlohmann::json kernel_features(const KernelSpec& spec);

}  // namespace infercast::bench
