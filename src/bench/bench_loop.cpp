// The resumable bench loop (see bench.hpp for the contract).
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>
#include <set>
#include <thread>

#include "infercast/base/error.hpp"
#include "infercast/bench/bench.hpp"
#include "infercast/bench/timing.hpp"
#include "infercast/cost/cost.hpp"
#include "infercast/export/export.hpp"
#include "infercast/import/import.hpp"
#include "infercast/runtime/runtime.hpp"

namespace infercast::bench {

namespace {

// A kernel's timing into its measurement row (both bench paths store the same fields).
void take_timing(store::Measurement& m, const KernelTiming& t) {
  m.stats = t.stats;
  m.remeasured = t.remeasured;
  m.own_ms = t.own_ms;
  m.own_median_ms = t.own_median_ms;
  m.layers_ms = t.layers_ms;
  m.layer_count = t.layer_count;
  m.cold_ms = t.cold_ms;
}

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Lock-free, so setting it from a signal handler is safe.
std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string duration_text(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%.0fs", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s) / 3600, static_cast<int>(s) % 3600 / 60);
  }
  return buf;
}

// A temporary folder for one-kernel model files, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() / ("infercast-bench-" + std::to_string(::getpid()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

class Progress {
 public:
  Progress(std::ostream& out, bool tty, bool quiet, std::size_t total, double budget_s)
      : out_(out), tty_(tty), quiet_(quiet), total_(total), budget_s_(budget_s), t0_(Clock::now()) {}

  void update(std::size_t done, const KernelSpec& spec, const store::Measurement& m) {
    if (quiet_) return;
    const double elapsed = seconds_since(t0_);
    const double rate = elapsed > 0 ? static_cast<double>(done) * 60.0 / elapsed : 0.0;
    double eta = rate > 0 ? static_cast<double>(total_ - std::min(done, total_)) * 60.0 / rate : NAN;
    if (budget_s_ > 0) eta = std::isfinite(eta) ? std::min(eta, budget_s_ - elapsed) : budget_s_ - elapsed;
    char head[96];
    std::snprintf(head, sizeof head, "%zu/%zu", done, total_);
    if (tty_) {
      constexpr int kWidth = 24;
      const int filled = total_ > 0 ? static_cast<int>(kWidth * std::min(done, total_) / total_) : 0;
      char line[256];
      std::snprintf(line, sizeof line, "\r\033[K[%s%s] %s  %.1f kernels/min  ETA %s  %s",
                    std::string(filled, '#').c_str(), std::string(kWidth - filled, '.').c_str(), head, rate,
                    duration_text(eta).c_str(), spec.type.c_str());
      out_ << line << std::flush;
      return;
    }
    char tail[160];
    if (m.failed()) {
      std::snprintf(tail, sizeof tail, "FAILED: %s", m.error.c_str());
    } else {
      std::snprintf(tail, sizeof tail, "%.4f ms (own %.4f)  cv %.1f%%%s", m.stats.median, m.own_ms, m.stats.cv * 100,
                    m.remeasured > 0 ? ("  re-measured " + std::to_string(m.remeasured)).c_str() : "");
    }
    out_ << "bench [" << head << "] " << spec.key() << "  " << tail << "\n" << std::flush;
  }
  void finish() {
    if (tty_ && !quiet_) out_ << "\n" << std::flush;
  }

 private:
  std::ostream& out_;
  bool tty_, quiet_;
  std::size_t total_;
  double budget_s_;
  Clock::time_point t0_;
};

nlohmann::json features_of(const ir::Graph& g) {
  const cost::ModelCost c = cost::analyze(g);
  const double moved = static_cast<double>(c.read_bytes + c.write_bytes);
  return {{"macs", c.macs},
          {"flops", c.flops},
          {"params", c.params},
          {"weight_bytes", c.weight_bytes},
          {"read_bytes", c.read_bytes},
          {"write_bytes", c.write_bytes},
          {"arithmetic_intensity", moved > 0 ? static_cast<double>(c.flops) / moved : 0.0},
          {"peak_activation_bytes", c.memory.arena_bytes},
          {"nodes", g.nodes.size()}};
}

// The farm path (bench.hpp, docs/farm.md): write the plan once, then claim, measure,
// finish until the plan has nothing claimable left. Kernels other workers hold are
// waited for: a worker that died leaves its kernel leased until the lease expires, and
// then this loop takes it.
BenchSummary run_farm(const BenchOptions& o, store::Database& db, runtime::Runtime& rt, int threads,
                      std::ostream& progress, BenchSummary& summary) {
  if (!(o.lease_s > 0) || !std::isfinite(o.lease_s)) {
    throw Error(ErrorKind::kInvalidArgument, "bench", "--lease", "must be a positive number of seconds");
  }
  const auto t_plan = Clock::now();
  const std::vector<KernelSpec> specs = sample_kernels(o.sampler, o.count);
  summary.planned = specs.size();
  if (db.plan_state(summary.profile_id).size < static_cast<std::int64_t>(specs.size())) {
    db.write_plan(summary.profile_id, specs.size(), [&specs](std::size_t i) {
      store::Kernel k;
      k.type = specs[i].type;
      k.key = specs[i].key();
      k.params = to_json(specs[i]);
      k.features = kernel_features(specs[i]);
      return k;
    });
  }
  if (o.retry_failed) db.reopen_failed(summary.profile_id);
  const store::PlanState start = db.plan_state(summary.profile_id);
  summary.plan_size = start.size;
  summary.skipped = static_cast<std::size_t>(start.done);
  summary.build_s += seconds_since(t_plan);

  const bool external = o.runtime != "xnnpack";
  std::optional<TempDir> temp;
  if (external) temp.emplace();
  TimingOptions timing;
  timing.threads = threads;
  timing.protocol = o.protocol;
  timing.cold_pass = o.cold_pass;
  timing.input_seed = o.input_seed;
  if (temp) timing.scratch_dir = temp->path();
  Progress bar(progress, o.tty, o.quiet, static_cast<std::size_t>(start.size - start.done), o.budget_s);
  const auto t0 = Clock::now();
  std::size_t done = 0;
  for (;;) {
    if (g_stop.load()) {
      summary.interrupted = true;
      break;
    }
    if (o.budget_s > 0 && seconds_since(t0) >= o.budget_s) {
      summary.budget_exhausted = true;
      break;
    }
    auto phase = Clock::now();
    auto lap = [&phase](double& into) {
      const auto now = Clock::now();
      into += std::chrono::duration<double>(now - phase).count();
      phase = now;
    };
    const std::optional<store::Kernel> kernel = db.claim_kernel(summary.profile_id, summary.worker_id, o.lease_s);
    lap(summary.store_s);
    if (!kernel) {
      const store::PlanState st = db.plan_state(summary.profile_id);
      if (st.open == 0 && st.claimed == 0) break;  // drained
      // Others hold the rest (or a lock was skipped): wait a little, then try again; an
      // expired lease becomes claimable.
      std::this_thread::sleep_for(std::chrono::milliseconds(st.open > 0 ? 20 : 200));
      continue;
    }
    store::Measurement m;
    m.profile_id = summary.profile_id;
    m.kernel_id = kernel->id;
    KernelSpec spec;
    try {
      spec = kernel_spec_from_json(kernel->params);
      const KernelTiming t = time_kernel(rt, spec, timing);
      summary.prepare_s += t.prepare_s;
      phase += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(t.prepare_s));
      take_timing(m, t);
      summary.timed_s += t.timed_s;
    } catch (const std::exception& e) {
      m.error = e.what();
      if (m.error.empty()) m.error = "unknown error";
      if (spec.type.empty()) spec.type = kernel->type;
    }
    lap(summary.run_s);
    const bool written = db.finish_claim(summary.worker_id, m);  // measurement + release: one transaction
    lap(summary.store_s);
    if (!written) {
      ++summary.lost_leases;
      continue;
    }
    ++done;
    if (m.failed()) {
      ++summary.failed;
    } else {
      ++summary.measured;
      if (m.remeasured > 0) ++summary.remeasured;
    }
    bar.update(done, spec, m);
  }
  summary.wall_s = seconds_since(t0);
  bar.finish();
  return summary;
}

}  // namespace

void request_stop() noexcept {
  g_stop.store(true);
}
void clear_stop() noexcept {
  g_stop.store(false);
}
bool stop_requested() noexcept {
  return g_stop.load();
}

KernelSpec host_reference_spec() {
  KernelSpec s;
  s.type = "conv";
  s.params = {{"n", 1}, {"cin", 64},   {"cout", 64}, {"h", 28},       {"w", 28},
              {"k", 3}, {"stride", 1}, {"pad", 1},   {"dilation", 1}, {"groups", 1}};
  return s;
}

KernelTiming time_host_reference(runtime::Runtime& engine, TimingOptions timing) {
  timing.cold_pass = false;
  return time_kernel(engine, host_reference_spec(), timing);
}

double host_reference_ms(const KernelTiming& t) {
  return t.own_median_ms > 0 ? t.own_median_ms : t.stats.median;
}

bool host_reference_reading(const store::ModelMeasurement& m) {
  return m.model_name.rfind(kHostReferenceName, 0) == 0;
}

double host_reference_ms(const store::ModelMeasurement& m) {
  if (m.layers.is_array() && !m.layers.empty() && m.layers[0].is_object()) {
    const double own = m.layers[0].value("median_ms", 0.0);
    if (own > 0) return own;
  }
  return m.stats.median;
}

bool store_host_reading(store::Database& db, std::int64_t profile_id, runtime::Runtime& engine,
                        const TimingOptions& timing) {
  try {
    const KernelTiming t = time_host_reference(engine, timing);
    const std::string key = host_reference_spec().key();
    store::ModelMeasurement m;
    m.profile_id = profile_id;
    m.model_name = std::string(kHostReferenceName) + " " + key;
    m.model_hash = key;
    m.stats = t.stats;
    m.layers = nlohmann::json::array({{{"name", "own"}, {"median_ms", host_reference_ms(t)}, {"min_ms", t.own_ms}}});
    db.add_model_measurement(m);
    return true;
  } catch (const std::exception&) {  // NOLINT(bugprone-empty-catch): a missing reading leaves a wider gap
    return false;
  }
}

nlohmann::json kernel_features(const KernelSpec& spec) {
  // An int8 kernel is described by its int8 TFLite graph (int8 activations and weights,
  // int32 biases), interface QUANTIZE / DEQUANTIZE included.
  if (spec.dtype == ir::DType::kInt8) return features_of(int8_kernel_form("xnnpack", spec).graph);
  return features_of(build_kernel_graph(spec));
}

BenchSummary run_bench(const BenchOptions& o, store::Database& db, std::ostream& progress) {
  measure::validate(o.protocol);
  if (o.budget_s < 0 || !std::isfinite(o.budget_s)) {
    throw Error(ErrorKind::kInvalidArgument, "bench", "--budget", "must be a non-negative duration");
  }
  const bool external = o.runtime != "xnnpack";
  runtime::RuntimeOptions runtime_options;
  runtime_options.request_timeout_s = o.timeout_s;
  runtime_options.runner_command = o.runner_command;
  runtime_options.device_command = o.device_command;
  runtime_options.push_command = o.push_command;
  runtime_options.device_dir = o.device_dir;
  const auto rt = runtime::make_runtime(o.runtime, runtime_options);
  const int threads = runtime::resolve_threads(o.threads);

  if (o.precision != "fp32" && o.precision != "int8")
    throw Error(ErrorKind::kInvalidArgument, "bench", "--precision", "'" + o.precision + "' is neither fp32 nor int8");
  const bool int8 = o.precision == "int8";
  if (int8 != (o.sampler.dtype == ir::DType::kInt8)) {
    BenchOptions with_dtype = o;
    with_dtype.sampler.dtype = int8 ? ir::DType::kInt8 : ir::DType::kFloat32;
    return run_bench(with_dtype, db, progress);
  }

  BenchSummary summary;
  const measure::MachineContext machine = measure::machine_context();
  store::Profile profile;
  profile.name =
      o.profile.empty() ? o.runtime + "-" + std::to_string(threads) + "t" + (int8 ? "-int8" : "") : o.profile;
  profile.precision = o.precision;
  profile.runtime = o.runtime;
  profile.runtime_version = rt->version();
  profile.threads = threads;
  profile.device = machine.cpu_model;
  profile.machine_id = machine.machine_id;
  profile.hostname = machine.hostname;
  const bool farm = o.farm && o.more == 0;
  const auto existing = db.find_profile(profile.name);
  if (existing) {
    // A profile is one runtime configuration: never mix measurements of two. In a farm
    // the workers are many machines of one device model.
    const bool same_place = farm ? existing->device == profile.device : existing->machine_id == profile.machine_id;
    if (existing->precision != profile.precision) {
      throw Error(ErrorKind::kInvalidArgument, "bench", "--profile " + profile.name,
                  "the profile holds " + existing->precision + " kernels and this run measures " + profile.precision +
                      " ones; name another profile");
    }
    if (existing->runtime != profile.runtime || existing->threads != profile.threads || !same_place) {
      throw Error(ErrorKind::kInvalidArgument, "bench", "--profile " + profile.name,
                  "the profile exists for runtime " + existing->runtime + " with " + std::to_string(existing->threads) +
                      " threads on " + (farm ? "device '" + existing->device : "machine '" + existing->machine_id) +
                      "'; name another profile");
    }
    profile.extra = existing->extra;
  }
  summary.profile = profile.name;
  // A farm's profile row is its first worker's; every worker's own context is its workers row.
  summary.profile_id = farm && existing ? existing->id : db.upsert_profile(profile);
  if (farm) {
    store::Worker worker;
    worker.profile_id = summary.profile_id;
    worker.hostname = machine.hostname;
    worker.machine_id = machine.machine_id;
    worker.device = machine.cpu_model;
    worker.runtime_version = profile.runtime_version;
    worker.pid = ::getpid();
    summary.farm = true;
    summary.worker_id = db.add_worker(worker);
    return run_farm(o, db, *rt, threads, progress, summary);
  }

  // The plan: with `count`, the first `count` kernels of the seeded sequence, a definite set
  // that a rerun completes (and a rerun of a finished run leaves alone); otherwise the
  // sampler's whole sequence, of which `more` takes the next missing kernels.
  const std::vector<KernelSpec> specs = sample_kernels(o.sampler, o.more > 0 ? 0 : o.count);
  summary.planned = specs.size();
  std::set<std::int64_t> failed_ids;
  if (o.retry_failed) {
    for (const auto& m : db.measurements(summary.profile_id)) {
      if (m.failed()) failed_ids.insert(m.kernel_id);
    }
  }
  std::vector<const KernelSpec*> pending;
  for (const auto& spec : specs) {
    const auto id = db.find_kernel(spec.key());
    if (id && db.has_measurement(summary.profile_id, *id) && failed_ids.count(*id) == 0) {
      ++summary.skipped;
    } else {
      pending.push_back(&spec);
    }
  }
  const std::size_t total = o.more == 0 ? pending.size() : std::min(o.more, pending.size());

  std::optional<TempDir> temp;
  if (external) temp.emplace();
  TimingOptions timing;
  timing.threads = threads;
  timing.protocol = o.protocol;
  timing.cold_pass = o.cold_pass;
  timing.input_seed = o.input_seed;
  if (temp) timing.scratch_dir = temp->path();
  Progress bar(progress, o.tty, o.quiet, total, o.budget_s);
  const auto t0 = Clock::now();
  std::optional<Clock::time_point> last_reading;
  // A host reference reading (BenchOptions::reference_every_s), committed like a kernel's
  // measurement. A failed reading is not stored: training then uses the readings around it.
  auto read_host = [&] {
    last_reading = Clock::now();
    if (store_host_reading(db, summary.profile_id, *rt, timing)) ++summary.host_readings;
  };
  std::size_t done = 0;
  for (const KernelSpec* spec : pending) {
    if (done >= total) break;
    if (g_stop.load()) {
      summary.interrupted = true;
      break;
    }
    if (o.budget_s > 0 && seconds_since(t0) >= o.budget_s) {
      summary.budget_exhausted = true;
      break;
    }
    if (o.reference_every_s > 0 && (!last_reading || seconds_since(*last_reading) >= o.reference_every_s)) read_host();
    store::Kernel kernel;
    kernel.type = spec->type;
    kernel.key = spec->key();
    kernel.params = to_json(*spec);
    store::Measurement m;
    auto phase = Clock::now();
    auto lap = [&phase](double& into) {
      const auto now = Clock::now();
      into += std::chrono::duration<double>(now - phase).count();
      phase = now;
    };
    try {
      kernel.features = kernel_features(*spec);
      lap(summary.build_s);
      m.kernel_id = db.upsert_kernel(kernel);
      lap(summary.store_s);
      const KernelTiming t = time_kernel(*rt, *spec, timing);
      summary.prepare_s += t.prepare_s;
      phase += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(t.prepare_s));
      lap(summary.run_s);
      take_timing(m, t);
      summary.timed_s += t.timed_s;
    } catch (const std::exception& e) {
      m.error = e.what();
      if (m.error.empty()) m.error = "unknown error";
      if (m.kernel_id == 0) m.kernel_id = db.upsert_kernel(kernel);
    }
    m.profile_id = summary.profile_id;
    lap(summary.run_s);     // a failure's time counts as running
    db.add_measurement(m);  // committed before the next kernel starts
    lap(summary.store_s);
    ++done;
    if (m.failed()) {
      ++summary.failed;
    } else {
      ++summary.measured;
      if (m.remeasured > 0) ++summary.remeasured;
    }
    bar.update(done, *spec, m);
  }
  if (!summary.interrupted && g_stop.load() && done < total) summary.interrupted = true;
  // One more reading after the last kernel, so the last ones lie between two readings
  // (not within a second of the last: the store keys readings by their second).
  if (o.reference_every_s > 0 && done > 0 && !g_stop.load() && last_reading && seconds_since(*last_reading) >= 1.5)
    read_host();
  summary.wall_s = seconds_since(t0);
  bar.finish();
  return summary;
}

std::string summary_line(const BenchSummary& s) {
  char buf[640];
  std::snprintf(buf, sizeof buf,
                "bench: profile %s: %zu measured, %zu failed, %zu skipped (already measured), %zu re-measured; "
                "%.1f kernels/min; wall %.1f s, timed %.1f s, harness overhead %.1f%% (build %.1f s, prepare %.1f s, "
                "run %.1f s, store %.1f s)%s",
                s.profile.c_str(), s.measured, s.failed, s.skipped, s.remeasured, s.kernels_per_minute(), s.wall_s,
                s.timed_s, s.overhead() * 100, s.build_s, s.prepare_s, s.run_s, s.store_s,
                s.interrupted        ? "; interrupted"
                : s.budget_exhausted ? "; budget reached"
                                     : "");
  std::string line = buf;
  if (s.host_readings > 0) line += "; " + std::to_string(s.host_readings) + " host reference readings";
  if (s.farm) {
    // The database's own cost per measurement: claiming plus writing (store time).
    const std::size_t n = s.measured + s.failed;
    std::snprintf(buf, sizeof buf, "; farm worker %lld, plan %lld kernels, %zu lost leases, db %.2f ms/measurement",
                  static_cast<long long>(s.worker_id), static_cast<long long>(s.plan_size), s.lost_leases,
                  n > 0 ? s.store_s * 1000.0 / static_cast<double>(n) : 0.0);
    line += buf;
  }
  return line;
}

}  // namespace infercast::bench
