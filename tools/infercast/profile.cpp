// infercast profile: time fusion probes and kernels on a runtime, train, write a bundle.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>

#include "commands.hpp"
#include "infercast/base/error.hpp"
#include "infercast/bench/bench.hpp"
#include "infercast/measure/measure.hpp"
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
};

// "15m", "90s", "1h", "120" (seconds).
double parse_budget_s(const std::string& text) {
  if (text.empty()) throw Error(ErrorKind::kInvalidArgument, "", "--budget", "empty");
  double scale = 1;
  std::string number = text;
  switch (text.back()) {
    case 's': number.pop_back(); break;
    case 'm':
      scale = 60;
      number.pop_back();
      break;
    case 'h':
      scale = 3600;
      number.pop_back();
      break;
    default: break;
  }
  try {
    std::size_t used = 0;
    const double v = std::stod(number, &used);
    if (used != number.size() || !(v > 0)) throw std::invalid_argument("");
    return v * scale;
  } catch (const std::exception&) {
    throw Error(ErrorKind::kInvalidArgument, "", "--budget", "'" + text + "' is not a duration like 15m, 90s, 1h");
  }
}

std::vector<std::filesystem::path> model_files(const std::vector<std::string>& args) {
  std::vector<std::filesystem::path> out;
  for (const std::string& a : args) {
    if (std::filesystem::is_directory(a)) {
      std::vector<std::filesystem::path> files;
      for (const auto& e : std::filesystem::directory_iterator(a)) {
        const auto ext = e.path().extension();
        if (ext == ".onnx" || ext == ".tflite") files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());
      out.insert(out.end(), files.begin(), files.end());
    } else if (std::filesystem::exists(a)) {
      out.emplace_back(a);
    } else {
      throw Error(ErrorKind::kIo, a, "", "no such model file or folder");
    }
  }
  return out;
}

int run_profile(const ProfileOptions& o) {
  const double budget_s = parse_budget_s(o.budget);
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  std::vector<std::string> model_args = o.models;
  if (model_args.empty()) {
    for (const char* d : {".cache/models/torchvision", ".cache/models/mediapipe"})
      if (std::filesystem::is_directory(d)) model_args.emplace_back(d);
  }
  if (model_args.empty())
    throw Error(ErrorKind::kInvalidArgument, "", "--models", "no models to take kernel configurations from");
  const auto models = model_files(model_args);
  auto engine = runtime::make_runtime(o.runtime);
  const std::string version = engine->version();
  const int threads = runtime::resolve_threads(o.threads);
  const measure::Protocol protocol = predict::kernel_protocol();

  // Fusion probes compare differences of times, so they get longer runs, and they
  // compare the kernels' own times (per-layer, without the per-run overhead and the
  // boundary re-layouts that a+b would count twice and a fused ab once).
  measure::Protocol probe_protocol = protocol;
  probe_protocol.min_repeats = 20;
  probe_protocol.min_time_s = 0.3;
  probe_protocol.max_repeats = 2000;
  auto time_ms = [&](const nlohmann::json& spec) {
    const predict::TimedSpec t = predict::time_spec(*engine, spec, threads, probe_protocol);
    if (!t.error.empty()) throw Error(ErrorKind::kUnsupported, "", spec.value("type", "?"), t.error);
    return t.label_ms();
  };
  std::cerr << "profile: detecting fusion rules on " << o.runtime << " " << version << "\n";
  const predict::FusionRules rules = predict::detect_fusion(time_ms);
  std::cerr << "profile: fused pairs:";
  for (const auto& p : rules.fused_pairs) std::cerr << " " << p;
  std::cerr << "\n";

  std::vector<std::string> skipped;
  std::vector<nlohmann::json> specs = predict::prior_specs(models, rules, o.jitter, o.seed, &skipped);
  for (const auto& s : skipped) std::cerr << "profile: skipped " << s << "\n";
  std::cerr << "profile: " << specs.size() << " kernel configurations from " << models.size() << " models\n";

  const measure::MachineContext machine = measure::machine_context();
  const nlohmann::json context = {{"name", o.runtime + "-" + std::to_string(threads) + "t"},
                                  {"runtime", o.runtime},
                                  {"runtime_version", version},
                                  {"threads", threads},
                                  {"device", machine.cpu_model},
                                  {"machine_id", machine.machine_id},
                                  {"hostname", machine.hostname},
                                  {"created_utc", machine.timestamp_utc},
                                  {"l2_bytes", machine.l2_bytes},
                                  {"llc_bytes", machine.llc_bytes},
                                  {"budget_s", budget_s}};
  std::vector<predict::TimedSpec> timed;
  int failed = 0;
  if (!o.db.empty()) {
    // Through the bench loop and the store: resumable, every measurement committed.
    store::Database db = store::Database::open(o.db);
    bench::BenchOptions bo;
    bo.runtime = o.runtime;
    bo.profile = context["name"];
    bo.sampler.sampler = "prior";
    bo.sampler.models = models;
    bo.sampler.seed = o.seed;
    bo.sampler.jitter_copies = o.jitter;
    bo.budget_s = std::max(1.0, budget_s - elapsed());
    bo.threads = threads;
    bo.quiet = true;
    const bench::BenchSummary summary = bench::run_bench(bo, db, std::cerr);
    std::cerr << "profile: " << bench::summary_line(summary) << "\n";
    db.set_profile_extra(summary.profile_id, predict::store_profile(context, rules).extra);
    predict::FusionRules stored_rules;
    nlohmann::json stored_context;
    timed = predict::timed_from_database(db, context["name"], stored_rules, stored_context);
    failed = static_cast<int>(summary.failed);
  } else {
    const std::string samples_path = o.output + ".samples.jsonl";
    std::ofstream samples(samples_path, std::ios::trunc);
    if (!samples) throw Error(ErrorKind::kIo, samples_path, "", "cannot write");
    samples << nlohmann::json{{"profile", context}, {"fusion_rules", predict::to_json(rules)}}.dump() << "\n";
    // Real-model configurations first, then their jittered neighbours, until the budget is spent.
    for (std::size_t i = 0; i < specs.size() && elapsed() < budget_s; ++i) {
      predict::TimedSpec t = predict::time_spec(*engine, specs[i], threads, protocol);
      if (!t.error.empty()) ++failed;
      samples << predict::to_json(t).dump() << "\n" << std::flush;
      timed.push_back(std::move(t));
      if (timed.size() % 100 == 0)
        std::cerr << "profile: " << timed.size() << "/" << specs.size() << " kernels, " << static_cast<int>(elapsed())
                  << " s\n";
    }
  }
  std::cerr << "profile: timed " << timed.size() << " kernels (" << failed << " failed) in "
            << static_cast<int>(elapsed()) << " s\n";
  int unusable = 0;
  predict::TrainOptions train_options;
  train_options.llc_bytes = machine.llc_bytes;
  predict::Bundle bundle = predict::train_from_timed(timed, rules, train_options, &unusable);
  bundle.runtime = o.runtime;
  bundle.runtime_version = version;
  bundle.threads = threads;
  bundle.profile = context;
  bundle.created_utc = machine.timestamp_utc;
  bundle.l2_bytes = machine.l2_bytes;
  bundle.llc_bytes = machine.llc_bytes;
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
                  "models or folders whose kernel configurations are timed (default .cache/models/*)");
  cmd->add_option("--threads", options->threads, "intra-op threads (0 = all cores)")->capture_default_str();
  cmd->add_option("--jitter", options->jitter, "jittered neighbours per real configuration")->capture_default_str();
  cmd->add_option("--seed", options->seed, "seed of the jitter")->capture_default_str();
  cmd->add_option("--db", options->db,
                  "measure through the bench loop into this database (resumable); without it, timings go to "
                  "BUNDLE.samples.jsonl");
  cmd->callback([options, &action] { action = [options] { return run_profile(*options); }; });
}

}  // namespace infercast::cli
