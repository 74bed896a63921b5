#include <fmt/format.h>

#include "infercast/report/run_report.hpp"

namespace infercast::report {
namespace {

using nlohmann::json;

json stats_json(const measure::Stats& s) {
  return {{"median", s.median}, {"mean", s.mean}, {"min", s.min}, {"max", s.max},
          {"std", s.std},       {"cv", s.cv},     {"n", s.n}};
}

}  // namespace

Report run_report(const runtime::RunResult& result, const RunContext& context) {
  Report report;
  json& doc = report.json;
  const measure::Protocol& p = context.protocol;
  const measure::MachineContext& m = context.machine;
  doc["model"] = context.model;
  doc["runtime"] = result.runtime;
  doc["runtime_version"] = result.runtime_version;
  doc["threads"] = result.threads;
  doc["seed"] = context.seed;
  if (!result.context_note.empty()) doc["context_note"] = result.context_note;
  doc["latency_ms"] = stats_json(result.latency_ms);
  doc["protocol"] = {{"warmup", p.warmup},         {"min_repeats", p.min_repeats},
                     {"min_time_s", p.min_time_s}, {"max_repeats", p.max_repeats},
                     {"cv_target", p.cv_target},   {"max_remeasure", p.max_remeasure}};
  doc["machine"] = {{"cpu_model", m.cpu_model},
                    {"cores", m.cores},
                    {"machine_id", m.machine_id},
                    {"hostname", m.hostname},
                    {"timestamp_utc", m.timestamp_utc}};

  double layer_sum = 0;
  for (const runtime::LayerTiming& layer : result.layers) layer_sum += layer.ms.median;
  Table layer_table{"Layers (each node timed by the runtime's profiler; share of the layers' sum)",
                    {{"index", "#", Unit::kNone},
                     {"name", "name", Unit::kNone},
                     {"op", "op", Unit::kNone},
                     {"median_ms", "median ms", Unit::kNone},
                     {"mean_ms", "mean ms", Unit::kNone},
                     {"min_ms", "min ms", Unit::kNone},
                     {"cv", "CV", Unit::kRatio},
                     {"n", "n", Unit::kCount},
                     {"share", "share", Unit::kRatio}},
                    {},
                    true};
  json layers = json::array();
  for (std::size_t i = 0; i < result.layers.size(); ++i) {
    const runtime::LayerTiming& layer = result.layers[i];
    json row = {{"index", i},
                {"name", layer.name},
                {"op", layer.op},
                {"median_ms", layer.ms.median},
                {"mean_ms", layer.ms.mean},
                {"min_ms", layer.ms.min},
                {"max_ms", layer.ms.max},
                {"std_ms", layer.ms.std},
                {"cv", layer.ms.cv},
                {"n", layer.ms.n},
                {"share", layer_sum > 0 ? layer.ms.median / layer_sum : 0.0}};
    layer_table.rows.push_back(row);
    layers.push_back(std::move(row));
  }
  doc["layers"] = std::move(layers);
  doc["layers_median_sum_ms"] = result.layers.empty() ? json(nullptr) : json(layer_sum);

  Table run{"Run", {{"field", "field", Unit::kNone}, {"value", "value", Unit::kNone}}, {}, false};
  auto add = [&](const char* field, const std::string& value) {
    run.rows.push_back({{"field", field}, {"value", value}});
  };
  add("model", context.model);
  add("runtime", result.runtime + " " + result.runtime_version);
  add("threads", std::to_string(result.threads));
  add("protocol",
      fmt::format("{} warm-up, >= {} runs and >= {} s (at most {}), re-measured up to {}x while CV > {}%", p.warmup,
                  p.min_repeats, p.min_time_s, p.max_repeats, p.max_remeasure, p.cv_target * 100));
  if (result.context_note.empty()) {
    add("inputs", fmt::format("random, seed {}", context.seed));
    add("machine",
        fmt::format("{} ({} cores), host {}", m.cpu_model.empty() ? "unknown CPU" : m.cpu_model, m.cores, m.hostname));
  } else {
    add("measured", result.context_note);
    add("host",
        fmt::format("{} ({} cores), host {}", m.cpu_model.empty() ? "unknown CPU" : m.cpu_model, m.cores, m.hostname));
  }
  add("time", m.timestamp_utc);
  report.tables.push_back(std::move(run));

  // One row, so that CSV without --per-layer is one header and one line of numbers.
  const measure::Stats& s = result.latency_ms;
  Table latency{"Latency (ms)",
                {{"runtime", "runtime", Unit::kNone},
                 {"threads", "threads", Unit::kNone},
                 {"median_ms", "median", Unit::kNone},
                 {"mean_ms", "mean", Unit::kNone},
                 {"min_ms", "min", Unit::kNone},
                 {"max_ms", "max", Unit::kNone},
                 {"std_ms", "std", Unit::kNone},
                 {"cv", "CV", Unit::kRatio},
                 {"n", "runs", Unit::kCount},
                 {"layers_median_sum_ms", "layers' sum", Unit::kNone}},
                {},
                false};
  latency.rows.push_back({{"runtime", result.runtime + " " + result.runtime_version},
                          {"threads", result.threads},
                          {"median_ms", s.median},
                          {"mean_ms", s.mean},
                          {"min_ms", s.min},
                          {"max_ms", s.max},
                          {"std_ms", s.std},
                          {"cv", s.cv},
                          {"n", s.n},
                          {"layers_median_sum_ms", doc["layers_median_sum_ms"]}});
  report.tables.push_back(std::move(latency));
  if (!result.layers.empty()) report.tables.push_back(std::move(layer_table));
  return report;
}

}  // namespace infercast::report
