// Latency regressors for one kernel family, all predicting milliseconds from Features:
//
//   gbm       XGBoost gradient boosting on log(latency / roofline) (C API)
//   forest    XGBoost's random-forest mode on log(latency / roofline): one round of
//             num_parallel_tree trees, row subsample and per-node column subsample, eta 1
//   roofline  max(FLOPs / peak, bytes / bandwidth) + overhead, ceilings fitted from data;
//             kernels moving more than a knee (the last-level cache; for FCs half to all
//             of it, fitted) stream at the DRAM ceiling
//
// The trees learn the residual over the family's roofline, not the latency itself: a
// tree returns its nearest leaf beyond the data, so a kernel larger than any sample
// (vgg's 25088x4096 FC, a conv wider than the space) scales with the physics and carries
// the residual of its nearest neighbours, instead of being capped at the largest label.
//
// Working in log latency makes the loss relative, so a 20 µs kernel counts as much as a
// 20 ms one. Model selection is k-fold cross-validation on the log error, each kernel
// weighted by its measured time (a model's error is dominated by its heavy kernels).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "infercast/predict/kernels.hpp"

namespace infercast::predict {

enum class ModelKind { kGbm, kForest, kRoofline };
std::string model_kind_name(ModelKind kind);
// Throws Error(kInvalidArgument) for an unknown name.
ModelKind model_kind_from_name(const std::string& name);

struct Sample {
  Features x{};
  KernelCost cost;
  double latency_ms = 0;  // > 0
};

// The roofline with its ceilings in per-millisecond units.
struct Roofline {
  double flops_per_ms = 1;  // achieved peak compute
  double bytes_per_ms = 1;  // achieved bandwidth of kernels that fit the last-level cache
  double overhead_ms = 0;   // per-kernel fixed cost
  // The fixed cost of each activation input beyond the first (KernelCost::inputs) of a kernel
  // of more than one output position: a kernel that runs an operator per input pays a
  // dispatch per input. Fitted only on a family with kernels of 3 or more such inputs
  // (concat); 0 elsewhere.
  double overhead_per_input_ms = 0;
  // Kernels moving more than llc_bytes (the knee: the last-level cache or less, fitted)
  // stream from DRAM at dram_bytes_per_ms; 0 = one bandwidth for all (no LLC size known,
  // or no such kernel measured).
  double llc_bytes = 0;
  double dram_bytes_per_ms = 0;
  double predict_ms(const KernelCost& cost) const;
  // Fitted to minimize the squared log error: the overhead a fraction of the smallest
  // kernel's latency, the ceilings the best achieved rates scaled down by a grid search;
  // with `llc_bytes` (the last-level cache), the knee is searched at 1, 7/8, 3/4, 5/8 and 1/2
  // of it, down to `lowest_knee` of it, and the DRAM ceiling the same way on the kernels
  // beyond it, each knee with at least 3 such kernels. Throws Error(kInvalidArgument) on
  // no samples.
  static Roofline fit(std::span<const Sample> samples, double llc_bytes = 0, double lowest_knee = 1.0);
  nlohmann::json to_json() const;
  static Roofline from_json(const nlohmann::json& j);
};

// An XGBoost booster (gbm or forest), fitted on log(latency_ms).
class XgbModel {
 public:
  XgbModel();
  ~XgbModel();
  XgbModel(XgbModel&&) noexcept;
  XgbModel& operator=(XgbModel&&) noexcept;

  // Fits ln(latency / baseline) (ln latency without a baseline). Throws
  // Error(kInvalidArgument) on no samples and Error(kUnsupported) when XGBoost fails.
  void fit(std::span<const Sample> samples, ModelKind kind, std::uint64_t seed = 1, const Roofline* baseline = nullptr);
  // The baseline of a loaded model (the bundle stores it beside the trees).
  void set_baseline(const Roofline& baseline) { baseline_ = baseline; }
  // Predicted milliseconds for `rows` feature vectors laid out contiguously (the
  // baseline's FLOPs and bytes are read back from the log2 features).
  std::vector<double> predict_ms(std::span<const Features> rows) const;
  // XGBoost's own model format (UBJSON).
  std::vector<char> save() const;
  void load(std::span<const char> bytes);
  bool empty() const noexcept { return handle_ == nullptr; }

 private:
  void* handle_ = nullptr;
  std::optional<Roofline> baseline_;
};

// Cross-validated error of one model kind on one family.
struct CvScore {
  int n = 0;
  double rmse_log = 0;        // root mean squared error of ln(predicted / measured)
  double rmspe = 0;           // root mean squared percentage error, in percent
  double within10 = 0;        // fraction of kernels within ±10%
  double rmse_log_timed = 0;  // the same, each kernel weighted by its measured time
};
nlohmann::json to_json(const CvScore& s);

// k-fold CV (deterministic shuffle by `seed`); with fewer than 2k samples, leave-one-out
// over at most 2k folds. Throws Error(kInvalidArgument) on fewer than 3 samples.
// XGBoost kinds are fitted over the training folds' roofline (with `llc_bytes` and
// `lowest_knee`), as train() does.
CvScore cross_validate(std::span<const Sample> samples, ModelKind kind, int folds = 5, std::uint64_t seed = 1,
                       double llc_bytes = 0, double lowest_knee = 1.0);

// The roofline cost a feature row describes (log2_flops and log2_bytes read back).
KernelCost cost_of_features(const Features& x);

// The error statistics of predictions against measurements.
CvScore score(std::span<const double> predicted_ms, std::span<const double> measured_ms);

}  // namespace infercast::predict
