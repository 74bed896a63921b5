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

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "infercast/ir/graph.hpp"
#include "infercast/predict/composition.hpp"
#include "infercast/predict/kernels.hpp"
#include "infercast/predict/regressor.hpp"

namespace infercast::predict {

// 9: log2_weight_stream_intensity among the features.
// 8: cold_start_ms, the flushed excess's part that no weight byte explains.
// 7: sigmoid, tanh and swish in their own family (exp_activation), samples_of.
// 6: fc and matmul cold_scale points at log2 rows (were log2 weight bytes per row).
// 5: a depthwise conv's alignment features are its channels'; regressors chosen by the
// time-weighted CV error. 4: channel alignment, reduction length and output positions
// among the features.
// 3: trees fitted to the residual over their family's roofline (which gains a DRAM
// ceiling), a gconv family, per-family feature ranges, median-run labels. 2: conv+sigmoid,
// conv+hardsigmoid, conv+transpose, channel_pad, bn, pad+dwconv, layer_excess_ms,
// feeder-timed labels. A bundle of another schema is refused both ways: an older one would
// load its missing fields as 0 (or its trees as absolute latencies) and predict silently
// wrong numbers.
inline constexpr int kBundleSchemaVersion = 9;

struct FamilyModel {
  ModelKind kind = ModelKind::kRoofline;  // the one cross-validation chose
  XgbModel xgb;                           // when kind is gbm or forest
  Roofline roofline;                      // always fitted (the baseline, and a fallback)
  double sigma_log = 0.2;                 // CV rmse of ln latency of the chosen model: the interval's width
  int samples = 0;
  // The family whose samples it was trained on when it had none of its own (train: the
  // two activation families stand in for each other); empty for its own.
  std::string samples_of;
  std::map<std::string, CvScore> cv;  // per model kind
  // Cold-cache excess, fitted on the kernels' flushed times: cold - warm =
  // ms_per_weight_byte * weight bytes + ms_per_io_byte * activation bytes (>= 0 each).
  // predict applies the weight part only: inside a model a kernel's activations were just
  // written by its neighbours and are warm; ms_per_io_byte is kept as measured.
  double ms_per_weight_byte = 0;
  double ms_per_io_byte = 0;
  // A GEMM family's cold start (fc, se_conv, matmul, einsum; 0 elsewhere): what a flushed
  // run pays beyond those rates however few its weights, its first weight lines, packed-
  // weight header and operator state coming from memory one latency at a time before any
  // prefetcher runs ahead. The median of the flushed excess left after the rates over the
  // family's kernels of at most 64 KiB of weights (its group's when it has fewer than
  // three), >= 0; the rates then come from its kernels above 64 KiB where it has three.
  // predict adds it to each of the family's kernels with weights, times min(1, the model's
  // weight bytes / llc_bytes), not cold_scale: the chains measure streaming, this is
  // latency. Why: on XNNPACK at 1 thread a squeeze-excitation FC (24 -> 10) took 0.06 us
  // warm and 2.7 us flushed, and inside efficientnet_b0 such convs took a median 3.8 us
  // where they were predicted at 1.25 us.
  double cold_start_ms = 0;
  // What of that weight excess a kernel pays inside a model, measured by the profile on
  // chains of large-weight kernels (calibrate_cold in profile.hpp): points {x, scale},
  // x = weight_reuse_x (how much compute hides a weight's fetch), sorted by x; a kernel's scale is interpolated
  // linearly in x and held at the end points (cold_scale_at). Empty: scale 1. Why: a flushed one-kernel run also starts
  // on cold code, page tables and (with threads) a sleeping pool, while inside a model the runtime streams weights
  // under the compute, so ONNX Runtime at 2 threads paid half the flushed excess; and how much is hidden depends on
  // reuse: on XNNPACK at 2 threads a 3x3 512->512 conv on 7x7 (each weight used 49 times) ran 2.7x its warm time when
  // its weights came from memory, a 1x1 1024->1024 on 14x14 (196 times) 1.08x.
  std::vector<std::array<double, 2>> cold_scale;
  // The range of every feature over the family's training kernels: a kernel outside it
  // is an extrapolation (predict names the features).
  Features feature_lo{};
  Features feature_hi{};
};

struct Bundle {
  std::string runtime;  // "xnnpack", "ort"
  std::string runtime_version;
  int threads = 0;
  // The kernels' precision: "fp32", or "int8" (profile --precision int8: the int8 kernels of
  // full-integer quantized models). predict refuses a model of the other precision.
  std::string precision = "fp32";
  nlohmann::json profile = nlohmann::json::object();  // the profile's context (name, device, machine, ...)
  FusionRules rules;
  std::map<std::string, FamilyModel> families;
  // For kernels of a family without a regressor (none sampled, or left out by
  // TrainOptions::exclude_families): one roofline fitted to every trained family at once,
  // compute and memory ceilings both, so the estimate uses no sample of the family.
  Roofline fallback;
  // Families left out of training on purpose (train --exclude-family), with the samples
  // each had: a leave-one-family-out bundle says so in its manifest.
  std::map<std::string, int> excluded_families;
  // Paid once per model run, not per kernel: the runtime's invocation overhead,
  // run_overhead_ms plus run_ms_per_io_byte per byte of the model's inputs and outputs
  // (a runner copies them in and out: 0.15 ms per MB on ONNX Runtime's Node binding).
  // Fitted on the one-kernel graphs' end-to-end time beyond their layers.
  double run_overhead_ms = 0;
  double run_ms_per_io_byte = 0;
  // What the runtime's per-layer profiler adds inside each layer's measured span
  // (bench::layer_span_excess_ms): the kernels' labels carry it, a model's unprofiled
  // run does not, so it comes off every executed kernel's prediction (at most down to
  // a tenth of it).
  double layer_excess_ms = 0;
  // What a kernel pays inside a model beyond its label, however small it is: its code and
  // the runtime's operator state come from beyond the core's private caches, which the
  // other layers' traffic has flushed since it last ran, while the bench's runs back to
  // back find them warm (bench::kernel_start_ms; XNNPACK at 1 thread here: a Sigmoid over
  // 256 values 0.05 us back to back, 0.2-0.4 us between Relus over 4 MiB, as a
  // squeeze-excitation's gates take inside efficientnet). Added to every executed kernel.
  double kernel_start_ms = 0;
  // Cache sizes of the profiled machine. A model whose run moves less than the
  // last-level cache (every executed kernel's weights and activations: the traffic
  // between two runs of a kernel) keeps its weights there from run to run, as a
  // one-kernel graph does: warm. From twice that size on, each kernel finds its weights
  // evicted: cold. Between, the cold excess is scaled by log2(moved / LLC). (With the
  // weights plus the largest kernel's activations in place of what a run moves, the
  // held-out models on XNNPACK at 2 threads were 47% within ±10%, 65% with it; results.md.)
  // Kernels moving more than half the LLC get no excess: their
  // flushed and warm times agree. `llc_bytes` is the cache the profile measured data to
  // stay in between runs (measure::effective_cache_bytes), the reported size (measure::cache_sizes) for
  // profiles that did not measure it: on a VM the two differ (32-64 MiB of a reported 504 MiB).
  std::size_t l2_bytes = 0;
  std::size_t llc_bytes = 0;
  // Whole-model composition over the kernels, fitted on synthetic networks the profile
  // measured end to end (composition.hpp); the identity when none were measured.
  Composition composition;
  std::string created_utc;
};

struct TrainOptions {
  int folds = 5;
  std::uint64_t seed = 1;
  int min_samples = 8;         // a family with fewer samples gets the roofline only
  std::size_t llc_bytes = 0;   // the cache data stays in between runs (Bundle::llc_bytes), 0 = unknown
  double layer_excess_ms = 0;  // the profile's bench::layer_span_excess_ms, copied into the bundle
  double kernel_start_ms = 0;  // the profile's bench::kernel_start_ms, copied into the bundle
  // Label kernels with their median run's own time (what a user's typical run pays) rather
  // than their fastest: a model's median run is what `validate` compares with by default.
  bool median_labels = true;
  // Families whose samples are left out entirely (regressor, cold-cache fit, fallback and
  // run overhead): their kernels get the fallback estimate, as a family never sampled
  // would. Leave-one-family-out validation (bench/leave_one_family_out.sh) uses it.
  std::set<std::string> exclude_families;
  // Restrict the candidates (the baselines use {kRoofline} or one kind).
  std::vector<ModelKind> kinds = {ModelKind::kGbm, ModelKind::kForest, ModelKind::kRoofline};
  // The runtime the kernels were timed on: int8 kernels are split in the form it ran
  // (bench::int8_kernel_form). Float kernels do not depend on it.
  std::string runtime = "xnnpack";
};

// One measured kernel as training data: the kernel detected in a one-kernel graph.
struct TrainingKernel {
  Kernel kernel;
  double latency_ms = 0;
  double cold_ms = 0;         // with flushed caches; 0 when not measured
  double graph_io_bytes = 0;  // the one-kernel graph's inputs and outputs (graph_io_bytes)
};

// FamilyModel::cold_scale at `x` (weight_reuse_x): 1 without points.
double cold_scale_at(const FamilyModel& family, double x);
// A kernel's x for cold_scale_at: log2 of its output positions (output elements over
// output channels: pixels of a conv, rows of an fc or matmul), the times a GEMM uses each
// weight, so the compute under which it can stream that weight in. ViT-B/32's 768->3072
// FC on 50 rows paid 0.3 ms for its cold 9.4 MB on ONNX Runtime, ViT-B/16's on 197 rows
// almost nothing. For convolutions too (XNNPACK, 1 thread, chains of copies against one
// copy: the 1x1 400->400 on 7x7 of RegNetX-400MF's last stage paid 60 us per MB of
// weights, a 1x1 1152->1152 on 7x7 48-83, a 3x3 512->512 on 7x7 23-35, the 1x1
// 1024->1024 on 14x14 nothing; read by weight bytes per position, the first got the
// last's scale, 0, and RegNetX-400MF was predicted 17% short).
// A family that is no GEMM (depthwise convs, norms, elementwise) holds per-channel vectors
// whose fetch hides under its activation traffic: +infinity, the scale of the most reuse
// (its flushed fit's rate per weight byte, from such tiny vectors, is no rate to scale up).
double weight_reuse_x(const Kernel& kernel);
// What the flushed fit adds for a kernel's weights at full cold, before any scale:
// FamilyModel::ms_per_weight_byte times its weight bytes (0 for a family without a
// regressor). predict applies it only to kernels that move at most half the cache, whose
// labels were timed warm; the weight chains (calibrate_cold) divide by it whatever a copy's size.
double flushed_weight_excess_ms(const Bundle& bundle, const Kernel& kernel);

// Fits every family: cross-validates each candidate on log latency, keeps the best
// (lowest rmse_log_timed: each kernel's log error weighted by its measured time) and
// refits it on all samples; sigma_log (the interval's width) stays the unweighted rmse_log. Throws
// Error(kInvalidArgument) when there are no usable samples.
Bundle train(const std::vector<TrainingKernel>& data, const FusionRules& rules, const TrainOptions& options = {});

// Writes the bundle atomically. Throws Error(kIo).
void save_bundle(const Bundle& bundle, const std::filesystem::path& path);
// Throws Error(kIo) for an unreadable file, Error(kBadModel) for one that is not a
// bundle or is corrupt, Error(kUnsupported) for a schema newer than this build, and
// Error(kInvalidArgument) when `expected_runtime` is given and differs.
Bundle load_bundle(const std::filesystem::path& path, const std::string& expected_runtime = "");
// The manifest only (what `train` prints and `predict --format json` echoes).
nlohmann::json bundle_summary(const Bundle& bundle);

// The source of a kernel predicted by Bundle::fallback (its family has no regressor).
inline constexpr const char* kEstimateSource = "roofline estimate";

struct KernelPrediction {
  double ms = 0, lo_ms = 0, hi_ms = 0;
  std::string source;  // "gbm", "forest", "roofline", kEstimateSource, "removed"
  // The features (kFeatureNames) outside the range the family was trained on: the
  // prediction extrapolates along them. Empty inside the sampled space.
  std::vector<std::string> outside;
  // What reading the kernel's weights from memory adds with fully cold caches (the
  // family's ms_per_weight_byte times its weight bytes; 0 for kernels that move more
  // than half the cache, measured cold already). `ms` holds Prediction::cold_fraction of it.
  double cold_excess_ms = 0;
};

struct Prediction {
  std::vector<Kernel> kernels;
  std::vector<KernelPrediction> per_kernel;  // parallel to kernels
  // The model: every kernel's ms, plus between_kernels_ms and run_overhead_ms (which no
  // kernel row holds: a runtime's per-layer profiler sees neither).
  double ms = 0, lo_ms = 0, hi_ms = 0;
  // What a model pays per executed kernel beyond the kernels' own times (the composition's
  // per-operator cost: a thread pool's hand-offs, the runtime's dispatch), summed.
  double between_kernels_ms = 0;
  double run_overhead_ms = 0;  // per run: the runner's request, copying inputs and outputs
  double moved_bytes = 0;      // what one run reads and writes: every executed kernel's bytes
  double cold_fraction = 0;    // 0 = warm caches .. 1 = cold (see Bundle::llc_bytes)
  int estimated = 0;           // kernels predicted by the fallback roofline (kEstimateSource)
  int extrapolated = 0;        // kernels with a feature outside their family's trained range
};

// "int8" when `graph` computes on quantized activations (int8 TFLite, QDQ ONNX), else "fp32".
std::string model_precision(const ir::Graph& graph);

// Splits `graph` under the bundle's rules and predicts each kernel; the model latency
// is the sum. Throws Error(kInvalidArgument) naming the model when its precision
// (model_precision) is not the bundle's. The interval is ±1.645σ in log space per kernel (a 90% band), summed as
// if kernel errors were fully correlated (the conservative bound).
Prediction predict(const Bundle& bundle, const ir::Graph& graph);

// What a prediction's document holds, detached from the graph (the kernels' node names
// are copied) and from the kernels' features: what a caller keeps when it holds many
// predictions and renders few of them (the Python module's Prediction).
struct PredictionRecord {
  struct KernelRow {
    std::string name, type, family;
    std::vector<std::string> nodes;  // the graph's node names
    double ms = 0, lo_ms = 0, hi_ms = 0;
    std::string source;
    std::vector<std::string> outside;
    double flops = 0, bytes = 0;
    double cold_excess_ms = 0;
  };
  std::string runtime, runtime_version, precision;
  int threads = 0;
  double ms = 0, lo_ms = 0, hi_ms = 0;
  double between_kernels_ms = 0, run_overhead_ms = 0;
  double moved_bytes = 0, cold_fraction = 0;
  int estimated = 0, extrapolated = 0;
  std::vector<KernelRow> kernels;
};

PredictionRecord prediction_record(const Bundle& bundle, const ir::Graph& graph, const Prediction& prediction);

// The canonical JSON of a prediction (what `predict --format json` prints, less the
// model and predictor paths): runtime, runtime_version, threads, latency_ms,
// interval_ms [lo, hi], between_kernels_ms, run_overhead_ms, estimated_kernels, extrapolated_kernels, moved_bytes,
// cold_fraction, and per kernel name, type, family, nodes (the graph's node names),
// latency_ms, interval_ms, source, outside_sampled_range, flops, bytes, cold_excess_ms.
nlohmann::json prediction_json(const PredictionRecord& record);
nlohmann::json prediction_json(const Bundle& bundle, const ir::Graph& graph, const Prediction& prediction);

// Bytes of a graph's inputs (not its weights) and outputs: what a runner copies per run.
double graph_io_bytes(const ir::Graph& graph);

}  // namespace infercast::predict
