// The one report of a model that every visual format draws from: the analysis
// (infercast analyze's document), plus, when given, a prediction (kernels and their
// latencies) and a measurement (end to end and per layer), plus what the HTML report
// and the Netron attachment need beside the rows: the memory timeline and the graph's
// edges. JSON (canonical) is analysis_report's document with:
//   "kind": "model",
//   "layers"[i] += {"kernel": index into "kernels" or null, "predicted_ms": the kernel's
//                   latency on its anchor node (0 on its other nodes, null without a
//                   prediction), "measured_ms": the runtime's per-layer median of the
//                   layers named after this node (null when none is)},
//   "kernels": [{"index","name","type","family","nodes","predicted_ms","lo_ms","hi_ms",
//                "source","removed","measured_ms","flops","bytes"}],
//   "prediction": {"predictor","runtime","runtime_version","threads","latency_ms",
//                  "interval_ms","ceilings":{"peak_gflops","bandwidth_gbs","dram_bandwidth_gbs"}} or null,
//   "measurement": {"runtime","runtime_version","threads","latency_ms":{stats},
//                   "layers_ms","unmapped_layers_ms","unmapped_layers"} or null,
//   "memory_timeline": {"live_bytes":[per node, in execution order],"arena_bytes","lower_bound_bytes"},
//   "edges": [[producer node, consumer node], ...] (each pair once),
//   "machine": {"cpu_model","cores","hostname","timestamp_utc"}.
#pragma once

#include <string>
#include <vector>

#include "infercast/cost/cost.hpp"
#include "infercast/ir/graph.hpp"
#include "infercast/measure/measure.hpp"
#include "infercast/report/report.hpp"
#include "infercast/runtime/runtime.hpp"

namespace infercast::report {

// One predicted kernel, as predict:: hands it over (the report room does not depend on it).
struct KernelEstimate {
  std::string name;
  std::string type;
  std::string family;
  std::vector<int> nodes;  // graph node indices, anchor first
  double ms = 0, lo_ms = 0, hi_ms = 0;
  std::string source;
  bool removed = false;
  double flops = 0, bytes = 0;
};

struct PredictionInput {
  std::string predictor;  // the bundle file as the user named it
  std::string runtime;
  std::string runtime_version;
  int threads = 0;
  double ms = 0, lo_ms = 0, hi_ms = 0;
  // The profile's measured ceilings (its fitted roofline): GFLOP/s and GB/s; 0 = unknown.
  double peak_gflops = 0, bandwidth_gbs = 0, dram_bandwidth_gbs = 0;
  std::vector<KernelEstimate> kernels;
};

// prediction and measured may be null. A measured layer belongs to the node of the same
// name, or else to the node whose name is the longest prefix of it (ONNX Runtime
// suffixes the nodes it rewrites, "..._nchwc"); layers matching no node are counted in
// "unmapped_layers_ms".
Report model_report(const ir::Graph& graph, const cost::ModelCost& cost, const PredictionInput* prediction,
                    const runtime::RunResult* measured, const measure::MachineContext& machine);

}  // namespace infercast::report
