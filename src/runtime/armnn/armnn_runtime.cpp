// The `armnn` runtime: a .tflite file read by Arm NN's own TFLite parser and run by
// Arm NN's kernels, in process. Nothing on this path was written here (parser,
// graph optimizer, kernels), so `verify --runtime armnn --reference xnnpack` checks a
// TFLite file, and infercast's importer and XNNPACK executor, against an independent
// reader.
//
// Backends: the accelerated ones when this Arm NN has them (CpuAcc: NEON, GpuAcc:
// OpenCL, on Arm boards), else CpuRef, Arm NN's portable reference kernels. CpuRef is
// written for correctness, not speed: its times are labelled as such and say nothing
// about what a device would do.
//
// Honest support: Arm NN decides. supports() asks Arm NN's parser (with stand-in
// layers for the operators it has no parser for) and its optimizer (which asks each
// backend whether it has a kernel for each layer and data type), once per graph, and
// maps each refusal back to the node it came from. A refusal the parser raises stops
// it at that operator: later operators are not checked.
#include <armnn/ArmNN.hpp>
#include <armnn/BackendRegistry.hpp>
#include <armnn/LayerVisitorBase.hpp>
#include <armnnTfLiteParser/ITfLiteParser.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <regex>

#include "infercast/base/error.hpp"
#include "infercast/base/mapped_file.hpp"
#include "infercast/measure/stats.hpp"
#include "runtime/runtimes.hpp"
#include "tflite_generated.h"

namespace infercast::runtime {
namespace {

constexpr const char* kName = "armnn";

constexpr const char* kNoBackend =
    "Arm NN found no backend to run on (Debian: install libarmnn-cpuref-backend22 for CpuRef)";

double elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

// Arm NN logs to stdout by default; infercast's stdout carries reports.
void quiet_logging() {
  static std::once_flag once;
  std::call_once(once, [] { armnn::ConfigureLogging(false, false, armnn::LogSeverity::Fatal); });
}

// An Arm NN message on one line, without the source location Arm NN appends
// (" at function CreateConstTensor [./src/armnnTfLiteParser/TfLiteParser.cpp:3331]").
std::string one_line(std::string message) {
  const std::size_t at = message.find(" at function ");
  if (at != std::string::npos) message.erase(at);
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  while (!message.empty() && message.back() == ' ') message.pop_back();
  return message;
}

// The backends Arm NN found, fastest first. Debian ships each backend as a plugin that
// IRuntime::Create loads (CpuRef: libarmnn-cpuref-backend22), so ask after creating one.
std::vector<armnn::BackendId> backends() {
  const armnn::BackendIdSet available = armnn::BackendRegistryInstance().GetBackendIds();
  std::vector<armnn::BackendId> chosen;
  for (const char* id : {"GpuAcc", "CpuAcc", "CpuRef"}) {
    if (available.count(armnn::BackendId(id)) > 0) chosen.emplace_back(id);
  }
  return chosen;
}

std::string backend_list(const std::vector<armnn::BackendId>& ids) {
  std::string s;
  for (const armnn::BackendId& id : ids) s += (s.empty() ? "" : "+") + id.Get();
  return s;
}

std::optional<ir::DType> to_ir(armnn::DataType t) {
  switch (t) {
    case armnn::DataType::Float32: return ir::DType::kFloat32;
    case armnn::DataType::Float16: return ir::DType::kFloat16;
    case armnn::DataType::BFloat16: return ir::DType::kBFloat16;
    case armnn::DataType::QAsymmU8: return ir::DType::kUInt8;
    case armnn::DataType::QAsymmS8:
    case armnn::DataType::QSymmS8: return ir::DType::kInt8;
    case armnn::DataType::QSymmS16: return ir::DType::kInt16;
    case armnn::DataType::Signed32: return ir::DType::kInt32;
    case armnn::DataType::Boolean: return ir::DType::kBool;
    default: return std::nullopt;
  }
}

std::vector<std::int64_t> dims_of(const armnn::TensorInfo& info) {
  std::vector<std::int64_t> dims;
  const armnn::TensorShape& shape = info.GetShape();
  for (unsigned i = 0; i < shape.GetNumDimensions(); ++i) dims.push_back(shape[i]);
  return dims;
}

// The file's bytes, as Arm NN's parser takes them.
std::vector<std::uint8_t> read_file(const std::string& path) {
  const base::MappedFile file(path);
  const auto bytes = file.bytes();
  std::vector<std::uint8_t> out(bytes.size());
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

// TFLite operator index (subgraph 0) -> IR node index. The TFLite importer keeps the
// file's tensor indices, so an operator's first output names its node.
std::map<int, int> operator_nodes(const std::vector<std::uint8_t>& bytes, const ir::Graph& graph) {
  std::map<int, int> by_tensor;
  for (std::size_t n = 0; n < graph.nodes.size(); ++n) {
    if (!graph.nodes[n].outputs.empty()) by_tensor[graph.nodes[n].outputs[0]] = static_cast<int>(n);
  }
  std::map<int, int> result;
  flatbuffers::Verifier verifier(bytes.data(), bytes.size());
  if (!tflite::VerifyModelBuffer(verifier)) return result;
  const tflite::Model* model = tflite::GetModel(bytes.data());
  if (model->subgraphs() == nullptr || model->subgraphs()->size() == 0) return result;
  const auto* ops = model->subgraphs()->Get(0)->operators();
  for (flatbuffers::uoffset_t i = 0; ops != nullptr && i < ops->size(); ++i) {
    const auto* outputs = ops->Get(i)->outputs();
    if (outputs == nullptr || outputs->size() == 0) continue;
    const auto it = by_tensor.find(outputs->Get(0));
    if (it != by_tensor.end()) result[static_cast<int>(i)] = it->second;
  }
  return result;
}

// Operators this Arm NN reads without complaint but computes differently from what the
// file says, by operator index. Arm NN 20.08 (API 22) reads RESIZE_BILINEAR's
// align_corners but not half_pixel_centers: measured, its output for half_pixel_centers
// = true equals XNNPACK's for false (ONNX Runtime agrees with XNNPACK). Refused rather
// than run wrong.
std::map<int, std::string> known_wrong(const std::vector<std::uint8_t>& bytes) {
  std::map<int, std::string> result;
#if ARMNN_MAJOR_VERSION <= 22
  flatbuffers::Verifier verifier(bytes.data(), bytes.size());
  if (!tflite::VerifyModelBuffer(verifier)) return result;
  const tflite::Model* model = tflite::GetModel(bytes.data());
  if (model->subgraphs() == nullptr || model->subgraphs()->size() == 0 || model->operator_codes() == nullptr) {
    return result;
  }
  const auto* codes = model->operator_codes();
  const auto* ops = model->subgraphs()->Get(0)->operators();
  for (flatbuffers::uoffset_t i = 0; ops != nullptr && i < ops->size(); ++i) {
    const tflite::Operator* op = ops->Get(i);
    if (op->opcode_index() >= codes->size()) continue;
    const tflite::OperatorCode* code = codes->Get(op->opcode_index());
    const auto builtin = static_cast<tflite::BuiltinOperator>(
        std::max<std::int32_t>(code->deprecated_builtin_code(), static_cast<std::int32_t>(code->builtin_code())));
    if (builtin != tflite::BuiltinOperator::RESIZE_BILINEAR) continue;
    const auto* options = op->builtin_options_as_ResizeBilinearOptions();
    if (options != nullptr && options->half_pixel_centers()) {
      result[static_cast<int>(i)] =
          "Arm NN 20.08 ignores half_pixel_centers and resizes with asymmetric coordinates (a wrong result, not "
          "rounding)";
    }
  }
#endif
  return result;
}

// Collects the parser's stand-in layers: operators it has no parser for.
class StandInCollector : public armnn::LayerVisitorBase<armnn::VisitorNoThrowPolicy> {
 public:
  void VisitStandInLayer(const armnn::IConnectableLayer*, const armnn::StandInDescriptor&, const char* name) override {
    names.emplace_back(name == nullptr ? "" : name);
  }
  std::vector<std::string> names;
};

// Arm NN names the layers it makes from operator i of subgraph s "<Kind>:<s>:<i>"
// (stand-ins: "StandIn:<s>:<i>:<opcode>"); its messages say "operator #<i>".
std::optional<int> operator_in(const std::string& text) {
  static const std::regex op_number(R"(operator #(\d+))");
  static const std::regex layer_name(R"([A-Za-z0-9]+:0:(\d+))");
  std::smatch m;
  if (std::regex_search(text, m, op_number) || std::regex_search(text, m, layer_name)) return std::stoi(m[1].str());
  return std::nullopt;
}

// What Arm NN refuses in a graph: node index -> reason. A refusal that names no
// operator is attached to the first node, so it is never lost.
std::map<int, std::string> find_refusals(const ir::Graph& graph) {
  std::map<int, std::string> refused;
  if (graph.nodes.empty()) return refused;
  std::vector<std::uint8_t> bytes;
  try {
    bytes = read_file(graph.meta.source_path);
  } catch (const Error& e) {
    refused[0] = e.reason();
    return refused;
  }
  const std::map<int, int> nodes = operator_nodes(bytes, graph);
  auto node_of = [&](const std::string& text) {
    const auto op = operator_in(text);
    if (!op) return 0;
    const auto it = nodes.find(*op);
    return it == nodes.end() ? 0 : it->second;
  };
  auto add = [&](int node, const std::string& reason) {
    std::string& r = refused[node];
    r += (r.empty() ? "" : "; ") + reason;
  };
  for (const auto& [op, reason] : known_wrong(bytes)) {
    const auto it = nodes.find(op);
    add(it == nodes.end() ? 0 : it->second, reason);
  }
  quiet_logging();
  try {
    armnnTfLiteParser::ITfLiteParser::TfLiteParserOptions options;
    options.m_StandInLayerForUnsupported = true;
    const auto parser = armnnTfLiteParser::ITfLiteParser::Create(options);
    const armnn::INetworkPtr network = parser->CreateNetworkFromBinary(bytes);
    StandInCollector standins;
    network->Accept(standins);
    for (const std::string& name : standins.names)
      add(node_of(name), "Arm NN's TFLite parser has no parser for this operator");
    if (!standins.names.empty()) return refused;
    const armnn::IRuntimePtr runtime = armnn::IRuntime::Create(armnn::IRuntime::CreationOptions());
    if (backends().empty()) {
      add(0, kNoBackend);
      return refused;
    }
    std::vector<std::string> messages;
    const armnn::IOptimizedNetworkPtr optimized =
        armnn::Optimize(*network, backends(), runtime->GetDeviceSpec(), armnn::OptimizerOptions(),
                        armnn::Optional<std::vector<std::string>&>(messages));
    if (!optimized) {
      // Its errors, not the warnings about falling back to the next backend.
      for (const std::string& m : messages) {
        if (m.rfind("ERROR", 0) == 0) add(node_of(m), "Arm NN: " + one_line(m));
      }
      if (refused.empty()) add(0, "Arm NN's optimizer refused the network");
    }
  } catch (const armnn::Exception& e) {
    const std::string what = e.what();
    std::string reason = "Arm NN: " + one_line(what);
    // The parser reads weights and biases from the file's buffers only; an operator
    // whose weights another operator computes (DEQUANTIZE of float16 weights) has an
    // empty buffer there.
    static const std::regex empty_buffer(R"(Buffer #\d+ has 0 bytes)");
    if (std::regex_search(what, empty_buffer)) {
      reason += " (Arm NN takes this operator's weights only as constant data; here another operator computes them)";
    }
    // Builtin codes newer than Arm NN's copy of the TFLite schema.
    if (what.find("Operator code") != std::string::npos && what.find("out of range") != std::string::npos) {
      reason += " (an operator newer than Arm NN's TFLite schema)";
    }
    add(node_of(what), reason);
  } catch (const std::exception& e) {
    add(0, std::string("Arm NN: ") + one_line(e.what()));
  }
  return refused;
}

class ArmnnRuntime final : public Runtime {
 public:
  std::string name() const override { return kName; }
  std::string version() override { return std::string("Arm NN ") + ARMNN_VERSION; }

  Support supports(const ir::Graph& graph, int node) const override {
    if (graph.meta.format != "tflite") {
      return {false, "Arm NN reads .tflite files; this graph comes from " +
                         (graph.meta.format.empty() ? std::string("memory") : graph.meta.format)};
    }
    const auto& refused = refusals(graph);
    const auto it = refused.find(node);
    if (it == refused.end()) return {};
    return {false, it->second};
  }

  void prepare(const ir::Graph& graph, const PrepareOptions& options) override {
    const std::string where = std::string("runtime '") + kName + "'";
    if (graph.meta.format != "tflite") {
      throw Error(ErrorKind::kUnsupported, graph.meta.source_path, where, supports(graph, 0).reason);
    }
    std::error_code ec;
    if (graph.meta.source_path.empty() || !std::filesystem::is_regular_file(graph.meta.source_path, ec)) {
      throw Error(ErrorKind::kUnsupported, graph.meta.source_path, where,
                  "Arm NN loads the model file; this graph has no file on disk");
    }
    if (options.threads < 0) throw Error(ErrorKind::kInvalidArgument, "", "--threads", "must be >= 0");
    require_supported(*this, graph);
    graph_ = nullptr;
    quiet_logging();
    try {
      parser_ = armnnTfLiteParser::ITfLiteParser::Create();
      armnn::INetworkPtr network = parser_->CreateNetworkFromBinary(read_file(graph.meta.source_path));
      runtime_ = armnn::IRuntime::Create(armnn::IRuntime::CreationOptions());
      backends_ = backends();
      if (backends_.empty()) throw Error(ErrorKind::kUnsupported, graph.meta.source_path, where, kNoBackend);
      std::vector<std::string> messages;
      armnn::IOptimizedNetworkPtr optimized =
          armnn::Optimize(*network, backends_, runtime_->GetDeviceSpec(), armnn::OptimizerOptions(),
                          armnn::Optional<std::vector<std::string>&>(messages));
      if (!optimized) {
        throw Error(ErrorKind::kUnsupported, graph.meta.source_path, where,
                    "Arm NN's optimizer refused the network" +
                        (messages.empty() ? std::string() : ": " + one_line(messages.front())));
      }
      std::string message;
      if (runtime_->LoadNetwork(network_id_, std::move(optimized), message) != armnn::Status::Success) {
        throw Error(ErrorKind::kUnsupported, graph.meta.source_path, where,
                    "Arm NN could not load the network: " + one_line(message));
      }
      inputs_.clear();
      outputs_.clear();
      for (const std::string& n : parser_->GetSubgraphInputTensorNames(0)) {
        inputs_.push_back({n, parser_->GetNetworkInputBindingInfo(0, n)});
      }
      for (const std::string& n : parser_->GetSubgraphOutputTensorNames(0)) {
        outputs_.push_back({n, parser_->GetNetworkOutputBindingInfo(0, n)});
      }
    } catch (const armnn::Exception& e) {
      throw Error(ErrorKind::kUnsupported, graph.meta.source_path, where, "Arm NN: " + one_line(e.what()));
    }
    for (const Binding& b : inputs_) check_dtype(graph, b, "input");
    for (const Binding& b : outputs_) check_dtype(graph, b, "output");
    graph_ = &graph;
  }

  RunResult run(const RunOptions& options) override {
    require_prepared();
    const std::vector<HostTensor> inputs = random_inputs(*graph_, options.seed);
    std::vector<HostTensor> outputs;
    bind(inputs, outputs);
    RunResult result;
    result.runtime = kName;
    result.runtime_version = version() + " (" + backend_list(backends_) + ")";
    // CpuRef runs every layer on the calling thread; the accelerated backends use
    // their own thread pools, which Arm NN does not let a caller size.
    result.threads = 1;
    result.latency_ms = measure::measure(options.protocol, [this] {
      const auto start = std::chrono::steady_clock::now();
      enqueue();
      return elapsed_ms(start);
    });
    if (reference_only()) {
      result.context_note = "random inputs (seed " + std::to_string(options.seed) +
                            ") on Arm NN's CpuRef reference backend: portable kernels written for correctness; its "
                            "times say nothing about NEON/GPU speed";
    }
    if (options.per_layer) {
      result.context_note += std::string(result.context_note.empty() ? "" : "; ") + "no per-layer times from Arm NN";
    }
    return result;
  }

  std::vector<HostTensor> infer(const std::vector<HostTensor>& inputs) override {
    require_prepared();
    std::vector<HostTensor> outputs;
    bind(inputs, outputs);
    enqueue();
    return outputs;
  }

 private:
  struct Binding {
    std::string name;
    armnn::BindingPointInfo info;
  };

  bool reference_only() const { return backends_.size() == 1 && backends_[0] == armnn::BackendId("CpuRef"); }

  void require_prepared() const {
    if (graph_ == nullptr) throw Error(ErrorKind::kInvalidArgument, "", kName, "run before prepare");
  }

  void check_dtype(const ir::Graph& graph, const Binding& b, const char* role) const {
    if (!to_ir(b.info.second.GetDataType())) {
      throw Error(ErrorKind::kUnsupported, graph.meta.source_path, std::string(role) + " '" + b.name + "'",
                  std::string("Arm NN tensor type ") + armnn::GetDataTypeName(b.info.second.GetDataType()) +
                      " has no infercast equivalent");
    }
  }

  // Points Arm NN at `inputs` (matched by name) and at freshly sized `outputs`.
  void bind(const std::vector<HostTensor>& inputs, std::vector<HostTensor>& outputs) {
    bound_inputs_.clear();
    bound_outputs_.clear();
    for (const Binding& b : inputs_) {
      const HostTensor* match = nullptr;
      for (const HostTensor& t : inputs) {
        if (t.name == b.name) match = &t;
      }
      const std::string where = "input '" + b.name + "'";
      if (match == nullptr) throw Error(ErrorKind::kInvalidArgument, "", where, "not given");
      const armnn::TensorInfo& info = b.info.second;
      if (match->dtype != *to_ir(info.GetDataType())) {
        throw Error(ErrorKind::kInvalidArgument, "", where,
                    std::string("is ") + std::string(ir::dtype_name(match->dtype)) + ", the model takes " +
                        std::string(ir::dtype_name(*to_ir(info.GetDataType()))));
      }
      if (match->dims != dims_of(info) || match->data.size() != info.GetNumBytes()) {
        throw Error(ErrorKind::kInvalidArgument, "", where, "shape differs from the prepared model's");
      }
      bound_inputs_.emplace_back(b.info.first, armnn::ConstTensor(info, match->data.data()));
    }
    outputs.clear();
    outputs.reserve(outputs_.size());
    for (const Binding& b : outputs_) {
      const armnn::TensorInfo& info = b.info.second;
      HostTensor t{b.name, *to_ir(info.GetDataType()), dims_of(info), std::vector<std::byte>(info.GetNumBytes())};
      outputs.push_back(std::move(t));
      bound_outputs_.emplace_back(b.info.first, armnn::Tensor(info, outputs.back().data.data()));
    }
    // Graph output order, which the IR keeps from the file (names match).
    std::vector<HostTensor> ordered;
    if (graph_ != nullptr && graph_->outputs.size() == outputs.size()) {
      for (int id : graph_->outputs) {
        for (HostTensor& t : outputs) {
          if (t.name == graph_->tensors[static_cast<std::size_t>(id)].name) ordered.push_back(std::move(t));
        }
      }
      if (ordered.size() == outputs.size()) {
        // Moving a vector<std::byte> keeps its buffer, so the bound pointers stay valid.
        outputs = std::move(ordered);
      }
    }
  }

  void enqueue() {
    try {
      if (runtime_->EnqueueWorkload(network_id_, bound_inputs_, bound_outputs_) != armnn::Status::Success) {
        throw Error(ErrorKind::kUnsupported, graph_->meta.source_path, std::string("runtime '") + kName + "'",
                    "Arm NN failed to run the network");
      }
    } catch (const armnn::Exception& e) {
      throw Error(ErrorKind::kUnsupported, graph_->meta.source_path, std::string("runtime '") + kName + "'",
                  "Arm NN: " + one_line(e.what()));
    }
  }

  // Refusals of the graph last asked about, computed once (parsing and optimizing a
  // model takes a while; supports() is asked once per node).
  const std::map<int, std::string>& refusals(const ir::Graph& graph) const {
    if (refusals_graph_ != &graph || refusals_path_ != graph.meta.source_path) {
      refusals_ = find_refusals(graph);
      refusals_graph_ = &graph;
      refusals_path_ = graph.meta.source_path;
    }
    return refusals_;
  }

  mutable std::map<int, std::string> refusals_;
  mutable const ir::Graph* refusals_graph_ = nullptr;
  mutable std::string refusals_path_;

  armnnTfLiteParser::ITfLiteParserPtr parser_{nullptr, &armnnTfLiteParser::ITfLiteParser::Destroy};
  armnn::IRuntimePtr runtime_{nullptr, &armnn::IRuntime::Destroy};
  armnn::NetworkId network_id_ = 0;
  std::vector<armnn::BackendId> backends_;
  std::vector<Binding> inputs_;
  std::vector<Binding> outputs_;
  armnn::InputTensors bound_inputs_;
  armnn::OutputTensors bound_outputs_;
  const ir::Graph* graph_ = nullptr;
};

}  // namespace

std::unique_ptr<Runtime> make_armnn_runtime(const RuntimeOptions&) {
  return std::make_unique<ArmnnRuntime>();
}

}  // namespace infercast::runtime
