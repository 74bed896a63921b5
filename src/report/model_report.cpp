#include "infercast/report/model_report.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

namespace infercast::report {
namespace {

using nlohmann::json;

json stats_json(const measure::Stats& s) {
  return {{"median", s.median}, {"mean", s.mean}, {"min", s.min}, {"max", s.max},
          {"std", s.std},       {"cv", s.cv},     {"n", s.n}};
}

// The node a runtime's layer is named after: the same name, or the longest node name
// that prefixes it; -1 when none does.
int node_of_layer(const std::string& layer, const std::map<std::string, int>& node_of_name) {
  if (const auto it = node_of_name.find(layer); it != node_of_name.end()) return it->second;
  for (std::size_t len = layer.size(); len > 0; --len) {
    if (const auto it = node_of_name.find(layer.substr(0, len)); it != node_of_name.end()) return it->second;
  }
  return -1;
}

}  // namespace

Report model_report(const ir::Graph& graph, const cost::ModelCost& cost, const PredictionInput* prediction,
                    const runtime::RunResult* measured, const measure::MachineContext& machine) {
  Report report = analysis_report(graph, cost);
  json& doc = report.json;
  doc["kind"] = "model";
  const std::size_t n = graph.nodes.size();
  json& layers = doc["layers"];
  for (auto& layer : layers) {
    layer["kernel"] = nullptr;
    layer["predicted_ms"] = nullptr;
    layer["measured_ms"] = nullptr;
  }

  // Measured per-layer medians summed onto the nodes they are named after.
  std::vector<double> node_measured(n, -1.0);
  if (measured != nullptr) {
    std::map<std::string, int> node_of_name;
    for (std::size_t i = 0; i < n; ++i) node_of_name.emplace(graph.nodes[i].name, static_cast<int>(i));
    double unmapped_ms = 0, layers_ms = 0;
    json unmapped = json::array();
    for (const runtime::LayerTiming& l : measured->layers) {
      layers_ms += l.ms.median;
      const int node = node_of_layer(l.name, node_of_name);
      if (node < 0) {
        unmapped_ms += l.ms.median;
        unmapped.push_back({{"name", l.name}, {"op", l.op}, {"ms", l.ms.median}});
        continue;
      }
      double& slot = node_measured[static_cast<std::size_t>(node)];
      slot = std::max(slot, 0.0) + l.ms.median;
    }
    for (std::size_t i = 0; i < n && i < layers.size(); ++i) {
      if (node_measured[i] >= 0) layers[i]["measured_ms"] = node_measured[i];
    }
    doc["measurement"] = {{"runtime", measured->runtime}, {"runtime_version", measured->runtime_version},
                          {"threads", measured->threads}, {"latency_ms", stats_json(measured->latency_ms)},
                          {"layers_ms", layers_ms},       {"unmapped_layers_ms", unmapped_ms},
                          {"unmapped_layers", unmapped},  {"note", measured->context_note}};
  } else {
    doc["measurement"] = nullptr;
  }

  json kernels = json::array();
  if (prediction != nullptr) {
    for (std::size_t k = 0; k < prediction->kernels.size(); ++k) {
      const KernelEstimate& e = prediction->kernels[k];
      double kernel_measured = -1;
      for (std::size_t j = 0; j < e.nodes.size(); ++j) {
        const auto node = static_cast<std::size_t>(e.nodes[j]);
        if (node >= layers.size()) continue;
        layers[node]["kernel"] = k;
        layers[node]["predicted_ms"] = j == 0 ? e.ms : 0.0;
        if (node_measured[node] >= 0) kernel_measured = std::max(kernel_measured, 0.0) + node_measured[node];
      }
      kernels.push_back({{"index", k},
                         {"name", e.name},
                         {"type", e.type},
                         {"family", e.family},
                         {"nodes", e.nodes},
                         {"predicted_ms", e.ms},
                         {"lo_ms", e.lo_ms},
                         {"hi_ms", e.hi_ms},
                         {"source", e.source},
                         {"removed", e.removed},
                         {"measured_ms", kernel_measured >= 0 ? json(kernel_measured) : json(nullptr)},
                         {"flops", e.flops},
                         {"bytes", e.bytes}});
    }
    doc["prediction"] = {{"predictor", prediction->predictor},
                         {"runtime", prediction->runtime},
                         {"runtime_version", prediction->runtime_version},
                         {"threads", prediction->threads},
                         {"latency_ms", prediction->ms},
                         {"interval_ms", {prediction->lo_ms, prediction->hi_ms}},
                         {"ceilings",
                          {{"peak_gflops", prediction->peak_gflops},
                           {"bandwidth_gbs", prediction->bandwidth_gbs},
                           {"dram_bandwidth_gbs", prediction->dram_bandwidth_gbs}}}};
  } else {
    doc["prediction"] = nullptr;
  }
  doc["kernels"] = std::move(kernels);

  // Live activation bytes at each step: a planned tensor is live from the node that
  // writes it through the last node that reads it (cost::plan_memory's lifetimes).
  std::vector<double> delta(n + 1, 0.0);
  for (const cost::Placement& p : cost.memory.placements) {
    const auto first = static_cast<std::size_t>(std::clamp(p.first, 0, static_cast<int>(n)));
    const auto last = static_cast<std::size_t>(std::clamp(p.last, p.first, static_cast<int>(n) - 1));
    if (n == 0) break;
    delta[first] += static_cast<double>(p.size);
    delta[last + 1] -= static_cast<double>(p.size);
  }
  json live = json::array();
  double running = 0;
  for (std::size_t i = 0; i < n; ++i) {
    running += delta[i];
    live.push_back(running);
  }
  doc["memory_timeline"] = {{"live_bytes", live},
                            {"arena_bytes", cost.memory.arena_bytes},
                            {"lower_bound_bytes", cost.memory.lower_bound_bytes}};

  // Edges: producer node → consumer node, once per pair.
  std::vector<int> producer(graph.tensors.size(), -1);
  for (std::size_t i = 0; i < n; ++i) {
    for (int t : graph.nodes[i].outputs) {
      if (t >= 0) producer[static_cast<std::size_t>(t)] = static_cast<int>(i);
    }
  }
  std::set<std::pair<int, int>> seen;
  json edges = json::array();
  for (std::size_t i = 0; i < n; ++i) {
    for (int t : graph.nodes[i].inputs) {
      if (t < 0 || producer[static_cast<std::size_t>(t)] < 0) continue;
      const std::pair<int, int> e{producer[static_cast<std::size_t>(t)], static_cast<int>(i)};
      if (seen.insert(e).second) edges.push_back({e.first, e.second});
    }
  }
  doc["edges"] = std::move(edges);
  doc["machine"] = {{"cpu_model", machine.cpu_model},
                    {"cores", machine.cores},
                    {"hostname", machine.hostname},
                    {"timestamp_utc", machine.timestamp_utc}};
  return report;
}

}  // namespace infercast::report
