// tile-matmul=T: every Gemm and MatMul becomes a subgraph of T x T matrix multiplies.
//
//   A (.. x M x K)  [Transpose if transA]  Pad to Mp x Kp  Split rows (mt)  Split each row block's columns (kt)
//   B (.. x K x N)  [Transpose if transB]  Pad to Kp x Np  Split rows (kt)  Split each row block's columns (nt)
//   MatMul every tile pair (i,k)x(k,j)      Sum over k per (i,j)   Concat per row (axis -1)   Concat rows (axis -2)
//   Slice the padding off   [Mul alpha]   [Add beta * C]
//
// with Mp, Kp, Np the multiples of T at or above M, K, N and mt = Mp/T, kt = Kp/T,
// nt = Np/T. A step that would do nothing (a Split into one part, a Sum of one term,
// padding by zero) is not emitted, which gives the closed-form node count of
// tiled_node_count() (docs/transform.md). Batch dimensions of a batched MatMul ride
// along: every op above works on the last two axes and MatMul broadcasts the rest.
// Zero padding adds exact zeros to every sum, so only the summation order changes.
#include <algorithm>
#include <memory>

#include "infercast/base/error.hpp"
#include "transform/editor.hpp"
#include "transform/passes.hpp"

namespace infercast::transform {
namespace {

std::int64_t tiles(std::int64_t extent, std::int64_t t) {
  return (extent + t - 1) / t;
}

class TileMatMul : public Pass {
 public:
  explicit TileMatMul(std::int64_t tile) : t_(tile) {}
  std::string name() const override { return "tile-matmul=" + std::to_string(t_); }
  std::string summary() const override {
    return "Gemm and MatMul as T x T tile MatMuls (Pad, Split, Sum, Concat, Slice)";
  }

  PassResult apply(ir::Graph& graph, const PassContext&) override {
    PassResult result;
    result.details = {{"tile", t_}, {"layers", nlohmann::json::array()}};
    Editor edit(graph);
    const std::size_t original = graph.nodes.size();
    for (std::size_t i = 0; i < original; ++i) {
      const ir::Node& n = graph.nodes[i];
      if (n.op != ir::Op::Gemm && n.op != ir::Op::MatMul) continue;
      std::string why;
      if (tile_node(edit, static_cast<int>(i), result, why)) {
        ++result.rewrites;
        edit.remove_node(static_cast<int>(i));
      } else if (!why.empty()) {
        result.notes.push_back("node '" + graph.nodes[i].name + "' (" + graph.nodes[i].source_op +
                               ") left alone: " + why);
      }
    }
    if (result.rewrites > 0) edit.commit(graph.meta.source_path);
    return result;
  }

 private:
  struct Operand {
    int id;
    std::vector<std::int64_t> dims;
  };

  ir::Node node(ir::Op op, const std::string& name, std::vector<int> inputs, std::vector<int> outputs) {
    ir::Node n;
    n.op = op;
    n.name = name;
    n.inputs = std::move(inputs);
    n.outputs = std::move(outputs);
    return n;
  }

  // Emits one node with one fresh output of `dims`; returns the output.
  int emit(Editor& e, ir::Op op, const std::string& name, std::vector<int> inputs,
           const std::vector<std::int64_t>& dims, ir::DType dtype, ir::Attributes attrs = {}) {
    const int out = e.activation(name, dtype, ir::Shape::of(dims));
    ir::Node n = node(op, name, std::move(inputs), {out});
    n.attrs = std::move(attrs);
    last_ = e.add_node(std::move(n));
    ++emitted_;
    return out;
  }

  // Splits `x` along `axis` into `parts` pieces of extent T (no node when parts == 1).
  std::vector<Operand> split(Editor& e, const Operand& x, std::size_t axis, std::int64_t parts, const std::string& name,
                             ir::DType dtype) {
    if (parts == 1) return {x};
    std::vector<std::int64_t> piece = x.dims;
    piece[axis] = t_;
    std::vector<int> outs;
    std::vector<Operand> result;
    for (std::int64_t p = 0; p < parts; ++p) {
      const int id = e.activation(name + "_" + std::to_string(p), dtype, ir::Shape::of(piece));
      outs.push_back(id);
      result.push_back({id, piece});
    }
    ir::Node n = node(ir::Op::Split, name, {x.id, e.int64s(std::vector<std::int64_t>(parts, t_))}, outs);
    n.attrs.set("axis", static_cast<std::int64_t>(axis));
    last_ = e.add_node(std::move(n));
    ++emitted_;
    return result;
  }

  bool tile_node(Editor& e, int index, PassResult& result, std::string& why) {
    ir::Graph& g = e.graph();
    const ir::Node source = g.nodes[index];  // a copy: add_node may reallocate
    const bool gemm = source.op == ir::Op::Gemm;
    if (source.inputs.size() < 2 || source.inputs[0] < 0 || source.inputs[1] < 0 || source.outputs.empty()) {
      why = "missing inputs";
      return false;
    }
    const ir::Tensor& a_t = g.tensors[source.inputs[0]];
    const ir::Tensor& b_t = g.tensors[source.inputs[1]];
    const ir::Tensor& y_t = g.tensors[source.outputs[0]];
    if (!a_t.shape.is_static() || !b_t.shape.is_static() || !y_t.shape.is_static()) {
      why = "shapes are not static (give --input-shape)";
      return false;
    }
    if (!ir::is_floating(a_t.dtype) || a_t.dtype != b_t.dtype) {
      why = "not a floating-point multiply of one dtype";
      return false;
    }
    if (a_t.shape.rank() < 2 || b_t.shape.rank() < 2) {
      why = "a vector operand (rank 1) has no tiles";
      return false;
    }
    if (source.attrs.get_int("adj_x", 0) != 0 || source.attrs.get_int("adj_y", 0) != 0) {
      why = "adj_x/adj_y (TFLite BatchMatMul) is not tiled";
      return false;
    }
    const ir::DType dtype = a_t.dtype;
    const bool trans_a = gemm && source.attrs.get_int("transA", 0) != 0;
    const bool trans_b = gemm && source.attrs.get_int("transB", 0) != 0;
    const double alpha = gemm ? source.attrs.get_float("alpha", 1.0) : 1.0;
    const double beta = gemm ? source.attrs.get_float("beta", 1.0) : 1.0;
    const int c = gemm && source.inputs.size() > 2 ? source.inputs[2] : -1;
    if ((alpha != 1.0 || (c >= 0 && beta != 1.0)) && dtype != ir::DType::kFloat32) {
      why = "alpha/beta scaling is emitted for float32 only";
      return false;
    }
    Operand a{source.inputs[0], a_t.shape.extents()};
    Operand b{source.inputs[1], b_t.shape.extents()};
    const std::size_t ra = a.dims.size();
    const std::size_t rb = b.dims.size();
    const std::int64_t m = trans_a ? a.dims[ra - 1] : a.dims[ra - 2];
    const std::int64_t k = trans_a ? a.dims[ra - 2] : a.dims[ra - 1];
    const std::int64_t n = trans_b ? b.dims[rb - 2] : b.dims[rb - 1];
    if (m == 0 || k == 0 || n == 0) {
      why = "an empty operand";
      return false;
    }
    const std::int64_t mt = tiles(m, t_), kt = tiles(k, t_), nt = tiles(n, t_);
    const bool padded_m = m % t_ != 0, padded_k = k % t_ != 0, padded_n = n % t_ != 0;
    if (!gemm && mt == 1 && kt == 1 && nt == 1 && !padded_m && !padded_k && !padded_n) {
      why.clear();  // already one tile: nothing to do, nothing to say
      return false;
    }
    const std::string base = source.name + "/tile";
    emitted_ = 0;
    last_ = -1;
    // Batch dimensions of the result: numpy broadcasting of the operands' leading dims.
    const std::vector<std::int64_t> y_dims = y_t.shape.extents();
    std::vector<std::int64_t> batch(y_dims.begin(), y_dims.end() - 2);
    std::uint64_t batch_count = 1;
    for (auto d : batch) batch_count *= static_cast<std::uint64_t>(d);

    auto transpose = [&](Operand x, const std::string& name) {
      ir::Attributes attrs;
      attrs.set("perm", std::vector<std::int64_t>{1, 0});
      std::vector<std::int64_t> dims = {x.dims[1], x.dims[0]};
      return Operand{emit(e, ir::Op::Transpose, name, {x.id}, dims, dtype, std::move(attrs)), dims};
    };
    if (trans_a) a = transpose(a, base + "/transpose_a");
    if (trans_b) b = transpose(b, base + "/transpose_b");
    auto pad = [&](Operand x, std::int64_t rows, std::int64_t cols, const std::string& name) {
      const std::size_t r = x.dims.size();
      const std::int64_t add_rows = rows - x.dims[r - 2], add_cols = cols - x.dims[r - 1];
      if (add_rows == 0 && add_cols == 0) return x;
      std::vector<std::int64_t> pads(2 * r, 0);
      pads[r + r - 2] = add_rows;
      pads[r + r - 1] = add_cols;
      std::vector<std::int64_t> dims = x.dims;
      dims[r - 2] = rows;
      dims[r - 1] = cols;
      return Operand{emit(e, ir::Op::Pad, name, {x.id, e.int64s(pads)}, dims, dtype), dims};
    };
    a = pad(a, mt * t_, kt * t_, base + "/pad_a");
    b = pad(b, kt * t_, nt * t_, base + "/pad_b");
    // A tiles [i][k], B tiles [k][j].
    std::vector<std::vector<Operand>> a_tiles, b_tiles;
    const std::size_t a_rows = a.dims.size() - 2, b_rows = b.dims.size() - 2;
    for (const Operand& row : split(e, a, a_rows, mt, base + "/split_a", dtype)) {
      a_tiles.push_back(split(e, row, a_rows + 1, kt, base + "/split_a_" + std::to_string(a_tiles.size()), dtype));
    }
    for (const Operand& row : split(e, b, b_rows, kt, base + "/split_b", dtype)) {
      b_tiles.push_back(split(e, row, b_rows + 1, nt, base + "/split_b_" + std::to_string(b_tiles.size()), dtype));
    }
    std::vector<std::int64_t> tile_dims = batch;
    tile_dims.push_back(t_);
    tile_dims.push_back(t_);
    std::vector<int> row_blocks;
    for (std::int64_t i = 0; i < mt; ++i) {
      std::vector<int> row;
      for (std::int64_t j = 0; j < nt; ++j) {
        std::vector<int> terms;
        for (std::int64_t kk = 0; kk < kt; ++kk) {
          const std::string name =
              base + "/matmul_" + std::to_string(i) + "_" + std::to_string(kk) + "_" + std::to_string(j);
          terms.push_back(emit(e, ir::Op::MatMul, name, {a_tiles[i][kk].id, b_tiles[kk][j].id}, tile_dims, dtype));
        }
        if (terms.size() == 1) {
          row.push_back(terms[0]);
        } else {
          row.push_back(emit(e, ir::Op::Sum, base + "/sum_" + std::to_string(i) + "_" + std::to_string(j), terms,
                             tile_dims, dtype));
        }
      }
      if (row.size() == 1) {
        row_blocks.push_back(row[0]);
      } else {
        std::vector<std::int64_t> dims = tile_dims;
        dims.back() = nt * t_;
        ir::Attributes attrs;
        attrs.set("axis", static_cast<std::int64_t>(dims.size() - 1));
        row_blocks.push_back(
            emit(e, ir::Op::Concat, base + "/concat_row_" + std::to_string(i), row, dims, dtype, std::move(attrs)));
      }
    }
    std::vector<std::int64_t> full = tile_dims;
    full[full.size() - 2] = mt * t_;
    full.back() = nt * t_;
    int y = row_blocks[0];
    if (row_blocks.size() > 1) {
      ir::Attributes attrs;
      attrs.set("axis", static_cast<std::int64_t>(full.size() - 2));
      y = emit(e, ir::Op::Concat, base + "/concat_rows", row_blocks, full, dtype, std::move(attrs));
    }
    std::vector<std::int64_t> out_dims = batch;
    out_dims.push_back(m);
    out_dims.push_back(n);
    if (padded_m || padded_n) {
      const auto r = static_cast<std::int64_t>(full.size());
      y = emit(e, ir::Op::Slice, base + "/slice", {y, e.int64s({0, 0}), e.int64s({m, n}), e.int64s({r - 2, r - 1})},
               out_dims, dtype);
    }
    if (alpha != 1.0) {
      const int s = e.floats(base + "/alpha", {}, {static_cast<float>(alpha)});
      y = emit(e, ir::Op::Mul, base + "/alpha", {y, s}, out_dims, dtype);
    }
    bool beta_mul = false;
    if (c >= 0) {
      int bias = c;
      if (beta != 1.0) {
        const std::vector<double> values = float_values(g, c);
        if (!values.empty()) {
          std::vector<float> scaled(values.size());
          for (std::size_t v = 0; v < values.size(); ++v) scaled[v] = static_cast<float>(beta * values[v]);
          bias = e.floats(g.tensors[c].name + "_beta", g.tensors[c].shape.extents(), scaled);
        } else {
          const int s = e.floats(base + "/beta", {}, {static_cast<float>(beta)});
          bias = emit(e, ir::Op::Mul, base + "/beta", {c, s}, g.tensors[c].shape.extents(), dtype);
          beta_mul = true;
        }
      }
      y = emit(e, ir::Op::Add, base + "/bias", {y, bias}, out_dims, dtype);
    }
    // The last node writes the original output tensor: its name, kind and consumers stay.
    e.graph().nodes[last_].outputs[0] = source.outputs[0];
    const std::uint64_t expected =
        tiled_node_count(m, k, n, t_, trans_a, trans_b, alpha != 1.0, c >= 0) + (beta_mul ? 1 : 0);
    const std::uint64_t tile_macs =
        batch_count * static_cast<std::uint64_t>(mt * kt * nt) * static_cast<std::uint64_t>(t_ * t_ * t_);
    result.details["layers"].push_back({{"node", source.name},
                                        {"op", source.source_op},
                                        {"prefix", base + "/"},
                                        {"batch", batch_count},
                                        {"m", m},
                                        {"k", k},
                                        {"n", n},
                                        {"tiles", {mt, kt, nt}},
                                        {"nodes", emitted_},
                                        {"nodes_closed_form", expected},
                                        {"padded_tile_macs", tile_macs},
                                        {"original_macs", batch_count * static_cast<std::uint64_t>(m * k * n)}});
    return true;
  }

  std::int64_t t_;
  std::uint64_t emitted_ = 0;
  int last_ = -1;
};

}  // namespace

std::uint64_t tiled_node_count(std::int64_t m, std::int64_t k, std::int64_t n, std::int64_t t, bool trans_a,
                               bool trans_b, bool alpha, bool bias) {
  const std::uint64_t mt = static_cast<std::uint64_t>(tiles(m, t)), kt = static_cast<std::uint64_t>(tiles(k, t)),
                      nt = static_cast<std::uint64_t>(tiles(n, t));
  auto one = [](bool b) -> std::uint64_t { return b ? 1 : 0; };
  return one(trans_a) + one(trans_b)                                      // Transpose
         + one(m % t != 0 || k % t != 0) + one(k % t != 0 || n % t != 0)  // Pad A, Pad B
         + one(mt > 1) + mt * one(kt > 1)                                 // Split A rows, then each row's columns
         + one(kt > 1) + kt * one(nt > 1)                                 // Split B rows, then each row's columns
         + mt * kt * nt                                                   // MatMul per tile pair
         + mt * nt * one(kt > 1)                                          // Sum over the shared dimension
         + mt * one(nt > 1) + one(mt > 1)                                 // Concat per row, Concat rows
         + one(m % t != 0 || n % t != 0)                                  // Slice
         + one(alpha) + one(bias);                                        // Mul alpha, Add bias
}

std::unique_ptr<Pass> make_tile_matmul(const std::string& argument, const std::string& spec) {
  std::int64_t tile = 0;
  std::size_t used = 0;
  try {
    tile = std::stoll(argument, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (argument.empty() || used != argument.size() || tile <= 0) {
    throw Error(ErrorKind::kInvalidArgument, "", "--pass " + spec,
                "the tile must be a positive integer (tile-matmul=64), got '" + argument + "'");
  }
  if (tile > 65536) throw Error(ErrorKind::kInvalidArgument, "", "--pass " + spec, "the tile must be <= 65536");
  return std::make_unique<TileMatMul>(tile);
}

}  // namespace infercast::transform
