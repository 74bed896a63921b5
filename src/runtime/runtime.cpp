#include "infercast/runtime/runtime.hpp"

#include <cstring>
#include <string_view>
#include <thread>

#include "infercast/base/error.hpp"

namespace infercast::runtime {
namespace {

// The input generator shared with external runners (docs/runner-protocol.md, "Random
// inputs"): xorshift32 seeded per input from FNV-1a of its name and the seed.
class InputStream {
 public:
  InputStream(std::string_view name, std::uint64_t seed) {
    std::uint32_t h = 0x811c9dc5u;
    for (char c : name) {
      h ^= static_cast<unsigned char>(c);
      h *= 0x01000193u;
    }
    state_ = h ^ static_cast<std::uint32_t>(seed) ^ static_cast<std::uint32_t>(seed >> 32);
    if (state_ == 0) state_ = 0x9e3779b9u;
  }
  std::uint32_t next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    return state_;
  }

 private:
  std::uint32_t state_;
};

template <typename T>
void put(std::vector<std::byte>& out, std::size_t i, T value) {
  std::memcpy(out.data() + i * sizeof(T), &value, sizeof(T));
}

// Binary16 bits of k / 1024 - 1 for k in [0, 2048): exact, every such value is representable.
std::uint16_t half_bits(std::uint32_t k) {
  const int v = static_cast<int>(k) - 1024;  // value * 1024
  if (v == 0) return 0;
  const std::uint16_t sign = v < 0 ? 0x8000 : 0;
  std::uint32_t m = static_cast<std::uint32_t>(v < 0 ? -v : v);  // in [1, 1024]
  int e = 0;                                                     // value = m * 2^-10 = 1.f * 2^(e - 10)
  while ((m >> e) > 1) ++e;
  const std::uint32_t fraction = ((m << (10 - e)) & 0x3ff);
  return static_cast<std::uint16_t>(sign | ((e - 10 + 15) << 10) | fraction);
}

}  // namespace

std::uint64_t HostTensor::numel() const noexcept {
  std::uint64_t n = 1;
  for (std::int64_t d : dims) n *= d < 0 ? 0 : static_cast<std::uint64_t>(d);
  return n;
}

int resolve_threads(int threads) {
  if (threads > 0) return threads;
  const measure::MachineContext context = measure::machine_context();
  return context.cores > 0 ? context.cores : 1;
}

void require_supported(const Runtime& runtime, const ir::Graph& graph) {
  std::string refused;
  int count = 0;
  for (int i = 0; i < static_cast<int>(graph.nodes.size()); ++i) {
    const Support s = runtime.supports(graph, i);
    if (s.ok) continue;
    ++count;
    if (count <= 20) {
      const ir::Node& node = graph.nodes[static_cast<std::size_t>(i)];
      refused +=
          (refused.empty() ? "" : "; ") + std::string("node '") + node.name + "' (" + node.source_op + "): " + s.reason;
    }
  }
  if (count == 0) return;
  if (count > 20) refused += "; and " + std::to_string(count - 20) + " more";
  throw Error(ErrorKind::kUnsupported, graph.meta.source_path, "runtime '" + runtime.name() + "'",
              std::to_string(count) + " unsupported node(s): " + refused);
}

std::vector<HostTensor> random_inputs(const ir::Graph& graph, std::uint64_t seed) {
  std::vector<HostTensor> inputs;
  for (int id : graph.inputs) {
    const ir::Tensor& t = graph.tensors[static_cast<std::size_t>(id)];
    if (!t.shape.is_static()) {
      throw Error(ErrorKind::kUnknownDim, graph.meta.source_path, "input '" + t.name + "'",
                  "shape " + t.shape.str() + " is not static; fix it with --input-shape " + t.name + "=...");
    }
    HostTensor h;
    h.name = t.name;
    h.dtype = t.dtype;
    h.dims = t.shape.extents();
    const std::uint64_t n = h.numel();
    const std::size_t bits = ir::dtype_bits(t.dtype);
    if (bits == 0 || bits % 8 != 0 || t.dtype == ir::DType::kComplex64 || t.dtype == ir::DType::kComplex128) {
      throw Error(ErrorKind::kUnsupported, graph.meta.source_path, "input '" + t.name + "'",
                  "cannot generate random " + std::string(ir::dtype_name(t.dtype)) + " inputs");
    }
    h.data.resize(static_cast<std::size_t>(n) * (bits / 8));
    InputStream stream(t.name, seed);
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint32_t x = stream.next();
      switch (t.dtype) {
        case ir::DType::kFloat32: put(h.data, i, static_cast<float>((x >> 8) * 0x1p-23 - 1.0)); break;
        case ir::DType::kFloat64: put(h.data, i, (x >> 8) * 0x1p-23 - 1.0); break;
        case ir::DType::kFloat16: put(h.data, i, half_bits(x >> 21)); break;
        case ir::DType::kBFloat16: {
          const float f = static_cast<float>((x >> 24) * 0x1p-7 - 1.0);
          std::uint32_t b;
          std::memcpy(&b, &f, sizeof(b));
          put(h.data, i, static_cast<std::uint16_t>(b >> 16));
          break;
        }
        case ir::DType::kBool: put(h.data, i, static_cast<std::uint8_t>(x >> 31)); break;
        case ir::DType::kInt8: put(h.data, i, static_cast<std::int8_t>(x % 8)); break;
        case ir::DType::kUInt8: put(h.data, i, static_cast<std::uint8_t>(x % 8)); break;
        case ir::DType::kInt16: put(h.data, i, static_cast<std::int16_t>(x % 8)); break;
        case ir::DType::kUInt16: put(h.data, i, static_cast<std::uint16_t>(x % 8)); break;
        case ir::DType::kInt32: put(h.data, i, static_cast<std::int32_t>(x % 8)); break;
        case ir::DType::kUInt32: put(h.data, i, static_cast<std::uint32_t>(x % 8)); break;
        case ir::DType::kInt64: put(h.data, i, static_cast<std::int64_t>(x % 8)); break;
        case ir::DType::kUInt64: put(h.data, i, static_cast<std::uint64_t>(x % 8)); break;
        default:
          throw Error(ErrorKind::kUnsupported, graph.meta.source_path, "input '" + t.name + "'",
                      "cannot generate random " + std::string(ir::dtype_name(t.dtype)) + " inputs");
      }
    }
    inputs.push_back(std::move(h));
  }
  return inputs;
}

}  // namespace infercast::runtime
