// Validation summary and baselines (include/infercast/predict/validate.hpp).
#include "infercast/predict/validate.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <string_view>

#include "infercast/bench/timing.hpp"
#include "infercast/measure/measure.hpp"

namespace infercast::predict {

namespace {

int kernel_of_layer(std::string layer, const std::map<std::string, int>& kernel_of_node) {
  constexpr std::string_view kFused = "fused ";
  if (layer.starts_with(kFused)) layer.erase(0, kFused.size());
  if (const auto it = kernel_of_node.find(layer); it != kernel_of_node.end()) return it->second;
  auto it = kernel_of_node.upper_bound(layer);
  while (it != kernel_of_node.begin()) {
    --it;
    if (layer.rfind(it->first, 0) == 0 && !it->first.empty()) return it->second;
    if (it->first.empty() || it->first[0] != layer[0]) break;
  }
  return -1;
}

}  // namespace

KernelTimes kernel_times(const ir::Graph& graph, const Prediction& p, const std::vector<runtime::LayerTiming>& layers,
                         double layer_excess_ms) {
  std::map<std::string, int> kernel_of_node;
  for (std::size_t k = 0; k < p.kernels.size(); ++k)
    for (int node : p.kernels[k].nodes)
      kernel_of_node[graph.nodes[static_cast<std::size_t>(node)].name] = static_cast<int>(k);
  std::vector<int> owner(layers.size(), -1);
  for (std::size_t i = 0; i < layers.size(); ++i) owner[i] = kernel_of_layer(layers[i].name, kernel_of_node);
  const auto reordered = [&](int k) {
    return k >= 0 && bench::nchwc_reordered(p.kernels[static_cast<std::size_t>(k)].type);
  };
  // Backwards for the ReorderOutputs: a gate's scaled tensor and its [1, C, 1, 1] scale
  // are converted one after the other (mobilenet_v3_small).
  for (std::size_t i = layers.size(); i-- > 0;)
    if (owner[i] < 0 && layers[i].op == "ReorderOutput" && i + 1 < layers.size() && reordered(owner[i + 1]))
      owner[i] = owner[i + 1];
  for (std::size_t i = 1; i < layers.size(); ++i)
    if (owner[i] < 0 && layers[i].op == "ReorderInput" && reordered(owner[i - 1])) owner[i] = owner[i - 1];
  KernelTimes t;
  t.ms.assign(p.kernels.size(), 0.0);
  t.layers.assign(p.kernels.size(), 0);
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const double ms = std::max(layers[i].ms.median - layer_excess_ms, 0.1 * layers[i].ms.median);
    if (owner[i] < 0) {
      t.unmapped_ms += ms;
    } else {
      t.ms[static_cast<std::size_t>(owner[i])] += ms;
      ++t.layers[static_cast<std::size_t>(owner[i])];
    }
  }
  return t;
}

double conv_only_ms(const Prediction& p) {
  double sum = 0;
  for (std::size_t i = 0; i < p.kernels.size(); ++i) {
    const std::string& f = p.kernels[i].family;
    if (f == "conv" || f == "gconv" || f == "dwconv") sum += p.per_kernel[i].ms;
  }
  return sum;
}

namespace {

struct Errors {
  double within5 = 0, within10 = 0, mape = 0, rmse_ms = 0;
};

Errors errors(const std::vector<double>& predicted, const std::vector<double>& measured) {
  Errors e;
  if (measured.empty()) return e;
  for (std::size_t i = 0; i < measured.size(); ++i) {
    const double rel = std::abs(predicted[i] - measured[i]) / measured[i];
    e.within5 += rel <= 0.05 ? 1 : 0;
    e.within10 += rel <= 0.10 ? 1 : 0;
    e.mape += rel;
    e.rmse_ms += std::pow(predicted[i] - measured[i], 2);
  }
  const double n = static_cast<double>(measured.size());
  e.within5 /= n;
  e.within10 /= n;
  e.mape = 100 * e.mape / n;
  e.rmse_ms = std::sqrt(e.rmse_ms / n);
  return e;
}

}  // namespace

nlohmann::json validation_json(const std::vector<ValidationRow>& rows, const std::string& predictor,
                               const std::string& runtime) {
  std::vector<double> measured, predicted, conv_only, cvs, other, spreads, quiet, quiet_predicted, host, host_predicted,
      read_measured, read_predicted;
  int rounds = 0, contended = 0;
  double log_rate = 0;
  int with_flops = 0;
  for (const ValidationRow& r : rows) {
    if (!r.error.empty()) continue;
    measured.push_back(r.measured_ms);
    predicted.push_back(r.predicted_ms);
    conv_only.push_back(r.conv_only_ms);
    cvs.push_back(r.measured_cv);
    spreads.push_back(r.spread);
    other.push_back(r.measured_ms == r.median_ms ? r.min_ms : r.median_ms);
    for (double share : r.rounds_core_share) {
      ++rounds;
      contended += share < measure::kQuietCoreShare ? 1 : 0;
    }
    if (r.quiet_median_ms > 0) {
      quiet.push_back(r.quiet_median_ms);
      quiet_predicted.push_back(r.predicted_ms);
    }
    if (r.host_median_ms > 0) {
      host.push_back(r.host_median_ms);
      host_predicted.push_back(r.predicted_ms);
    }
    if (r.host_read_predicted_ms > 0) {
      read_measured.push_back(r.measured_ms);
      read_predicted.push_back(r.host_read_predicted_ms);
    }
    if (r.flops > 0) {
      log_rate += std::log(r.flops / r.measured_ms);
      ++with_flops;
    }
  }
  const double rate = with_flops > 0 ? std::exp(log_rate / with_flops) : 0;  // FLOP per ms
  std::vector<double> flops_pred;
  nlohmann::json models = nlohmann::json::array();
  for (const ValidationRow& r : rows) {
    nlohmann::json row = {{"model", r.model}};
    if (!r.error.empty()) {
      row["error"] = r.error;
      models.push_back(row);
      continue;
    }
    const double fp = rate > 0 ? r.flops / rate : 0;
    flops_pred.push_back(fp);
    row.update({{"measured_ms", r.measured_ms},
                {"measured_cv", r.measured_cv},
                {"rounds_ms", r.rounds_ms},
                {"median_ms", r.median_ms},
                {"min_ms", r.min_ms},
                {"spread", r.spread},
                {"extrapolated_kernels", r.extrapolated_kernels},
                {"predicted_ms", r.predicted_ms},
                {"interval_ms", {r.lo_ms, r.hi_ms}},
                {"error_pct", 100 * (r.predicted_ms - r.measured_ms) / r.measured_ms},
                {"within10", std::abs(r.predicted_ms - r.measured_ms) <= 0.1 * r.measured_ms},
                {"kernels", r.kernels},
                {"estimated_kernels", r.estimated_kernels},
                {"baseline_flops_ms", fp},
                {"baseline_conv_only_ms", r.conv_only_ms}});
    if (!r.rounds_core_share.empty())
      row.update({{"rounds_core_share", r.rounds_core_share},
                  {"quiet_rounds", r.quiet_rounds},
                  {"quiet_median_ms", r.quiet_median_ms}});
    if (!r.rounds_host_speed.empty())
      row.update({{"rounds_host_speed", r.rounds_host_speed}, {"host_median_ms", r.host_median_ms}});
    if (!r.rounds_host_before.empty())
      row.update({{"rounds_host_before", r.rounds_host_before}, {"host_read_predicted_ms", r.host_read_predicted_ms}});
    models.push_back(row);
  }
  const Errors e = errors(predicted, measured);
  const Errors ef = errors(flops_pred, measured);
  const Errors ec = errors(conv_only, measured);
  bool have_other = !other.empty();
  for (double v : other) have_other = have_other && v > 0;
  const Errors eo = have_other ? errors(predicted, other) : Errors{};
  auto middle = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  const double median_cv = middle(cvs);
  nlohmann::json doc = {{"predictor", predictor},
                        {"runtime", runtime},
                        {"models", models},
                        {"summary",
                         {{"n", measured.size()},
                          {"failed", rows.size() - measured.size()},
                          {"within5", e.within5},
                          {"within10", e.within10},
                          {"rmse_ms", e.rmse_ms},
                          {"mape", e.mape},
                          {"median_measurement_cv", median_cv},
                          {"median_spread", middle(spreads)},
                          {"other_stat", {{"within5", eo.within5}, {"within10", eo.within10}, {"mape", eo.mape}}},
                          {"baselines",
                           {{"flops", {{"gflops", rate / 1e6}, {"within10", ef.within10}, {"mape", ef.mape}}},
                            {"conv_only", {{"within10", ec.within10}, {"mape", ec.mape}}}}}}}};
  if (rounds > 0) {
    // Against the rounds that had a core per thread, over the models that had one.
    const Errors eq = errors(quiet_predicted, quiet);
    doc["summary"]["quiet"] = {{"n", quiet.size()},     {"rounds", rounds},        {"contended_rounds", contended},
                               {"within5", eq.within5}, {"within10", eq.within10}, {"mape", eq.mape}};
  }
  if (!host.empty()) {
    // Against each model's time on the host the labels describe (ValidationRow::host_median_ms).
    const Errors eh = errors(host_predicted, host);
    doc["summary"]["host_normalized"] = {
        {"n", host.size()}, {"within5", eh.within5}, {"within10", eh.within10}, {"mape", eh.mape}};
  }
  if (!read_measured.empty()) {
    // Predicted with the host read just before each run (ValidationRow::host_read_predicted_ms)
    // against the statistic measured_ms is.
    const Errors er = errors(read_predicted, read_measured);
    doc["summary"]["read_host"] = {
        {"n", read_measured.size()}, {"within5", er.within5}, {"within10", er.within10}, {"mape", er.mape}};
  }
  return doc;
}

}  // namespace infercast::predict
