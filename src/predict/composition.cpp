// Whole-model composition over the kernels (include/infercast/predict/composition.hpp).
#include "infercast/predict/composition.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "infercast/base/error.hpp"
#include "infercast/measure/stats.hpp"
#include "infercast/predict/predictor.hpp"

namespace infercast::predict {

namespace {

const std::array<std::string, 5> kGroups = {"conv", "conv_thin", "dwconv", "gemm", "memory"};
constexpr std::size_t kConvGroups = 2;               // conv and conv_thin lead kGroups
constexpr std::size_t kParams = kGroups.size() + 1;  // the scales, then per_kernel_ms
// Ridge weight, per 50 networks: a scale 0.2 away from 1 costs 0.1 * 0.2^2, as much as one
// network predicted 6% off. Enough to hold at 1 a group the networks hardly exercise;
// light against a group that holds much of every network's time.
constexpr double kRidge = 0.1;
constexpr double kMinScale = 0.5, kMaxScale = 2.0;
// The ridge weight that holds a group at 1 (against rows of order 1 per network).
constexpr double kPinned = 1e9;
// kSelect keeps the convolutions' scales where their leave-one-out median error on the networks is at most this
// share of the per-operator cost's alone.
constexpr double kSelectGain = 0.9;

using Params = std::array<double, kParams>;

// Least squares on relative error with the ridge; `fix_cost` pins per_kernel_ms at 0, and
// with `convs_only` every group but the convolutions' stays at 1.
Params solve(const std::vector<const NetworkSample*>& rows, bool fix_cost, bool convs_only) {
  const std::size_t n = fix_cost ? kGroups.size() : kParams;
  std::array<std::array<double, kParams + 1>, kParams> a{};  // normal equations, augmented
  double mean_kernels_per_ms = 0;
  for (const NetworkSample* r : rows) mean_kernels_per_ms += r->kernels / r->measured_ms;
  mean_kernels_per_ms /= std::max<std::size_t>(1, rows.size());
  auto add_row = [&](const std::array<double, kParams>& x, double y, double weight) {
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = 0; j < n; ++j) a[i][j] += weight * x[i] * x[j];
      a[i][n] += weight * x[i] * y;
    }
  };
  for (const NetworkSample* r : rows) {
    std::array<double, kParams> x{};
    for (std::size_t g = 0; g < kGroups.size(); ++g) {
      const auto it = r->group_ms.find(kGroups[g]);
      x[g] = it == r->group_ms.end() ? 0.0 : it->second / r->measured_ms;
    }
    x[kGroups.size()] = r->kernels / r->measured_ms;
    add_row(x, (r->measured_ms - r->overhead_ms) / r->measured_ms, 1.0);
  }
  const double ridge = kRidge * static_cast<double>(rows.size()) / 50.0;
  for (std::size_t g = 0; g < kGroups.size(); ++g) {
    std::array<double, kParams> x{};
    x[g] = 1;
    add_row(x, 1.0, convs_only && g >= kConvGroups ? kPinned : ridge);
  }
  if (!fix_cost) {
    std::array<double, kParams> x{};
    x[kGroups.size()] = mean_kernels_per_ms;  // the cost as a share of a typical network
    add_row(x, 0.0, ridge);
  }
  // Gaussian elimination with partial pivoting; the ridge keeps the system regular.
  for (std::size_t c = 0; c < n; ++c) {
    std::size_t p = c;
    for (std::size_t r = c + 1; r < n; ++r)
      if (std::abs(a[r][c]) > std::abs(a[p][c])) p = r;
    std::swap(a[c], a[p]);
    for (std::size_t r = 0; r < n; ++r) {
      if (r == c || a[c][c] == 0) continue;
      const double f = a[r][c] / a[c][c];
      for (std::size_t k = c; k <= n; ++k) a[r][k] -= f * a[c][k];
    }
  }
  Params out{};
  for (std::size_t i = 0; i < n; ++i) out[i] = a[i][i] != 0 ? a[i][n] / a[i][i] : (i < kGroups.size() ? 1.0 : 0.0);
  return out;
}

// Every scale 1, per_kernel_ms by least squares on relative error (at least 0).
Params fit_cost(const std::vector<const NetworkSample*>& rows) {
  double xx = 0, xy = 0;
  for (const NetworkSample* r : rows) {
    double kernels_ms = r->overhead_ms;
    for (const auto& [group, ms] : r->group_ms) kernels_ms += ms;
    const double x = r->kernels / r->measured_ms;
    xx += x * x;
    xy += x * (r->measured_ms - kernels_ms) / r->measured_ms;
  }
  Params p{};
  p.fill(1.0);
  p[kGroups.size()] = xx > 0 ? std::max(0.0, xy / xx) : 0.0;
  return p;
}

Params fit(const std::vector<const NetworkSample*>& rows, bool convs_only) {
  Params p = solve(rows, false, convs_only);
  if (!(p[kGroups.size()] >= 0)) p = solve(rows, true, convs_only);  // a negative per-kernel cost is noise
  for (std::size_t g = 0; g < kGroups.size(); ++g) p[g] = std::clamp(p[g], kMinScale, kMaxScale);
  if (convs_only)
    for (std::size_t g = kConvGroups; g < kGroups.size(); ++g) p[g] = 1.0;
  return p;
}

Params fit_as(CompositionFit how, const std::vector<const NetworkSample*>& rows) {
  switch (how) {
    case CompositionFit::kCost: return fit_cost(rows);
    case CompositionFit::kConvs: return fit(rows, true);
    default: return fit(rows, false);
  }
}

double compose_ms(const Params& p, const NetworkSample& r) {
  double ms = r.overhead_ms + p[kGroups.size()] * r.kernels;
  for (std::size_t g = 0; g < kGroups.size(); ++g) {
    const auto it = r.group_ms.find(kGroups[g]);
    if (it != r.group_ms.end()) ms += p[g] * it->second;
  }
  return ms;
}

nlohmann::json accuracy(const std::vector<double>& predicted, const std::vector<const NetworkSample*>& rows) {
  std::vector<double> errors;
  double within10 = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const double e = std::abs(predicted[i] - rows[i]->measured_ms) / rows[i]->measured_ms;
    errors.push_back(100 * e);
    within10 += e <= 0.10 ? 1 : 0;
  }
  return {{"within10", rows.empty() ? 0.0 : within10 / static_cast<double>(rows.size())},
          {"median_abs_pct", errors.empty() ? 0.0 : measure::median(errors)}};
}

}  // namespace

const std::string& composition_group(const std::string& family) {
  static const std::string conv = "conv", dw = "dwconv", gemm = "gemm", memory = "memory";
  if (family == "conv" || family == "gconv" || family == "convtranspose") return conv;
  if (family == "dwconv") return dw;
  if (family == "fc" || family == "se_conv" || family == "matmul" || family == "einsum") return gemm;
  return memory;
}

const std::string& scale_group(const Kernel& kernel) {
  static const std::string thin = "conv_thin";
  const std::string& group = composition_group(kernel.family);
  if (group == "conv" && output_positions(kernel) <= kThinConvPositions) return thin;
  return group;
}

nlohmann::json Composition::to_json() const {
  return {
      {"scale", scale}, {"per_kernel_ms", per_kernel_ms}, {"networks", networks}, {"fit", fit}, {"quality", quality}};
}

Composition Composition::from_json(const nlohmann::json& j, const std::string& file) {
  Composition c;
  try {
    c.scale = j.value("scale", std::map<std::string, double>{});
    c.per_kernel_ms = j.value("per_kernel_ms", 0.0);
    c.networks = j.value("networks", 0);
    c.fit = j.value("fit", std::string());
    c.quality = j.value("quality", nlohmann::json::object());
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::kBadModel, file, "composition", e.what());
  }
  // A fit from before conv_thin gave those convolutions the conv scale.
  if (c.scale.count("conv") != 0 && c.scale.count("conv_thin") == 0) c.scale["conv_thin"] = c.scale["conv"];
  for (const auto& [group, s] : c.scale)
    if (!(s > 0 && s <= 10))
      throw Error(ErrorKind::kBadModel, file, "composition", "scale of " + group + " out of range");
  if (!(c.per_kernel_ms >= 0) || !std::isfinite(c.per_kernel_ms))
    throw Error(ErrorKind::kBadModel, file, "composition", "per_kernel_ms must be a finite number >= 0");
  return c;
}

NetworkSample network_sample(const std::string& name, double measured_ms, const Prediction& p, double overhead_ms) {
  NetworkSample s;
  s.name = name;
  s.measured_ms = measured_ms;
  s.overhead_ms = overhead_ms;
  for (std::size_t i = 0; i < p.kernels.size(); ++i) {
    if (p.kernels[i].removed || p.per_kernel[i].source == kEstimateSource) continue;
    s.group_ms[scale_group(p.kernels[i])] += p.per_kernel[i].ms;
    ++s.kernels;
  }
  return s;
}

Composition fit_composition(const std::vector<NetworkSample>& samples, CompositionFit how) {
  std::vector<const NetworkSample*> rows;
  for (const NetworkSample& s : samples)
    if (s.measured_ms > 0 && std::isfinite(s.measured_ms) && s.kernels > 0) rows.push_back(&s);
  Composition c;
  if (rows.size() < 8) return c;
  // Each network predicted by a fit without it.
  auto leave_one_out = [&rows](CompositionFit fit_how) {
    std::vector<double> loo;
    std::vector<const NetworkSample*> rest;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      rest.clear();
      for (std::size_t j = 0; j < rows.size(); ++j)
        if (j != i) rest.push_back(rows[j]);
      loo.push_back(compose_ms(fit_as(fit_how, rest), *rows[i]));
    }
    return loo;
  };
  std::vector<double> before;
  Params identity{};
  identity.fill(1.0);
  identity[kGroups.size()] = 0;
  for (const NetworkSample* r : rows) before.push_back(compose_ms(identity, *r));
  std::vector<double> loo;
  if (how == CompositionFit::kSelect) {
    std::vector<double> cost = leave_one_out(CompositionFit::kCost), convs = leave_one_out(CompositionFit::kConvs);
    const double cost_err = accuracy(cost, rows).at("median_abs_pct").get<double>();
    const double convs_err = accuracy(convs, rows).at("median_abs_pct").get<double>();
    c.quality["select"] = {{"cost", accuracy(cost, rows)}, {"convs", accuracy(convs, rows)}};
    const bool keep_convs = convs_err <= kSelectGain * cost_err;
    how = keep_convs ? CompositionFit::kConvs : CompositionFit::kCost;
    loo = keep_convs ? std::move(convs) : std::move(cost);
  } else {
    loo = leave_one_out(how);
  }
  const Params p = fit_as(how, rows);
  for (std::size_t g = 0; g < kGroups.size(); ++g) c.scale[kGroups[g]] = p[g];
  c.per_kernel_ms = p[kGroups.size()];
  c.networks = static_cast<int>(rows.size());
  c.fit = how == CompositionFit::kCost ? "cost" : how == CompositionFit::kConvs ? "convs" : "full";
  c.quality["before"] = accuracy(before, rows);
  c.quality["after_loo"] = accuracy(loo, rows);
  return c;
}

}  // namespace infercast::predict
