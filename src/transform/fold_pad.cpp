// fold-pad: Pad(x, zeros around the spatial dims) -> Conv becomes Conv(x) with the pad
// amounts added to its pads. Exact: the conv reads the same zeros either way.
#include <memory>

#include "transform/passes.hpp"

namespace infercast::transform {
namespace {

class FoldPad : public Pass {
 public:
  std::string name() const override { return "fold-pad"; }
  std::string summary() const override { return "a zero constant spatial Pad into the following Conv's pads"; }

  PassResult apply(ir::Graph& graph, const PassContext&) override { return fold_each(graph, ir::Op::Pad, fold); }

 private:
  static bool fold(Editor& e, int pad_index, std::string& why) {
    ir::Graph& g = e.graph();
    const ir::Node& pad = g.nodes[pad_index];
    if (pad.layout == ir::Layout::kNHWC) {
      why = "NHWC (TFLite) pads are not folded";
      return false;
    }
    if (pad.attrs.get_string("mode", "constant") != "constant") {
      why = "mode is not constant";
      return false;
    }
    if (pad.inputs.empty() || pad.inputs[0] < 0 || pad.outputs.empty() || pad.outputs[0] < 0) {
      why = "missing input or output";
      return false;
    }
    std::vector<std::int64_t> pads = pad.attrs.get_ints("pads");
    if (pad.inputs.size() > 1 && pad.inputs[1] >= 0) pads = int_values(g, pad.inputs[1]);
    if (pad.inputs.size() > 3 && pad.inputs[3] >= 0) {
      why = "an axes input";
      return false;
    }
    double value = pad.attrs.get_float("value", 0.0);
    if (pad.inputs.size() > 2 && pad.inputs[2] >= 0) {
      const auto v = float_values(g, pad.inputs[2]);
      if (v.size() != 1) {
        why = "the pad value is not a constant scalar";
        return false;
      }
      value = v[0];
    }
    if (value != 0.0) {
      why = "the pad value is not zero";
      return false;
    }
    const ir::Tensor& y = g.tensors[pad.outputs[0]];
    const std::size_t rank = g.tensors[pad.inputs[0]].shape.rank();
    if (rank < 3 || pads.size() != 2 * rank) {
      why = "the pads are not constant, or the input is not rank >= 3";
      return false;
    }
    if (pads[0] != 0 || pads[1] != 0 || pads[rank] != 0 || pads[rank + 1] != 0) {
      why = "it pads the batch or channel dimension";
      return false;
    }
    for (auto p : pads) {
      if (p < 0) {
        why = "negative pads (a crop)";
        return false;
      }
    }
    if (y.kind == ir::TensorKind::kOutput || y.consumers.empty()) {
      why = "its output is a graph output or unused";
      return false;
    }
    for (int c : y.consumers) {
      const ir::Node& conv = g.nodes[c];
      if (conv.op != ir::Op::Conv || conv.inputs.empty() || conv.inputs[0] != pad.outputs[0] ||
          conv.attrs.get_string("auto_pad", "NOTSET") != "NOTSET") {
        why = "not every reader is a Conv with explicit pads reading it as its data";
        return false;
      }
      if (conv.attrs.get_ints("pads").size() != 2 * (rank - 2)) {
        why = "a Conv without normalized pads";
        return false;
      }
    }
    const int x = pad.inputs[0];
    for (int c : std::vector<int>(y.consumers)) {
      ir::Node& conv = g.nodes[c];
      std::vector<std::int64_t> conv_pads = conv.attrs.get_ints("pads");
      const std::size_t spatial = rank - 2;
      for (std::size_t d = 0; d < spatial; ++d) {
        conv_pads[d] += pads[2 + d];
        conv_pads[spatial + d] += pads[rank + 2 + d];
      }
      conv.attrs.set("pads", conv_pads);
      conv.inputs[0] = x;
    }
    e.remove_node(pad_index);
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fold_pad(const std::string&, const std::string&) {
  return std::make_unique<FoldPad>();
}

}  // namespace infercast::transform
