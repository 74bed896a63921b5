// fp16: float32 weights stored as float16 (round to nearest even), each converted back
// to float32 in front of its readers: a Cast(to=FLOAT) in ONNX-form graphs, a
// DEQUANTIZE in TFLite-form (NHWC) graphs, which is what the TFLite converter's
// float16 quantization writes. Runtimes fold the conversion at load, so activations
// and arithmetic stay float32; only the stored weights halve. Constants of fewer than
// 16 elements (epsilons, clip bounds, scales) stay float32: they are hyper-parameters;
// so do normalization parameters (below).
#include <memory>

#include "infercast/cost/cost.hpp"
#include "transform/passes.hpp"

namespace infercast::transform {
namespace {

class Fp16 : public Pass {
 public:
  std::string name() const override { return "fp16"; }
  std::string summary() const override { return "float32 weights stored as float16, converted back in front"; }

  PassResult apply(ir::Graph& graph, const PassContext&) override {
    PassResult result;
    Editor edit(graph);
    const bool nhwc = graph.meta.layout == ir::Layout::kNHWC;
    const std::size_t count = graph.tensors.size();
    for (std::size_t i = 0; i < count; ++i) {
      const ir::Tensor& t = graph.tensors[i];
      if (!t.is_constant() || t.producer >= 0 || t.dtype != ir::DType::kFloat32 || t.sparse || t.alias_of >= 0 ||
          t.consumers.empty() || !cost::is_weight(graph, static_cast<int>(i)) || t.shape.numel().value_or(0) < 16) {
        continue;
      }
      // Normalization parameters stay float32: runtimes fold them into the weights at
      // load and want them as constants (XNNPACK refuses a computed BatchNorm scale).
      // An Identity of a weight is itself a constant alias of it (the importer's view):
      // converting under it would leave a float32 copy behind. `cleanup` removes them.
      bool normalization = false, aliased = false;
      for (int c : t.consumers) {
        normalization = normalization || ir::op_category(graph.nodes[c].op) == ir::OpCategory::kNormalization;
        aliased = aliased || graph.nodes[c].op == ir::Op::Identity;
      }
      if (normalization) continue;
      if (aliased) {
        result.notes.push_back("weight '" + t.name + "' left float32: an Identity repeats it (run cleanup first)");
        continue;
      }
      const auto values = float_values(graph, static_cast<int>(i));
      if (values.empty()) continue;
      std::vector<std::uint16_t> half(values.size());
      for (std::size_t v = 0; v < values.size(); ++v) half[v] = float_to_half(static_cast<float>(values[v]));
      const std::string name = graph.tensors[i].name;
      const std::vector<std::int64_t> dims = graph.tensors[i].shape.extents();
      const int stored = edit.constant(name + "_fp16", ir::DType::kFloat16, dims, to_bytes(half));
      const int back = edit.activation(name + "_fp32", ir::DType::kFloat32, ir::Shape::of(dims));
      edit.replace_uses(static_cast<int>(i), back);
      ir::Node n;
      n.name = name + "/fp16_to_fp32";
      n.inputs = {stored};
      n.outputs = {back};
      if (nhwc) {
        n.op = ir::Op::Dequantize;
        n.source_op = "DEQUANTIZE";
      } else {
        n.op = ir::Op::Cast;
        n.source_op = "Cast";
        n.attrs.set("to", std::int64_t{1});  // TensorProto.FLOAT
      }
      edit.add_node(std::move(n));
      ++result.rewrites;
    }
    if (result.rewrites > 0) edit.commit(graph.meta.source_path);
    return result;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fp16(const std::string&, const std::string&) {
  return std::make_unique<Fp16>();
}

}  // namespace infercast::transform
