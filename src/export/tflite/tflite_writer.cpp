// ir::Graph -> TFLite flatbuffer over the project's own schema (schema/tflite.fbs).
//
// Two paths, chosen per node by its layout:
//  - NHWC nodes (graphs imported from TFLite) are written back operator for operator:
//    the builtin the file named (node.source_op), the options rebuilt from the
//    normalized attributes exactly as src/import/tflite reads them, tensors with their
//    names, dtypes, shapes, quantization and weight bytes untouched. Sparse weights keep
//    their SparsityParameters, copied from the source file (the IR holds only the
//    stored values).
//  - NCHW nodes (graphs imported from ONNX) are converted to NHWC: every IR tensor may
//    exist in the file in its own order ("plain") and/or NHWC order; ops that compute
//    channels-last ask for the NHWC form, ops that need the IR's order (Reshape,
//    Flatten, Gemm) ask for the plain form, and a TRANSPOSE is inserted where a form is
//    missing. Layout changes of constants are folded into the weights (OIHW -> OHWI,
//    (C,1,H,W) -> 1HWO depthwise, Gemm/MatMul -> FULLY_CONNECTED "OI"), BatchNorm is
//    folded into the preceding convolution, and Relu/Clip into the fused activation.
//    Graph inputs and outputs keep their names, dtypes and NCHW shapes. A Cast to
//    float32 of a float16 constant (the fp16 transform's ONNX form) is read as that
//    constant: the weights the op reads are stored as float16 behind a DEQUANTIZE,
//    the form the TFLite converter's float16 quantization writes.
//
// Everything the writer cannot express is collected per node, so one call reports
// every unsupported node.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "export/detail.hpp"
#include "flatbuffers/flatbuffers.h"
#include "infercast/base/error.hpp"
#include "infercast/base/mapped_file.hpp"
#include "infercast/export/export.hpp"
#include "tflite_generated.h"

namespace infercast::exporter {
namespace {

namespace fb = flatbuffers;
using B = tflite::BuiltinOperator;
using Act = tflite::ActivationFunctionType;
using Dims = std::vector<std::int64_t>;

// Where an IR tensor lives in the file: in the IR's own axis order, or (rank-4 NCHW
// tensors) in NHWC order.
enum Form : int { kPlain = 0, kNhwc = 1 };
// nhwc dim i = nchw dim kToNhwc[i]; nchw axis a sits at nhwc position kNhwcPos[a].
constexpr std::array<int, 4> kToNhwc{0, 2, 3, 1};
constexpr std::array<int, 4> kToNchw{0, 3, 1, 2};
constexpr std::array<int, 4> kNhwcPos{0, 3, 1, 2};
// TFLite flatbuffers use 32-bit offsets; leave room for everything beside the weights.
constexpr std::uint64_t kMaxFileBytes = (std::uint64_t{1} << 31) - (std::uint64_t{1} << 24);

// A failure of one node: collected, the writer goes on with the next node.
struct NodeError {
  ErrorKind kind;
  std::string reason;
};
[[noreturn]] void refuse(std::string reason) {
  throw NodeError{ErrorKind::kUnsupported, std::move(reason)};
}

std::optional<tflite::TensorType> tensor_type(ir::DType t) {
  using T = tflite::TensorType;
  switch (t) {
    case ir::DType::kFloat32: return T::FLOAT32;
    case ir::DType::kFloat16: return T::FLOAT16;
    case ir::DType::kBFloat16: return T::BFLOAT16;
    case ir::DType::kFloat64: return T::FLOAT64;
    case ir::DType::kInt4: return T::INT4;
    case ir::DType::kInt8: return T::INT8;
    case ir::DType::kUInt8: return T::UINT8;
    case ir::DType::kInt16: return T::INT16;
    case ir::DType::kUInt16: return T::UINT16;
    case ir::DType::kInt32: return T::INT32;
    case ir::DType::kUInt32: return T::UINT32;
    case ir::DType::kInt64: return T::INT64;
    case ir::DType::kUInt64: return T::UINT64;
    case ir::DType::kBool: return T::BOOL;
    case ir::DType::kString: return T::STRING;
    case ir::DType::kComplex64: return T::COMPLEX64;
    case ir::DType::kComplex128: return T::COMPLEX128;
    default: return std::nullopt;
  }
}

using ir::float_to_half;

// `src` (row-major, `dims`) with its axes permuted: result dim k is
// source dim perm[k].
std::vector<float> permute(const std::vector<float>& src, const Dims& dims, const std::vector<int>& perm) {
  const std::size_t rank = dims.size();
  if (rank == 0 || src.empty()) return src;
  std::vector<float> out(src.size());
  std::vector<std::int64_t> in_stride(rank, 1);
  for (std::size_t d = rank; d-- > 1;) in_stride[d - 1] = in_stride[d] * dims[d];
  Dims out_dims(rank);
  for (std::size_t k = 0; k < rank; ++k) out_dims[k] = dims[static_cast<std::size_t>(perm[k])];
  // Outer output positions by counter, the innermost output axis as a strided copy.
  const std::size_t inner = static_cast<std::size_t>(out_dims[rank - 1]);
  const std::size_t inner_step = static_cast<std::size_t>(in_stride[static_cast<std::size_t>(perm[rank - 1])]);
  const std::size_t rows = inner == 0 ? 0 : src.size() / inner;
  std::vector<std::int64_t> idx(rank, 0);
  float* dst = out.data();
  for (std::size_t r = 0; r < rows; ++r) {
    std::int64_t off = 0;
    for (std::size_t k = 0; k + 1 < rank; ++k) off += idx[k] * in_stride[static_cast<std::size_t>(perm[k])];
    const float* s = src.data() + off;
    for (std::size_t j = 0; j < inner; ++j) *dst++ = s[j * inner_step];
    for (std::size_t k = rank - 1; k-- > 0;) {
      if (++idx[k] < out_dims[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}

std::string dims_str(const Dims& d) {
  std::string s;
  for (std::size_t i = 0; i < d.size(); ++i) s += (i ? "x" : "") + std::to_string(d[i]);
  return s.empty() ? "scalar" : s;
}

std::optional<std::int64_t> norm_axis(std::int64_t axis, std::size_t rank) {
  const auto r = static_cast<std::int64_t>(rank);
  if (axis < -r || axis >= r) return std::nullopt;
  return axis < 0 ? axis + r : axis;
}

// Padding of one 2-D window op: TFLite's SAME or VALID, or VALID after an explicit pad
// of (top, left, bottom, right).
struct WindowPlan {
  tflite::Padding padding = tflite::Padding::VALID;
  bool explicit_pad = false;
  std::array<std::int64_t, 4> pad{};  // top, left, bottom, right
};

// `pads` are the IR's (top, left, bottom, right). `extra_end` lets the explicit pad
// grow past the IR's end pads (ceil_mode max pooling: the extra cells hold -inf).
std::optional<WindowPlan> plan_window(std::array<std::int64_t, 2> in, std::array<std::int64_t, 2> out,
                                      std::array<std::int64_t, 2> k, std::array<std::int64_t, 2> s,
                                      std::array<std::int64_t, 2> d, std::array<std::int64_t, 4> pads, bool extra_end) {
  bool same = true, valid = true;
  for (int a = 0; a < 2; ++a) {
    const std::int64_t eff = (k[a] - 1) * d[a] + 1;
    const std::int64_t same_out = (in[a] + s[a] - 1) / s[a];
    const std::int64_t total = std::max<std::int64_t>((same_out - 1) * s[a] + eff - in[a], 0);
    same = same && out[a] == same_out && pads[a] == total / 2 && pads[a + 2] == total - total / 2;
    valid = valid && pads[a] == 0 && pads[a + 2] == 0 && in[a] >= eff && out[a] == (in[a] - eff) / s[a] + 1;
  }
  WindowPlan plan;
  if (same) {
    plan.padding = tflite::Padding::SAME;
    return plan;
  }
  if (valid) return plan;
  plan.explicit_pad = true;
  for (int a = 0; a < 2; ++a) {
    const std::int64_t eff = (k[a] - 1) * d[a] + 1;
    const std::int64_t begin = pads[a];
    const std::int64_t end = std::max<std::int64_t>((out[a] - 1) * s[a] + eff - in[a] - begin, 0);
    if (end > pads[a + 2] && !extra_end) return std::nullopt;
    if (in[a] + begin + end < eff || (in[a] + begin + end - eff) / s[a] + 1 != out[a]) return std::nullopt;
    plan.pad[a] = begin;
    plan.pad[a + 2] = end;
  }
  return plan;
}

// The builtin named `name` ("CONV_2D"), if the schema has one.
std::optional<B> builtin_by_name(const std::string& name) {
  for (B b : tflite::EnumValuesBuiltinOperator()) {
    const char* n = tflite::EnumNameBuiltinOperator(b);
    if (n != nullptr && name == n) return b;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// The writer
// ---------------------------------------------------------------------------

std::size_t initial_size(const ir::Graph& g) {
  std::uint64_t bytes = 1 << 20;
  for (const ir::Tensor& t : g.tensors) {
    if (t.is_constant() && t.alias_of < 0) bytes += t.data.size() + 32;
  }
  return static_cast<std::size_t>(std::min<std::uint64_t>(bytes, kMaxFileBytes));
}

class Writer {
 public:
  Writer(const ir::Graph& graph, const ExportOptions& options)
      : g_(graph), opt_(options), file_(graph.meta.source_path.empty() ? "graph" : graph.meta.source_path) {}

  // Lowers the whole graph, collecting one entry per node that cannot be written.
  void lower();
  const std::vector<std::string>& problems() const { return problems_; }
  const std::vector<ErrorKind>& problem_kinds() const { return kinds_; }
  std::string serialize();

 private:
  struct OutTensor {
    std::string name;
    std::vector<std::int32_t> shape;
    tflite::TensorType type = tflite::TensorType::FLOAT32;
    std::uint32_t buffer = 0;
    const ir::Quantization* quant = nullptr;
    fb::Offset<tflite::SparsityParameters> sparsity;
    bool is_variable = false;
  };
  struct OutOp {
    std::uint32_t opcode = 0;
    std::vector<std::int32_t> inputs, outputs;
    tflite::BuiltinOptions options_type = tflite::BuiltinOptions::NONE;
    fb::Offset<void> options;
    std::vector<std::uint8_t> custom;
  };
  struct Fusion {
    int bn = -1;          // BatchNormalization node folded into this Conv
    Act act = Act::NONE;  // Relu / Clip folded into the fused activation
    int out = -1;         // the IR tensor the fused op writes
  };

  // Tensors and ops of the output file.
  std::string unique_name(const std::string& base, bool own = false);
  std::vector<std::int32_t> i32_dims(const Dims& d) const;
  int add_tensor(OutTensor t);
  std::uint32_t add_buffer(std::span<const std::byte> bytes);
  std::uint32_t own_buffer(std::vector<std::byte> bytes);
  std::uint32_t opcode(B builtin, const std::string& custom = {});
  void add_op(B code, std::vector<int> in, std::vector<int> out,
              tflite::BuiltinOptions type = tflite::BuiltinOptions::NONE, fb::Offset<void> options = 0);
  int const_i32(const std::string& name, const std::vector<std::int32_t>& values, Dims shape);
  int const_f32(const std::string& name, std::vector<float> values, Dims shape, bool weight, bool half = false);
  int activation(const std::string& name, ir::DType dtype, const Dims& shape, bool own = false);

  // IR tensors in the file.
  Dims static_dims(int id) const;
  Dims form_dims(int id, Form f) const;
  std::vector<float> read_f32(int id) const;
  int ir_constant(int id, Form f, bool weight);
  int broadcast_constant(int id, Form f, std::size_t rank, bool weight);
  int value(int id, Form f);
  int produce(int id, Form f);
  bool has(int id, Form f) const { return forms_[static_cast<std::size_t>(id)][f] >= 0; }
  // A constant, or the float32 view of a float16 constant (a Cast the writer folds).
  bool constant(int id) const {
    return id >= 0 && (g_.tensors[static_cast<std::size_t>(id)].is_constant() || half_of(id) >= 0);
  }
  // The float16 constant whose Cast to float32 is `id`, or -1.
  int half_of(int id) const {
    return id >= 0 && static_cast<std::size_t>(id) < half_src_.size() ? half_src_[static_cast<std::size_t>(id)] : -1;
  }
  // Whether weights derived from IR tensor `id` are stored as float16.
  bool half_weights(int id) const { return opt_.fp16_weights || half_of(id) >= 0; }
  Form preferred_form(int id) const;
  fb::Offset<tflite::SparsityParameters> copy_sparsity(int id);

  void plan();
  bool param_input(const ir::Node& n, std::size_t k) const;
  int sole_consumer(int tensor) const;
  std::optional<std::pair<float, float>> clip_bounds(const ir::Node& n) const;
  bool nonnegative(int tensor, int depth = 0) const;

  // Lowering.
  void emit_native(int index);
  fb::Offset<void> native_options(const ir::Node& n, B code, tflite::BuiltinOptions& type, int in_id, int out_id);
  tflite::Padding native_padding(const ir::Node& n, int in_id, int out_id, bool transposed) const;
  void emit_converted(int index);
  void conv(int index);
  int pad_input(int x, const WindowPlan& plan, float value, const std::string& name);
  void pool(const ir::Node& n);
  void global_pool(const ir::Node& n);
  void unary(const ir::Node& n);
  void clip(int index);
  void hard_sigmoid(const ir::Node& n);
  void binary(int index);
  void batch_norm(int index);
  void reshape(const ir::Node& n);
  void linear(int index);
  void concat(const ir::Node& n);
  void conv_transpose(const ir::Node& n);
  void resize(const ir::Node& n);
  void softmax(const ir::Node& n);
  void pad(const ir::Node& n);
  void reduce(const ir::Node& n);
  void transpose(const ir::Node& n);
  void identity(const ir::Node& n);
  void split(const ir::Node& n);
  void sum(const ir::Node& n);
  void slice(const ir::Node& n);
  void cast(const ir::Node& n);
  Form data_form(const ir::Node& n, std::size_t rank) const;
  Act fused(int index) const { return fusions_[static_cast<std::size_t>(index)].act; }
  int fused_out(int index) const {
    const int out = fusions_[static_cast<std::size_t>(index)].out;
    return out >= 0 ? out : g_.nodes[static_cast<std::size_t>(index)].outputs.at(0);
  }

  const ir::Graph& g_;
  const ExportOptions& opt_;
  std::string file_;
  // Sized for every constant's bytes up front: growing by doubling would copy the weights
  // several times.
  fb::FlatBufferBuilder fbb_{initial_size(g_)};
  std::vector<OutTensor> tensors_;
  std::vector<OutOp> ops_;
  std::vector<std::span<const std::byte>> buffers_{std::span<const std::byte>{}};  // buffer 0: empty
  std::uint64_t buffer_bytes_ = 0;
  std::deque<std::vector<std::byte>> owned_;
  std::deque<std::vector<float>> owned_floats_;
  std::map<std::pair<int, std::string>, std::uint32_t> opcode_index_;
  std::vector<std::pair<B, std::string>> opcodes_;
  std::vector<std::array<int, 2>> forms_;
  std::map<std::tuple<int, int, int>, int> constants_;  // (root tensor, form, fp16) -> file tensor
  std::set<std::string> names_, ir_names_;
  std::vector<char> needed_, absorbed_, is_output_;
  std::vector<int> half_src_;  // per IR tensor: see half_of()
  std::vector<Fusion> fusions_;
  std::vector<std::string> problems_;
  std::vector<ErrorKind> kinds_;
  std::unique_ptr<base::MappedFile> source_;  // re-read for sparsity parameters
  const tflite::Model* source_model_ = nullptr;
  bool source_tried_ = false;
};

// A name no other file tensor has. IR tensor names are reserved for the tensors they
// name: `own` claims `base` as such a name when it is still free.
std::string Writer::unique_name(const std::string& base, bool own) {
  if (own && !names_.count(base)) {
    names_.insert(base);
    return base;
  }
  std::string name = base;
  for (int k = 1; names_.count(name) || ir_names_.count(name); ++k) name = base + "_" + std::to_string(k);
  names_.insert(name);
  return name;
}

std::vector<std::int32_t> Writer::i32_dims(const Dims& d) const {
  std::vector<std::int32_t> out;
  for (std::int64_t v : d) {
    if (v < 0 || v > std::numeric_limits<std::int32_t>::max()) {
      refuse("dimension " + std::to_string(v) + " of shape " + dims_str(d) + " does not fit TFLite's int32 shapes");
    }
    out.push_back(static_cast<std::int32_t>(v));
  }
  return out;
}

int Writer::add_tensor(OutTensor t) {
  tensors_.push_back(std::move(t));
  return static_cast<int>(tensors_.size()) - 1;
}

std::uint32_t Writer::add_buffer(std::span<const std::byte> bytes) {
  buffer_bytes_ += bytes.size() + 16;
  if (buffer_bytes_ > kMaxFileBytes) {
    throw Error(ErrorKind::kUnsupported, file_, "weights",
                "more than 2 GiB of weights; TFLite flatbuffers stop at 2 GiB (the large-model layout with buffers "
                "after the flatbuffer is not written)");
  }
  buffers_.push_back(bytes);
  return static_cast<std::uint32_t>(buffers_.size() - 1);
}

std::uint32_t Writer::own_buffer(std::vector<std::byte> bytes) {
  owned_.push_back(std::move(bytes));
  return add_buffer(owned_.back());
}

std::uint32_t Writer::opcode(B builtin, const std::string& custom) {
  const auto key = std::make_pair(static_cast<int>(builtin), custom);
  if (auto it = opcode_index_.find(key); it != opcode_index_.end()) return it->second;
  opcodes_.emplace_back(builtin, custom);
  const auto index = static_cast<std::uint32_t>(opcodes_.size() - 1);
  opcode_index_[key] = index;
  return index;
}

void Writer::add_op(B code, std::vector<int> in, std::vector<int> out, tflite::BuiltinOptions type,
                    fb::Offset<void> options) {
  OutOp op;
  op.opcode = opcode(code);
  op.inputs.assign(in.begin(), in.end());
  op.outputs.assign(out.begin(), out.end());
  op.options_type = type;
  op.options = options;
  ops_.push_back(std::move(op));
}

int Writer::const_i32(const std::string& name, const std::vector<std::int32_t>& values, Dims shape) {
  std::vector<std::byte> bytes(values.size() * 4);
  if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  OutTensor t;
  t.name = unique_name(name);
  t.shape = i32_dims(shape);
  t.type = tflite::TensorType::INT32;
  t.buffer = own_buffer(std::move(bytes));
  return add_tensor(std::move(t));
}

// A float constant; with fp16 weights and `weight`, stored as float16 behind a
// DEQUANTIZE (the returned tensor is the float32 one the ops read).
int Writer::const_f32(const std::string& name, std::vector<float> values, Dims shape, bool weight, bool half) {
  OutTensor t;
  t.shape = i32_dims(shape);
  if (weight && (opt_.fp16_weights || half)) {
    std::vector<std::byte> bytes(values.size() * 2);
    for (std::size_t i = 0; i < values.size(); ++i) {
      const std::uint16_t h = float_to_half(values[i]);
      std::memcpy(bytes.data() + 2 * i, &h, 2);
    }
    t.name = unique_name(name + "_fp16");
    t.type = tflite::TensorType::FLOAT16;
    t.buffer = own_buffer(std::move(bytes));
    const int half = add_tensor(std::move(t));
    const int out = activation(name, ir::DType::kFloat32, shape);
    add_op(B::DEQUANTIZE, {half}, {out}, tflite::BuiltinOptions::DequantizeOptions,
           tflite::CreateDequantizeOptions(fbb_).Union());
    return out;
  }
  owned_floats_.push_back(std::move(values));
  t.name = unique_name(name);
  t.type = tflite::TensorType::FLOAT32;
  t.buffer = add_buffer(std::as_bytes(std::span<const float>(owned_floats_.back())));
  return add_tensor(std::move(t));
}

int Writer::activation(const std::string& name, ir::DType dtype, const Dims& shape, bool own) {
  const auto type = tensor_type(dtype);
  if (!type) refuse("tensor '" + name + "' has dtype " + std::string(ir::dtype_name(dtype)) + ", which TFLite lacks");
  OutTensor t;
  t.name = unique_name(name, own);
  t.shape = i32_dims(shape);
  t.type = *type;
  return add_tensor(std::move(t));
}

Dims Writer::static_dims(int id) const {
  const ir::Tensor& t = g_.tensors[static_cast<std::size_t>(id)];
  if (!t.shape.is_static()) {
    throw NodeError{ErrorKind::kUnknownDim,
                    "tensor '" + t.name + "' has shape " + t.shape.str() + "; TFLite needs static shapes"};
  }
  return t.shape.extents();
}

Dims Writer::form_dims(int id, Form f) const {
  Dims d = static_dims(id);
  if (f == kPlain) return d;
  if (d.size() != 4) refuse("tensor '" + g_.tensors[static_cast<std::size_t>(id)].name + "' is not 4-D");
  return {d[0], d[2], d[3], d[1]};
}

std::vector<float> Writer::read_f32(int id) const {
  if (const int h = half_of(id); h >= 0) {
    const ir::Tensor& t = g_.tensors[static_cast<std::size_t>(h)];
    const auto n = *t.shape.numel();
    if (t.data.size() != n * 2) refuse("float16 constant '" + t.name + "' does not hold its shape's bytes");
    std::vector<float> out(n);
    for (std::uint64_t i = 0; i < n; ++i) {
      std::uint16_t v = 0;
      std::memcpy(&v, t.data.data() + 2 * i, 2);
      out[i] = ir::half_to_float(v);
    }
    return out;
  }
  const ir::Tensor& t = g_.tensors[static_cast<std::size_t>(id)];
  if (!t.is_constant()) refuse("'" + t.name + "' must be a constant");
  if (t.dtype != ir::DType::kFloat32) {
    refuse("constant '" + t.name + "' is " + std::string(ir::dtype_name(t.dtype)) +
           "; only float32 weights are converted");
  }
  if (t.sparse) refuse("constant '" + t.name + "' is sparse; sparse ONNX weights are not converted");
  const auto n = *t.shape.numel();
  if (t.data.size() != n * 4) {
    refuse("constant '" + t.name + "' holds " + std::to_string(t.data.size()) + " bytes, shape " + t.shape.str() +
           " needs " + std::to_string(n * 4));
  }
  std::vector<float> out(n);
  if (n) std::memcpy(out.data(), t.data.data(), n * 4);
  return out;
}

// SparsityParameters of a tensor imported from TFLite, copied from the source file
// (the IR keeps only the stored values).
fb::Offset<tflite::SparsityParameters> Writer::copy_sparsity(int id) {
  const ir::Tensor& t = g_.tensors[static_cast<std::size_t>(id)];
  if (!source_tried_) {
    source_tried_ = true;
    try {
      if (g_.meta.format == "tflite") source_ = std::make_unique<base::MappedFile>(g_.meta.source_path);
    } catch (const Error&) {
      source_.reset();
    }
    if (source_) {
      const auto bytes = source_->bytes();
      fb::Verifier::Options vo;
      vo.max_depth = 64;
      vo.max_tables = 0x7fffffff;
      fb::Verifier v(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                     std::min<std::size_t>(bytes.size(), FLATBUFFERS_MAX_BUFFER_SIZE - 1), vo);
      if (bytes.size() >= 8 && tflite::VerifyModelBuffer(v)) source_model_ = tflite::GetModel(bytes.data());
    }
  }
  const tflite::SparsityParameters* sp = nullptr;
  if (source_model_ && source_model_->subgraphs() && source_model_->subgraphs()->size() > 0) {
    const auto* tensors = source_model_->subgraphs()->Get(0)->tensors();
    if (tensors && static_cast<std::size_t>(id) < tensors->size()) {
      const tflite::Tensor* ft = tensors->Get(static_cast<fb::uoffset_t>(id));
      if (ft->name() && ft->name()->str() == t.name) sp = ft->sparsity();
    }
  }
  if (sp == nullptr) {
    refuse("sparse tensor '" + t.name + "': its sparsity parameters are not in the graph and cannot be re-read from '" +
           g_.meta.source_path + "'");
  }
  auto index_vector = [&](tflite::SparseIndexVector type, const void* table) -> fb::Offset<void> {
    switch (type) {
      case tflite::SparseIndexVector::Int32Vector: {
        const auto* v = static_cast<const tflite::Int32Vector*>(table)->values();
        return tflite::CreateInt32Vector(fbb_, v ? fbb_.CreateVector(v->data(), v->size()) : 0).Union();
      }
      case tflite::SparseIndexVector::Uint16Vector: {
        const auto* v = static_cast<const tflite::Uint16Vector*>(table)->values();
        return tflite::CreateUint16Vector(fbb_, v ? fbb_.CreateVector(v->data(), v->size()) : 0).Union();
      }
      case tflite::SparseIndexVector::Uint8Vector: {
        const auto* v = static_cast<const tflite::Uint8Vector*>(table)->values();
        return tflite::CreateUint8Vector(fbb_, v ? fbb_.CreateVector(v->data(), v->size()) : 0).Union();
      }
      default: return 0;
    }
  };
  std::vector<fb::Offset<tflite::DimensionMetadata>> dims;
  if (sp->dim_metadata()) {
    for (const tflite::DimensionMetadata* m : *sp->dim_metadata()) {
      const auto seg = m->array_segments() ? index_vector(m->array_segments_type(), m->array_segments()) : 0;
      const auto ind = m->array_indices() ? index_vector(m->array_indices_type(), m->array_indices()) : 0;
      dims.push_back(tflite::CreateDimensionMetadata(
          fbb_, m->format(), m->dense_size(), seg.IsNull() ? tflite::SparseIndexVector::NONE : m->array_segments_type(),
          seg, ind.IsNull() ? tflite::SparseIndexVector::NONE : m->array_indices_type(), ind));
    }
  }
  auto ints = [&](const fb::Vector<std::int32_t>* v) {
    return v ? fbb_.CreateVector(v->data(), v->size()) : fb::Offset<fb::Vector<std::int32_t>>();
  };
  return tflite::CreateSparsityParameters(fbb_, ints(sp->traversal_order()), ints(sp->block_map()),
                                          fbb_.CreateVector(dims));
}

// Constant IR tensor `id` in form `f`; written once per (data, form).
int Writer::ir_constant(int id, Form f, bool weight) {
  const ir::Tensor& t = g_.tensors[static_cast<std::size_t>(id)];
  const bool half = half_of(id) >= 0 || (weight && opt_.fp16_weights && t.dtype == ir::DType::kFloat32 && !t.sparse);
  const int root = t.alias_of >= 0 ? t.alias_of : id;
  const auto key = std::make_tuple(root, static_cast<int>(f), half ? 1 : 0);
  if (auto it = constants_.find(key); it != constants_.end()) return it->second;
  const Dims dims = static_dims(id);
  int out = -1;
  if (t.data.empty() && !t.sparse && *t.shape.numel() > 0 && half_of(id) < 0) {
    // Persistent state (TFLite variables) has no data: a variable tensor.
    OutTensor o;
    o.name = unique_name(t.name, true);
    o.shape = i32_dims(dims);
    const auto type = tensor_type(t.dtype);
    if (!type) refuse("tensor '" + t.name + "' has dtype " + std::string(ir::dtype_name(t.dtype)));
    o.type = *type;
    o.is_variable = true;
    o.quant = &t.quant;
    out = add_tensor(std::move(o));
  } else if (half || f == kNhwc) {
    std::vector<float> values = read_f32(id);
    Dims shape = dims;
    if (f == kNhwc) {
      if (dims.size() != 4) refuse("constant '" + t.name + "' is not 4-D");
      values = permute(values, dims, {0, 2, 3, 1});
      shape = {dims[0], dims[2], dims[3], dims[1]};
    }
    out = const_f32(f == kNhwc ? t.name + "_nhwc" : t.name, std::move(values), shape, half, half);
  } else {
    const auto type = tensor_type(t.dtype);
    if (!type)
      refuse("constant '" + t.name + "' has dtype " + std::string(ir::dtype_name(t.dtype)) + ", which TFLite lacks");
    if (!t.sparse && t.dtype != ir::DType::kString) {
      const std::uint64_t bits = ir::dtype_bits(t.dtype) * *t.shape.numel();
      const std::uint64_t want = bits / 8 + (bits % 8 ? 1 : 0);
      const bool int4_unpacked = t.dtype == ir::DType::kInt4 && t.data.size() == *t.shape.numel();
      if (t.data.size() != want && !int4_unpacked) {
        refuse("constant '" + t.name + "' holds " + std::to_string(t.data.size()) + " bytes, shape " + t.shape.str() +
               " of " + std::string(ir::dtype_name(t.dtype)) + " needs " + std::to_string(want));
      }
    }
    OutTensor o;
    o.name = unique_name(t.name, true);
    o.shape = i32_dims(dims);
    o.type = *type;
    o.quant = &t.quant;
    if (t.sparse) o.sparsity = copy_sparsity(id);
    o.buffer = t.data.empty() ? 0 : add_buffer(t.data);
    out = add_tensor(std::move(o));
  }
  constants_[key] = out;
  return out;
}

// A constant operand of a broadcasting op whose other operands are rank `rank` in form
// `f`: aligned to that rank (leading 1s) and permuted to NHWC.
int Writer::broadcast_constant(int id, Form f, std::size_t rank, bool weight) {
  const ir::Tensor& t = g_.tensors[static_cast<std::size_t>(id)];
  const Dims dims = static_dims(id);
  if (f == kPlain || *t.shape.numel() == 1) return ir_constant(id, kPlain, weight);
  if (dims.size() > rank) refuse("constant '" + t.name + "' has a higher rank than the data it broadcasts against");
  Dims full(rank - dims.size(), 1);
  full.insert(full.end(), dims.begin(), dims.end());
  std::vector<float> values = permute(read_f32(id), full, {0, 2, 3, 1});
  return const_f32(t.name + "_nhwc", std::move(values), {full[0], full[2], full[3], full[1]}, weight,
                   weight && half_weights(id));
}

Form Writer::preferred_form(int id) const {
  if (constant(id)) return kPlain;
  return has(id, kNhwc) ? kNhwc : kPlain;
}

// IR tensor `id` in form `f`, converting from the other form (TRANSPOSE, or RESHAPE
// when only size-1 axes move) when it is not there yet.
int Writer::value(int id, Form f) {
  const ir::Tensor& t = g_.tensors[static_cast<std::size_t>(id)];
  if (constant(id)) return ir_constant(id, f, false);
  auto& forms = forms_[static_cast<std::size_t>(id)];
  if (forms[f] >= 0) return forms[f];
  const Form other = f == kPlain ? kNhwc : kPlain;
  if (forms[other] < 0) {
    throw NodeError{ErrorKind::kBadModel, "tensor '" + t.name + "' is read before any node writes it"};
  }
  const Dims plain = static_dims(id);
  if (plain.size() != 4) refuse("tensor '" + t.name + "' is not 4-D and has no NHWC form");
  const int src = forms[other];
  const int dst = produce(id, f);
  // Same memory order when the axes that move all have extent 1.
  std::vector<int> order_plain, order_nhwc;
  for (int a = 0; a < 4; ++a) {
    if (plain[static_cast<std::size_t>(a)] != 1) order_plain.push_back(a);
    if (plain[static_cast<std::size_t>(kToNhwc[static_cast<std::size_t>(a)])] != 1) {
      order_nhwc.push_back(kToNhwc[static_cast<std::size_t>(a)]);
    }
  }
  if (order_plain == order_nhwc) {
    const auto shape = tensors_[static_cast<std::size_t>(dst)].shape;
    const int s = const_i32(t.name + "_shape", std::vector<std::int32_t>(shape.begin(), shape.end()), {4});
    add_op(B::RESHAPE, {src, s}, {dst}, tflite::BuiltinOptions::ReshapeOptions,
           tflite::CreateReshapeOptions(fbb_, fbb_.CreateVector(shape)).Union());
  } else {
    const auto& perm = f == kNhwc ? kToNhwc : kToNchw;
    const int p = const_i32(t.name + (f == kNhwc ? "_to_nhwc" : "_to_nchw"),
                            std::vector<std::int32_t>(perm.begin(), perm.end()), {4});
    add_op(B::TRANSPOSE, {src, p}, {dst}, tflite::BuiltinOptions::TransposeOptions,
           tflite::CreateTransposeOptions(fbb_).Union());
  }
  return dst;
}

// A new file tensor for IR tensor `id` in form `f`, written by the op being emitted.
// Graph outputs keep their name for the plain form (the one the file's outputs list).
int Writer::produce(int id, Form f) {
  const ir::Tensor& t = g_.tensors[static_cast<std::size_t>(id)];
  auto& forms = forms_[static_cast<std::size_t>(id)];
  std::string name;
  const bool first = forms[0] < 0 && forms[1] < 0;
  if (is_output_[static_cast<std::size_t>(id)]) {
    name = f == kPlain ? t.name : t.name + "_nhwc";
  } else {
    name = first ? t.name : t.name + (f == kNhwc ? "_nhwc" : "_nchw");
  }
  const int out = activation(name, t.dtype, form_dims(id, f), name == t.name);
  tensors_[static_cast<std::size_t>(out)].quant = &t.quant;
  forms[f] = out;
  return out;
}

// Inputs a converted op reads as parameters (constants), not as data.
bool Writer::param_input(const ir::Node& n, std::size_t k) const {
  using O = ir::Op;
  switch (n.op) {
    case O::Reshape:
    case O::Squeeze:
    case O::Unsqueeze:
    case O::Pad:
    case O::Split:
    case O::Slice:
    case O::Clip:
    case O::ReduceMean:
    case O::ReduceSum:
    case O::ReduceMax:
    case O::ReduceMin:
    case O::Resize: return k >= 1;
    default: return false;
  }
}

int Writer::sole_consumer(int tensor) const {
  const ir::Tensor& t = g_.tensors[static_cast<std::size_t>(tensor)];
  if (is_output_[static_cast<std::size_t>(tensor)] || t.consumers.size() != 1) return -1;
  const int c = t.consumers[0];
  const ir::Node& n = g_.nodes[static_cast<std::size_t>(c)];
  if (n.layout == ir::Layout::kNHWC || n.inputs.empty() || n.inputs[0] != tensor) return -1;
  return c;
}

std::optional<std::pair<float, float>> Writer::clip_bounds(const ir::Node& n) const {
  float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
  if (n.attrs.has("min")) lo = static_cast<float>(n.attrs.get_float("min", lo));
  if (n.attrs.has("max")) hi = static_cast<float>(n.attrs.get_float("max", hi));
  for (std::size_t k = 1; k <= 2 && k < n.inputs.size(); ++k) {
    if (n.inputs[k] < 0) continue;
    const ir::Tensor& t = g_.tensors[static_cast<std::size_t>(n.inputs[k])];
    if (!t.is_constant() || t.dtype != ir::DType::kFloat32 || t.data.size() != 4) return std::nullopt;
    float v = 0;
    std::memcpy(&v, t.data.data(), 4);
    (k == 1 ? lo : hi) = v;
  }
  return std::make_pair(lo, hi);
}

// Whether every value of IR tensor `tensor` is >= 0 by construction: the output of a
// Relu, a Clip whose lower bound is >= 0 (also when the writer fuses them) or a Sigmoid,
// or of data movement and max pooling over such tensors (a Concat of ReLU branches:
// GoogLeNet's inception outputs). `depth` bounds the walk up the graph.
bool Writer::nonnegative(int tensor, int depth) const {
  const int p = g_.tensors[static_cast<std::size_t>(tensor)].producer;
  if (p < 0 || depth > 16) return false;
  const ir::Node& n = g_.nodes[static_cast<std::size_t>(p)];
  using O = ir::Op;
  switch (n.op) {
    case O::Relu:
    case O::Sigmoid: return true;
    case O::Clip: {
      const auto bounds = clip_bounds(n);
      return bounds && bounds->first >= 0.0f;
    }
    case O::MaxPool:
    case O::GlobalMaxPool:
    case O::Reshape:
    case O::Flatten:
    case O::Identity: return !n.inputs.empty() && n.inputs[0] >= 0 && nonnegative(n.inputs[0], depth + 1);
    case O::Concat:
      for (int in : n.inputs) {
        if (in < 0 || !nonnegative(in, depth + 1)) return false;
      }
      return !n.inputs.empty();
    default: return false;
  }
}

// Which nodes are written (converted graphs: only what feeds the outputs as data) and
// which BatchNorm / activation nodes fold into the op before them.
void Writer::plan() {
  const std::size_t n_nodes = g_.nodes.size();
  needed_.assign(n_nodes, 0);
  absorbed_.assign(n_nodes, 0);
  fusions_.assign(n_nodes, {});
  std::vector<char> used(g_.tensors.size(), 0);
  for (int id : g_.outputs) used[static_cast<std::size_t>(id)] = 1;
  for (std::size_t i = n_nodes; i-- > 0;) {
    const ir::Node& n = g_.nodes[i];
    bool need = n.layout == ir::Layout::kNHWC;  // TFLite graphs: every operator round-trips
    for (int id : n.outputs) need = need || (id >= 0 && used[static_cast<std::size_t>(id)]);
    if (!need) continue;
    needed_[i] = 1;
    for (std::size_t k = 0; k < n.inputs.size(); ++k) {
      if (n.inputs[k] >= 0 && !param_input(n, k)) used[static_cast<std::size_t>(n.inputs[k])] = 1;
    }
  }
  using O = ir::Op;
  for (std::size_t i = 0; i < n_nodes; ++i) {
    const ir::Node& n = g_.nodes[i];
    if (n.layout == ir::Layout::kNHWC || !needed_[i] || absorbed_[i] || n.outputs.empty() || n.outputs[0] < 0) continue;
    const bool conv = n.op == O::Conv;
    const bool fusable = conv || n.op == O::Gemm || n.op == O::MatMul || n.op == O::Add || n.op == O::Sub ||
                         n.op == O::Mul || n.op == O::Div || n.op == O::BatchNormalization;
    if (!fusable) continue;
    Fusion& f = fusions_[i];
    int t = n.outputs[0];
    if (n.op == O::BatchNormalization && n.outputs.size() > 1) continue;
    if (conv) {
      const int c = sole_consumer(t);
      if (c >= 0) {
        const ir::Node& bn = g_.nodes[static_cast<std::size_t>(c)];
        bool constant_params = bn.op == O::BatchNormalization && bn.inputs.size() >= 5 && bn.outputs.size() == 1;
        for (std::size_t k = 1; constant_params && k < 5; ++k) {
          constant_params = bn.inputs[k] >= 0 && g_.tensors[static_cast<std::size_t>(bn.inputs[k])].is_constant();
        }
        if (constant_params) {
          f.bn = c;
          absorbed_[static_cast<std::size_t>(c)] = 1;
          t = bn.outputs[0];
        }
      }
    }
    const int c = sole_consumer(t);
    if (c >= 0) {
      const ir::Node& a = g_.nodes[static_cast<std::size_t>(c)];
      Act act = Act::NONE;
      if (a.op == O::Relu) act = Act::RELU;
      if (a.op == O::Clip) {
        if (auto b = clip_bounds(a)) {
          if (b->first == 0.0f && b->second == 6.0f) act = Act::RELU6;
          if (b->first == -1.0f && b->second == 1.0f) act = Act::RELU_N1_TO_1;
          if (b->first == 0.0f && std::isinf(b->second) && b->second > 0) act = Act::RELU;
        }
      }
      if (act != Act::NONE && a.outputs.size() == 1 && a.outputs[0] >= 0) {
        f.act = act;
        absorbed_[static_cast<std::size_t>(c)] = 1;
        t = a.outputs[0];
      }
    }
    f.out = t;
  }
}

// ---------------------------------------------------------------------------
// NHWC nodes: written back as the TFLite operator they came from
// ---------------------------------------------------------------------------

Act fused_from_attr(const ir::Node& n) {
  const std::string a = n.attrs.get_string("fused_activation", "");
  if (a.empty()) return Act::NONE;
  if (a == "relu") return Act::RELU;
  if (a == "relu6") return Act::RELU6;
  if (a == "relu_n1_to_1") return Act::RELU_N1_TO_1;
  if (a == "tanh") return Act::TANH;
  if (a == "sign_bit") return Act::SIGN_BIT;
  refuse("fused activation '" + a + "' has no TFLite equivalent");
}

tflite::Padding Writer::native_padding(const ir::Node& n, int in_id, int out_id, bool transposed) const {
  const auto pads = n.attrs.get_ints("pads");
  const auto strides = n.attrs.get_ints("strides");
  const auto dil = n.attrs.has("dilations") ? n.attrs.get_ints("dilations") : Dims{1, 1};
  const auto kernel = n.attrs.get_ints("kernel_shape");
  if (pads.size() != 4 || strides.size() != 2 || dil.size() != 2 || kernel.size() != 2) {
    refuse("pads, strides or kernel_shape are unknown, so SAME and VALID padding cannot be told apart");
  }
  const Dims in = static_dims(in_id), out = static_dims(out_id);
  if (in.size() != 4 || out.size() != 4) refuse("window op on a tensor that is not 4-D");
  // For the transposed op the equivalent convolution maps the big output to the small input.
  const Dims& big = transposed ? out : in;
  const Dims& small = transposed ? in : out;
  const auto plan =
      plan_window({big[1], big[2]}, {small[1], small[2]}, {kernel[0], kernel[1]}, {strides[0], strides[1]},
                  {dil[0], dil[1]}, {pads[0], pads[1], pads[2], pads[3]}, false);
  if (!plan || plan->explicit_pad) {
    refuse("pads " + dims_str(pads) + " are neither TFLite's SAME nor VALID padding for " + dims_str(in) + " -> " +
           dims_str(out));
  }
  return plan->padding;
}

fb::Offset<void> Writer::native_options(const ir::Node& n, B code, tflite::BuiltinOptions& type, int in_id,
                                        int out_id) {
  using O = tflite::BuiltinOptions;
  const ir::Attributes& a = n.attrs;
  auto i32 = [&](const char* name, std::int64_t fallback) {
    return static_cast<std::int32_t>(a.get_int(name, fallback));
  };
  const auto strides = a.get_ints("strides");
  const auto dil = a.has("dilations") ? a.get_ints("dilations") : Dims{1, 1};
  const std::int32_t sh = strides.size() == 2 ? static_cast<std::int32_t>(strides[0]) : 1;
  const std::int32_t sw = strides.size() == 2 ? static_cast<std::int32_t>(strides[1]) : 1;
  const std::int32_t dh = dil.size() == 2 ? static_cast<std::int32_t>(dil[0]) : 1;
  const std::int32_t dw = dil.size() == 2 ? static_cast<std::int32_t>(dil[1]) : 1;
  switch (code) {
    case B::CONV_2D:
      type = O::Conv2DOptions;
      return tflite::CreateConv2DOptions(fbb_, native_padding(n, in_id, out_id, false), sw, sh, fused_from_attr(n), dw,
                                         dh)
          .Union();
    case B::DEPTHWISE_CONV_2D:
      type = O::DepthwiseConv2DOptions;
      return tflite::CreateDepthwiseConv2DOptions(fbb_, native_padding(n, in_id, out_id, false), sw, sh,
                                                  i32("depth_multiplier", 1), fused_from_attr(n), dw, dh)
          .Union();
    case B::TRANSPOSE_CONV:
      type = O::TransposeConvOptions;
      return tflite::CreateTransposeConvOptions(fbb_, native_padding(n, in_id, out_id, true), sw, sh,
                                                fused_from_attr(n))
          .Union();
    case B::FULLY_CONNECTED:
      type = O::FullyConnectedOptions;
      return tflite::CreateFullyConnectedOptions(fbb_, fused_from_attr(n),
                                                 tflite::FullyConnectedOptionsWeightsFormat::DEFAULT,
                                                 a.get_int("keep_num_dims", 0) != 0)
          .Union();
    case B::ADD: type = O::AddOptions; return tflite::CreateAddOptions(fbb_, fused_from_attr(n)).Union();
    case B::SUB: type = O::SubOptions; return tflite::CreateSubOptions(fbb_, fused_from_attr(n)).Union();
    case B::MUL: type = O::MulOptions; return tflite::CreateMulOptions(fbb_, fused_from_attr(n)).Union();
    case B::DIV: type = O::DivOptions; return tflite::CreateDivOptions(fbb_, fused_from_attr(n)).Union();
    case B::SOFTMAX:
      type = O::SoftmaxOptions;
      return tflite::CreateSoftmaxOptions(fbb_, static_cast<float>(a.get_float("beta", 1.0))).Union();
    case B::MAX_POOL_2D:
    case B::AVERAGE_POOL_2D:
    case B::L2_POOL_2D: {
      const auto k = a.get_ints("kernel_shape");
      if (k.size() != 2) refuse("kernel_shape is not 2-D");
      type = O::Pool2DOptions;
      return tflite::CreatePool2DOptions(fbb_, native_padding(n, in_id, out_id, false), sw, sh,
                                         static_cast<std::int32_t>(k[1]), static_cast<std::int32_t>(k[0]),
                                         fused_from_attr(n))
          .Union();
    }
    case B::MEAN:
    case B::SUM:
    case B::REDUCE_MAX:
    case B::REDUCE_MIN:
    case B::REDUCE_PROD:
      type = O::ReducerOptions;
      return tflite::CreateReducerOptions(fbb_, a.get_int("keepdims", 0) != 0).Union();
    case B::SQUEEZE: {
      type = O::SqueezeOptions;
      const auto axes = a.get_ints("axes");
      std::vector<std::int32_t> dims(axes.begin(), axes.end());
      return tflite::CreateSqueezeOptions(fbb_, a.has("axes") ? fbb_.CreateVector(dims) : 0).Union();
    }
    case B::CONCATENATION:
      type = O::ConcatenationOptions;
      return tflite::CreateConcatenationOptions(fbb_, i32("axis", 0), fused_from_attr(n)).Union();
    case B::PACK:
      type = O::PackOptions;
      return tflite::CreatePackOptions(fbb_, i32("values_count", 0), i32("axis", 0)).Union();
    case B::UNPACK:
      type = O::UnpackOptions;
      return tflite::CreateUnpackOptions(fbb_, i32("num", 0), i32("axis", 0)).Union();
    case B::SPLIT: type = O::SplitOptions; return tflite::CreateSplitOptions(fbb_, i32("num_outputs", 0)).Union();
    case B::SPLIT_V: type = O::SplitVOptions; return tflite::CreateSplitVOptions(fbb_, i32("num_outputs", 0)).Union();
    case B::STRIDED_SLICE:
      type = O::StridedSliceOptions;
      return tflite::CreateStridedSliceOptions(fbb_, i32("begin_mask", 0), i32("end_mask", 0), i32("ellipsis_mask", 0),
                                               i32("new_axis_mask", 0), i32("shrink_axis_mask", 0))
          .Union();
    case B::GATHER:
      type = O::GatherOptions;
      return tflite::CreateGatherOptions(fbb_, i32("axis", 0), i32("batch_dims", 0)).Union();
    case B::MIRROR_PAD:
      type = O::MirrorPadOptions;
      return tflite::CreateMirrorPadOptions(fbb_, a.get_string("mode", "reflect") == "symmetric"
                                                      ? tflite::MirrorPadMode::SYMMETRIC
                                                      : tflite::MirrorPadMode::REFLECT)
          .Union();
    case B::DEPTH_TO_SPACE:
      type = O::DepthToSpaceOptions;
      return tflite::CreateDepthToSpaceOptions(fbb_, i32("blocksize", 1)).Union();
    case B::SPACE_TO_DEPTH:
      type = O::SpaceToDepthOptions;
      return tflite::CreateSpaceToDepthOptions(fbb_, i32("blocksize", 1)).Union();
    case B::RESIZE_BILINEAR:
      type = O::ResizeBilinearOptions;
      return tflite::CreateResizeBilinearOptions(fbb_, a.get_int("align_corners", 0) != 0,
                                                 a.get_int("half_pixel_centers", 0) != 0)
          .Union();
    case B::RESIZE_NEAREST_NEIGHBOR:
      type = O::ResizeNearestNeighborOptions;
      return tflite::CreateResizeNearestNeighborOptions(fbb_, a.get_int("align_corners", 0) != 0,
                                                        a.get_int("half_pixel_centers", 0) != 0)
          .Union();
    case B::BATCH_MATMUL:
      type = O::BatchMatMulOptions;
      return tflite::CreateBatchMatMulOptions(fbb_, a.get_int("adj_x", 0) != 0, a.get_int("adj_y", 0) != 0).Union();
    case B::L2_NORMALIZATION:
      type = O::L2NormOptions;
      return tflite::CreateL2NormOptions(fbb_, fused_from_attr(n)).Union();
    case B::LOCAL_RESPONSE_NORMALIZATION: {
      type = O::LocalResponseNormalizationOptions;
      const std::int64_t size = a.get_int("size", 1);
      return tflite::CreateLocalResponseNormalizationOptions(
                 fbb_, static_cast<std::int32_t>((size - 1) / 2), static_cast<float>(a.get_float("bias", 1.0)),
                 static_cast<float>(a.get_float("alpha", 1.0) / static_cast<double>(size)),
                 static_cast<float>(a.get_float("beta", 0.5)))
          .Union();
    }
    case B::CUMSUM:
      type = O::CumsumOptions;
      return tflite::CreateCumsumOptions(fbb_, a.get_int("exclusive", 0) != 0, a.get_int("reverse", 0) != 0).Union();
    case B::ONE_HOT: type = O::OneHotOptions; return tflite::CreateOneHotOptions(fbb_, i32("axis", -1)).Union();
    case B::REVERSE_SEQUENCE:
      type = O::ReverseSequenceOptions;
      return tflite::CreateReverseSequenceOptions(fbb_, i32("time_axis", 0), i32("batch_axis", 0)).Union();
    case B::LEAKY_RELU:
      type = O::LeakyReluOptions;
      return tflite::CreateLeakyReluOptions(fbb_, static_cast<float>(a.get_float("alpha", 0.2))).Union();
    case B::GELU:
      type = O::GeluOptions;
      return tflite::CreateGeluOptions(fbb_, a.get_int("approximate", 0) != 0).Union();
    case B::RESHAPE: {
      type = O::ReshapeOptions;
      const Dims d = static_dims(out_id);
      const auto shape = i32_dims(d);
      return tflite::CreateReshapeOptions(fbb_, fbb_.CreateVector(shape)).Union();
    }
    case B::DEQUANTIZE: type = O::DequantizeOptions; return tflite::CreateDequantizeOptions(fbb_).Union();
    case B::QUANTIZE: type = O::QuantizeOptions; return tflite::CreateQuantizeOptions(fbb_).Union();
    default: type = O::NONE; return 0;
  }
}

void Writer::emit_native(int index) {
  const ir::Node& n = g_.nodes[static_cast<std::size_t>(index)];
  const bool transpose_bias = n.source_op == "Convolution2DTransposeBias";
  std::optional<B> code;
  if (!transpose_bias) code = builtin_by_name(n.source_op);
  if (n.op == ir::Op::Other) {
    refuse("op " + n.source_op + " is unknown to infercast; its options were not kept, so it cannot be written back");
  }
  if (!transpose_bias && !code) refuse("no TFLite operator is recorded for this " + std::string(ir::op_name(n.op)));

  // File input order (the importer reorders a few operators).
  std::vector<int> inputs = n.inputs;
  if (code == B::TRANSPOSE_CONV) {
    if (inputs.size() < 4) refuse("transposed convolution without its output_shape input");
    inputs = {inputs[3], inputs[1], inputs[0]};
    if (n.inputs[2] >= 0) inputs.push_back(n.inputs[2]);
  } else if (code == B::SPLIT && inputs.size() >= 2) {
    std::swap(inputs[0], inputs[1]);
  } else if (transpose_bias) {
    while (inputs.size() > 2 && inputs.back() < 0) inputs.pop_back();
  }
  using O = ir::Op;
  const bool weights = n.op == O::Conv || n.op == O::ConvTranspose || n.op == O::FullyConnected;
  const bool elementwise = ir::op_category(n.op) == ir::OpCategory::kElementwise;
  std::vector<int> in_ids;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    const int id = inputs[k];
    if (id < 0) {
      in_ids.push_back(-1);
      continue;
    }
    const bool weight = elementwise || (weights && k >= 1);
    in_ids.push_back(g_.tensors[static_cast<std::size_t>(id)].is_constant() ? ir_constant(id, kPlain, weight)
                                                                            : value(id, kPlain));
  }
  const int in0 = n.inputs.empty() ? -1 : n.inputs[0];
  const int out0 = n.outputs.empty() ? -1 : n.outputs[0];
  tflite::BuiltinOptions type = tflite::BuiltinOptions::NONE;
  fb::Offset<void> options = 0;
  std::vector<std::uint8_t> custom;
  if (transpose_bias) {
    if (in0 < 0 || out0 < 0) refuse("missing input or output");
    const tflite::Padding p = native_padding(n, in0, out0, true);
    const auto strides = n.attrs.get_ints("strides");
    const std::array<std::int32_t, 3> raw{p == tflite::Padding::SAME ? 1 : 2, static_cast<std::int32_t>(strides[1]),
                                          static_cast<std::int32_t>(strides[0])};
    custom.resize(12);
    for (int i = 0; i < 3; ++i) {
      const auto v = static_cast<std::uint32_t>(raw[static_cast<std::size_t>(i)]);
      for (int b = 0; b < 4; ++b) custom[static_cast<std::size_t>(4 * i + b)] = static_cast<std::uint8_t>(v >> (8 * b));
    }
  } else {
    options = native_options(n, *code, type, in0, out0);
  }
  std::vector<int> out_ids;
  for (int id : n.outputs) out_ids.push_back(id < 0 ? -1 : produce(id, kPlain));
  OutOp op;
  op.opcode = transpose_bias ? opcode(B::CUSTOM, n.source_op) : opcode(*code);
  op.inputs.assign(in_ids.begin(), in_ids.end());
  op.outputs.assign(out_ids.begin(), out_ids.end());
  op.options_type = type;
  op.options = options;
  op.custom = std::move(custom);
  ops_.push_back(std::move(op));
}

// ---------------------------------------------------------------------------
// NCHW nodes: converted to NHWC
// ---------------------------------------------------------------------------

void Writer::emit_converted(int index) {
  const ir::Node& n = g_.nodes[static_cast<std::size_t>(index)];
  using O = ir::Op;
  for (int id : n.inputs) {
    if (id >= 0 && !g_.tensors[static_cast<std::size_t>(id)].shape.is_static()) static_dims(id);
  }
  switch (n.op) {
    case O::Conv: return conv(index);
    case O::ConvTranspose: return conv_transpose(n);
    case O::Resize: return resize(n);
    case O::BatchNormalization: return batch_norm(index);
    case O::Relu:
    case O::Sigmoid:
    case O::Tanh:
    case O::HardSwish:
    case O::LeakyRelu:
    case O::Exp:
    case O::Log:
    case O::Abs:
    case O::Neg:
    case O::Sqrt:
    case O::Rsqrt:
    case O::Square:
    case O::Floor:
    case O::Ceil:
    case O::Round:
    case O::Sin:
    case O::Cos:
    case O::Elu:
    case O::Gelu: return unary(n);
    case O::Clip: return clip(index);
    case O::HardSigmoid: return hard_sigmoid(n);
    case O::Add:
    case O::Sub:
    case O::Mul:
    case O::Div:
    case O::Max:
    case O::Min:
    case O::Pow: return binary(index);
    case O::MaxPool:
    case O::AveragePool: return pool(n);
    case O::GlobalAveragePool:
    case O::GlobalMaxPool: return global_pool(n);
    case O::Flatten:
    case O::Reshape:
    case O::Squeeze:
    case O::Unsqueeze: return reshape(n);
    case O::Gemm:
    case O::MatMul: return linear(index);
    case O::Concat: return concat(n);
    case O::Softmax:
    case O::LogSoftmax: return softmax(n);
    case O::Pad: return pad(n);
    case O::ReduceMean:
    case O::ReduceSum:
    case O::ReduceMax:
    case O::ReduceMin: return reduce(n);
    case O::Transpose: return transpose(n);
    case O::Identity:
    case O::Dropout: return identity(n);
    case O::Split: return split(n);
    case O::Sum: return sum(n);
    case O::Slice: return slice(n);
    case O::Cast: return cast(n);
    default:
      refuse("no TFLite lowering for " + (n.op == O::Other ? n.source_op : std::string(ir::op_name(n.op))) +
             " (ONNX-origin graphs)");
  }
}

std::array<std::int64_t, 2> pair_attr(const ir::Node& n, const char* name, std::int64_t fallback) {
  const auto v = n.attrs.get_ints(name);
  if (v.empty()) return {fallback, fallback};
  if (v.size() != 2) refuse(std::string(name) + " " + dims_str(v) + " is not 2-D");
  return {v[0], v[1]};
}

std::array<std::int64_t, 4> pads_attr(const ir::Node& n) {
  const auto v = n.attrs.get_ints("pads");
  if (v.empty()) return {0, 0, 0, 0};
  if (v.size() != 4) refuse("pads " + dims_str(v) + " are not 2-D");
  return {v[0], v[1], v[2], v[3]};
}

// PAD / PADV2 of NHWC tensor `x` by the plan's explicit pads.
int Writer::pad_input(int x, const WindowPlan& plan, float value, const std::string& name) {
  auto shape = tensors_[static_cast<std::size_t>(x)].shape;
  const std::vector<std::int32_t> paddings{0,
                                           0,
                                           static_cast<std::int32_t>(plan.pad[0]),
                                           static_cast<std::int32_t>(plan.pad[2]),
                                           static_cast<std::int32_t>(plan.pad[1]),
                                           static_cast<std::int32_t>(plan.pad[3]),
                                           0,
                                           0};
  const int p = const_i32(name + "_paddings", paddings, {4, 2});
  const Dims padded{shape[0], shape[1] + plan.pad[0] + plan.pad[2], shape[2] + plan.pad[1] + plan.pad[3], shape[3]};
  const int out = activation(name + "_padded", ir::DType::kFloat32, padded);
  if (value == 0.0f) {
    add_op(B::PAD, {x, p}, {out}, tflite::BuiltinOptions::PadOptions, tflite::CreatePadOptions(fbb_).Union());
  } else {
    const int v = const_f32(name + "_pad_value", {value}, {}, false);
    add_op(B::PADV2, {x, p, v}, {out}, tflite::BuiltinOptions::PadV2Options, tflite::CreatePadV2Options(fbb_).Union());
  }
  return out;
}

void Writer::conv(int index) {
  const ir::Node& n = g_.nodes[static_cast<std::size_t>(index)];
  const Fusion& fu = fusions_[static_cast<std::size_t>(index)];
  if (n.inputs.size() < 2 || n.inputs[0] < 0 || n.inputs[1] < 0) refuse("needs an input and weights");
  const int x_id = n.inputs[0], w_id = n.inputs[1];
  const int b_id = n.inputs.size() > 2 ? n.inputs[2] : -1;
  const Dims x = static_dims(x_id), w = static_dims(w_id);
  if (x.size() != 4 || w.size() != 4) refuse("only 2-D convolutions (4-D tensors) are written");
  if (!constant(w_id)) refuse("weights are not constant");
  const int out_id = fused_out(index);
  const Dims y = static_dims(out_id);
  const std::int64_t group = n.attrs.get_int("group", 1);
  const std::int64_t cin = x[1], cout = w[0];
  if (group < 1 || cin % group != 0 || w[1] != cin / group || cout % group != 0) {
    refuse("group " + std::to_string(group) + " does not match input " + dims_str(x) + " and weights " + dims_str(w));
  }
  const auto k = std::array<std::int64_t, 2>{w[2], w[3]};
  const auto s = pair_attr(n, "strides", 1), d = pair_attr(n, "dilations", 1);
  const auto plan = plan_window({x[2], x[3]}, {y[2], y[3]}, k, s, d, pads_attr(n), false);
  if (!plan || y[1] != cout) refuse("output " + dims_str(y) + " does not follow from the input, weights and pads");

  std::vector<float> weights = read_f32(w_id);
  std::vector<float> bias = b_id >= 0 ? read_f32(b_id) : std::vector<float>(static_cast<std::size_t>(cout), 0.0f);
  if (bias.size() != static_cast<std::size_t>(cout)) refuse("bias does not have one value per output channel");
  if (fu.bn >= 0) {
    // y = gamma * (conv - mean) / sqrt(var + eps) + beta, folded into weights and bias.
    const ir::Node& bn = g_.nodes[static_cast<std::size_t>(fu.bn)];
    const auto gamma = read_f32(bn.inputs[1]), beta = read_f32(bn.inputs[2]), mean = read_f32(bn.inputs[3]),
               var = read_f32(bn.inputs[4]);
    const double eps = bn.attrs.get_float("epsilon", 1e-5);
    const auto c = static_cast<std::size_t>(cout);
    if (gamma.size() != c || beta.size() != c || mean.size() != c || var.size() != c) {
      refuse("BatchNormalization parameters do not have one value per channel");
    }
    const std::size_t per = weights.size() / c;
    for (std::size_t o = 0; o < c; ++o) {
      const double scale = static_cast<double>(gamma[o]) / std::sqrt(static_cast<double>(var[o]) + eps);
      for (std::size_t j = 0; j < per; ++j) weights[o * per + j] = static_cast<float>(weights[o * per + j] * scale);
      bias[o] = static_cast<float>((static_cast<double>(bias[o]) - mean[o]) * scale + beta[o]);
    }
  }
  const bool depthwise = group == cin && group > 1;
  Dims filter_shape;
  if (depthwise) {  // (O, 1, kh, kw) -> (1, kh, kw, O)
    weights = permute(weights, w, {1, 2, 3, 0});
    filter_shape = {1, w[2], w[3], cout};
  } else {  // OIHW -> OHWI
    weights = permute(weights, w, {0, 2, 3, 1});
    filter_shape = {cout, w[2], w[3], w[1]};
  }
  const std::string& wname = g_.tensors[static_cast<std::size_t>(w_id)].name;
  int xt = value(x_id, kNhwc);
  if (plan->explicit_pad) xt = pad_input(xt, *plan, 0.0f, n.name);
  const int wt =
      const_f32(wname + (depthwise ? "_1hwo" : "_ohwi"), std::move(weights), filter_shape, true, half_weights(w_id));
  const int bt = const_f32(b_id >= 0 ? g_.tensors[static_cast<std::size_t>(b_id)].name : n.name + "_bias", bias, {cout},
                           true, half_weights(b_id));
  const int yt = produce(out_id, kNhwc);
  const tflite::Padding padding = plan->explicit_pad ? tflite::Padding::VALID : plan->padding;
  const auto sw = static_cast<std::int32_t>(s[1]), sh = static_cast<std::int32_t>(s[0]);
  const auto dw = static_cast<std::int32_t>(d[1]), dh = static_cast<std::int32_t>(d[0]);
  if (depthwise) {
    add_op(B::DEPTHWISE_CONV_2D, {xt, wt, bt}, {yt}, tflite::BuiltinOptions::DepthwiseConv2DOptions,
           tflite::CreateDepthwiseConv2DOptions(fbb_, padding, sw, sh, static_cast<std::int32_t>(cout / cin), fu.act,
                                                dw, dh)
               .Union());
  } else {
    add_op(B::CONV_2D, {xt, wt, bt}, {yt}, tflite::BuiltinOptions::Conv2DOptions,
           tflite::CreateConv2DOptions(fbb_, padding, sw, sh, fu.act, dw, dh).Union());
  }
}

void Writer::pool(const ir::Node& n) {
  const bool max = n.op == ir::Op::MaxPool;
  if (n.outputs.size() > 1 && n.outputs[1] >= 0) refuse("MaxPool indices output is not supported");
  const int x_id = n.inputs.at(0), y_id = n.outputs.at(0);
  const Dims x = static_dims(x_id), y = static_dims(y_id);
  if (x.size() != 4) refuse("only 2-D pooling (4-D tensors) is written");
  if (n.attrs.get_int("storage_order", 0) != 0) refuse("storage_order 1 is not supported");
  const auto k = pair_attr(n, "kernel_shape", 1), s = pair_attr(n, "strides", 1), d = pair_attr(n, "dilations", 1);
  if (d[0] != 1 || d[1] != 1) refuse("dilated pooling has no TFLite equivalent");
  const auto pads = pads_attr(n);
  const bool count_pad = n.attrs.get_int("count_include_pad", 0) != 0;
  auto plan = plan_window({x[2], x[3]}, {y[2], y[3]}, k, s, d, pads, max);
  // Average pooling: TFLite SAME excludes the padding from the count, like ONNX's
  // default; explicit zero padding counts it, like count_include_pad=1.
  if (plan && !max && count_pad && plan->padding == tflite::Padding::SAME && !plan->explicit_pad &&
      (pads[0] || pads[1] || pads[2] || pads[3])) {
    plan = WindowPlan{tflite::Padding::VALID, true, pads};
  }
  if (!plan || (!max && plan->explicit_pad && !count_pad)) {
    refuse("pads " + dims_str({pads.begin(), pads.end()}) + " for " + dims_str(x) + " -> " + dims_str(y) +
           " are neither SAME nor VALID and cannot be padded explicitly for this pooling");
  }
  int xt = value(x_id, kNhwc);
  // Max pooling pads with the lowest float (PADV2), unless the input is >= 0 and every
  // pad is smaller than the kernel: then each window holds a real element >= 0 and a
  // zero pad gives the same maxima, as plain PAD, which more readers accept (Arm NN
  // 20.08's TFLite parser has no PADV2: torchvision ResNets' stem max pool).
  const bool zero_pad_exact = max && nonnegative(x_id) && plan->pad[0] < k[0] && plan->pad[2] < k[0] &&
                              plan->pad[1] < k[1] && plan->pad[3] < k[1];
  if (plan->explicit_pad) {
    xt = pad_input(xt, *plan, max && !zero_pad_exact ? std::numeric_limits<float>::lowest() : 0.0f, n.name);
  }
  const int yt = produce(y_id, kNhwc);
  add_op(max ? B::MAX_POOL_2D : B::AVERAGE_POOL_2D, {xt}, {yt}, tflite::BuiltinOptions::Pool2DOptions,
         tflite::CreatePool2DOptions(fbb_, plan->explicit_pad ? tflite::Padding::VALID : plan->padding,
                                     static_cast<std::int32_t>(s[1]), static_cast<std::int32_t>(s[0]),
                                     static_cast<std::int32_t>(k[1]), static_cast<std::int32_t>(k[0]))
             .Union());
}

void Writer::global_pool(const ir::Node& n) {
  const int x_id = n.inputs.at(0), y_id = n.outputs.at(0);
  if (static_dims(x_id).size() != 4) refuse("only 4-D global pooling is written");
  const int xt = value(x_id, kNhwc);
  const int axes = const_i32(n.name + "_axes", {1, 2}, {2});
  const int yt = produce(y_id, kNhwc);
  add_op(n.op == ir::Op::GlobalAveragePool ? B::MEAN : B::REDUCE_MAX, {xt, axes}, {yt},
         tflite::BuiltinOptions::ReducerOptions, tflite::CreateReducerOptions(fbb_, true).Union());
}

void Writer::unary(const ir::Node& n) {
  using O = ir::Op;
  const int x_id = n.inputs.at(0), y_id = n.outputs.at(0);
  const Form f = preferred_form(x_id);
  tflite::BuiltinOptions type = tflite::BuiltinOptions::NONE;
  fb::Offset<void> options = 0;
  B code = B::RELU;
  switch (n.op) {
    case O::Relu: code = B::RELU; break;
    case O::Sigmoid: code = B::LOGISTIC; break;
    case O::Tanh: code = B::TANH; break;
    case O::HardSwish: code = B::HARD_SWISH; break;
    case O::Exp: code = B::EXP; break;
    case O::Log: code = B::LOG; break;
    case O::Abs: code = B::ABS; break;
    case O::Neg: code = B::NEG; break;
    case O::Sqrt: code = B::SQRT; break;
    case O::Rsqrt: code = B::RSQRT; break;
    case O::Square: code = B::SQUARE; break;
    case O::Floor: code = B::FLOOR; break;
    case O::Ceil: code = B::CEIL; break;
    case O::Round: code = B::ROUND; break;
    case O::Sin: code = B::SIN; break;
    case O::Cos: code = B::COS; break;
    case O::Elu:
      if (n.attrs.get_float("alpha", 1.0) != 1.0) refuse("TFLite ELU has alpha 1 only");
      code = B::ELU;
      break;
    case O::Gelu: {
      const std::string approx = n.attrs.get_string("approximate", "none");
      code = B::GELU;
      type = tflite::BuiltinOptions::GeluOptions;
      options = tflite::CreateGeluOptions(fbb_, approx == "tanh").Union();
      break;
    }
    case O::LeakyRelu:
      code = B::LEAKY_RELU;
      type = tflite::BuiltinOptions::LeakyReluOptions;
      options = tflite::CreateLeakyReluOptions(fbb_, static_cast<float>(n.attrs.get_float("alpha", 0.01))).Union();
      break;
    default: refuse("no TFLite unary op for " + std::string(ir::op_name(n.op)));
  }
  const int xt = value(x_id, f);
  const int yt = produce(y_id, f);
  add_op(code, {xt}, {yt}, type, options);
}

void Writer::clip(int index) {
  const ir::Node& n = g_.nodes[static_cast<std::size_t>(index)];
  const auto bounds = clip_bounds(n);
  if (!bounds) refuse("min and max must be float32 constants");
  const auto [lo, hi] = *bounds;
  const int x_id = n.inputs.at(0), y_id = n.outputs.at(0);
  const Form f = preferred_form(x_id);
  const int xt = value(x_id, f);
  std::optional<B> code;
  if (lo == 0.0f && hi == 6.0f) code = B::RELU6;
  if (lo == -1.0f && hi == 1.0f) code = B::RELU_N1_TO_1;
  if (lo == 0.0f && hi == 1.0f) code = B::RELU_0_TO_1;
  if (lo == 0.0f && std::isinf(hi) && hi > 0) code = B::RELU;
  if (code) {
    add_op(*code, {xt}, {produce(y_id, f)});
    return;
  }
  int cur = xt;
  const bool has_lo = !std::isinf(lo), has_hi = !std::isinf(hi);
  if (has_lo) {
    const int c = const_f32(n.name + "_min", {lo}, {}, false);
    const int out = has_hi ? activation(n.name + "_lower", ir::DType::kFloat32, form_dims(y_id, f)) : produce(y_id, f);
    add_op(B::MAXIMUM, {cur, c}, {out});
    cur = out;
  }
  if (has_hi || !has_lo) {
    const int c = const_f32(n.name + "_max", {has_hi ? hi : std::numeric_limits<float>::max()}, {}, false);
    add_op(B::MINIMUM, {cur, c}, {produce(y_id, f)});
  }
}

// TFLite has no HARD_SIGMOID: max(0, min(1, alpha * x + beta)) = relu6(6 alpha x + 6 beta) / 6,
// written as MUL by 6 alpha (left out when that is 1, as for PyTorch's hardsigmoid), ADD of
// 6 beta with a fused RELU6, and MUL by 1/6: no more operators than MUL, ADD, RELU_0_TO_1,
// and ones every TFLite reader has (RELU_0_TO_1 is recent; Arm NN 20.08 does not know it).
void Writer::hard_sigmoid(const ir::Node& n) {
  const int x_id = n.inputs.at(0), y_id = n.outputs.at(0);
  const Form f = preferred_form(x_id);
  const auto alpha = static_cast<float>(n.attrs.get_float("alpha", 0.2));
  const auto beta = static_cast<float>(n.attrs.get_float("beta", 0.5));
  const float scale = 6.0f * alpha;
  int xt = value(x_id, f);
  const Dims shape = form_dims(y_id, f);
  if (scale != 1.0f) {
    const int a = const_f32(n.name + "_alpha6", {scale}, {}, false);
    const int scaled = activation(n.name + "_scaled", ir::DType::kFloat32, shape);
    add_op(B::MUL, {xt, a}, {scaled}, tflite::BuiltinOptions::MulOptions, tflite::CreateMulOptions(fbb_).Union());
    xt = scaled;
  }
  const int b = const_f32(n.name + "_beta6", {6.0f * beta}, {}, false);
  const int clipped = activation(n.name + "_relu6", ir::DType::kFloat32, shape);
  add_op(B::ADD, {xt, b}, {clipped}, tflite::BuiltinOptions::AddOptions,
         tflite::CreateAddOptions(fbb_, Act::RELU6).Union());
  const int sixth = const_f32(n.name + "_sixth", {1.0f / 6.0f}, {}, false);
  add_op(B::MUL, {clipped, sixth}, {produce(y_id, f)}, tflite::BuiltinOptions::MulOptions,
         tflite::CreateMulOptions(fbb_).Union());
}

void Writer::binary(int index) {
  const ir::Node& n = g_.nodes[static_cast<std::size_t>(index)];
  using O = ir::Op;
  if (n.inputs.size() != 2 || n.inputs[0] < 0 || n.inputs[1] < 0) refuse("expects two inputs");
  const int y_id = fused_out(index);
  const std::size_t rank = static_dims(y_id).size();
  // NHWC when every data operand is 4-D and one already lives in NHWC.
  Form f = kPlain;
  bool all4 = rank == 4;
  for (int id : n.inputs) {
    const ir::Tensor& t = g_.tensors[static_cast<std::size_t>(id)];
    if (constant(id)) continue;
    all4 = all4 && t.shape.rank() == 4;
    if (has(id, kNhwc)) f = kNhwc;
  }
  if (!all4) f = kPlain;
  std::vector<int> in;
  for (int id : n.inputs) in.push_back(constant(id) ? broadcast_constant(id, f, rank, true) : value(id, f));
  const int yt = produce(y_id, f);
  const Act act = fused(index);
  switch (n.op) {
    case O::Add:
      add_op(B::ADD, in, {yt}, tflite::BuiltinOptions::AddOptions, tflite::CreateAddOptions(fbb_, act).Union());
      return;
    case O::Sub:
      add_op(B::SUB, in, {yt}, tflite::BuiltinOptions::SubOptions, tflite::CreateSubOptions(fbb_, act).Union());
      return;
    case O::Mul:
      add_op(B::MUL, in, {yt}, tflite::BuiltinOptions::MulOptions, tflite::CreateMulOptions(fbb_, act).Union());
      return;
    case O::Div:
      add_op(B::DIV, in, {yt}, tflite::BuiltinOptions::DivOptions, tflite::CreateDivOptions(fbb_, act).Union());
      return;
    case O::Max: add_op(B::MAXIMUM, in, {yt}); return;
    case O::Min: add_op(B::MINIMUM, in, {yt}); return;
    default: add_op(B::POW, in, {yt}); return;
  }
}

// A BatchNormalization no convolution absorbed: MUL and ADD by per-channel constants.
void Writer::batch_norm(int index) {
  const ir::Node& n = g_.nodes[static_cast<std::size_t>(index)];
  if (n.inputs.size() < 5 || n.outputs.size() != 1) refuse("expects 5 inputs and 1 output (inference mode)");
  const int x_id = n.inputs[0];
  const Dims x = static_dims(x_id);
  if (x.size() < 2) refuse("input has rank below 2");
  const auto c = static_cast<std::size_t>(x[1]);
  const auto gamma = read_f32(n.inputs[1]), beta = read_f32(n.inputs[2]), mean = read_f32(n.inputs[3]),
             var = read_f32(n.inputs[4]);
  if (gamma.size() != c || beta.size() != c || mean.size() != c || var.size() != c) {
    refuse("parameters do not have one value per channel");
  }
  const double eps = n.attrs.get_float("epsilon", 1e-5);
  std::vector<float> scale(c), shift(c);
  for (std::size_t i = 0; i < c; ++i) {
    const double s = static_cast<double>(gamma[i]) / std::sqrt(static_cast<double>(var[i]) + eps);
    scale[i] = static_cast<float>(s);
    shift[i] = static_cast<float>(beta[i] - mean[i] * s);
  }
  const Form f = x.size() == 4 ? preferred_form(x_id) : kPlain;
  Dims cshape{static_cast<std::int64_t>(c)};
  if (f == kPlain) cshape.insert(cshape.end(), x.size() - 2, 1);  // (C, 1, 1) broadcasts over H, W
  const int xt = value(x_id, f);
  const int st = const_f32(n.name + "_scale", scale, cshape, true);
  const int bt = const_f32(n.name + "_shift", shift, cshape, true);
  const int y_id = fused_out(index);
  const int mid = activation(n.name + "_scaled", ir::DType::kFloat32, form_dims(x_id, f));
  add_op(B::MUL, {xt, st}, {mid}, tflite::BuiltinOptions::MulOptions, tflite::CreateMulOptions(fbb_).Union());
  add_op(B::ADD, {mid, bt}, {produce(y_id, f)}, tflite::BuiltinOptions::AddOptions,
         tflite::CreateAddOptions(fbb_, fused(index)).Union());
}

void Writer::reshape(const ir::Node& n) {
  const int x_id = n.inputs.at(0), y_id = n.outputs.at(0);
  const Dims y = static_dims(y_id);
  int xt = -1;
  if (!constant(x_id) && !has(x_id, kPlain) && has(x_id, kNhwc)) {
    // NHWC data whose memory order equals NCHW's (only size-1 axes move) reshapes directly.
    const Dims d = static_dims(x_id);
    std::vector<int> a, b;
    for (int i = 0; i < 4; ++i) {
      if (d[static_cast<std::size_t>(i)] != 1) a.push_back(i);
      if (d[static_cast<std::size_t>(kToNhwc[static_cast<std::size_t>(i)])] != 1) {
        b.push_back(kToNhwc[static_cast<std::size_t>(i)]);
      }
    }
    if (a == b) xt = forms_[static_cast<std::size_t>(x_id)][kNhwc];
  }
  if (xt < 0) xt = value(x_id, kPlain);
  const auto shape = i32_dims(y);
  const int s = const_i32(n.name + "_shape", shape, {static_cast<std::int64_t>(y.size())});
  add_op(B::RESHAPE, {xt, s}, {produce(y_id, kPlain)}, tflite::BuiltinOptions::ReshapeOptions,
         tflite::CreateReshapeOptions(fbb_, fbb_.CreateVector(shape)).Union());
}

// Gemm and MatMul with constant weights -> FULLY_CONNECTED (weights "OI", the
// transpose folded); MatMul of two activations -> BATCH_MATMUL.
void Writer::linear(int index) {
  const ir::Node& n = g_.nodes[static_cast<std::size_t>(index)];
  if (n.inputs.size() < 2 || n.inputs[0] < 0 || n.inputs[1] < 0) refuse("expects two inputs");
  const int a_id = n.inputs[0], b_id = n.inputs[1];
  const Dims a = static_dims(a_id), b = static_dims(b_id);
  const int y_id = fused_out(index);
  const ir::Tensor& bt = g_.tensors[static_cast<std::size_t>(b_id)];
  const bool gemm = n.op == ir::Op::Gemm;
  if (!constant(b_id)) {
    if (gemm) refuse("Gemm with non-constant B is not written");
    if (fused(index) != Act::NONE) refuse("activation after a BATCH_MATMUL cannot be fused");
    const int at = value(a_id, kPlain), btt = value(b_id, kPlain);
    add_op(B::BATCH_MATMUL, {at, btt}, {produce(y_id, kPlain)}, tflite::BuiltinOptions::BatchMatMulOptions,
           tflite::CreateBatchMatMulOptions(fbb_).Union());
    return;
  }
  if (b.size() != 2) refuse("weights " + dims_str(b) + " are not 2-D");
  if (gemm && (a.size() != 2 || n.attrs.get_int("transA", 0) != 0)) refuse("Gemm with transA or a non-2-D A");
  if (a.empty() || (!gemm && a.back() != b[0])) refuse("inner dimensions differ");
  const bool trans_b = gemm && n.attrs.get_int("transB", 0) != 0;
  const std::int64_t units = trans_b ? b[0] : b[1], inner = trans_b ? b[1] : b[0];
  std::vector<float> w = read_f32(b_id);
  const double alpha = gemm ? n.attrs.get_float("alpha", 1.0) : 1.0;
  const double beta = gemm ? n.attrs.get_float("beta", 1.0) : 1.0;
  if (!trans_b) {  // [K, N] -> [N, K]
    w = permute(w, b, {1, 0});
  }
  if (alpha != 1.0) {
    for (float& v : w) v = static_cast<float>(v * alpha);
  }
  std::vector<float> bias(static_cast<std::size_t>(units), 0.0f);
  const int c_id = gemm && n.inputs.size() > 2 ? n.inputs[2] : -1;
  if (c_id >= 0) {
    const auto c = read_f32(c_id);
    if (c.size() == 1) {
      std::fill(bias.begin(), bias.end(), c[0]);
    } else if (c.size() == bias.size() && static_dims(c_id).back() == units) {
      bias = c;
    } else {
      refuse("bias C " + dims_str(static_dims(c_id)) + " is not one value per output unit");
    }
    if (beta != 1.0) {
      for (float& v : bias) v = static_cast<float>(v * beta);
    }
  }
  const int at = value(a_id, kPlain);
  const std::string& bname = bt.name;
  const int wt = const_f32(bname + (trans_b ? "" : "_oi"), std::move(w), {units, inner}, true, half_weights(b_id));
  const int ct = const_f32(c_id >= 0 ? g_.tensors[static_cast<std::size_t>(c_id)].name : n.name + "_bias", bias,
                           {units}, true, half_weights(c_id));
  add_op(B::FULLY_CONNECTED, {at, wt, ct}, {produce(y_id, kPlain)}, tflite::BuiltinOptions::FullyConnectedOptions,
         tflite::CreateFullyConnectedOptions(fbb_, fused(index), tflite::FullyConnectedOptionsWeightsFormat::DEFAULT,
                                             a.size() > 2)
             .Union());
}

// TRANSPOSE_CONV: ONNX weights (I, O, kh, kw) become OHWI; the output extent is an
// int32 input. TFLite pads a transposed convolution only as SAME (total k - s, the
// smaller half first) or VALID (none), so other pads are refused.
void Writer::conv_transpose(const ir::Node& n) {
  if (n.inputs.size() < 2 || n.inputs[0] < 0 || n.inputs[1] < 0) refuse("needs an input and weights");
  const int x_id = n.inputs[0], w_id = n.inputs[1];
  const int b_id = n.inputs.size() > 2 ? n.inputs[2] : -1;
  const int y_id = n.outputs.at(0);
  const Dims x = static_dims(x_id), w = static_dims(w_id), y = static_dims(y_id);
  if (x.size() != 4 || w.size() != 4 || y.size() != 4) refuse("only 2-D transposed convolutions are written");
  if (!constant(w_id)) refuse("weights are not constant");
  if (n.attrs.get_int("group", 1) != 1) refuse("grouped transposed convolution has no TFLite equivalent");
  const auto s = pair_attr(n, "strides", 1), d = pair_attr(n, "dilations", 1);
  if (d[0] != 1 || d[1] != 1) refuse("dilated transposed convolution has no TFLite equivalent");
  const auto pads = pads_attr(n);
  const auto extra = pair_attr(n, "output_padding", 0);
  const std::int64_t cin = x[1], cout = w[1];
  if (w[0] != cin || y[1] != cout) refuse("weights " + dims_str(w) + " do not match input " + dims_str(x));
  const std::array<std::int64_t, 2> k{w[2], w[3]};
  // Effective pads after output_padding (which extends the end), per spatial axis.
  bool same = true, valid = true;
  for (int a = 0; a < 2; ++a) {
    const std::int64_t before = pads[static_cast<std::size_t>(a)];
    const std::int64_t after = pads[static_cast<std::size_t>(a + 2)] - extra[static_cast<std::size_t>(a)];
    const std::int64_t total =
        std::max<std::int64_t>(k[static_cast<std::size_t>(a)] - s[static_cast<std::size_t>(a)], 0);
    same = same && before == total / 2 && after == total - total / 2;
    valid = valid && before == 0 && after == 0;
    const std::int64_t expect = (x[static_cast<std::size_t>(a + 2)] - 1) * s[static_cast<std::size_t>(a)] +
                                k[static_cast<std::size_t>(a)] - before - after;
    if (expect != y[static_cast<std::size_t>(a + 2)])
      refuse("output " + dims_str(y) + " does not follow from the input, weights and pads");
  }
  if (!same && !valid) {
    refuse("pads " + dims_str({pads.begin(), pads.end()}) + " are neither SAME nor VALID for a TFLite transposed conv");
  }
  std::vector<float> weights = permute(read_f32(w_id), w, {1, 2, 3, 0});  // (I,O,kh,kw) -> (O,kh,kw,I)
  std::vector<float> bias = b_id >= 0 ? read_f32(b_id) : std::vector<float>(static_cast<std::size_t>(cout), 0.0f);
  if (bias.size() != static_cast<std::size_t>(cout)) refuse("bias does not have one value per output channel");
  const std::string& wname = g_.tensors[static_cast<std::size_t>(w_id)].name;
  const int shape = const_i32(n.name + "_output_shape",
                              {static_cast<std::int32_t>(y[0]), static_cast<std::int32_t>(y[2]),
                               static_cast<std::int32_t>(y[3]), static_cast<std::int32_t>(y[1])},
                              {4});
  const int wt = const_f32(wname + "_ohwi", std::move(weights), {cout, k[0], k[1], cin}, true, half_weights(w_id));
  const int xt = value(x_id, kNhwc);
  const int bt = const_f32(b_id >= 0 ? g_.tensors[static_cast<std::size_t>(b_id)].name : n.name + "_bias", bias, {cout},
                           true, half_weights(b_id));
  const int yt = produce(y_id, kNhwc);
  add_op(B::TRANSPOSE_CONV, {shape, wt, xt, bt}, {yt}, tflite::BuiltinOptions::TransposeConvOptions,
         tflite::CreateTransposeConvOptions(fbb_, same ? tflite::Padding::SAME : tflite::Padding::VALID,
                                            static_cast<std::int32_t>(s[1]), static_cast<std::int32_t>(s[0]))
             .Union());
}

// RESIZE_BILINEAR / RESIZE_NEAREST_NEIGHBOR over H and W to the output's static extent.
// TFLite's coordinate rules are ONNX's align_corners, half_pixel (also pytorch_half_pixel
// when no output axis has extent 1) and asymmetric; nearest rounds down (asymmetric
// nearest_mode floor, or round_prefer_floor at an integer factor of at most 2, where
// the two agree).
void Writer::resize(const ir::Node& n) {
  const int x_id = n.inputs.at(0), y_id = n.outputs.at(0);
  const Dims x = static_dims(x_id), y = static_dims(y_id);
  if (x.size() != 4 || y.size() != 4 || x[0] != y[0] || x[1] != y[1]) refuse("only H and W of a 4-D tensor resize");
  const std::string mode = n.attrs.get_string("mode", "nearest");
  const std::string ct = n.attrs.get_string("coordinate_transformation_mode", "half_pixel");
  if (n.attrs.get_int("antialias", 0) != 0) refuse("antialiased resize has no TFLite equivalent");
  bool align = false, half = false;
  if (ct == "align_corners") {
    align = true;
  } else if (ct == "half_pixel" || (ct == "pytorch_half_pixel" && y[2] > 1 && y[3] > 1)) {
    half = true;
  } else if (ct != "asymmetric" && !(mode == "nearest" && ct == "tf_half_pixel_for_nn")) {
    refuse("coordinate_transformation_mode '" + ct + "' has no TFLite equivalent");
  }
  if (mode == "nearest") {
    if (ct == "tf_half_pixel_for_nn") half = true;
    const std::string rounding = n.attrs.get_string("nearest_mode", "round_prefer_floor");
    const bool small_integer = y[2] % x[2] == 0 && y[3] % x[3] == 0 && y[2] / x[2] <= 2 && y[3] / x[3] <= 2;
    if (align || half || !(rounding == "floor" || (rounding == "round_prefer_floor" && small_integer)))
      refuse("nearest resize with " + ct + " coordinates and nearest_mode " + rounding +
             " has no TFLite equivalent (TFLite rounds asymmetric coordinates down)");
  } else if (mode != "linear") {
    refuse("resize mode '" + mode + "' has no TFLite equivalent");
  }
  const int xt = value(x_id, kNhwc);
  const int size = const_i32(n.name + "_size", {static_cast<std::int32_t>(y[2]), static_cast<std::int32_t>(y[3])}, {2});
  const int yt = produce(y_id, kNhwc);
  if (mode == "linear") {
    add_op(B::RESIZE_BILINEAR, {xt, size}, {yt}, tflite::BuiltinOptions::ResizeBilinearOptions,
           tflite::CreateResizeBilinearOptions(fbb_, align, half).Union());
  } else {
    add_op(B::RESIZE_NEAREST_NEIGHBOR, {xt, size}, {yt}, tflite::BuiltinOptions::ResizeNearestNeighborOptions,
           tflite::CreateResizeNearestNeighborOptions(fbb_, align, half).Union());
  }
}

void Writer::concat(const ir::Node& n) {
  const int y_id = n.outputs.at(0);
  const Dims y = static_dims(y_id);
  const auto axis = norm_axis(n.attrs.get_int("axis", 0), y.size());
  if (!axis) refuse("axis out of range");
  Form f = kPlain;
  for (int id : n.inputs) {
    if (id >= 0 && !constant(id) && has(id, kNhwc)) f = kNhwc;
  }
  if (y.size() != 4) f = kPlain;
  std::vector<int> in;
  for (int id : n.inputs) {
    if (id >= 0) in.push_back(value(id, f));
  }
  const auto file_axis = f == kNhwc ? kNhwcPos[static_cast<std::size_t>(*axis)] : static_cast<int>(*axis);
  add_op(B::CONCATENATION, in, {produce(y_id, f)}, tflite::BuiltinOptions::ConcatenationOptions,
         tflite::CreateConcatenationOptions(fbb_, file_axis).Union());
}

void Writer::softmax(const ir::Node& n) {
  const int x_id = n.inputs.at(0), y_id = n.outputs.at(0);
  const Dims x = static_dims(x_id);
  const bool opset13 = g_.meta.opset == 0 || g_.meta.opset >= 13;
  const auto axis = norm_axis(n.attrs.get_int("axis", opset13 ? -1 : 1), x.size());
  if (!axis) refuse("axis out of range");
  Form f = kPlain;
  if (*axis + 1 == static_cast<std::int64_t>(x.size())) {
    f = kPlain;
  } else if (opset13 && x.size() == 4 && *axis == 1) {
    f = kNhwc;
  } else {
    refuse("softmax over axis " + std::to_string(*axis) + " of " + dims_str(x) + " is not the innermost axis");
  }
  const int xt = value(x_id, f);
  const int yt = produce(y_id, f);
  if (n.op == ir::Op::Softmax) {
    add_op(B::SOFTMAX, {xt}, {yt}, tflite::BuiltinOptions::SoftmaxOptions,
           tflite::CreateSoftmaxOptions(fbb_, 1.0f).Union());
  } else {
    add_op(B::LOG_SOFTMAX, {xt}, {yt}, tflite::BuiltinOptions::LogSoftmaxOptions,
           tflite::CreateLogSoftmaxOptions(fbb_).Union());
  }
}

void Writer::pad(const ir::Node& n) {
  const int x_id = n.inputs.at(0), y_id = n.outputs.at(0);
  const Dims x = static_dims(x_id);
  const std::string mode = n.attrs.get_string("mode", "constant");
  Dims pads = n.attrs.get_ints("pads");
  float value_f = static_cast<float>(n.attrs.get_float("value", 0.0));
  auto ints_of = [&](int id) -> Dims {
    const ir::Tensor& t = g_.tensors[static_cast<std::size_t>(id)];
    if (!t.is_constant() || t.dtype != ir::DType::kInt64 || t.data.size() != *t.shape.numel() * 8) {
      refuse("'" + t.name + "' must be an int64 constant");
    }
    Dims v(*t.shape.numel());
    if (!v.empty()) std::memcpy(v.data(), t.data.data(), v.size() * 8);
    return v;
  };
  if (n.inputs.size() > 1 && n.inputs[1] >= 0) pads = ints_of(n.inputs[1]);
  if (n.inputs.size() > 2 && n.inputs[2] >= 0) {
    const auto v = read_f32(n.inputs[2]);
    if (v.size() != 1) refuse("constant_value is not a scalar");
    value_f = v[0];
  }
  if (n.inputs.size() > 3 && n.inputs[3] >= 0) refuse("Pad with axes is not written");
  const std::size_t r = x.size();
  if (pads.size() != 2 * r) refuse("pads " + dims_str(pads) + " do not have two values per axis");
  for (auto v : pads) {
    if (v < 0) refuse("negative pads (cropping) are not written");
  }
  if (mode != "constant" && mode != "reflect") refuse("pad mode '" + mode + "' has no TFLite equivalent");
  const Form f = r == 4 ? preferred_form(x_id) : kPlain;
  std::vector<std::int32_t> paddings(2 * r);
  for (std::size_t i = 0; i < r; ++i) {
    const std::size_t src = f == kNhwc ? static_cast<std::size_t>(kToNhwc[i]) : i;
    paddings[2 * i] = static_cast<std::int32_t>(pads[src]);
    paddings[2 * i + 1] = static_cast<std::int32_t>(pads[src + r]);
  }
  const int xt = value(x_id, f);
  const int p = const_i32(n.name + "_paddings", paddings, {static_cast<std::int64_t>(r), 2});
  const int yt = produce(y_id, f);
  if (mode == "reflect") {
    add_op(B::MIRROR_PAD, {xt, p}, {yt}, tflite::BuiltinOptions::MirrorPadOptions,
           tflite::CreateMirrorPadOptions(fbb_, tflite::MirrorPadMode::REFLECT).Union());
  } else if (value_f == 0.0f) {
    add_op(B::PAD, {xt, p}, {yt}, tflite::BuiltinOptions::PadOptions, tflite::CreatePadOptions(fbb_).Union());
  } else {
    const int v = const_f32(n.name + "_value", {value_f}, {}, false);
    add_op(B::PADV2, {xt, p, v}, {yt}, tflite::BuiltinOptions::PadV2Options, tflite::CreatePadV2Options(fbb_).Union());
  }
}

void Writer::reduce(const ir::Node& n) {
  using O = ir::Op;
  const int x_id = n.inputs.at(0), y_id = n.outputs.at(0);
  const Dims x = static_dims(x_id);
  Dims axes = n.attrs.get_ints("axes");
  if (n.inputs.size() > 1 && n.inputs[1] >= 0) {
    const ir::Tensor& t = g_.tensors[static_cast<std::size_t>(n.inputs[1])];
    if (!t.is_constant() || t.dtype != ir::DType::kInt64 || t.data.size() != *t.shape.numel() * 8) {
      refuse("axes must be an int64 constant");
    }
    axes.resize(*t.shape.numel());
    if (!axes.empty()) std::memcpy(axes.data(), t.data.data(), axes.size() * 8);
  }
  if (axes.empty()) {
    if (n.attrs.get_int("noop_with_empty_axes", 0) != 0) refuse("noop_with_empty_axes is not written");
    for (std::size_t i = 0; i < x.size(); ++i) axes.push_back(static_cast<std::int64_t>(i));
  }
  std::vector<char> reduced(x.size(), 0);
  for (auto& a : axes) {
    const auto v = norm_axis(a, x.size());
    if (!v) refuse("axis " + std::to_string(a) + " out of range");
    a = *v;
    reduced[static_cast<std::size_t>(a)] = 1;
  }
  const bool keep = n.attrs.get_int("keepdims", 1) != 0;
  Form f = x.size() == 4 ? preferred_form(x_id) : kPlain;
  Form out_form = f;
  if (f == kNhwc && !keep) {
    // The kept axes in NHWC order must read like the IR's order for a plain result.
    std::vector<int> plain_order, nhwc_order;
    for (int i = 0; i < 4; ++i) {
      if (!reduced[static_cast<std::size_t>(i)]) plain_order.push_back(i);
      if (!reduced[static_cast<std::size_t>(kToNhwc[static_cast<std::size_t>(i)])]) {
        nhwc_order.push_back(kToNhwc[static_cast<std::size_t>(i)]);
      }
    }
    if (plain_order != nhwc_order) f = kPlain;
    out_form = kPlain;
  }
  std::vector<std::int32_t> file_axes;
  for (auto a : axes) file_axes.push_back(f == kNhwc ? kNhwcPos[static_cast<std::size_t>(a)] : static_cast<int>(a));
  const int xt = value(x_id, f);
  const int at = const_i32(n.name + "_axes", file_axes, {static_cast<std::int64_t>(file_axes.size())});
  const B code = n.op == O::ReduceMean  ? B::MEAN
                 : n.op == O::ReduceSum ? B::SUM
                 : n.op == O::ReduceMax ? B::REDUCE_MAX
                                        : B::REDUCE_MIN;
  add_op(code, {xt, at}, {produce(y_id, out_form)}, tflite::BuiltinOptions::ReducerOptions,
         tflite::CreateReducerOptions(fbb_, keep).Union());
}

void Writer::transpose(const ir::Node& n) {
  const int x_id = n.inputs.at(0), y_id = n.outputs.at(0);
  const Dims x = static_dims(x_id);
  Dims perm = n.attrs.get_ints("perm");
  if (perm.empty()) {
    for (std::size_t i = x.size(); i-- > 0;) perm.push_back(static_cast<std::int64_t>(i));
  }
  if (perm.size() != x.size()) refuse("perm " + dims_str(perm) + " does not match rank " + std::to_string(x.size()));
  const Form f = x.size() == 4 ? preferred_form(x_id) : kPlain;
  std::vector<std::int32_t> q;
  for (auto p : perm) {
    if (p < 0 || p >= static_cast<std::int64_t>(x.size())) refuse("perm " + dims_str(perm) + " is not a permutation");
    q.push_back(f == kNhwc ? kNhwcPos[static_cast<std::size_t>(p)] : static_cast<std::int32_t>(p));
  }
  const int xt = value(x_id, f);
  const int pt = const_i32(n.name + "_perm", q, {static_cast<std::int64_t>(q.size())});
  add_op(B::TRANSPOSE, {xt, pt}, {produce(y_id, kPlain)}, tflite::BuiltinOptions::TransposeOptions,
         tflite::CreateTransposeOptions(fbb_).Union());
}

// NHWC when the op's data input is 4-D and already lives in NHWC (so conv nets do not
// transpose back and forth around it), else the IR's order.
Form Writer::data_form(const ir::Node& n, std::size_t rank) const {
  return rank == 4 && !n.inputs.empty() && n.inputs[0] >= 0 ? preferred_form(n.inputs[0]) : kPlain;
}

// Split -> SPLIT when the parts are equal, else SPLIT_V (sizes as an int32 input), along
// the axis as it lies in the file's form. The part sizes are the outputs' static extents
// (ONNX's `split` input or attribute, or equal parts, already decided them).
void Writer::split(const ir::Node& n) {
  const int x_id = n.inputs.at(0);
  const Dims x = static_dims(x_id);
  const auto axis = norm_axis(n.attrs.get_int("axis", 0), x.size());
  if (!axis) refuse("axis out of range");
  const auto a = static_cast<std::size_t>(*axis);
  std::vector<std::int32_t> sizes;
  std::int64_t total = 0;
  for (int id : n.outputs) {
    if (id < 0) refuse("an output is omitted");
    const Dims y = static_dims(id);
    if (y.size() != x.size()) refuse("an output's rank differs from the input's");
    sizes.push_back(static_cast<std::int32_t>(y[a]));
    total += y[a];
  }
  if (sizes.empty() || total != x[a]) refuse("the outputs' extents do not add up to the input's along the axis");
  const Form f = data_form(n, x.size());
  const std::int32_t file_axis = f == kNhwc ? kNhwcPos[a] : static_cast<std::int32_t>(a);
  const int xt = value(x_id, f);
  const int at = const_i32(n.name + "_axis", {file_axis}, {});
  std::vector<int> outs;
  for (int id : n.outputs) outs.push_back(produce(id, f));
  const auto count = static_cast<std::int32_t>(sizes.size());
  if (std::all_of(sizes.begin(), sizes.end(), [&](std::int32_t v) { return v == sizes[0]; })) {
    add_op(B::SPLIT, {at, xt}, outs, tflite::BuiltinOptions::SplitOptions,
           tflite::CreateSplitOptions(fbb_, count).Union());
  } else {
    const int st = const_i32(n.name + "_sizes", sizes, {count});
    add_op(B::SPLIT_V, {xt, st, at}, outs, tflite::BuiltinOptions::SplitVOptions,
           tflite::CreateSplitVOptions(fbb_, count).Union());
  }
}

// Sum -> ADD_N when every input has the output's shape (ADD_N does not broadcast), else
// a chain of broadcasting ADDs; one input is a copy (RESHAPE to its own shape).
void Writer::sum(const ir::Node& n) {
  const int y_id = n.outputs.at(0);
  const Dims y = static_dims(y_id);
  std::vector<int> ids;
  for (int id : n.inputs) {
    if (id >= 0) ids.push_back(id);
  }
  if (ids.empty()) refuse("has no inputs");
  bool same = true, all4 = y.size() == 4;
  Form f = kPlain;
  for (int id : ids) {
    const Dims d = static_dims(id);
    same = same && d == y;
    if (constant(id)) continue;
    all4 = all4 && d.size() == 4;
    if (has(id, kNhwc)) f = kNhwc;
  }
  if (!all4) f = kPlain;
  std::vector<int> in;
  for (int id : ids) in.push_back(constant(id) ? broadcast_constant(id, f, y.size(), true) : value(id, f));
  const int yt = produce(y_id, f);
  if (in.size() == 1) {
    const auto shape = tensors_[static_cast<std::size_t>(yt)].shape;
    const int s = const_i32(n.name + "_shape", shape, {static_cast<std::int64_t>(shape.size())});
    add_op(B::RESHAPE, {in[0], s}, {yt}, tflite::BuiltinOptions::ReshapeOptions,
           tflite::CreateReshapeOptions(fbb_, fbb_.CreateVector(shape)).Union());
    return;
  }
  if (same) {
    add_op(B::ADD_N, in, {yt}, tflite::BuiltinOptions::AddNOptions, tflite::CreateAddNOptions(fbb_).Union());
    return;
  }
  // Broadcast shape of the inputs so far, in the IR's order (numpy rules).
  Dims acc = static_dims(ids[0]);
  int acc_t = in[0];
  for (std::size_t k = 1; k < in.size(); ++k) {
    const Dims d = static_dims(ids[k]);
    Dims next(std::max(acc.size(), d.size()), 1);
    for (std::size_t i = 0; i < next.size(); ++i) {
      const std::int64_t p = i + acc.size() >= next.size() ? acc[i + acc.size() - next.size()] : 1;
      const std::int64_t q = i + d.size() >= next.size() ? d[i + d.size() - next.size()] : 1;
      if (p != q && p != 1 && q != 1) refuse("inputs do not broadcast");
      next[i] = std::max(p, q);
    }
    int out = yt;
    if (k + 1 < in.size()) {
      Dims shape = next;
      if (f == kNhwc) {
        if (next.size() != 4) refuse("a partial sum of NHWC data is not 4-D");
        shape = {next[0], next[2], next[3], next[1]};
      }
      out = activation(n.name + "_partial_" + std::to_string(k), ir::DType::kFloat32, shape);
    }
    add_op(B::ADD, {acc_t, in[k]}, {out}, tflite::BuiltinOptions::AddOptions, tflite::CreateAddOptions(fbb_).Union());
    acc = next;
    acc_t = out;
  }
}

// ONNX Slice (starts, ends, axes, steps as constant inputs, or as attributes before
// opset 10) -> SLICE (begin, size) when every step is 1, else STRIDED_SLICE (begin, end,
// strides; end_mask where a negative step runs past index 0). Starts and ends are
// clamped as ONNX defines, so the file holds the exact extents.
void Writer::slice(const ir::Node& n) {
  const int x_id = n.inputs.at(0), y_id = n.outputs.at(0);
  const Dims x = static_dims(x_id);
  const std::size_t r = x.size();
  auto ints_of = [&](std::size_t k, const char* what) -> Dims {
    if (k >= n.inputs.size() || n.inputs[k] < 0) return {};
    const ir::Tensor& t = g_.tensors[static_cast<std::size_t>(n.inputs[k])];
    const bool i64 = t.dtype == ir::DType::kInt64, i32 = t.dtype == ir::DType::kInt32;
    if (!t.is_constant() || !(i64 || i32) || !t.shape.is_static() ||
        t.data.size() != *t.shape.numel() * (i64 ? 8 : 4)) {
      refuse(std::string(what) + " '" + t.name + "' must be an integer constant");
    }
    Dims v(*t.shape.numel());
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (i64) {
        std::memcpy(&v[i], t.data.data() + 8 * i, 8);
      } else {
        std::int32_t w = 0;
        std::memcpy(&w, t.data.data() + 4 * i, 4);
        v[i] = w;
      }
    }
    return v;
  };
  const bool legacy = n.attrs.has("starts");
  const Dims starts = legacy ? n.attrs.get_ints("starts") : ints_of(1, "starts");
  const Dims ends = legacy ? n.attrs.get_ints("ends") : ints_of(2, "ends");
  Dims axes = legacy ? n.attrs.get_ints("axes") : ints_of(3, "axes");
  Dims steps = legacy ? Dims{} : ints_of(4, "steps");
  if (starts.size() != ends.size()) refuse("starts and ends differ in length");
  if (axes.empty()) {
    for (std::size_t j = 0; j < starts.size(); ++j) axes.push_back(static_cast<std::int64_t>(j));
  }
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (axes.size() != starts.size() || steps.size() != starts.size()) refuse("starts/ends/axes/steps differ in length");
  Dims begin(r, 0), count = x, step(r, 1);
  std::vector<char> seen(r, 0);
  for (std::size_t j = 0; j < axes.size(); ++j) {
    const auto ax = norm_axis(axes[j], r);
    if (!ax || seen[static_cast<std::size_t>(*ax)])
      refuse("axis " + std::to_string(axes[j]) + " is out of range or repeated");
    const auto i = static_cast<std::size_t>(*ax);
    seen[i] = 1;
    const std::int64_t s = steps[j], d = x[i];
    if (s == 0) refuse("step 0");
    constexpr std::int64_t kBig = std::int64_t{1} << 40;
    std::int64_t b = std::clamp(starts[j], -kBig, kBig), e = std::clamp(ends[j], -kBig, kBig);
    if (b < 0) b += d;
    if (e < 0) e += d;
    if (s > 0) {
      b = std::clamp<std::int64_t>(b, 0, d);
      e = std::clamp<std::int64_t>(e, 0, d);
      count[i] = std::max<std::int64_t>(0, (e - b + s - 1) / s);
    } else {
      b = std::clamp<std::int64_t>(b, 0, d - 1);
      e = std::clamp<std::int64_t>(e, -1, d - 1);
      count[i] = std::max<std::int64_t>(0, (b - e - s - 1) / -s);
    }
    begin[i] = b;
    step[i] = s;
  }
  if (count != static_dims(y_id)) {
    refuse("output " + dims_str(static_dims(y_id)) + " differs from the slice's extents " + dims_str(count));
  }
  for (auto c : count) {
    if (c == 0) refuse("empty slice");
  }
  const Form f = data_form(n, r);
  const bool unit = std::all_of(step.begin(), step.end(), [](std::int64_t s) { return s == 1; });
  std::vector<std::int32_t> fb_begin(r), fb_second(r), fb_strides(r);
  std::int32_t end_mask = 0;
  for (std::size_t k = 0; k < r; ++k) {
    const std::size_t i = f == kNhwc ? static_cast<std::size_t>(kToNhwc[k]) : k;
    fb_begin[k] = static_cast<std::int32_t>(begin[i]);
    fb_strides[k] = static_cast<std::int32_t>(step[i]);
    if (unit) {
      fb_second[k] = static_cast<std::int32_t>(count[i]);
    } else {
      const std::int64_t end = begin[i] + count[i] * step[i];
      if (end < 0) end_mask |= 1 << k;
      fb_second[k] = static_cast<std::int32_t>(step[i] > 0 ? std::min(end, x[i]) : std::max<std::int64_t>(end, 0));
    }
  }
  const int xt = value(x_id, f);
  const auto rank = static_cast<std::int64_t>(r);
  const int bt = const_i32(n.name + "_begin", fb_begin, {rank});
  const int yt = produce(y_id, f);
  if (unit) {
    const int st = const_i32(n.name + "_size", fb_second, {rank});
    add_op(B::SLICE, {xt, bt, st}, {yt}, tflite::BuiltinOptions::SliceOptions,
           tflite::CreateSliceOptions(fbb_).Union());
    return;
  }
  const int et = const_i32(n.name + "_end", fb_second, {rank});
  const int st = const_i32(n.name + "_strides", fb_strides, {rank});
  add_op(B::STRIDED_SLICE, {xt, bt, et, st}, {yt}, tflite::BuiltinOptions::StridedSliceOptions,
         tflite::CreateStridedSliceOptions(fbb_, 0, end_mask).Union());
}

// Cast of data (a Cast of a float16 constant is folded, see half_of()) -> CAST.
void Writer::cast(const ir::Node& n) {
  const int x_id = n.inputs.at(0), y_id = n.outputs.at(0);
  const ir::DType from = g_.tensors[static_cast<std::size_t>(x_id)].dtype;
  const ir::DType to = g_.tensors[static_cast<std::size_t>(y_id)].dtype;
  const auto in_type = tensor_type(from), out_type = tensor_type(to);
  if (!in_type || !out_type) {
    refuse("Cast from " + std::string(ir::dtype_name(from)) + " to " + std::string(ir::dtype_name(to)) +
           " has no TFLite tensor types");
  }
  const Form f = data_form(n, static_dims(x_id).size());
  const int xt = value(x_id, f);
  add_op(B::CAST, {xt}, {produce(y_id, f)}, tflite::BuiltinOptions::CastOptions,
         tflite::CreateCastOptions(fbb_, *in_type, *out_type).Union());
}

// Identity / Dropout (inference): the output is the input; a graph output gets a
// RESHAPE so that it keeps its own name.
void Writer::identity(const ir::Node& n) {
  if (n.outputs.size() > 1 && n.outputs[1] >= 0 &&
      !g_.tensors[static_cast<std::size_t>(n.outputs[1])].consumers.empty()) {
    refuse("Dropout mask output is not written");
  }
  const int x_id = n.inputs.at(0), y_id = n.outputs.at(0);
  if (is_output_[static_cast<std::size_t>(y_id)] || constant(x_id)) {
    const int xt = value(x_id, kPlain);
    const auto shape = i32_dims(static_dims(y_id));
    const int s = const_i32(n.name + "_shape", shape, {static_cast<std::int64_t>(shape.size())});
    add_op(B::RESHAPE, {xt, s}, {produce(y_id, kPlain)}, tflite::BuiltinOptions::ReshapeOptions,
           tflite::CreateReshapeOptions(fbb_, fbb_.CreateVector(shape)).Union());
    return;
  }
  forms_[static_cast<std::size_t>(y_id)] = forms_[static_cast<std::size_t>(x_id)];
}

// ---------------------------------------------------------------------------
// Driver
// ---------------------------------------------------------------------------

void Writer::lower() {
  forms_.assign(g_.tensors.size(), {-1, -1});
  is_output_.assign(g_.tensors.size(), 0);
  for (int id : g_.outputs) is_output_[static_cast<std::size_t>(id)] = 1;
  for (const ir::Tensor& t : g_.tensors) ir_names_.insert(t.name);
  half_src_.assign(g_.tensors.size(), -1);
  for (const ir::Node& n : g_.nodes) {
    if (n.layout == ir::Layout::kNHWC || n.op != ir::Op::Cast || n.inputs.size() != 1 || n.outputs.size() != 1 ||
        n.inputs[0] < 0 || n.outputs[0] < 0 || n.attrs.get_int("to", 0) != 1) {
      continue;
    }
    const ir::Tensor& in = g_.tensors[static_cast<std::size_t>(n.inputs[0])];
    const ir::Tensor& out = g_.tensors[static_cast<std::size_t>(n.outputs[0])];
    if (in.is_constant() && in.dtype == ir::DType::kFloat16 && !in.sparse && in.shape.is_static() &&
        out.dtype == ir::DType::kFloat32 && !is_output_[static_cast<std::size_t>(n.outputs[0])]) {
      half_src_[static_cast<std::size_t>(n.outputs[0])] = n.inputs[0];
    }
  }
  plan();

  auto record = [&](ErrorKind kind, const std::string& where, const std::string& reason) {
    problems_.push_back(where + ": " + reason);
    kinds_.push_back(kind);
  };
  for (int id : g_.inputs) {
    const ir::Tensor& t = g_.tensors[static_cast<std::size_t>(id)];
    if (t.is_constant()) continue;
    try {
      produce(id, kPlain);
    } catch (const NodeError& e) {
      record(e.kind, "input '" + t.name + "'", e.reason);
      forms_[static_cast<std::size_t>(id)][kPlain] = add_tensor(OutTensor{});  // stand-in
    }
  }
  for (std::size_t i = 0; i < g_.nodes.size(); ++i) {
    const ir::Node& n = g_.nodes[i];
    if (!needed_[i] || absorbed_[i]) continue;
    bool all_constant = !n.outputs.empty();
    for (int id : n.outputs)
      all_constant = all_constant && (id < 0 || g_.tensors[static_cast<std::size_t>(id)].is_constant());
    if (all_constant && n.layout != ir::Layout::kNHWC) continue;  // folded constants (Constant, Identity of weights)
    if (n.outputs.size() == 1 && half_of(n.outputs[0]) >= 0) continue;  // read as its float16 constant
    try {
      if (n.layout == ir::Layout::kNHWC) {
        emit_native(static_cast<int>(i));
      } else {
        emit_converted(static_cast<int>(i));
      }
    } catch (const NodeError& e) {
      record(e.kind,
             "node " + std::to_string(i) + " '" + n.name + "' (" +
                 (n.source_op.empty() ? std::string(ir::op_name(n.op)) : n.source_op) + ")",
             e.reason);
      // Stand-ins so the nodes after this one are still checked.
      std::vector<int> outs = n.outputs;
      if (fusions_[i].out >= 0) outs.push_back(fusions_[i].out);
      for (int id : outs) {
        if (id >= 0 && !has(id, kPlain) && !has(id, kNhwc)) {
          forms_[static_cast<std::size_t>(id)][kPlain] = add_tensor(OutTensor{});
        }
      }
    }
  }
  for (int id : g_.outputs) {
    try {
      value(id, kPlain);
    } catch (const NodeError& e) {
      record(e.kind, "output '" + g_.tensors[static_cast<std::size_t>(id)].name + "'", e.reason);
    }
  }
}

std::string Writer::serialize() {
  std::vector<fb::Offset<tflite::Buffer>> buffers;
  buffers.reserve(buffers_.size());
  for (const auto& b : buffers_) {
    if (b.empty()) {
      buffers.push_back(tflite::CreateBuffer(fbb_));
      continue;
    }
    fbb_.ForceVectorAlignment(b.size(), sizeof(std::uint8_t), 16);
    const auto data = fbb_.CreateVector(reinterpret_cast<const std::uint8_t*>(b.data()), b.size());
    buffers.push_back(tflite::CreateBuffer(fbb_, data));
  }
  std::vector<fb::Offset<tflite::Tensor>> tensors;
  tensors.reserve(tensors_.size());
  for (const OutTensor& t : tensors_) {
    fb::Offset<tflite::QuantizationParameters> quant = 0;
    if (t.quant && !t.quant->empty()) {
      quant = tflite::CreateQuantizationParameters(fbb_, 0, 0, fbb_.CreateVector(t.quant->scales),
                                                   fbb_.CreateVector(t.quant->zero_points),
                                                   tflite::QuantizationDetails::NONE, 0, t.quant->axis);
    }
    tensors.push_back(tflite::CreateTensor(fbb_, fbb_.CreateVector(t.shape), t.type, t.buffer,
                                           fbb_.CreateString(t.name), quant, t.is_variable, t.sparsity, 0, true));
  }
  std::vector<fb::Offset<tflite::Operator>> ops;
  ops.reserve(ops_.size());
  for (const OutOp& o : ops_) {
    ops.push_back(tflite::CreateOperator(fbb_, o.opcode, fbb_.CreateVector(o.inputs), fbb_.CreateVector(o.outputs),
                                         o.options_type, o.options,
                                         o.custom.empty() ? 0 : fbb_.CreateVector(o.custom)));
  }
  std::vector<std::int32_t> inputs, outputs;
  for (int id : g_.inputs) {
    if (!g_.tensors[static_cast<std::size_t>(id)].is_constant())
      inputs.push_back(forms_[static_cast<std::size_t>(id)][kPlain]);
  }
  for (int id : g_.outputs) outputs.push_back(forms_[static_cast<std::size_t>(id)][kPlain]);
  const auto subgraph = tflite::CreateSubGraph(
      fbb_, fbb_.CreateVector(tensors), fbb_.CreateVector(inputs), fbb_.CreateVector(outputs), fbb_.CreateVector(ops),
      fbb_.CreateString(g_.meta.graph_name.empty() ? "main" : g_.meta.graph_name));
  std::vector<fb::Offset<tflite::OperatorCode>> codes;
  for (const auto& [code, custom] : opcodes_) {
    const auto raw = static_cast<std::int32_t>(code);
    codes.push_back(tflite::CreateOperatorCode(fbb_, static_cast<std::int8_t>(std::min(raw, 127)),
                                               custom.empty() ? 0 : fbb_.CreateString(custom), 1, code));
  }
  const auto model = tflite::CreateModel(fbb_, 3, fbb_.CreateVector(codes), fbb_.CreateVector(&subgraph, 1),
                                         fbb_.CreateString(opt_.producer), fbb_.CreateVector(buffers));
  tflite::FinishModelBuffer(fbb_, model);
  return std::string(reinterpret_cast<const char*>(fbb_.GetBufferPointer()), fbb_.GetSize());
}

}  // namespace

namespace detail {

std::vector<std::string> unsupported_tflite(const ir::Graph& graph) {
  ExportOptions options;
  Writer writer(graph, options);
  writer.lower();
  return writer.problems();
}

}  // namespace detail

std::string to_tflite(const ir::Graph& graph, const ExportOptions& options) {
  Writer writer(graph, options);
  writer.lower();
  const auto& problems = writer.problems();
  const std::string file = graph.meta.source_path.empty() ? "graph" : graph.meta.source_path;
  if (!problems.empty()) {
    const auto& kinds = writer.problem_kinds();
    const bool all_unknown =
        std::all_of(kinds.begin(), kinds.end(), [](ErrorKind k) { return k == ErrorKind::kUnknownDim; });
    std::string list;
    for (const auto& p : problems) list += (list.empty() ? "" : "; ") + p;
    throw Error(all_unknown ? ErrorKind::kUnknownDim : ErrorKind::kUnsupported, file, "TFLite export",
                std::to_string(problems.size()) + " node(s) cannot be written: " + list);
  }
  return writer.serialize();
}

}  // namespace infercast::exporter
