// ir::Graph -> ONNX ModelProto (libonnx's protobuf classes).
//
// Two paths:
//  - Graphs in ONNX's own form (imported from ONNX, layout NCHW) are written node for
//    node: the same op types, attributes, tensor names and initializer bytes, so that
//    import(export(g)) reproduces g.
//  - NHWC graphs (imported from TFLite) are rewritten to compute in NCHW: weights are
//    permuted offline (OHWI -> OIHW, depthwise 1HWO -> (C*M,1,H,W) with group = C),
//    fused activations become their own nodes, and every rank-4 activation exists in
//    one or both of two forms: "logical" (the NHWC order the TFLite model means) and
//    NCHW. Spatial ops (Conv, pooling, Resize, ...) read NCHW; order-sensitive ops
//    (Reshape, Softmax, FullyConnected, ...) read the logical form; elementwise ops use
//    whichever form their inputs already have. A Transpose is emitted only where a
//    consumer needs the form a producer did not make, so the model's inputs and
//    outputs keep their NHWC names, dtypes and shapes.
//  Quantized NHWC graphs (int8/uint8 activations with scale and zero point, as
//  `infercast quantize` writes them and TFLite's converter does) become QDQ ONNX, the
//  form ONNX Runtime's quantizer writes and its graph optimizer fuses into int8
//  kernels: each op that computes on quantized tensors reads them through
//  DequantizeLinear and writes its float result through QuantizeLinear with the
//  output's parameters; int8 activations are stored as uint8 (zero point + 128: the same
//  real values), since ONNX Runtime's x86 kernels take uint8 activations with int8
//  weights and it converts int8 ones only where a QuantizeLinear has a single reader
//  (see stored_dtype); quantized weights are int8 initializers behind a
//  DequantizeLinear (per output channel: 1-D scales with `axis` 0 of the OIHW weight),
//  int32 biases likewise (scale = input scale × weight scale, zero point 0). A fused
//  RELU/RELU6/RELU_N1_TO_1 is left out when the output's int8 range already saturates
//  inside it (what the TFLite kernel's clamping computes), and kept otherwise.
//  Constant chains (DEQUANTIZE of fp16 or int8 weights, DENSIFY of sparse weights) are
//  folded into float32 initializers: fp16 -> fp32 is exact, int8 dequantization is the
//  same scale * (q - zero_point) in float that DequantizeLinear computes, and permuting
//  the weights needs their values anyway.
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "export/detail.hpp"
#include "export/onnx/sparse.hpp"
#include "import/onnx/onnx_schemas.hpp"
#include "infercast/base/error.hpp"
#include "infercast/export/export.hpp"

namespace infercast::exporter {
namespace {

using ir::DType;
using ir::Op;

constexpr std::uint64_t kMaxProtoBytes = (std::uint64_t{1} << 31) - 1;

std::optional<int> onnx_dtype(DType t) {
  switch (t) {
    case DType::kFloat32: return ::onnx::TensorProto::FLOAT;
    case DType::kFloat16: return ::onnx::TensorProto::FLOAT16;
    case DType::kBFloat16: return ::onnx::TensorProto::BFLOAT16;
    case DType::kFloat64: return ::onnx::TensorProto::DOUBLE;
    case DType::kInt8: return ::onnx::TensorProto::INT8;
    case DType::kUInt8: return ::onnx::TensorProto::UINT8;
    case DType::kInt16: return ::onnx::TensorProto::INT16;
    case DType::kUInt16: return ::onnx::TensorProto::UINT16;
    case DType::kInt32: return ::onnx::TensorProto::INT32;
    case DType::kUInt32: return ::onnx::TensorProto::UINT32;
    case DType::kInt64: return ::onnx::TensorProto::INT64;
    case DType::kUInt64: return ::onnx::TensorProto::UINT64;
    case DType::kBool: return ::onnx::TensorProto::BOOL;
    case DType::kComplex64: return ::onnx::TensorProto::COMPLEX64;
    case DType::kComplex128: return ::onnx::TensorProto::COMPLEX128;
    default: return std::nullopt;  // unknown, int4 (not in ONNX 1.12), string constants
  }
}

std::string node_where(int index, const ir::Node& n) {
  return "node " + std::to_string(index) + " '" + n.name + "' (" + n.source_op + ")";
}

// A constant's value in memory the writer owns: dims, dtype and dense little-endian bytes.
struct Value {
  DType dtype = DType::kUnknown;
  std::vector<std::int64_t> dims;
  std::vector<std::byte> bytes;

  std::size_t elem() const { return ir::dtype_bits(dtype) / 8; }
  std::uint64_t numel() const {
    std::uint64_t n = 1;
    for (auto d : dims) n *= static_cast<std::uint64_t>(d);
    return n;
  }
};

using ir::half_to_float;

// Element (i) of a constant as double, for the dtypes dequantization reads.
std::optional<double> element(const Value& v, std::uint64_t i) {
  const std::byte* p = v.bytes.data() + i * v.elem();
  switch (v.dtype) {
    case DType::kInt8: return static_cast<double>(static_cast<std::int8_t>(*p));
    case DType::kUInt8: return static_cast<double>(static_cast<std::uint8_t>(*p));
    case DType::kInt16: {
      std::int16_t x;
      std::memcpy(&x, p, 2);
      return x;
    }
    case DType::kInt32: {
      std::int32_t x;
      std::memcpy(&x, p, 4);
      return x;
    }
    default: return std::nullopt;
  }
}

// `v` with its dims permuted: out.dims[i] = v.dims[perm[i]].
Value permuted(const Value& v, const std::vector<int>& perm) {
  const std::size_t rank = v.dims.size();
  Value out;
  out.dtype = v.dtype;
  out.dims.resize(rank);
  for (std::size_t i = 0; i < rank; ++i) out.dims[i] = v.dims[static_cast<std::size_t>(perm[i])];
  out.bytes.resize(v.bytes.size());
  const std::size_t elem = v.elem();
  std::vector<std::uint64_t> in_strides(rank, 1);
  for (std::size_t d = rank; d-- > 1;) in_strides[d - 1] = in_strides[d] * static_cast<std::uint64_t>(v.dims[d]);
  const std::uint64_t n = v.numel();
  std::vector<std::int64_t> index(rank, 0);  // index into out
  for (std::uint64_t o = 0; o < n; ++o) {
    std::uint64_t src = 0;
    for (std::size_t i = 0; i < rank; ++i) src += static_cast<std::uint64_t>(index[i]) * in_strides[perm[i]];
    std::memcpy(out.bytes.data() + o * elem, v.bytes.data() + src * elem, elem);
    for (std::size_t i = rank; i-- > 0;) {
      if (++index[i] < out.dims[i]) break;
      index[i] = 0;
    }
  }
  return out;
}

const std::vector<int> kToNchw = {0, 3, 1, 2};
const std::vector<int> kToNhwc = {0, 2, 3, 1};

// NHWC axis -> NCHW axis for rank-4 tensors.
std::int64_t nchw_axis(std::int64_t axis) {
  static const std::int64_t map[4] = {0, 2, 3, 1};
  return map[((axis % 4) + 4) % 4];
}

// Attribute setters for NodeProto, one per IR attribute value type.
void attr(::onnx::NodeProto* n, const std::string& name, std::int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INT);
  a->set_i(v);
}
void attr(::onnx::NodeProto* n, const std::string& name, double v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::FLOAT);
  a->set_f(static_cast<float>(v));
}
void attr(::onnx::NodeProto* n, const std::string& name, const std::string& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::STRING);
  a->set_s(v);
}
void attr(::onnx::NodeProto* n, const std::string& name, const std::vector<std::int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INTS);
  for (auto x : v) a->add_ints(x);
}
void attr_value(::onnx::NodeProto* n, const std::string& name, const ir::AttrValue& value) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::vector<double>>) {
          auto* a = n->add_attribute();
          a->set_name(name);
          a->set_type(::onnx::AttributeProto::FLOATS);
          for (auto x : v) a->add_floats(static_cast<float>(x));
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          auto* a = n->add_attribute();
          a->set_name(name);
          a->set_type(::onnx::AttributeProto::STRINGS);
          for (const auto& x : v) a->add_strings(x);
        } else {
          attr(n, name, v);
        }
      },
      value);
}

// ---------------------------------------------------------------------------
// Common model building
// ---------------------------------------------------------------------------

class ModelBuilder {
 public:
  ModelBuilder(const ir::Graph& g, const ExportOptions& options) : g_(g), options_(options) {
    file_ = g.meta.source_path;
    for (const auto& t : g.tensors) {
      if (!t.name.empty()) used_.insert(t.name);
    }
    for (const auto& n : g.nodes) used_nodes_.insert(n.name);
  }

 protected:
  [[noreturn]] void fail(ErrorKind kind, const std::string& where, const std::string& reason) const {
    throw Error(kind, file_, where, reason);
  }

  // A tensor name not used by the graph or by anything written so far.
  std::string fresh(const std::string& base) {
    std::string name = base.empty() ? std::string("t") : base;
    for (int i = 1; used_.count(name); ++i) name = base + "_" + std::to_string(i);
    used_.insert(name);
    return name;
  }
  // A node name not written yet. Empty names stay empty (ONNX allows them, and the
  // importer names such nodes itself, so a round trip keeps its names).
  std::string fresh_node(const std::string& base) {
    if (base.empty()) return base;
    std::string name = base;
    for (int i = 1; written_nodes_.count(name) || (name != base && used_nodes_.count(name)); ++i) {
      name = base + "_" + std::to_string(i);
    }
    written_nodes_.insert(name);
    return name;
  }

  ::onnx::NodeProto* emit(const std::string& op_type, const std::vector<std::string>& inputs,
                          const std::vector<std::string>& outputs, const std::string& name) {
    auto* n = graph()->add_node();
    n->set_op_type(op_type);
    n->set_name(fresh_node(name));
    for (const auto& i : inputs) n->add_input(i);
    for (const auto& o : outputs) n->add_output(o);
    return n;
  }

  void fill_tensor(::onnx::TensorProto* p, const std::string& name, DType dtype, const std::vector<std::int64_t>& dims,
                   std::span<const std::byte> bytes, const std::string& where) const {
    const auto type = onnx_dtype(dtype);
    if (!type)
      fail(ErrorKind::kUnsupported, where, "dtype " + std::string(ir::dtype_name(dtype)) + " has no ONNX form");
    p->set_name(name);
    p->set_data_type(*type);
    for (auto d : dims) p->add_dims(d);
    p->set_raw_data(bytes.data(), bytes.size());
  }

  // ConstantOfShape's `value`: the one-element tensor the importer kept as fill_value
  // and fill_dtype.
  void fill_value_attr(::onnx::NodeProto* p, const ir::Node& n, const std::string& where) const {
    const std::string name = n.attrs.get_string("fill_dtype", "");
    const double x = n.attrs.get_float("fill_value", 0.0);
    std::vector<std::byte> bytes;
    auto put = [&]<typename T>(T value) {
      bytes.resize(sizeof(T));
      std::memcpy(bytes.data(), &value, sizeof(T));
    };
    DType dtype = DType::kUnknown;
    for (DType t :
         {DType::kFloat32, DType::kFloat64, DType::kInt64, DType::kInt32, DType::kInt8, DType::kUInt8, DType::kBool}) {
      if (ir::dtype_name(t) == name) dtype = t;
    }
    switch (dtype) {
      case DType::kFloat32: put(static_cast<float>(x)); break;
      case DType::kFloat64: put(x); break;
      case DType::kInt64: put(static_cast<std::int64_t>(x)); break;
      case DType::kInt32: put(static_cast<std::int32_t>(x)); break;
      case DType::kInt8: put(static_cast<std::int8_t>(x)); break;
      case DType::kUInt8:
      case DType::kBool: put(static_cast<std::uint8_t>(x)); break;
      default: fail(ErrorKind::kUnsupported, where, "ConstantOfShape fill dtype '" + name + "' has no ONNX form");
    }
    auto* a = p->add_attribute();
    a->set_name("value");
    a->set_type(::onnx::AttributeProto::TENSOR);
    fill_tensor(a->mutable_t(), "", dtype, {1}, bytes, where);
  }

  void add_initializer(const std::string& name, const Value& v, const std::string& where) {
    fill_tensor(graph()->add_initializer(), name, v.dtype, v.dims, v.bytes, where);
  }

  // The dense bytes of constant `id`, checked against its shape.
  // The dense bytes of non-sparse constant `id` as a view, checked against its shape.
  std::span<const std::byte> checked_data(int id, const std::string& where) const {
    const ir::Tensor& t = g_.tensors[static_cast<std::size_t>(id)];
    if (!t.shape.is_static()) fail(ErrorKind::kUnknownDim, where, "constant '" + t.name + "' has no static shape");
    const auto numel = t.shape.numel();
    if (!numel) fail(ErrorKind::kUnsupported, where, "constant '" + t.name + "' is too large (" + t.shape.str() + ")");
    if (ir::dtype_bits(t.dtype) % 8 != 0 || ir::dtype_bits(t.dtype) == 0) {
      fail(ErrorKind::kUnsupported, where,
           "constant '" + t.name + "' of dtype " + std::string(ir::dtype_name(t.dtype)) + " has no ONNX form");
    }
    const std::uint64_t expected = ir::dtype_bytes(t.dtype, *numel);
    if (t.data.size() != expected) {
      fail(ErrorKind::kBadModel, where,
           "constant '" + t.name + "' holds " + std::to_string(t.data.size()) + " bytes but shape " + t.shape.str() +
               " needs " + std::to_string(expected));
    }
    return t.data;
  }

  Value constant_value(int id, const std::string& where) const {
    const ir::Tensor& t = g_.tensors[static_cast<std::size_t>(id)];
    Value v;
    v.dtype = t.dtype;
    if (!t.shape.is_static()) fail(ErrorKind::kUnknownDim, where, "constant '" + t.name + "' has no static shape");
    v.dims = t.shape.extents();
    const auto numel = t.shape.numel();
    if (!numel) fail(ErrorKind::kUnsupported, where, "constant '" + t.name + "' is too large (" + t.shape.str() + ")");
    if (t.sparse) {
      v.bytes = densify_tflite(g_, id, where);
      return v;
    }
    const std::uint64_t expected = ir::dtype_bytes(t.dtype, *numel);
    if (ir::dtype_bits(t.dtype) % 8 != 0 || ir::dtype_bits(t.dtype) == 0) {
      fail(ErrorKind::kUnsupported, where,
           "constant '" + t.name + "' of dtype " + std::string(ir::dtype_name(t.dtype)) + " has no ONNX form");
    }
    if (t.data.size() != expected) {
      fail(ErrorKind::kBadModel, where,
           "constant '" + t.name + "' holds " + std::to_string(t.data.size()) + " bytes but shape " + t.shape.str() +
               " needs " + std::to_string(expected));
    }
    v.bytes.assign(t.data.begin(), t.data.end());
    return v;
  }

  void set_value_info(::onnx::ValueInfoProto* vi, const std::string& name, const ir::Tensor& t,
                      const std::string& where) const {
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    const auto type = onnx_dtype(t.dtype);
    if (!type)
      fail(ErrorKind::kUnsupported, where, "dtype " + std::string(ir::dtype_name(t.dtype)) + " has no ONNX form");
    tt->set_elem_type(*type);
    if (!t.shape.rank_known) return;
    auto* shape = tt->mutable_shape();
    for (const auto& d : t.shape.dims) {
      auto* dim = shape->add_dim();
      if (d.known()) {
        dim->set_dim_value(d.value);
      } else if (!d.symbol.empty()) {
        dim->set_dim_param(d.symbol);
      }
    }
  }

  void start_model(int opset) {
    model_.set_ir_version(opset >= 15 ? 8 : 7);
    model_.set_producer_name(options_.producer);
    auto* o = model_.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
    graph()->set_name(g_.meta.graph_name.empty() ? std::string("infercast") : g_.meta.graph_name);
  }

  std::string serialize() const {
    const std::uint64_t size = model_.ByteSizeLong();
    if (size > kMaxProtoBytes) {
      fail(ErrorKind::kUnsupported, "model",
           "the ONNX file would be " + std::to_string(size) +
               " bytes; protobuf's 2 GiB limit needs external data, which is not written");
    }
    std::string out;
    if (!model_.SerializeToString(&out)) fail(ErrorKind::kUnsupported, "model", "protobuf serialization failed");
    return out;
  }

  ::onnx::GraphProto* graph() { return model_.mutable_graph(); }

  const ir::Graph& g_;
  const ExportOptions& options_;
  std::string file_;
  ::onnx::ModelProto model_;
  std::unordered_set<std::string> used_;
  std::unordered_set<std::string> used_nodes_;
  std::unordered_set<std::string> written_nodes_;
};

// ---------------------------------------------------------------------------
// ONNX-form graphs: node for node
// ---------------------------------------------------------------------------

// The written default-domain opset for an ONNX-origin graph: the source's when the
// request is lower (its nodes are in that opset's form), else the request; direct_problem
// then checks every node against the higher opset.
int direct_opset(const ir::Graph& g, int requested) {
  return std::max<int>(requested, static_cast<int>(g.meta.opset));
}

// (domain, op_type) of a node of an ONNX-form graph: the file's own op when the
// importer recorded it ("com.microsoft.FusedConv"), else the canonical name (graphs
// built in code), which is the ONNX name for every op ONNX has.
std::pair<std::string, std::string> onnx_op_of(const ir::Node& n) {
  if (n.source_op.empty()) return {"", std::string(ir::op_name(n.op))};
  const std::string& source_op = n.source_op;
  const auto dot = source_op.rfind('.');
  if (dot == std::string::npos) return {"", source_op};
  return {source_op.substr(0, dot), source_op.substr(dot + 1)};
}

std::string direct_problem(const ir::Graph& g, const ir::Node& n, int opset) {
  if (n.op == Op::If || n.op == Op::Loop || n.op == Op::Scan) return "its subgraph bodies are not kept in the IR";
  if (n.op == Op::Other && n.source_op.empty()) return "an op without a name";
  if (n.op == Op::ConstantOfShape && n.attrs.has("fill_value") != n.attrs.has("fill_dtype"))
    return "its fill value's dtype is not one the IR keeps";
  for (const auto& [name, value] : n.attrs.all()) {
    (void)value;
    if (name == "weight_layout" || name == "fused_activation") {
      return "attribute '" + name + "' is TFLite's form; the graph is not NHWC";
    }
  }
  const auto [domain, op_type] = onnx_op_of(n);
  if (domain.empty() && g.meta.opset > 0 && g.meta.opset < opset) {
    // Written at a newer opset than the file's: the node must be valid there as it
    // stands (same attributes and arity), and not an op whose meaning changed.
    const auto* from = import::onnx_schemas::find(op_type, static_cast<int>(g.meta.opset), "");
    const auto* to = import::onnx_schemas::find(op_type, opset, "");
    const std::string change = "the op changed between opset " + std::to_string(g.meta.opset) + " and " +
                               std::to_string(opset) + " and is not upgraded";
    if (from != nullptr && to != nullptr && from->since_version() != to->since_version()) {
      static const std::set<std::string, std::less<>> kMeaningChanged = {"Softmax", "LogSoftmax", "Hardmax",
                                                                         "Upsample"};
      if (kMeaningChanged.contains(op_type)) return change;
      ::onnx::NodeProto proto;
      proto.set_op_type(op_type);
      for (int id : n.inputs) proto.add_input(id < 0 ? std::string() : g.tensors[static_cast<std::size_t>(id)].name);
      for (int id : n.outputs) proto.add_output(id < 0 ? std::string() : g.tensors[static_cast<std::size_t>(id)].name);
      for (const auto& [name, value] : n.attrs.all()) attr_value(&proto, name, value);
      try {
        to->Verify(proto);
      } catch (const std::exception& e) {
        std::string what = e.what();
        if (const auto nl = what.find('\n'); nl != std::string::npos) what.resize(nl);
        return change + " (" + what + ")";
      }
    }
  }
  auto check_tensor = [&](int id) -> std::string {
    if (id < 0) return {};
    const ir::Tensor& t = g.tensors[static_cast<std::size_t>(id)];
    if (t.sparse) return "tensor '" + t.name + "' is sparse; sparse initializers are not written";
    if (t.dtype != DType::kUnknown && !onnx_dtype(t.dtype)) {
      return "tensor '" + t.name + "' has dtype " + std::string(ir::dtype_name(t.dtype)) + ", which ONNX cannot hold";
    }
    return {};
  };
  for (int id : n.inputs) {
    if (auto why = check_tensor(id); !why.empty()) return why;
  }
  for (int id : n.outputs) {
    if (auto why = check_tensor(id); !why.empty()) return why;
  }
  return {};
}

// Every node (and graph input or output) the node-for-node path cannot write.
std::vector<std::string> direct_problems(const ir::Graph& g, int opset) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    if (auto why = direct_problem(g, g.nodes[i], opset); !why.empty()) {
      out.push_back(node_where(static_cast<int>(i), g.nodes[i]) + ": " + why);
    }
  }
  auto interface = [&](const std::vector<int>& ids, const char* what) {
    for (int id : ids) {
      const ir::Tensor& t = g.tensors[static_cast<std::size_t>(id)];
      if (onnx_dtype(t.dtype)) continue;
      out.push_back(std::string(what) + " '" + t.name + "': " +
                    (t.dtype == DType::kUnknown
                         ? std::string("not a tensor (a sequence, optional or map?)")
                         : "dtype " + std::string(ir::dtype_name(t.dtype)) + " has no ONNX form"));
    }
  };
  interface(g.inputs, "graph input");
  interface(g.outputs, "graph output");
  return out;
}

class DirectWriter : public ModelBuilder {
 public:
  using ModelBuilder::ModelBuilder;

  std::string run() {
    const int opset = direct_opset(g_, options_.opset);
    start_model(opset);
    std::set<std::string> domains;
    const std::vector<std::string> problems = direct_problems(g_, opset);
    if (!problems.empty()) report_unsupported(problems);
    for (int id : g_.inputs) {
      set_value_info(graph()->add_input(), g_.tensors[id].name, g_.tensors[id], "input '" + g_.tensors[id].name + "'");
    }
    for (std::size_t i = 0; i < g_.tensors.size(); ++i) {
      const ir::Tensor& t = g_.tensors[i];
      // Every initializer, used or not: the round trip promises the same tensors.
      if (!t.is_constant() || t.producer >= 0) continue;
      const std::string where = "initializer '" + t.name + "'";
      if (t.sparse) fail(ErrorKind::kUnsupported, where, "sparse initializers are not written");
      if (t.dtype == DType::kString) fail(ErrorKind::kUnsupported, where, "string constants are not written");
      if (t.data.empty() && t.shape.numel().value_or(1) != 0) {
        fail(ErrorKind::kUnsupported, where, "has no data in the IR (a TFLite variable?)");
      }
      // Straight from the mapped file into the message: one copy of the weights.
      const auto data = checked_data(static_cast<int>(i), where);
      fill_tensor(graph()->add_initializer(), t.name, t.dtype, t.shape.extents(), data, where);
    }
    for (std::size_t i = 0; i < g_.nodes.size(); ++i) {
      const ir::Node& n = g_.nodes[i];
      const std::string where = node_where(static_cast<int>(i), n);
      auto [domain, op_type] = onnx_op_of(n);
      if (!domain.empty()) domains.insert(domain);
      auto* p = graph()->add_node();
      p->set_op_type(op_type);
      if (!domain.empty()) p->set_domain(domain);
      p->set_name(fresh_node(n.name));
      for (int id : n.inputs) p->add_input(id < 0 ? std::string() : g_.tensors[id].name);
      for (int id : n.outputs) p->add_output(id < 0 ? std::string() : g_.tensors[id].name);
      const bool no_dilations = n.op == Op::AveragePool || n.op == Op::LpPool;
      bool has_value_attr = false;
      for (const auto& [name, value] : n.attrs.all()) {
        if (no_dilations && name == "dilations") continue;  // added by the importer's normalization
        if (n.op == Op::ConstantOfShape && (name == "fill_value" || name == "fill_dtype")) continue;
        if (n.op == Op::Constant && name.rfind("value", 0) == 0) has_value_attr = true;
        attr_value(p, name, value);
      }
      if (n.op == Op::ConstantOfShape && n.attrs.has("fill_dtype")) fill_value_attr(p, n, where);
      if (n.op == Op::Constant && !has_value_attr) {
        if (n.outputs.empty() || n.outputs[0] < 0) fail(ErrorKind::kBadModel, where, "Constant without output");
        const int out = n.outputs[0];
        auto* a = p->add_attribute();
        a->set_name("value");
        a->set_type(::onnx::AttributeProto::TENSOR);
        const Value v = constant_value(out, where);
        fill_tensor(a->mutable_t(), "", v.dtype, v.dims, v.bytes, where);
      }
    }
    for (const auto& d : domains) {
      auto* o = model_.add_opset_import();
      o->set_domain(d);
      o->set_version(1);
    }
    for (int id : g_.outputs) {
      set_value_info(graph()->add_output(), g_.tensors[id].name, g_.tensors[id],
                     "output '" + g_.tensors[id].name + "'");
    }
    return serialize();
  }

  [[noreturn]] void report_unsupported(const std::vector<std::string>& problems) const {
    std::string list;
    for (const auto& p : problems) list += (list.empty() ? "" : "; ") + p;
    fail(ErrorKind::kUnsupported, std::to_string(problems.size()) + " part(s) of the graph cannot be written as ONNX",
         list);
  }
};

// ---------------------------------------------------------------------------
// NHWC graphs (TFLite): compute in NCHW
// ---------------------------------------------------------------------------

enum class Want { kLogical, kNchw };

class NhwcWriter : public ModelBuilder {
 public:
  NhwcWriter(const ir::Graph& g, const ExportOptions& options) : ModelBuilder(g, options) {
    forms_.resize(g.tensors.size());
    poisoned_.assign(g.tensors.size(), false);
    // Each tensor's logical form keeps its own name; duplicates (TFLite allows them) get a suffix.
    std::unordered_set<std::string> seen;
    names_.resize(g.tensors.size());
    for (std::size_t i = 0; i < g.tensors.size(); ++i) {
      const std::string& name = g.tensors[i].name;
      names_[i] = name.empty() || seen.count(name) ? fresh(name.empty() ? "tensor_" + std::to_string(i) : name) : name;
      seen.insert(names_[i]);
    }
  }

  // Every node the writer cannot express, one line each (node order).
  std::vector<std::string> problems() {
    build();
    return problems_;
  }

  std::string run() {
    build();
    if (!problems_.empty()) {
      std::string list;
      for (const auto& p : problems_) list += (list.empty() ? "" : "; ") + p;
      fail(ErrorKind::kUnsupported,
           std::to_string(problems_.size()) + " part(s) of the graph cannot be written as ONNX", list);
    }
    return serialize();
  }

 private:
  struct Form {
    std::string logical;
    std::string nchw;
  };

  void build() {
    // The TFLite importer applies --input-shape to the inputs only; every shape after
    // them is the file's. Resize sizes, Reshape targets and the declared outputs are
    // written from those shapes, so the export would contradict itself.
    for (const auto& w : g_.meta.warnings) {
      if (w.find("input shapes were overridden") != std::string::npos) {
        problems_.push_back(
            "--input-shape: a TFLite model's shapes after its inputs are not re-inferred; export it with the "
            "file's own input shapes");
        return;
      }
    }
    opset_ = options_.opset;
    start_model(opset_);
    fold_constants();
    interface_.insert(g_.inputs.begin(), g_.inputs.end());
    interface_.insert(g_.outputs.begin(), g_.outputs.end());
    fold_pads();
    for (int id : g_.inputs) {
      const ir::Tensor& t = g_.tensors[id];
      const std::string where = "input '" + t.name + "'";
      set_value_info(graph()->add_input(), names_[id], t, where);
      forms_[id].logical = names_[id];
    }
    for (std::size_t i = 0; i < g_.nodes.size(); ++i) {
      if (skip_[i]) continue;
      const ir::Node& n = g_.nodes[i];
      const std::string where = node_where(static_cast<int>(i), n);
      bool upstream = false;
      for (int id : n.inputs) upstream = upstream || (id >= 0 && poisoned_[id]);
      try {
        if (upstream) {
          // Downstream of a refused node only the op itself is judged, so one cause is
          // not reported again at every consumer.
          if (!convertible(n.op)) fail(ErrorKind::kUnsupported, where, unsupported_op(n));
          throw Error(ErrorKind::kUnsupported, file_, where, "");
        }
        write_node(n, where);
      } catch (const Error& e) {
        if (!e.reason().empty()) problems_.push_back(where + ": " + e.reason());
        for (int id : n.outputs) {
          if (id >= 0) poisoned_[id] = true;
        }
      }
    }
    for (int id : g_.outputs) {
      const ir::Tensor& t = g_.tensors[id];
      const std::string where = "output '" + t.name + "'";
      if (poisoned_[id]) continue;
      try {
        const std::string name = get(id, Want::kLogical, where);
        if (name != names_[id]) emit("Identity", {name}, {names_[id]}, names_[id] + "/identity");
        set_value_info(graph()->add_output(), names_[id], t, where);
      } catch (const Error& e) {
        problems_.push_back(where + ": " + e.reason());
      }
    }
  }

  // --- constants ------------------------------------------------------------

  bool is_constant(int id) const {
    if (id < 0) return false;
    const ir::Tensor& t = g_.tensors[id];
    return folded_.count(id) || (t.is_constant() && t.producer < 0 && (!t.data.empty() || t.sparse));
  }

  const Value& value_of(int id, const std::string& where) {
    auto it = folded_.find(id);
    if (it != folded_.end()) return it->second;
    if (!is_constant(id))
      fail(ErrorKind::kUnsupported, where, "tensor '" + g_.tensors[id].name + "' is not a constant");
    return folded_.emplace(id, constant_value(id, where)).first->second;
  }

  // DEQUANTIZE / DENSIFY / Identity chains over constants become float32 (or dense) constants.
  void fold_constants() {
    skip_.assign(g_.nodes.size(), false);
    for (std::size_t i = 0; i < g_.nodes.size(); ++i) {
      const ir::Node& n = g_.nodes[i];
      const bool foldable = n.op == Op::Dequantize || n.op == Op::Densify || n.op == Op::Identity;
      if (!foldable || n.inputs.empty() || n.outputs.size() != 1 || n.outputs[0] < 0) continue;
      if (!is_constant(n.inputs[0])) continue;
      const std::string where = node_where(static_cast<int>(i), n);
      try {
        Value in = value_of(n.inputs[0], where);
        if (n.op == Op::Dequantize) in = dequantize(in, g_.tensors[n.inputs[0]].quant, where);
        folded_[n.outputs[0]] = std::move(in);
        skip_[i] = true;
      } catch (const Error& e) {
        (void)e;  // written (and reported) as a node instead
      }
    }
  }

  Value dequantize(const Value& in, const ir::Quantization& q, const std::string& where) const {
    Value out;
    out.dtype = DType::kFloat32;
    out.dims = in.dims;
    const std::uint64_t n = in.numel();
    out.bytes.resize(n * 4);
    auto put = [&](std::uint64_t i, float f) { std::memcpy(out.bytes.data() + i * 4, &f, 4); };
    if (in.dtype == DType::kFloat32) return in;
    if (in.dtype == DType::kFloat16) {
      for (std::uint64_t i = 0; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, in.bytes.data() + i * 2, 2);
        put(i, half_to_float(h));
      }
      return out;
    }
    if (q.scales.empty()) fail(ErrorKind::kUnsupported, where, "dequantizes without a scale");
    std::uint64_t channels = 1, inner = 1;
    if (q.scales.size() > 1) {
      if (q.axis < 0 || static_cast<std::size_t>(q.axis) >= in.dims.size() ||
          static_cast<std::uint64_t>(in.dims[q.axis]) != q.scales.size()) {
        fail(ErrorKind::kBadModel, where, "per-channel scales do not match the quantized dimension");
      }
      channels = q.scales.size();
      for (std::size_t d = static_cast<std::size_t>(q.axis) + 1; d < in.dims.size(); ++d) {
        inner *= static_cast<std::uint64_t>(in.dims[d]);
      }
    }
    for (std::uint64_t i = 0; i < n; ++i) {
      const std::size_t c = channels == 1 ? 0 : static_cast<std::size_t>((i / inner) % channels);
      const auto x = element(in, i);
      if (!x) fail(ErrorKind::kUnsupported, where, "dequantizes dtype " + std::string(ir::dtype_name(in.dtype)));
      const double zp = c < q.zero_points.size() ? static_cast<double>(q.zero_points[c]) : 0.0;
      put(i, static_cast<float>(*x - zp) * q.scales[c]);
    }
    return out;
  }

  std::string scalar(float v, const std::string& hint) {
    const std::string key = hint + std::to_string(v);
    auto it = scalars_.find(key);
    if (it != scalars_.end()) return it->second;
    Value s;
    s.dtype = DType::kFloat32;
    s.bytes.resize(4);
    std::memcpy(s.bytes.data(), &v, 4);
    const std::string name = fresh(hint);
    add_initializer(name, s, hint);
    return scalars_[key] = name;
  }

  std::string ints(const std::vector<std::int64_t>& v, const std::string& hint) {
    Value s;
    s.dtype = DType::kInt64;
    s.dims = {static_cast<std::int64_t>(v.size())};
    s.bytes.resize(v.size() * 8);
    std::memcpy(s.bytes.data(), v.data(), s.bytes.size());
    const std::string name = fresh(hint);
    add_initializer(name, s, hint);
    return name;
  }

  std::vector<std::int64_t> const_ints(int id, const std::string& where) {
    const Value& v = value_of(id, where);
    std::vector<std::int64_t> out(v.numel());
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (v.dtype == DType::kInt32) {
        std::int32_t x;
        std::memcpy(&x, v.bytes.data() + i * 4, 4);
        out[i] = x;
      } else if (v.dtype == DType::kInt64) {
        std::memcpy(&out[i], v.bytes.data() + i * 8, 8);
      } else {
        fail(ErrorKind::kUnsupported, where, "tensor '" + g_.tensors[id].name + "' is not an int32/int64 constant");
      }
    }
    return out;
  }

  // --- forms ----------------------------------------------------------------

  bool is4(int id) const {
    const ir::Shape& s = g_.tensors[id].shape;
    return s.rank_known && s.rank() == 4;
  }

  // The name of tensor `id` in the wanted form, emitting a Transpose (or a permuted
  // initializer for constants) the first time a form is asked for. A quantized tensor
  // is read through its DequantizeLinear.
  std::string get(int id, Want want, const std::string& where) {
    const std::string name = raw(id, want, where);
    // Quantized weights always mean their dequantized values (dynamic-range models
    // read them from float ops); quantized activations only inside a quantized node.
    if (!quantized(id) || !(qdq_ || is_constant(id))) return name;
    std::vector<int> perm;
    if (is_constant(id) && want == Want::kNchw && is4(id)) perm = kToNchw;
    return dequantized(name, id, perm, where);
  }

  // get() without dequantization: the tensor as stored (int8 stays int8).
  std::string raw(int id, Want want, const std::string& where) {
    if (id < 0) return {};
    const bool nchw = want == Want::kNchw && is4(id);
    if (is_constant(id)) {
      auto& cache = nchw ? const_nchw_ : const_logical_;
      auto it = cache.find(id);
      if (it != cache.end()) return it->second;
      const Value v = stored_value(id, where);
      if (!onnx_dtype(v.dtype)) {
        fail(ErrorKind::kUnsupported, where,
             "constant '" + g_.tensors[id].name + "' has dtype " + std::string(ir::dtype_name(v.dtype)) +
                 ", which ONNX cannot hold");
      }
      const std::string name = nchw ? fresh(names_[id] + "__nchw") : names_[id];
      add_initializer(name, nchw ? permuted(v, kToNchw) : v, where);
      return cache[id] = name;
    }
    Form& f = forms_[id];
    if (!nchw) {
      if (f.logical.empty()) {
        if (f.nchw.empty()) fail(ErrorKind::kBadModel, where, "tensor '" + g_.tensors[id].name + "' is never produced");
        transpose(f.nchw, names_[id], kToNhwc);
        f.logical = names_[id];
      }
      return f.logical;
    }
    if (f.nchw.empty()) {
      if (f.logical.empty())
        fail(ErrorKind::kBadModel, where, "tensor '" + g_.tensors[id].name + "' is never produced");
      f.nchw = fresh(names_[id] + "__nchw");
      transpose(f.logical, f.nchw, kToNchw);
    }
    return f.nchw;
  }

  // A constant of rank <= 4 broadcast against NCHW: left-padded to rank 4, then permuted.
  std::string get_broadcast_nchw(int id, const std::string& where) {
    if (is4(id)) return get(id, Want::kNchw, where);
    auto it = const_bcast_.find(id);
    if (it != const_bcast_.end()) return quantized(id) ? dequantized(it->second, id, {}, where) : it->second;
    Value v = stored_value(id, where);
    if (v.dims.size() > 4) fail(ErrorKind::kUnsupported, where, "broadcast operand of rank > 4");
    while (v.dims.size() < 4) v.dims.insert(v.dims.begin(), 1);
    const std::string name = fresh(names_[id] + "__nchw");
    add_initializer(name, permuted(v, kToNchw), where);
    const_bcast_[id] = name;
    if (quantized(id)) {
      require(g_.tensors[id].quant.scales.size() == 1, where, "per-channel quantized broadcast operand");
      return dequantized(name, id, {}, where);
    }
    return name;
  }

  bool has_nchw(int id) const { return id >= 0 && !is_constant(id) && is4(id) && !forms_[id].nchw.empty(); }

  void transpose(const std::string& from, const std::string& to, const std::vector<int>& perm) {
    auto* n = emit("Transpose", {from}, {to}, to + "/transpose");
    attr(n, "perm", std::vector<std::int64_t>(perm.begin(), perm.end()));
  }

  // The name to write output `id` under in form `want`; records the form.
  // Inside a quantized node the op writes a float tensor that a QuantizeLinear (emitted
  // once the node is written) turns into the recorded int8 one.
  std::string produce(int id, Want want) {
    if (id < 0) return {};
    Form& f = forms_[id];
    const std::string name =
        want == Want::kNchw && is4(id) ? (f.nchw = fresh(names_[id] + "__nchw")) : (f.logical = names_[id]);
    if (!qdq_ || !quantized(id)) return name;
    const std::string real = fresh(name + "__float");
    pending_q_.push_back({real, name, id});
    return real;
  }

  // --- quantization (QDQ) ---------------------------------------------------

  // An integer tensor with affine parameters: read through DequantizeLinear.
  bool quantized(int id) const {
    if (id < 0) return false;
    const ir::Tensor& t = g_.tensors[id];
    return !t.quant.empty() && (t.dtype == DType::kInt8 || t.dtype == DType::kUInt8 || t.dtype == DType::kInt32);
  }

  // The dtype tensor `id` is stored as in the ONNX file. An int8 activation inside the
  // graph is stored as uint8 with its zero point + 128, which dequantizes to the same
  // reals and rounds and saturates identically in QuantizeLinear. Why: ONNX Runtime's
  // CPU QDQ fusions (QLinearConv, QLinearAdd, ...) take uint8 activations on x86 and
  // require an op's input and output activations to share one dtype; it rewrites an
  // int8 QuantizeLinear -> DequantizeLinear pair to uint8 itself only when the
  // QuantizeLinear has exactly one reader, so every int8 tensor read by two ops (a
  // residual branch, a tensor feeding a Pad and a conv) left its readers and its
  // producer unfused: float Conv/Add between DequantizeLinear and QuantizeLinear.
  // Graph inputs and outputs keep their dtype (the model's interface), and so do the
  // weights of convolutions and fully connected layers (int8 weights with uint8
  // activations is what the fused kernels take); other int8 constants (ADD/MUL's
  // constant operand) are the activations' peers: QLinearAdd/QLinearMul need one dtype.
  DType stored_dtype(int id) const {
    const ir::Tensor& t = g_.tensors[id];
    if (t.dtype != DType::kInt8 || t.quant.scales.size() != 1 || interface_.count(id)) return t.dtype;
    if (is_constant(id)) {
      for (int c : t.consumers) {
        const ir::OpCategory cat = ir::op_category(g_.nodes[static_cast<std::size_t>(c)].op);
        if (cat == ir::OpCategory::kConv || cat == ir::OpCategory::kLinear) return t.dtype;
      }
    }
    return DType::kUInt8;
  }

  // Constant `id`'s value as stored (see stored_dtype).
  Value stored_value(int id, const std::string& where) {
    Value v = value_of(id, where);
    if (v.dtype != DType::kInt8 || stored_dtype(id) != DType::kUInt8) return v;
    for (auto& b : v.bytes) b = static_cast<std::byte>(static_cast<std::int8_t>(b) + 128);
    v.dtype = DType::kUInt8;
    return v;
  }

  // The parameters of tensor `id` as stored (see stored_dtype).
  ir::Quantization stored_quant(int id) const {
    ir::Quantization q = g_.tensors[id].quant;
    if (stored_dtype(id) != g_.tensors[id].dtype) {
      if (q.zero_points.empty()) q.zero_points.push_back(0);
      for (auto& z : q.zero_points) z += 128;
    }
    return q;
  }

  // Scale and zero-point initializers of `q` for a tensor of `dtype`: scalars per
  // tensor, 1-D per channel. Returns {scale, zero_point}.
  std::pair<std::string, std::string> qparams(const ir::Quantization& q, DType dtype, bool per_channel,
                                              const std::string& hint, const std::string& where) {
    Value scale, zp;
    scale.dtype = DType::kFloat32;
    zp.dtype = dtype;
    const std::size_t count = per_channel ? q.scales.size() : 1;
    if (per_channel) scale.dims = zp.dims = {static_cast<std::int64_t>(count)};
    scale.bytes.resize(count * 4);
    zp.bytes.resize(count * zp.elem());
    for (std::size_t c = 0; c < count; ++c) {
      const float s = q.scales[c];
      require(std::isfinite(s) && s > 0, where, "scale " + std::to_string(s) + " is not finite and > 0");
      std::memcpy(scale.bytes.data() + c * 4, &s, 4);
      const std::int64_t z = c < q.zero_points.size() ? q.zero_points[c] : 0;
      if (dtype == DType::kInt8) {
        require(z >= -128 && z <= 127, where, "zero point " + std::to_string(z) + " is outside int8");
        zp.bytes[c] = static_cast<std::byte>(static_cast<std::int8_t>(z));
      } else if (dtype == DType::kUInt8) {
        require(z >= 0 && z <= 255, where, "zero point " + std::to_string(z) + " is outside uint8");
        zp.bytes[c] = static_cast<std::byte>(static_cast<std::uint8_t>(z));
      } else {
        require(z == 0, where, "int32 zero point " + std::to_string(z) + " is not 0");
      }
    }
    const std::string scale_name = fresh(hint + "__scale");
    const std::string zp_name = fresh(hint + "__zero_point");
    add_initializer(scale_name, scale, where);
    add_initializer(zp_name, zp, where);
    return {scale_name, zp_name};
  }

  // `name` (the stored form of quantized tensor `id`, permuted by `perm` when it is a
  // permuted constant) through one shared DequantizeLinear.
  std::string dequantized(const std::string& name, int id, const std::vector<int>& perm, const std::string& where) {
    auto it = dequantized_.find(name);
    if (it != dequantized_.end()) return it->second;
    const ir::Tensor& t = g_.tensors[id];
    const ir::Quantization& q = t.quant;
    const bool per_channel = q.scales.size() > 1;
    std::int64_t axis = q.axis;
    if (per_channel) {
      require(is_constant(id), where, "tensor '" + t.name + "' is a per-channel quantized activation");
      if (!perm.empty()) {
        axis = std::find(perm.begin(), perm.end(), q.axis) - perm.begin();
      }
      require(t.shape.rank_known && q.axis >= 0 && static_cast<std::size_t>(q.axis) < t.shape.rank() &&
                  t.shape.dims[static_cast<std::size_t>(q.axis)].value == static_cast<std::int64_t>(q.scales.size()),
              where, "tensor '" + t.name + "': per-channel scales do not match the quantized dimension");
    }
    return dequantized_[name] = dequantize_linear(name, per_channel ? q : stored_quant(id), stored_dtype(id),
                                                  per_channel ? axis : -1, where);
  }

  // A DequantizeLinear of `name` (dtype `dtype`) with parameters `q`, per tensor
  // (axis < 0) or per channel along `axis`; returns its output.
  std::string dequantize_linear(const std::string& name, const ir::Quantization& q, DType dtype, std::int64_t axis,
                                const std::string& where) {
    const auto [scale, zp] = qparams(q, dtype, axis >= 0, name, where);
    const std::string out = fresh(name + "__dequantized");
    auto* node = emit("DequantizeLinear", {name, scale, zp}, {out}, out);
    if (axis >= 0) attr(node, "axis", axis);
    return out;
  }

  // The bias of conv/FC node `n` (input `x`, weights `w`) as its op reads it. An int32
  // bias without parameters of its own (older TFLite files) has TFLite's implied ones:
  // scale = input scale × weight scale per output channel, zero point 0.
  std::string quantized_bias(const ir::Node& n, int x, int w, const std::string& where) {
    const int b = n.inputs[2];
    const ir::Tensor& bt = g_.tensors[b];
    if (!qdq_ || quantized(b) || bt.dtype != DType::kInt32 || !quantized(x) || !quantized(w))
      return get(b, Want::kLogical, where);
    const auto& xq = g_.tensors[x].quant;
    const auto& wq = g_.tensors[w].quant;
    const std::uint64_t count = bt.shape.numel().value_or(0);
    require(bt.shape.rank() == 1 && (wq.scales.size() == 1 || wq.scales.size() == count), where,
            "bias '" + bt.name + "' does not match the weight scales");
    ir::Quantization q;
    for (std::uint64_t c = 0; c < count; ++c) {
      q.scales.push_back(xq.scales[0] * wq.scales[wq.scales.size() == 1 ? 0 : c]);
      q.zero_points.push_back(0);
    }
    return dequantize_linear(raw(b, Want::kLogical, where), q, DType::kInt32, 0, where);
  }

  // Whether the int8 range of output `id` saturates inside [lo, hi], so that the
  // QuantizeLinear computes the clamp a fused activation would (within half a step).
  bool saturates_within(int id, double lo, double hi) const {
    if (!quantized(id)) return false;
    const ir::Tensor& t = g_.tensors[id];
    if (t.quant.scales.size() != 1) return false;
    const double s = t.quant.scales[0];
    const double z = t.quant.zero_points.empty() ? 0.0 : static_cast<double>(t.quant.zero_points[0]);
    const double qmin = t.dtype == DType::kUInt8 ? 0.0 : -128.0;
    const double qmax = t.dtype == DType::kUInt8 ? 255.0 : 127.0;
    return s * (qmin - z) >= lo - s / 2 && s * (qmax - z) <= hi + s / 2;
  }

  // Emits the op writing `out` (through the fused activation when there is one).
  // Returns the op node; its output is already wired.
  ::onnx::NodeProto* emit_fused(const ir::Node& n, const std::string& op_type, const std::vector<std::string>& inputs,
                                const std::string& out, const std::string& where) {
    const std::string act = n.attrs.get_string("fused_activation", "");
    constexpr double kInf = std::numeric_limits<double>::infinity();
    const int y = n.outputs.empty() ? -1 : n.outputs[0];
    const bool saturated =
        qdq_ && ((act == "relu" && saturates_within(y, 0, kInf)) || (act == "relu6" && saturates_within(y, 0, 6)) ||
                 (act == "relu_n1_to_1" && saturates_within(y, -1, 1)));
    if (act.empty() || saturated) return emit(op_type, inputs, {out}, n.name);
    const std::string pre = fresh(out + "__pre_activation");
    auto* main = emit(op_type, inputs, {pre}, n.name);
    if (act == "relu") {
      emit("Relu", {pre}, {out}, n.name + "/relu");
    } else if (act == "relu6") {
      emit("Clip", {pre, scalar(0.0f, "zero"), scalar(6.0f, "six")}, {out}, n.name + "/relu6");
    } else if (act == "relu_n1_to_1") {
      emit("Clip", {pre, scalar(-1.0f, "minus_one"), scalar(1.0f, "one")}, {out}, n.name + "/relu_n1_to_1");
    } else if (act == "tanh") {
      emit("Tanh", {pre}, {out}, n.name + "/tanh");
    } else {
      fail(ErrorKind::kUnsupported, where, "fused activation '" + act + "' has no ONNX counterpart");
    }
    return main;
  }

  // --- nodes ----------------------------------------------------------------

  static bool is_binary(Op op) {
    switch (op) {
      case Op::Add:
      case Op::Sub:
      case Op::Mul:
      case Op::Div:
      case Op::Pow:
      case Op::Max:
      case Op::Min:
      case Op::Sum:
      case Op::Mean:
      case Op::Equal:
      case Op::Greater:
      case Op::GreaterOrEqual:
      case Op::Less:
      case Op::LessOrEqual:
      case Op::And:
      case Op::Or:
      case Op::Xor:
      case Op::Where:
      case Op::PRelu:
      case Op::SquaredDifference:
      case Op::NotEqual:
      case Op::FloorDiv: return true;
      default: return false;
    }
  }

  static bool is_unary(Op op) {
    switch (op) {
      case Op::Relu:
      case Op::Sigmoid:
      case Op::Tanh:
      case Op::Abs:
      case Op::Neg:
      case Op::Sqrt:
      case Op::Exp:
      case Op::Log:
      case Op::Floor:
      case Op::Ceil:
      case Op::Round:
      case Op::Sign:
      case Op::Sin:
      case Op::Cos:
      case Op::Tan:
      case Op::Erf:
      case Op::Not:
      case Op::Reciprocal:
      case Op::Softplus:
      case Op::Softsign:
      case Op::Elu:
      case Op::LeakyRelu:
      case Op::Identity:
      case Op::Clip:
      case Op::HardSwish:
      case Op::Rsqrt:
      case Op::Square:
      case Op::Cast:
      case Op::Dequantize:
      case Op::Gelu: return true;
      default: return false;
    }
  }

  void require(bool ok, const std::string& where, const std::string& why) const {
    if (!ok) fail(ErrorKind::kUnsupported, where, why);
  }

  std::vector<std::int64_t> static_shape(int id, const std::string& where) const {
    const ir::Shape& s = g_.tensors[id].shape;
    if (!s.is_static()) {
      fail(ErrorKind::kUnknownDim, where, "tensor '" + g_.tensors[id].name + "' has no static shape (" + s.str() + ")");
    }
    return s.extents();
  }

  int in(const ir::Node& n, std::size_t i, const std::string& where) const {
    if (i >= n.inputs.size() || n.inputs[i] < 0) {
      fail(ErrorKind::kBadModel, where, "input " + std::to_string(i) + " is missing");
    }
    return n.inputs[i];
  }

  int out0(const ir::Node& n, const std::string& where) const {
    if (n.outputs.size() != 1 || n.outputs[0] < 0) {
      fail(ErrorKind::kUnsupported, where, "expects exactly one output, has " + std::to_string(n.outputs.size()));
    }
    return n.outputs[0];
  }

  // A node computing on quantized tensors is written in QDQ form: its op in float
  // between DequantizeLinear of its quantized inputs and QuantizeLinear of its outputs.
  void write_node(const ir::Node& n, const std::string& where) {
    bool qdq = false;
    if (n.op != Op::Dequantize && n.op != Op::Quantize && n.op != Op::Cast) {
      for (int id : n.outputs) {
        if (id < 0 || g_.tensors[id].quant.empty() || ir::is_floating(g_.tensors[id].dtype)) continue;
        const ir::Tensor& t = g_.tensors[id];
        require(t.dtype == DType::kInt8 || t.dtype == DType::kUInt8, where,
                "quantized " + std::string(ir::dtype_name(t.dtype)) + " output '" + t.name + "' has no QDQ form");
        require(t.quant.scales.size() == 1, where, "output '" + t.name + "' is quantized per channel");
        qdq = true;
      }
    }
    if (!qdq) return write_op(n, where);
    qdq_ = true;
    pending_q_.clear();
    try {
      write_op(n, where);
    } catch (...) {
      qdq_ = false;
      throw;
    }
    qdq_ = false;
    for (const PendingQuantize& p : pending_q_) {
      const auto [scale, zp] = qparams(stored_quant(p.tensor), stored_dtype(p.tensor), false, p.to, where);
      emit("QuantizeLinear", {p.from, scale, zp}, {p.to}, p.to + "/quantize");
    }
    pending_q_.clear();
  }

  // QUANTIZE: float (or, requantizing, another quantized tensor) to quantized.
  void write_quantize(const ir::Node& n, const std::string& where) {
    const int out = out0(n, where);
    const int x = in(n, 0, where);
    const ir::Tensor& t = g_.tensors[out];
    require(quantized(out) && t.dtype != DType::kInt32, where, "output is not an int8/uint8 quantized tensor");
    require(t.quant.scales.size() == 1, where, "output is quantized per channel");
    const Want want = has_nchw(x) ? Want::kNchw : Want::kLogical;
    std::string input = raw(x, want, where);
    if (quantized(x)) input = dequantized(input, x, {}, where);
    require(quantized(x) || g_.tensors[x].dtype == DType::kFloat32, where, "quantizes a non-float32 input");
    const std::string name = produce(out, want);
    const auto [scale, zp] = qparams(stored_quant(out), stored_dtype(out), false, name, where);
    emit("QuantizeLinear", {input, scale, zp}, {name}, n.name);
  }

  void write_op(const ir::Node& n, const std::string& where) {
    if (n.op == Op::Quantize) return write_quantize(n, where);
    if (is_binary(n.op)) return write_binary(n, where);
    if (is_unary(n.op)) return write_unary(n, where);
    switch (n.op) {
      case Op::Conv: return write_conv(n, where);
      case Op::ConvTranspose: return write_conv_transpose(n, where);
      case Op::MaxPool:
      case Op::AveragePool:
      case Op::LpPool: return write_pool(n, where);
      case Op::Concat: return write_concat(n, where);
      case Op::Pad: return write_pad(n, where);
      case Op::Resize: return write_resize(n, where);
      case Op::Reshape: return write_reshape(n, where);
      case Op::Squeeze:
      case Op::Unsqueeze: return write_squeeze(n, where);
      case Op::Transpose: return write_transpose(n, where);
      case Op::Softmax:
      case Op::LogSoftmax: return write_softmax(n, where);
      case Op::ReduceMean:
      case Op::ReduceSum:
      case Op::ReduceMax:
      case Op::ReduceMin:
      case Op::ReduceProd: return write_reduce(n, where);
      case Op::FullyConnected: return write_fully_connected(n, where);
      case Op::DepthToSpace:
      case Op::SpaceToDepth: return write_depth_space(n, where);
      case Op::ArgMax:
      case Op::ArgMin: return write_arg(n, where);
      case Op::Gather: return write_gather(n, where);
      case Op::Slice: return write_slice(n, where);
      case Op::Split: return write_split(n, where);
      case Op::Pack: return write_pack(n, where);
      case Op::Unpack: return write_unpack(n, where);
      case Op::MatMul: return write_matmul(n, where);
      case Op::Tile:
      case Op::Expand: return write_tile(n, where);
      case Op::LpNormalization: return write_lp_norm(n, where);
      default: fail(ErrorKind::kUnsupported, where, unsupported_op(n));
    }
  }

  static std::string unsupported_op(const ir::Node& n) {
    return "op " + (n.op == Op::Other ? n.source_op : std::string(ir::op_name(n.op))) +
           " has no ONNX conversion from NHWC";
  }

  // The ops write_node handles (each may still refuse a particular node).
  static bool convertible(Op op) {
    if (is_binary(op) || is_unary(op)) return true;
    switch (op) {
      case Op::Quantize:
      case Op::Conv:
      case Op::ConvTranspose:
      case Op::MaxPool:
      case Op::AveragePool:
      case Op::LpPool:
      case Op::Concat:
      case Op::Pad:
      case Op::Resize:
      case Op::Reshape:
      case Op::Squeeze:
      case Op::Unsqueeze:
      case Op::Transpose:
      case Op::Softmax:
      case Op::LogSoftmax:
      case Op::ReduceMean:
      case Op::ReduceSum:
      case Op::ReduceMax:
      case Op::ReduceMin:
      case Op::ReduceProd:
      case Op::FullyConnected:
      case Op::DepthToSpace:
      case Op::SpaceToDepth:
      case Op::ArgMax:
      case Op::ArgMin:
      case Op::Gather:
      case Op::Slice:
      case Op::Split:
      case Op::Pack:
      case Op::Unpack:
      case Op::MatMul:
      case Op::Tile:
      case Op::Expand:
      case Op::LpNormalization: return true;
      default: return false;
    }
  }

  void write_binary(const ir::Node& n, const std::string& where) {
    const int out = out0(n, where);
    require(!n.inputs.empty(), where, "has no inputs");
    // NCHW when a rank-4 operand already exists in NCHW and every other operand can follow.
    bool nchw = is4(out);
    bool any_nchw = false;
    for (int id : n.inputs) {
      if (id < 0) continue;
      any_nchw = any_nchw || has_nchw(id);
      const bool follows = is4(id) || is_constant(id) || g_.tensors[id].shape.numel().value_or(2) == 1;
      nchw = nchw && follows;
    }
    nchw = nchw && any_nchw;
    std::vector<std::string> inputs;
    for (int id : n.inputs) {
      if (id < 0) {
        inputs.emplace_back();
      } else if (!nchw || (!is4(id) && !is_constant(id))) {
        inputs.push_back(get(id, Want::kLogical, where));
      } else if (is_constant(id)) {
        inputs.push_back(get_broadcast_nchw(id, where));
      } else {
        inputs.push_back(get(id, Want::kNchw, where));
      }
    }
    const std::string name = produce(out, nchw ? Want::kNchw : Want::kLogical);
    if (n.op == Op::SquaredDifference || n.op == Op::NotEqual || n.op == Op::FloorDiv) {
      require(inputs.size() == 2, where, "expects two inputs");
      const std::string first = fresh(name + "__" + std::string(ir::op_name(n.op)));
      if (n.op == Op::SquaredDifference) {
        emit("Sub", inputs, {first}, n.name + "/sub");
        emit("Mul", {first, first}, {name}, n.name);
      } else if (n.op == Op::NotEqual) {
        emit("Equal", inputs, {first}, n.name + "/equal");
        emit("Not", {first}, {name}, n.name);
      } else {
        // Floor of the quotient is FLOOR_DIV for floats; ONNX Div truncates integers.
        require(ir::is_floating(g_.tensors[out].dtype), where, "integer FLOOR_DIV has no ONNX counterpart");
        emit("Div", inputs, {first}, n.name + "/div");
        emit("Floor", {first}, {name}, n.name);
      }
      return;
    }
    emit_fused(n, std::string(ir::op_name(n.op)), inputs, name, where);
  }

  void write_unary(const ir::Node& n, const std::string& where) {
    const int out = out0(n, where);
    const int x = in(n, 0, where);
    const Want want = has_nchw(x) ? Want::kNchw : Want::kLogical;
    const std::string input = n.op == Op::Dequantize ? raw(x, want, where) : get(x, want, where);
    const std::string name = produce(out, want);
    switch (n.op) {
      case Op::Clip: {
        std::string lo, hi;
        if (n.attrs.has("min") || n.attrs.has("max")) {
          lo = n.attrs.has("min") ? scalar(static_cast<float>(n.attrs.get_float("min", 0)), "clip_min") : "";
          hi = n.attrs.has("max") ? scalar(static_cast<float>(n.attrs.get_float("max", 0)), "clip_max") : "";
        } else {
          lo = n.inputs.size() > 1 ? get(n.inputs[1], Want::kLogical, where) : "";
          hi = n.inputs.size() > 2 ? get(n.inputs[2], Want::kLogical, where) : "";
        }
        require(g_.tensors[x].dtype == DType::kFloat32 || (qdq_ && quantized(x)), where,
                "Clip bounds are written as float32");
        emit("Clip", {input, lo, hi}, {name}, n.name);
        return;
      }
      case Op::HardSwish: {
        if (opset_ >= 14) {
          emit("HardSwish", {input}, {name}, n.name);
          return;
        }
        // Opset 13 has no HardSwish: x * HardSigmoid(x) with alpha 1/6, beta 1/2.
        const std::string gate = fresh(name + "__gate");
        auto* h = emit("HardSigmoid", {input}, {gate}, n.name + "/hard_sigmoid");
        attr(h, "alpha", 1.0 / 6.0);
        attr(h, "beta", 0.5);
        emit("Mul", {input, gate}, {name}, n.name);
        return;
      }
      case Op::Rsqrt: {
        const std::string root = fresh(name + "__sqrt");
        emit("Sqrt", {input}, {root}, n.name + "/sqrt");
        emit("Reciprocal", {root}, {name}, n.name);
        return;
      }
      case Op::Square: emit("Mul", {input, input}, {name}, n.name); return;
      case Op::Gelu: {
        // Opsets before 20 have no Gelu: 0.5 x (1 + erf(x / sqrt 2)), or with
        // approximate the tanh form 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
        require(g_.tensors[x].dtype == DType::kFloat32, where, "Gelu is written for float32");
        const std::string inner = fresh(name + "__inner");
        const std::string curve = fresh(name + "__curve");
        const std::string one_plus = fresh(name + "__one_plus");
        const std::string half_x = fresh(name + "__half_x");
        if (n.attrs.get_int("approximate", 0) == 0) {
          emit("Mul", {input, scalar(0.70710678118654752f, "inv_sqrt2")}, {inner}, n.name + "/scale");
          emit("Erf", {inner}, {curve}, n.name + "/erf");
        } else {
          const std::string cube = fresh(name + "__cube");
          const std::string cubic = fresh(name + "__cubic");
          const std::string sum = fresh(name + "__sum");
          emit("Mul", {input, input}, {cube + "_sq"}, n.name + "/square");
          emit("Mul", {cube + "_sq", input}, {cube}, n.name + "/cube");
          emit("Mul", {cube, scalar(0.044715f, "gelu_c")}, {cubic}, n.name + "/cubic");
          emit("Add", {input, cubic}, {sum}, n.name + "/sum");
          emit("Mul", {sum, scalar(0.79788456080286536f, "sqrt_2_over_pi")}, {inner}, n.name + "/scale");
          emit("Tanh", {inner}, {curve}, n.name + "/tanh");
        }
        emit("Add", {curve, scalar(1.0f, "one")}, {one_plus}, n.name + "/one_plus");
        emit("Mul", {input, scalar(0.5f, "half")}, {half_x}, n.name + "/half");
        emit("Mul", {half_x, one_plus}, {name}, n.name);
        return;
      }
      case Op::Cast: {
        const auto to = onnx_dtype(g_.tensors[out].dtype);
        require(to.has_value(), where, "cast to a dtype ONNX cannot hold");
        attr(emit("Cast", {input}, {name}, n.name), "to", std::int64_t{*to});
        return;
      }
      case Op::Dequantize: {
        const ir::Tensor& t = g_.tensors[x];
        if (t.dtype == DType::kFloat16) {
          attr(emit("Cast", {input}, {name}, n.name), "to", std::int64_t{::onnx::TensorProto::FLOAT});
          return;
        }
        require(t.dtype == DType::kInt8 || t.dtype == DType::kUInt8, where,
                "dequantizes " + std::string(ir::dtype_name(t.dtype)) + " activations");
        require(t.quant.scales.size() == 1, where, "per-channel dequantization of activations");
        const ir::Quantization q = stored_quant(x);
        Value zp;
        zp.dtype = stored_dtype(x);
        zp.bytes.push_back(static_cast<std::byte>(q.zero_points.empty() ? 0 : q.zero_points[0]));
        const std::string zp_name = fresh(name + "__zero_point");
        add_initializer(zp_name, zp, where);
        emit("DequantizeLinear", {input, scalar(t.quant.scales[0], name + "__scale"), zp_name}, {name}, n.name);
        return;
      }
      default: break;
    }
    auto* node = emit_fused(n, std::string(ir::op_name(n.op)), {input}, name, where);
    if (n.op == Op::LeakyRelu) attr(node, "alpha", n.attrs.get_float("alpha", 0.01));
    if (n.op == Op::Elu) attr(node, "alpha", n.attrs.get_float("alpha", 1.0));
  }

  // What a window op reading `x` reads: the input of the PAD folded into it (its
  // extents added to `pads`), or `x` itself.
  int padded_source(int x, std::vector<std::int64_t>& pads) const {
    auto it = folded_pads_.find(x);
    if (it == folded_pads_.end()) return x;
    for (std::size_t i = 0; i < 4; ++i) pads[i] += it->second.pads[i];
    return it->second.source;
  }

  // pads attribute as ONNX wants it: all begins then all ends (the IR's order).
  std::vector<std::int64_t> window_pads(const ir::Node& n, const std::string& where) const {
    auto pads = n.attrs.get_ints("pads");
    require(pads.size() == 4, where, "padding is unknown (input shapes not static?)");
    return pads;
  }

  void write_conv(const ir::Node& n, const std::string& where) {
    const int out = out0(n, where);
    const int x = in(n, 0, where);
    const int w = in(n, 1, where);
    require(is4(x) && is4(out), where, "only 2-D convolutions (rank-4 tensors) are converted");
    require(is_constant(w), where, "weights are not a constant");
    const Value& wv = value_of(w, where);
    require(wv.dims.size() == 4, where, "weights are not rank 4");
    const std::string layout = n.attrs.get_string("weight_layout", "OHWI");
    Value oihw;
    if (layout == "OHWI") {
      oihw = permuted(wv, {0, 3, 1, 2});
    } else if (layout == "1HWO") {
      oihw = permuted(wv, {3, 0, 1, 2});
    } else {
      fail(ErrorKind::kUnsupported, where, "weight layout '" + layout + "'");
    }
    std::string wname = fresh(names_[w] + "__oihw");
    add_initializer(wname, oihw, where);
    if (quantized(w)) {
      // Per output channel: TFLite's axis (O of OHWI, or of 1HWO) is axis 0 of OIHW.
      const ir::Quantization& q = g_.tensors[w].quant;
      const std::int64_t o_axis = layout == "OHWI" ? 0 : 3;
      require(q.scales.size() == 1 || (q.axis == o_axis && static_cast<std::int64_t>(q.scales.size()) == oihw.dims[0]),
              where, "weight scales are not per tensor or per output channel");
      wname =
          dequantized(wname, w, layout == "OHWI" ? std::vector<int>{0, 3, 1, 2} : std::vector<int>{3, 0, 1, 2}, where);
    }
    std::vector<std::int64_t> pads = window_pads(n, where);
    const int source = padded_source(x, pads);
    std::vector<std::string> inputs = {get(source, Want::kNchw, where), wname};
    if (n.inputs.size() > 2 && n.inputs[2] >= 0) inputs.push_back(quantized_bias(n, x, w, where));
    const std::string name = produce(out, Want::kNchw);
    auto* node = emit_fused(n, "Conv", inputs, name, where);
    attr(node, "kernel_shape", std::vector<std::int64_t>{oihw.dims[2], oihw.dims[3]});
    attr(node, "strides", n.attrs.get_ints("strides"));
    attr(node, "dilations", n.attrs.get_ints("dilations"));
    attr(node, "pads", pads);
    attr(node, "group", n.attrs.get_int("group", 1));
  }

  void write_conv_transpose(const ir::Node& n, const std::string& where) {
    const int out = out0(n, where);
    const int x = in(n, 0, where);
    const int w = in(n, 1, where);
    require(is4(x) && is4(out), where, "only 2-D transposed convolutions are converted");
    require(is_constant(w), where, "weights are not a constant");
    require(n.attrs.get_int("group", 1) == 1, where, "grouped transposed convolution");
    const Value& wv = value_of(w, where);
    require(wv.dims.size() == 4, where, "weights are not rank 4");
    // OHWI -> (I, O, H, W), ONNX ConvTranspose's weight layout.
    const Value iohw = permuted(wv, {3, 0, 1, 2});
    const std::string wname = fresh(names_[w] + "__iohw");
    add_initializer(wname, iohw, where);
    std::vector<std::string> inputs = {get(x, Want::kNchw, where), wname};
    if (n.inputs.size() > 2 && n.inputs[2] >= 0) inputs.push_back(get(n.inputs[2], Want::kLogical, where));
    const auto strides = n.attrs.get_ints("strides");
    const auto pads = window_pads(n, where);
    require(strides.size() == 2, where, "strides are unknown");
    const auto xs = static_shape(x, where);
    const auto ys = static_shape(out, where);
    // ONNX: out = stride * (in - 1) + output_padding + kernel - pad_begin - pad_end.
    std::vector<std::int64_t> output_padding(2);
    for (int i = 0; i < 2; ++i) {
      const std::int64_t k = iohw.dims[2 + i];
      const std::int64_t base = strides[i] * (xs[1 + i] - 1) + k - pads[i] - pads[2 + i];
      output_padding[i] = ys[1 + i] - base;
      require(output_padding[i] >= 0 && output_padding[i] < strides[i], where,
              "output size " + std::to_string(ys[1 + i]) + " is not reachable with ONNX ConvTranspose");
    }
    const std::string name = produce(out, Want::kNchw);
    auto* node = emit_fused(n, "ConvTranspose", inputs, name, where);
    attr(node, "kernel_shape", std::vector<std::int64_t>{iohw.dims[2], iohw.dims[3]});
    attr(node, "strides", strides);
    attr(node, "pads", pads);
    if (output_padding[0] != 0 || output_padding[1] != 0) attr(node, "output_padding", output_padding);
  }

  void write_pool(const ir::Node& n, const std::string& where) {
    const int out = out0(n, where);
    const int x = in(n, 0, where);
    require(is4(x) && is4(out), where, "only 2-D pooling is converted");
    const auto kernel = n.attrs.get_ints("kernel_shape");
    require(kernel.size() == 2, where, "kernel size is unknown");
    std::vector<std::int64_t> pads = window_pads(n, where);
    const int source = padded_source(x, pads);
    const std::string name = produce(out, Want::kNchw);
    auto* node = emit_fused(n, std::string(ir::op_name(n.op)), {get(source, Want::kNchw, where)}, name, where);
    attr(node, "kernel_shape", kernel);
    attr(node, "strides", n.attrs.get_ints("strides"));
    attr(node, "pads", pads);
    // TFLite's average pooling divides by the valid (unpadded) window: ONNX's default.
    if (n.op == Op::LpPool) attr(node, "p", n.attrs.get_int("p", 2));
  }

  void write_concat(const ir::Node& n, const std::string& where) {
    const int out = out0(n, where);
    std::int64_t axis = n.attrs.get_int("axis", 0);
    const auto rank = static_cast<std::int64_t>(g_.tensors[out].shape.rank());
    require(g_.tensors[out].shape.rank_known && axis >= -rank && axis < rank, where, "axis out of range");
    if (axis < 0) axis += rank;
    const bool nchw = is4(out);
    std::vector<std::string> inputs;
    for (int id : n.inputs) {
      require(id >= 0 && (!nchw || is4(id)), where, "inputs of differing rank");
      inputs.push_back(get(id, nchw ? Want::kNchw : Want::kLogical, where));
    }
    const std::string name = produce(out, nchw ? Want::kNchw : Want::kLogical);
    attr(emit_fused(n, "Concat", inputs, name, where), "axis", nchw ? nchw_axis(axis) : axis);
  }

  void write_pad(const ir::Node& n, const std::string& where) {
    const int out = out0(n, where);
    const int x = in(n, 0, where);
    const auto raw = const_ints(in(n, 1, where), where);
    const std::size_t rank = g_.tensors[x].shape.rank();
    require(g_.tensors[x].shape.rank_known && raw.size() == 2 * rank, where, "paddings do not match the input rank");
    const std::string mode = n.attrs.get_string("mode", "constant");
    require(mode == "constant" || mode == "reflect", where, "pad mode '" + mode + "' has no ONNX counterpart");
    const bool nchw = is4(x);
    std::vector<std::int64_t> pads(2 * rank);
    for (std::size_t i = 0; i < rank; ++i) {
      const std::size_t src = nchw ? static_cast<std::size_t>(kToNchw[i]) : i;
      pads[i] = raw[2 * src];
      pads[rank + i] = raw[2 * src + 1];
    }
    const Want want = nchw ? Want::kNchw : Want::kLogical;
    if (qdq_ && zero_pad(n)) {
      // A quantized Pad with its input's parameters that fills with real 0 only moves
      // integers: written on the stored tensor, filling with its zero point (exact).
      // ONNX Runtime has no QDQ fusion for Pad and would pad in float between a
      // DequantizeLinear and a QuantizeLinear.
      Form& f = forms_[out];
      const std::string name =
          want == Want::kNchw ? (f.nchw = fresh(names_[out] + "__nchw")) : (f.logical = names_[out]);
      const std::string zp = qparams(stored_quant(out), stored_dtype(out), false, name, where).second;
      attr(emit("Pad", {this->raw(x, want, where), ints(pads, names_[out] + "__pads"), zp}, {name}, n.name), "mode",
           mode);
      return;
    }
    std::vector<std::string> inputs = {get(x, want, where), ints(pads, names_[out] + "__pads")};
    if (n.inputs.size() > 2 && n.inputs[2] >= 0) inputs.push_back(get(n.inputs[2], Want::kLogical, where));
    const std::string name = produce(out, want);
    attr(emit("Pad", inputs, {name}, n.name), "mode", mode);
  }

  // Whether PAD node `n` is a constant pad of a quantized tensor that keeps its input's
  // parameters and fills with real 0 (the zero point): then padding the integers is
  // exact, and so is a convolution's own zero padding.
  bool zero_pad(const ir::Node& n) const {
    if (n.inputs.size() < 2 || n.outputs.size() != 1 || n.inputs[0] < 0 || n.outputs[0] < 0) return false;
    const int x = n.inputs[0];
    const int y = n.outputs[0];
    if (n.attrs.get_string("mode", "constant") != "constant" || !quantized(x) || !quantized(y)) return false;
    const ir::Tensor& xt = g_.tensors[x];
    const ir::Tensor& yt = g_.tensors[y];
    if (xt.dtype != yt.dtype || xt.quant.scales.size() != 1 || yt.quant.scales != xt.quant.scales ||
        yt.quant.zero_points != xt.quant.zero_points || stored_dtype(x) != stored_dtype(y))
      return false;
    if (n.inputs.size() > 2 && n.inputs[2] >= 0) {
      // PADV2's fill value: a constant whose real value is 0.
      const ir::Tensor& vt = g_.tensors[n.inputs[2]];
      if (!vt.is_constant() || vt.shape.numel().value_or(0) != 1 || vt.data.size() < ir::dtype_bits(vt.dtype) / 8)
        return false;
      if (vt.dtype == DType::kFloat32) {
        float f;
        std::memcpy(&f, vt.data.data(), 4);
        return f == 0.0f;
      }
      Value val;
      val.dtype = vt.dtype;
      val.bytes.assign(vt.data.begin(), vt.data.end());
      const std::optional<double> q = element(val, 0);
      const double zp = vt.quant.zero_points.empty() ? 0.0 : static_cast<double>(vt.quant.zero_points[0]);
      return q && *q == zp;
    }
    return true;
  }

  // Pads that are read only by quantized convolutions are folded into them: the
  // convolution reads the PAD's input with the PAD's extents added to its own (its
  // zero padding fills with real 0 as the PAD did; QLinearConv pads with the zero
  // point). So are pads read only by max pools when real 0 is the tensor's smallest
  // value (zero point at the bottom of the range, as after a ReLU): padding with it
  // then never wins a max, as MaxPool's own padding never does. Removes a layer ONNX
  // Runtime would run on its own.
  void fold_pads() {
    for (std::size_t i = 0; i < g_.nodes.size(); ++i) {
      const ir::Node& n = g_.nodes[i];
      if (skip_[i] || n.op != Op::Pad || !zero_pad(n)) continue;
      const int x = n.inputs[0];
      const int y = n.outputs[0];
      if (!is4(x) || !is_constant(n.inputs[1]) || interface_.count(y) || g_.tensors[y].consumers.empty()) continue;
      const ir::Tensor& yt = g_.tensors[y];
      const std::int64_t zp = yt.quant.zero_points.empty() ? 0 : yt.quant.zero_points[0];
      const bool zero_is_min = zp == (yt.dtype == DType::kInt8 ? -128 : 0);
      bool foldable = true;
      for (int c : yt.consumers) {
        const ir::Node& r = g_.nodes[static_cast<std::size_t>(c)];
        const bool conv = r.op == Op::Conv && r.inputs.size() > 1 && r.inputs[0] == y && r.inputs[1] != y;
        const bool max_pool = r.op == Op::MaxPool && zero_is_min && r.inputs.size() == 1;
        foldable = foldable && (conv || max_pool) && r.attrs.get_ints("pads").size() == 4;
      }
      if (!foldable) continue;
      std::vector<std::int64_t> raw;
      try {
        raw = const_ints(n.inputs[1], node_where(static_cast<int>(i), n));
      } catch (const Error&) {
        continue;
      }
      // NHWC pairs: N and C unpadded, H and W not negative.
      if (raw.size() != 8 || raw[0] || raw[1] || raw[6] || raw[7]) continue;
      if (std::any_of(raw.begin(), raw.end(), [](std::int64_t p) { return p < 0; })) continue;
      folded_pads_[y] = {x, {raw[2], raw[4], raw[3], raw[5]}};  // ONNX order: top, left, bottom, right
      skip_[i] = true;
    }
  }

  void write_resize(const ir::Node& n, const std::string& where) {
    const int out = out0(n, where);
    const int x = in(n, 0, where);
    require(is4(x) && is4(out), where, "only 4-D resizing is converted");
    const auto ys = static_shape(out, where);
    const std::string sizes = ints({ys[0], ys[3], ys[1], ys[2]}, names_[out] + "__sizes");
    const std::string name = produce(out, Want::kNchw);
    auto* node = emit("Resize", {get(x, Want::kNchw, where), "", "", sizes}, {name}, n.name);
    const std::string mode = n.attrs.get_string("mode", "nearest");
    const std::string ctm = n.attrs.get_string("coordinate_transformation_mode", "asymmetric");
    attr(node, "mode", mode);
    attr(node, "coordinate_transformation_mode", ctm);
    // TFLite's nearest neighbour rounds half away from zero with align_corners, else floors.
    if (mode == "nearest")
      attr(node, "nearest_mode", std::string(ctm == "align_corners" ? "round_prefer_ceil" : "floor"));
  }

  void write_reshape(const ir::Node& n, const std::string& where) {
    const int out = out0(n, where);
    const auto shape = static_shape(out, where);
    for (auto d : shape) require(d != 0, where, "reshape to a shape with a zero dimension");
    const std::string target = ints(shape, names_[out] + "__shape");
    const std::string name = produce(out, Want::kLogical);
    emit("Reshape", {get(in(n, 0, where), Want::kLogical, where), target}, {name}, n.name);
  }

  void write_squeeze(const ir::Node& n, const std::string& where) {
    const int out = out0(n, where);
    const auto axes = n.attrs.get_ints("axes");
    std::vector<std::string> inputs = {get(in(n, 0, where), Want::kLogical, where)};
    if (n.op == Op::Unsqueeze) require(!axes.empty(), where, "axes are not a constant");
    if (!axes.empty()) inputs.push_back(ints(axes, names_[out] + "__axes"));
    const std::string name = produce(out, Want::kLogical);
    emit(std::string(ir::op_name(n.op)), inputs, {name}, n.name);
  }

  void write_transpose(const ir::Node& n, const std::string& where) {
    const int out = out0(n, where);
    const auto perm = n.attrs.get_ints("perm");
    require(!perm.empty(), where, "perm is not a constant");
    // A float NCHW -> NHWC transpose (what the TFLite lowering puts after a model's NCHW
    // input) writes nothing: its output's NCHW form is its input. Readers that take NCHW,
    // as the QuantizeLinear before a quantized model's first convolution does, read the
    // input itself; a reader of the NHWC form gets the Transpose from raw(). Without this
    // the quantized torchvision models began with Transpose -> QuantizeLinear -> Transpose:
    // ONNX Runtime cancels the pair itself, but predict, reading the file, costed the two
    // Transposes at 0.2 ms (mobilenet_v3_small: 10% of its int8 run).
    const int x = in(n, 0, where);
    if (is4(x) && is4(out) && !is_constant(x) && !quantized(x) && !quantized(out) && !interface_.count(out) &&
        std::equal(perm.begin(), perm.end(), kToNhwc.begin(), kToNhwc.end())) {
      forms_[out].nchw = raw(x, Want::kLogical, where);
      return;
    }
    const std::string name = produce(out, Want::kLogical);
    attr(emit("Transpose", {get(x, Want::kLogical, where)}, {name}, n.name), "perm", perm);
  }

  void write_softmax(const ir::Node& n, const std::string& where) {
    const int out = out0(n, where);
    std::string input = get(in(n, 0, where), Want::kLogical, where);
    const double beta = n.attrs.get_float("beta", 1.0);
    if (beta != 1.0) {
      const std::string scaled = fresh(names_[out] + "__scaled");
      emit("Mul", {input, scalar(static_cast<float>(beta), "softmax_beta")}, {scaled}, n.name + "/beta");
      input = scaled;
    }
    const std::string name = produce(out, Want::kLogical);
    attr(emit(std::string(ir::op_name(n.op)), {input}, {name}, n.name), "axis", n.attrs.get_int("axis", -1));
  }

  void write_reduce(const ir::Node& n, const std::string& where) {
    const int out = out0(n, where);
    const int x = in(n, 0, where);
    require(n.attrs.has("axes"), where, "axes are not a constant");
    auto axes = n.attrs.get_ints("axes");
    const std::int64_t keepdims = n.attrs.get_int("keepdims", 1);
    const bool nchw = keepdims == 1 && is4(x);
    const auto rank = static_cast<std::int64_t>(g_.tensors[x].shape.rank());
    for (auto& a : axes) {
      require(a >= -rank && a < rank, where, "axis out of range");
      if (nchw) a = nchw_axis(a < 0 ? a + rank : a);
    }
    const Want want = nchw ? Want::kNchw : Want::kLogical;
    std::vector<std::string> inputs = {get(x, want, where)};
    // A quantized mean over H and W is written as GlobalAveragePool (the same values):
    // ONNX Runtime fuses that QDQ group into QLinearGlobalAveragePool and leaves a
    // ReduceMean in float.
    std::vector<std::int64_t> sorted_axes = axes;
    std::sort(sorted_axes.begin(), sorted_axes.end());
    if (qdq_ && nchw && n.op == Op::ReduceMean && sorted_axes == std::vector<std::int64_t>{2, 3}) {
      emit("GlobalAveragePool", inputs, {produce(out, want)}, n.name);
      return;
    }
    const bool axes_input = n.op == Op::ReduceSum || opset_ >= 18;
    if (axes_input) inputs.push_back(ints(axes, names_[out] + "__axes"));
    const std::string name = produce(out, want);
    auto* node = emit(std::string(ir::op_name(n.op)), inputs, {name}, n.name);
    if (!axes_input) attr(node, "axes", axes);
    attr(node, "keepdims", keepdims);
  }

  void write_fully_connected(const ir::Node& n, const std::string& where) {
    const int out = out0(n, where);
    const int x = in(n, 0, where);
    const int w = in(n, 1, where);
    const auto ws = static_shape(w, where);
    require(ws.size() == 2, where, "weights are not rank 2");
    const auto xs = static_shape(x, where);
    const auto ys = static_shape(out, where);
    std::string input = get(x, Want::kLogical, where);
    if (xs.size() != 2 || xs[1] != ws[1]) {
      const std::string flat = fresh(names_[x] + "__rows");
      emit("Reshape", {input, ints({-1, ws[1]}, flat + "__shape")}, {flat}, n.name + "/rows");
      input = flat;
    }
    std::vector<std::string> inputs = {input, get(w, Want::kLogical, where)};
    if (n.inputs.size() > 2 && n.inputs[2] >= 0) inputs.push_back(quantized_bias(n, x, w, where));
    const std::string name = produce(out, Want::kLogical);
    if (ys.size() == 2) {
      attr(emit_fused(n, "Gemm", inputs, name, where), "transB", std::int64_t{1});
      return;
    }
    const std::string rows = fresh(name + "__gemm");
    attr(emit_fused(n, "Gemm", inputs, rows, where), "transB", std::int64_t{1});
    emit("Reshape", {rows, ints(ys, name + "__shape")}, {name}, n.name + "/shape");
  }

  // Axis attribute `a` of a rank-`rank` tensor, normalized to [0, rank).
  std::int64_t axis_in(std::int64_t a, std::int64_t rank, const std::string& where) const {
    require(a >= -rank && a < rank, where,
            "axis " + std::to_string(a) + " out of range for rank " + std::to_string(rank));
    return a < 0 ? a + rank : a;
  }

  std::int64_t rank_of(int id, const std::string& where) const {
    const ir::Shape& s = g_.tensors[id].shape;
    require(s.rank_known, where, "tensor '" + g_.tensors[id].name + "' has unknown rank");
    return static_cast<std::int64_t>(s.rank());
  }

  void write_arg(const ir::Node& n, const std::string& where) {
    const int out = out0(n, where);
    const int x = in(n, 0, where);
    require(n.attrs.has("axis"), where, "axis is not a constant");
    const std::int64_t axis = axis_in(n.attrs.get_int("axis", 0), rank_of(x, where), where);
    const DType type = g_.tensors[out].dtype;
    require(type == DType::kInt64 || type == DType::kInt32, where, "index output must be int32 or int64");
    const std::string name = produce(out, Want::kLogical);
    const std::string index = type == DType::kInt64 ? name : fresh(name + "__int64");
    auto* node = emit(std::string(ir::op_name(n.op)), {get(x, Want::kLogical, where)}, {index}, n.name);
    attr(node, "axis", axis);
    attr(node, "keepdims", n.attrs.get_int("keepdims", 0));
    if (type == DType::kInt32) {
      attr(emit("Cast", {index}, {name}, n.name + "/cast"), "to", std::int64_t{::onnx::TensorProto::INT32});
    }
  }

  void write_gather(const ir::Node& n, const std::string& where) {
    const int out = out0(n, where);
    const int x = in(n, 0, where);
    require(n.attrs.get_int("batch_dims", 0) == 0, where, "batch_dims other than 0");
    const std::int64_t axis = axis_in(n.attrs.get_int("axis", 0), rank_of(x, where), where);
    const std::string name = produce(out, Want::kLogical);
    attr(emit("Gather", {get(x, Want::kLogical, where), get(in(n, 1, where), Want::kLogical, where)}, {name}, n.name),
         "axis", axis);
  }

  // SLICE [x, begin, size] and STRIDED_SLICE [x, begin, end, strides] with constant
  // bounds; shrink_axis_mask becomes a Squeeze. Ellipsis and new-axis masks are refused.
  void write_slice(const ir::Node& n, const std::string& where) {
    const int out = out0(n, where);
    const int x = in(n, 0, where);
    const auto shape = static_shape(x, where);
    const auto rank = static_cast<std::int64_t>(shape.size());
    const auto begin = const_ints(in(n, 1, where), where);
    require(static_cast<std::int64_t>(begin.size()) == rank, where, "begin does not cover every dimension");
    constexpr std::int64_t kToEnd = std::numeric_limits<std::int64_t>::max();
    std::vector<std::int64_t> starts = begin, ends(rank), steps(rank, 1), axes(rank), shrink;
    for (std::int64_t i = 0; i < rank; ++i) axes[i] = i;
    if (n.source_op == "SLICE") {
      const auto size = const_ints(in(n, 2, where), where);
      require(size.size() == begin.size(), where, "size does not cover every dimension");
      for (std::int64_t i = 0; i < rank; ++i) ends[i] = size[i] < 0 ? kToEnd : begin[i] + size[i];
    } else if (n.source_op == "STRIDED_SLICE") {
      const auto end = const_ints(in(n, 2, where), where);
      const auto strides =
          n.inputs.size() > 3 ? const_ints(in(n, 3, where), where) : std::vector<std::int64_t>(rank, 1);
      require(end.size() == begin.size() && strides.size() == begin.size(), where, "bounds of differing length");
      require(n.attrs.get_int("ellipsis_mask", 0) == 0 && n.attrs.get_int("new_axis_mask", 0) == 0, where,
              "ellipsis and new-axis masks are not converted");
      const std::int64_t begin_mask = n.attrs.get_int("begin_mask", 0);
      const std::int64_t end_mask = n.attrs.get_int("end_mask", 0);
      const std::int64_t shrink_mask = n.attrs.get_int("shrink_axis_mask", 0);
      for (std::int64_t i = 0; i < rank; ++i) {
        require(strides[i] != 0, where, "zero stride");
        steps[i] = strides[i];
        const bool forward = strides[i] > 0;
        const std::int64_t first = forward ? 0 : kToEnd;
        const std::int64_t last = forward ? kToEnd : std::numeric_limits<std::int64_t>::min();
        if ((shrink_mask >> i) & 1) {
          // One element at begin, whatever end and the masks say.
          const std::int64_t b = begin[i] < 0 ? begin[i] + shape[i] : begin[i];
          starts[i] = b;
          ends[i] = b + 1;
          steps[i] = 1;
          shrink.push_back(i);
          continue;
        }
        if ((begin_mask >> i) & 1) starts[i] = first;
        ends[i] = ((end_mask >> i) & 1) ? last : end[i];
      }
    } else {
      fail(ErrorKind::kUnsupported, where, "slice form '" + n.source_op + "'");
    }
    const std::string name = produce(out, Want::kLogical);
    const std::string sliced = shrink.empty() ? name : fresh(name + "__unsqueezed");
    emit("Slice",
         {get(x, Want::kLogical, where), ints(starts, name + "__starts"), ints(ends, name + "__ends"),
          ints(axes, name + "__axes"), ints(steps, name + "__steps")},
         {sliced}, n.name);
    if (!shrink.empty()) emit("Squeeze", {sliced, ints(shrink, name + "__shrink")}, {name}, n.name + "/shrink");
  }

  // SPLIT [x, axis] (already reordered by the importer) and SPLIT_V [x, sizes, axis].
  void write_split(const ir::Node& n, const std::string& where) {
    const int x = in(n, 0, where);
    require(n.attrs.has("axis"), where, "axis is not a constant");
    const std::int64_t axis = axis_in(n.attrs.get_int("axis", 0), rank_of(x, where), where);
    std::vector<std::int64_t> sizes;
    for (int o : n.outputs) {
      require(o >= 0, where, "omitted output");
      const auto shape = static_shape(o, where);
      require(static_cast<std::int64_t>(shape.size()) > axis, where, "output rank below the axis");
      sizes.push_back(shape[static_cast<std::size_t>(axis)]);
    }
    std::vector<std::string> outputs;
    for (int o : n.outputs) outputs.push_back(produce(o, Want::kLogical));
    auto* node = emit("Split", {get(x, Want::kLogical, where), ints(sizes, outputs[0] + "__sizes")}, outputs, n.name);
    attr(node, "axis", axis);
  }

  void write_pack(const ir::Node& n, const std::string& where) {
    const int out = out0(n, where);
    const std::int64_t axis = axis_in(n.attrs.get_int("axis", 0), rank_of(out, where), where);
    std::vector<std::string> parts;
    for (std::size_t i = 0; i < n.inputs.size(); ++i) {
      const std::string part = fresh(names_[out] + "__part" + std::to_string(i));
      emit("Unsqueeze", {get(in(n, i, where), Want::kLogical, where), ints({axis}, part + "__axes")}, {part},
           n.name + "/unsqueeze");
      parts.push_back(part);
    }
    const std::string name = produce(out, Want::kLogical);
    attr(emit("Concat", parts, {name}, n.name), "axis", axis);
  }

  void write_unpack(const ir::Node& n, const std::string& where) {
    const int x = in(n, 0, where);
    const std::int64_t axis = axis_in(n.attrs.get_int("axis", 0), rank_of(x, where), where);
    std::vector<std::string> parts, outputs;
    for (int o : n.outputs) {
      require(o >= 0, where, "omitted output");
      outputs.push_back(produce(o, Want::kLogical));
      parts.push_back(fresh(outputs.back() + "__kept"));
    }
    const std::string axes = ints({axis}, names_[x] + "__unpack_axis");
    attr(emit("Split", {get(x, Want::kLogical, where)}, parts, n.name + "/split"), "axis", axis);
    for (std::size_t i = 0; i < parts.size(); ++i) emit("Squeeze", {parts[i], axes}, {outputs[i]}, n.name);
  }

  void write_matmul(const ir::Node& n, const std::string& where) {
    const int out = out0(n, where);
    std::vector<std::string> inputs;
    for (std::size_t i = 0; i < 2; ++i) {
      const int id = in(n, i, where);
      std::string name = get(id, Want::kLogical, where);
      if (n.attrs.get_int(i == 0 ? "adj_x" : "adj_y", 0) != 0) {
        const std::int64_t rank = rank_of(id, where);
        require(rank >= 2, where, "adjoint of a tensor of rank < 2");
        std::vector<std::int64_t> perm(static_cast<std::size_t>(rank));
        for (std::int64_t k = 0; k < rank; ++k) perm[k] = k;
        std::swap(perm[rank - 1], perm[rank - 2]);
        const std::string t = fresh(name + "__adjoint");
        attr(emit("Transpose", {name}, {t}, n.name + "/adjoint"), "perm", perm);
        name = t;
      }
      inputs.push_back(name);
    }
    const std::string name = produce(out, Want::kLogical);
    emit("MatMul", inputs, {name}, n.name);
  }

  // TILE [x, multiples] and BROADCAST_TO [x, shape]: the second input as int64.
  void write_tile(const ir::Node& n, const std::string& where) {
    const int out = out0(n, where);
    const auto second = const_ints(in(n, 1, where), where);
    const std::string name = produce(out, Want::kLogical);
    emit(std::string(ir::op_name(n.op)),
         {get(in(n, 0, where), Want::kLogical, where), ints(second, name + "__repeats")}, {name}, n.name);
  }

  void write_lp_norm(const ir::Node& n, const std::string& where) {
    const int out = out0(n, where);
    const int x = in(n, 0, where);
    const std::int64_t axis = axis_in(n.attrs.get_int("axis", -1), rank_of(x, where), where);
    const std::string name = produce(out, Want::kLogical);
    auto* node = emit_fused(n, "LpNormalization", {get(x, Want::kLogical, where)}, name, where);
    attr(node, "axis", axis);
    attr(node, "p", n.attrs.get_int("p", 2));
  }

  void write_depth_space(const ir::Node& n, const std::string& where) {
    const int out = out0(n, where);
    const int x = in(n, 0, where);
    require(is4(x) && is4(out), where, "rank-4 tensors only");
    const std::string name = produce(out, Want::kNchw);
    auto* node = emit(std::string(ir::op_name(n.op)), {get(x, Want::kNchw, where)}, {name}, n.name);
    attr(node, "blocksize", n.attrs.get_int("blocksize", 1));
    if (n.op == Op::DepthToSpace) attr(node, "mode", std::string("DCR"));
  }

  struct PendingQuantize {
    std::string from;  // the op's float output
    std::string to;    // the int8 tensor's name in the form produced
    int tensor = -1;
  };

  int opset_ = 13;
  bool qdq_ = false;  // writing a quantized node (write_node)
  std::vector<PendingQuantize> pending_q_;
  std::unordered_set<int> interface_;  // graph inputs and outputs: stored in their own dtype
  struct FoldedPad {
    int source = -1;                 // the PAD's input
    std::vector<std::int64_t> pads;  // added to the convolution's: top, left, bottom, right
  };
  std::unordered_map<int, FoldedPad> folded_pads_;            // PAD output -> what its readers read instead
  std::unordered_map<std::string, std::string> dequantized_;  // stored name -> DequantizeLinear output
  std::vector<Form> forms_;
  std::vector<std::string> names_;
  std::vector<bool> poisoned_;
  std::vector<bool> skip_;
  std::vector<std::string> problems_;
  std::unordered_map<int, Value> folded_;
  std::unordered_map<int, std::string> const_logical_, const_nchw_, const_bcast_;
  std::unordered_map<std::string, std::string> scalars_;
};

std::vector<std::string> nhwc_unsupported(const ir::Graph& g) {
  ExportOptions options;
  return NhwcWriter(g, options).problems();
}

}  // namespace

namespace detail {
std::vector<std::string> unsupported_onnx(const ir::Graph& graph) {
  std::vector<std::string> out;
  if (graph.meta.layout == ir::Layout::kNHWC) return nhwc_unsupported(graph);
  return direct_problems(graph, direct_opset(graph, 13));
}
}  // namespace detail

std::string to_onnx(const ir::Graph& graph, const ExportOptions& options) {
  if (options.opset < 13 || options.opset > 17) {
    throw Error(ErrorKind::kInvalidArgument, graph.meta.source_path, "--opset",
                "opset " + std::to_string(options.opset) + " is outside the supported range 13..17");
  }
  if (options.fp16_weights) {
    throw Error(ErrorKind::kInvalidArgument, graph.meta.source_path, "--fp16",
                "float16 weights are a TFLite export option; the ONNX writer keeps weights as they are");
  }
  if (graph.meta.layout == ir::Layout::kNHWC) return NhwcWriter(graph, options).run();
  return DirectWriter(graph, options).run();
}

}  // namespace infercast::exporter
