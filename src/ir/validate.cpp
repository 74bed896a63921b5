#include "infercast/ir/validate.hpp"

#include <optional>
#include <vector>

#include "infercast/base/error.hpp"

namespace infercast::ir {
namespace {

// One node's view of the graph: shapes of its inputs by position (nullptr when the
// input is omitted or its rank is unknown) and the error it throws.
class NodeCheck {
 public:
  NodeCheck(const Graph& graph, std::size_t index, const std::string& file)
      : graph_(graph), node_(graph.nodes[index]), index_(index), file_(file) {}

  const Node& node() const { return node_; }

  const Tensor* tensor(std::size_t i) const {
    if (i >= node_.inputs.size() || node_.inputs[i] < 0) return nullptr;
    return &graph_.tensors[static_cast<std::size_t>(node_.inputs[i])];
  }

  // The input's shape when its rank is known.
  const Shape* shape(std::size_t i) const {
    const Tensor* t = tensor(i);
    return t != nullptr && t->shape.rank_known ? &t->shape : nullptr;
  }

  [[noreturn]] void fail(const std::string& reason) const {
    throw Error(ErrorKind::kBadModel, file_,
                "node " + std::to_string(index_) + " '" + node_.name + "' (" + node_.source_op + ")", reason);
  }

 private:
  const Graph& graph_;
  const Node& node_;
  std::size_t index_;
  const std::string& file_;
};

// Extent of dimension `i` (negative: from the back), or nullopt when unknown.
std::optional<std::int64_t> dim(const Shape& s, std::int64_t i) {
  const auto rank = static_cast<std::int64_t>(s.rank());
  if (i < 0) i += rank;
  if (i < 0 || i >= rank || !s.dims[static_cast<std::size_t>(i)].known()) return std::nullopt;
  return s.dims[static_cast<std::size_t>(i)].value;
}

std::string str(std::int64_t v) {
  return std::to_string(v);
}

// The input's name and shape for messages: "'x' 1x3x8x8".
std::string named(const Tensor& t) {
  return "'" + t.name + "' " + t.shape.str();
}

// numpy broadcasting: aligned from the back, each pair of known extents equal or one of
// them 1. Returns the position (from the back) of the first clash.
std::optional<std::size_t> broadcast_clash(const Shape& a, const Shape& b) {
  const std::size_t n = std::min(a.rank(), b.rank());
  for (std::size_t k = 1; k <= n; ++k) {
    const Dim& x = a.dims[a.rank() - k];
    const Dim& y = b.dims[b.rank() - k];
    if (x.known() && y.known() && x.value != y.value && x.value != 1 && y.value != 1) return k;
  }
  return std::nullopt;
}

bool is_broadcasting(Op op) {
  switch (op) {
    case Op::Add:
    case Op::Sub:
    case Op::Mul:
    case Op::Div:
    case Op::Pow:
    case Op::Max:
    case Op::Min:
    case Op::Mean:
    case Op::Sum:
    case Op::Mod:
    case Op::FloorDiv:
    case Op::SquaredDifference:
    case Op::Equal:
    case Op::NotEqual:
    case Op::Greater:
    case Op::GreaterOrEqual:
    case Op::Less:
    case Op::LessOrEqual:
    case Op::And:
    case Op::Or:
    case Op::Xor:
    case Op::BitShift:
    case Op::Where:
    case Op::PRelu: return true;
    default: return false;
  }
}

void check_broadcast(const NodeCheck& c) {
  // Every pair against the first known input: a clash anywhere is a clash with the
  // broadcast result, and pairwise is enough to name the two tensors involved.
  const std::size_t n = c.node().inputs.size();
  for (std::size_t i = 0; i < n; ++i) {
    const Shape* a = c.shape(i);
    if (a == nullptr) continue;
    for (std::size_t j = i + 1; j < n; ++j) {
      const Shape* b = c.shape(j);
      if (b == nullptr) continue;
      if (const auto k = broadcast_clash(*a, *b)) {
        c.fail("inputs " + named(*c.tensor(i)) + " and " + named(*c.tensor(j)) + " do not broadcast: dimension -" +
               str(static_cast<std::int64_t>(*k)) + " is " + str(a->dims[a->rank() - *k].value) + " vs " +
               str(b->dims[b->rank() - *k].value) + " (numpy broadcasting: equal or one of them 1)");
      }
    }
  }
}

void check_conv(const NodeCheck& c) {
  const Shape* x = c.shape(0);
  const Shape* w = c.shape(1);
  if (x == nullptr || w == nullptr) return;
  const Node& n = c.node();
  const std::string layout = n.attrs.get_string("weight_layout", "");
  const bool transpose = n.op == Op::ConvTranspose;
  const bool nhwc = n.layout == Layout::kNHWC;
  const std::int64_t group = n.attrs.get_int("group", 1);
  if (group < 1) c.fail("group must be >= 1, got " + str(group));
  if (layout.empty() && x->rank() != w->rank()) {
    c.fail("input " + named(*c.tensor(0)) + " has rank " + str(static_cast<std::int64_t>(x->rank())) + " but weight " +
           named(*c.tensor(1)) + " has rank " + str(static_cast<std::int64_t>(w->rank())) +
           " (input and weight ranks must be equal)");
  }
  if (x->rank() < 3 || w->rank() < 3) return;
  const auto cin = dim(*x, nhwc ? -1 : 1);
  std::optional<std::int64_t> w_in;   // the weight's input-channel extent (per group)
  std::optional<std::int64_t> w_out;  // output channels
  std::string rule;
  if (layout == "1HWO") {  // TFLite depthwise: [1, H, W, Cin x multiplier]
    w_out = dim(*w, -1);
    if (const auto one = dim(*w, 0); one && *one != 1) {
      c.fail("depthwise weight " + named(*c.tensor(1)) + " must have dimension 0 equal to 1 (1HWO layout)");
    }
    if (cin && w_out && *cin > 0 && *w_out % *cin != 0) {
      c.fail("input " + named(*c.tensor(0)) + " has " + str(*cin) + " channels but depthwise weight " +
             named(*c.tensor(1)) + " has " + str(*w_out) +
             " outputs (depthwise outputs must be a multiple of the input channels)");
    }
  } else {
    if (layout == "OHWI") {  // TFLite conv and transposed conv
      w_out = dim(*w, 0);
      w_in = dim(*w, -1);
    } else if (transpose) {  // ONNX ConvTranspose: [C, M / group, k...]
      w_in = dim(*w, 0);
      if (const auto m = dim(*w, 1)) w_out = *m * group;
    } else {  // ONNX Conv: [M, C / group, k...]
      w_out = dim(*w, 0);
      w_in = dim(*w, 1);
    }
    // ONNX ConvTranspose's weight dimension 0 is all input channels; everywhere else
    // the weight holds one group's input channels.
    const bool whole = transpose && layout.empty();
    const std::int64_t per_weight = whole ? 1 : group;
    if (cin && w_in && *cin != *w_in * per_weight) {
      c.fail("input " + named(*c.tensor(0)) + " has " + str(*cin) + " channels but weight " + named(*c.tensor(1)) +
             (whole ? " expects " + str(*w_in)
                    : " with group " + str(group) + " expects " + str(*w_in * group) +
                          " (input channels = weight input channels x group)"));
    }
    if (whole && cin && *cin % group != 0) {
      c.fail("input channels " + str(*cin) + " are not divisible by group " + str(group));
    }
    if (!whole && w_out && *w_out % group != 0) {
      c.fail("weight " + named(*c.tensor(1)) + " has " + str(*w_out) + " output channels, not divisible by group " +
             str(group));
    }
  }
  if (const Shape* b = c.shape(2); b != nullptr && b->is_static() && w_out) {
    if (b->rank() != 1 || static_cast<std::int64_t>(*b->numel()) != *w_out) {
      c.fail("bias " + named(*c.tensor(2)) + " must be a vector of the " + str(*w_out) + " output channels");
    }
  }
}

void check_matmul(const NodeCheck& c) {
  const Shape* a = c.shape(0);
  const Shape* b = c.shape(1);
  if (a == nullptr || b == nullptr) return;
  if (a->rank() == 0 || b->rank() == 0) c.fail("MatMul inputs must have rank >= 1, got a scalar");
  const bool adj_x = c.node().attrs.get_int("adj_x", 0) != 0;
  const bool adj_y = c.node().attrs.get_int("adj_y", 0) != 0;
  const auto ka = a->rank() == 1 ? dim(*a, 0) : dim(*a, adj_x ? -2 : -1);
  const auto kb = b->rank() == 1 ? dim(*b, 0) : dim(*b, adj_y ? -1 : -2);
  if (ka && kb && *ka != *kb) {
    c.fail("inner dimensions differ: " + named(*c.tensor(0)) + " has " + str(*ka) + ", " + named(*c.tensor(1)) +
           " has " + str(*kb) + " (matmul: A's last dimension = B's second to last)");
  }
  if (a->rank() > 2 && b->rank() > 2) {
    Shape batch_a{{a->dims.begin(), a->dims.end() - 2}, true};
    Shape batch_b{{b->dims.begin(), b->dims.end() - 2}, true};
    if (broadcast_clash(batch_a, batch_b)) {
      c.fail("batch dimensions of " + named(*c.tensor(0)) + " and " + named(*c.tensor(1)) +
             " do not broadcast (numpy broadcasting: equal or one of them 1)");
    }
  }
}

void check_gemm(const NodeCheck& c) {
  const Shape* a = c.shape(0);
  const Shape* b = c.shape(1);
  if (a == nullptr || b == nullptr) return;
  if (a->rank() != 2 || b->rank() != 2) {
    c.fail("Gemm takes 2-D A and B, got " + named(*c.tensor(0)) + " and " + named(*c.tensor(1)));
  }
  const bool ta = c.node().attrs.get_int("transA", 0) != 0;
  const bool tb = c.node().attrs.get_int("transB", 0) != 0;
  const auto m = dim(*a, ta ? 1 : 0);
  const auto ka = dim(*a, ta ? 0 : 1);
  const auto kb = dim(*b, tb ? 1 : 0);
  const auto n = dim(*b, tb ? 0 : 1);
  if (ka && kb && *ka != *kb) {
    c.fail("inner dimensions differ: A " + named(*c.tensor(0)) + (ta ? " (transposed)" : "") + " has K = " + str(*ka) +
           ", B " + named(*c.tensor(1)) + (tb ? " (transposed)" : "") + " has K = " + str(*kb));
  }
  if (const Shape* bias = c.shape(2); bias != nullptr && !c.node().attrs.has("broadcast")) {
    Shape mn{{Dim{m.value_or(-1), {}}, Dim{n.value_or(-1), {}}}, true};
    // C broadcasts one way, to M x N: each of its extents is 1 or equal.
    bool ok = bias->rank() <= 2;
    for (std::size_t k = 1; ok && k <= bias->rank(); ++k) {
      const Dim& x = bias->dims[bias->rank() - k];
      const Dim& y = mn.dims[2 - k];
      ok = !x.known() || !y.known() || x.value == 1 || x.value == y.value;
    }
    if (!ok) {
      c.fail("C " + named(*c.tensor(2)) + " does not broadcast to M x N = " + mn.str() +
             " (unidirectional broadcasting)");
    }
  }
}

void check_fully_connected(const NodeCheck& c) {
  const Shape* x = c.shape(0);
  const Shape* w = c.shape(1);
  if (x == nullptr || w == nullptr) return;
  if (w->rank() != 2) c.fail("weight " + named(*c.tensor(1)) + " must be 2-D [units, input size]");
  const auto units = dim(*w, 0);
  const auto in = dim(*w, 1);
  if (in && *in > 0) {
    if (c.node().attrs.get_int("keep_num_dims", 0) != 0) {
      if (const auto last = dim(*x, -1); last && *last != *in) {
        c.fail("input " + named(*c.tensor(0)) + " has last dimension " + str(*last) + " but weight " +
               named(*c.tensor(1)) + " takes " + str(*in) + " inputs");
      }
    } else if (const auto numel = x->numel(); numel && *numel % static_cast<std::uint64_t>(*in) != 0) {
      c.fail("input " + named(*c.tensor(0)) + " has " + std::to_string(*numel) +
             " elements, not a multiple of the weight's input size " + str(*in) + " (weight " + named(*c.tensor(1)) +
             ")");
    }
  }
  if (const Shape* b = c.shape(2); b != nullptr && units) {
    const auto len = b->numel();
    if (len && static_cast<std::int64_t>(*len) != *units) {
      c.fail("bias " + named(*c.tensor(2)) + " must hold the " + str(*units) + " units of weight " +
             named(*c.tensor(1)));
    }
  }
}

void check_concat(const NodeCheck& c) {
  const Node& n = c.node();
  if (!n.attrs.has("axis")) return;
  const std::int64_t axis = n.attrs.get_int("axis", 0);
  const Shape* first = nullptr;
  std::size_t first_index = 0;
  for (std::size_t i = 0; i < n.inputs.size(); ++i) {
    const Shape* s = c.shape(i);
    if (s == nullptr) continue;
    const auto rank = static_cast<std::int64_t>(s->rank());
    if (rank == 0) c.fail("input " + named(*c.tensor(i)) + " is a scalar; Concat needs rank >= 1");
    if (axis < -rank || axis >= rank) {
      c.fail("axis " + str(axis) + " is out of range for input " + named(*c.tensor(i)) + " of rank " + str(rank) +
             " (axis in [-rank, rank - 1])");
    }
    if (first == nullptr) {
      first = s;
      first_index = i;
      continue;
    }
    if (s->rank() != first->rank()) {
      c.fail("inputs " + named(*c.tensor(first_index)) + " and " + named(*c.tensor(i)) +
             " have different ranks (Concat inputs share one rank)");
    }
    const std::int64_t a = axis < 0 ? axis + rank : axis;
    for (std::int64_t k = 0; k < rank; ++k) {
      if (k == a) continue;
      const auto x = dim(*first, k);
      const auto y = dim(*s, k);
      if (x && y && *x != *y) {
        c.fail("inputs " + named(*c.tensor(first_index)) + " and " + named(*c.tensor(i)) + " differ in dimension " +
               str(k) + " (" + str(*x) + " vs " + str(*y) + "), which is not the concat axis " + str(axis));
      }
    }
  }
}

// A constant integer vector (int64 or int32), or nullopt.
std::optional<std::vector<std::int64_t>> constant_ints(const Tensor* t) {
  return t == nullptr ? std::nullopt : t->ints();
}

void check_reshape(const NodeCheck& c, bool onnx) {
  const auto target = constant_ints(c.tensor(1));
  // TFLite files may carry an empty shape input and the real shape in the options.
  if (!target || (!onnx && target->empty())) return;
  std::string text;
  for (const std::int64_t v : *target) text += (text.empty() ? "" : ",") + str(v);
  const std::string shape = "shape [" + text + "]";
  int unknowns = 0;
  bool zero = false;
  for (const std::int64_t v : *target) {
    if (v < -1) c.fail(shape + " has " + str(v) + " (extents are >= 0, or -1 for the one inferred)");
    unknowns += v == -1;
    zero = zero || v == 0;
  }
  if (unknowns > 1) c.fail(shape + " has " + str(unknowns) + " entries of -1 (at most one may be inferred)");
  const bool allowzero = onnx && c.node().attrs.get_int("allowzero", 0) != 0;
  if (allowzero && zero && unknowns == 1) {
    c.fail(shape + " has both 0 and -1 with allowzero=1 (the -1 cannot be inferred)");
  }
  const Shape* x = c.shape(0);
  if (x == nullptr) return;
  const auto numel = x->numel();
  if (!numel) return;
  // ONNX: 0 copies the input's extent at that position (unless allowzero); TFLite: 0 is 0.
  std::uint64_t product = 1;
  for (std::size_t i = 0; i < target->size(); ++i) {
    std::int64_t v = (*target)[i];
    if (v == -1) continue;
    if (v == 0 && onnx && !allowzero) {
      if (i >= x->rank()) {
        c.fail(shape + " copies input dimension " + std::to_string(i) + " with 0, but input " + named(*c.tensor(0)) +
               " has rank " + std::to_string(x->rank()));
      }
      v = x->dims[i].value;
    }
    if (v != 0 && product > (std::uint64_t{1} << 62) / static_cast<std::uint64_t>(v)) return;
    product *= static_cast<std::uint64_t>(v);
  }
  const bool fits = unknowns == 1 ? (product == 0 ? *numel == 0 : *numel % product == 0) : *numel == product;
  if (!fits) {
    c.fail(shape + " cannot hold the " + std::to_string(*numel) + " elements of input " + named(*c.tensor(0)) +
           (unknowns == 1 ? " (not divisible by the known extents' product " + std::to_string(product) + ")"
                          : " (element count " + std::to_string(product) + " differs)"));
  }
}

void check_batch_norm(const NodeCheck& c) {
  const Shape* x = c.shape(0);
  if (x == nullptr || x->rank() < 2) return;
  const auto channels = dim(*x, c.node().layout == Layout::kNHWC ? -1 : 1);
  if (!channels) return;
  static const char* const kNames[] = {"scale", "bias", "mean", "var"};
  for (std::size_t i = 1; i < 5; ++i) {
    const Shape* p = c.shape(i);
    if (p == nullptr || !p->is_static()) continue;
    if (p->rank() != 1 || static_cast<std::int64_t>(*p->numel()) != *channels) {
      c.fail(std::string(kNames[i - 1]) + " " + named(*c.tensor(i)) + " must be a vector of the " + str(*channels) +
             " channels of input " + named(*c.tensor(0)));
    }
  }
}

}  // namespace

void validate(const Graph& graph, const std::string& file) {
  const bool onnx = graph.meta.format == "onnx";
  // Before opset 7 ONNX broadcast by its own rules (the `broadcast` and `axis`
  // attributes), which numpy's do not describe.
  const bool legacy_broadcast = onnx && graph.meta.opset > 0 && graph.meta.opset < 7;
  for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
    const NodeCheck c(graph, i, file);
    const Node& n = graph.nodes[i];
    switch (n.op) {
      case Op::Conv:
      case Op::ConvTranspose: check_conv(c); break;
      case Op::MatMul: check_matmul(c); break;
      case Op::Gemm:
        if (!legacy_broadcast) check_gemm(c);
        break;
      case Op::FullyConnected: check_fully_connected(c); break;
      case Op::Concat: check_concat(c); break;
      case Op::Reshape: check_reshape(c, onnx); break;
      case Op::BatchNormalization: check_batch_norm(c); break;
      default:
        // TFLite's SELECT (v1) takes a 1-D condition matched to the first dimension,
        // not a broadcast one; SELECT_V2 broadcasts.
        if (is_broadcasting(n.op) && !legacy_broadcast && !n.attrs.has("broadcast") && n.source_op != "SELECT") {
          check_broadcast(c);
        }
        break;
    }
  }
}

}  // namespace infercast::ir
