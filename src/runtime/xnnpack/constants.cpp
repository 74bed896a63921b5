// Constant tensors as float32: dtype conversion (fp16 through XNNPACK's convert
// operator), and TFLite sparse tensors densified from the file's SparsityParameters.
#include <algorithm>
#include <cstring>
#include <mutex>

#include "flatbuffers/flatbuffers.h"
#include "infercast/base/mapped_file.hpp"
#include "runtime/xnnpack/builder.hpp"
#include "tflite_generated.h"

namespace infercast::runtime::xnnpack {

void initialize_xnnpack() {
  static std::once_flag once;
  static xnn_status status = xnn_status_uninitialized;
  std::call_once(once, [] { status = xnn_initialize(nullptr); });
  if (status != xnn_status_success) {
    throw Error(ErrorKind::kUnsupported, "", "XNNPACK",
                status == xnn_status_unsupported_hardware ? "xnn_initialize: this CPU is not supported"
                                                          : "xnn_initialize failed");
  }
}

std::vector<float> half_to_float(std::span<const std::uint16_t> half) {
  initialize_xnnpack();
  std::vector<float> out(half.size());
  if (half.empty()) return out;
  std::vector<std::uint16_t> padded(half.size() + XNN_EXTRA_BYTES / 2);
  std::copy(half.begin(), half.end(), padded.begin());
  xnn_operator_t op = nullptr;
  xnn_status s = xnn_create_convert_nc_f16_f32(1, 1, 1, 0, &op);
  XnnOp owned(op);
  if (s == xnn_status_success) s = xnn_setup_convert_nc_f16_f32(op, half.size(), padded.data(), out.data(), nullptr);
  if (s == xnn_status_success) s = xnn_run_operator(op, nullptr);
  if (s != xnn_status_success) throw Error(ErrorKind::kUnsupported, "", "XNNPACK", "fp16 to fp32 conversion failed");
  return out;
}

namespace {

// Element values of a TFLite sparse tensor in file order, as float.
std::vector<float> values_as_float(std::span<const std::byte> data, ir::DType dtype) {
  std::vector<float> out;
  if (dtype == ir::DType::kFloat32) {
    out.resize(data.size() / 4);
    std::memcpy(out.data(), data.data(), out.size() * 4);
  } else if (dtype == ir::DType::kFloat16) {
    std::vector<std::uint16_t> h(data.size() / 2);
    std::memcpy(h.data(), data.data(), h.size() * 2);
    out = half_to_float(h);
  }
  return out;
}

struct IndexArray {
  const tflite::DimensionMetadata* meta;
  bool segments;
  std::size_t size() const {
    const auto type = segments ? meta->array_segments_type() : meta->array_indices_type();
    switch (type) {
      case tflite::SparseIndexVector::Int32Vector: {
        const auto* v = segments ? meta->array_segments_as_Int32Vector() : meta->array_indices_as_Int32Vector();
        return v && v->values() ? v->values()->size() : 0;
      }
      case tflite::SparseIndexVector::Uint16Vector: {
        const auto* v = segments ? meta->array_segments_as_Uint16Vector() : meta->array_indices_as_Uint16Vector();
        return v && v->values() ? v->values()->size() : 0;
      }
      case tflite::SparseIndexVector::Uint8Vector: {
        const auto* v = segments ? meta->array_segments_as_Uint8Vector() : meta->array_indices_as_Uint8Vector();
        return v && v->values() ? v->values()->size() : 0;
      }
      default: return 0;
    }
  }
  std::int64_t at(std::size_t i) const {
    const auto type = segments ? meta->array_segments_type() : meta->array_indices_type();
    switch (type) {
      case tflite::SparseIndexVector::Int32Vector:
        return (segments ? meta->array_segments_as_Int32Vector() : meta->array_indices_as_Int32Vector())
            ->values()
            ->Get(static_cast<flatbuffers::uoffset_t>(i));
      case tflite::SparseIndexVector::Uint16Vector:
        return (segments ? meta->array_segments_as_Uint16Vector() : meta->array_indices_as_Uint16Vector())
            ->values()
            ->Get(static_cast<flatbuffers::uoffset_t>(i));
      case tflite::SparseIndexVector::Uint8Vector:
        return (segments ? meta->array_segments_as_Uint8Vector() : meta->array_indices_as_Uint8Vector())
            ->values()
            ->Get(static_cast<flatbuffers::uoffset_t>(i));
      default: return 0;
    }
  }
};

// Reads the SparsityParameters of `tensor` from the model file and densifies it.
// `problem` gets why it cannot (and the result is empty) when `dry_run` or on error.
class Densifier {
 public:
  Densifier(const ir::Graph& graph, int tensor) : graph_(graph), tensor_(tensor) {}

  std::string problem() { return run(nullptr); }
  std::vector<float> densify() {
    std::vector<float> dense;
    const std::string why = run(&dense);
    if (!why.empty()) {
      throw Error(ErrorKind::kUnsupported, graph_.meta.source_path, "tensor '" + graph_.tensors[tensor_].name + "'",
                  why);
    }
    return dense;
  }

 private:
  std::string run(std::vector<float>* dense) {
    const ir::Tensor& t = graph_.tensors[tensor_];
    if (graph_.meta.format != "tflite") return "sparse " + graph_.meta.format + " tensors are not densified";
    if (t.dtype != ir::DType::kFloat32 && t.dtype != ir::DType::kFloat16) {
      return "sparse " + std::string(ir::dtype_name(t.dtype)) + " tensors are not densified";
    }
    if (!t.shape.is_static()) return "sparse tensor without a static shape";
    std::unique_ptr<base::MappedFile> file;
    try {
      file = std::make_unique<base::MappedFile>(graph_.meta.source_path);
    } catch (const Error& e) {
      return "its sparsity parameters are read from the model file, which cannot be opened: " + e.reason();
    }
    const auto bytes = file->bytes();
    flatbuffers::Verifier::Options opts;
    opts.max_depth = 64;
    opts.max_tables = 0x7fffffff;
    const std::size_t size = std::min<std::size_t>(bytes.size(), FLATBUFFERS_MAX_BUFFER_SIZE - 1);
    flatbuffers::Verifier verifier(reinterpret_cast<const std::uint8_t*>(bytes.data()), size, opts);
    if (bytes.size() < 8 || !tflite::VerifyModelBuffer(verifier)) return "the model file no longer verifies";
    const tflite::Model* model = tflite::GetModel(bytes.data());
    const auto* tensors = model->subgraphs()->Get(0)->tensors();
    if (tensors == nullptr || static_cast<std::size_t>(tensor_) >= tensors->size()) return "tensor not in the file";
    const tflite::Tensor* ft = tensors->Get(static_cast<flatbuffers::uoffset_t>(tensor_));
    if (ft->name() == nullptr || ft->name()->str() != t.name) return "the model file changed since it was loaded";
    const tflite::SparsityParameters* sp = ft->sparsity();
    if (sp == nullptr || sp->traversal_order() == nullptr || sp->dim_metadata() == nullptr) {
      return "sparse tensor without traversal order or dimension metadata";
    }
    if (sp->block_map() != nullptr && sp->block_map()->size() > 0) return "block-sparse tensors are not densified";
    const Dims shape = t.shape.extents();
    const std::size_t rank = shape.size();
    if (sp->traversal_order()->size() != rank || sp->dim_metadata()->size() != rank) {
      return "traversal order and dimension metadata must cover the tensor's " + std::to_string(rank) + " dims";
    }
    std::vector<int> order(rank);
    std::vector<bool> seen(rank, false);
    for (std::size_t i = 0; i < rank; ++i) {
      const int d = sp->traversal_order()->Get(static_cast<flatbuffers::uoffset_t>(i));
      if (d < 0 || static_cast<std::size_t>(d) >= rank || seen[static_cast<std::size_t>(d)]) {
        return "traversal order is not a permutation of the dims";
      }
      seen[static_cast<std::size_t>(d)] = true;
      order[i] = d;
    }
    const std::size_t elem = t.dtype == ir::DType::kFloat32 ? 4 : 2;
    if (t.data.size() % elem != 0) return "sparse payload size is not a multiple of the element size";
    std::vector<float> stored;
    if (dense != nullptr) stored = values_as_float(t.data, t.dtype);
    const std::size_t stored_count = t.data.size() / elem;
    for (std::size_t i = 0; i < rank; ++i) {
      const auto* m = sp->dim_metadata()->Get(static_cast<flatbuffers::uoffset_t>(i));
      if (m->format() == tflite::DimensionType::DENSE) {
        if (m->dense_size() != shape[static_cast<std::size_t>(order[i])]) return "dense dimension size mismatch";
      } else if (m->format() != tflite::DimensionType::SPARSE_CSR) {
        return "unknown sparse dimension format";
      } else if (m->array_segments_type() == tflite::SparseIndexVector::NONE ||
                 m->array_indices_type() == tflite::SparseIndexVector::NONE) {
        return "sparse dimension without segments or indices";
      }
    }
    std::vector<std::int64_t> strides(rank, 1);
    for (std::size_t d = rank; d-- > 1;) strides[d - 1] = strides[d] * shape[d];
    if (dense != nullptr) dense->assign(static_cast<std::size_t>(numel(shape)), 0.0f);
    std::string why;
    walk(*sp, order, shape, strides, 0, 0, 0, stored_count, stored, dense, why);
    return why;
  }

  void walk(const tflite::SparsityParameters& sp, const std::vector<int>& order, const Dims& shape,
            const std::vector<std::int64_t>& strides, std::size_t level, std::int64_t pos, std::int64_t offset,
            std::size_t stored_count, const std::vector<float>& stored, std::vector<float>* dense,
            std::string& why) const {
    if (!why.empty()) return;
    if (level == order.size()) {
      if (pos < 0 || static_cast<std::size_t>(pos) >= stored_count) {
        why = "sparse index points past the stored values";
        return;
      }
      if (dense != nullptr) (*dense)[static_cast<std::size_t>(offset)] = stored[static_cast<std::size_t>(pos)];
      return;
    }
    const auto* m = sp.dim_metadata()->Get(static_cast<flatbuffers::uoffset_t>(level));
    const std::size_t dim = static_cast<std::size_t>(order[level]);
    if (m->format() == tflite::DimensionType::DENSE) {
      const std::int64_t n = m->dense_size();
      for (std::int64_t i = 0; i < n && why.empty(); ++i) {
        walk(sp, order, shape, strides, level + 1, pos * n + i, offset + i * strides[dim], stored_count, stored, dense,
             why);
      }
      return;
    }
    const IndexArray segments{m, true}, indices{m, false};
    if (pos < 0 || static_cast<std::size_t>(pos) + 1 >= segments.size()) {
      why = "sparse segment index out of range";
      return;
    }
    const std::int64_t begin = segments.at(static_cast<std::size_t>(pos));
    const std::int64_t end = segments.at(static_cast<std::size_t>(pos) + 1);
    if (begin < 0 || end < begin || static_cast<std::size_t>(end) > indices.size()) {
      why = "sparse segments are not a valid range of the indices";
      return;
    }
    for (std::int64_t k = begin; k < end && why.empty(); ++k) {
      const std::int64_t i = indices.at(static_cast<std::size_t>(k));
      if (i < 0 || i >= shape[dim]) {
        why = "sparse index outside the dimension";
        return;
      }
      walk(sp, order, shape, strides, level + 1, k, offset + i * strides[dim], stored_count, stored, dense, why);
    }
  }

  const ir::Graph& graph_;
  int tensor_;
};

}  // namespace

std::string tflite_sparse_problem(const ir::Graph& graph, int tensor) {
  return Densifier(graph, tensor).problem();
}

std::vector<float> read_float_constant(const ir::Graph& graph, int tensor) {
  const ir::Tensor& t = graph.tensors[tensor];
  auto fail = [&](const std::string& why) -> std::vector<float> {
    throw Error(ErrorKind::kUnsupported, graph.meta.source_path, "tensor '" + t.name + "'", why);
  };
  if (!t.is_constant()) return fail("is not a constant");
  if (!t.shape.is_static()) return fail("constant without a static shape");
  if (t.sparse) return Densifier(graph, tensor).densify();
  const std::size_t n = static_cast<std::size_t>(*t.shape.numel());
  if (n == 0) return {};
  const std::size_t width = ir::dtype_bits(t.dtype) / 8;
  if (width == 0 || t.data.size() != n * width) {
    return fail("holds " + std::to_string(t.data.size()) + " bytes, not " + std::to_string(n) + " " +
                std::string(ir::dtype_name(t.dtype)) + " values");
  }
  std::vector<float> out(n);
  switch (t.dtype) {
    case ir::DType::kFloat32: std::memcpy(out.data(), t.data.data(), n * 4); return out;
    case ir::DType::kFloat16: {
      std::vector<std::uint16_t> h(n);
      std::memcpy(h.data(), t.data.data(), n * 2);
      return half_to_float(h);
    }
    case ir::DType::kBFloat16:
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t b;
        std::memcpy(&b, t.data.data() + i * 2, 2);
        const std::uint32_t bits = static_cast<std::uint32_t>(b) << 16;
        std::memcpy(&out[i], &bits, 4);
      }
      return out;
    case ir::DType::kFloat64:
      for (std::size_t i = 0; i < n; ++i) {
        double d;
        std::memcpy(&d, t.data.data() + i * 8, 8);
        out[i] = static_cast<float>(d);
      }
      return out;
    case ir::DType::kInt8: {
      // Dynamic-range weights: real = scale · (q − zero_point), per tensor or per
      // channel along quant.axis.
      const auto& q = t.quant;
      if (q.empty()) return fail("is int8 without quantization parameters, not a float type");
      const Dims dims = t.shape.extents();
      std::size_t inner = 1, channels = 1;
      if (q.scales.size() > 1) {
        const int axis = q.axis < 0 ? q.axis + static_cast<int>(dims.size()) : q.axis;
        if (axis < 0 || axis >= static_cast<int>(dims.size()) ||
            dims[static_cast<std::size_t>(axis)] != static_cast<std::int64_t>(q.scales.size())) {
          return fail("per-channel scales do not match the quantized axis");
        }
        channels = q.scales.size();
        for (std::size_t i = static_cast<std::size_t>(axis) + 1; i < dims.size(); ++i) {
          inner *= static_cast<std::size_t>(dims[i]);
        }
      }
      const auto* v = reinterpret_cast<const std::int8_t*>(t.data.data());
      for (std::size_t i = 0; i < n; ++i) {
        const std::size_t ch = (i / inner) % channels;
        const std::int64_t zp = ch < q.zero_points.size() ? q.zero_points[ch] : 0;
        out[i] = q.scales[ch] * static_cast<float>(v[i] - zp);
      }
      return out;
    }
    default: return fail("is " + std::string(ir::dtype_name(t.dtype)) + ", not a float type");
  }
}

std::optional<std::vector<std::int64_t>> read_int_constant(const ir::Graph& graph, int tensor) {
  if (tensor < 0) return std::nullopt;
  const ir::Tensor& t = graph.tensors[tensor];
  if (!t.is_constant() || t.sparse || !t.shape.is_static()) return std::nullopt;
  const std::size_t width = t.dtype == ir::DType::kInt32 ? 4 : t.dtype == ir::DType::kInt64 ? 8 : 0;
  const std::uint64_t n = *t.shape.numel();
  if (width == 0 || n > (1u << 20) || t.data.size() != n * width) return std::nullopt;
  std::vector<std::int64_t> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (width == 4) {
      std::int32_t v;
      std::memcpy(&v, t.data.data() + i * 4, 4);
      out[i] = v;
    } else {
      std::memcpy(&out[i], t.data.data() + i * 8, 8);
    }
  }
  return out;
}

std::optional<std::vector<float>> read_small_float_constant(const ir::Graph& graph, int tensor) {
  if (tensor < 0) return std::nullopt;
  const ir::Tensor& t = graph.tensors[tensor];
  if (!t.is_constant() || t.sparse || !t.shape.is_static() || !ir::is_floating(t.dtype)) return std::nullopt;
  if (*t.shape.numel() > 65536) return std::nullopt;
  try {
    return read_float_constant(graph, tensor);
  } catch (const Error&) {
    return std::nullopt;
  }
}

}  // namespace infercast::runtime::xnnpack
