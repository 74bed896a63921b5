// cleanup: Identity and Dropout removal, constant folding of shape arithmetic, dead
// nodes and unused initializers; static-shapes: every input pinned, then the same
// folding. Neither changes a value the graph computes.
#include <memory>
#include <optional>
#include <unordered_map>

#include "infercast/base/error.hpp"
#include "transform/passes.hpp"

namespace infercast::transform {
namespace {

struct Known {
  std::vector<std::int64_t> values;
};

bool is_int(ir::DType t) {
  return t == ir::DType::kInt64 || t == ir::DType::kInt32;
}

// Values of an integer node output, when the node is shape arithmetic over known values.
std::optional<std::vector<std::int64_t>> evaluate(const ir::Graph& g, const ir::Node& n,
                                                  const std::unordered_map<int, Known>& known) {
  auto in = [&](std::size_t i) -> const std::vector<std::int64_t>* {
    if (i >= n.inputs.size() || n.inputs[i] < 0) return nullptr;
    auto it = known.find(n.inputs[i]);
    return it == known.end() ? nullptr : &it->second.values;
  };
  switch (n.op) {
    case ir::Op::Shape: {
      if (n.inputs.empty() || n.inputs[0] < 0) return std::nullopt;
      const ir::Shape& s = g.tensors[n.inputs[0]].shape;
      if (!s.is_static()) return std::nullopt;
      auto dims = s.extents();
      const auto r = static_cast<std::int64_t>(dims.size());
      std::int64_t start = n.attrs.get_int("start", 0), end = n.attrs.get_int("end", r);
      if (start < 0) start += r;
      if (end < 0) end += r;
      start = std::clamp<std::int64_t>(start, 0, r);
      end = std::clamp<std::int64_t>(end, start, r);
      return std::vector<std::int64_t>(dims.begin() + start, dims.begin() + end);
    }
    case ir::Op::Identity:
    case ir::Op::Cast:
    case ir::Op::Unsqueeze:
    case ir::Op::Squeeze:
    case ir::Op::Reshape:
    case ir::Op::Flatten: {
      const auto* x = in(0);
      if (x == nullptr) return std::nullopt;
      return *x;
    }
    case ir::Op::Concat: {
      std::vector<std::int64_t> out;
      for (std::size_t i = 0; i < n.inputs.size(); ++i) {
        const auto* x = in(i);
        if (x == nullptr || g.tensors[n.inputs[i]].shape.rank() > 1) return std::nullopt;
        out.insert(out.end(), x->begin(), x->end());
      }
      return out;
    }
    case ir::Op::Gather: {
      const auto* data = in(0);
      const auto* idx = in(1);
      if (data == nullptr || idx == nullptr || n.attrs.get_int("axis", 0) != 0 ||
          g.tensors[n.inputs[0]].shape.rank() != 1) {
        return std::nullopt;
      }
      std::vector<std::int64_t> out;
      const auto size = static_cast<std::int64_t>(data->size());
      for (auto i : *idx) {
        if (i < 0) i += size;
        if (i < 0 || i >= size) return std::nullopt;
        out.push_back((*data)[static_cast<std::size_t>(i)]);
      }
      return out;
    }
    case ir::Op::Add:
    case ir::Op::Sub:
    case ir::Op::Mul:
    case ir::Op::Div: {
      const auto* a = in(0);
      const auto* b = in(1);
      if (a == nullptr || b == nullptr) return std::nullopt;
      if (a->size() != b->size() && a->size() != 1 && b->size() != 1) return std::nullopt;
      const std::size_t size = std::max(a->size(), b->size());
      std::vector<std::int64_t> out(size);
      for (std::size_t i = 0; i < size; ++i) {
        const std::int64_t x = (*a)[a->size() == 1 ? 0 : i], y = (*b)[b->size() == 1 ? 0 : i];
        switch (n.op) {
          case ir::Op::Add: out[i] = x + y; break;
          case ir::Op::Sub: out[i] = x - y; break;
          case ir::Op::Mul: out[i] = x * y; break;
          default:
            if (y == 0) return std::nullopt;
            // ONNX integer Div truncates toward zero, like C++.
            out[i] = x / y;
        }
      }
      return out;
    }
    case ir::Op::Slice: {
      const auto* data = in(0);
      const auto* starts = in(1);
      const auto* ends = in(2);
      if (data == nullptr || starts == nullptr || ends == nullptr || starts->size() != 1 || ends->size() != 1 ||
          g.tensors[n.inputs[0]].shape.rank() != 1) {
        return std::nullopt;
      }
      const auto* steps = in(4);
      const std::int64_t step = steps != nullptr && steps->size() == 1 ? (*steps)[0] : 1;
      if (step != 1) return std::nullopt;
      const auto size = static_cast<std::int64_t>(data->size());
      std::int64_t s = (*starts)[0], e = (*ends)[0];
      if (s < 0) s += size;
      if (e < 0) e += size;
      s = std::clamp<std::int64_t>(s, 0, size);
      e = std::clamp<std::int64_t>(e, s, size);
      return std::vector<std::int64_t>(data->begin() + s, data->begin() + e);
    }
    default: return std::nullopt;
  }
}

}  // namespace

std::uint64_t fold_shape_arithmetic(Editor& edit) {
  ir::Graph& g = edit.graph();
  std::unordered_map<int, Known> known;
  for (std::size_t i = 0; i < g.tensors.size(); ++i) {
    const ir::Tensor& t = g.tensors[i];
    if (!t.is_constant() || !is_int(t.dtype) || t.shape.rank() > 1) continue;
    auto v = int_values(g, static_cast<int>(i));
    if (!v.empty() || t.shape.numel() == std::optional<std::uint64_t>(0)) known[static_cast<int>(i)] = {v};
  }
  std::uint64_t folded = 0;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& n = g.nodes[i];
    if (edit.removed(static_cast<int>(i)) || n.outputs.size() != 1 || n.outputs[0] < 0) continue;
    const int out = n.outputs[0];
    ir::Tensor& t = g.tensors[out];
    if (!is_int(t.dtype) || t.kind == ir::TensorKind::kOutput || t.shape.rank() > 1) continue;
    if (t.is_constant()) continue;  // already a constant (a Constant node): left to the writer
    const auto values = evaluate(g, n, known);
    if (!values || values->size() > 4096) continue;
    known[out] = {*values};
    // The output becomes an initializer holding the values, in its own dtype and shape.
    const auto count = static_cast<std::int64_t>(values->size());
    if (!t.shape.is_static() || t.shape.numel() != static_cast<std::uint64_t>(count)) {
      if (!(t.shape.rank_known && t.shape.rank() == 0 && count == 1)) t.shape = ir::Shape::of({count});
    }
    if (t.dtype == ir::DType::kInt64) {
      t.data = g.own(to_bytes(*values));
    } else {
      std::vector<std::int32_t> narrow(values->begin(), values->end());
      t.data = g.own(to_bytes(narrow));
    }
    t.kind = ir::TensorKind::kConstant;
    edit.remove_node(static_cast<int>(i));
    ++folded;
  }
  return folded;
}

namespace {

// Removes nodes none of whose outputs reaches a graph output. Returns how many.
std::uint64_t remove_dead(Editor& edit) {
  ir::Graph& g = edit.graph();
  std::vector<bool> live(g.tensors.size(), false);
  for (int id : g.outputs) live[id] = true;
  std::uint64_t removed = 0;
  for (std::size_t i = g.nodes.size(); i-- > 0;) {
    if (edit.removed(static_cast<int>(i))) continue;
    const ir::Node& n = g.nodes[i];
    bool needed = n.outputs.empty();
    for (int id : n.outputs) needed = needed || (id >= 0 && live[id]);
    if (!needed) {
      edit.remove_node(static_cast<int>(i));
      ++removed;
      continue;
    }
    for (int id : n.inputs) {
      if (id >= 0) live[id] = true;
    }
  }
  return removed;
}

class Cleanup : public Pass {
 public:
  std::string name() const override { return "cleanup"; }
  std::string summary() const override {
    return "Identity/Dropout removal, shape-arithmetic folding, dead nodes, unused initializers";
  }

  PassResult apply(ir::Graph& graph, const PassContext&) override {
    PassResult result;
    Editor edit(graph);
    std::uint64_t identities = 0;
    for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
      ir::Node& n = graph.nodes[i];
      if (n.op != ir::Op::Identity && n.op != ir::Op::Dropout) continue;
      if (n.inputs.empty() || n.inputs[0] < 0 || n.outputs.empty() || n.outputs[0] < 0) continue;
      bool extra_used = false;
      for (std::size_t o = 1; o < n.outputs.size(); ++o) {
        const int id = n.outputs[o];
        extra_used =
            extra_used ||
            (id >= 0 && (!graph.tensors[id].consumers.empty() || graph.tensors[id].kind == ir::TensorKind::kOutput));
      }
      if (extra_used) {
        result.notes.push_back("node '" + n.name + "' left alone: its mask output is used");
        continue;
      }
      const int x = n.inputs[0], y = n.outputs[0];
      const bool y_is_output = std::find(graph.outputs.begin(), graph.outputs.end(), y) != graph.outputs.end();
      if (!y_is_output) {
        edit.replace_uses(y, x);
      } else {
        const ir::Tensor& xt = graph.tensors[x];
        const bool x_is_output = std::find(graph.outputs.begin(), graph.outputs.end(), x) != graph.outputs.end();
        if (xt.producer < 0 || edit.removed(xt.producer) || x_is_output) {
          result.notes.push_back("node '" + n.name + "' left alone: it names a graph output after " +
                                 (xt.producer < 0 ? "an input or constant" : "another output"));
          continue;
        }
        // The producer writes the output's name directly; other readers of x read it.
        edit.replace_uses(x, y);
        for (int& id : graph.nodes[xt.producer].outputs) {
          if (id == x) id = y;
        }
      }
      edit.remove_node(static_cast<int>(i));
      ++identities;
    }
    const std::uint64_t folded = fold_shape_arithmetic(edit);
    const std::uint64_t dead = remove_dead(edit);
    const std::uint64_t dropped = edit.commit(graph.meta.source_path);
    result.rewrites = identities + folded + dead + dropped;
    result.details = {{"identity_dropout_removed", identities},
                      {"shape_nodes_folded", folded},
                      {"dead_nodes_removed", dead},
                      {"unused_initializers_removed", dropped}};
    return result;
  }
};

class StaticShapes : public Pass {
 public:
  std::string name() const override { return "static-shapes"; }
  std::string summary() const override { return "pin every input dimension and fold what becomes constant"; }

  PassResult apply(ir::Graph& graph, const PassContext&) override {
    for (int id : graph.inputs) {
      const ir::Tensor& t = graph.tensors[id];
      if (!t.shape.is_static()) {
        throw Error(
            ErrorKind::kUnknownDim, graph.meta.source_path, "input '" + t.name + "'",
            "shape " + t.shape.str() + " has symbolic dimensions; pin them with --input-shape " + t.name + "=...");
      }
    }
    PassResult result;
    Editor edit(graph);
    const std::uint64_t folded = fold_shape_arithmetic(edit);
    const std::uint64_t dead = remove_dead(edit);
    const std::uint64_t dropped = edit.commit(graph.meta.source_path);
    result.rewrites = folded + dead + dropped;
    result.details = {
        {"shape_nodes_folded", folded}, {"dead_nodes_removed", dead}, {"unused_initializers_removed", dropped}};
    return result;
  }
};

}  // namespace

std::unique_ptr<Pass> make_cleanup(const std::string&, const std::string&) {
  return std::make_unique<Cleanup>();
}
std::unique_ptr<Pass> make_static_shapes(const std::string&, const std::string&) {
  return std::make_unique<StaticShapes>();
}

}  // namespace infercast::transform
