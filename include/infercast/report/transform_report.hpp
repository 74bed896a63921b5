// `infercast transform`'s report. JSON (canonical):
//   {"model","output","to","passes":[{"pass","rewrites","ms","notes","details"}],
//    "costs":[{"stage","nodes","params","weight_bytes","macs","flops","peak_activation_bytes"}],
//    "total":{"nodes":[before,after],"params":[..],"weight_bytes":[..],"macs":[..],"flops":[..],
//             "peak_activation_bytes":[..]},
//    "tiled_layers":[{"node","op","m","k","n","tiles","nodes","nodes_closed_form","nodes_match",
//                     "padded_tile_macs","tile_macs_in_result","macs_match","original_macs"}],
//    "predicted_ms":{"predictor","before","after"} | null,
//    "verify":[{"runtime","version","rule","rtol","atol","tolerance","pass","max_abs_error",
//               "max_rel_error","latency_ms":{"before","after"} | null,"outputs":[...]}],
//    "pass": true | false}
// costs has one row for the input ("input") and one after every pass; peak activation
// memory is the greedy arena plan (cost::MemoryPlan::arena_bytes). pass is false when
// a runtime's outputs disagree; null errors as in verify_report.hpp.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "infercast/report/report.hpp"
#include "infercast/runtime/verify.hpp"

namespace infercast::report {

struct TransformStage {
  std::string name;  // "input", then each pass spec
  std::uint64_t rewrites = 0;
  double ms = 0;
  const cost::ModelCost* cost = nullptr;
  std::vector<std::string> notes;
  nlohmann::json details;  // the pass's own facts (null for the input row)
};

struct TransformCheck {
  std::string runtime;
  std::string version;
  std::vector<runtime::OutputComparison> outputs;
  bool pass = false;
  double max_abs_error = 0;
  double max_rel_error = 0;
  bool timed = false;
  double before_ms = 0, after_ms = 0;  // medians
};

struct TransformSummary {
  std::string model;
  std::string output;
  std::string to;  // "onnx" | "tflite"
  std::vector<TransformStage> stages;
  runtime::Tolerance tolerance;
  std::vector<TransformCheck> checks;
  std::string predictor;  // bundle path, empty when none
  std::optional<double> predicted_before_ms, predicted_after_ms;
};

Report transform_report(const TransformSummary& summary);

}  // namespace infercast::report
