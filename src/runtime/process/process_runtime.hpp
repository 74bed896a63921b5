// A Runtime backed by an external runner speaking docs/runner-protocol.md. The runner
// loads the model file the graph came from; a runner that dies is restarted by the
// next call, which first re-sends the load.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "infercast/runtime/process.hpp"
#include "infercast/runtime/runtime.hpp"

namespace infercast::runtime {

struct ProcessRuntimeConfig {
  std::string name;                  // registry name ("ort")
  std::string engine;                // for messages ("ONNX Runtime")
  std::string model_format;          // the graph format the runner loads ("onnx")
  std::vector<std::string> command;  // starts the runner
  double request_timeout_s = 300;
};

class ProcessRuntime : public Runtime {
 public:
  explicit ProcessRuntime(ProcessRuntimeConfig config);

  std::string name() const override { return config_.name; }
  std::string version() override;
  Support supports(const ir::Graph& graph, int node) const override;
  void prepare(const ir::Graph& graph, const PrepareOptions& options) override;
  RunResult run(const RunOptions& options) override;
  std::vector<HostTensor> infer(const std::vector<HostTensor>& inputs) override;

 private:
  struct Port {
    std::string name;
    ir::DType dtype = ir::DType::kUnknown;
    std::vector<std::int64_t> dims;  // -1 for a symbolic dim
  };

  void load();
  nlohmann::json call(nlohmann::json request);
  void require_prepared(const char* what) const;
  nlohmann::json input_shapes() const;

  ProcessRuntimeConfig config_;
  RunnerProcess runner_;
  std::string version_;
  const ir::Graph* graph_ = nullptr;
  std::string model_path_;         // as the graph names it, for messages
  std::string runner_model_path_;  // absolute, for the runner
  int threads_ = 0;
  bool optimize_ = true;
  std::vector<Port> inputs_;
  std::vector<Port> outputs_;
  std::uint64_t loaded_generation_ = 0;
};

}  // namespace infercast::runtime
