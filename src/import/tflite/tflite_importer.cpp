// TFLite flatbuffer → ir::Graph.
//
// The file is checked in three layers before anything is read from it: the
// flatbuffers Verifier (every offset, vector and string lies inside the buffer),
// then every index the format leaves to the reader (operator codes, tensors,
// buffers, external buffer ranges), then per-op option sanity (strides, kernel
// sizes). Only subgraph 0 is analysed; the others are listed in the metadata.
//
// Weights are never copied: a constant tensor's `data` is a span into the mapped
// file (or into the caller's bytes for load_tflite_bytes).
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "flatbuffers/flatbuffers.h"
#include "infercast/base/error.hpp"
#include "infercast/base/mapped_file.hpp"
#include "infercast/import/import.hpp"
#include "infercast/ir/validate.hpp"
#include "tflite_generated.h"

namespace infercast::import {
namespace {

using tflite::BuiltinOperator;

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

[[noreturn]] void bad_model(const std::string& file, std::string where, std::string reason) {
  throw Error(ErrorKind::kBadModel, file, std::move(where), std::move(reason));
}

[[noreturn]] void unsupported(const std::string& file, std::string where, std::string reason) {
  throw Error(ErrorKind::kUnsupported, file, std::move(where), std::move(reason));
}

// Little-endian reads from possibly unaligned bytes.
std::uint64_t read_le(const std::byte* p, std::size_t width) {
  std::uint64_t v = 0;
  for (std::size_t i = width; i-- > 0;) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

std::int32_t read_le_i32(const std::byte* p) {
  return static_cast<std::int32_t>(static_cast<std::uint32_t>(read_le(p, 4)));
}

ir::DType map_dtype(tflite::TensorType t) {
  using T = tflite::TensorType;
  switch (t) {
    case T::FLOAT32: return ir::DType::kFloat32;
    case T::FLOAT16: return ir::DType::kFloat16;
    case T::INT32: return ir::DType::kInt32;
    case T::UINT8: return ir::DType::kUInt8;
    case T::INT64: return ir::DType::kInt64;
    case T::STRING: return ir::DType::kString;
    case T::BOOL: return ir::DType::kBool;
    case T::INT16: return ir::DType::kInt16;
    case T::COMPLEX64: return ir::DType::kComplex64;
    case T::INT8: return ir::DType::kInt8;
    case T::FLOAT64: return ir::DType::kFloat64;
    case T::COMPLEX128: return ir::DType::kComplex128;
    case T::UINT64: return ir::DType::kUInt64;
    case T::UINT32: return ir::DType::kUInt32;
    case T::UINT16: return ir::DType::kUInt16;
    case T::INT4: return ir::DType::kInt4;
    case T::BFLOAT16: return ir::DType::kBFloat16;
    default: return ir::DType::kUnknown;  // RESOURCE, VARIANT, values newer than the schema
  }
}

// Bytes of `numel` dense elements; nullopt for types without a fixed size or on overflow.
std::optional<std::uint64_t> dense_bytes(ir::DType t, std::uint64_t numel) {
  const std::uint64_t bits = ir::dtype_bits(t);
  if (bits == 0) return std::nullopt;
  std::uint64_t total_bits = 0;
  if (__builtin_mul_overflow(numel, bits, &total_bits)) return std::nullopt;
  return total_bits / 8 + (total_bits % 8 != 0 ? 1 : 0);
}

std::string quoted(const flatbuffers::String* s) {
  return s ? "'" + s->str() + "'" : "''";
}

std::string builtin_name(std::int32_t code) {
  const char* name = tflite::EnumNameBuiltinOperator(static_cast<BuiltinOperator>(code));
  if (name == nullptr || *name == '\0') return "BUILTIN_" + std::to_string(code);
  return name;
}

// ---------------------------------------------------------------------------
// The importer
// ---------------------------------------------------------------------------

class TfliteImporter {
 public:
  TfliteImporter(std::span<const std::byte> bytes, std::string file, const ImportOptions& options)
      : bytes_(bytes), file_(std::move(file)), options_(options) {}

  ir::Graph run(ir::Graph graph);

 private:
  // One operator being translated.
  struct OpCtx {
    const tflite::Operator* op = nullptr;
    std::string where;  // "operator 3 (CONV_2D)"
    ir::Node& node;
  };

  void verify();
  void read_metadata();
  void read_tensors();
  void read_operators();
  void apply_input_shapes();

  std::span<const std::byte> buffer_data(std::uint32_t index, const std::string& where) const;
  std::span<const std::byte> custom_options(const OpCtx& c) const;
  int tensor_index(std::int32_t raw, int tensor_count, bool optional_allowed, const std::string& where,
                   const char* field, std::size_t position) const;

  void map_builtin(OpCtx& c, std::int32_t code);
  void map_custom(OpCtx& c, const std::string& custom_code);

  // Attribute helpers.
  void set_fused(OpCtx& c, tflite::ActivationFunctionType f) const;
  void require_inputs(const OpCtx& c, std::size_t n) const;
  const ir::Tensor* input_tensor(const OpCtx& c, std::size_t i) const;
  const ir::Tensor* output_tensor(const OpCtx& c, std::size_t i) const;
  std::optional<std::vector<std::int64_t>> constant_ints(const OpCtx& c, std::size_t input) const;
  void set_axes_from_input(OpCtx& c, std::size_t input, const char* attr) const;
  void set_window_attrs(OpCtx& c, bool transposed, tflite::Padding padding, std::int64_t stride_h,
                        std::int64_t stride_w, std::int64_t dil_h, std::int64_t dil_w,
                        std::optional<std::array<std::int64_t, 2>> kernel, const ir::Tensor* in,
                        const ir::Tensor* out) const;
  void map_conv_transpose(OpCtx& c, tflite::Padding padding, std::int64_t stride_h, std::int64_t stride_w) const;

  std::span<const std::byte> bytes_;
  std::string file_;
  const ImportOptions& options_;
  const tflite::Model* model_ = nullptr;
  const tflite::SubGraph* subgraph_ = nullptr;
  ir::Graph* graph_ = nullptr;
  std::map<std::string, int> unknown_ops_;  // source_op → node count
};

void TfliteImporter::verify() {
  if (bytes_.size() < 8) bad_model(file_, "file header", "too short to be a TFLite model");
  if (std::memcmp(bytes_.data() + 4, "TFL3", 4) != 0) {
    bad_model(file_, "file header", "missing the TFLite identifier \"TFL3\"");
  }
  // Models over 2 GiB keep their buffers after the flatbuffer (Buffer.offset); the
  // flatbuffer itself is always below the 2 GiB offset limit, so verify that prefix.
  const std::size_t limit = static_cast<std::size_t>(FLATBUFFERS_MAX_BUFFER_SIZE) - 1;
  const std::size_t size = std::min(bytes_.size(), limit);
  flatbuffers::Verifier::Options opts;
  opts.max_depth = 64;
  // Bound verification work by the file size: a hostile file can reference one
  // table many times, but never more than once per four bytes.
  opts.max_tables = static_cast<flatbuffers::uoffset_t>(std::clamp<std::size_t>(size / 4, 1'000'000, 0x7fffffff));
  flatbuffers::Verifier verifier(reinterpret_cast<const std::uint8_t*>(bytes_.data()), size, opts);
  if (!tflite::VerifyModelBuffer(verifier)) {
    bad_model(file_, "flatbuffer", "failed flatbuffers verification (truncated or corrupt file)");
  }
  model_ = tflite::GetModel(bytes_.data());
  if (model_->subgraphs() == nullptr || model_->subgraphs()->size() == 0) {
    bad_model(file_, "model.subgraphs", "the model has no subgraph");
  }
  subgraph_ = model_->subgraphs()->Get(0);
}

void TfliteImporter::read_metadata() {
  ir::GraphMetadata& meta = graph_->meta;
  meta.format = "tflite";
  meta.source_path = file_;
  meta.layout = ir::Layout::kNHWC;
  meta.opset = model_->version();
  if (model_->description()) meta.producer = model_->description()->str();
  if (subgraph_->name()) meta.graph_name = subgraph_->name()->str();
  const auto* subgraphs = model_->subgraphs();
  for (flatbuffers::uoffset_t i = 1; i < subgraphs->size(); ++i) {
    const tflite::SubGraph* sg = subgraphs->Get(i);
    if (sg->name() && sg->name()->size() > 0) {
      meta.other_subgraphs.push_back(sg->name()->str());
    } else {
      meta.other_subgraphs.push_back("subgraph " + std::to_string(i));
    }
  }
}

// The bytes of buffer `index`: its inline data, or for >2 GiB-style models the range
// [offset, offset+size) counted from the start of the file. Empty when it holds none.
std::span<const std::byte> TfliteImporter::buffer_data(std::uint32_t index, const std::string& where) const {
  const auto* buffers = model_->buffers();
  const std::size_t count = buffers ? buffers->size() : 0;
  if (index == 0 && count == 0) return {};  // buffer 0 is the empty sentinel
  if (index >= count) {
    bad_model(file_, where,
              "buffer index " + std::to_string(index) + " out of range (" + std::to_string(count) + " buffers)");
  }
  const tflite::Buffer* buffer = buffers->Get(index);
  if (buffer == nullptr) return {};
  if (buffer->data() && buffer->data()->size() > 0) {
    return {reinterpret_cast<const std::byte*>(buffer->data()->data()), buffer->data()->size()};
  }
  const std::uint64_t offset = buffer->offset();
  const std::uint64_t size = buffer->size();
  if (offset > 1) {
    if (size > bytes_.size() || offset > bytes_.size() - size) {
      bad_model(file_, where + " buffer " + std::to_string(index),
                "offset " + std::to_string(offset) + " + size " + std::to_string(size) + " lies outside the file (" +
                    std::to_string(bytes_.size()) + " bytes)");
    }
    return bytes_.subspan(static_cast<std::size_t>(offset), static_cast<std::size_t>(size));
  }
  return {};
}

// Checks one tensor reference `field[position]`; -1 (an omitted optional tensor) only
// where `optional_allowed`.
int TfliteImporter::tensor_index(std::int32_t raw, int tensor_count, bool optional_allowed, const std::string& where,
                                 const char* field, std::size_t position) const {
  if (raw == -1 && optional_allowed) return -1;
  if (raw < 0 || raw >= tensor_count) {
    bad_model(file_, where,
              std::string(field) + "[" + std::to_string(position) + "]: tensor index " + std::to_string(raw) +
                  " out of range (" + std::to_string(tensor_count) + " tensors)");
  }
  return raw;
}

void TfliteImporter::read_tensors() {
  const auto* tensors = subgraph_->tensors();
  const int count = tensors ? static_cast<int>(tensors->size()) : 0;
  if (tensors && tensors->size() > 0x7fffffffu) bad_model(file_, "subgraph 0", "too many tensors");

  // Graph inputs and outputs first: they decide the kinds.
  std::vector<char> is_input(count, 0), is_output(count, 0);
  if (subgraph_->inputs()) {
    for (flatbuffers::uoffset_t i = 0; i < subgraph_->inputs()->size(); ++i) {
      const int t = tensor_index(subgraph_->inputs()->Get(i), count, false, "subgraph 0", "inputs", i);
      is_input[t] = 1;
      graph_->inputs.push_back(t);
    }
  }
  if (subgraph_->outputs()) {
    for (flatbuffers::uoffset_t i = 0; i < subgraph_->outputs()->size(); ++i) {
      const int t = tensor_index(subgraph_->outputs()->Get(i), count, false, "subgraph 0", "outputs", i);
      is_output[t] = 1;
      graph_->outputs.push_back(t);
    }
  }

  graph_->tensors.reserve(count);
  for (int i = 0; i < count; ++i) {
    const tflite::Tensor* src = tensors->Get(i);
    const std::string where = "tensor " + std::to_string(i) + " " + quoted(src->name());
    ir::Tensor t;
    t.name = src->name() ? src->name()->str() : "tensor_" + std::to_string(i);
    t.dtype = map_dtype(src->type());

    if (src->shape()) {
      std::vector<std::int64_t> extents;
      extents.reserve(src->shape()->size());
      for (flatbuffers::uoffset_t d = 0; d < src->shape()->size(); ++d) {
        const std::int32_t v = src->shape()->Get(d);
        if (v < 0) {
          bad_model(file_, where, "shape dimension " + std::to_string(d) + " is negative (" + std::to_string(v) + ")");
        }
        extents.push_back(v);
      }
      t.shape = ir::Shape::of(extents);
      if (!t.shape.numel()) {
        bad_model(file_, where, "element count of shape " + t.shape.str() + " overflows 2^62");
      }
    }
    // A missing shape vector leaves the rank unknown (converters always write one,
    // an empty one for scalars).

    if (const auto* q = src->quantization()) {
      if (q->scale()) t.quant.scales.assign(q->scale()->begin(), q->scale()->end());
      // flatbuffers 2.0.8 verifies vectors to 4-byte alignment only: read the 8-byte
      // zero points with memcpy, never through a possibly misaligned pointer.
      if (const auto* zp = q->zero_point()) {
        const auto* raw = reinterpret_cast<const std::uint8_t*>(zp->Data());
        for (flatbuffers::uoffset_t k = 0; k < zp->size(); ++k) {
          std::int64_t v = 0;
          std::memcpy(&v, raw + 8 * static_cast<std::size_t>(k), sizeof v);
          t.quant.zero_points.push_back(v);
        }
      }
      t.quant.axis = q->quantized_dimension();
    }
    t.sparse = src->sparsity() != nullptr;

    t.data = buffer_data(src->buffer(), where);
    if (!t.data.empty()) {
      t.kind = ir::TensorKind::kConstant;
      // The dense payload must match the shape; sparse payloads hold only the
      // stored values, strings carry their own offsets.
      if (!t.sparse && t.shape.rank_known) {
        const auto expected = dense_bytes(t.dtype, *t.shape.numel());
        const bool int4_unpacked = t.dtype == ir::DType::kInt4 && t.data.size() == *t.shape.numel();
        if (expected && *expected != t.data.size() && !int4_unpacked) {
          bad_model(file_, where,
                    "buffer " + std::to_string(src->buffer()) + " holds " + std::to_string(t.data.size()) +
                        " bytes, shape " + t.shape.str() + " of " + std::string(ir::dtype_name(t.dtype)) + " needs " +
                        std::to_string(*expected));
        }
      }
    } else if (src->is_variable()) {
      // Persistent state (RNN/LSTM memories): read before written, owned by the model.
      t.kind = ir::TensorKind::kConstant;
    } else if (is_input[i]) {
      t.kind = ir::TensorKind::kInput;
    } else if (is_output[i]) {
      t.kind = ir::TensorKind::kOutput;
    }
    graph_->add_tensor(std::move(t));
  }
}

// custom_options bytes of the operator, inline or (>2 GiB models) from the file.
std::span<const std::byte> TfliteImporter::custom_options(const OpCtx& c) const {
  if (const auto* v = c.op->custom_options(); v && v->size() > 0) {
    return {reinterpret_cast<const std::byte*>(v->data()), v->size()};
  }
  const std::uint64_t offset = c.op->large_custom_options_offset();
  const std::uint64_t size = c.op->large_custom_options_size();
  if (offset > 1) {
    if (size > bytes_.size() || offset > bytes_.size() - size) {
      bad_model(file_, c.where,
                "large custom options at offset " + std::to_string(offset) + " + size " + std::to_string(size) +
                    " lie outside the file (" + std::to_string(bytes_.size()) + " bytes)");
    }
    return bytes_.subspan(static_cast<std::size_t>(offset), static_cast<std::size_t>(size));
  }
  return {};
}

void TfliteImporter::read_operators() {
  const auto* operators = subgraph_->operators();
  if (operators == nullptr) return;
  const auto* codes = model_->operator_codes();
  const std::size_t code_count = codes ? codes->size() : 0;
  const int tensor_count = static_cast<int>(graph_->tensors.size());
  graph_->nodes.reserve(operators->size());

  for (flatbuffers::uoffset_t i = 0; i < operators->size(); ++i) {
    const tflite::Operator* op = operators->Get(i);
    const std::uint32_t code_index = op->opcode_index();
    if (code_index >= code_count) {
      bad_model(file_, "operator " + std::to_string(i),
                "opcode_index " + std::to_string(code_index) + " out of range (" + std::to_string(code_count) +
                    " operator codes)");
    }
    const tflite::OperatorCode* code = codes->Get(code_index);
    // Files written before schema 2.5 only fill the byte-sized deprecated field.
    const std::int32_t builtin =
        std::max<std::int32_t>(code->deprecated_builtin_code(), static_cast<std::int32_t>(code->builtin_code()));
    const bool custom = builtin == static_cast<std::int32_t>(BuiltinOperator::CUSTOM);
    std::string source_op = builtin_name(builtin);
    if (custom) {
      source_op = code->custom_code() && code->custom_code()->size() > 0 ? code->custom_code()->str() : "CUSTOM";
    }

    ir::Node node;
    node.source_op = source_op;
    node.layout = ir::Layout::kNHWC;
    OpCtx c{op, "operator " + std::to_string(i) + " (" + source_op + ")", node};

    if (op->inputs()) {
      for (flatbuffers::uoffset_t k = 0; k < op->inputs()->size(); ++k) {
        node.inputs.push_back(tensor_index(op->inputs()->Get(k), tensor_count, true, c.where, "inputs", k));
      }
    }
    if (op->outputs()) {
      for (flatbuffers::uoffset_t k = 0; k < op->outputs()->size(); ++k) {
        node.outputs.push_back(tensor_index(op->outputs()->Get(k), tensor_count, true, c.where, "outputs", k));
      }
    }
    if (!node.outputs.empty() && node.outputs[0] >= 0) {
      node.name = graph_->tensors[node.outputs[0]].name;
    } else {
      node.name = "operator_" + std::to_string(i);
    }

    if (custom) {
      map_custom(c, source_op);
    } else {
      map_builtin(c, builtin);
    }
    if (node.op == ir::Op::Other) ++unknown_ops_[node.source_op];
    graph_->nodes.push_back(std::move(node));
  }
}

// ---------------------------------------------------------------------------
// Attribute helpers
// ---------------------------------------------------------------------------

void TfliteImporter::set_fused(OpCtx& c, tflite::ActivationFunctionType f) const {
  using A = tflite::ActivationFunctionType;
  switch (f) {
    case A::NONE: return;
    case A::RELU: c.node.attrs.set("fused_activation", std::string("relu")); return;
    case A::RELU_N1_TO_1: c.node.attrs.set("fused_activation", std::string("relu_n1_to_1")); return;
    case A::RELU6: c.node.attrs.set("fused_activation", std::string("relu6")); return;
    case A::TANH: c.node.attrs.set("fused_activation", std::string("tanh")); return;
    case A::SIGN_BIT: c.node.attrs.set("fused_activation", std::string("sign_bit")); return;
  }
  unsupported(file_, c.where, "unknown fused activation function " + std::to_string(static_cast<int>(f)));
}

void TfliteImporter::require_inputs(const OpCtx& c, std::size_t n) const {
  if (c.node.inputs.size() < n) {
    bad_model(file_, c.where,
              "expects at least " + std::to_string(n) + " inputs, has " + std::to_string(c.node.inputs.size()));
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (c.node.inputs[i] < 0) bad_model(file_, c.where, "required input " + std::to_string(i) + " is omitted");
  }
}

const ir::Tensor* TfliteImporter::input_tensor(const OpCtx& c, std::size_t i) const {
  if (i >= c.node.inputs.size() || c.node.inputs[i] < 0) return nullptr;
  return &graph_->tensors[c.node.inputs[i]];
}

const ir::Tensor* TfliteImporter::output_tensor(const OpCtx& c, std::size_t i) const {
  if (i >= c.node.outputs.size() || c.node.outputs[i] < 0) return nullptr;
  return &graph_->tensors[c.node.outputs[i]];
}

// Values of a small constant INT32/INT64 input (axes, perms); nullopt otherwise.
std::optional<std::vector<std::int64_t>> TfliteImporter::constant_ints(const OpCtx& c, std::size_t input) const {
  const ir::Tensor* t = input_tensor(c, input);
  if (t == nullptr || !t->is_constant() || t->sparse || !t->shape.rank_known) return std::nullopt;
  const std::size_t width = t->dtype == ir::DType::kInt32 ? 4 : t->dtype == ir::DType::kInt64 ? 8 : 0;
  const auto n = t->shape.numel();
  if (width == 0 || !n || *n > 1024 || t->data.size() != *n * width) return std::nullopt;
  std::vector<std::int64_t> values;
  values.reserve(*n);
  for (std::uint64_t k = 0; k < *n; ++k) {
    const std::uint64_t raw = read_le(t->data.data() + k * width, width);
    values.push_back(width == 4 ? static_cast<std::int32_t>(static_cast<std::uint32_t>(raw))
                                : static_cast<std::int64_t>(raw));
  }
  return values;
}

void TfliteImporter::set_axes_from_input(OpCtx& c, std::size_t input, const char* attr) const {
  if (auto axes = constant_ints(c, input)) c.node.attrs.set(attr, std::move(*axes));
}

// Explicit pads of one spatial axis. For a convolution `in` is the input extent and
// `out` the output; for a transposed convolution the roles swap (the small side is
// what the equivalent convolution would produce).
std::array<std::int64_t, 2> axis_pads(const std::string& file, const std::string& where, tflite::Padding padding,
                                      std::int64_t in, std::int64_t out, std::int64_t k, std::int64_t stride,
                                      std::int64_t dil) {
  if (padding == tflite::Padding::VALID) return {0, 0};
  // SAME: total = max((out-1)*stride + (k-1)*dil + 1 - in, 0).
  std::int64_t span = 0, reach = 0, total = 0;
  if (out < 1) return {0, 0};
  if (__builtin_mul_overflow(out - 1, stride, &span) || __builtin_mul_overflow(k - 1, dil, &reach) ||
      __builtin_add_overflow(span, reach, &total) || __builtin_add_overflow(total, 1, &total) ||
      __builtin_sub_overflow(total, in, &total)) {
    bad_model(file, where, "padding computation overflows");
  }
  total = std::max<std::int64_t>(total, 0);
  return {total / 2, total - total / 2};
}

// kernel_shape, strides, dilations and pads of a 2-D window op on NHWC tensors.
void TfliteImporter::set_window_attrs(OpCtx& c, bool transposed, tflite::Padding padding, std::int64_t stride_h,
                                      std::int64_t stride_w, std::int64_t dil_h, std::int64_t dil_w,
                                      std::optional<std::array<std::int64_t, 2>> kernel, const ir::Tensor* in,
                                      const ir::Tensor* out) const {
  if (padding != tflite::Padding::SAME && padding != tflite::Padding::VALID) {
    bad_model(file_, c.where, "unknown padding " + std::to_string(static_cast<int>(padding)));
  }
  if (stride_h < 1 || stride_w < 1) {
    bad_model(
        file_, c.where,
        "strides must be >= 1 (stride_h " + std::to_string(stride_h) + ", stride_w " + std::to_string(stride_w) + ")");
  }
  if (dil_h < 1 || dil_w < 1) {
    bad_model(
        file_, c.where,
        "dilations must be >= 1 (dilation_h " + std::to_string(dil_h) + ", dilation_w " + std::to_string(dil_w) + ")");
  }
  if (kernel && ((*kernel)[0] < 1 || (*kernel)[1] < 1)) {
    bad_model(file_, c.where,
              "kernel size must be >= 1 (" + std::to_string((*kernel)[0]) + "x" + std::to_string((*kernel)[1]) + ")");
  }
  ir::Attributes& a = c.node.attrs;
  a.set("strides", std::vector<std::int64_t>{stride_h, stride_w});
  a.set("dilations", std::vector<std::int64_t>{dil_h, dil_w});
  if (kernel) a.set("kernel_shape", std::vector<std::int64_t>{(*kernel)[0], (*kernel)[1]});

  if (padding == tflite::Padding::VALID) {
    a.set("pads", std::vector<std::int64_t>{0, 0, 0, 0});
    return;
  }
  auto hw = [](const ir::Tensor* t) -> std::optional<std::array<std::int64_t, 2>> {
    if (t == nullptr || !t->shape.is_static() || t->shape.rank() != 4) return std::nullopt;
    return std::array<std::int64_t, 2>{t->shape.dims[1].value, t->shape.dims[2].value};
  };
  auto in_hw = hw(in);
  auto out_hw = hw(out);
  if (!kernel || !in_hw) return;  // pads stay unknown; costs fall back on shapes
  if (!out_hw && !transposed) {
    // TFLite SAME output extent: ceil(in / stride).
    out_hw =
        std::array<std::int64_t, 2>{((*in_hw)[0] + stride_h - 1) / stride_h, ((*in_hw)[1] + stride_w - 1) / stride_w};
  }
  if (!out_hw) return;
  // For the transposed op the equivalent convolution maps the big output to the small input.
  const auto big = transposed ? *out_hw : *in_hw;
  const auto small = transposed ? *in_hw : *out_hw;
  const auto ph = axis_pads(file_, c.where, padding, big[0], small[0], (*kernel)[0], stride_h, dil_h);
  const auto pw = axis_pads(file_, c.where, padding, big[1], small[1], (*kernel)[1], stride_w, dil_w);
  a.set("pads", std::vector<std::int64_t>{ph[0], pw[0], ph[1], pw[1]});
}

// Kernel (H, W) of an OHWI / 1HWO filter tensor.
std::optional<std::array<std::int64_t, 2>> filter_hw(const ir::Tensor* w) {
  if (w == nullptr || !w->shape.is_static() || w->shape.rank() != 4) return std::nullopt;
  return std::array<std::int64_t, 2>{w->shape.dims[1].value, w->shape.dims[2].value};
}

std::optional<std::int64_t> channels_last(const ir::Tensor* t) {
  if (t == nullptr || !t->shape.is_static() || t->shape.rank() != 4) return std::nullopt;
  return t->shape.dims[3].value;
}

// Shared by TRANSPOSE_CONV and MediaPipe's Convolution2DTransposeBias once the inputs
// are in canonical order [input, weights(OHWI), bias|-1, ...].
void TfliteImporter::map_conv_transpose(OpCtx& c, tflite::Padding padding, std::int64_t stride_h,
                                        std::int64_t stride_w) const {
  c.node.op = ir::Op::ConvTranspose;
  set_window_attrs(c, true, padding, stride_h, stride_w, 1, 1, filter_hw(input_tensor(c, 1)), input_tensor(c, 0),
                   output_tensor(c, 0));
  c.node.attrs.set("group", std::int64_t{1});
  c.node.attrs.set("weight_layout", std::string("OHWI"));
}

// ---------------------------------------------------------------------------
// Op mapping
// ---------------------------------------------------------------------------

// Builtins whose mapping is the op alone (any options are irrelevant to cost).
std::optional<ir::Op> simple_op(BuiltinOperator b) {
  using B = BuiltinOperator;
  using O = ir::Op;
  switch (b) {
    case B::MAXIMUM: return O::Max;
    case B::MINIMUM: return O::Min;
    case B::POW: return O::Pow;
    case B::SQUARED_DIFFERENCE: return O::SquaredDifference;
    case B::FLOOR_DIV: return O::FloorDiv;
    case B::FLOOR_MOD: return O::Mod;
    case B::EQUAL: return O::Equal;
    case B::NOT_EQUAL: return O::NotEqual;
    case B::GREATER: return O::Greater;
    case B::GREATER_EQUAL: return O::GreaterOrEqual;
    case B::LESS: return O::Less;
    case B::LESS_EQUAL: return O::LessOrEqual;
    case B::LOGICAL_AND: return O::And;
    case B::LOGICAL_OR: return O::Or;
    case B::LOGICAL_NOT: return O::Not;
    case B::SELECT:
    case B::SELECT_V2: return O::Where;
    case B::ADD_N: return O::Sum;
    case B::RELU: return O::Relu;
    case B::LOGISTIC: return O::Sigmoid;
    case B::HARD_SWISH: return O::HardSwish;
    case B::TANH: return O::Tanh;
    case B::PRELU: return O::PRelu;
    case B::ELU: return O::Elu;
    case B::ABS: return O::Abs;
    case B::NEG: return O::Neg;
    case B::SQRT: return O::Sqrt;
    case B::RSQRT: return O::Rsqrt;
    case B::SQUARE: return O::Square;
    case B::EXP: return O::Exp;
    case B::LOG: return O::Log;
    case B::SIN: return O::Sin;
    case B::COS: return O::Cos;
    case B::FLOOR: return O::Floor;
    case B::CEIL: return O::Ceil;
    case B::ROUND: return O::Round;
    case B::SIGN: return O::Sign;
    case B::RESHAPE: return O::Reshape;
    case B::TILE: return O::Tile;
    case B::BROADCAST_TO: return O::Expand;
    case B::BATCH_TO_SPACE_ND: return O::BatchToSpace;
    case B::SPACE_TO_BATCH_ND: return O::SpaceToBatch;
    case B::GATHER_ND: return O::GatherND;
    case B::SCATTER_ND: return O::ScatterND;
    case B::SLICE: return O::Slice;
    case B::DEQUANTIZE: return O::Dequantize;
    case B::QUANTIZE: return O::Quantize;
    case B::DENSIFY: return O::Densify;
    case B::CAST: return O::Cast;
    case B::SHAPE: return O::Shape;
    case B::FILL:
    case B::ZEROS_LIKE: return O::ConstantOfShape;
    case B::RANGE: return O::Range;
    case B::TOPK_V2: return O::TopK;
    case B::UNIQUE: return O::Unique;
    case B::WHERE: return O::NonZero;
    case B::IF: return O::If;
    case B::WHILE: return O::Loop;
    default: return std::nullopt;
  }
}

void TfliteImporter::map_builtin(OpCtx& c, std::int32_t code) {
  using B = BuiltinOperator;
  using O = ir::Op;
  const auto b = static_cast<B>(code);
  const tflite::Operator* op = c.op;
  ir::Attributes& a = c.node.attrs;
  auto set_int = [&](const char* name, std::int64_t v) { a.set(name, v); };
  auto set_float = [&](const char* name, double v) { a.set(name, v); };
  auto set_str = [&](const char* name, const char* v) { a.set(name, std::string(v)); };

  if (auto simple = simple_op(b)) {
    c.node.op = *simple;
    return;
  }
  switch (b) {
    case B::CONV_2D: {
      const auto* o = op->builtin_options_as_Conv2DOptions();
      if (o == nullptr) bad_model(file_, c.where, "missing Conv2DOptions");
      require_inputs(c, 2);
      c.node.op = O::Conv;
      const ir::Tensor* in = input_tensor(c, 0);
      const ir::Tensor* w = input_tensor(c, 1);
      set_window_attrs(c, false, o->padding(), o->stride_h(), o->stride_w(), o->dilation_h_factor(),
                       o->dilation_w_factor(), filter_hw(w), in, output_tensor(c, 0));
      std::int64_t group = 1;
      const auto cin = channels_last(in);
      const auto wi = channels_last(w);
      if (cin && wi) {
        if (*wi <= 0 || *cin % *wi != 0) {
          bad_model(file_, c.where,
                    "input channels " + std::to_string(*cin) + " are not a multiple of filter channels " +
                        std::to_string(*wi));
        }
        group = *cin / *wi;
      }
      set_int("group", group);
      set_str("weight_layout", "OHWI");
      set_fused(c, o->fused_activation_function());
      return;
    }
    case B::DEPTHWISE_CONV_2D: {
      const auto* o = op->builtin_options_as_DepthwiseConv2DOptions();
      if (o == nullptr) bad_model(file_, c.where, "missing DepthwiseConv2DOptions");
      require_inputs(c, 2);
      c.node.op = O::Conv;
      const ir::Tensor* in = input_tensor(c, 0);
      set_window_attrs(c, false, o->padding(), o->stride_h(), o->stride_w(), o->dilation_h_factor(),
                       o->dilation_w_factor(), filter_hw(input_tensor(c, 1)), in, output_tensor(c, 0));
      const auto cin = channels_last(in);
      set_int("group", cin ? *cin : 1);
      set_int("depth_multiplier", o->depth_multiplier());
      set_str("weight_layout", "1HWO");
      set_fused(c, o->fused_activation_function());
      return;
    }
    case B::TRANSPOSE_CONV: {
      const auto* o = op->builtin_options_as_TransposeConvOptions();
      if (o == nullptr) bad_model(file_, c.where, "missing TransposeConvOptions");
      // File order: [output_shape, weights, input, bias?] → [input, weights, bias|-1, output_shape].
      if (c.node.inputs.size() < 3) {
        bad_model(file_, c.where, "expects at least 3 inputs, has " + std::to_string(c.node.inputs.size()));
      }
      const auto& in = c.node.inputs;
      if (in[0] < 0 || in[1] < 0 || in[2] < 0) {
        bad_model(file_, c.where, "output_shape, weights and input must be present");
      }
      c.node.inputs = {in[2], in[1], in.size() > 3 ? in[3] : -1, in[0]};
      map_conv_transpose(c, o->padding(), o->stride_h(), o->stride_w());
      set_fused(c, o->fused_activation_function());
      return;
    }
    case B::FULLY_CONNECTED: {
      c.node.op = O::FullyConnected;
      require_inputs(c, 2);
      if (const auto* o = op->builtin_options_as_FullyConnectedOptions()) {
        set_int("keep_num_dims", o->keep_num_dims() ? 1 : 0);
        set_fused(c, o->fused_activation_function());
      } else {
        set_int("keep_num_dims", 0);
      }
      set_str("weight_layout", "OI");
      return;
    }
    case B::ADD:
      c.node.op = O::Add;
      if (const auto* o = op->builtin_options_as_AddOptions()) set_fused(c, o->fused_activation_function());
      return;
    case B::SUB:
      c.node.op = O::Sub;
      if (const auto* o = op->builtin_options_as_SubOptions()) set_fused(c, o->fused_activation_function());
      return;
    case B::MUL:
      c.node.op = O::Mul;
      if (const auto* o = op->builtin_options_as_MulOptions()) set_fused(c, o->fused_activation_function());
      return;
    case B::DIV:
      c.node.op = O::Div;
      if (const auto* o = op->builtin_options_as_DivOptions()) set_fused(c, o->fused_activation_function());
      return;
    case B::RELU6:
      c.node.op = O::Clip;
      set_float("min", 0.0);
      set_float("max", 6.0);
      return;
    case B::RELU_N1_TO_1:
      c.node.op = O::Clip;
      set_float("min", -1.0);
      set_float("max", 1.0);
      return;
    case B::RELU_0_TO_1:
      c.node.op = O::Clip;
      set_float("min", 0.0);
      set_float("max", 1.0);
      return;
    case B::LEAKY_RELU:
      c.node.op = O::LeakyRelu;
      if (const auto* o = op->builtin_options_as_LeakyReluOptions()) set_float("alpha", o->alpha());
      return;
    case B::GELU:
      c.node.op = O::Gelu;
      if (const auto* o = op->builtin_options_as_GeluOptions()) set_int("approximate", o->approximate() ? 1 : 0);
      return;
    case B::SOFTMAX:
      c.node.op = O::Softmax;
      set_int("axis", -1);
      if (const auto* o = op->builtin_options_as_SoftmaxOptions()) set_float("beta", o->beta());
      return;
    case B::LOG_SOFTMAX:
      c.node.op = O::LogSoftmax;
      set_int("axis", -1);
      return;
    case B::MAX_POOL_2D:
    case B::AVERAGE_POOL_2D:
    case B::L2_POOL_2D: {
      const auto* o = op->builtin_options_as_Pool2DOptions();
      if (o == nullptr) bad_model(file_, c.where, "missing Pool2DOptions");
      require_inputs(c, 1);
      c.node.op = b == B::MAX_POOL_2D ? O::MaxPool : b == B::AVERAGE_POOL_2D ? O::AveragePool : O::LpPool;
      set_window_attrs(c, false, o->padding(), o->stride_h(), o->stride_w(), 1, 1,
                       std::array<std::int64_t, 2>{o->filter_height(), o->filter_width()}, input_tensor(c, 0),
                       output_tensor(c, 0));
      if (b == B::L2_POOL_2D) set_int("p", 2);
      set_fused(c, o->fused_activation_function());
      return;
    }
    case B::MEAN:
    case B::SUM:
    case B::REDUCE_MAX:
    case B::REDUCE_MIN:
    case B::REDUCE_PROD: {
      c.node.op = b == B::MEAN         ? O::ReduceMean
                  : b == B::SUM        ? O::ReduceSum
                  : b == B::REDUCE_MAX ? O::ReduceMax
                  : b == B::REDUCE_MIN ? O::ReduceMin
                                       : O::ReduceProd;
      set_axes_from_input(c, 1, "axes");
      const auto* o = op->builtin_options_as_ReducerOptions();
      set_int("keepdims", o && o->keep_dims() ? 1 : 0);
      return;
    }
    case B::ARG_MAX:
    case B::ARG_MIN: {
      c.node.op = b == B::ARG_MAX ? O::ArgMax : O::ArgMin;
      if (auto axis = constant_ints(c, 1); axis && axis->size() == 1) set_int("axis", (*axis)[0]);
      set_int("keepdims", 0);
      return;
    }
    case B::SQUEEZE: {
      c.node.op = O::Squeeze;
      if (const auto* o = op->builtin_options_as_SqueezeOptions(); o && o->squeeze_dims()) {
        a.set("axes", std::vector<std::int64_t>(o->squeeze_dims()->begin(), o->squeeze_dims()->end()));
      }
      return;
    }
    case B::EXPAND_DIMS:
      c.node.op = O::Unsqueeze;
      set_axes_from_input(c, 1, "axes");
      return;
    case B::TRANSPOSE:
      c.node.op = O::Transpose;
      set_axes_from_input(c, 1, "perm");
      return;
    case B::CONCATENATION: {
      c.node.op = O::Concat;
      if (const auto* o = op->builtin_options_as_ConcatenationOptions()) {
        set_int("axis", o->axis());
        set_fused(c, o->fused_activation_function());
      }
      return;
    }
    case B::PACK:
      c.node.op = O::Pack;
      if (const auto* o = op->builtin_options_as_PackOptions()) {
        set_int("axis", o->axis());
        set_int("values_count", o->values_count());
      }
      return;
    case B::UNPACK:
      c.node.op = O::Unpack;
      if (const auto* o = op->builtin_options_as_UnpackOptions()) {
        set_int("axis", o->axis());
        set_int("num", o->num());
      }
      return;
    case B::SPLIT: {
      // File order [axis, input] → [input, axis] so the data comes first.
      c.node.op = O::Split;
      require_inputs(c, 2);
      if (auto axis = constant_ints(c, 0); axis && axis->size() == 1) set_int("axis", (*axis)[0]);
      std::swap(c.node.inputs[0], c.node.inputs[1]);
      if (const auto* o = op->builtin_options_as_SplitOptions()) set_int("num_outputs", o->num_splits());
      return;
    }
    case B::SPLIT_V: {
      c.node.op = O::Split;  // [input, size_splits, axis]
      if (auto axis = constant_ints(c, 2); axis && axis->size() == 1) set_int("axis", (*axis)[0]);
      if (const auto* o = op->builtin_options_as_SplitVOptions()) set_int("num_outputs", o->num_splits());
      return;
    }
    case B::STRIDED_SLICE:
      c.node.op = O::Slice;
      if (const auto* o = op->builtin_options_as_StridedSliceOptions()) {
        set_int("begin_mask", o->begin_mask());
        set_int("end_mask", o->end_mask());
        set_int("ellipsis_mask", o->ellipsis_mask());
        set_int("new_axis_mask", o->new_axis_mask());
        set_int("shrink_axis_mask", o->shrink_axis_mask());
      }
      return;
    case B::GATHER:
      c.node.op = O::Gather;
      if (const auto* o = op->builtin_options_as_GatherOptions()) {
        set_int("axis", o->axis());
        set_int("batch_dims", o->batch_dims());
      }
      return;
    case B::PAD:
    case B::PADV2:
      c.node.op = O::Pad;
      set_str("mode", "constant");
      return;
    case B::MIRROR_PAD: {
      c.node.op = O::Pad;
      const auto* o = op->builtin_options_as_MirrorPadOptions();
      set_str("mode", o && o->mode() == tflite::MirrorPadMode::SYMMETRIC ? "symmetric" : "reflect");
      return;
    }
    case B::DEPTH_TO_SPACE:
      c.node.op = O::DepthToSpace;
      set_str("mode", "DCR");
      if (const auto* o = op->builtin_options_as_DepthToSpaceOptions()) set_int("blocksize", o->block_size());
      return;
    case B::SPACE_TO_DEPTH:
      c.node.op = O::SpaceToDepth;
      if (const auto* o = op->builtin_options_as_SpaceToDepthOptions()) set_int("blocksize", o->block_size());
      return;
    case B::RESIZE_BILINEAR: {
      c.node.op = O::Resize;
      set_str("mode", "linear");
      const auto* o = op->builtin_options_as_ResizeBilinearOptions();
      const bool align = o && o->align_corners();
      const bool half = o && o->half_pixel_centers();
      set_int("align_corners", align ? 1 : 0);
      set_int("half_pixel_centers", half ? 1 : 0);
      set_str("coordinate_transformation_mode", align ? "align_corners" : half ? "half_pixel" : "asymmetric");
      return;
    }
    case B::RESIZE_NEAREST_NEIGHBOR: {
      c.node.op = O::Resize;
      set_str("mode", "nearest");
      const auto* o = op->builtin_options_as_ResizeNearestNeighborOptions();
      const bool align = o && o->align_corners();
      const bool half = o && o->half_pixel_centers();
      set_int("align_corners", align ? 1 : 0);
      set_int("half_pixel_centers", half ? 1 : 0);
      set_str("coordinate_transformation_mode", align ? "align_corners" : half ? "tf_half_pixel_for_nn" : "asymmetric");
      return;
    }
    case B::BATCH_MATMUL:
      c.node.op = O::MatMul;
      if (const auto* o = op->builtin_options_as_BatchMatMulOptions()) {
        set_int("adj_x", o->adj_x() ? 1 : 0);
        set_int("adj_y", o->adj_y() ? 1 : 0);
      }
      return;
    case B::L2_NORMALIZATION:
      c.node.op = O::LpNormalization;
      set_int("p", 2);
      set_int("axis", -1);
      if (const auto* o = op->builtin_options_as_L2NormOptions()) set_fused(c, o->fused_activation_function());
      return;
    case B::LOCAL_RESPONSE_NORMALIZATION:
      c.node.op = O::LRN;
      if (const auto* o = op->builtin_options_as_LocalResponseNormalizationOptions()) {
        // ONNX form: size = 2*radius+1 and alpha divided by size inside the op.
        const std::int64_t size = 2 * static_cast<std::int64_t>(o->radius()) + 1;
        set_int("size", size);
        set_float("alpha", static_cast<double>(o->alpha()) * static_cast<double>(size));
        set_float("beta", o->beta());
        set_float("bias", o->bias());
      }
      return;
    case B::CUMSUM:
      c.node.op = O::CumSum;
      if (const auto* o = op->builtin_options_as_CumsumOptions()) {
        set_int("exclusive", o->exclusive() ? 1 : 0);
        set_int("reverse", o->reverse() ? 1 : 0);
      }
      return;
    case B::ONE_HOT:
      c.node.op = O::OneHot;
      if (const auto* o = op->builtin_options_as_OneHotOptions()) set_int("axis", o->axis());
      return;
    case B::REVERSE_SEQUENCE:
      c.node.op = O::ReverseSequence;
      if (const auto* o = op->builtin_options_as_ReverseSequenceOptions()) {
        set_int("time_axis", o->seq_dim());
        set_int("batch_axis", o->batch_dim());
      }
      return;
    default: c.node.op = O::Other; return;
  }
}

void TfliteImporter::map_custom(OpCtx& c, const std::string& custom_code) {
  if (custom_code == "Convolution2DTransposeBias") {
    // MediaPipe's transposed convolution: inputs [input, weights(OHWI), bias]; the
    // options are a raw TfLiteTransposeConvParams {int32 padding (1 SAME, 2 VALID),
    // int32 stride_width, int32 stride_height}, little-endian.
    require_inputs(c, 2);
    const auto opts = custom_options(c);
    if (opts.size() != 12) {
      bad_model(file_, c.where,
                "custom options are " + std::to_string(opts.size()) +
                    " bytes; expected 12 (padding, stride_width, stride_height as int32)");
    }
    const std::int32_t padding = read_le_i32(opts.data());
    const std::int32_t stride_w = read_le_i32(opts.data() + 4);
    const std::int32_t stride_h = read_le_i32(opts.data() + 8);
    if (padding != 1 && padding != 2) {
      bad_model(file_, c.where,
                "custom options padding " + std::to_string(padding) + " is neither 1 (SAME) nor 2 (VALID)");
    }
    c.node.inputs.resize(std::max<std::size_t>(c.node.inputs.size(), 3), -1);
    map_conv_transpose(c, padding == 1 ? tflite::Padding::SAME : tflite::Padding::VALID, stride_h, stride_w);
    return;
  }
  c.node.op = ir::Op::Other;
}

void TfliteImporter::apply_input_shapes() {
  if (options_.input_shapes.empty()) return;
  for (const auto& [name, dims] : options_.input_shapes) {
    int found = -1;
    for (int id : graph_->inputs) {
      if (graph_->tensors[id].name == name) found = id;
    }
    if (found < 0) {
      std::string names;
      for (int id : graph_->inputs) {
        names += (names.empty() ? "" : ", ") + ("'" + graph_->tensors[id].name + "'");
      }
      throw Error(
          ErrorKind::kInvalidArgument, file_, "--input-shape '" + name + "'",
          "the model has no input of that name; its inputs are " + (names.empty() ? std::string("(none)") : names));
    }
    ir::Tensor& t = graph_->tensors[found];
    if (t.shape.rank_known && t.shape.rank() != dims.size()) {
      throw Error(ErrorKind::kInvalidArgument, file_, "--input-shape '" + name + "'",
                  "has rank " + std::to_string(dims.size()) + " but the input has shape " + t.shape.str() + " (rank " +
                      std::to_string(t.shape.rank()) + ")");
    }
    ir::Shape shape = ir::Shape::of(dims);
    if (!shape.numel()) {
      throw Error(ErrorKind::kInvalidArgument, file_, "--input-shape '" + name + "'", "element count overflows 2^62");
    }
    t.shape = std::move(shape);
  }
  graph_->meta.warnings.push_back(
      "input shapes were overridden; TFLite static shapes downstream of the inputs are not "
      "re-inferred");
}

ir::Graph TfliteImporter::run(ir::Graph graph) {
  graph_ = &graph;
  verify();
  read_metadata();
  read_tensors();
  read_operators();
  apply_input_shapes();
  for (const auto& [name, count] : unknown_ops_) {
    graph.meta.warnings.push_back("unknown op " + name + " (" + std::to_string(count) + " nodes)");
  }
  graph.finalize(file_);
  ir::validate(graph, file_);
  return graph;
}

}  // namespace

ir::Graph load_tflite_bytes(std::span<const std::byte> bytes, const std::string& name, const ImportOptions& options) {
  ir::Graph graph;
  // Flatbuffer accessors read scalars in place: the buffer must start 8-byte aligned
  // (offsets inside it are verified relative to its start). A misaligned caller
  // buffer is copied once into storage the graph owns.
  if (reinterpret_cast<std::uintptr_t>(bytes.data()) % 8 != 0) {
    bytes = graph.own(std::vector<std::byte>(bytes.begin(), bytes.end()));
  }
  return TfliteImporter(bytes, name, options).run(std::move(graph));
}

ir::Graph load_tflite(const std::filesystem::path& path, const ImportOptions& options) {
  auto file = std::make_shared<const base::MappedFile>(path);
  ir::Graph graph;
  graph.retain(file);
  return TfliteImporter(file->bytes(), path.string(), options).run(std::move(graph));
}

}  // namespace infercast::import
