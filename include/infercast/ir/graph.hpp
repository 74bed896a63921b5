// ir::Graph: one in-memory form for every model format. Importers build it, cost
// analysis, runtimes and exporters read it. It knows no file format.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "infercast/ir/dtype.hpp"
#include "infercast/ir/op.hpp"

namespace infercast::ir {

// A dimension: a known extent (value >= 0), or unknown (value < 0) with an optional
// symbolic name such as "batch_size".
struct Dim {
  std::int64_t value = -1;
  std::string symbol;

  bool known() const noexcept { return value >= 0; }
  friend bool operator==(const Dim&, const Dim&) = default;
};

struct Shape {
  std::vector<Dim> dims;
  bool rank_known = true;

  static Shape of(std::initializer_list<std::int64_t> extents);
  static Shape of(std::span<const std::int64_t> extents);
  static Shape unknown_rank() { return Shape{{}, false}; }

  std::size_t rank() const noexcept { return dims.size(); }
  // True when the rank and every dimension are known.
  bool is_static() const noexcept;
  // Element count when static; nullopt otherwise or on overflow past 2^62.
  std::optional<std::uint64_t> numel() const noexcept;
  // "1x3x224x224"; unknown dims print as their symbol or "?"; unknown rank as "*".
  std::string str() const;
  std::vector<std::int64_t> extents() const;  // -1 for unknown dims
  friend bool operator==(const Shape&, const Shape&) = default;
};

enum class TensorKind : std::uint8_t { kInput, kOutput, kConstant, kActivation };
std::string_view tensor_kind_name(TensorKind k) noexcept;

enum class Layout : std::uint8_t { kUnknown, kNCHW, kNHWC };
std::string_view layout_name(Layout l) noexcept;

// Affine quantization: real = scale * (q - zero_point), per tensor or per channel
// along `axis`.
struct Quantization {
  std::vector<float> scales;
  std::vector<std::int64_t> zero_points;
  std::int32_t axis = 0;
  bool empty() const noexcept { return scales.empty(); }
};

struct Tensor {
  std::string name;
  DType dtype = DType::kUnknown;
  Shape shape = Shape::unknown_rank();
  TensorKind kind = TensorKind::kActivation;
  Quantization quant;
  // Constant payload: a view into the memory-mapped model file (or into storage the
  // graph owns for small decoded values). Empty when the tensor has no data here.
  std::span<const std::byte> data;
  // For constants: the constant tensor this one repeats (an Identity of an
  // initializer), so totals count its weights once; -1 otherwise.
  int alias_of = -1;
  // Stored in a sparse encoding in the file (TFLite sparsity, ONNX sparse initializer).
  bool sparse = false;
  int producer = -1;           // node index; -1 for inputs and constants
  std::vector<int> consumers;  // node indices, ascending, one entry per use

  bool is_constant() const noexcept { return kind == TensorKind::kConstant; }
  // Bytes of the dense tensor when its shape is static.
  std::optional<std::uint64_t> bytes() const noexcept;
  // The values of a dense int64 or int32 constant with all its data; nullopt otherwise.
  std::optional<std::vector<std::int64_t>> ints() const;
};

using AttrValue = std::variant<std::int64_t, double, std::string, std::vector<std::int64_t>, std::vector<double>,
                               std::vector<std::string>>;

// Normalized attributes, sorted by name so every report is deterministic.
class Attributes {
 public:
  void set(std::string name, AttrValue value) { values_[std::move(name)] = std::move(value); }
  bool has(std::string_view name) const { return values_.find(name) != values_.end(); }
  const AttrValue* find(std::string_view name) const;
  std::int64_t get_int(std::string_view name, std::int64_t fallback) const;
  double get_float(std::string_view name, double fallback) const;
  std::string get_string(std::string_view name, std::string fallback) const;
  std::vector<std::int64_t> get_ints(std::string_view name) const;  // empty when absent
  const std::map<std::string, AttrValue, std::less<>>& all() const noexcept { return values_; }

 private:
  std::map<std::string, AttrValue, std::less<>> values_;
};

struct Node {
  std::string name;
  Op op = Op::Other;
  std::string source_op;     // the op as the file names it: "Conv", "CONV_2D", "Convolution2DTransposeBias"
  std::vector<int> inputs;   // tensor indices; -1 marks an omitted optional input
  std::vector<int> outputs;  // tensor indices
  Attributes attrs;
  Layout layout = Layout::kUnknown;  // activation layout the op computes in
};

struct GraphMetadata {
  std::string format;  // "onnx" or "tflite"
  std::string source_path;
  std::string producer;    // producer name and version when the file says
  std::int64_t opset = 0;  // ONNX default-domain opset; TFLite schema version
  Layout layout = Layout::kUnknown;
  std::string graph_name;
  std::vector<std::string> other_subgraphs;  // names of subgraphs not analysed
  std::vector<std::string> warnings;         // non-fatal findings of the importer
};

class Graph {
 public:
  Graph() = default;
  Graph(Graph&&) = default;
  Graph& operator=(Graph&&) = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  std::vector<Tensor> tensors;
  std::vector<Node> nodes;  // topological order once finalize() returned
  std::vector<int> inputs;
  std::vector<int> outputs;
  GraphMetadata meta;

  // Adds a tensor; its name must be unique (empty names are allowed and not indexed).
  int add_tensor(Tensor t);
  // Index of the named tensor, or -1.
  int find_tensor(std::string_view name) const;
  // Keeps `bytes` alive as long as the graph and returns a view of it.
  std::span<const std::byte> own(std::vector<std::byte> bytes);
  // Keeps `resource` (a mapped file, a parsed message) alive as long as the graph.
  void retain(std::shared_ptr<const void> resource) { retained_.push_back(std::move(resource)); }

  // Checks references, sorts nodes topologically, fills producers and consumers.
  // Throws Error(kBadModel) naming the node on a dangling tensor index, a tensor
  // produced twice, or a cycle; `file` goes into the message.
  void finalize(const std::string& file);

 private:
  std::unordered_map<std::string, int> by_name_;
  std::deque<std::vector<std::byte>> owned_;
  std::vector<std::shared_ptr<const void>> retained_;
};

}  // namespace infercast::ir
