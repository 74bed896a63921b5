// Training, the predictor bundle, and prediction.
//
// A bundle is one file:
//   "INFERCAST-PREDICTOR\n"  (20 bytes, magic)
//   u64 little-endian        manifest length
//   manifest                 JSON: schema_version, runtime, runtime_version, threads, profile context,
//                            fusion rules, features, per family {model, cv scores, roofline, sigma, blob}
//   blobs                    XGBoost models (UBJSON), at the offsets the manifest names
// Loading reads the file once and hands each blob to XGBoost; no parsing of trees as text.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "infercast/ir/graph.hpp"
#include "infercast/predict/kernels.hpp"
#include "infercast/predict/regressor.hpp"

namespace infercast::predict {

inline constexpr int kBundleSchemaVersion = 1;

struct FamilyModel {
  ModelKind kind = ModelKind::kRoofline;  // the one cross-validation chose
  XgbModel xgb;                           // when kind is gbm or forest
  Roofline roofline;                      // always fitted (the baseline, and a fallback)
  double sigma_log = 0.2;                 // CV rmse of ln latency of the chosen model: the interval's width
  int samples = 0;
  std::map<std::string, CvScore> cv;  // per model kind
};

struct Bundle {
  std::string runtime;  // "xnnpack", "ort"
  std::string runtime_version;
  int threads = 0;
  nlohmann::json profile = nlohmann::json::object();  // the profile's context (name, device, machine, ...)
  FusionRules rules;
  std::map<std::string, FamilyModel> families;
  Roofline fallback;  // for kernels of families without data: a memory-bound estimate
  std::string created_utc;
};

struct TrainOptions {
  int folds = 5;
  std::uint64_t seed = 1;
  int min_samples = 8;  // a family with fewer samples gets the roofline only
  // Restrict the candidates (the baselines use {kRoofline} or one kind).
  std::vector<ModelKind> kinds = {ModelKind::kGbm, ModelKind::kForest, ModelKind::kRoofline};
};

// One measured kernel as training data: the kernel detected in a one-kernel graph.
struct TrainingKernel {
  Kernel kernel;
  double latency_ms = 0;
};

// Fits every family: cross-validates each candidate on log latency, keeps the best
// (lowest rmse_log) and refits it on all samples. Throws Error(kInvalidArgument)
// when there are no usable samples.
Bundle train(const std::vector<TrainingKernel>& data, const FusionRules& rules, const TrainOptions& options = {});

// Writes the bundle atomically. Throws Error(kIo).
void save_bundle(const Bundle& bundle, const std::filesystem::path& path);
// Throws Error(kIo) for an unreadable file, Error(kBadModel) for one that is not a
// bundle or is corrupt, Error(kUnsupported) for a schema newer than this build, and
// Error(kInvalidArgument) when `expected_runtime` is given and differs.
Bundle load_bundle(const std::filesystem::path& path, const std::string& expected_runtime = "");
// The manifest only (what `train` prints and `predict --format json` echoes).
nlohmann::json bundle_summary(const Bundle& bundle);

struct KernelPrediction {
  double ms = 0, lo_ms = 0, hi_ms = 0;
  std::string source;  // "gbm", "forest", "roofline", "memory-bound estimate", "removed"
};

struct Prediction {
  std::vector<Kernel> kernels;
  std::vector<KernelPrediction> per_kernel;  // parallel to kernels
  double ms = 0, lo_ms = 0, hi_ms = 0;
  int estimated = 0;  // kernels predicted by the memory-bound fallback
};

// Splits `graph` under the bundle's rules and predicts each kernel; the model latency
// is the sum. The interval is ±1.645σ in log space per kernel (a 90% band), summed as
// if kernel errors were fully correlated (the conservative bound).
Prediction predict(const Bundle& bundle, const ir::Graph& graph);

}  // namespace infercast::predict
