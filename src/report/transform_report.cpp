#include "infercast/report/transform_report.hpp"

#include <fmt/format.h>

#include <cmath>

namespace infercast::report {
namespace {

using nlohmann::json;

json number(double v) {
  return std::isfinite(v) ? json(v) : json(nullptr);
}

json cost_row(const std::string& stage, const cost::ModelCost& c) {
  return {{"stage", stage},
          {"nodes", c.layers.size()},
          {"params", c.params},
          {"weight_bytes", c.weight_bytes},
          {"macs", c.macs},
          {"flops", c.flops},
          {"peak_activation_bytes", c.memory.arena_bytes}};
}

std::string change(double before, double after, bool bytes) {
  auto text = [&](double v) { return bytes ? human_bytes(v) : human_count(v); };
  std::string out = text(before) + " -> " + text(after);
  if (before > 0 && before != after) out += fmt::format(" ({:+.1f}%)", 100.0 * (after - before) / before);
  return out;
}

}  // namespace

Report transform_report(const TransformSummary& s) {
  Report report;
  json& doc = report.json;
  doc["model"] = s.model;
  doc["output"] = s.output;
  doc["to"] = s.to;
  doc["passes"] = json::array();
  doc["costs"] = json::array();
  doc["tiled_layers"] = json::array();
  Table stages{"Passes",
               {{"stage", "stage", Unit::kNone},
                {"rewrites", "rewrites", Unit::kCount},
                {"nodes", "nodes", Unit::kCount},
                {"params", "params", Unit::kCount},
                {"weight_bytes", "weights", Unit::kBytes},
                {"macs", "MACs", Unit::kCount},
                {"flops", "FLOPs", Unit::kCount},
                {"peak_activation_bytes", "peak activations", Unit::kBytes},
                {"ms", "ms", Unit::kNone}},
               {},
               false};
  for (const TransformStage& stage : s.stages) {
    if (stage.cost == nullptr) continue;
    json row = cost_row(stage.name, *stage.cost);
    doc["costs"].push_back(row);
    if (stage.name != "input") {
      doc["passes"].push_back({{"pass", stage.name},
                               {"rewrites", stage.rewrites},
                               {"ms", stage.ms},
                               {"notes", stage.notes},
                               {"details", stage.details}});
      if (stage.details.is_object() && stage.details.contains("layers")) {
        for (const auto& layer : stage.details["layers"]) doc["tiled_layers"].push_back(layer);
      }
    }
    row["rewrites"] = stage.name == "input" ? json("") : json(stage.rewrites);
    row["ms"] = stage.name == "input" ? std::string() : fmt::format("{:.1f}", stage.ms);
    stages.rows.push_back(std::move(row));
  }
  Table totals{"Before -> after", {{"field", "field", Unit::kNone}, {"value", "value", Unit::kNone}}, {}, false};
  if (s.stages.size() >= 1 && s.stages.front().cost && s.stages.back().cost) {
    const cost::ModelCost& a = *s.stages.front().cost;
    const cost::ModelCost& b = *s.stages.back().cost;
    doc["total"] = {{"nodes", {a.layers.size(), b.layers.size()}},
                    {"params", {a.params, b.params}},
                    {"weight_bytes", {a.weight_bytes, b.weight_bytes}},
                    {"macs", {a.macs, b.macs}},
                    {"flops", {a.flops, b.flops}},
                    {"peak_activation_bytes", {a.memory.arena_bytes, b.memory.arena_bytes}}};
    auto add = [&](const std::string& field, double x, double y, bool bytes) {
      totals.rows.push_back({{"field", field}, {"value", change(x, y, bytes)}});
    };
    totals.rows.push_back(
        {{"field", "nodes"}, {"value", std::to_string(a.layers.size()) + " -> " + std::to_string(b.layers.size())}});
    add("params", static_cast<double>(a.params), static_cast<double>(b.params), false);
    add("weight bytes", static_cast<double>(a.weight_bytes), static_cast<double>(b.weight_bytes), true);
    add("MACs", static_cast<double>(a.macs), static_cast<double>(b.macs), false);
    add("FLOPs", static_cast<double>(a.flops), static_cast<double>(b.flops), false);
    add("peak activation memory", static_cast<double>(a.memory.arena_bytes), static_cast<double>(b.memory.arena_bytes),
        true);
  }
  if (!s.predictor.empty() && s.predicted_before_ms && s.predicted_after_ms) {
    doc["predicted_ms"] = {
        {"predictor", s.predictor}, {"before", *s.predicted_before_ms}, {"after", *s.predicted_after_ms}};
    totals.rows.push_back(
        {{"field", "predicted latency"},
         {"value", fmt::format("{:.3f} ms -> {:.3f} ms", *s.predicted_before_ms, *s.predicted_after_ms)}});
  } else {
    doc["predicted_ms"] = nullptr;
  }
  const bool allclose = s.tolerance.rule == runtime::Tolerance::Rule::kAllclose;
  doc["verify"] = json::array();
  bool pass = true;
  for (const TransformCheck& c : s.checks) {
    pass = pass && c.pass;
    json outputs = json::array();
    for (const auto& o : c.outputs) {
      outputs.push_back({{"name", o.name},
                         {"shape", o.dims},
                         {"max_abs_error", number(o.max_abs_error)},
                         {"max_rel_error", number(o.max_rel_error)},
                         {"mismatches", o.mismatches},
                         {"pass", o.pass},
                         {"note", o.note}});
    }
    doc["verify"].push_back(
        {{"runtime", c.runtime},
         {"version", c.version},
         {"rule", allclose ? "allclose" : "scaled"},
         {"rtol", allclose ? json(s.tolerance.rtol) : json(nullptr)},
         {"atol", allclose ? json(s.tolerance.atol) : json(nullptr)},
         {"tolerance", allclose ? json(nullptr) : json(s.tolerance.scaled)},
         {"pass", c.pass},
         {"max_abs_error", number(c.max_abs_error)},
         {"max_rel_error", number(c.max_rel_error)},
         {"latency_ms", c.timed ? json{{"before", c.before_ms}, {"after", c.after_ms}} : json(nullptr)},
         {"outputs", outputs}});
    std::string verdict = c.pass ? "pass" : "FAIL";
    verdict += fmt::format(" (max abs err {:.3g}, max rel err {:.3g}", c.max_abs_error, c.max_rel_error);
    verdict += allclose ? fmt::format("; allclose rtol {} atol {})", s.tolerance.rtol, s.tolerance.atol)
                        : fmt::format("; scaled {})", s.tolerance.scaled);
    totals.rows.push_back({{"field", c.runtime + " " + c.version}, {"value", verdict}});
    if (c.timed) {
      totals.rows.push_back({{"field", c.runtime + " latency (median)"},
                             {"value", fmt::format("{:.3f} ms -> {:.3f} ms", c.before_ms, c.after_ms)}});
    }
  }
  doc["pass"] = pass;
  Table tiled{"Tiled layers",
              {{"node", "node", Unit::kNone},
               {"shape", "M x K x N", Unit::kNone},
               {"tiles", "tiles mt x kt x nt", Unit::kNone},
               {"nodes", "nodes", Unit::kCount},
               {"nodes_closed_form", "closed form", Unit::kCount},
               {"tile_macs_in_result", "tile MACs", Unit::kCount},
               {"padded_tile_macs", "padded-tile MACs", Unit::kCount},
               {"check", "check", Unit::kNone}},
              {},
              false};
  for (const auto& layer : doc["tiled_layers"]) {
    json row = layer;
    row["shape"] = fmt::format("{}x{}x{}", layer.value("m", 0), layer.value("k", 0), layer.value("n", 0));
    const auto& t = layer["tiles"];
    row["tiles"] =
        fmt::format("{}x{}x{}", t[0].get<std::int64_t>(), t[1].get<std::int64_t>(), t[2].get<std::int64_t>());
    const bool ok = layer.value("nodes_match", false) && layer.value("macs_match", false);
    row["check"] = ok ? "nodes = closed form, MACs = padded-tile MACs" : "MISMATCH";
    tiled.rows.push_back(std::move(row));
  }
  report.tables.push_back(std::move(stages));
  if (!tiled.rows.empty()) report.tables.push_back(std::move(tiled));
  report.tables.push_back(std::move(totals));
  return report;
}

}  // namespace infercast::report
