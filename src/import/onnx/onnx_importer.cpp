// ONNX → ir::Graph, via libonnx's protobuf classes and ONNX's C++ shape inference.
#include <google/protobuf/arena.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "import/onnx/onnx_schemas.hpp"
#include "import/onnx/onnx_wire.hpp"
#include "import/onnx/shape_folding.hpp"
#include "infercast/base/error.hpp"
#include "infercast/base/mapped_file.hpp"
#include "infercast/import/import.hpp"
#include "infercast/ir/validate.hpp"

namespace infercast::import {
namespace {

namespace fs = std::filesystem;
using ir::DType;

constexpr std::int64_t kMaxDim = std::int64_t{1} << 62;

DType dtype_from_onnx(int t) {
  switch (t) {
    case ::onnx::TensorProto::FLOAT: return DType::kFloat32;
    case ::onnx::TensorProto::UINT8: return DType::kUInt8;
    case ::onnx::TensorProto::INT8: return DType::kInt8;
    case ::onnx::TensorProto::UINT16: return DType::kUInt16;
    case ::onnx::TensorProto::INT16: return DType::kInt16;
    case ::onnx::TensorProto::INT32: return DType::kInt32;
    case ::onnx::TensorProto::INT64: return DType::kInt64;
    case ::onnx::TensorProto::STRING: return DType::kString;
    case ::onnx::TensorProto::BOOL: return DType::kBool;
    case ::onnx::TensorProto::FLOAT16: return DType::kFloat16;
    case ::onnx::TensorProto::DOUBLE: return DType::kFloat64;
    case ::onnx::TensorProto::UINT32: return DType::kUInt32;
    case ::onnx::TensorProto::UINT64: return DType::kUInt64;
    case ::onnx::TensorProto::COMPLEX64: return DType::kComplex64;
    case ::onnx::TensorProto::COMPLEX128: return DType::kComplex128;
    case ::onnx::TensorProto::BFLOAT16: return DType::kBFloat16;
    default: return DType::kUnknown;
  }
}

ir::Shape shape_from_proto(const ::onnx::TensorShapeProto& s) {
  ir::Shape shape;
  shape.dims.reserve(static_cast<std::size_t>(s.dim_size()));
  for (const auto& d : s.dim()) {
    if (d.has_dim_value() && d.dim_value() >= 0) {
      shape.dims.push_back(ir::Dim{d.dim_value(), {}});
    } else {
      shape.dims.push_back(ir::Dim{-1, d.has_dim_param() ? d.dim_param() : std::string()});
    }
  }
  return shape;
}

// The op for an ONNX node; nullopt for ops outside the table.
std::optional<ir::Op> op_from_onnx(const std::string& domain, const std::string& op_type) {
  if (!domain.empty() && domain != "ai.onnx") return std::nullopt;
  if (op_type == "Upsample") return ir::Op::Resize;
  if (op_type == "Scatter") return ir::Op::ScatterElements;
  auto op = ir::op_from_name(op_type);
  if (op == ir::Op::Other) return std::nullopt;
  return op;
}

// Reference to a node for messages: "node 12 'Conv_3' (Conv)".
std::string node_where(int index, const ::onnx::NodeProto& n) {
  return "node " + std::to_string(index) + " '" + n.name() + "' (" + n.op_type() + ")";
}

// libonnx 1.12's inference functions check less than they read: some index vectors
// by another input's rank (Conv and QLinearConv size the kernel from the weight's rank
// and index dilations and pads by the data's). InferShapes gets copies of the schemas
// whose inference function first checks those preconditions and fails just that
// node's inference, which ONNX records and moves past, instead of reading out of bounds.
void check_inference_preconditions(const std::string& op, ::onnx::InferenceContext& ctx) {
  auto rank = [&ctx](std::size_t i) -> int {
    if (i >= ctx.getNumInputs()) return -1;
    const ::onnx::TypeProto* t = ctx.getInputType(i);
    if (t == nullptr || !t->has_tensor_type() || !t->tensor_type().has_shape()) return -1;
    return t->tensor_type().shape().dim_size();
  };
  // convPoolShapeInference divides by strides and multiplies by dilations without
  // checking them: a zero stride is an integer division by zero (SIGFPE).
  static const std::set<std::string, std::less<>> kConvPool = {"Conv",        "ConvInteger", "ConvTranspose",
                                                               "QLinearConv", "AveragePool", "MaxPool",
                                                               "LpPool",      "MaxUnpool",   "QLinearAveragePool"};
  if (kConvPool.contains(op)) {
    for (const char* name : {"strides", "dilations", "kernel_shape"}) {
      const ::onnx::AttributeProto* a = ctx.getAttribute(name);
      if (a == nullptr) continue;
      for (const std::int64_t v : a->ints()) {
        if (v <= 0) fail_shape_inference("attribute '", name, "' has a non-positive value ", v);
      }
    }
  }
  if (op == "Conv" || op == "ConvInteger" || op == "ConvTranspose" || op == "QLinearConv") {
    const int x = rank(0);
    const int w = rank(op == "QLinearConv" ? 3 : 1);
    if (x >= 0 && w >= 0 && x != w) fail_shape_inference("input rank ", x, " differs from weight rank ", w);
  }
}

// Process-wide: a guarded copy is made once per schema, not once per import (copying
// an OpSchema, docs and type tables included, cost more than inferring most nodes).
class GuardedSchemas final : public ::onnx::ISchemaRegistry {
 public:
  static const GuardedSchemas& instance() {
    static const GuardedSchemas schemas;
    return schemas;
  }

  const ::onnx::OpSchema* GetSchema(const std::string& key, const int version,
                                    const std::string& domain) const override {
    const ::onnx::OpSchema* schema = onnx_schemas::find(key, version, domain);
    if (schema == nullptr || !schema->has_type_and_shape_inference_function()) return schema;
    std::lock_guard lock(mutex_);
    auto& guarded = guarded_[schema];
    if (!guarded) {
      guarded = std::make_unique<::onnx::OpSchema>(*schema);
      guarded->TypeAndShapeInferenceFunction(
          [infer = schema->GetTypeAndShapeInferenceFunction(), op = schema->Name()](::onnx::InferenceContext& ctx) {
            check_inference_preconditions(op, ctx);
            infer(ctx);
          });
    }
    return guarded.get();
  }

 private:
  GuardedSchemas() = default;

  mutable std::mutex mutex_;
  mutable std::unordered_map<const ::onnx::OpSchema*, std::unique_ptr<::onnx::OpSchema>> guarded_;
};

class OnnxConverter {
 public:
  OnnxConverter(std::span<const std::byte> bytes, std::string file, std::optional<fs::path> folder,
                const ImportOptions& options)
      : bytes_(bytes), file_(std::move(file)), folder_(std::move(folder)), options_(options) {}

  ir::Graph run(std::shared_ptr<const void> mapping) {
    const std::string stripped = onnx_wire::strip_large_payloads(bytes_, file_);
    // The parsed model lives in an arena: its hundreds of small messages and strings are
    // bump-allocated and freed at once, with the graph whose constants view them.
    google::protobuf::ArenaOptions arena_options;
    arena_options.start_block_size = std::max<std::size_t>(stripped.size(), 4096);
    arena_options.max_block_size = std::max<std::size_t>(stripped.size(), 65536);
    auto arena = std::make_shared<google::protobuf::Arena>(arena_options);
    ::onnx::ModelProto* model = google::protobuf::Arena::CreateMessage<::onnx::ModelProto>(arena.get());
    if (!model->ParseFromString(stripped)) {
      throw Error(ErrorKind::kBadModel, file_, "", "not a valid ONNX model (protobuf parse failed)");
    }
    if (!model->has_graph()) throw Error(ErrorKind::kBadModel, file_, "", "not an ONNX model: it has no graph");
    graph_.retain(std::move(mapping));
    graph_.retain(std::shared_ptr<const void>(arena, model));
    read_metadata(*model);
    validate_declared_shapes(model->graph());
    apply_input_shapes(*model->mutable_graph());
    infer_shapes(*model);
    refine_with_folding(*model);
    build(model->graph());
    graph_.finalize(file_);
    resolve_constant_identities();
    normalize_attributes();
    read_quantization();
    ir::validate(graph_, file_);
    return std::move(graph_);
  }

 private:
  [[noreturn]] void fail(ErrorKind kind, const std::string& where, const std::string& reason) const {
    throw Error(kind, file_, where, reason);
  }

  void read_metadata(const ::onnx::ModelProto& model) {
    auto& meta = graph_.meta;
    meta.format = "onnx";
    meta.source_path = file_;
    meta.layout = ir::Layout::kNCHW;
    meta.producer = model.producer_name();
    if (!model.producer_version().empty()) meta.producer += " " + model.producer_version();
    meta.graph_name = model.graph().name();
    bool found = false;
    for (const auto& opset : model.opset_import()) {
      if (opset.domain().empty() || opset.domain() == "ai.onnx") {
        meta.opset = opset.version();
        found = true;
      }
    }
    if (!found && model.graph().node_size() > 0) {
      meta.warnings.push_back("the model imports no ai.onnx opset; ops are read by name only");
    }
    const auto& range = ::onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
    const auto it = range.find("");
    const int newest = it == range.end() ? 0 : it->second.second;
    if (meta.opset > newest) {
      meta.warnings.push_back("opset " + std::to_string(meta.opset) + " is newer than this build's ONNX schemas (" +
                              std::to_string(newest) + "); shapes use the newest known op versions");
    } else if (found && meta.opset < 7) {
      meta.warnings.push_back("opset " + std::to_string(meta.opset) + " predates opset 7; support is best-effort");
    }
    for (const auto& node : model.graph().node()) {
      for (const auto& attr : node.attribute()) {
        if (attr.has_g() || attr.graphs_size() > 0) {
          meta.other_subgraphs.push_back(node.name() + "." + attr.name());
        }
      }
    }
  }

  // Declared extents (nullopt: symbolic) must be in [0, 2^62) with a product below 2^62.
  // where() names the tensor; it is called only to report a failure (spelling out every
  // initializer's name cost more than checking its dims).
  template <typename Where>
  void check_extents(const std::vector<std::optional<std::int64_t>>& dims, const Where& where) const {
    std::uint64_t numel = 1;
    for (std::size_t i = 0; i < dims.size(); ++i) {
      if (!dims[i]) continue;
      const std::int64_t d = *dims[i];
      auto dim = [i] { return "dimension " + std::to_string(i); };
      if (d < 0) fail(ErrorKind::kBadModel, where(), dim() + " is negative (" + std::to_string(d) + ")");
      if (d >= kMaxDim) fail(ErrorKind::kBadModel, where(), dim() + " is too large (" + std::to_string(d) + ")");
      if (d != 0 && numel > static_cast<std::uint64_t>(kMaxDim) / static_cast<std::uint64_t>(d)) {
        fail(ErrorKind::kBadModel, where(), "element count overflows 2^62");
      }
      numel *= static_cast<std::uint64_t>(d);
    }
  }

  template <typename Where>
  void check_dims(const google::protobuf::RepeatedField<std::int64_t>& dims, const Where& where) const {
    check_extents({dims.begin(), dims.end()}, where);
  }

  template <typename Where>
  void check_type(const ::onnx::TypeProto& type, const Where& where) const {
    if (!type.has_tensor_type() || !type.tensor_type().has_shape()) return;
    std::vector<std::optional<std::int64_t>> dims;
    for (const auto& d : type.tensor_type().shape().dim()) {
      dims.push_back(d.has_dim_value() ? std::optional<std::int64_t>(d.dim_value()) : std::nullopt);
    }
    check_extents(dims, where);
  }

  // Shapes the file declares are checked before ONNX shape inference computes with them.
  void validate_declared_shapes(const ::onnx::GraphProto& g) const {
    for (const auto& t : g.initializer()) check_dims(t.dims(), [&] { return "initializer '" + t.name() + "'"; });
    for (const auto& s : g.sparse_initializer())
      check_dims(s.dims(), [&] { return "sparse initializer '" + s.values().name() + "'"; });
    for (const auto& v : g.input()) check_type(v.type(), [&] { return "input '" + v.name() + "'"; });
    for (const auto& v : g.output()) check_type(v.type(), [&] { return "output '" + v.name() + "'"; });
    for (const auto& v : g.value_info()) check_type(v.type(), [&] { return "value_info '" + v.name() + "'"; });
    for (int i = 0; i < g.node_size(); ++i) {
      for (const auto& a : g.node(i).attribute()) {
        if (a.has_t())
          check_dims(a.t().dims(), [&] { return node_where(i, g.node(i)) + " attribute '" + a.name() + "'"; });
      }
    }
  }

  void apply_input_shapes(::onnx::GraphProto& g) {
    if (options_.input_shapes.empty()) return;
    std::unordered_set<std::string> initializers;
    for (const auto& t : g.initializer()) initializers.insert(t.name());
    for (const auto& [name, dims] : options_.input_shapes) {
      ::onnx::ValueInfoProto* target = nullptr;
      std::string names;
      for (auto& v : *g.mutable_input()) {
        if (initializers.count(v.name())) continue;
        names += (names.empty() ? "" : ", ") + v.name();
        if (v.name() == name) target = &v;
      }
      if (target == nullptr) {
        fail(ErrorKind::kInvalidArgument, "--input-shape " + name,
             "the model has no input of that name (inputs: " + names + ")");
      }
      auto* tensor_type = target->mutable_type()->mutable_tensor_type();
      const auto& old = tensor_type->shape();
      if (tensor_type->has_shape() && old.dim_size() != static_cast<int>(dims.size())) {
        fail(ErrorKind::kInvalidArgument, "--input-shape " + name,
             "rank " + std::to_string(dims.size()) + " does not match the model's rank " +
                 std::to_string(old.dim_size()));
      }
      for (int i = 0; i < old.dim_size(); ++i) {
        if (old.dim(i).has_dim_value() && old.dim(i).dim_value() != dims[static_cast<std::size_t>(i)]) {
          graph_.meta.warnings.push_back("--input-shape " + name + ": dimension " + std::to_string(i) +
                                         " changed from " + std::to_string(old.dim(i).dim_value()) + " to " +
                                         std::to_string(dims[static_cast<std::size_t>(i)]));
        }
      }
      auto* shape = tensor_type->mutable_shape();
      shape->clear_dim();
      for (std::int64_t d : dims) shape->add_dim()->set_dim_value(d);
    }
    // Shapes recorded for the old input size would now contradict inference.
    g.clear_value_info();
    for (auto& out : *g.mutable_output()) {
      if (out.type().has_tensor_type()) out.mutable_type()->mutable_tensor_type()->clear_shape();
    }
  }

  // The first node (subgraphs and model functions included) that fails the ONNX
  // checker's per-node schema verification, as a message; empty when all pass.
  std::string schema_violation(const ::onnx::GraphProto& g, const std::unordered_map<std::string, int>& opsets,
                               int depth = 0) const {
    if (depth > 64) return "subgraphs nested deeper than 64 levels";
    for (const auto& n : g.node()) {
      if (auto why = schema_violation(n, opsets); !why.empty()) return why;
      for (const auto& a : n.attribute()) {
        if (a.has_g()) {
          if (auto why = schema_violation(a.g(), opsets, depth + 1); !why.empty()) return why;
        }
        for (const auto& sub : a.graphs()) {
          if (auto why = schema_violation(sub, opsets, depth + 1); !why.empty()) return why;
        }
      }
    }
    return {};
  }

  std::string schema_violation(const ::onnx::NodeProto& n, const std::unordered_map<std::string, int>& opsets) const {
    const std::string domain = n.domain() == "ai.onnx" ? "" : n.domain();
    const auto opset = opsets.find(domain);
    if (opset == opsets.end()) return {};
    const auto* schema = onnx_schemas::find(n.op_type(), opset->second, domain);
    if (schema == nullptr) return {};
    try {
      schema->Verify(n);
    } catch (const std::exception& e) {
      std::string what = e.what();
      if (what.size() > 200) what = what.substr(0, 200) + "...";
      return "node '" + n.name() + "' (" + n.op_type() + "): " + what;
    }
    return {};
  }

  void infer_shapes(::onnx::ModelProto& model) {
    // libonnx's inference functions assume every node passed its schema check and read
    // required attributes without looking (a Scan without num_scan_inputs segfaults in
    // libonnx 1.12), so hostile nodes must not reach them.
    std::unordered_map<std::string, int> opsets;
    for (const auto& o : model.opset_import()) {
      opsets[o.domain() == "ai.onnx" ? "" : o.domain()] = static_cast<int>(o.version());
    }
    std::string violation = schema_violation(model.graph(), opsets);
    for (int i = 0; violation.empty() && i < model.functions_size(); ++i) {
      auto function_opsets = opsets;
      for (const auto& o : model.functions(i).opset_import()) {
        function_opsets[o.domain() == "ai.onnx" ? "" : o.domain()] = static_cast<int>(o.version());
      }
      for (const auto& n : model.functions(i).node()) {
        violation = schema_violation(n, function_opsets);
        if (!violation.empty()) break;
      }
    }
    if (!violation.empty()) {
      graph_.meta.warnings.push_back("ONNX shape inference skipped: " + violation);
      return;
    }
    try {
      ::onnx::ShapeInferenceOptions opts(/*check_type=*/false, /*error_mode=*/0, /*data_prop=*/true);
      ::onnx::shape_inference::InferShapes(model, &GuardedSchemas::instance(), opts);
      inference_ran_ = true;
    } catch (const std::exception& e) {
      std::string what = e.what();
      if (what.size() > 300) what = what.substr(0, 300) + "...";
      graph_.meta.warnings.push_back("ONNX shape inference stopped early: " + what);
    }
  }

  // Ops whose libonnx 1.12 type-and-shape inference reads only their inputs' types and
  // their attributes, never an input's value (no getInputData, getInputSparseData or
  // getSymbolicInput): a Constant in place of a producer changes nothing they infer,
  // as long as the Constant's type equals the one already inferred.
  static bool reads_no_input_values(const std::string& op) {
    static const std::unordered_set<std::string> ops = {
        "Conv",    "ConvTranspose", "Gemm",    "MatMul",      "BatchNormalization",    "Clip",
        "Relu",    "LeakyRelu",     "PRelu",   "Sigmoid",     "HardSigmoid",           "HardSwish",
        "Tanh",    "Elu",           "Selu",    "Softplus",    "InstanceNormalization", "LayerNormalization",
        "Softmax", "LogSoftmax",    "MaxPool", "AveragePool", "GlobalAveragePool",     "GlobalMaxPool",
        "LRN"};
    return ops.count(op) > 0;
  }

  // True when replacing the folded nodes by Constant nodes cannot change what ONNX
  // shape inference infers, so that another round would reproduce the first one's
  // types exactly (torchvision exports: Identity nodes over small shared biases, read by
  // Conv). That holds when every folded value's type is already inferred as exactly
  // the Constant's (element type and static dims, no denotations), and every node
  // reading a folded value is an op whose inference reads no input values and which
  // has no data propagation function (data propagation passes values on to consumers
  // further down). Einsum shapes, subgraphs (their nodes may read outer values) and
  // consumers of other domains or unknown versions always repeat the round.
  bool another_round_changes_nothing(const ::onnx::ModelProto& model, const onnx_fold::Folding& folding) const {
    if (!folding.shapes.empty() || !graph_.meta.other_subgraphs.empty()) return false;
    const auto& g = model.graph();
    // Keys view the model's and the folding's names, both alive for this call.
    std::unordered_map<std::string_view, const ::onnx::TensorProto*> folded;
    std::unordered_set<int> folded_nodes;
    for (const auto& [index, constant] : folding.constants) {
      folded_nodes.insert(index);
      folded.emplace(constant.output(0), &constant.attribute(0).t());
    }
    std::size_t typed = 0;
    auto same_type = [&](const ::onnx::ValueInfoProto& v) {
      const auto it = folded.find(v.name());
      if (it == folded.end()) return true;
      const ::onnx::TensorProto& value = *it->second;
      const ::onnx::TypeProto& type = v.type();
      if (!type.denotation().empty() || !type.has_tensor_type()) return false;
      const auto& tensor = type.tensor_type();
      if (tensor.elem_type() != value.data_type() || !tensor.has_shape()) return false;
      const auto& dims = tensor.shape().dim();
      if (dims.size() != value.dims_size()) return false;
      for (int d = 0; d < dims.size(); ++d) {
        if (!dims[d].has_dim_value() || dims[d].dim_value() != value.dims(d) || !dims[d].denotation().empty())
          return false;
      }
      ++typed;
      return true;
    };
    for (const auto& v : g.value_info()) {
      if (!same_type(v)) return false;
    }
    for (const auto& v : g.output()) {
      if (!same_type(v)) return false;
    }
    if (typed != folded.size()) return false;  // a folded value without an inferred type (or listed twice)
    std::int64_t opset = 0;
    for (const auto& o : model.opset_import()) {
      if (o.domain().empty() || o.domain() == "ai.onnx") opset = o.version();
    }
    for (int i = 0; i < g.node_size(); ++i) {
      const auto& n = g.node(i);
      if (folded_nodes.count(i)) continue;  // a Constant itself in the next round, checked above
      const bool reads_folded =
          std::any_of(n.input().begin(), n.input().end(), [&](const std::string& in) { return folded.count(in) > 0; });
      if (!reads_folded) continue;
      if (!(n.domain().empty() || n.domain() == "ai.onnx") || !reads_no_input_values(n.op_type())) return false;
      const ::onnx::OpSchema* schema = onnx_schemas::find(n.op_type(), static_cast<int>(opset), "");
      if (schema == nullptr || !schema->has_type_and_shape_inference_function() ||
          schema->has_data_propagation_function())
        return false;
    }
    return true;
  }

  // Shape arithmetic that libonnx does not propagate is evaluated (shape_folding.hpp)
  // and inference re-run with the evaluated nodes replaced by Constant nodes, until
  // nothing more folds; the types inferred that way are kept. The rounds run on the
  // model itself, not a copy: the replaced nodes are put back afterwards, and if a
  // round's inference fails the types are restored to what the first inference found.
  // Each round can unlock one more stage of a model whose every block derives its
  // reshapes from the previous block's output shape (Swin: 12 blocks and 3 merges);
  // rounds stop as soon as nothing more folds, so models without shape math pay one, and
  // so do models whose folding cannot change any inferred type (another_round_changes_nothing).
  static constexpr int kMaxFoldingRounds = 64;

  void refine_with_folding(::onnx::ModelProto& model) {
    if (!inference_ran_) return;
    onnx_fold::Folding folding = onnx_fold::find_foldable(model);
    if (folding.count() == 0 || another_round_changes_nothing(model, folding)) return;
    auto& graph = *model.mutable_graph();
    const google::protobuf::RepeatedPtrField<::onnx::ValueInfoProto> first_value_info = graph.value_info();
    std::vector<::onnx::TypeProto> first_output_types;
    for (const auto& out : graph.output()) first_output_types.push_back(out.type());
    std::vector<std::pair<int, ::onnx::NodeProto>> replaced;
    bool failed = false;
    for (int round = 0; round < kMaxFoldingRounds; ++round) {
      if (round > 0) folding = onnx_fold::find_foldable(model);
      if (folding.count() == 0) break;
      for (auto& [index, constant] : folding.constants) {
        replaced.emplace_back(index, std::move(*graph.mutable_node(index)));
        *graph.mutable_node(index) = std::move(constant);
      }
      folding.constants.clear();
      onnx_fold::apply(std::move(folding), model);
      try {
        ::onnx::ShapeInferenceOptions opts(/*check_type=*/false, /*error_mode=*/0, /*data_prop=*/true);
        ::onnx::shape_inference::InferShapes(model, &GuardedSchemas::instance(), opts);
      } catch (const std::exception&) {
        failed = true;  // keep what the first inference found
        break;
      }
    }
    for (auto it = replaced.rbegin(); it != replaced.rend(); ++it)
      *graph.mutable_node(it->first) = std::move(it->second);
    if (!failed) return;
    *graph.mutable_value_info() = first_value_info;
    for (int i = 0; i < graph.output_size(); ++i) *graph.mutable_output(i)->mutable_type() = first_output_types[i];
  }

  std::span<const std::byte> external_data(const ::onnx::TensorProto& t, const std::string& where) {
    std::string location;
    std::uint64_t offset = 0;
    std::optional<std::uint64_t> length;
    for (const auto& e : t.external_data()) {
      try {
        if (e.key() == "location") location = e.value();
        const bool digits = !e.value().empty() && e.value().find_first_not_of("0123456789") == std::string::npos;
        if ((e.key() == "offset" || e.key() == "length") && !digits) throw std::invalid_argument("not a number");
        if (e.key() == "offset") offset = std::stoull(e.value());
        if (e.key() == "length") length = std::stoull(e.value());
      } catch (const std::exception&) {
        fail(ErrorKind::kBadModel, where, "external_data '" + e.key() + "' is not a number: '" + e.value() + "'");
      }
    }
    if (location.empty()) fail(ErrorKind::kBadModel, where, "external data has no location");
    if (!folder_) fail(ErrorKind::kUnsupported, where, "external data cannot be resolved for an in-memory model");
    const fs::path rel(location);
    if (rel.is_absolute())
      fail(ErrorKind::kBadModel, where,
           "external data location '" + location +
               "' is an absolute path; only files inside the model's folder are read");
    for (const auto& part : rel) {
      if (part == "..")
        fail(ErrorKind::kBadModel, where, "external data location '" + location + "' leaves the model's folder");
    }
    const fs::path full = *folder_ / rel;
    if (!base::is_inside(*folder_, full)) {
      fail(ErrorKind::kBadModel, where,
           "external data location '" + location + "' resolves outside the model's folder");
    }
    auto& mapped = external_files_[full.string()];
    if (!mapped) {
      try {
        mapped = std::make_shared<base::MappedFile>(full);
      } catch (const Error& e) {
        fail(ErrorKind::kBadModel, where, "external data file '" + location + "': " + e.reason());
      }
      graph_.retain(mapped);
    }
    const std::uint64_t size = mapped->size();
    const std::uint64_t len = length.value_or(offset <= size ? size - offset : 0);
    if (offset > size || len > size - offset) {
      fail(ErrorKind::kBadModel, where,
           "external data range [" + std::to_string(offset) + ", +" + std::to_string(len) + ") lies outside '" +
               location + "' (" + std::to_string(size) + " bytes)");
    }
    return mapped->bytes().subspan(offset, len);
  }

  template <typename T>
  std::span<const std::byte> view(const google::protobuf::RepeatedField<T>& field) {
    return std::as_bytes(std::span<const T>(field.data(), static_cast<std::size_t>(field.size())));
  }

  // Values stored one per int32 (int8, uint8, int16, uint16, bool, float16, bfloat16)
  // are repacked to their own width; everything else is a view.
  std::span<const std::byte> narrow_int32(const ::onnx::TensorProto& t, DType dtype) {
    const std::size_t width = ir::dtype_bits(dtype) / 8;
    std::vector<std::byte> packed(static_cast<std::size_t>(t.int32_data_size()) * width);
    for (int i = 0; i < t.int32_data_size(); ++i) {
      const auto v = static_cast<std::uint32_t>(t.int32_data(i));
      std::memcpy(packed.data() + static_cast<std::size_t>(i) * width, &v, width);  // little-endian host
    }
    return graph_.own(std::move(packed));
  }

  std::span<const std::byte> tensor_data(const ::onnx::TensorProto& t, DType dtype, const std::string& where) {
    std::span<const std::byte> data;
    bool located = false;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
    for (const auto& e : t.external_data()) {
      if (e.key() != onnx_wire::kOffsetKey && e.key() != onnx_wire::kLengthKey) continue;
      char* end = nullptr;
      const std::uint64_t value = std::strtoull(e.value().c_str(), &end, 10);
      if (end == e.value().c_str() || *end != '\0')
        fail(ErrorKind::kBadModel, where, "bad external_data entry '" + e.key() + "'");
      (e.key() == onnx_wire::kOffsetKey ? offset : length) = value;
      located = located || e.key() == onnx_wire::kOffsetKey;
    }
    if (t.data_location() == ::onnx::TensorProto::EXTERNAL) {
      data = external_data(t, where);
    } else if (located) {
      // Written by our own walk of bytes_; still checked, since a file could carry the key.
      if (offset > bytes_.size() || length > bytes_.size() - offset) {
        fail(ErrorKind::kBadModel, where, "data range lies outside the file");
      }
      data = bytes_.subspan(offset, length);
    } else if (!t.raw_data().empty()) {
      data = std::as_bytes(std::span<const char>(t.raw_data().data(), t.raw_data().size()));
    } else {
      switch (dtype) {
        case DType::kFloat32:
        case DType::kComplex64: data = view(t.float_data()); break;
        case DType::kInt32: data = view(t.int32_data()); break;
        case DType::kInt8:
        case DType::kUInt8:
        case DType::kInt16:
        case DType::kUInt16:
        case DType::kBool:
        case DType::kFloat16:
        case DType::kBFloat16: data = narrow_int32(t, dtype); break;
        case DType::kInt64: data = view(t.int64_data()); break;
        case DType::kFloat64:
        case DType::kComplex128: data = view(t.double_data()); break;
        case DType::kUInt64: data = view(t.uint64_data()); break;
        case DType::kUInt32: {
          std::vector<std::byte> packed(static_cast<std::size_t>(t.uint64_data_size()) * 4);
          for (int i = 0; i < t.uint64_data_size(); ++i) {
            const auto v = static_cast<std::uint32_t>(t.uint64_data(i));
            std::memcpy(packed.data() + static_cast<std::size_t>(i) * 4, &v, 4);
          }
          data = graph_.own(std::move(packed));
          break;
        }
        default: break;
      }
    }
    return data;
  }

  ir::Tensor constant_from_proto(const ::onnx::TensorProto& t, const std::string& where) {
    ir::Tensor out;
    out.name = t.name();
    out.kind = ir::TensorKind::kConstant;
    out.dtype = dtype_from_onnx(t.data_type());
    if (out.dtype == DType::kUnknown) {
      fail(ErrorKind::kUnsupported, where, "data_type " + std::to_string(t.data_type()) + " is not supported");
    }
    std::vector<std::int64_t> dims(t.dims().begin(), t.dims().end());
    out.shape = ir::Shape::of(dims);
    out.data = tensor_data(t, out.dtype, where);
    if (out.dtype != DType::kString) {
      const std::uint64_t expected = ir::dtype_bytes(out.dtype, out.shape.numel().value_or(0));
      if (out.data.size() != expected) {
        fail(ErrorKind::kBadModel, where,
             "holds " + std::to_string(out.data.size()) + " bytes of data but shape " + out.shape.str() + " " +
                 std::string(ir::dtype_name(out.dtype)) + " needs " + std::to_string(expected));
      }
    }
    return out;
  }

  int add_constant(ir::Tensor t, const std::string& where) {
    if (!t.name.empty() && graph_.find_tensor(t.name) >= 0) {
      fail(ErrorKind::kBadModel, where, "tensor name '" + t.name + "' is defined twice");
    }
    return graph_.add_tensor(std::move(t));
  }

  void set_type(ir::Tensor& t, const ::onnx::TypeProto& type) {
    if (!type.has_tensor_type()) return;  // sequences, maps, optionals: no tensor shape
    const auto& tt = type.tensor_type();
    if (tt.elem_type() != 0) t.dtype = dtype_from_onnx(tt.elem_type());
    if (tt.has_shape()) t.shape = shape_from_proto(tt.shape());
  }

  int tensor_for(const std::string& name) {
    const int found = graph_.find_tensor(name);
    if (found >= 0) return found;
    ir::Tensor t;
    t.name = name;
    return graph_.add_tensor(std::move(t));
  }

  void build(const ::onnx::GraphProto& g) {
    std::unordered_map<std::string, const ::onnx::TypeProto*> types;
    for (const auto& v : g.value_info()) types[v.name()] = &v.type();
    for (const auto& v : g.output()) types[v.name()] = &v.type();

    for (const auto& t : g.initializer()) {
      const std::string where = "initializer '" + t.name() + "'";
      if (t.name().empty()) fail(ErrorKind::kBadModel, "initializer", "has no name");
      add_constant(constant_from_proto(t, where), where);
    }
    for (const auto& s : g.sparse_initializer()) {
      const std::string where = "sparse initializer '" + s.values().name() + "'";
      ir::Tensor values = constant_from_proto(s.values(), where);
      std::vector<std::int64_t> dims(s.dims().begin(), s.dims().end());
      values.shape = ir::Shape::of(dims);
      values.sparse = true;
      add_constant(std::move(values), where);
    }
    for (const auto& v : g.input()) {
      if (v.name().empty()) fail(ErrorKind::kBadModel, "graph input", "has no name");
      const int existing = graph_.find_tensor(v.name());
      if (existing >= 0) {
        if (graph_.tensors[existing].kind != ir::TensorKind::kConstant) {
          fail(ErrorKind::kBadModel, "input '" + v.name() + "'", "is declared twice");
        }
        continue;  // an initializer listed as input (IR < 4 style): a constant with a default
      }
      ir::Tensor t;
      t.name = v.name();
      t.kind = ir::TensorKind::kInput;
      set_type(t, v.type());
      graph_.inputs.push_back(graph_.add_tensor(std::move(t)));
    }
    // Outputs of every node first, so that file order does not matter here.
    for (int i = 0; i < g.node_size(); ++i) {
      const auto& n = g.node(i);
      for (const auto& name : n.output()) {
        if (name.empty()) continue;
        const int id = graph_.find_tensor(name);
        if (id >= 0 && graph_.tensors[id].kind == ir::TensorKind::kConstant) {
          fail(ErrorKind::kBadModel, node_where(i, n), "output '" + name + "' overwrites an initializer");
        }
        tensor_for(name);
      }
    }
    graph_.nodes.reserve(static_cast<std::size_t>(g.node_size()));
    for (int i = 0; i < g.node_size(); ++i) {
      const auto& n = g.node(i);
      // Named only when something fails: spelling it out for every node cost more than
      // reading the node.
      const auto where = [&] { return node_where(i, n); };
      if (n.op_type().empty()) fail(ErrorKind::kBadModel, where(), "has no op_type");
      ir::Node node;
      node.name =
          n.name().empty() ? (n.output_size() > 0 ? n.output(0) : n.op_type() + "_" + std::to_string(i)) : n.name();
      node.source_op = n.domain().empty() || n.domain() == "ai.onnx" ? n.op_type() : n.domain() + "." + n.op_type();
      node.op = op_from_onnx(n.domain(), n.op_type()).value_or(ir::Op::Other);
      node.layout = ir::Layout::kNCHW;
      for (const auto& name : n.input()) {
        if (name.empty()) {
          node.inputs.push_back(-1);
          continue;
        }
        const int id = graph_.find_tensor(name);
        if (id < 0) {
          fail(ErrorKind::kBadModel, where(),
               "input '" + name + "' is not produced by any node, initializer or graph input");
        }
        node.inputs.push_back(id);
      }
      for (const auto& name : n.output()) node.outputs.push_back(name.empty() ? -1 : graph_.find_tensor(name));
      read_attributes(n, node, i);
      graph_.nodes.push_back(std::move(node));
    }
    for (const auto& v : g.output()) {
      const int id = graph_.find_tensor(v.name());
      if (id < 0) fail(ErrorKind::kBadModel, "graph output '" + v.name() + "'", "is not produced by any node");
      if (graph_.tensors[id].kind == ir::TensorKind::kActivation) graph_.tensors[id].kind = ir::TensorKind::kOutput;
      graph_.outputs.push_back(id);
    }
    // Types of everything that is not a constant come from the file plus inference.
    for (auto& t : graph_.tensors) {
      if (t.kind == ir::TensorKind::kConstant || t.kind == ir::TensorKind::kInput) continue;
      const auto it = types.find(t.name);
      if (it != types.end()) set_type(t, *it->second);
    }
  }

  // ConstantOfShape's one-element `value` tensor, kept as attributes `fill_value` (its
  // number) and `fill_dtype` (its dtype's name) so that writers can restore it; absent
  // means ONNX's default, float32 zero.
  void read_fill_value(const ::onnx::NodeProto& n, ir::Node& node, const std::string& where) {
    for (const auto& a : n.attribute()) {
      if (a.name() != "value" || !a.has_t()) continue;
      const ir::Tensor v = constant_from_proto(a.t(), where + " attribute 'value'");
      const auto bytes = v.data;
      double x = 0;
      auto read = [&]<typename T>(T) {
        if (bytes.size() != sizeof(T)) return false;
        T value;
        std::memcpy(&value, bytes.data(), sizeof(T));
        x = static_cast<double>(value);
        return true;
      };
      bool ok = false;
      switch (v.dtype) {
        case DType::kFloat32: ok = read(float{}); break;
        case DType::kFloat64: ok = read(double{}); break;
        case DType::kInt64: ok = read(std::int64_t{}); break;
        case DType::kInt32: ok = read(std::int32_t{}); break;
        case DType::kInt8: ok = read(std::int8_t{}); break;
        case DType::kUInt8:
        case DType::kBool: ok = read(std::uint8_t{}); break;
        default: break;
      }
      // Other dtypes keep only their name: without fill_value, writers refuse the node
      // rather than write ONNX's default zero.
      node.attrs.set("fill_dtype", std::string(ir::dtype_name(v.dtype)));
      if (ok) node.attrs.set("fill_value", x);
    }
  }

  void read_attributes(const ::onnx::NodeProto& n, ir::Node& node, int index) {
    for (const auto& a : n.attribute()) {
      switch (a.type()) {
        case ::onnx::AttributeProto::INT: node.attrs.set(a.name(), a.i()); break;
        case ::onnx::AttributeProto::FLOAT: node.attrs.set(a.name(), static_cast<double>(a.f())); break;
        case ::onnx::AttributeProto::STRING: node.attrs.set(a.name(), a.s()); break;
        case ::onnx::AttributeProto::INTS:
          node.attrs.set(a.name(), std::vector<std::int64_t>(a.ints().begin(), a.ints().end()));
          break;
        case ::onnx::AttributeProto::FLOATS:
          node.attrs.set(a.name(), std::vector<double>(a.floats().begin(), a.floats().end()));
          break;
        case ::onnx::AttributeProto::STRINGS:
          node.attrs.set(a.name(), std::vector<std::string>(a.strings().begin(), a.strings().end()));
          break;
        default: break;  // tensors and graphs are handled below or reported as subgraphs
      }
    }
    if (node.op == ir::Op::ConstantOfShape) read_fill_value(n, node, node_where(index, n));
    if (node.op != ir::Op::Constant || node.outputs.empty() || node.outputs[0] < 0) return;
    const std::string where = node_where(index, n);
    // A Constant node's output is a constant tensor with its value as data.
    ir::Tensor& out = graph_.tensors[node.outputs[0]];
    for (const auto& a : n.attribute()) {
      if (a.name() == "value" && a.has_t()) {
        ir::Tensor value = constant_from_proto(a.t(), where + " attribute 'value'");
        out.dtype = value.dtype;
        out.shape = value.shape;
        out.data = value.data;
      } else if (a.name() == "value_float") {
        out.dtype = DType::kFloat32;
        out.shape = ir::Shape::of({});
        out.data = view_of_value(a.f());
      } else if (a.name() == "value_int") {
        out.dtype = DType::kInt64;
        out.shape = ir::Shape::of({});
        out.data = view_of_value(a.i());
      } else if (a.name() == "value_floats") {
        out.dtype = DType::kFloat32;
        out.shape = ir::Shape::of({a.floats_size()});
        out.data = view(a.floats());
      } else if (a.name() == "value_ints") {
        out.dtype = DType::kInt64;
        out.shape = ir::Shape::of({a.ints_size()});
        out.data = view(a.ints());
      } else if (a.name() == "sparse_value" && a.has_sparse_tensor()) {
        ir::Tensor value = constant_from_proto(a.sparse_tensor().values(), where + " attribute 'sparse_value'");
        std::vector<std::int64_t> dims(a.sparse_tensor().dims().begin(), a.sparse_tensor().dims().end());
        out.dtype = value.dtype;
        out.shape = ir::Shape::of(dims);
        out.data = value.data;
        out.sparse = true;
      } else {
        continue;
      }
      out.kind = ir::TensorKind::kConstant;
    }
  }

  template <typename T>
  std::span<const std::byte> view_of_value(T value) {
    std::vector<std::byte> bytes(sizeof(T));
    std::memcpy(bytes.data(), &value, sizeof(T));
    return graph_.own(std::move(bytes));
  }

  // Identity of a constant (exporters de-duplicate equal initializers this way) is a
  // constant too: same data, marked as an alias so weights are counted once.
  void resolve_constant_identities() {
    for (const auto& node : graph_.nodes) {
      if (node.op != ir::Op::Identity || node.inputs.size() != 1 || node.outputs.size() != 1) continue;
      if (node.inputs[0] < 0 || node.outputs[0] < 0) continue;
      const ir::Tensor& src = graph_.tensors[node.inputs[0]];
      if (src.kind != ir::TensorKind::kConstant) continue;
      const int root = src.alias_of >= 0 ? src.alias_of : node.inputs[0];
      ir::Tensor& dst = graph_.tensors[node.outputs[0]];
      if (dst.kind == ir::TensorKind::kOutput) continue;
      dst.kind = ir::TensorKind::kConstant;
      dst.dtype = src.dtype;
      dst.shape = src.shape;
      dst.data = src.data;
      dst.sparse = src.sparse;
      dst.alias_of = root;
    }
  }

  // QDQ models: the integer tensor a DequantizeLinear reads or a QuantizeLinear writes
  // carries the node's scale and zero point (constants: float32 scales, one per tensor
  // or per channel along `axis`, default 1), as TFLite tensors carry theirs, so cost
  // analysis and writers see int8 weights and activations as such. Parameters that are
  // not constants, or not finite and positive, are left to the runtime to judge.
  void read_quantization() {
    for (const ir::Node& node : graph_.nodes) {
      const bool dq = node.op == ir::Op::DequantizeLinear;
      if (!dq && node.op != ir::Op::QuantizeLinear) continue;
      if (node.inputs.size() < 2 || node.inputs[1] < 0 || node.outputs.empty()) continue;
      const int target = dq ? node.inputs[0] : node.outputs[0];
      if (target < 0) continue;
      ir::Tensor& t = graph_.tensors[target];
      if (!t.quant.empty() || (t.dtype != DType::kInt8 && t.dtype != DType::kUInt8 && t.dtype != DType::kInt32))
        continue;
      const ir::Tensor& scale = graph_.tensors[node.inputs[1]];
      if (!scale.is_constant() || scale.dtype != DType::kFloat32 || scale.data.empty() || scale.data.size() % 4 != 0)
        continue;
      ir::Quantization q;
      q.scales.resize(scale.data.size() / 4);
      std::memcpy(q.scales.data(), scale.data.data(), scale.data.size());
      if (!std::all_of(q.scales.begin(), q.scales.end(), [](float v) { return std::isfinite(v) && v > 0; })) continue;
      q.zero_points.assign(q.scales.size(), 0);
      if (node.inputs.size() > 2 && node.inputs[2] >= 0) {
        const ir::Tensor& zp = graph_.tensors[node.inputs[2]];
        if (!zp.is_constant() || zp.dtype != t.dtype) continue;
        const std::size_t width = ir::dtype_bits(zp.dtype) / 8;
        if (zp.data.size() != q.scales.size() * width) continue;
        for (std::size_t i = 0; i < q.scales.size(); ++i) {
          const std::byte* p = zp.data.data() + i * width;
          if (zp.dtype == DType::kInt8) {
            q.zero_points[i] = static_cast<std::int8_t>(*p);
          } else if (zp.dtype == DType::kUInt8) {
            q.zero_points[i] = static_cast<std::uint8_t>(*p);
          } else {
            std::int32_t v;
            std::memcpy(&v, p, 4);
            q.zero_points[i] = v;
          }
        }
      }
      if (q.scales.size() > 1) {
        std::int64_t axis = node.attrs.get_int("axis", 1);
        const auto rank = static_cast<std::int64_t>(t.shape.rank());
        if (!t.shape.rank_known || axis < -rank || axis >= rank) continue;
        if (axis < 0) axis += rank;
        q.axis = static_cast<std::int32_t>(axis);
      }
      t.quant = std::move(q);
    }
  }

  // Canonical conv/pool attributes: kernel_shape, strides, dilations, pads (all
  // begins then all ends), group — explicit, with auto_pad resolved when shapes allow.
  void normalize_attributes() {
    for (std::size_t index = 0; index < graph_.nodes.size(); ++index) {
      ir::Node& node = graph_.nodes[index];
      const bool conv = node.op == ir::Op::Conv || node.op == ir::Op::ConvTranspose;
      const bool pool = node.op == ir::Op::MaxPool || node.op == ir::Op::AveragePool || node.op == ir::Op::LpPool;
      if (!conv && !pool) continue;
      if (node.inputs.empty() || node.inputs[0] < 0 || node.outputs.empty() || node.outputs[0] < 0) continue;
      const ir::Shape& in = graph_.tensors[node.inputs[0]].shape;
      const ir::Shape& out = graph_.tensors[node.outputs[0]].shape;
      std::vector<std::int64_t> kernel = node.attrs.get_ints("kernel_shape");
      if (kernel.empty() && conv && node.inputs.size() > 1 && node.inputs[1] >= 0) {
        const ir::Shape& w = graph_.tensors[node.inputs[1]].shape;
        for (std::size_t i = 2; i < w.rank(); ++i) kernel.push_back(w.dims[i].value);
      }
      if (kernel.empty()) continue;
      const std::size_t spatial = kernel.size();
      auto defaulted = [&](const char* name, std::int64_t value, std::size_t count) {
        auto v = node.attrs.get_ints(name);
        if (v.size() != count) v.assign(count, value);
        node.attrs.set(name, v);
        return v;
      };
      node.attrs.set("kernel_shape", kernel);
      const auto strides = defaulted("strides", 1, spatial);
      const auto dilations = defaulted("dilations", 1, spatial);
      if (conv) node.attrs.set("group", node.attrs.get_int("group", 1));
      std::vector<std::int64_t> pads = node.attrs.get_ints("pads");
      // A window of no size, a zero step or a negative pad has no defined output;
      // costs computed from one would be silently wrong.
      auto require = [&](bool ok, const char* what, const std::vector<std::int64_t>& v) {
        if (ok) return;
        std::string list;
        for (const auto x : v) list += (list.empty() ? "" : ",") + std::to_string(x);
        throw Error(ErrorKind::kBadModel, file_,
                    "node " + std::to_string(index) + " '" + node.name + "' (" + node.source_op + ")",
                    std::string(what) + " [" + list + "]");
      };
      auto all = [](const std::vector<std::int64_t>& v, auto pred) { return std::ranges::all_of(v, pred); };
      require(all(kernel, [](std::int64_t k) { return k != 0 && k >= -1; }), "kernel_shape must be positive, got",
              kernel);
      require(all(strides, [](std::int64_t v) { return v >= 1; }), "strides must be >= 1, got", strides);
      require(all(dilations, [](std::int64_t v) { return v >= 1; }), "dilations must be >= 1, got", dilations);
      require(!conv || node.attrs.get_int("group", 1) >= 1, "group must be >= 1, got",
              {node.attrs.get_int("group", 1)});
      require(all(pads, [](std::int64_t v) { return v >= 0; }), "pads must be >= 0, got", pads);
      const std::string auto_pad = node.attrs.get_string("auto_pad", "NOTSET");
      if (auto_pad == "VALID") {
        pads.assign(2 * spatial, 0);
        node.attrs.set("pads", pads);
      } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
        if (in.rank() != spatial + 2 || out.rank() != spatial + 2 || !in.is_static() || !out.is_static()) continue;
        pads.assign(2 * spatial, 0);
        for (std::size_t i = 0; i < spatial; ++i) {
          const std::int64_t x = node.op == ir::Op::ConvTranspose ? out.dims[i + 2].value : in.dims[i + 2].value;
          const std::int64_t y = node.op == ir::Op::ConvTranspose ? in.dims[i + 2].value : out.dims[i + 2].value;
          const std::int64_t total =
              std::max<std::int64_t>((y - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - x, 0);
          const std::int64_t small = total / 2;
          pads[i] = auto_pad == "SAME_UPPER" ? small : total - small;
          pads[i + spatial] = total - pads[i];
        }
        node.attrs.set("pads", pads);
      } else if (pads.size() != 2 * spatial) {
        node.attrs.set("pads", std::vector<std::int64_t>(2 * spatial, 0));
      }
      if (node.attrs.has("auto_pad")) node.attrs.set("auto_pad", std::string("NOTSET"));
    }
  }

  std::span<const std::byte> bytes_;
  std::string file_;
  std::optional<fs::path> folder_;
  const ImportOptions& options_;
  ir::Graph graph_;
  bool inference_ran_ = false;
  std::unordered_map<std::string, std::shared_ptr<base::MappedFile>> external_files_;
};

}  // namespace

ir::Graph load_onnx(const std::filesystem::path& path, const ImportOptions& options) {
  auto file = std::make_shared<base::MappedFile>(path);
  fs::path folder = path.parent_path();
  if (folder.empty()) folder = ".";
  OnnxConverter converter(file->bytes(), path.string(), folder, options);
  return converter.run(file);
}

ir::Graph load_onnx_bytes(std::span<const std::byte> bytes, const std::string& name, const ImportOptions& options) {
  if (bytes.empty()) throw Error(ErrorKind::kBadModel, name, "", "file is empty");
  OnnxConverter converter(bytes, name, std::nullopt, options);
  return converter.run(nullptr);
}

}  // namespace infercast::import
