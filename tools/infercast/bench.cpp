// infercast bench: fill the kernel database (sampling, timing, storing: src/bench/).
#include <unistd.h>

#include <iostream>
#include <memory>
#include <sstream>

#include "commands.hpp"
#include "infercast/base/error.hpp"
#include "infercast/bench/bench.hpp"
#include "infercast/predict/adaptive.hpp"
#include "infercast/runtime/runtime.hpp"

namespace infercast::cli {
namespace {

struct BenchCliOptions {
  bench::BenchOptions bench;
  std::string db;
  std::string kernels;
  std::vector<std::string> models;
  std::string budget;
  std::string predictor;
  bool quiet = false;
  bool no_cold = false;
};

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

int run_bench_command(BenchCliOptions& o) {
  o.bench.sampler.kernel_types = split_list(o.kernels);
  for (const auto& m : o.models) o.bench.sampler.models.emplace_back(m);
  o.bench.budget_s = parse_duration_s(o.budget, "--budget");
  o.bench.tty = ::isatty(STDERR_FILENO) != 0;
  o.bench.quiet = o.quiet;
  o.bench.cold_pass = !o.no_cold;
  if (o.bench.sampler.sampler == "adaptive") {
    if (o.predictor.empty()) {
      throw Error(
          ErrorKind::kInvalidArgument, "--sampler adaptive", "",
          "needs --predictor BUNDLE (a bundle trained for this runtime: where it errs most, bench samples more)");
    }
    o.bench.sampler.error_fn = predict::adaptive_error_fn(predict::load_bundle(o.predictor, o.bench.runtime));
  } else if (!o.predictor.empty()) {
    throw Error(ErrorKind::kInvalidArgument, "--predictor", o.predictor, "only the adaptive sampler uses a predictor");
  }
  store::Database db = store::Database::open(o.db);
  // A server database is shared: bench processes pointed at it measure one plan together.
  if (db.backend() == "postgresql") o.bench.farm = true;
  // SIGINT: finish and commit the kernel in flight, then stop and print the summary.
  bench::BenchSummary s;
  {
    const StopBenchOnSigint stop_on_sigint;
    s = bench::run_bench(o.bench, db, std::cerr);
  }
  std::cout << bench::summary_line(s) << "\n";
  return s.interrupted ? 130 : 0;
}

}  // namespace

void register_bench(CLI::App& app, Action& action) {
  auto o = std::make_shared<BenchCliOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure kernels on a runtime into a database (resumable)");
  std::string runtimes;
  for (const std::string& n : runtime::runtime_names()) runtimes += (runtimes.empty() ? "" : " | ") + n;
  cmd->add_option("--runtime", o->bench.runtime, "runtime: " + runtimes)->required();
  cmd->add_option("--db", o->db,
                  "SQLite database file (created when absent) or a postgresql:// URL (a farm: many workers, one plan)")
      ->required();
  cmd->add_option("--profile", o->bench.profile, "profile name (default RUNTIME-<threads>t)");
  cmd->add_option("--kernels", o->kernels, "comma-separated kernel types (default: all; see docs/bench.md)");
  cmd->add_option(
         "--precision", o->bench.precision,
         "fp32 | int8 (the int8 kernel types, quantized as quantize --mode full; profile RUNTIME-<threads>t-int8)")
      ->capture_default_str();
  cmd->add_option("--sampler", o->bench.sampler.sampler,
                  "grid | space (the model-agnostic space profile samples) | prior | random | adaptive")
      ->capture_default_str();
  cmd->add_option("--models", o->models, "prior: model files or folders (repeatable)");
  cmd->add_option("--predictor", o->predictor, "adaptive: a predictor bundle for this runtime");
  cmd->add_option("--count", o->bench.count,
                  "the plan: the first N kernels of the seeded sequence (0 = all); a rerun completes it")
      ->capture_default_str();
  cmd->add_option("--more", o->bench.more, "instead: measure N more kernels the database does not have yet");
  cmd->add_option("--budget", o->budget, "stop starting kernels after this long: 90s, 10m, 1h");
  cmd->add_option("--threads", o->bench.threads, "intra-op threads (0 = all available cores)")->capture_default_str();
  cmd->add_option("--seed", o->bench.sampler.seed, "sampler seed")->capture_default_str();
  cmd->add_option("--jitter", o->bench.sampler.jitter, "prior: relative jitter of sizes")->capture_default_str();
  cmd->add_option("--max-macs", o->bench.sampler.max_macs, "skip sampled kernels heavier than this")
      ->capture_default_str();
  cmd->add_option("--warmup", o->bench.protocol.warmup, "untimed runs per kernel")->capture_default_str();
  cmd->add_option("--repeats", o->bench.protocol.min_repeats, "at least this many timed runs per attempt")
      ->capture_default_str();
  cmd->add_option("--min-time", o->bench.protocol.min_time_s, "and at least this many seconds per attempt")
      ->capture_default_str();
  cmd->add_option("--cv-target", o->bench.protocol.cv_target, "re-measure while the CV is above this")
      ->capture_default_str();
  cmd->add_option("--max-remeasure", o->bench.protocol.max_remeasure, "at most this many extra attempts")
      ->capture_default_str();
  cmd->add_option("--timeout", o->bench.timeout_s, "seconds an external runner may take per request")
      ->capture_default_str();
  cmd->add_option("--command", o->bench.device_command,
                  "benchmark_model: shell command that runs a kernel's model (docs/devices.md)");
  cmd->add_option("--push", o->bench.push_command, "benchmark_model: shell command that copies the model first");
  cmd->add_option("--device-dir", o->bench.device_dir, "benchmark_model: the folder --push copies into")
      ->capture_default_str();
  cmd->add_flag("--farm", o->bench.farm,
                "SQLite: share the plan with other bench processes as a PostgreSQL --db always does (docs/farm.md)");
  cmd->add_option("--lease", o->bench.lease_s,
                  "farm: seconds a claimed kernel stays this worker's (longer than the slowest kernel)")
      ->capture_default_str();
  cmd->add_flag("--no-cold", o->no_cold, "skip the flushed-cache pass (cold_ms stays 0; about 1.8x faster)");
  cmd->add_flag("--retry-failed", o->bench.retry_failed, "measure again kernels whose measurement failed");
  cmd->add_option("--reference-every", o->bench.reference_every_s,
                  "time a fixed reference kernel every this many seconds, so training can take the host's drift "
                  "out of the labels (0 = off; profile uses 20)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("-q,--quiet", o->quiet, "no per-kernel progress");
  cmd->callback([o, &action] { action = [o] { return run_bench_command(*o); }; });
}

}  // namespace infercast::cli
