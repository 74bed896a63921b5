// Validation: predicted against measured end-to-end latency over a set of models,
// with the two baselines the issue asks for, computed on the same rows:
//   flops      one fitted rate: latency = FLOPs / R, R = exp(mean ln(FLOPs_i / measured_i))
//              (fitted on the validation models themselves, so it is the best such line)
//   conv_only  the seed's method: only conv and depthwise-conv kernels predicted, summed
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "infercast/predict/predictor.hpp"
#include "infercast/runtime/runtime.hpp"

namespace infercast::predict {

struct ValidationRow {
  std::string model;
  std::string error;       // non-empty: the model could not be measured or predicted
  double measured_ms = 0;  // the median over rounds_ms
  double measured_cv = 0;  // the measurement's own noise: the rounds' median CV
  double predicted_ms = 0;
  double lo_ms = 0, hi_ms = 0;
  double conv_only_ms = 0;  // baseline: conv-family kernels only
  double flops = 0;         // for the FLOPs-proportional baseline
  int kernels = 0, estimated_kernels = 0;
  std::vector<double> rounds_ms;  // the measured statistic of every round (fresh session each)
  // Both statistics, whichever measured_ms is: the median round of the per-round medians
  // (what a user sees) and the fastest run of all rounds; and the spread of the rounds'
  // medians, (max - min) / median, the model's run-to-run noise here.
  double median_ms = 0, min_ms = 0, spread = 0;
  int extrapolated_kernels = 0;
  // At several threads: each round's measure::core_share (the mean of four probes before
  // it and four after; one per rounds_ms entry), and the median of the per-round medians
  // of the rounds that had a core per thread (share >= measure::kQuietCoreShare); 0 when
  // no round had. Empty and 0 at one thread.
  std::vector<double> rounds_core_share;
  double quiet_median_ms = 0;
  int quiet_rounds = 0;
  // When the bundle's profile read the host's speed (predict::HostSpeed): each round's
  // host speed around this model's run (the profile's reference kernel timed just before
  // and just after it, their geometric mean over the readings' median while the profile
  // measured; one per rounds_ms entry, 0 where a reading failed), and the median over the
  // rounds of each round's median divided by it: the model's time on the host the labels
  // describe. Empty and 0 otherwise.
  std::vector<double> rounds_host_speed;
  double host_median_ms = 0;
  // The same readings taken before the runs only: each round's reading just before this
  // model's run, over the profile's median (one per rounds_ms entry, 0 where it failed), and
  // the median over the rounds of predicted_ms times it: what `predict --read-host` run just
  // before each run would have said. It reads the reference kernel, never the model, so it is
  // a prediction made before the run. Empty and 0 otherwise.
  std::vector<double> rounds_host_before;
  double host_read_predicted_ms = 0;
};

// The conv-only baseline of a prediction.
double conv_only_ms(const Prediction& p);

// A prediction's kernels timed inside the model, from one profiled run (`layers`, in
// execution order): each layer is summed into the kernel one of whose nodes (`graph`'s)
// the runtime names it after, exactly or as a prefix (ONNX Runtime suffixes the nodes it
// rewrites, "..._nchwc", and prefixes the ones it fuses, "fused "). The layout conversions
// ONNX Runtime inserts around a kernel whose label holds them (bench::nchwc_reordered: the
// ReorderOutputs just before the kernel's first layer, a ReorderInput just after its last)
// are that kernel's; every other layer no kernel claims is summed into `unmapped_ms`.
// `layer_excess_ms` is the profiler's share of every layer's span (Bundle::layer_excess_ms),
// taken off each claimed layer (down to a tenth of it, as predict does), so a kernel's time
// is what it takes in an unprofiled run, the time its prediction stands for.
struct KernelTimes {
  std::vector<double> ms;   // per kernel of the prediction; 0 where no layer was claimed
  std::vector<int> layers;  // the layers each kernel claimed
  double unmapped_ms = 0;
};
KernelTimes kernel_times(const ir::Graph& graph, const Prediction& p, const std::vector<runtime::LayerTiming>& layers,
                         double layer_excess_ms = 0);

// One JSON object: {"predictor","runtime","models":[rows...],"summary":{n, within5, within10, rmse_ms, mape,
// median_cv, median_spread, other_stat:{within5, within10, mape} (against the statistic measured_ms is not:
// min_ms when it is median_ms, else median_ms), baselines:{flops:{gflops, within10, mape},
// conv_only:{within10, mape}}}}; with host readings, host_normalized {n, within5, within10, mape}
// (predicted_ms against host_median_ms) and read_host {n, within5, within10, mape}
// (host_read_predicted_ms against measured_ms).
nlohmann::json validation_json(const std::vector<ValidationRow>& rows, const std::string& predictor,
                               const std::string& runtime);

}  // namespace infercast::predict
