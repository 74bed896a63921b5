#include "export/onnx/sparse.hpp"

#include <algorithm>
#include <cstring>

#include "flatbuffers/flatbuffers.h"
#include "infercast/base/error.hpp"
#include "infercast/base/mapped_file.hpp"
#include "tflite_generated.h"

namespace infercast::exporter {
namespace {

// One of a dimension's index arrays (segments or indices), whatever its width.
class IndexVector {
 public:
  IndexVector(const tflite::DimensionMetadata& m, bool segments) {
    const auto type = segments ? m.array_segments_type() : m.array_indices_type();
    const void* raw = segments ? m.array_segments() : m.array_indices();
    if (raw == nullptr) return;
    switch (type) {
      case tflite::SparseIndexVector::Int32Vector: i32_ = static_cast<const tflite::Int32Vector*>(raw)->values(); break;
      case tflite::SparseIndexVector::Uint16Vector:
        u16_ = static_cast<const tflite::Uint16Vector*>(raw)->values();
        break;
      case tflite::SparseIndexVector::Uint8Vector: u8_ = static_cast<const tflite::Uint8Vector*>(raw)->values(); break;
      default: break;
    }
  }
  std::size_t size() const { return i32_ ? i32_->size() : u16_ ? u16_->size() : u8_ ? u8_->size() : 0; }
  std::int64_t operator[](std::size_t i) const {
    const auto k = static_cast<flatbuffers::uoffset_t>(i);
    return i32_ ? i32_->Get(k) : u16_ ? u16_->Get(k) : u8_->Get(k);
  }

 private:
  const flatbuffers::Vector<std::int32_t>* i32_ = nullptr;
  const flatbuffers::Vector<std::uint16_t>* u16_ = nullptr;
  const flatbuffers::Vector<std::uint8_t>* u8_ = nullptr;
};

struct Walk {
  const tflite::SparsityParameters& sp;
  std::vector<int> order;
  std::vector<std::int64_t> shape, strides;
  std::span<const std::byte> stored;
  std::size_t elem;
  std::vector<std::byte>& dense;
  std::string problem;

  // Visits level `level` of the traversal at stored position `pos`, dense offset `offset`.
  void visit(std::size_t level, std::int64_t pos, std::int64_t offset) {
    if (!problem.empty()) return;
    if (level == order.size()) {
      if (pos < 0 || static_cast<std::size_t>(pos) >= stored.size() / elem) {
        problem = "a sparse index points past the stored values";
        return;
      }
      std::memcpy(dense.data() + static_cast<std::size_t>(offset) * elem,
                  stored.data() + static_cast<std::size_t>(pos) * elem, elem);
      return;
    }
    const auto* m = sp.dim_metadata()->Get(static_cast<flatbuffers::uoffset_t>(level));
    const auto dim = static_cast<std::size_t>(order[level]);
    if (m->format() == tflite::DimensionType::DENSE) {
      const std::int64_t n = m->dense_size();
      for (std::int64_t i = 0; i < n && problem.empty(); ++i) visit(level + 1, pos * n + i, offset + i * strides[dim]);
      return;
    }
    const IndexVector segments(*m, true), indices(*m, false);
    if (pos < 0 || static_cast<std::size_t>(pos) + 1 >= segments.size()) {
      problem = "a sparse segment index is out of range";
      return;
    }
    const std::int64_t begin = segments[static_cast<std::size_t>(pos)];
    const std::int64_t end = segments[static_cast<std::size_t>(pos) + 1];
    if (begin < 0 || end < begin || static_cast<std::size_t>(end) > indices.size()) {
      problem = "sparse segments are not a range of the indices";
      return;
    }
    for (std::int64_t k = begin; k < end && problem.empty(); ++k) {
      const std::int64_t i = indices[static_cast<std::size_t>(k)];
      if (i < 0 || i >= shape[dim]) {
        problem = "a sparse index lies outside its dimension";
        return;
      }
      visit(level + 1, k, offset + i * strides[dim]);
    }
  }
};

}  // namespace

std::vector<std::byte> densify_tflite(const ir::Graph& graph, int tensor, const std::string& where) {
  const ir::Tensor& t = graph.tensors[static_cast<std::size_t>(tensor)];
  const std::string& file = graph.meta.source_path;
  auto fail = [&](const std::string& why) -> std::vector<std::byte> {
    throw Error(ErrorKind::kUnsupported, file, where, "sparse constant '" + t.name + "': " + why);
  };
  if (graph.meta.format != "tflite") return fail("only TFLite sparse tensors are densified");
  const std::size_t elem = ir::dtype_bits(t.dtype) / 8;
  if (elem == 0 || ir::dtype_bits(t.dtype) % 8 != 0) return fail("its dtype has no fixed byte width");
  if (!t.shape.is_static() || !t.shape.numel()) return fail("no static shape");
  std::unique_ptr<base::MappedFile> mapped;
  try {
    mapped = std::make_unique<base::MappedFile>(file);
  } catch (const Error& e) {
    return fail("its sparsity parameters live in the model file, which cannot be read: " + e.reason());
  }
  const auto bytes = mapped->bytes();
  flatbuffers::Verifier::Options opts;
  opts.max_depth = 64;
  opts.max_tables = 0x7fffffff;
  const std::size_t size = std::min<std::size_t>(bytes.size(), FLATBUFFERS_MAX_BUFFER_SIZE - 1);
  flatbuffers::Verifier verifier(reinterpret_cast<const std::uint8_t*>(bytes.data()), size, opts);
  if (bytes.size() < 8 || !tflite::VerifyModelBuffer(verifier)) return fail("the model file no longer verifies");
  const tflite::Model* model = tflite::GetModel(bytes.data());
  const auto* tensors = model->subgraphs()->Get(0)->tensors();
  if (tensors == nullptr || static_cast<std::size_t>(tensor) >= tensors->size()) return fail("not in the model file");
  const tflite::Tensor* ft = tensors->Get(static_cast<flatbuffers::uoffset_t>(tensor));
  if (ft->name() == nullptr || ft->name()->str() != t.name) return fail("the model file changed since it was read");
  const tflite::SparsityParameters* sp = ft->sparsity();
  if (sp == nullptr || sp->traversal_order() == nullptr || sp->dim_metadata() == nullptr) {
    return fail("no traversal order or dimension metadata");
  }
  if (sp->block_map() != nullptr && sp->block_map()->size() > 0) return fail("block-sparse tensors are not densified");
  const std::vector<std::int64_t> shape = t.shape.extents();
  const std::size_t rank = shape.size();
  if (sp->traversal_order()->size() != rank || sp->dim_metadata()->size() != rank) {
    return fail("traversal order and dimension metadata do not cover its " + std::to_string(rank) + " dims");
  }
  std::vector<int> order(rank);
  std::vector<bool> seen(rank, false);
  for (std::size_t i = 0; i < rank; ++i) {
    const int d = sp->traversal_order()->Get(static_cast<flatbuffers::uoffset_t>(i));
    if (d < 0 || static_cast<std::size_t>(d) >= rank || seen[static_cast<std::size_t>(d)]) {
      return fail("the traversal order is not a permutation of its dims");
    }
    seen[static_cast<std::size_t>(d)] = true;
    order[i] = d;
    const auto* m = sp->dim_metadata()->Get(static_cast<flatbuffers::uoffset_t>(i));
    if (m->format() == tflite::DimensionType::DENSE) {
      if (m->dense_size() != shape[static_cast<std::size_t>(d)]) return fail("a dense dimension's size disagrees");
    } else if (m->format() != tflite::DimensionType::SPARSE_CSR) {
      return fail("unknown dimension format");
    }
  }
  std::vector<std::int64_t> strides(rank, 1);
  for (std::size_t d = rank; d-- > 1;) strides[d - 1] = strides[d] * shape[d];
  std::vector<std::byte> dense(static_cast<std::size_t>(*t.shape.numel()) * elem, std::byte{0});
  Walk walk{*sp, order, shape, strides, t.data, elem, dense, {}};
  walk.visit(0, 0, 0);
  if (!walk.problem.empty()) return fail(walk.problem);
  return dense;
}

}  // namespace infercast::exporter
