// The executor's internal plan: values (float buffers with a logical shape and a
// physical order), steps (one XNNPACK operator or one custom kernel each), and the
// Builder that op lowerings use to create them.
#pragma once

#include <xnnpack.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "infercast/base/error.hpp"
#include "infercast/ir/graph.hpp"

namespace infercast::runtime::xnnpack {

using Dims = std::vector<std::int64_t>;

std::int64_t numel(const Dims& dims);
std::string dims_str(const Dims& dims);

// Physical order of a value. kChannelsLast exists only for values of NCHW graphs
// with rank >= 3: logical [N, C, D1..Dk] is stored as [N, D1..Dk, C].
enum class Order : std::uint8_t { kLogical, kChannelsLast };

// physical[i] = logical[perm[i]].
std::vector<int> order_perm(std::size_t rank, Order order);
Dims physical_dims(const Dims& logical, Order order);
// Physical axis that holds logical axis `axis` (already non-negative).
int physical_axis(std::size_t rank, Order order, int axis);
// True when the two orders of `logical` store the same bytes (every axis that moves
// has extent 1 relative to the others).
bool same_bytes(const Dims& logical, Order a, Order b);

struct XnnDeleter {
  void operator()(xnn_operator_t op) const noexcept {
    if (op != nullptr) xnn_delete_operator(op);
  }
};
using XnnOp = std::unique_ptr<struct xnn_operator, XnnDeleter>;

struct Value {
  enum class Storage : std::uint8_t { kArena, kConstant, kAlias };
  Dims logical;
  Order order = Order::kLogical;
  Storage storage = Storage::kArena;
  int root = -1;                                // kAlias: the value whose bytes these are (never an alias itself)
  std::vector<float> constant;                  // kConstant: the data, XNN_EXTRA_BYTES of slack after it
  std::size_t offset = 0;                       // kArena: byte offset, set by the arena plan
  int first = std::numeric_limits<int>::max();  // kArena: first and last step touching it
  int last = -1;

  Dims dims() const { return physical_dims(logical, order); }
  std::int64_t size() const { return numel(logical); }
};

// Resolves values to addresses once the arena is placed.
class Binder {
 public:
  virtual ~Binder() = default;
  virtual float* ptr(int value) const = 0;
  virtual pthreadpool_t pool() const = 0;
};

struct Step {
  int node = -1;  // graph node whose time this step counts toward (-1: none)
  XnnOp op;       // null for a custom kernel
  std::vector<int> reads, writes;
  // Called once addresses are final: an XNNPACK step calls xnn_setup_*; a custom step
  // stores its kernel closure in `kernel`.
  std::function<void(Step&, const Binder&)> bind;
  std::function<void()> kernel;
};

// What a producer absorbs from the nodes after it (ONNX graphs): a BatchNormalization
// folded into its weights and a ReLU/Clip applied as its output clamp.
struct Epilogue {
  int bn_node = -1;
  float min = -std::numeric_limits<float>::infinity();
  float max = std::numeric_limits<float>::infinity();
  int out_tensor = -1;        // the tensor the producer's first output really is
  std::vector<int> absorbed;  // node indices
};

// Whole-graph facts the checks and the lowering share.
struct GraphFacts {
  std::vector<bool> derived;    // per tensor: computed from constants alone (folded at prepare)
  std::vector<bool> needed;     // per node: an output reaches a graph output through data inputs
  std::vector<bool> data_used;  // per tensor: read as data by a needed node, or a graph output
  // per tensor: integer values known at prepare (constants, and shape arithmetic such as
  // Shape → Gather → Mul of statically shaped tensors, which exporters emit for slices)
  std::vector<std::optional<std::vector<std::int64_t>>> ints;
};
GraphFacts analyze_graph(const ir::Graph& graph);
// Inputs read only at prepare as parameters (shapes, axes, pads, scales): a node that
// feeds nothing else is not needed at run time.
bool is_parameter_input(const ir::Node& node, std::size_t k);

class Builder {
 public:
  Builder(const ir::Graph& graph, pthreadpool_t pool, const GraphFacts& facts);

  const ir::Graph& graph;
  pthreadpool_t pool;
  const GraphFacts& facts;

  // --- the node being lowered
  int node_index = -1;
  const ir::Node* node = nullptr;
  bool folding = false;  // all inputs constant: steps run now, outputs become constants
  Epilogue epilogue;     // of the current node (empty when nothing is fused)

  std::string where() const;
  [[noreturn]] void fail(const std::string& reason) const;
  std::string file() const { return graph.meta.source_path; }

  // --- values
  std::vector<Value> values;
  std::vector<int> tensor_value;  // graph tensor → value, -1 while unknown

  int value_of_tensor(int tensor);
  bool has_input(std::size_t k) const;
  int input(std::size_t k) { return value_of_tensor(node->inputs.at(k)); }
  const ir::Tensor& input_tensor(std::size_t k) const { return graph.tensors[node->inputs.at(k)]; }
  Dims input_dims(std::size_t k) const;
  // The node's output k as the IR declares it (for output 0, the fused tail's tensor).
  int output_tensor(std::size_t k) const;
  Dims output_dims(std::size_t k) const;
  bool output_used(std::size_t k) const;

  int root(int value) const;
  bool is_constant(int value) const;
  const float* constant_data(int value) const;               // logical bytes of a constant in its order
  std::vector<float> constant_copy(int value, Order order);  // a constant's data in `order`

  // A value holding `value`'s data in `order` (an alias when the bytes agree,
  // otherwise a transpose step, cached per value).
  int as_order(int value, Order order);
  // `value` viewed at rank `rank` (leading 1s) in `order`.
  int as_rank_order(int value, std::size_t rank, Order order);
  int as_logical(int value) { return as_order(value, Order::kLogical); }
  // NHWC data for a spatial op: logical in an NHWC graph, channels-last in NCHW.
  Order spatial_order() const;

  int new_value(Dims logical, Order order);  // arena (or, while folding, constant) storage
  int new_constant(std::vector<float> data, Dims logical, Order order);
  int alias(int value, Dims logical, Order order);
  // Binds node output k (output 0: the fused tail) to `value`; checks the element count.
  void set_output(std::size_t k, int value);
  int make_output(std::size_t k, Order order);

  // --- steps
  std::vector<Step> steps;
  Step& add_step(std::vector<int> reads, std::vector<int> writes);
  // Owns *op (read after the create call that set it) and throws naming `call` on failure.
  XnnOp made(xnn_status status, xnn_operator_t* op, const char* call);
  void check(xnn_status status, const char* call) const;

  // Custom kernel step: `make(binder)` returns the closure run each time.
  void add_kernel(std::vector<int> reads, std::vector<int> writes,
                  std::function<std::function<void()>(const Binder&)> make);

 private:
  struct Conversion {
    int from, to;
    Order order;
  };
  std::vector<Conversion> conversions_;
};

// xnn_initialize once per process; throws Error(kUnsupported) when XNNPACK refuses
// this CPU.
void initialize_xnnpack();

// Constants of the graph read as float32 (float32/16/64 and bfloat16; TFLite sparse
// tensors are densified). Throws Error naming the tensor otherwise.
std::vector<float> read_float_constant(const ir::Graph& graph, int tensor);
// Values of a constant int32/int64 tensor; nullopt when it is not one.
std::optional<std::vector<std::int64_t>> read_int_constant(const ir::Graph& graph, int tensor);
// Values of a constant float tensor; nullopt when it is not one (or is large).
std::optional<std::vector<float>> read_small_float_constant(const ir::Graph& graph, int tensor);
// fp16 → fp32 with XNNPACK's convert operator.
std::vector<float> half_to_float(std::span<const std::uint16_t> half);
// Whether a TFLite sparse constant can be densified, or why not.
std::string tflite_sparse_problem(const ir::Graph& graph, int tensor);

}  // namespace infercast::runtime::xnnpack
