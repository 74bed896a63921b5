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
//
// In TFLite graphs (NHWC layout) the same steps are written as the TFLite builtins the
// importer reads back into these IR ops (TRANSPOSE, PAD, SPLIT, BATCH_MATMUL, ADD_N,
// CONCATENATION, SLICE, ADD) with int32 parameter tensors, and FULLY_CONNECTED is tiled
// too: its weights are [N, K] (a transB Gemm), an input of rank != 2 is reshaped to
// [numel / K, K] first (and the result to the output's shape when keep_num_dims), and
// the bias and the fused activation go on the final ADD (an ADD of zeros when there is
// an activation but no bias).
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
    return "Gemm, MatMul and TFLite FULLY_CONNECTED as T x T tile MatMuls (Pad, Split, Sum, Concat, Slice)";
  }

  PassResult apply(ir::Graph& graph, const PassContext&) override {
    PassResult result;
    result.details = {{"tile", t_}, {"layers", nlohmann::json::array()}};
    Editor edit(graph);
    const std::size_t original = graph.nodes.size();
    for (std::size_t i = 0; i < original; ++i) {
      const ir::Node& n = graph.nodes[i];
      if (n.op != ir::Op::Gemm && n.op != ir::Op::MatMul && n.op != ir::Op::FullyConnected) continue;
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

  // An int32 constant (TFLite's parameter tensors).
  static int int32s(Editor& e, const std::string& hint, const std::vector<std::int64_t>& dims,
                    const std::vector<std::int64_t>& values) {
    std::vector<std::int32_t> v(values.begin(), values.end());
    return e.constant(hint, ir::DType::kInt32, dims, to_bytes(v));
  }

  ir::Node node(ir::Op op, const std::string& name, std::vector<int> inputs, std::vector<int> outputs) {
    ir::Node n;
    n.op = op;
    n.name = name;
    n.inputs = std::move(inputs);
    n.outputs = std::move(outputs);
    return n;
  }

  // Emits one node with one fresh output of `dims`; returns the output.
  // In TFLite form the node is the builtin `builtin` in NHWC layout (written back
  // operator for operator), else an ONNX-form node.
  int emit(Editor& e, ir::Op op, const std::string& name, std::vector<int> inputs,
           const std::vector<std::int64_t>& dims, ir::DType dtype, ir::Attributes attrs = {},
           const char* builtin = "") {
    const int out = e.activation(name, dtype, ir::Shape::of(dims));
    ir::Node n = node(op, name, std::move(inputs), {out});
    n.attrs = std::move(attrs);
    if (tfl_) {
      n.source_op = builtin;
      n.layout = ir::Layout::kNHWC;
    }
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
    ir::Node n;
    if (tfl_) {  // SPLIT [input, axis] (the importer's order), equal parts
      n = node(ir::Op::Split, name, {x.id, int32s(e, name + "_axis", {}, {static_cast<std::int64_t>(axis)})}, outs);
      n.attrs.set("num_outputs", parts);
      n.source_op = "SPLIT";
      n.layout = ir::Layout::kNHWC;
    } else {
      n = node(ir::Op::Split, name, {x.id, e.int64s(std::vector<std::int64_t>(parts, t_))}, outs);
    }
    n.attrs.set("axis", static_cast<std::int64_t>(axis));
    last_ = e.add_node(std::move(n));
    ++emitted_;
    return result;
  }

  bool tile_node(Editor& e, int index, PassResult& result, std::string& why) {
    ir::Graph& g = e.graph();
    const ir::Node source = g.nodes[index];  // a copy: add_node may reallocate
    const bool gemm = source.op == ir::Op::Gemm;
    const bool fc = source.op == ir::Op::FullyConnected;
    tfl_ = source.layout == ir::Layout::kNHWC;
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
    if (!ir::is_floating(a_t.dtype) || a_t.dtype != b_t.dtype || y_t.dtype != a_t.dtype) {
      why = "not a floating-point multiply of one dtype";
      return false;
    }
    if ((!fc && a_t.shape.rank() < 2) || b_t.shape.rank() < 2) {
      why = "a vector operand (rank 1) has no tiles";
      return false;
    }
    if (source.attrs.get_int("adj_x", 0) != 0 || source.attrs.get_int("adj_y", 0) != 0) {
      why = "adj_x/adj_y (TFLite BatchMatMul) is not tiled";
      return false;
    }
    const ir::DType dtype = a_t.dtype;
    const bool trans_a = gemm && source.attrs.get_int("transA", 0) != 0;
    const bool trans_b = fc || (gemm && source.attrs.get_int("transB", 0) != 0);  // FULLY_CONNECTED: [N, K]
    const double alpha = gemm ? source.attrs.get_float("alpha", 1.0) : 1.0;
    const double beta = gemm ? source.attrs.get_float("beta", 1.0) : 1.0;
    const int c = (gemm || fc) && source.inputs.size() > 2 ? source.inputs[2] : -1;
    const std::string activation = fc ? source.attrs.get_string("fused_activation", "") : std::string();
    if ((alpha != 1.0 || (c >= 0 && beta != 1.0)) && dtype != ir::DType::kFloat32) {
      why = "alpha/beta scaling is emitted for float32 only";
      return false;
    }
    Operand a{source.inputs[0], a_t.shape.extents()};
    Operand b{source.inputs[1], b_t.shape.extents()};
    const std::string base = source.name + "/tile";
    std::uint64_t extra = 0;  // FULLY_CONNECTED's reshapes, beside the closed form
    std::int64_t a_size = 1;
    for (auto d : a.dims) a_size *= d;
    if (fc) {
      if (b.dims.size() != 2) {
        why = "FULLY_CONNECTED weights are not 2-D";
        return false;
      }
      if (b.dims[1] == 0 || a_size % b.dims[1] != 0) {
        why = "the input's size is not a multiple of the weights' K";
        return false;
      }
      if (c >= 0 && g.tensors[c].shape.numel().value_or(0) != static_cast<std::uint64_t>(b.dims[0])) {
        why = "the bias is not one value per output unit";
        return false;
      }
    }
    const std::size_t ra = a.dims.size(), rb = b.dims.size();
    // FULLY_CONNECTED flattens its input to [numel / K, K].
    const std::int64_t k = fc ? b.dims[1] : trans_a ? a.dims[ra - 2] : a.dims[ra - 1];
    const std::int64_t m = fc ? a_size / k : trans_a ? a.dims[ra - 1] : a.dims[ra - 2];
    const std::int64_t n = trans_b ? b.dims[rb - 2] : b.dims[rb - 1];
    if (m == 0 || k == 0 || n == 0) {
      why = "an empty operand";
      return false;
    }
    const std::int64_t mt = tiles(m, t_), kt = tiles(k, t_), nt = tiles(n, t_);
    const bool padded_m = m % t_ != 0, padded_k = k % t_ != 0, padded_n = n % t_ != 0;
    if (!gemm && !fc && mt == 1 && kt == 1 && nt == 1 && !padded_m && !padded_k && !padded_n) {
      why.clear();  // already one tile: nothing to do, nothing to say
      return false;
    }
    emitted_ = 0;
    last_ = -1;
    auto reshape = [&](int x, const std::vector<std::int64_t>& dims, const std::string& name) {
      ++extra;
      return emit(e, ir::Op::Reshape, name,
                  {x, int32s(e, name + "_shape", {static_cast<std::int64_t>(dims.size())}, dims)}, dims, dtype, {},
                  "RESHAPE");
    };
    if (fc && a.dims != std::vector<std::int64_t>{m, k})
      a = Operand{reshape(a.id, {m, k}, base + "/reshape_in"), {m, k}};
    // Batch dimensions of the result: numpy broadcasting of the operands' leading dims.
    const std::vector<std::int64_t> y_dims = y_t.shape.extents();
    std::vector<std::int64_t> batch;
    if (!fc) batch.assign(y_dims.begin(), y_dims.end() - 2);
    std::uint64_t batch_count = 1;
    for (auto d : batch) batch_count *= static_cast<std::uint64_t>(d);

    auto transpose = [&](Operand x, const std::string& name) {
      ir::Attributes attrs;
      attrs.set("perm", std::vector<std::int64_t>{1, 0});
      std::vector<std::int64_t> dims = {x.dims[1], x.dims[0]};
      std::vector<int> inputs = {x.id};
      if (tfl_) inputs.push_back(int32s(e, name + "_perm", {2}, {1, 0}));
      return Operand{emit(e, ir::Op::Transpose, name, inputs, dims, dtype, std::move(attrs), "TRANSPOSE"), dims};
    };
    if (trans_a) a = transpose(a, base + "/transpose_a");
    if (trans_b) b = transpose(b, base + "/transpose_b");
    auto pad = [&](Operand x, std::int64_t rows, std::int64_t cols, const std::string& name) {
      const std::size_t r = x.dims.size();
      const std::int64_t add_rows = rows - x.dims[r - 2], add_cols = cols - x.dims[r - 1];
      if (add_rows == 0 && add_cols == 0) return x;
      std::vector<std::int64_t> dims = x.dims;
      dims[r - 2] = rows;
      dims[r - 1] = cols;
      if (tfl_) {  // PAD [input, paddings int32 [rank, 2]]
        std::vector<std::int64_t> paddings(2 * r, 0);
        paddings[2 * (r - 2) + 1] = add_rows;
        paddings[2 * (r - 1) + 1] = add_cols;
        ir::Attributes attrs;
        attrs.set("mode", std::string("constant"));
        const int p = int32s(e, name + "_paddings", {static_cast<std::int64_t>(r), 2}, paddings);
        return Operand{emit(e, ir::Op::Pad, name, {x.id, p}, dims, dtype, std::move(attrs), "PAD"), dims};
      }
      std::vector<std::int64_t> pads(2 * r, 0);
      pads[r + r - 2] = add_rows;
      pads[r + r - 1] = add_cols;
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
    ir::Attributes matmul_attrs;
    if (tfl_) {
      matmul_attrs.set("adj_x", std::int64_t{0});
      matmul_attrs.set("adj_y", std::int64_t{0});
    }
    std::vector<int> row_blocks;
    for (std::int64_t i = 0; i < mt; ++i) {
      std::vector<int> row;
      for (std::int64_t j = 0; j < nt; ++j) {
        std::vector<int> terms;
        for (std::int64_t kk = 0; kk < kt; ++kk) {
          const std::string name =
              base + "/matmul_" + std::to_string(i) + "_" + std::to_string(kk) + "_" + std::to_string(j);
          terms.push_back(emit(e, ir::Op::MatMul, name, {a_tiles[i][kk].id, b_tiles[kk][j].id}, tile_dims, dtype,
                               matmul_attrs, "BATCH_MATMUL"));
        }
        if (terms.size() == 1) {
          row.push_back(terms[0]);
        } else {
          row.push_back(emit(e, ir::Op::Sum, base + "/sum_" + std::to_string(i) + "_" + std::to_string(j), terms,
                             tile_dims, dtype, {}, "ADD_N"));
        }
      }
      if (row.size() == 1) {
        row_blocks.push_back(row[0]);
      } else {
        std::vector<std::int64_t> dims = tile_dims;
        dims.back() = nt * t_;
        ir::Attributes attrs;
        attrs.set("axis", static_cast<std::int64_t>(dims.size() - 1));
        row_blocks.push_back(emit(e, ir::Op::Concat, base + "/concat_row_" + std::to_string(i), row, dims, dtype,
                                  std::move(attrs), "CONCATENATION"));
      }
    }
    std::vector<std::int64_t> full = tile_dims;
    full[full.size() - 2] = mt * t_;
    full.back() = nt * t_;
    int y = row_blocks[0];
    if (row_blocks.size() > 1) {
      ir::Attributes attrs;
      attrs.set("axis", static_cast<std::int64_t>(full.size() - 2));
      y = emit(e, ir::Op::Concat, base + "/concat_rows", row_blocks, full, dtype, std::move(attrs), "CONCATENATION");
    }
    std::vector<std::int64_t> out_dims = batch;
    out_dims.push_back(m);
    out_dims.push_back(n);
    if (padded_m || padded_n) {
      const auto r = static_cast<std::int64_t>(full.size());
      const std::string name = base + "/slice";
      if (tfl_) {  // SLICE [input, begin, size]
        y = emit(e, ir::Op::Slice, name,
                 {y, int32s(e, name + "_begin", {r}, std::vector<std::int64_t>(full.size(), 0)),
                  int32s(e, name + "_size", {r}, out_dims)},
                 out_dims, dtype, {}, "SLICE");
      } else {
        y = emit(e, ir::Op::Slice, name, {y, e.int64s({0, 0}), e.int64s({m, n}), e.int64s({r - 2, r - 1})}, out_dims,
                 dtype);
      }
    }
    if (alpha != 1.0) {
      const int s = e.floats(base + "/alpha", {}, {static_cast<float>(alpha)});
      y = emit(e, ir::Op::Mul, base + "/alpha", {y, s}, out_dims, dtype);
    }
    bool beta_mul = false;
    if (c >= 0 || !activation.empty()) {
      int bias = c;
      if (c < 0) {  // an activation to fuse and no bias: ADD of exact zeros carries it
        bias = e.floats(base + "/zero_bias", {n}, std::vector<float>(static_cast<std::size_t>(n), 0.0f));
      } else if (beta != 1.0) {
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
      ir::Attributes attrs;
      if (!activation.empty()) attrs.set("fused_activation", activation);
      y = emit(e, ir::Op::Add, base + "/bias", {y, bias}, out_dims, dtype, std::move(attrs), "ADD");
    }
    if (fc && out_dims != y_dims) y = reshape(y, y_dims, base + "/reshape_out");
    // The last node writes the original output tensor: its name, kind and consumers stay.
    e.graph().nodes[last_].outputs[0] = source.outputs[0];
    const std::uint64_t expected =
        tiled_node_count(m, k, n, t_, trans_a, trans_b, alpha != 1.0, c >= 0 || !activation.empty()) +
        (beta_mul ? 1 : 0) + extra;
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
                                        {"reshapes", extra},
                                        {"nodes", emitted_},
                                        {"nodes_closed_form", expected},
                                        {"padded_tile_macs", tile_macs},
                                        {"original_macs", batch_count * static_cast<std::uint64_t>(m * k * n)}});
    return true;
  }

  std::int64_t t_;
  bool tfl_ = false;  // the node being tiled is TFLite's: emit TFLite builtins
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
