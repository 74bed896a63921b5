// Regressors (include/infercast/predict/regressor.hpp) over XGBoost's C API.
#include "infercast/predict/regressor.hpp"

#include <xgboost/c_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>

#include "infercast/base/error.hpp"
#include "infercast/base/shared_library.hpp"

namespace infercast::predict {

namespace {

// XGBoost's C API, bound when a predictor is first trained or loaded
// (base/shared_library.hpp): commands that never predict do not load it.
#define INFERCAST_XGBOOST_FUNCTIONS(X) \
  X(XGBGetLastError)                   \
  X(XGBoosterCreate)                   \
  X(XGBoosterFree)                     \
  X(XGBoosterLoadModelFromBuffer)      \
  X(XGBoosterPredictFromDense)         \
  X(XGBoosterSaveModelToBuffer)        \
  X(XGBoosterSetParam)                 \
  X(XGBoosterUpdateOneIter)            \
  X(XGDMatrixCreateFromMat)            \
  X(XGDMatrixFree)                     \
  X(XGDMatrixSetFloatInfo)

struct XgboostApi {
#define INFERCAST_DECLARE(name) decltype(&::name) name = nullptr;
  INFERCAST_XGBOOST_FUNCTIONS(INFERCAST_DECLARE)
#undef INFERCAST_DECLARE
};

const XgboostApi& xgb() {
  static const XgboostApi api = [] {
    static const base::SharedLibrary library(INFERCAST_XGBOOST_SONAME, "predictors (XGBoost)");
    XgboostApi a;
#define INFERCAST_BIND(name) a.name = library.function<decltype(&::name)>(#name);
    INFERCAST_XGBOOST_FUNCTIONS(INFERCAST_BIND)
#undef INFERCAST_BIND
    return a;
  }();
  return api;
}

void check(int rc, const char* what) {
  if (rc != 0) throw Error(ErrorKind::kUnsupported, "", std::string("xgboost ") + what, xgb().XGBGetLastError());
}

// A DMatrix owning nothing but XGBoost's copy of the rows.
struct DMatrix {
  DMatrixHandle handle = nullptr;
  DMatrix(std::span<const Features> rows) {
    check(xgb().XGDMatrixCreateFromMat(reinterpret_cast<const float*>(rows.data()), rows.size(), kFeatureCount,
                                       std::numeric_limits<float>::quiet_NaN(), &handle),
          "DMatrix");
  }
  ~DMatrix() {
    if (handle != nullptr) xgb().XGDMatrixFree(handle);
  }
  DMatrix(const DMatrix&) = delete;
  DMatrix& operator=(const DMatrix&) = delete;
};

}  // namespace

std::string model_kind_name(ModelKind kind) {
  switch (kind) {
    case ModelKind::kGbm: return "gbm";
    case ModelKind::kForest: return "forest";
    case ModelKind::kRoofline: return "roofline";
  }
  return "?";
}

ModelKind model_kind_from_name(const std::string& name) {
  if (name == "gbm") return ModelKind::kGbm;
  if (name == "forest") return ModelKind::kForest;
  if (name == "roofline") return ModelKind::kRoofline;
  throw Error(ErrorKind::kInvalidArgument, "", "model kind", "unknown '" + name + "' (gbm, forest, roofline)");
}

// The inputs beyond the first that Roofline::overhead_per_input_ms charges: none for a kernel
// of one output position, whose copies XNNPACK runs on the calling thread without a dispatch
// (a 9-input concat of 128 channels at 1x1 took 0.6 us at 2 threads, a 12-input one at 4x4
// 38 us).
namespace {
double dispatched_inputs(const KernelCost& cost) {
  return cost.positions > 1.5 ? std::max(0.0, cost.inputs - 1.0) : 0.0;
}
}  // namespace

double Roofline::predict_ms(const KernelCost& cost) const {
  const double bandwidth = dram_bytes_per_ms > 0 && cost.bytes > llc_bytes ? dram_bytes_per_ms : bytes_per_ms;
  return overhead_ms + overhead_per_input_ms * dispatched_inputs(cost) +
         std::max(cost.flops / flops_per_ms, cost.bytes / bandwidth);
}

KernelCost cost_of_features(const Features& x) {
  KernelCost c;
  c.flops = std::max(0.0, std::exp2(static_cast<double>(x[0])) - 1.0);
  c.bytes = std::max(0.0, std::exp2(static_cast<double>(x[1])) - 1.0);
  c.params = std::max(0.0, std::exp2(static_cast<double>(x[2])) - 1.0);
  c.inputs = std::max(1.0, static_cast<double>(x[15]));
  c.positions = std::max(1.0, std::exp2(static_cast<double>(x[19])) - 1.0);
  return c;
}

Roofline Roofline::fit(std::span<const Sample> samples, double llc_bytes, double lowest_knee) {
  if (samples.empty()) throw Error(ErrorKind::kInvalidArgument, "", "roofline", "no samples to fit");
  auto rmse_log = [&](const Roofline& r) {
    double se = 0;
    for (const Sample& s : samples) se += std::pow(std::log(r.predict_ms(s.cost) / s.latency_ms), 2);
    return se;
  };
  // The fixed cost is a fraction of the smallest kernel; the ceilings start at the best
  // achieved rates after it and shrink where that lowers the log error (a few noisy,
  // too-fast kernels otherwise set ceilings no real kernel reaches). `per_input` is
  // overhead_per_input_ms, taken off every latency first.
  Roofline best;
  double best_error = std::numeric_limits<double>::infinity();
  const auto fit_with = [&](double per_input) {
    double min_rest = std::numeric_limits<double>::infinity();
    for (const Sample& s : samples) min_rest = std::min(min_rest, s.latency_ms - per_input * dispatched_inputs(s.cost));
    if (!(min_rest > 0)) return;
    for (double fraction : {0.0, 0.25, 0.5, 0.75, 0.9}) {
      Roofline r;
      r.overhead_ms = fraction * min_rest;
      r.overhead_per_input_ms = per_input;
      double peak = 0, bandwidth = 0;
      for (const Sample& s : samples) {
        const double t = std::max(s.latency_ms - r.overhead_ms - per_input * dispatched_inputs(s.cost), 1e-9);
        peak = std::max(peak, s.cost.flops / t);
        bandwidth = std::max(bandwidth, s.cost.bytes / t);
      }
      if (!(peak > 0)) peak = 1e12;
      if (!(bandwidth > 0)) bandwidth = 1e12;
      for (int i = 0; i < 16; ++i) {
        for (int j = 0; j < 16; ++j) {
          r.flops_per_ms = peak * std::pow(0.8, i);
          r.bytes_per_ms = bandwidth * std::pow(0.8, j);
          const double e = rmse_log(r);
          if (e < best_error) {
            best_error = e;
            best = r;
          }
        }
      }
    }
  };
  fit_with(0.0);
  // The cost per input. XNNPACK's concat copies each input by an operator of its own, whose
  // dispatch to the thread pool costs about 2 us at 2 threads here (a 33-input concat of
  // 48x7x7 tensors: 6 us at 1 thread, 65-83 us at 2), while its bytes are those of a
  // 2-input one. A fixed cost per kernel leaves that to the trees, which do not extrapolate
  // in the input count: a 2-thread profile predicted the 16- and 17-input 7x7 concats of
  // DenseNet-121's last block at 13-14 us against 53-58 us inside the model. On a family
  // with at least 3 kernels of 3 or more inputs (concat), it is searched from half their
  // median latency down by halves, each with the fixed cost and ceilings fitted again,
  // and kept where it lowers the log error.
  std::vector<double> multi;
  for (const Sample& s : samples)
    if (dispatched_inputs(s.cost) > 1.0) multi.push_back(s.latency_ms);
  if (multi.size() >= 3) {
    std::nth_element(multi.begin(), multi.begin() + static_cast<std::ptrdiff_t>(multi.size() / 2), multi.end());
    const double median = multi[multi.size() / 2];
    for (int k = 1; k <= 12; ++k) fit_with(median * std::pow(0.5, k));
  }
  // The DRAM ceiling, and where it starts. A kernel that streams a working set of most of
  // the last-level cache through it on every run finds little of it there the next time:
  // the cache is shared with other cores and tenants and does not replace in LRU order.
  // Measured (int8 one-row FCs on ONNX Runtime, an EPYC host with 32 MiB): 14-18 MB of
  // weights ran at 52-64 bytes/ns, 24-30 MB at 21-35 bytes/ns, as slowly as 49-55 MB did;
  // with the knee at the cache's size, alexnet's 37.8 MB classifier FC was scaled by the
  // 2.3x residual of the 24-30 MB ones and predicted at 4.46 ms against 1.97. So the
  // knee is searched from all of the cache down to `lowest_knee` of it (train() lets the
  // FC family go to half), with the ceiling beyond it.
  if (llc_bytes > 0) {
    const Roofline base = best;
    for (double share : {1.0, 0.875, 0.75, 0.625, 0.5}) {
      if (share < lowest_knee) break;
      const double knee = share * llc_bytes;
      double dram = 0;
      int beyond = 0;
      for (const Sample& s : samples) {
        if (s.cost.bytes <= knee) continue;
        ++beyond;
        dram = std::max(dram, s.cost.bytes / std::max(s.latency_ms - base.overhead_ms, 1e-9));
      }
      if (beyond < 3 || !(dram > 0)) continue;
      // The in-cache ceiling was fitted with the streaming kernels among its samples, which
      // can only have pulled it down: it is searched upwards again beside the DRAM one.
      for (int j = 0; j < 5; ++j) {
        for (int i = 0; i < 24; ++i) {
          Roofline r = base;
          r.llc_bytes = knee;
          r.bytes_per_ms = base.bytes_per_ms * std::pow(1.25, j);
          r.dram_bytes_per_ms = dram * std::pow(0.8, i);
          if (r.dram_bytes_per_ms > r.bytes_per_ms) continue;  // memory is not faster than the cache
          const double e = rmse_log(r);
          if (e < best_error) {
            best_error = e;
            best = r;
          }
        }
      }
    }
  }
  return best;
}

nlohmann::json Roofline::to_json() const {
  return {{"flops_per_ms", flops_per_ms}, {"bytes_per_ms", bytes_per_ms},
          {"overhead_ms", overhead_ms},   {"overhead_per_input_ms", overhead_per_input_ms},
          {"llc_bytes", llc_bytes},       {"dram_bytes_per_ms", dram_bytes_per_ms}};
}

Roofline Roofline::from_json(const nlohmann::json& j) {
  Roofline r;
  r.flops_per_ms = j.at("flops_per_ms").get<double>();
  r.bytes_per_ms = j.at("bytes_per_ms").get<double>();
  r.overhead_ms = j.at("overhead_ms").get<double>();
  r.overhead_per_input_ms = j.value("overhead_per_input_ms", 0.0);
  r.llc_bytes = j.value("llc_bytes", 0.0);
  r.dram_bytes_per_ms = j.value("dram_bytes_per_ms", 0.0);
  if (!(r.flops_per_ms > 0) || !(r.bytes_per_ms > 0) || !(r.overhead_ms >= 0) || !(r.overhead_per_input_ms >= 0) ||
      !(r.llc_bytes >= 0) || !(r.dram_bytes_per_ms >= 0))
    throw Error(ErrorKind::kInvalidArgument, "", "roofline", "ceilings must be positive");
  return r;
}

XgbModel::XgbModel() = default;
XgbModel::~XgbModel() {
  if (handle_ != nullptr) xgb().XGBoosterFree(handle_);
}
XgbModel::XgbModel(XgbModel&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)), baseline_(std::move(other.baseline_)) {}
XgbModel& XgbModel::operator=(XgbModel&& other) noexcept {
  if (this != &other) {
    if (handle_ != nullptr) xgb().XGBoosterFree(handle_);
    handle_ = std::exchange(other.handle_, nullptr);
    baseline_ = std::move(other.baseline_);
  }
  return *this;
}

void XgbModel::fit(std::span<const Sample> samples, ModelKind kind, std::uint64_t seed, const Roofline* baseline) {
  if (samples.empty()) throw Error(ErrorKind::kInvalidArgument, "", "regressor", "no samples to fit");
  baseline_.reset();
  if (baseline != nullptr) baseline_ = *baseline;
  std::vector<Features> rows;
  std::vector<float> labels;
  rows.reserve(samples.size());
  for (const Sample& s : samples) {
    rows.push_back(s.x);
    const double base = baseline_ ? baseline_->predict_ms(cost_of_features(s.x)) : 1.0;
    labels.push_back(static_cast<float>(std::log(s.latency_ms / base)));
  }
  DMatrix train(rows);
  check(xgb().XGDMatrixSetFloatInfo(train.handle, "label", labels.data(), labels.size()), "labels");
  if (handle_ != nullptr) xgb().XGBoosterFree(handle_);
  handle_ = nullptr;
  check(xgb().XGBoosterCreate(&train.handle, 1, &handle_), "create");
  auto set = [&](const char* k, const std::string& v) { check(xgb().XGBoosterSetParam(handle_, k, v.c_str()), k); };
  set("objective", "reg:squarederror");
  set("nthread", "2");
  set("seed", std::to_string(seed % 2147483647));
  set("verbosity", "0");
  int rounds = 1;
  if (kind == ModelKind::kGbm) {
    set("eta", "0.08");
    set("max_depth", "6");
    set("min_child_weight", "1");
    set("subsample", "0.8");
    set("colsample_bytree", "0.9");
    rounds = 300;
  } else if (kind == ModelKind::kForest) {
    // XGBoost's random-forest mode: many parallel trees in a single round, eta 1.
    set("eta", "1");
    set("num_parallel_tree", "100");
    set("subsample", "0.632");
    set("colsample_bynode", "0.7");
    set("max_depth", "12");
    set("min_child_weight", "1");
    rounds = 1;
  } else {
    throw Error(ErrorKind::kInvalidArgument, "", "regressor", "roofline is not an XGBoost model");
  }
  for (int i = 0; i < rounds; ++i) check(xgb().XGBoosterUpdateOneIter(handle_, i, train.handle), "train");
  // Predictions run one thread: the rows per call are few and OpenMP start-up dominates.
  set("nthread", "1");
}

std::vector<double> XgbModel::predict_ms(std::span<const Features> rows) const {
  if (handle_ == nullptr) throw Error(ErrorKind::kInvalidArgument, "", "regressor", "not fitted");
  std::vector<double> out(rows.size());
  if (rows.empty()) return out;
  // In-place prediction over the rows' memory (no DMatrix is built): the rows are
  // contiguous float[kFeatureCount] arrays, described by an __array_interface__.
  static_assert(sizeof(Features) == kFeatureCount * sizeof(float), "Features must be a dense float row");
  const std::string values = R"({"data": [)" + std::to_string(reinterpret_cast<std::uintptr_t>(rows.data())) +
                             R"(, true], "shape": [)" + std::to_string(rows.size()) + ", " +
                             std::to_string(kFeatureCount) + R"(], "typestr": "<f4", "version": 3})";
  static const char* const config =
      R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false, "cache_id": 0, "missing": NaN})";
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* result = nullptr;
  check(xgb().XGBoosterPredictFromDense(handle_, values.c_str(), config, nullptr, &shape, &dim, &result), "predict");
  bst_ulong len = 1;
  for (bst_ulong d = 0; d < dim; ++d) len *= shape[d];
  if (len != rows.size()) throw Error(ErrorKind::kUnsupported, "", "xgboost predict", "unexpected output length");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const double base = baseline_ ? baseline_->predict_ms(cost_of_features(rows[i])) : 1.0;
    out[i] = base * std::exp(static_cast<double>(result[i]));
  }
  return out;
}

std::vector<char> XgbModel::save() const {
  if (handle_ == nullptr) throw Error(ErrorKind::kInvalidArgument, "", "regressor", "not fitted");
  bst_ulong len = 0;
  const char* bytes = nullptr;
  check(xgb().XGBoosterSaveModelToBuffer(handle_, R"({"format": "ubj"})", &len, &bytes), "save");
  return {bytes, bytes + len};
}

void XgbModel::load(std::span<const char> bytes) {
  if (handle_ != nullptr) xgb().XGBoosterFree(handle_);
  handle_ = nullptr;
  check(xgb().XGBoosterCreate(nullptr, 0, &handle_), "create");
  check(xgb().XGBoosterLoadModelFromBuffer(handle_, bytes.data(), bytes.size()), "load");
  check(xgb().XGBoosterSetParam(handle_, "nthread", "1"), "nthread");
}

nlohmann::json to_json(const CvScore& s) {
  return {{"n", s.n},
          {"rmse_log", s.rmse_log},
          {"rmse_log_timed", s.rmse_log_timed},
          {"rmspe", s.rmspe},
          {"within10", s.within10}};
}

CvScore score(std::span<const double> predicted_ms, std::span<const double> measured_ms) {
  CvScore s;
  s.n = static_cast<int>(predicted_ms.size());
  if (s.n == 0) return s;
  double se_log = 0, se_pct = 0, se_timed = 0, total_ms = 0;
  int within = 0;
  for (std::size_t i = 0; i < predicted_ms.size(); ++i) {
    const double ratio = predicted_ms[i] / measured_ms[i];
    se_log += std::pow(std::log(ratio), 2);
    se_timed += measured_ms[i] * std::pow(std::log(ratio), 2);
    total_ms += measured_ms[i];
    se_pct += std::pow(ratio - 1.0, 2);
    if (std::abs(ratio - 1.0) <= 0.10) ++within;
  }
  s.rmse_log = std::sqrt(se_log / s.n);
  s.rmspe = 100.0 * std::sqrt(se_pct / s.n);
  s.within10 = static_cast<double>(within) / s.n;
  s.rmse_log_timed = total_ms > 0 ? std::sqrt(se_timed / total_ms) : 0;
  return s;
}

CvScore cross_validate(std::span<const Sample> samples, ModelKind kind, int folds, std::uint64_t seed, double llc_bytes,
                       double lowest_knee) {
  if (samples.size() < 3) throw Error(ErrorKind::kInvalidArgument, "", "cross-validation", "needs at least 3 samples");
  std::vector<std::size_t> order(samples.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  const int k = std::min<int>(std::max(folds, 2), static_cast<int>(samples.size()));
  std::vector<double> predicted, measured;
  for (int f = 0; f < k; ++f) {
    std::vector<Sample> train, test;
    for (std::size_t i = 0; i < order.size(); ++i) {
      (static_cast<int>(i % static_cast<std::size_t>(k)) == f ? test : train).push_back(samples[order[i]]);
    }
    if (test.empty() || train.empty()) continue;
    const Roofline r = Roofline::fit(train, llc_bytes, lowest_knee);
    if (kind == ModelKind::kRoofline) {
      for (const Sample& s : test) predicted.push_back(r.predict_ms(s.cost));
    } else {
      XgbModel m;
      m.fit(train, kind, seed, &r);
      std::vector<Features> rows;
      for (const Sample& s : test) rows.push_back(s.x);
      for (double p : m.predict_ms(rows)) predicted.push_back(p);
    }
    for (const Sample& s : test) measured.push_back(s.latency_ms);
  }
  return score(predicted, measured);
}

}  // namespace infercast::predict
