// Building a profile's training data: which kernels to time (the kernels real models
// contain, plus jittered neighbours), timing one kernel on a runtime, and turning a
// timed kernel spec into a training row through the same kernel detection predict uses.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "infercast/measure/measure.hpp"
#include "infercast/predict/predictor.hpp"
#include "infercast/runtime/runtime.hpp"
#include "infercast/store/store.hpp"

namespace infercast::predict {

// The kernel specs (bench::to_json) of every kernel the models contain under `rules`,
// de-duplicated, followed by `jitter` seeded variants of each (spatial size and
// channels scaled by 1/2..2, kept valid). Models that fail to load are skipped and
// named in `skipped`.
std::vector<nlohmann::json> prior_specs(const std::vector<std::filesystem::path>& models, const FusionRules& rules,
                                        int jitter, std::uint64_t seed, std::vector<std::string>* skipped = nullptr);

// The protocol kernels are timed with: short, since a kernel run is micro- to milliseconds.
measure::Protocol kernel_protocol();

// The flushed pass (TimedSpec::cold_ms): ten runs, each after writing
// cold_flush_bytes() of scratch (twice the last-level cache, at least 16 MiB).
measure::Protocol cold_protocol();
std::size_t cold_flush_bytes();

struct TimedSpec {
  nlohmann::json spec;
  measure::Stats stats;  // end to end, milliseconds
  // The kernel's own time: the runtime's per-layer medians of the kernel graph, summed,
  // leaving out the layers only a one-kernel graph runs (layout conversions at its
  // boundary: XNNPACK's NHWC Transposes, ONNX Runtime's NCHWc reorders, the TFLite
  // writer's explicit Pad). End to end, a one-kernel graph also pays for those and for
  // the runtime's per-run overhead, which inside a model it pays once or not at all.
  // 0 when the runtime reports no layers.
  double kernel_ms = 0;
  // Every layer's median, summed; stats.median - layers_ms is the runtime's per-run
  // overhead (invocation, copies the profiler does not see). 0 without layers.
  double layers_ms = 0;
  int layer_count = 0;  // layers the runtime reported
  // The kernel's own time with the caches flushed before each run (cold_protocol()):
  // what it costs inside a model too large for the caches, where its weights and
  // inputs were evicted by the layers before it. 0 when not measured.
  double cold_ms = 0;
  std::string error;  // non-empty when the kernel could not be built or run
  // The training label: kernel_ms when measured, else the end-to-end median.
  double label_ms() const { return kernel_ms > 0 ? kernel_ms : stats.median; }
};

// Builds the spec's one-kernel graph, prepares it on `engine` and times it. Errors are
// returned in TimedSpec::error, never thrown.
TimedSpec time_spec(runtime::Runtime& engine, const nlohmann::json& spec, int threads,
                    const measure::Protocol& protocol);

// The training row of a timed spec: its graph split under `rules` must be exactly one
// kernel that is not removed; nullopt otherwise (the time mixes several kernels).
std::optional<TrainingKernel> training_kernel(const nlohmann::json& spec, double latency_ms, const FusionRules& rules);

// Training rows of every successful timed spec (see training_kernel), then train().
// `unusable` counts the specs that gave no single kernel.
Bundle train_from_timed(const std::vector<TimedSpec>& timed, const FusionRules& rules, const TrainOptions& options,
                        int* unusable = nullptr);

// The profile's context and fusion rules as stored in a profile's `extra`
// ({"fusion_rules": ...}), and back.
store::Profile store_profile(const nlohmann::json& context, const FusionRules& rules);

// Every successful measurement of profile `name` in `db` as timed specs; the profile's
// fusion rules (from extra.fusion_rules; default rules when it has none) and context
// go to `rules` and `context`. Throws Error(kInvalidArgument) naming the profile and
// the profiles the database has when it is absent.
std::vector<TimedSpec> timed_from_database(const store::Database& db, const std::string& name, FusionRules& rules,
                                           nlohmann::json& context);

// Collected rows as JSON lines ({"spec","median_ms","cv","n","error"}) and back.
nlohmann::json to_json(const TimedSpec& t);
TimedSpec timed_spec_from_json(const nlohmann::json& j);

}  // namespace infercast::predict
