#include "command_runtime.hpp"

#include <stdlib.h>

#include <cmath>
#include <system_error>

#include "../runtimes.hpp"
#include "infercast/base/error.hpp"
#include "infercast/runtime/benchmark_model.hpp"
#include "shell_command.hpp"

#ifdef INFERCAST_HAVE_EXPORT
#include "infercast/export/export.hpp"
#endif

namespace infercast::runtime {
namespace {

namespace fs = std::filesystem;

const char* const kWhere = "runtime 'benchmark_model'";

// A file name that survives every shell between here and the device unquoted: adb shell
// joins its arguments into one string for the device's shell, so quoting for the local
// shell is not enough there.
bool is_plain_name(const std::string& name) {
  if (name.empty() || name.front() == '-') return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-' || c == '+';
    if (!ok) return false;
  }
  return true;
}

std::string plain_name(const std::string& name) {
  std::string out;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-' || c == '+';
    out += ok ? c : '_';
  }
  if (out.empty() || out.front() == '-' || out.front() == '.') out = "model" + out;
  return out;
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (std::size_t pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
}

std::string number_text(double v) {
  std::string s = std::to_string(v);
  while (s.find('.') != std::string::npos && (s.back() == '0' || s.back() == '.')) {
    const bool dot = s.back() == '.';
    s.pop_back();
    if (dot) break;
  }
  return s;
}

}  // namespace

CommandRuntime::CommandRuntime(const RuntimeOptions& options) : options_(options) {}

CommandRuntime::~CommandRuntime() {
  if (!temp_dir_.empty()) {
    std::error_code ec;
    fs::remove_all(temp_dir_, ec);
  }
}

std::string CommandRuntime::version() {
  return version_.empty() ? "unknown" : version_;
}

Support CommandRuntime::supports(const ir::Graph& graph, int node) const {
  if (graph.meta.format == "tflite") return {};
#ifdef INFERCAST_HAVE_EXPORT
  try {
    const std::string prefix = "node " + std::to_string(node) + " ";
    for (const std::string& entry : exporter::unsupported_nodes(graph, exporter::Format::kTflite)) {
      if (entry.rfind(prefix, 0) == 0) return {false, "the TFLite writer cannot express it: " + entry};
    }
    return {};
  } catch (const Error& e) {
    return {false, e.reason()};
  }
#else
  return {false, "benchmark_model runs .tflite files and this build has no TFLite writer"};
#endif
}

const fs::path& CommandRuntime::temp_dir() {
  if (temp_dir_.empty()) {
    std::error_code ec;
    fs::path base = fs::temp_directory_path(ec);
    if (ec) base = "/tmp";
    std::string pattern = (base / "infercast-device-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw Error(ErrorKind::kIo, pattern, kWhere, "cannot create a temporary folder");
    }
    temp_dir_ = pattern;
  }
  return temp_dir_;
}

void CommandRuntime::prepare(const ir::Graph& graph, const PrepareOptions& options) {
  prepared_ = false;
  source_path_ = graph.meta.source_path;
  if (options_.device_command.empty()) {
    throw Error(ErrorKind::kInvalidArgument, "", "--command",
                "runtime 'benchmark_model' needs the command that runs the model, e.g. --command 'adb shell "
                "/data/local/tmp/benchmark_model --graph={model}'");
  }
  if (options_.device_command.find("{model}") == std::string::npos) {
    throw Error(ErrorKind::kInvalidArgument, "", "--command", "has no {model}: the device would not get the model");
  }
  if (!options_.push_command.empty() && options_.push_command.find("{model}") == std::string::npos) {
    throw Error(ErrorKind::kInvalidArgument, "", "--push", "has no {model}: nothing would be pushed");
  }
  if (options.threads < 0) throw Error(ErrorKind::kInvalidArgument, "", "--threads", "must be >= 0");
  const bool uses_threads = options_.device_command.find("{threads}") != std::string::npos ||
                            options_.push_command.find("{threads}") != std::string::npos;
  if (uses_threads && options.threads == 0) {
    throw Error(ErrorKind::kInvalidArgument, "", "--threads",
                "the command uses {threads}: give --threads N, the thread count on the device (0 would mean this "
                "machine's cores)");
  }
  threads_ = options.threads;

  std::error_code ec;
  const bool own_file = graph.meta.format == "tflite" && !graph.meta.source_path.empty() &&
                        fs::is_regular_file(graph.meta.source_path, ec);
  if (own_file) {
    local_model_ = fs::absolute(graph.meta.source_path, ec);
    // Pushed under a name the device's shell reads unquoted; a copy when it needs another.
    if (!options_.push_command.empty() && !is_plain_name(local_model_.filename().string())) {
      const fs::path staged = temp_dir() / plain_name(local_model_.filename().string());
      fs::copy_file(local_model_, staged, fs::copy_options::overwrite_existing, ec);
      if (ec) throw Error(ErrorKind::kIo, graph.meta.source_path, kWhere, "cannot copy for pushing: " + ec.message());
      local_model_ = staged;
    }
  } else {
#ifdef INFERCAST_HAVE_EXPORT
    const std::string stem =
        graph.meta.source_path.empty() ? "model" : fs::path(graph.meta.source_path).stem().string();
    const fs::path target = temp_dir() / (plain_name(stem) + ".tflite");
    try {
      exporter::save(graph, target, exporter::Format::kTflite);
    } catch (const Error& e) {
      throw Error(e.kind(), graph.meta.source_path, kWhere, "cannot write it as .tflite for the device: " + e.reason());
    }
    local_model_ = target;
#else
    throw Error(ErrorKind::kUnsupported, graph.meta.source_path, kWhere,
                "benchmark_model runs .tflite files and this build has no TFLite writer");
#endif
  }
  prepared_ = true;
}

std::string CommandRuntime::expand(const std::string& command, const std::string& model,
                                   const RunOptions& options) const {
  std::string out = command;
  replace_all(out, "{model}", shell_quote(model));
  replace_all(out, "{device_dir}", shell_quote(options_.device_dir));
  replace_all(out, "{threads}", std::to_string(threads_));
  replace_all(out, "{warmup}", std::to_string(options.protocol.warmup));
  replace_all(out, "{repeat}", std::to_string(options.protocol.min_repeats));
  replace_all(out, "{min_time}", number_text(options.protocol.min_time_s));
  return out;
}

std::string CommandRuntime::push_command(const RunOptions& options) const {
  if (options_.push_command.empty()) return "";
  return expand(options_.push_command, local_model_.string(), options);
}

std::string CommandRuntime::device_command(const RunOptions& options) const {
  std::string model = local_model_.string();
  if (!options_.push_command.empty()) {
    std::string dir = options_.device_dir.empty() ? "/data/local/tmp/" : options_.device_dir;
    if (dir.back() != '/') dir += '/';
    model = dir + local_model_.filename().string();
  }
  return expand(options_.device_command, model, options);
}

RunResult CommandRuntime::run(const RunOptions& options) {
  if (!prepared_) throw Error(ErrorKind::kInvalidArgument, "", kWhere, "run() before prepare()");
  measure::validate(options.protocol);
  const double timeout = options_.request_timeout_s;
  if (!(timeout > 0) || !std::isfinite(timeout)) {
    throw Error(ErrorKind::kInvalidArgument, "", "--timeout", "must be a positive number of seconds");
  }
  auto check = [&](const ShellResult& r, const char* what) {
    if (r.ok()) return;
    const std::string last = r.last_line();
    const std::string how = r.timed_out ? "gave no result within " + number_text(timeout) + " s; killed it"
                                        : std::string("failed (") + r.status() + ")";
    throw Error(ErrorKind::kIo, source_path_, kWhere,
                std::string(what) + " " + how + (last.empty() ? "" : ": '" + last + "'"));
  };
  if (const std::string push = push_command(options); !push.empty()) {
    check(run_shell(push, timeout, std::string(kWhere) + " push"), "the push command");
  }
  // The protocol's re-measure rule at the level of whole tool runs (the tool prints a
  // summary, not samples, so runs cannot be pooled): while the best run's CV is above the
  // target, run again, at most max_remeasure times, and keep the lowest-CV run.
  const std::string command = device_command(options);
  RunResult best;
  bool have = false;
  for (int attempt = 0; attempt <= options.protocol.max_remeasure; ++attempt) {
    const ShellResult result = run_shell(command, timeout, kWhere);
    check(result, "the device command");
    const benchmark_model::Output output = benchmark_model::parse(result.merged, source_path_);
    RunResult run = benchmark_model::to_run_result(output, options.per_layer, source_path_);
    if (run.threads == 0) run.threads = threads_;
    run.context_note = "timed by benchmark_model on the device the command reaches, with its own inputs";
    version_ = output.version;
    if (!have || run.latency_ms.cv < best.latency_ms.cv) best = std::move(run);
    have = true;
    if (best.latency_ms.cv <= options.protocol.cv_target) break;
  }
  return best;
}

std::vector<HostTensor> CommandRuntime::infer(const std::vector<HostTensor>& inputs) {
  throw Error(ErrorKind::kUnsupported, source_path_, kWhere, "benchmark_model reports timings only");
}

std::unique_ptr<Runtime> make_benchmark_model_runtime(const RuntimeOptions& options) {
  return std::make_unique<CommandRuntime>(options);
}

}  // namespace infercast::runtime
