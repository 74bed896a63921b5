// infercast profile: time fusion probes and kernels on a runtime, train, write a bundle.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>

#include "commands.hpp"
#include "infercast/base/error.hpp"
#include "infercast/bench/bench.hpp"
#include "infercast/bench/synthetic.hpp"
#include "infercast/bench/timing.hpp"
#include "infercast/measure/measure.hpp"
#include "infercast/predict/adaptive.hpp"
#include "infercast/predict/fusion.hpp"
#include "infercast/predict/profile.hpp"
#include "infercast/runtime/runtime.hpp"

namespace infercast::cli {
namespace {

struct ProfileOptions {
  std::string runtime;
  std::string output;
  std::string budget = "15m";
  std::vector<std::string> models;
  int threads = 1;
  int jitter = 2;
  std::uint64_t seed = 1;
  std::string db;
  double adaptive_share = 0.25;
  double network_share = 0;
  bool network_share_given = false;  // --network-share on the command line, 0 included
  bool per_operator_cost = false;    // fit only the composition's per-kernel cost
  bool select_composition = false;   // the cost, with the convolutions' scales where the networks call for them
  std::string precision = "fp32";
};

// The budget share a float profile gives the synthetic networks when --network-share is not given.
constexpr double kDefaultNetworkShare = 0.15;

int run_profile(ProfileOptions o) {
  // A model pays what no one-kernel label holds: at several threads a cost per executed
  // kernel (the thread pool's hand-off at every operator; fitted alone on synthetic networks
  // it took the held-out models' MAPE from 11.9% to 9.7% on ONNX Runtime and from 13.2% to
  // 12.2% on XNNPACK at 2 threads). So by default a float profile gives the networks 15% of
  // its budget and fits CompositionFit::kCost: that cost alone, every group's scale at 1.
  // The convolutions' scales (--select-composition keeps them where they predict the networks
  // clearly better) are not the default: over the five fresh profiles where the networks
  // called for them, the held-out models gained +17, +6 and +13 points within ±10% on three
  // and lost 26 and 48 on two (XNNPACK at 1 thread: 43% where the cost alone gives 91% on the
  // same measurements): the networks show an effect in the hour they are timed that the
  // models, timed in another, did not (docs/results.md, 2026-12-07).
  // An int8 profile times its kernel space only.
  if (!o.network_share_given && o.precision == "fp32") o.network_share = kDefaultNetworkShare;
  const predict::CompositionFit fit = o.per_operator_cost     ? predict::CompositionFit::kCost
                                      : o.select_composition  ? predict::CompositionFit::kSelect
                                      : o.network_share_given ? predict::CompositionFit::kFull
                                                              : predict::CompositionFit::kCost;
  const double budget_s = parse_duration_s(o.budget, "--budget");
  if (!(budget_s > 0)) throw Error(ErrorKind::kInvalidArgument, "--budget", o.budget, "must be a positive duration");
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  if (!(o.adaptive_share >= 0 && o.adaptive_share < 1))
    throw Error(ErrorKind::kInvalidArgument, "--adaptive-share", std::to_string(o.adaptive_share), "must be in [0, 1)");
  if (!(o.network_share >= 0 && o.network_share + o.adaptive_share < 1))
    throw Error(ErrorKind::kInvalidArgument, "--network-share", std::to_string(o.network_share),
                "must be >= 0, and with --adaptive-share below 1");
  if ((o.per_operator_cost || o.select_composition) && !(o.network_share > 0))
    throw Error(ErrorKind::kInvalidArgument, o.per_operator_cost ? "--per-operator-cost" : "--select-composition", "",
                "is fitted on synthetic networks: --network-share must be above 0");
  if (o.precision != "fp32" && o.precision != "int8")
    throw Error(ErrorKind::kInvalidArgument, "--precision", o.precision, "is neither fp32 nor int8");
  const bool int8 = o.precision == "int8";
  if (int8 && (o.network_share > 0 || !o.models.empty()))
    throw Error(ErrorKind::kInvalidArgument, "--precision int8", "",
                "times the int8 kernel space only (--network-share and --models build float graphs)");
  // --models is a top-up only: the space never depends on a model list.
  const auto models = bench::model_files({o.models.begin(), o.models.end()});
  auto engine = runtime::make_runtime(o.runtime);
  const std::string version = engine->version();
  const int threads = runtime::resolve_threads(o.threads);
  const std::string db_path = o.db.empty() ? o.output + ".db" : o.db;
  store::Database db = store::Database::open(db_path);
  const std::string db_name = db.target();  // a URL's password never reaches the terminal
  const std::string profile_name = o.runtime + "-" + std::to_string(threads) + "t" + (int8 ? "-int8" : "");
  const measure::MachineContext machine = measure::machine_context();
  nlohmann::json context = {{"name", profile_name},
                            {"runtime", o.runtime},
                            {"runtime_version", version},
                            {"threads", threads},
                            {"precision", o.precision},
                            {"device", machine.cpu_model},
                            {"machine_id", machine.machine_id},
                            {"hostname", machine.hostname},
                            {"created_utc", machine.timestamp_utc},
                            {"l2_bytes", machine.l2_bytes},
                            {"llc_bytes", machine.llc_bytes},
                            {"budget_s", budget_s}};
  const auto existing = db.find_profile(profile_name);
  // What stays cached between two runs of a model (docs/predict.md, the cold weights):
  // measured, since a VM may report its host's whole last-level cache. A profile of 10
  // minutes or more reads it again after the kernel space and after the refinement, and the
  // bundle takes the lower median of the readings: the cache a VM keeps moves with its
  // neighbours, and one reading can fall in a quiet spell. The same VM read 14-26 MiB in five
  // profiles and 89 MiB at the start of a sixth, whose bundle then predicted 51% of the
  // held-out models within +-10% (most models' weights counted as cached); trained with the
  // 23 MiB read an hour before, the same measurements gave 79%. A resumed profile keeps the
  // readings it stored, as it keeps its rules.
  const std::size_t stored_cache = existing ? existing->extra.value("cache_bytes", std::size_t{0}) : 0;
  std::vector<std::size_t> cache_readings;
  if (existing && existing->extra.contains("cache_readings"))
    cache_readings = existing->extra["cache_readings"].get<std::vector<std::size_t>>();
  else if (stored_cache > 0)
    cache_readings = {stored_cache};
  else
    cache_readings = {measure::effective_cache_bytes(machine.llc_bytes)};
  const auto lower_median = [](std::vector<std::size_t> v) {
    std::sort(v.begin(), v.end());
    return v[(v.size() - 1) / 2];
  };
  std::size_t cache_bytes = lower_median(cache_readings);
  context["cache_bytes"] = cache_bytes;
  context["cache_readings"] = cache_readings;
  std::cerr << "profile: data stays cached between runs up to " << (cache_bytes >> 20) << " MiB (the last-level cache "
            << (machine.llc_bytes >> 20) << " MiB)\n";

  // SIGINT: finish and commit the kernel in flight, then stop; a rerun continues.
  std::optional<StopBenchOnSigint> stop_on_sigint(std::in_place);

  // Fusion rules: those a previous run stored with this profile (so a resumed run
  // samples the same kernels), else measured now. Probes compare differences of times,
  // so they get longer runs, and they compare the kernels' own times (per-layer, without
  // the per-run overhead and the boundary re-layouts that a+b would count twice and a
  // fused ab once).
  bench::TimingOptions probe;
  probe.threads = threads;
  // Each probe graph is timed in every round and keeps its fastest: 0.1 s per pass and
  // no re-measure (XNNPACK's profiled pass runs for the minimum time too, and 0.3 s
  // with a re-measure took 4.5 of the 15 budget minutes).
  probe.protocol = predict::kernel_protocol();
  probe.protocol.min_repeats = 20;
  probe.protocol.min_time_s = 0.1;
  probe.protocol.max_repeats = 2000;
  probe.protocol.max_remeasure = 0;
  probe.cold_pass = false;
  auto time_ms = [&](const nlohmann::json& spec) {
    try {
      const bench::KernelTiming t = bench::time_kernel(*engine, bench::kernel_spec_from_json(spec), probe);
      return predict::ProbeTime{t.label_ms(), t.own_layers};
    } catch (const std::exception& e) {
      throw Error(ErrorKind::kUnsupported, "", "fusion probe " + spec.value("type", "?"), e.what());
    }
  };
  const std::vector<predict::FusionProbe>* probes = int8 ? &predict::int8_fusion_probes() : nullptr;
  predict::FusionRules rules;
  bool rules_grew = false;
  if (existing && existing->extra.contains("fusion_rules")) {
    rules = predict::fusion_rules_from_json(existing->extra["fusion_rules"]);
    std::cerr << "profile: fusion rules of profile " << profile_name << " in " << db_name
              << " (delete the database to measure them again)\n";
    // Probes added since those rules were stored are measured now and join them; the
    // stored verdicts stand, so the kernels sampled before keep their meaning.
    const std::vector<predict::FusionProbe> missing = predict::missing_probes(rules, probes);
    if (!missing.empty()) {
      std::cerr << "profile: measuring " << missing.size() << " fusion probes the stored rules lack\n";
      rules =
          predict::merge_fusion(std::move(rules), predict::detect_fusion(time_ms, predict::kFusionAlpha, 3, &missing));
      rules_grew = true;
    }
  } else {
    std::cerr << "profile: detecting " << (int8 ? "int8 " : "") << "fusion rules on " << o.runtime << " " << version
              << "\n";
    // int8: an op's own activation is one kernel by construction (a TFLite int8 op carries
    // it; ONNX Runtime runs a QDQ group as one QLinear op); the int8 probes time what a
    // runtime may fold beyond that.
    rules = predict::detect_fusion(time_ms, predict::kFusionAlpha, 3, probes);
  }
  // Synthetic networks measured by an earlier run of this profile: kept, and continued.
  context["networks"] = existing ? existing->extra.value("networks", nlohmann::json::array()) : nlohmann::json::array();
  // Calibrations stored with the profile like the rules: a resumed profile keeps what it
  // stored and measures what it lacks (a profile stored before one existed gets it).
  bench::TimingOptions calibration;
  calibration.threads = threads;
  calibration.protocol = predict::kernel_protocol();
  auto stored_or_measured = [&](const char* key, const auto& measure) {
    context[key] = existing && existing->extra.contains(key) ? existing->extra[key] : nlohmann::json(measure());
  };
  // The profiler's share of every layer time.
  stored_or_measured("layer_excess_ms", [&] { return bench::layer_span_excess_ms(*engine, calibration); });
  std::cerr << "profile: the per-layer profiler adds " << 1000 * context["layer_excess_ms"].get<double>()
            << " us to each layer's span\n";
  // What a kernel pays inside a model however small it is.
  stored_or_measured("kernel_start_ms", [&] { return bench::kernel_start_ms(*engine, calibration, machine.l2_bytes); });
  std::cerr << "profile: a kernel inside a model starts " << 1000 * context["kernel_start_ms"].get<double>()
            << " us later than back to back (its code and state from beyond the private caches)\n";
  std::cerr << "profile: fused pairs:";
  for (const auto& p : rules.fused_pairs) std::cerr << " " << p;
  std::cerr << "\n";
  // Stored now, so a run killed outright resumes with the same rules.
  if (!existing) {
    db.upsert_profile(predict::store_profile(context, rules));
  } else if (rules_grew) {
    nlohmann::json extra = existing->extra;
    extra["fusion_rules"] = predict::to_json(rules);
    db.set_profile_extra(existing->id, extra);
  }
  if (bench::stop_requested()) {
    std::cerr << "profile: interrupted\n";
    return 130;
  }

  // Cold weights inside a model (predict::calibrate_cold): chains of large-weight kernels
  // whose weights outgrow the cache, each timed end to end against one copy alone, in
  // interleaved rounds (medians); an int8 profile times their int8 forms (alexnet's int8
  // classifier ran 1.33x its warm prediction inside the model on ONNX Runtime without them).
  // Stored with the profile like the rules: a rerun reuses them. They take about a minute
  // and a half, so a budget under kChainBudgetS (a demo's 40 s) skips them and keeps the
  // flushed excess as it is.
  constexpr double kChainBudgetS = 600;
  if (existing && existing->extra.contains("cold_chains")) {
    context["cold_chains"] = existing->extra["cold_chains"];
  } else if (budget_s >= kChainBudgetS) {
    nlohmann::json chains = predict::measure_cold_chains(*engine, threads, cache_bytes, int8, &std::cerr);
    if (bench::stop_requested()) {  // not stored: a rerun measures all of them
      std::cerr << "profile: interrupted\n";
      return 130;
    }
    context["cold_chains"] = std::move(chains);
    db.set_profile_extra(db.find_profile(profile_name)->id, predict::store_profile(context, rules).extra);
  } else {
    std::cerr << "profile: weight chains skipped (a budget under " << static_cast<int>(kChainBudgetS / 60)
              << " minutes): cold weights keep the flushed one-kernel excess\n";
  }

  // The kernels: the model-agnostic space (bench sampler "space") restricted to the types
  // this runtime executes as one kernel under its rules; with --models, the kernels the
  // runtime executes in those models (each exactly, then jittered neighbours) as a
  // top-up beside it; then, with the rest of the budget, adaptive refinement: space
  // candidates weighted by the cross-validated error of their family in a bundle trained
  // on what is measured so far. Every measurement is committed; a rerun skips what is
  // stored, so it continues where the last run stopped.
  // An in-process engine says what it cannot run before anything is timed; an external
  // runner decides at load, so its refusals fail kernel by kernel.
  std::function<bool(const ir::Graph&)> runs;
  if (o.runtime == "xnnpack") {
    runs = [&](const ir::Graph& g) {
      for (int i = 0; i < static_cast<int>(g.nodes.size()); ++i)
        if (!engine->supports(g, i).ok) return false;
      return true;
    };
  }
  std::vector<std::string> types = int8 ? bench::int8_kernel_types() : predict::single_kernel_types(rules, runs);
  if (int8) types.insert(types.end(), bench::int8_float_kernel_types().begin(), bench::int8_float_kernel_types().end());
  std::cerr << "profile: " << types.size() << " kernel types run as one kernel on " << o.runtime << "\n";
  bench::BenchOptions bo;
  bo.runtime = o.runtime;
  bo.profile = profile_name;
  bo.precision = o.precision;
  bo.sampler.sampler = "space";
  bo.sampler.kernel_types = types;
  bo.sampler.seed = o.seed;
  bo.protocol = predict::kernel_protocol();
  bo.threads = threads;
  bo.reference_every_s = predict::kHostReferenceEveryS;
  bo.tty = ::isatty(STDERR_FILENO) != 0;
  bo.quiet = !bo.tty;
  const double adaptive_share = std::clamp(o.adaptive_share, 0.0, 0.9);
  const double measure_s = std::max(1.0, budget_s - elapsed());
  const double network_s = measure_s * o.network_share;
  bench::BenchSummary summary;
  auto phase = [&](const bench::BenchOptions& options, const char* what) {
    std::cerr << "profile: " << what << " for " << static_cast<int>(options.budget_s) << " s\n";
    const bench::BenchSummary s = bench::run_bench(options, db, std::cerr);
    summary.profile_id = s.profile_id;
    summary.measured += s.measured;
    summary.failed += s.failed;
    summary.skipped += s.skipped;
    summary.wall_s += s.wall_s;
    summary.timed_s += s.timed_s;
    summary.interrupted = summary.interrupted || s.interrupted;
    std::cerr << "profile: " << what << ": " << bench::summary_line(s) << "\n";
  };
  {
    bench::BenchOptions space = bo;
    space.budget_s = std::max(1.0, measure_s * (1 - adaptive_share - o.network_share) * (models.empty() ? 1.0 : 0.7));
    phase(space, "the kernel space");
  }
  constexpr std::size_t kCacheReadings = 3;
  const auto read_cache_again = [&] {
    if (budget_s < kChainBudgetS || cache_readings.size() >= kCacheReadings || summary.interrupted) return;
    cache_readings.push_back(measure::effective_cache_bytes(machine.llc_bytes));
    cache_bytes = lower_median(cache_readings);
    context["cache_bytes"] = cache_bytes;
    context["cache_readings"] = cache_readings;
    db.set_profile_extra(db.find_profile(profile_name)->id, predict::store_profile(context, rules).extra);
    std::string mib;
    for (const std::size_t r : cache_readings) mib += (mib.empty() ? "" : ", ") + std::to_string(r >> 20);
    std::cerr << "profile: data stays cached between runs up to " << (cache_bytes >> 20) << " MiB (readings " << mib
              << " MiB)\n";
  };
  read_cache_again();
  if (!models.empty() && !summary.interrupted) {
    bench::BenchOptions top_up = bo;
    top_up.sampler.sampler = "prior";
    top_up.sampler.kernel_types.clear();
    top_up.sampler.models = models;
    top_up.sampler.jitter_copies = o.jitter;
    top_up.sampler.grouping = predict::kernel_grouping(rules);
    top_up.budget_s = std::max(1.0, budget_s - elapsed() - measure_s * adaptive_share - network_s);
    phase(top_up, "the kernels of --models");
  }
  predict::TrainOptions train_options;
  train_options.llc_bytes = cache_bytes;
  train_options.layer_excess_ms = context["layer_excess_ms"].get<double>();
  train_options.kernel_start_ms = context["kernel_start_ms"].get<double>();
  train_options.runtime = o.runtime;
  if (adaptive_share > 0 && !summary.interrupted && budget_s - elapsed() - network_s > 5) {
    predict::FusionRules stored_rules;
    nlohmann::json stored_context;
    const auto timed = predict::timed_from_database(db, profile_name, stored_rules, stored_context);
    predict::TrainOptions quick = train_options;
    quick.kinds = {predict::ModelKind::kGbm, predict::ModelKind::kRoofline};
    const predict::Bundle interim = predict::train_from_timed(timed, rules, quick);
    bench::BenchOptions refine = bo;
    refine.sampler.sampler = "adaptive";
    refine.sampler.error_fn = predict::adaptive_error_fn(interim);
    refine.budget_s = std::max(1.0, budget_s - elapsed() - network_s);
    phase(refine, "adaptive refinement where a family's fitted level is least certain");
  }
  read_cache_again();
  train_options.llc_bytes = cache_bytes;
  if (network_s > 0 && !summary.interrupted) {
    // Whole synthetic networks end to end (bench/synthetic.hpp), for the composition the
    // kernels alone do not see (predict/composition.hpp). Each is committed with the
    // profile before the next, so an interrupted run keeps them and a rerun continues.
    const auto profile_id = db.find_profile(profile_name)->id;
    nlohmann::json& networks = context["networks"];
    std::uint64_t seed = 1;
    for (const auto& n : networks) seed = std::max(seed, n.value("seed", std::uint64_t{0}) + 1);
    const double until = std::max(elapsed(), budget_s - 1);
    int measured = 0, failed = 0;
    std::cerr << "profile: synthetic networks end to end for " << static_cast<int>(until - elapsed()) << " s"
              << (o.network_share_given ? "" : " (by default: --network-share 0 skips them)") << "\n";
    // The host's speed between the networks, as between the kernels: training divides each
    // network's time by the speed at its `epoch_s` (predict::timed_from_database), so a network
    // timed in a slow minute does not pull the composition's scales up.
    bench::TimingOptions reference;
    reference.threads = threads;
    reference.protocol = bo.protocol;
    double last_reading = -1e9;
    const auto read_host = [&] {
      last_reading = elapsed();
      bench::store_host_reading(db, profile_id, *engine, reference);
    };
    for (; elapsed() < until && !bench::stop_requested(); ++seed) {
      if (elapsed() - last_reading >= predict::kHostReferenceEveryS) read_host();
      const bench::SyntheticNetwork net = bench::synthetic_network(seed);
      nlohmann::json row = {{"seed", seed},
                            {"name", net.name},
                            {"max_macs", 1.5e9},
                            {"macs", net.macs},
                            {"epoch_s", static_cast<std::int64_t>(std::time(nullptr))}};
      try {
        const measure::Stats s = bench::time_network(*engine, net.graph, threads, predict::network_protocol());
        row.update({{"median_ms", s.median}, {"min_ms", s.min}, {"cv", s.cv}, {"runs", s.n}});
        ++measured;
      } catch (const std::exception& e) {
        row["error"] = e.what();
        ++failed;
      }
      networks.push_back(row);
      db.set_profile_extra(profile_id, predict::store_profile(context, rules).extra);
      if (bo.tty)
        std::cerr << "\r  " << networks.size() << " networks (" << net.name << ": " << row.value("median_ms", 0.0)
                  << " ms)        " << std::flush;
    }
    if (bo.tty) std::cerr << "\n";
    if (measured > 0 && !bench::stop_requested() && elapsed() - last_reading >= 1.5) read_host();
    std::cerr << "profile: synthetic networks: " << measured << " measured, " << failed << " failed, "
              << networks.size() << " in the profile\n";
    summary.interrupted = summary.interrupted || bench::stop_requested();
  }
  stop_on_sigint.reset();
  db.set_profile_extra(summary.profile_id, predict::store_profile(context, rules).extra);
  if (summary.interrupted) {
    std::cerr << "profile: interrupted; " << summary.measured + summary.failed << " measurements kept in " << db_name
              << ", run the same command again to continue\n";
    return 130;
  }
  predict::FusionRules stored_rules;
  nlohmann::json stored_context;
  const std::vector<predict::TimedSpec> timed =
      predict::timed_from_database(db, profile_name, stored_rules, stored_context);
  std::cerr << "profile: training on " << timed.size() << " measured kernels (" << summary.failed
            << " failed in this run) after " << static_cast<int>(elapsed()) << " s\n";
  if (stored_context.contains("host_speed")) context["host_speed"] = stored_context["host_speed"];
  if (stored_context.contains("networks")) context["networks"] = stored_context["networks"];  // with their host factors
  int unusable = 0;
  predict::Bundle bundle = predict::train_from_timed(timed, rules, train_options, &unusable);
  bundle.runtime = o.runtime;
  bundle.runtime_version = version;
  bundle.threads = threads;
  bundle.precision = o.precision;
  bundle.profile = context;
  bundle.created_utc = machine.timestamp_utc;
  bundle.l2_bytes = machine.l2_bytes;
  bundle.llc_bytes = cache_bytes;
  // The composition (docs/predict.md): networks an earlier run stored stay in the profile, but
  // only a run that gives them a share fits them. It is fitted on the kernels' predictions as
  // `predict` makes them, cold scales included, so it comes last.
  if (context.contains("cold_chains")) predict::calibrate_cold(bundle, context["cold_chains"]);
  if (o.network_share > 0) predict::calibrate_composition(bundle, context["networks"], fit);
  predict::save_bundle(bundle, o.output);
  std::string table = "family            model     n     rmspe%   within10%\n";
  for (const auto& [family, f] : bundle.families) {
    char line[160];
    const auto it = f.cv.find(predict::model_kind_name(f.kind));
    if (it == f.cv.end()) {
      std::snprintf(line, sizeof line, "%-17s %-9s %-5d  (too few samples to validate)\n", family.c_str(),
                    predict::model_kind_name(f.kind).c_str(), f.samples);
    } else {
      std::snprintf(line, sizeof line, "%-17s %-9s %-5d %7.1f %9.1f\n", family.c_str(),
                    predict::model_kind_name(f.kind).c_str(), f.samples, it->second.rmspe, 100 * it->second.within10);
    }
    table += line;
  }
  table += host_speed_line(bundle.profile);
  table += composition_line(bundle.composition);
  table += cold_scale_line(bundle);
  write_output("-", table + "wrote " + o.output + " (" + std::to_string(unusable) + " measured kernels unusable)\n");
  return 0;
}

}  // namespace

void register_profile(CLI::App& app, Action& action) {
  auto options = std::make_shared<ProfileOptions>();
  CLI::App* cmd = app.add_subcommand(
      "profile", "Detect fusion rules, time kernels, train and write a predictor bundle for a runtime");
  cmd->add_option("--runtime", options->runtime, "runtime to profile")->required();
  cmd->add_option("-o,--output", options->output, "predictor bundle to write")->required();
  cmd->add_option("--budget", options->budget, "time for kernel measurements: 15m, 90s, 1h")->capture_default_str();
  cmd->add_option("--models", options->models,
                  "optional top-up: models or folders whose kernel configurations are timed beside the kernel space");
  cmd->add_option("--adaptive-share", options->adaptive_share,
                  "share of the budget for adaptive refinement where a family's fitted level is least certain")
      ->capture_default_str();
  cmd->add_flag("--per-operator-cost", options->per_operator_cost,
                "fit only the cost per executed kernel on the networks, every group's scale held at 1 (the "
                "default without --network-share)");
  cmd->add_flag("--select-composition", options->select_composition,
                "fit the per-operator cost, with the convolutions' scales where they predict the networks better "
                "(leave-one-out); docs/predict.md says why it is not the default");
  cmd->add_option("--network-share", options->network_share,
                  "share of the budget for synthetic networks timed end to end (the whole-model composition): "
                  "given, the full composition is fitted; without it, 0.15 and the per-operator cost alone (fp32; "
                  "docs/predict.md)");
  cmd->add_option("--threads", options->threads, "intra-op threads (0 = all cores)")->capture_default_str();
  cmd->add_option("--precision", options->precision,
                  "fp32 | int8 (the int8 kernels of full-integer quantized models; profile RUNTIME-<threads>t-int8)")
      ->capture_default_str();
  cmd->add_option("--jitter", options->jitter, "jittered neighbours per real configuration")->capture_default_str();
  cmd->add_option("--seed", options->seed, "seed of the kernel space and the jitter")->capture_default_str();
  cmd->add_option(
      "--db", options->db,
      "measurement database: a file (default BUNDLE.db) or a postgresql:// URL; a rerun continues from what it "
      "holds");
  cmd->callback([options, cmd, &action] {
    options->network_share_given = cmd->count("--network-share") > 0;
    action = [options] { return run_profile(*options); };
  });
}

}  // namespace infercast::cli
