// The "benchmark_model" runtime: a device reached only through shell commands. run()
// pushes the model (if a push command is given), runs the device command and parses
// TensorFlow Lite benchmark_model's output (infercast/runtime/benchmark_model.hpp).
//
// Placeholders in both commands (each value shell-quoted where it is a path):
//   {model}       push command: the local .tflite; device command: the path on the device
//                 (device_dir + file name) when a push command is given, else the local path
//   {device_dir}  RuntimeOptions::device_dir
//   {threads}     PrepareOptions::threads (must be > 0 when used: the device's count)
//   {warmup} {repeat} {min_time}   the run's protocol: warm-up runs, minimum runs, seconds
// Nothing else in the commands is touched (shell ${VAR} stays the shell's).
#pragma once

#include <filesystem>
#include <string>

#include "infercast/runtime/runtime.hpp"

namespace infercast::runtime {

class CommandRuntime : public Runtime {
 public:
  explicit CommandRuntime(const RuntimeOptions& options);
  ~CommandRuntime() override;  // removes its private temporary folder
  CommandRuntime(const CommandRuntime&) = delete;
  CommandRuntime& operator=(const CommandRuntime&) = delete;

  std::string name() const override { return "benchmark_model"; }
  // The TFLite version the last run's output named, else "unknown". Runs nothing.
  std::string version() override;
  // Every node of a .tflite graph (the device decides); for other graphs, what the
  // TFLite writer can express.
  Support supports(const ir::Graph& graph, int node) const override;
  // Picks the file to push: the graph's own .tflite, else the graph written as .tflite
  // into a private temporary folder (a name the device's shell needs no quotes for).
  // Throws Error(kInvalidArgument) for a missing command or one without {model}, and
  // for {threads} with threads = 0; Error(kUnsupported) when the graph cannot be written.
  void prepare(const ir::Graph& graph, const PrepareOptions& options) override;
  // Push, then the device command, each under RuntimeOptions::request_timeout_s; parses
  // the output. Throws Error(kIo) quoting the command's last stderr line when a command
  // fails, crashes or times out (its process group is killed), and the parser's errors.
  // Within a run the protocol is benchmark_model's own (its --num_runs, --warmup_runs,
  // --min_secs; use {repeat}, {warmup}, {min_time} to pass infercast's). The CV target
  // applies to whole runs: while the best run's CV is above it, the device command runs
  // again (at most protocol.max_remeasure times; the push is not repeated) and the
  // lowest-CV run is returned.
  RunResult run(const RunOptions& options) override;
  // Throws Error(kUnsupported): benchmark_model reports timings only.
  std::vector<HostTensor> infer(const std::vector<HostTensor>& inputs) override;

  // The commands run() executes, placeholders replaced (for messages and tests).
  std::string push_command(const RunOptions& options) const;
  std::string device_command(const RunOptions& options) const;

 private:
  std::string expand(const std::string& command, const std::string& model, const RunOptions& options) const;
  const std::filesystem::path& temp_dir();

  RuntimeOptions options_;
  std::string version_;
  std::filesystem::path temp_dir_;
  std::filesystem::path local_model_;  // the file pushed (or run locally)
  std::string source_path_;            // the model the user named, for messages
  int threads_ = 0;
  bool prepared_ = false;
};

}  // namespace infercast::runtime
