// infercast validate: predicted vs measured end-to-end latency over models.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <thread>
#include <utility>

#include "commands.hpp"
#include "infercast/base/error.hpp"
#include "infercast/cost/cost.hpp"
#include "infercast/export/export.hpp"
#include "infercast/import/import.hpp"
#include "infercast/measure/measure.hpp"
#include "infercast/measure/stats.hpp"
#include "infercast/predict/profile.hpp"
#include "infercast/predict/validate.hpp"
#include "infercast/report/model_report.hpp"
#include "infercast/runtime/runtime.hpp"

namespace infercast::cli {
namespace {

struct ValidateOptions {
  std::string predictor;
  std::string runtime;
  std::vector<std::string> models;
  measure::Protocol protocol;
  std::string format = "table";
  std::string output;
  std::string stat = "median";
  int rounds = 3;
  bool per_kernel = false;
};

int run_validate(const ValidateOptions& o) {
  if (o.format != "table" && o.format != "json" && o.format != "html" && o.format != "netron")
    throw Error(ErrorKind::kInvalidArgument, "", "--format", "'" + o.format + "' (table, json, html, netron)");
  if (o.format == "netron" && (o.output.empty() || o.output == "-"))
    throw Error(ErrorKind::kInvalidArgument, "", "--format netron",
                "needs -o FOLDER (one attachment per model: FOLDER/<model file>.netron.json)");
  measure::validate(o.protocol);
  if (o.rounds < 1 || o.rounds > 100)
    throw Error(ErrorKind::kInvalidArgument, "", "--rounds", std::to_string(o.rounds) + " (1 to 100)");
  if (o.stat != "median" && o.stat != "min")
    throw Error(ErrorKind::kInvalidArgument, "", "--stat", "'" + o.stat + "' (median, min)");
  const predict::Bundle bundle = predict::load_bundle(o.predictor, o.runtime);
  std::vector<std::filesystem::path> files;
  for (const std::string& a : o.models) {
    if (std::filesystem::is_directory(a)) {
      std::vector<std::filesystem::path> found;
      for (const auto& e : std::filesystem::directory_iterator(a)) {
        const auto ext = e.path().extension();
        if (ext == ".onnx" || ext == ".tflite") found.push_back(e.path());
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (std::filesystem::exists(a)) {
      files.emplace_back(a);
    } else {
      throw Error(ErrorKind::kIo, a, "", "no such model file or folder");
    }
  }
  auto engine = runtime::make_runtime(o.runtime);
  // Every model is predicted once, then measured in `rounds` rounds that visit all the
  // models in turn, each round in a freshly prepared session: a disturbance lasting
  // seconds then hits one round of a model, not the model, and the session's memory
  // placement (which moves a small model's time by up to 20% on ONNX Runtime) is drawn
  // again each round. With --stat median (the default) the measured value is the median
  // round of the per-round medians: what a user running the model sees. With --stat min
  // it is the fastest run of all the rounds, the run least disturbed by other tenants.
  // Both are reported, and the rounds' spread beside them.
  struct Entry {
    predict::ValidationRow row;
    ir::Graph graph;
    std::filesystem::path converted;  // a .tflite model as ONNX, for runtimes that load ONNX files only
    predict::Prediction prediction;
    std::optional<runtime::RunResult> profiled;       // the last round's --per-kernel run
    std::vector<predict::KernelTimes> kernel_rounds;  // --per-kernel: each round's in-model kernel times
    std::vector<double> profiled_medians;             // --per-kernel: each round's profiled run, median ms
    std::string per_kernel_error;                     // --per-kernel: why a profiled run failed
  };
  std::vector<Entry> entries(files.size());
  // The converted .tflite models stay on disk until validate ends, however it ends: the
  // rounds and the --per-kernel run load them.
  struct RemoveConverted {
    const std::vector<Entry>& entries;
    ~RemoveConverted() {
      for (const Entry& e : entries) {
        std::error_code ec;
        if (!e.converted.empty()) std::filesystem::remove(e.converted, ec);
      }
    }
  } remove_converted{entries};
  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto& path = files[i];
    Entry& e = entries[i];
    e.row.model = path.filename().string();
    try {
      e.graph = import::load_model(path);
      if (path.extension() == ".tflite" && engine->name() != "xnnpack") {
        // ONNX Runtime loads .onnx files: the model goes through the ONNX writer
        // (NHWC kept at the edges, computed in NCHW; docs/export.md) and the runtime
        // and the predictor both see that graph.
        e.converted = std::filesystem::temp_directory_path() /
                      ("infercast-validate-" + std::to_string(::getpid()) + "-" + path.stem().string() + ".onnx");
        exporter::save(e.graph, e.converted, exporter::Format::kOnnx);
        e.graph = import::load_model(e.converted);
        e.row.model += " (as ONNX)";
      }
      e.prediction = predict::predict(bundle, e.graph);
      const predict::Prediction& p = e.prediction;
      e.row.predicted_ms = p.ms;
      e.row.lo_ms = p.lo_ms;
      e.row.hi_ms = p.hi_ms;
      e.row.conv_only_ms = predict::conv_only_ms(p);
      e.row.kernels = static_cast<int>(p.kernels.size());
      e.row.estimated_kernels = p.estimated;
      e.row.extrapolated_kernels = p.extrapolated;
      e.row.flops = static_cast<double>(cost::analyze(e.graph).flops);
    } catch (const std::exception& ex) {
      e.row.error = ex.what();
    }
  }
  // At several threads each round is bracketed by measure::core_share probes, four
  // before it and four after, averaged: on this shared VM another tenant takes the second
  // core, sometimes for minutes and sometimes for a few milliseconds at a time (two or
  // three probes in ten read 0.5 in such an hour), so a round's share is the fraction of the
  // probes' time its threads had a core each. A round with a mean share under
  // kQuietCoreShare timed a machine with fewer cores than the bundle was profiled on.
  // Those rounds stay in the median (what a user of this machine sees); the quiet rounds
  // give a second figure. No extra rounds are added for models short of quiet ones: in a
  // contended hour here no round of 25 read 0.8 (median 0.61), and the extra rounds only
  // doubled the validation's time.
  // --threads 0 runs on every core the process may use.
  const int threads = bundle.threads > 0 ? bundle.threads : measure::machine_context().cores;
  const bool probe = threads > 1;
  constexpr int kProbes = 4;
  const auto share_now = [&] {
    double sum = 0;
    for (int i = 0; i < kProbes; ++i) sum += measure::core_share(threads);
    return sum / kProbes;
  };
  // The host's speed, when the profile read it (predict::HostSpeed): the reference kernel,
  // timed as profile timed it, before each round and after every model's run, over the
  // readings' median while the profile measured. A run on a host 10% slower than the
  // profile's typical one measures a model about 10% slower than the kernels' labels say.
  // One reading per round does not follow the host (a round lasts minutes; XNNPACK rounds
  // that began at 0.99, 0.94 and 1.10 came out at -5.0, -6.2 and -5.3%), so each model's
  // run gets the readings just before and just after it. The median stays the score; the
  // times divided by the host's speed (ValidationRow::host_median_ms) are a second figure,
  // which tells the host's drift apart from the predictor's error.
  const nlohmann::json host_profile = bundle.profile.is_object()
                                          ? bundle.profile.value("host_speed", nlohmann::json::object())
                                          : nlohmann::json::object();
  const double host_profile_ms = predict::host_profile_median_ms(bundle);
  nlohmann::json host_rounds = nlohmann::json::array();
  std::string reference_error;
  const auto read_reference = [&]() -> double {  // ms; 0 when the reading failed
    try {
      return predict::read_host_reference_ms(*engine, threads);
    } catch (const std::exception& ex) {
      reference_error = ex.what();
      return 0.0;
    }
  };
  double last_reading = 0;  // ms, the reading just before the next model's run
  const auto read_host = [&](int round) {
    if (!(host_profile_ms > 0)) return;
    last_reading = read_reference();
    if (!(last_reading > 0)) {
      host_rounds.push_back({{"round", round + 1}, {"error", reference_error}});
      return;
    }
    host_rounds.push_back(
        {{"round", round + 1}, {"reference_ms", last_reading}, {"speed", last_reading / host_profile_ms}});
    char line[160];
    std::snprintf(line, sizeof line,
                  "validate: round %d: the host runs the reference kernel at %.2fx the profile's median time\n",
                  round + 1, last_reading / host_profile_ms);
    std::cerr << line;
  };
  // The host's speed just before a model's run: the reading before that run alone, which
  // `predict --read-host` would have taken (ValidationRow::rounds_host_before).
  const auto host_speed_before_run = [&]() -> double { return last_reading / host_profile_ms; };
  // The host's speed around a model's run: the geometric mean of the readings before and
  // after it (the one that succeeded when the other failed, 0 when both did).
  const auto host_speed_after_run = [&]() -> double {
    const double before = last_reading;
    last_reading = read_reference();
    const double ms =
        before > 0 && last_reading > 0 ? std::sqrt(before * last_reading) : std::max(before, last_reading);
    return ms / host_profile_ms;
  };
  std::vector<std::vector<double>> cvs(entries.size()), medians(entries.size()), minima(entries.size()),
      quiet(entries.size());
  for (int round = 0; round < o.rounds; ++round) {
    read_host(round);
    for (Entry& e : entries) {
      if (!e.row.error.empty()) continue;
      const auto index = static_cast<std::size_t>(&e - entries.data());
      try {
        engine->prepare(e.graph, {bundle.threads});
        const double before = probe ? share_now() : 1.0;
        const runtime::RunResult r = engine->run({o.protocol, false, 42});
        // The runtime's workers spin for a while after a run (pthreadpool, ONNX Runtime's
        // pool); the probes after it wait until they sleep, so as not to count them.
        if (probe) std::this_thread::sleep_for(std::chrono::milliseconds(25));
        const double share = probe ? (before + share_now()) / 2 : 1.0;
        e.row.rounds_ms.push_back(o.stat == "min" ? r.latency_ms.min : r.latency_ms.median);
        cvs[index].push_back(r.latency_ms.cv);
        medians[index].push_back(r.latency_ms.median);
        minima[index].push_back(r.latency_ms.min);
        if (probe) {
          e.row.rounds_core_share.push_back(share);
          if (share >= measure::kQuietCoreShare) quiet[index].push_back(r.latency_ms.median);
        }
        if (o.per_kernel) {
          // Per kernel: a profiled run in the same session, right after the timed one, so
          // that the kernels' reference shares the round's moment and memory placement (one
          // profiled pass after all the rounds ran maxvit_t at 131 ms on ONNX Runtime where
          // its rounds gave 104).
          try {
            runtime::RunResult pr = engine->run({o.protocol, true, 42});
            e.kernel_rounds.push_back(predict::kernel_times(e.graph, e.prediction, pr.layers, bundle.layer_excess_ms));
            e.profiled_medians.push_back(pr.latency_ms.median);
            e.profiled = std::move(pr);
          } catch (const std::exception& ex) {
            e.per_kernel_error = ex.what();  // the model's own rounds stand
          }
        }
        if (host_profile_ms > 0) {
          e.row.rounds_host_before.push_back(host_speed_before_run());
          e.row.rounds_host_speed.push_back(host_speed_after_run());
        }
      } catch (const std::exception& ex) {
        e.row.error = ex.what();
      }
      std::cerr << "validate: round " << round + 1 << "/" << o.rounds << " " << e.row.model;
      if (!e.row.error.empty())
        std::cerr << " failed: " << e.row.error;
      else if (probe)
        std::cerr << " core share " << std::lround(100 * e.row.rounds_core_share.back()) << "%";
      if (e.row.error.empty() && !e.row.rounds_host_speed.empty()) {
        char host[48];
        std::snprintf(host, sizeof host, " host %.2fx", e.row.rounds_host_speed.back());
        std::cerr << host;
      }
      std::cerr << "\n";
    }
  }
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (!probe || quiet[i].empty()) continue;
    entries[i].row.quiet_rounds = static_cast<int>(quiet[i].size());
    entries[i].row.quiet_median_ms = measure::median(quiet[i]);
  }
  std::vector<predict::ValidationRow> rows;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    Entry& e = entries[i];
    if (e.row.error.empty() && !e.row.rounds_ms.empty()) {
      e.row.median_ms = measure::median(medians[i]);
      e.row.min_ms = *std::min_element(minima[i].begin(), minima[i].end());
      const auto [lo, hi] = std::minmax_element(medians[i].begin(), medians[i].end());
      e.row.spread = e.row.median_ms > 0 ? (*hi - *lo) / e.row.median_ms : 0;
      e.row.measured_ms = o.stat == "min" ? e.row.min_ms : e.row.median_ms;
      e.row.measured_cv = measure::median(cvs[i]);
      std::vector<double> on_host;
      for (std::size_t r = 0; r < e.row.rounds_host_speed.size() && r < medians[i].size(); ++r)
        if (e.row.rounds_host_speed[r] > 0) on_host.push_back(medians[i][r] / e.row.rounds_host_speed[r]);
      if (!on_host.empty()) e.row.host_median_ms = measure::median(on_host);
      std::vector<double> read_before;
      for (double speed : e.row.rounds_host_before)
        if (speed > 0) read_before.push_back(e.row.predicted_ms * speed);
      if (!read_before.empty()) e.row.host_read_predicted_ms = measure::median(read_before);
    }
    rows.push_back(std::move(e.row));
  }
  nlohmann::json j = predict::validation_json(rows, o.predictor, o.runtime);
  j["statistic"] = o.stat;
  if (host_profile_ms > 0)
    j["host_speed"] = {{"reference", host_profile.value("reference", "")},
                       {"profile_median_ms", host_profile_ms},
                       {"rounds", host_rounds}};
  if (o.per_kernel) {
    // Per kernel: each layer's median time in every round's profiled run, summed into its
    // kernel (predict::kernel_times), and the median over the rounds; layers no kernel
    // claims (re-layouts the runtime inserted) are counted apart. The first round alone is
    // scored too (`mape_first_round`): what one profiled run would have given.
    double abs_err = 0, measured_sum = 0, unmapped = 0, ape = 0, ape_first = 0;
    int n = 0;
    nlohmann::json per_model = nlohmann::json::array();
    for (std::size_t i = 0; i < entries.size(); ++i) {
      Entry& e = entries[i];
      if (!rows[i].error.empty()) continue;
      if (!e.per_kernel_error.empty() || e.kernel_rounds.empty()) {
        per_model.push_back({{"model", rows[i].model}, {"error", e.per_kernel_error}});
        continue;
      }
      const std::size_t kernels = e.prediction.kernels.size();
      std::vector<double> round_ms;
      auto median_over_rounds = [&](auto value) {
        round_ms.clear();
        for (const predict::KernelTimes& t : e.kernel_rounds) round_ms.push_back(value(t));
        return measure::median(round_ms);
      };
      double model_err = 0, model_sum = 0;
      int model_n = 0;
      nlohmann::json detail = nlohmann::json::array();
      for (std::size_t k = 0; k < kernels; ++k) {
        const double measured = median_over_rounds([k](const predict::KernelTimes& t) { return t.ms[k]; });
        if (!(measured > 0) || e.prediction.kernels[k].removed) continue;
        const double pred = e.prediction.per_kernel[k].ms;
        const double first = e.kernel_rounds.front().ms[k];
        const predict::Kernel& kernel = e.prediction.kernels[k];
        detail.push_back({{"kernel", kernel.name},
                          {"type", kernel.type},
                          {"family", kernel.family},
                          {"predicted_ms", pred},
                          {"measured_ms", measured},
                          {"layers", e.kernel_rounds.back().layers[k]}});
        model_err += std::abs(pred - measured);
        model_sum += measured;
        ape += std::abs(pred - measured) / measured;
        // A kernel the first round gave no layer is scored at the median there too.
        ape_first += first > 0 ? std::abs(pred - first) / first : std::abs(pred - measured) / measured;
        ++model_n;
      }
      const double model_unmapped = median_over_rounds([](const predict::KernelTimes& t) { return t.unmapped_ms; });
      abs_err += model_err;
      measured_sum += model_sum;
      unmapped += model_unmapped;
      n += model_n;
      per_model.push_back({{"model", rows[i].model},
                           {"kernels", model_n},
                           {"rounds", e.kernel_rounds.size()},
                           {"time_weighted_error", model_sum > 0 ? model_err / model_sum : 0.0},
                           {"unmapped_layers_ms", model_unmapped},
                           {"mapped_layers_ms", model_sum},
                           {"run_median_ms", measure::median(e.profiled_medians)},
                           {"per_kernel", std::move(detail)}});
    }
    j["per_kernel"] = {{"kernels", n},
                       {"rounds", o.rounds},
                       {"mape", n > 0 ? 100 * ape / n : 0.0},
                       {"mape_first_round", n > 0 ? 100 * ape_first / n : 0.0},
                       {"time_weighted_error", measured_sum > 0 ? abs_err / measured_sum : 0.0},
                       {"unmapped_share", measured_sum + unmapped > 0 ? unmapped / (measured_sum + unmapped) : 0.0},
                       {"models", per_model}};
  }
  if (o.format == "json") {
    write_output(o.output, j.dump(2) + "\n");
    return 0;
  }
  if (o.format == "html") {
    write_output(o.output, report::render_html(j));
    return 0;
  }
  if (o.format == "netron") {
    // One attachment per model, with its predicted (and, with --per-kernel, measured)
    // per-node latencies; for a .tflite measured through ONNX the attachment names the
    // converted graph's nodes, so it is written only for models measured as they are.
    std::filesystem::create_directories(o.output);
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const Entry& e = entries[i];
      if (!rows[i].error.empty() || !e.converted.empty()) continue;
      const report::PredictionInput input = prediction_input(bundle, e.prediction, o.predictor);
      const report::Report rep = report::model_report(e.graph, cost::analyze(e.graph), &input,
                                                      e.profiled ? &*e.profiled : nullptr, measure::machine_context());
      write_output((std::filesystem::path(o.output) / (files[i].filename().string() + ".netron.json")).string(),
                   report::render(rep, report::Format::kNetron));
    }
    return 0;
  }
  std::string text = "statistic: " + o.stat + " (" +
                     (o.stat == "median" ? std::string("the median round of the per-round medians")
                                         : std::string("the fastest run of all rounds")) +
                     ")\nmodel                                measured ms    cv%  spread%   predicted ms   error%  " +
                     (o.stat == "median" ? "vs min%" : "vs med%") + "  FLOPs-prop err%   conv-only err%\n";
  for (const auto& m : j["models"]) {
    char row[420];
    if (m.contains("error")) {
      std::snprintf(row, sizeof row, "%-36.36s failed: %s\n", m["model"].get<std::string>().c_str(),
                    m["error"].get<std::string>().substr(0, 200).c_str());
    } else {
      const double meas = m["measured_ms"];
      const double other = o.stat == "median" ? m["min_ms"].get<double>() : m["median_ms"].get<double>();
      const double pred = m["predicted_ms"].get<double>();
      std::snprintf(
          row, sizeof row, "%-36.36s %11.3f %6.1f %8.1f %14.3f %8.1f %8.1f %17.1f %16.1f%s\n",
          m["model"].get<std::string>().c_str(), meas, 100 * m["measured_cv"].get<double>(),
          100 * m["spread"].get<double>(), pred, m["error_pct"].get<double>(),
          other > 0 ? 100 * (pred - other) / other : 0.0, 100 * (m["baseline_flops_ms"].get<double>() - meas) / meas,
          100 * (m["baseline_conv_only_ms"].get<double>() - meas) / meas,
          m["extrapolated_kernels"].get<int>() > 0
              ? ("  (" + std::to_string(m["extrapolated_kernels"].get<int>()) + " kernels extrapolated)").c_str()
              : "");
    }
    text += row;
  }
  const auto& s = j["summary"];
  char summary[900];
  std::snprintf(
      summary, sizeof summary,
      "\nmodels %d (failed %d)   within ±5%%: %.0f%%   within ±10%%: %.0f%%   MAPE %.1f%%   RMSE %.3f ms   "
      "median measurement CV %.1f%%, median spread of rounds %.1f%%\n"
      "against the %s instead: within ±5%%: %.0f%%   within ±10%%: %.0f%%   MAPE %.1f%%\nbaselines: FLOPs-proportional "
      "(%.1f GFLOP/s) within ±10%%: %.0f%% "
      "MAPE %.1f%%;  conv-only summed within ±10%%: %.0f%% MAPE %.1f%%\n",
      s["n"].get<int>(), s["failed"].get<int>(), 100 * s["within5"].get<double>(), 100 * s["within10"].get<double>(),
      s["mape"].get<double>(), s["rmse_ms"].get<double>(), 100 * s["median_measurement_cv"].get<double>(),
      100 * s["median_spread"].get<double>(), o.stat == "median" ? "fastest run" : "median round",
      100 * s["other_stat"]["within5"].get<double>(), 100 * s["other_stat"]["within10"].get<double>(),
      s["other_stat"]["mape"].get<double>(), s["baselines"]["flops"]["gflops"].get<double>(),
      100 * s["baselines"]["flops"]["within10"].get<double>(), s["baselines"]["flops"]["mape"].get<double>(),
      100 * s["baselines"]["conv_only"]["within10"].get<double>(), s["baselines"]["conv_only"]["mape"].get<double>());
  text += summary;
  // The second figures: against the quiet rounds, against the profile's host, and predicted
  // with the host read just before each run (what `predict --read-host` gives).
  const std::pair<const char*, const char*> seconds[] = {
      {"quiet", "against the quiet rounds (a core per thread)"},
      {"host_normalized", "against the times on the profile's host"},
      {"read_host", "predicted with the host read before each run (predict --read-host)"}};
  for (const auto& [key, what] : seconds) {
    if (!s.contains(key)) continue;
    const auto& f = s[key];
    char line[300];
    std::snprintf(line, sizeof line, "%s, %d models: within ±5%%: %.0f%%   within ±10%%: %.0f%%   MAPE %.1f%%\n", what,
                  f["n"].get<int>(), 100 * f["within5"].get<double>(), 100 * f["within10"].get<double>(),
                  f["mape"].get<double>());
    text += line;
  }
  if (j.contains("per_kernel")) {
    const auto& pk = j["per_kernel"];
    char line[300];
    std::snprintf(line, sizeof line,
                  "per kernel (against the runtime's per-layer medians, median of %d rounds): %d kernels, MAPE %.1f%% "
                  "(%.1f%% against the first round alone), time-weighted error %.1f%%, %.1f%% of layer time in layers "
                  "no kernel claims\n",
                  pk["rounds"].get<int>(), pk["kernels"].get<int>(), pk["mape"].get<double>(),
                  pk["mape_first_round"].get<double>(), 100 * pk["time_weighted_error"].get<double>(),
                  100 * pk["unmapped_share"].get<double>());
    text += line;
  }
  write_output(o.output, text);
  return 0;
}

}  // namespace

void register_validate(CLI::App& app, Action& action) {
  auto options = std::make_shared<ValidateOptions>();
  CLI::App* cmd = app.add_subcommand("validate", "Measure models on a runtime and compare with a predictor");
  cmd->add_option("models", options->models, "model files or folders")->required();
  cmd->add_option("--predictor", options->predictor, "predictor bundle")->required();
  cmd->add_option("--runtime", options->runtime, "runtime to measure on (must be the bundle's)")->required();
  cmd->add_option("--repeat", options->protocol.min_repeats, "at least this many timed runs")->capture_default_str();
  cmd->add_option("--min-time", options->protocol.min_time_s, "and at least this many seconds")->capture_default_str();
  cmd->add_option("--stat", options->stat,
                  "measured statistic compared: median (the median round of per-round medians: what a user sees), "
                  "or min (the fastest run of all rounds); both are reported")
      ->capture_default_str();
  cmd->add_option("--rounds", options->rounds, "rounds over all the models, each in a fresh session")
      ->capture_default_str();
  cmd->add_flag("--per-kernel", options->per_kernel,
                "also run each model with the runtime's per-layer profiler in every round and compare every "
                "kernel's prediction with its layers' times (median over the rounds)");
  cmd->add_option("--format", options->format, "table | json | html | netron (-o FOLDER)")->capture_default_str();
  cmd->add_option("-o,--output", options->output, "write to FILE instead of stdout");
  cmd->callback([options, &action] { action = [options] { return run_validate(*options); }; });
}

}  // namespace infercast::cli
