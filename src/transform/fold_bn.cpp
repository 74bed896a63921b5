// fold-bn: y = scale * (conv(x) - mean) / sqrt(var + eps) + bias folds into the conv:
// every weight of output channel o times s[o] = scale[o] / sqrt(var[o] + eps), and
// bias'[o] = (bias_conv[o] - mean[o]) * s[o] + bias[o]. Computed in float64 from the
// stored values and rounded to float32 once, so the folded weights are the nearest
// floats to the exact products.
#include <cmath>
#include <memory>

#include "transform/passes.hpp"

namespace infercast::transform {
namespace {

class FoldBn : public Pass {
 public:
  std::string name() const override { return "fold-bn"; }
  std::string summary() const override { return "BatchNormalization into the preceding Conv / ConvTranspose / Gemm"; }

  PassResult apply(ir::Graph& graph, const PassContext&) override {
    return fold_each(graph, ir::Op::BatchNormalization, fold);
  }

 private:
  static bool fold(Editor& e, int bn_index, std::string& why) {
    ir::Graph& g = e.graph();
    const ir::Node bn = g.nodes[bn_index];
    if (bn.inputs.size() < 5 || bn.outputs.empty() || bn.outputs[0] < 0) {
      why = "not an inference-mode BatchNormalization";
      return false;
    }
    for (std::size_t o = 1; o < bn.outputs.size(); ++o) {
      if (bn.outputs[o] >= 0 && !g.tensors[bn.outputs[o]].consumers.empty()) {
        why = "training-mode outputs are used";
        return false;
      }
    }
    const int x = bn.inputs[0];
    const ir::Tensor& xt = g.tensors[x];
    if (xt.producer < 0 || e.removed(xt.producer)) {
      why = "no Conv, ConvTranspose or Gemm before it";
      return false;
    }
    const int conv_index = xt.producer;
    const ir::Node conv = g.nodes[conv_index];
    const bool is_conv = conv.op == ir::Op::Conv, is_deconv = conv.op == ir::Op::ConvTranspose,
               is_gemm = conv.op == ir::Op::Gemm;
    if (!is_conv && !is_deconv && !is_gemm) {
      why = "no Conv, ConvTranspose or Gemm before it (" + conv.source_op + ")";
      return false;
    }
    if (xt.consumers.size() != 1 || xt.kind == ir::TensorKind::kOutput) {
      why = "the " + conv.source_op + " output has other readers";
      return false;
    }
    if (conv.layout == ir::Layout::kNHWC || conv.attrs.has("weight_layout")) {
      why = "NHWC (TFLite) convolutions are not folded";
      return false;
    }
    const auto scale = float_values(g, bn.inputs[1]), bias = float_values(g, bn.inputs[2]),
               mean = float_values(g, bn.inputs[3]), var = float_values(g, bn.inputs[4]);
    const int w = conv.inputs.size() > 1 ? conv.inputs[1] : -1;
    if (w < 0 || g.tensors[w].dtype != ir::DType::kFloat32 || !g.tensors[w].shape.is_static()) {
      why = "the weights are not a float32 constant";
      return false;
    }
    const auto weights = float_values(g, w);
    const std::size_t channels = scale.size();
    if (weights.empty() || channels == 0 || bias.size() != channels || mean.size() != channels ||
        var.size() != channels) {
      why = "the BatchNormalization parameters or the weights are not constants";
      return false;
    }
    const double eps = bn.attrs.get_float("epsilon", 1e-5);
    std::vector<double> s(channels);
    for (std::size_t c = 0; c < channels; ++c) s[c] = scale[c] / std::sqrt(var[c] + eps);
    const std::vector<std::int64_t> wd = g.tensors[w].shape.extents();
    std::vector<double> folded = weights;
    std::vector<double> old_bias(channels, 0.0);
    const int b = conv.inputs.size() > 2 ? conv.inputs[2] : -1;
    double bias_scale = 1.0;
    if (is_conv || is_deconv) {
      if (wd.size() < 2) {
        why = "weights of rank < 2";
        return false;
      }
      const std::int64_t group = std::max<std::int64_t>(conv.attrs.get_int("group", 1), 1);
      std::uint64_t inner = 1;
      for (std::size_t d = 2; d < wd.size(); ++d) inner *= static_cast<std::uint64_t>(wd[d]);
      const auto out_channels = static_cast<std::size_t>(is_conv ? wd[0] : wd[1] * group);
      if (out_channels != channels) {
        why = "channel counts differ";
        return false;
      }
      for (std::int64_t a = 0; a < wd[0]; ++a) {
        for (std::int64_t c1 = 0; c1 < wd[1]; ++c1) {
          const std::size_t o =
              is_conv ? static_cast<std::size_t>(a) : static_cast<std::size_t>((a / (wd[0] / group)) * wd[1] + c1);
          const std::uint64_t at = (static_cast<std::uint64_t>(a) * wd[1] + c1) * inner;
          for (std::uint64_t q = 0; q < inner; ++q) folded[at + q] *= s[o];
        }
      }
    } else {  // Gemm: output column n
      if (wd.size() != 2) {
        why = "Gemm weights of rank != 2";
        return false;
      }
      const bool trans_b = conv.attrs.get_int("transB", 0) != 0;
      const std::int64_t n = trans_b ? wd[0] : wd[1];
      if (static_cast<std::size_t>(n) != channels) {
        why = "channel counts differ";
        return false;
      }
      for (std::int64_t r = 0; r < wd[0]; ++r) {
        for (std::int64_t c1 = 0; c1 < wd[1]; ++c1) folded[r * wd[1] + c1] *= s[trans_b ? r : c1];
      }
      bias_scale = conv.attrs.get_float("beta", 1.0);
    }
    if (b >= 0) {
      const auto values = float_values(g, b);
      if (values.size() == 1) {
        old_bias.assign(channels, values[0]);
      } else if (values.size() == channels) {
        old_bias = values;
      } else {
        why = "the bias is not a per-channel constant";
        return false;
      }
    }
    std::vector<float> w32(folded.size()), b32(channels);
    for (std::size_t q = 0; q < folded.size(); ++q) w32[q] = static_cast<float>(folded[q]);
    for (std::size_t c = 0; c < channels; ++c) {
      b32[c] = static_cast<float>((bias_scale * old_bias[c] - mean[c]) * s[c] + bias[c]);
    }
    ir::Node& target = g.nodes[conv_index];
    target.inputs[1] = e.floats(g.tensors[w].name + "_bn", wd, w32);
    const int new_bias = e.floats(g.tensors[bn.inputs[2]].name + "_folded", {static_cast<std::int64_t>(channels)}, b32);
    if (target.inputs.size() > 2) {
      target.inputs[2] = new_bias;
    } else {
      target.inputs.push_back(new_bias);
    }
    if (is_gemm) target.attrs.set("beta", 1.0);
    target.outputs[0] = bn.outputs[0];
    e.remove_node(bn_index);
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fold_bn(const std::string&, const std::string&) {
  return std::make_unique<FoldBn>();
}

}  // namespace infercast::transform
