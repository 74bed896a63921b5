// ONNX Runtime as an external runner: Node.js runs runners/ort/runner.js, which loads
// the onnxruntime-node package pinned in runners/ort/package.json.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "../runtimes.hpp"
#include "infercast/base/error.hpp"
#include "process_runtime.hpp"

namespace infercast::runtime {
namespace {

namespace fs = std::filesystem;

// INFERCAST_ORT_RUNNER, else beside the executable (build/infercast → runners/, or an
// installed share/infercast/runners/), else the source tree this library was built from.
std::string find_runner_script() {
  if (const char* env = std::getenv("INFERCAST_ORT_RUNNER"); env != nullptr && *env != '\0') return env;
  std::vector<fs::path> candidates;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back(exe.parent_path() / "../runners/ort/runner.js");
    candidates.push_back(exe.parent_path() / "../share/infercast/runners/ort/runner.js");
  }
#ifdef INFERCAST_RUNNERS_DIR
  candidates.push_back(fs::path(INFERCAST_RUNNERS_DIR) / "ort/runner.js");
#endif
  std::string looked;
  for (const fs::path& p : candidates) {
    if (fs::is_regular_file(p, ec)) return fs::weakly_canonical(p, ec).string();
    looked += (looked.empty() ? "" : ", ") + p.lexically_normal().string();
  }
  throw Error(
      ErrorKind::kUnsupported, "", "runtime 'ort'",
      "runner script runners/ort/runner.js not found (looked in " + looked + "); set INFERCAST_ORT_RUNNER to its path");
}

}  // namespace

std::unique_ptr<Runtime> make_ort_runtime(const RuntimeOptions& options) {
  ProcessRuntimeConfig config;
  config.name = "ort";
  config.engine = "ONNX Runtime";
  config.model_format = "onnx";
  config.request_timeout_s = options.request_timeout_s;
  if (!options.runner_command.empty()) {
    config.command = options.runner_command;
  } else {
    const char* node = std::getenv("INFERCAST_NODE");
    config.command = {node != nullptr && *node != '\0' ? node : "node", find_runner_script()};
  }
  return std::make_unique<ProcessRuntime>(std::move(config));
}

}  // namespace infercast::runtime
