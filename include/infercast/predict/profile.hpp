// A profile's training data: the kernels a runtime executes (the bench prior sampler's
// grouping), the protocol they are timed with, and turning a stored measurement into a
// training row through the same kernel detection predict uses.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "infercast/bench/sampler.hpp"
#include "infercast/measure/measure.hpp"
#include "infercast/predict/predictor.hpp"
#include "infercast/runtime/runtime.hpp"
#include "infercast/store/store.hpp"

namespace infercast::predict {

// How a runtime with `rules` splits a graph into kernels (split_kernels, removed kernels
// left out), as the bench prior sampler's grouping: the prior then samples the kernels
// this runtime actually executes.
bench::GroupingFn kernel_grouping(const FusionRules& rules);

// A small instance of kernel `type` from the space (bench::space_kernel, seed 7, at most
// 1e7 MACs: only how it splits matters) and the kernels split_kernels makes of it under
// `rules`, the removed ones left out; nullopt when the space draws none.
struct TypeInstance {
  ir::Graph graph;
  std::vector<Kernel> kernels;
};
std::optional<TypeInstance> type_instance(const std::string& type, const FusionRules& rules);

// The default kernel types (bench::default_kernel_types) that a runtime with `rules`
// executes as exactly one kernel: their one-kernel graph splits into one kernel that is
// not removed. The others would time several kernels at once (conv+add where the add is
// not fused) or nothing (a folded pad), and give no training row. With `runs`, a type is
// kept only when `runs` accepts its graph: an in-process runtime's supports() (XNNPACK
// refuses Einsum), so no share of the budget goes to kernels that fail at prepare.
std::vector<std::string> single_kernel_types(const FusionRules& rules,
                                             const std::function<bool(const ir::Graph&)>& runs = {});

// The protocol profile times kernels with: short, since a kernel run is micro- to milliseconds.
measure::Protocol kernel_protocol();
// The protocol profile times its synthetic networks with (profile --network-share):
// whole models of 0.1-100 ms, one attempt.
measure::Protocol network_protocol();

// A timed kernel as training input: one successful measurement of the store.
struct TimedSpec {
  nlohmann::json spec;   // bench::to_json
  measure::Stats stats;  // end to end, milliseconds
  // The per-layer view (bench::KernelTiming): own time, every layer's median summed,
  // the layer count, the own time with flushed caches; 0 when not measured.
  double kernel_ms = 0;
  double layers_ms = 0;
  int layer_count = 0;
  double cold_ms = 0;
  double kernel_median_ms = 0;  // own time from per-layer medians; 0 in rows measured before it was kept
  // The training label. `median` (what a user's typical run pays): kernel_median_ms when
  // measured, else kernel_ms scaled by the end-to-end median / min ratio, else the
  // end-to-end median. Otherwise the fastest: kernel_ms when measured, else the
  // end-to-end median. None (0) when the runtime timed layers and none was the kernel's:
  // it ran folded into a neighbour, and the end-to-end time, per-run overhead included,
  // is no measure of it (ONNX Runtime folds a BatchNormalization into the 1x1 conv
  // feeding it where the channels are not a multiple of its NCHWc block: a 483-channel
  // 9x9 BN timed 0.064 ms end to end, where densenet's 7x7 BNs of 800-2200 channels
  // take 0.009-0.017 ms).
  double label_ms(bool median = true) const {
    if (layer_count > 0 && !(kernel_ms > 0)) return 0;
    if (!median || !(kernel_ms > 0)) return kernel_ms > 0 ? kernel_ms : stats.median;
    if (kernel_median_ms > 0) return kernel_median_ms;
    return stats.min > 0 && stats.median >= stats.min ? kernel_ms * stats.median / stats.min : kernel_ms;
  }
};

// The training row of a timed spec: its graph split under `rules` must be exactly one
// kernel that is not removed; nullopt otherwise (the time mixes several kernels). An int8
// spec's graph is its int8 form on `runtime` (bench::int8_kernel_form), whose boundary
// layers (bench::boundary_layer) are not counted as kernels.
std::optional<TrainingKernel> training_kernel(const nlohmann::json& spec, double latency_ms, const FusionRules& rules,
                                              const std::string& runtime = "xnnpack");

// Training rows of every timed spec with a positive label (see training_kernel), then train().
// `unusable` counts the specs that gave no single kernel.
Bundle train_from_timed(const std::vector<TimedSpec>& timed, const FusionRules& rules, const TrainOptions& options,
                        int* unusable = nullptr);

// Fits bundle.composition (composition.hpp) on the synthetic networks a profile measured:
// `networks` is the profile's extra.networks, [{"seed", "name", "max_macs", "median_ms", ...}].
// Each network is rebuilt from its seed (bench::synthetic_network) and predicted by the
// bundle without composition; an entry whose rebuilt name differs (a generator changed
// since it was measured) is left out. A network's time is divided by its "host_factor"
// (timed_from_database sets it from the host readings around its "epoch_s"). With
// `how` as fit_composition takes it. Returns the networks used.
int calibrate_composition(Bundle& bundle, const nlohmann::json& networks, CompositionFit how = CompositionFit::kFull);

// Cold weights inside a model, measured: sets FamilyModel::cold_scale from the weight
// chains a profile timed end to end (bench::weight_chain, in its int8 form for an int8
// bundle; `chains` is the profile's
// extra.cold_chains, [{"spec", "copies", "single_ms", "chain_ms"}]). A chain's measured
// excess is chain_ms - copies * single_ms + (copies - 1) * the bundle's run overhead (each
// one-kernel run pays the overhead, the chain pays it once); its predicted excess is the
// flushed fit's over the chain's kernels (flushed_weight_excess_ms, whatever a copy's
// size: a chain runs cold either way). Their ratio, clamped to [0, 4], is a point {x, scale} at the
// chain kernel's weight_reuse_x: the fc chains give the points of fc and matmul, the conv
// chains those of every other family. A family without a chain keeps no points (scale
// 1). Returns the chains used.
int calibrate_cold(Bundle& bundle, const nlohmann::json& chains);

// Times bench::cold_chain_specs() on `engine`: each spec alone and as a chain of copies
// whose weights are at least three times `cache_bytes` (4 to bench::kMaxChainCopies copies), end to end, in 3
// interleaved rounds (median of each); with `int8`, the chains in their int8 form
// (bench::int8_form_of, as an int8 profile's kernels). Returns the records calibrate_cold
// reads, one per spec; a chain the runtime cannot run gets {"error"}. Reports each chain
// on `progress` when given; stops early once bench::stop_requested().
nlohmann::json measure_cold_chains(runtime::Runtime& engine, int threads, std::size_t cache_bytes, bool int8,
                                   std::ostream* progress = nullptr);

// How often profile reads the host's speed (bench::BenchOptions::reference_every_s).
inline constexpr double kHostReferenceEveryS = 20;

// The host's speed over a profile, from its host reference readings (bench::host_reference_spec
// timed every kHostReferenceEveryS seconds): at time t, the median of the kNearest readings
// closest in time, over the median of all readings. factor(t) = 1.1 means the host ran the
// reference 10% slower around t than it typically did while the profile was measured, so a
// kernel timed then is 1.1x what the typical host gives. 1 with fewer than kMinReadings
// readings, or when the nearest reading is more than kMaxGapS seconds away (a kernel timed
// by a run that took no readings), and 1 within kDeadBand of 1: on a quiet host the readings
// scatter by 3-4% (10th-90th percentile 0.96-1.03 over a profile), and dividing by that
// scatter only adds noise to the labels (a quiet ONNX Runtime profile retrained so scored 80%
// within +-10% where its labels as measured scored 85%). Clamped to [0.5, 2].
class HostSpeed {
 public:
  struct Reading {
    std::int64_t t = 0;  // seconds since the epoch (UTC)
    double ms = 0;
  };
  static constexpr std::size_t kNearest = 3;
  static constexpr std::size_t kMinReadings = 5;
  static constexpr std::int64_t kMaxGapS = 300;
  static constexpr double kDeadBand = 0.05;

  HostSpeed() = default;
  // Readings with a non-positive or non-finite time are dropped.
  explicit HostSpeed(std::vector<Reading> readings);
  double factor(std::int64_t t) const;
  std::size_t readings() const { return readings_.size(); }
  bool active() const { return readings_.size() >= kMinReadings; }
  double median_ms() const { return median_ms_; }
  // The 10th and 90th percentiles of the readings over their median: how far the host moved.
  double p10() const { return p10_; }
  double p90() const { return p90_; }

 private:
  std::vector<Reading> readings_;  // by time
  double median_ms_ = 0, p10_ = 1, p90_ = 1;
};

// The median time of the profile's host reference readings (Bundle::profile["host_speed"]
// ["median_ms"]); 0 when the profile read no host speed (a bundle from before the readings,
// or one trained on measurements without them).
double host_profile_median_ms(const Bundle& bundle);

// The profile's host reference kernel (bench::host_reference_spec) timed now on `engine` at
// `threads` (0 = every core), with the kernels' protocol as profile times it; its median ms.
// Throws the runtime's error when the reference cannot run.
double read_host_reference_ms(runtime::Runtime& engine, int threads);

// The host's speed now against the host the bundle's labels describe: the reference read
// now (read_host_reference_ms at the bundle's threads) over the profile's median reading.
// speed 1.1 = this host runs the reference 10% slower than the profile's typical host, so a
// model runs about 10% slower than the prediction says. It reads one fixed kernel, never the
// model. Throws Error(kInvalidArgument) when the bundle's profile read no host speed.
struct HostReading {
  double reference_ms = 0;
  double profile_median_ms = 0;
  double speed = 0;
};
HostReading read_host(const Bundle& bundle, runtime::Runtime& engine);

// The prediction for a host at `speed` (HostReading::speed): every kernel's time, interval
// and cold excess, and the model's, times `speed`. Throws Error(kInvalidArgument) for a
// speed that is not finite and positive.
void scale_to_host(Prediction& prediction, double speed);

// Seconds since the epoch of a store timestamp ("2026-12-07T01:02:03Z"); -1 when it is not one.
std::int64_t epoch_seconds(const std::string& utc);

// The profile's context (its precision included) and fusion rules as stored in a profile's
// `extra` ({"fusion_rules": ...}), and back.
store::Profile store_profile(const nlohmann::json& context, const FusionRules& rules);

// Every successful measurement of profile `name` in `db` as timed specs; the profile's
// fusion rules (from extra.fusion_rules; default rules when it has none) and context
// go to `rules` and `context`. With `host_speed` and enough host reference readings in the
// profile (HostSpeed), each measurement's times are divided by the host's speed at its
// timestamp, and each of context["networks"] with an "epoch_s" gets its "host_factor";
// context["host_speed"] says what was read and whether it was applied. Throws
// Error(kInvalidArgument) naming the profile and the profiles the database has when it is absent.
std::vector<TimedSpec> timed_from_database(const store::Database& db, const std::string& name, FusionRules& rules,
                                           nlohmann::json& context, bool host_speed = true);

}  // namespace infercast::predict
