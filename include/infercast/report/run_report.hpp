// `infercast run`'s report: measured latency with its full context (runtime and
// version, threads, timing protocol, seed, machine) and, when measured, per-layer
// times. JSON (canonical):
//   {"model","runtime","runtime_version","threads","seed",
//    "latency_ms":{"median","mean","min","max","std","cv","n"},
//    "protocol":{"warmup","min_repeats","min_time_s","max_repeats","cv_target","max_remeasure"},
//    "machine":{"cpu_model","cores","machine_id","hostname","timestamp_utc"},
//    "layers":[{"index","name","op","median_ms","mean_ms","min_ms","max_ms","std_ms","cv","n","share"}],
//    "layers_median_sum_ms"}
#pragma once

#include <cstdint>
#include <string>

#include "infercast/measure/measure.hpp"
#include "infercast/report/report.hpp"
#include "infercast/runtime/runtime.hpp"

namespace infercast::report {

struct RunContext {
  std::string model;  // the model file as the user named it
  measure::Protocol protocol;
  std::uint64_t seed = 0;
  measure::MachineContext machine;
};

Report run_report(const runtime::RunResult& result, const RunContext& context);

}  // namespace infercast::report
