#include "process_runtime.hpp"

#include <cmath>
#include <filesystem>
#include <set>

#include "infercast/base/error.hpp"
#include "wire.hpp"

namespace infercast::runtime {
namespace {

constexpr int kProtocolVersion = 1;
constexpr std::uint64_t kMaxSeed = std::uint64_t{1} << 53;  // JSON numbers stay exact below this

}  // namespace

ProcessRuntime::ProcessRuntime(ProcessRuntimeConfig config)
    : config_(std::move(config)), runner_(config_.command, config_.name + " runner") {}

std::string ProcessRuntime::version() {
  if (!version_.empty()) return version_;
  const nlohmann::json answer = runner_.request({{"op", "hello"}}, config_.request_timeout_s, model_path_);
  const std::string where = config_.name + " runner request 'hello'";
  if (!answer.contains("protocol") || answer["protocol"] != kProtocolVersion) {
    runner_.stop();
    throw Error(ErrorKind::kIo, model_path_, where,
                "runner speaks protocol " + (answer.contains("protocol") ? answer["protocol"].dump() : "(none)") +
                    ", infercast speaks " + std::to_string(kProtocolVersion));
  }
  if (!answer.contains("runtime_version") || !answer["runtime_version"].is_string()) {
    throw Error(ErrorKind::kIo, model_path_, where, "answer has no runtime_version");
  }
  version_ = answer["runtime_version"].get<std::string>();
  return version_;
}

Support ProcessRuntime::supports(const ir::Graph& graph, int node) const {
  if (graph.meta.format != config_.model_format) {
    return {false, config_.engine + " runs " + config_.model_format + " files; this graph comes from " +
                       (graph.meta.format.empty() ? std::string("memory") : graph.meta.format)};
  }
  // The runner decides what it can load; its refusal comes back from prepare() as an Error.
  return {};
}

void ProcessRuntime::prepare(const ir::Graph& graph, const PrepareOptions& options) {
  const std::string where = "runtime '" + config_.name + "'";
  if (graph.meta.format != config_.model_format) {
    throw Error(ErrorKind::kUnsupported, graph.meta.source_path, where, supports(graph, 0).reason);
  }
  require_supported(*this, graph);
  std::error_code ec;
  if (graph.meta.source_path.empty() || !std::filesystem::is_regular_file(graph.meta.source_path, ec)) {
    throw Error(ErrorKind::kUnsupported, graph.meta.source_path, where,
                config_.engine + " loads the model file; this graph has no file on disk");
  }
  if (options.threads < 0) throw Error(ErrorKind::kInvalidArgument, "", "--threads", "must be >= 0");
  graph_ = nullptr;
  model_path_ = graph.meta.source_path;
  runner_model_path_ = std::filesystem::absolute(graph.meta.source_path, ec).string();
  if (ec) runner_model_path_ = graph.meta.source_path;
  threads_ = resolve_threads(options.threads);
  optimize_ = options.optimize;
  load();
  graph_ = &graph;
}

void ProcessRuntime::load() {
  nlohmann::json request = {{"op", "load"}, {"model", runner_model_path_}, {"threads", threads_}};
  if (!optimize_) request["optimization"] = "disabled";
  nlohmann::json answer = runner_.request(request, config_.request_timeout_s, model_path_);
  const std::string where = config_.name + " runner request 'load'";
  auto ports = [&](const char* key) {
    std::vector<Port> result;
    if (!answer.contains(key) || !answer[key].is_array()) {
      runner_.stop();
      throw Error(ErrorKind::kIo, model_path_, where, std::string("answer has no \"") + key + "\" list");
    }
    for (const auto& p : answer[key]) {
      Port port;
      const auto dtype = p.is_object() && p.contains("dtype") && p["dtype"].is_string()
                             ? wire::dtype_from_name(p["dtype"].get<std::string>())
                             : std::nullopt;
      if (!p.contains("name") || !p["name"].is_string() || !dtype || !p.contains("dims") || !p["dims"].is_array()) {
        runner_.stop();
        throw Error(ErrorKind::kIo, model_path_, where, std::string("malformed entry in \"") + key + "\": " + p.dump());
      }
      port.name = p["name"].get<std::string>();
      port.dtype = *dtype;
      for (const auto& d : p["dims"]) port.dims.push_back(d.is_number_integer() ? d.get<std::int64_t>() : -1);
      result.push_back(std::move(port));
    }
    return result;
  };
  inputs_ = ports("inputs");
  outputs_ = ports("outputs");
  loaded_generation_ = runner_.generation();
}

nlohmann::json ProcessRuntime::call(nlohmann::json request) {
  // A fresh runner (after a crash, a hang or garbage) knows no model yet.
  if (!runner_.running() || runner_.generation() != loaded_generation_) load();
  return runner_.request(std::move(request), config_.request_timeout_s, model_path_);
}

void ProcessRuntime::require_prepared(const char* what) const {
  if (graph_ == nullptr) {
    throw Error(ErrorKind::kInvalidArgument, "", "runtime '" + config_.name + "'",
                std::string(what) + " called before a successful prepare()");
  }
}

nlohmann::json ProcessRuntime::input_shapes() const {
  nlohmann::json shapes = nlohmann::json::object();
  for (const Port& port : inputs_) {
    const int id = graph_->find_tensor(port.name);
    std::vector<std::int64_t> dims = port.dims;
    if (id >= 0 && graph_->tensors[static_cast<std::size_t>(id)].shape.is_static()) {
      dims = graph_->tensors[static_cast<std::size_t>(id)].shape.extents();
    }
    for (std::int64_t d : dims) {
      if (d < 0) {
        throw Error(ErrorKind::kUnknownDim, model_path_, "input '" + port.name + "'",
                    "shape is not static; fix it with --input-shape " + port.name + "=...");
      }
    }
    shapes[port.name] = dims;
  }
  return shapes;
}

RunResult ProcessRuntime::run(const RunOptions& options) {
  require_prepared("run()");
  measure::validate(options.protocol);
  if (options.seed >= kMaxSeed) throw Error(ErrorKind::kInvalidArgument, "", "--seed", "must be below 2^53");
  RunResult result;
  result.runtime = config_.name;
  result.runtime_version = version();
  result.threads = threads_;
  const nlohmann::json shapes = input_shapes();
  auto time_request = [&](const measure::Protocol& p, bool with_warmup, bool profile) {
    nlohmann::json request{{"op", "time"},
                           {"warmup", with_warmup ? p.warmup : 0},
                           {"repeats", p.min_repeats},
                           {"max_repeats", p.max_repeats},
                           {"min_time_s", p.min_time_s},
                           {"seed", options.seed},
                           {"profile", profile},
                           {"input_shapes", shapes}};
    if (profile && options.flush_bytes > 0) request["flush_bytes"] = options.flush_bytes;
    return request;
  };
  auto samples = [&](const nlohmann::json& value, const std::string& what) {
    std::vector<double> times;
    if (!value.is_array()) {
      throw Error(ErrorKind::kIo, model_path_, config_.name + " runner request 'time'", "answer has no " + what);
    }
    for (const auto& t : value) {
      if (!t.is_number()) {
        throw Error(ErrorKind::kIo, model_path_, config_.name + " runner request 'time'", what + " has a non-number");
      }
      times.push_back(t.get<double>());
    }
    return times;
  };
  // A flushed per-layer pass is about the layers; its end-to-end figures come from
  // the profiled runs themselves rather than from a second, unflushed set of runs.
  const bool layers_only = options.per_layer && options.flush_bytes > 0;
  if (!layers_only) {
    result.latency_ms = measure::measure_attempts(options.protocol, [&](const measure::Protocol& p, bool with_warmup) {
      const nlohmann::json answer = call(time_request(p, with_warmup, false));
      return samples(answer.value("times_ms", nlohmann::json()), "times_ms");
    });
  }
  if (options.per_layer) {
    // A separate pass with ORT's profiler on: profiling slows the run, so the
    // end-to-end figures above come from runs without it.
    const nlohmann::json answer = call(time_request(options.protocol, true, true));
    if (layers_only)
      result.latency_ms = measure::summarize(samples(answer.value("times_ms", nlohmann::json()), "times_ms"));
    const nlohmann::json profile = answer.value("profile", nlohmann::json());
    if (!profile.is_array()) {
      throw Error(ErrorKind::kIo, model_path_, config_.name + " runner request 'time'", "answer has no profile");
    }
    for (const auto& node : profile) {
      if (!node.is_object() || !node.contains("name") || !node["name"].is_string()) continue;
      LayerTiming layer;
      layer.name = node["name"].get<std::string>();
      layer.op = node.value("op", std::string());
      const std::vector<double> times = samples(node.value("times_ms", nlohmann::json()), "profile times_ms");
      if (times.empty()) continue;
      layer.ms = measure::summarize(times);
      result.layers.push_back(std::move(layer));
    }
  }
  return result;
}

std::vector<HostTensor> ProcessRuntime::infer(const std::vector<HostTensor>& inputs) {
  require_prepared("infer()");
  const std::string where = config_.name + " runner request 'infer'";
  nlohmann::json tensors = nlohmann::json::object();
  std::set<std::string> expected;
  for (const Port& p : inputs_) expected.insert(p.name);
  for (const HostTensor& t : inputs) {
    if (expected.count(t.name) == 0) {
      throw Error(ErrorKind::kInvalidArgument, model_path_, "input '" + t.name + "'", "the model has no such input");
    }
    if (ir::dtype_bytes(t.dtype, t.numel()) != t.data.size()) {
      throw Error(ErrorKind::kInvalidArgument, model_path_, "input '" + t.name + "'",
                  "byte count does not match dtype and dims");
    }
    tensors[t.name] = wire::tensor_to_json(t);
  }
  for (const Port& p : inputs_) {
    if (!tensors.contains(p.name)) {
      throw Error(ErrorKind::kInvalidArgument, model_path_, "input '" + p.name + "'", "no value given");
    }
  }
  const nlohmann::json answer = call({{"op", "infer"}, {"inputs", std::move(tensors)}});
  if (!answer.contains("outputs") || !answer["outputs"].is_object()) {
    throw Error(ErrorKind::kIo, model_path_, where, "answer has no outputs");
  }
  std::vector<HostTensor> outputs;
  for (const Port& p : outputs_) {
    if (!answer["outputs"].contains(p.name)) {
      throw Error(ErrorKind::kIo, model_path_, where, "answer lacks output '" + p.name + "'");
    }
    HostTensor t = wire::tensor_from_json(p.name, answer["outputs"][p.name], where);
    outputs.push_back(std::move(t));
  }
  return outputs;
}

}  // namespace infercast::runtime
