// Subcommands of the infercast CLI. Each file parses its options into an options
// struct and calls library code; no logic lives here.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

#include "infercast/predict/predictor.hpp"
#include "infercast/report/model_report.hpp"

namespace infercast::cli {

// A subcommand's action, run after parsing; returns the process exit code.
using Action = std::function<int()>;

void register_analyze(CLI::App& app, Action& action);
void register_ops(CLI::App& app, Action& action);
void register_run(CLI::App& app, Action& action);
void register_verify(CLI::App& app, Action& action);
void register_export(CLI::App& app, Action& action);
void register_train(CLI::App& app, Action& action);
void register_predict(CLI::App& app, Action& action);
void register_validate(CLI::App& app, Action& action);
void register_profile(CLI::App& app, Action& action);
void register_bench(CLI::App& app, Action& action);
void register_db(CLI::App& app, Action& action);
void register_transform(CLI::App& app, Action& action);
void register_report(CLI::App& app, Action& action);

// A prediction as the model report takes it (kernels, latencies, the profile's ceilings).
report::PredictionInput prediction_input(const predict::Bundle& bundle, const predict::Prediction& prediction,
                                         const std::string& bundle_path);
void register_quantize(CLI::App& app, Action& action);

// Writes `text` to `path` (atomically, via a temporary file beside it), or to stdout
// when `path` is empty or "-". Throws Error(kIo).
void write_output(const std::string& path, const std::string& text);

// One line on a bundle's whole-model composition: its scales and per-kernel cost and how
// it fits the synthetic networks (before, and leave-one-out after), or that it has none.
std::string composition_line(const predict::Composition& c);
// The measured in-model scales of the cold-weight excess (predict::calibrate_cold), one line.
std::string cold_scale_line(const predict::Bundle& bundle);
// What a profile read of the host's speed (its context's host_speed) and whether the
// labels were divided by it; empty when it took no readings.
std::string host_speed_line(const nlohmann::json& profile);

// "90", "90s", "10m", "1h", "1.5m" -> seconds (empty -> 0). Throws
// Error(kInvalidArgument) naming `option` for anything else or a negative value.
double parse_duration_s(const std::string& text, const std::string& option);

// While alive, SIGINT asks a running bench loop to stop after the measurement in
// flight (bench::request_stop()) instead of killing the process; the default action
// comes back when it goes out of scope.
class StopBenchOnSigint {
 public:
  StopBenchOnSigint();
  ~StopBenchOnSigint();
  StopBenchOnSigint(const StopBenchOnSigint&) = delete;
  StopBenchOnSigint& operator=(const StopBenchOnSigint&) = delete;
};

}  // namespace infercast::cli
