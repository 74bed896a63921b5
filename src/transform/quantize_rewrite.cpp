// The quantizer's plan (which TFLite operators become int8) and the graph rewrite.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "infercast/base/error.hpp"
#include "transform/quantize_detail.hpp"

namespace infercast::transform::detail {
namespace {

using ir::DType;
using ir::Op;

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = (h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1fu;
  std::uint32_t mant = h & 0x3ffu;
  std::uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalize
      exp = 1;
      while ((mant & 0x400u) == 0) mant <<= 1, --exp;
      mant &= 0x3ffu;
      bits = sign | ((exp + 112) << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// A dense float32/float16 constant's values; nullopt for anything else.
std::optional<std::vector<float>> float_values(const ir::Tensor& t) {
  if (!t.is_constant() || t.sparse || !t.shape.is_static()) return std::nullopt;
  const std::size_t n = static_cast<std::size_t>(*t.shape.numel());
  std::vector<float> v(n);
  if (t.dtype == DType::kFloat32 && t.data.size() == n * 4) {
    std::memcpy(v.data(), t.data.data(), n * 4);
    return v;
  }
  if (t.dtype == DType::kFloat16 && t.data.size() == n * 2) {
    for (std::size_t i = 0; i < n; ++i) {
      std::uint16_t h;
      std::memcpy(&h, t.data.data() + 2 * i, 2);
      v[i] = half_to_float(h);
    }
    return v;
  }
  return std::nullopt;
}

// The float constant behind input `tensor`: itself, or the input of a DEQUANTIZE of a
// float16 constant (how TFLite's fp16 models store weights); -1 otherwise.
int weight_source(const ir::Graph& g, int tensor) {
  if (tensor < 0) return -1;
  const ir::Tensor& t = g.tensors[tensor];
  if (t.is_constant()) return float_values(t) ? tensor : -1;
  if (t.producer < 0) return -1;
  const ir::Node& p = g.nodes[static_cast<std::size_t>(t.producer)];
  if (p.op != Op::Dequantize || p.inputs.empty()) return -1;
  const ir::Tensor& src = g.tensors[p.inputs[0]];
  return src.is_constant() && src.dtype == DType::kFloat16 && float_values(src) ? p.inputs[0] : -1;
}

bool is_activation(const ir::Graph& g, int t) {
  return t >= 0 && !g.tensors[t].is_constant() && g.tensors[t].dtype == DType::kFloat32 &&
         g.tensors[t].shape.is_static();
}

// Data inputs of an op this quantizer makes int8 (the others are weights or parameters).
std::vector<std::size_t> data_inputs(const ir::Node& n) {
  if (n.op == Op::Add || n.op == Op::Mul) return {0, 1};
  if (n.op == Op::Concat) {
    std::vector<std::size_t> all;
    for (std::size_t k = 0; k < n.inputs.size(); ++k) all.push_back(k);
    return all;
  }
  return {0};
}

// Ops whose int8 output has the input's parameters (they move or select values).
// AVERAGE_POOL_2D too: TFLite's int8 kernel requires its input's parameters on its
// output (Arm NN refuses the file otherwise); MEAN requantizes and keeps its own.
bool keeps_params(const ir::Node& n) {
  return n.op == Op::MaxPool || n.op == Op::Pad || n.op == Op::Reshape || n.op == Op::AveragePool;
}

// Why `n` stays float in full-integer mode; empty when it becomes int8.
std::string full_problem(const ir::Graph& g, const ir::Node& n, int& weight) {
  const std::string& s = n.source_op;
  const bool conv = s == "CONV_2D" || s == "DEPTHWISE_CONV_2D";
  const bool fc = s == "FULLY_CONNECTED";
  static const std::set<std::string> kOps = {
      "CONV_2D",         "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD",  "MUL",   "MAX_POOL_2D", "MEAN", "PAD",
      "PADV2",           "RESHAPE",           "CONCATENATION",   "RELU", "RELU6", "LOGISTIC",    "TANH", "HARD_SWISH",
      "AVERAGE_POOL_2D", "RELU_0_TO_1",       "RELU_N1_TO_1"};
  if (!kOps.count(s)) return s + " has no int8 form in this quantizer";
  if (n.outputs.size() != 1 || !is_activation(g, n.outputs[0])) return "output is not a float32 activation";
  const bool binary = s == "ADD" || s == "MUL";
  for (std::size_t k : data_inputs(n)) {
    if (k >= n.inputs.size()) return "input " + std::to_string(k) + " is missing";
    // ADD/MUL may take one constant operand (folded BatchNorm, hard-sigmoid's +3 and /6).
    if (binary && k == 1 && !is_activation(g, n.inputs[k]) && weight_source(g, n.inputs[k]) >= 0) continue;
    if (!is_activation(g, n.inputs[k])) return "input " + std::to_string(k) + " is not a float32 activation";
  }
  if (conv || fc) {
    weight = weight_source(g, n.inputs.size() > 1 ? n.inputs[1] : -1);
    if (weight < 0) return "weights are not a dense float constant";
    if (g.tensors[weight].shape.rank() != (fc ? 2u : 4u)) return "weights of unexpected rank";
    if (n.inputs.size() > 2 && n.inputs[2] >= 0 && weight_source(g, n.inputs[2]) < 0) {
      return "bias is not a dense float constant";
    }
  }
  if (s == "MEAN") {
    const ir::Tensor& x = g.tensors[n.inputs[0]];
    if (x.shape.rank() != 4 || n.inputs.size() < 2) return "MEAN over a non-4-D input";
    const ir::Tensor& a = g.tensors[n.inputs[1]];
    if (!a.is_constant() || a.dtype != DType::kInt32 || a.data.size() != 8) return "MEAN axes are not H and W";
    std::int32_t ax[2];
    std::memcpy(ax, a.data.data(), 8);
    if (!((ax[0] == 1 && ax[1] == 2) || (ax[0] == 2 && ax[1] == 1))) return "MEAN axes are not H and W";
  }
  if (s == "AVERAGE_POOL_2D") {
    const auto k = n.attrs.get_ints("kernel_shape");
    const auto pads = n.attrs.get_ints("pads");
    const auto x = g.tensors[n.inputs[0]].shape.extents();
    const bool padded = std::any_of(pads.begin(), pads.end(), [](std::int64_t p) { return p != 0; });
    if (x.size() != 4 || k.size() != 2 || k[0] != x[1] || k[1] != x[2] || padded ||
        !n.attrs.get_string("fused_activation", "").empty()) {
      return "AVERAGE_POOL_2D other than a global average has no int8 form here";
    }
  }
  if (s == "PADV2" && (n.inputs.size() < 3 || !float_values(g.tensors[n.inputs[2]]))) {
    return "PADV2 value is not a float constant";
  }
  return {};
}

}  // namespace

ir::Quantization activation_params(float lo, float hi) {
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  double scale = (static_cast<double>(hi) - lo) / 255.0;
  if (!(scale > 1e-12)) scale = 1e-6;
  const double zp = std::nearbyint(-128.0 - lo / scale);
  ir::Quantization q;
  q.scales = {static_cast<float>(scale)};
  q.zero_points = {static_cast<std::int64_t>(std::clamp(zp, -128.0, 127.0))};
  return q;
}

namespace {

struct Rewriter {
  const ir::Graph& g;
  const Plan& plan;
  const std::vector<std::optional<ir::Quantization>>& params;
  QuantizeMode mode;
  ir::Graph q;
  std::vector<int> int8_of, float_of;  // per tensor of g: its int8 / float version in q, -1

  std::string unique(const std::string& base) const {
    std::string name = base;
    for (int i = 2; q.find_tensor(name) >= 0; ++i) name = base + "_" + std::to_string(i);
    return name;
  }
  int new_tensor(const std::string& base, DType dtype, const ir::Shape& shape, ir::TensorKind kind) {
    ir::Tensor t;
    t.name = unique(base);
    t.dtype = dtype;
    t.shape = shape;
    t.kind = kind;
    return q.add_tensor(std::move(t));
  }
  void add_node(const std::string& name, Op op, const std::string& source, std::vector<int> in, std::vector<int> out) {
    ir::Node n;
    n.name = name;
    n.op = op;
    n.source_op = source;
    n.inputs = std::move(in);
    n.outputs = std::move(out);
    n.layout = ir::Layout::kNHWC;
    q.nodes.push_back(std::move(n));
  }
  const ir::Quantization& calibrated(int t) const {
    const auto& p = params[static_cast<std::size_t>(t)];
    if (!p) {
      throw Error(ErrorKind::kUnsupported, g.meta.source_path, "tensor '" + g.tensors[t].name + "'",
                  "calibration produced no range for it");
    }
    return *p;
  }
  // The int8 version of activation t (a QUANTIZE after the float one when needed).
  int int8_version(int t) {
    if (int8_of[t] >= 0) return int8_of[t];
    const int v =
        new_tensor(g.tensors[t].name + "_int8", DType::kInt8, g.tensors[t].shape, ir::TensorKind::kActivation);
    q.tensors[v].quant = calibrated(t);
    add_node(q.tensors[v].name, Op::Quantize, "QUANTIZE", {float_of[t]}, {v});
    int8_of[t] = v;
    return v;
  }
  int float_version(int t) {
    if (float_of[t] >= 0) return float_of[t];
    const int v =
        new_tensor(g.tensors[t].name + "_float", DType::kFloat32, g.tensors[t].shape, ir::TensorKind::kActivation);
    add_node(q.tensors[v].name, Op::Dequantize, "DEQUANTIZE", {int8_of[t]}, {v});
    float_of[t] = v;
    return v;
  }
  int constant(const std::string& base, DType dtype, const ir::Shape& shape, std::vector<std::byte> bytes,
               ir::Quantization quant) {
    const int v = new_tensor(base, dtype, shape, ir::TensorKind::kConstant);
    q.tensors[v].data = q.own(std::move(bytes));
    q.tensors[v].quant = std::move(quant);
    return v;
  }
  // int8 weights of conv/FC node n from float constant `w`; sets `scales`.
  int int8_weights(const ir::Node& n, int w, std::vector<float>& scales) {
    const ir::Tensor& t = g.tensors[w];
    const auto values = *float_values(t);
    const bool dw = n.source_op == "DEPTHWISE_CONV_2D";
    const bool per_channel = n.source_op != "FULLY_CONNECTED";
    ir::Quantization quant;
    const std::vector<std::int8_t> data = quantize_weights(values, t.shape.extents(), dw ? 3 : 0, per_channel, quant);
    scales = quant.scales;
    std::vector<std::byte> bytes(data.size());
    std::memcpy(bytes.data(), data.data(), data.size());
    return constant(t.name + "_int8", DType::kInt8, t.shape, std::move(bytes), std::move(quant));
  }
  static std::vector<std::int8_t> quantize_weights(const std::vector<float>& w, const std::vector<std::int64_t>& dims,
                                                   int axis, bool per_channel, ir::Quantization& q) {
    std::size_t channels = 1, inner = 1;
    if (per_channel) {
      channels = static_cast<std::size_t>(dims[static_cast<std::size_t>(axis)]);
      for (std::size_t i = static_cast<std::size_t>(axis) + 1; i < dims.size(); ++i) {
        inner *= static_cast<std::size_t>(dims[i]);
      }
    }
    std::vector<float> amax(channels, 0.0f);
    for (std::size_t i = 0; i < w.size(); ++i) {
      const std::size_t c = (i / inner) % channels;
      amax[c] = std::max(amax[c], std::fabs(w[i]));
    }
    q.scales.assign(channels, 1.0f);
    q.zero_points.assign(channels, 0);
    q.axis = per_channel ? axis : 0;
    for (std::size_t c = 0; c < channels; ++c) q.scales[c] = amax[c] > 0 ? amax[c] / 127.0f : 1.0f;
    std::vector<std::int8_t> out(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) {
      const std::size_t c = (i / inner) % channels;
      out[i] = static_cast<std::int8_t>(std::clamp(std::nearbyint(w[i] / q.scales[c]), -127.0f, 127.0f));
    }
    return out;
  }

  void run() {
    q.meta = g.meta;
    q.meta.layout = ir::Layout::kNHWC;
    for (const ir::Tensor& t : g.tensors) {
      ir::Tensor c;
      c.name = t.name;
      c.dtype = t.dtype;
      c.shape = t.shape;
      c.kind = t.kind;
      c.quant = t.quant;
      c.data = t.data;
      c.sparse = t.sparse;
      q.add_tensor(std::move(c));
    }
    int8_of.assign(g.tensors.size(), -1);
    float_of.resize(g.tensors.size());
    for (std::size_t t = 0; t < g.tensors.size(); ++t) float_of[t] = static_cast<int>(t);
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
      const ir::Node& n = g.nodes[i];
      ir::Node out = n;
      const bool int8 = plan.int8_node[i];
      if (mode == QuantizeMode::kDynamic) {
        if (int8) {
          std::vector<float> scales;
          out.inputs[1] = int8_weights(n, plan.weight_of[i], scales);
        }
        q.nodes.push_back(std::move(out));
        continue;
      }
      if (!int8) {
        for (std::size_t k = 0; k < out.inputs.size(); ++k) {
          const int t = out.inputs[k];
          // t is int8 now (in place): read its float version (one DEQUANTIZE, shared).
          if (t >= 0 && int8_of[t] >= 0 && float_of[t] != t) out.inputs[k] = float_version(t);
        }
        q.nodes.push_back(std::move(out));
        continue;
      }
      for (std::size_t k : data_inputs(n)) {
        if (is_activation(g, n.inputs[k])) {
          out.inputs[k] = int8_version(n.inputs[k]);
          continue;
        }
        // A constant operand: int8 with its own per-tensor range.
        const int src = weight_source(g, n.inputs[k]);
        const auto values = *float_values(g.tensors[src]);
        float lo = 0, hi = 0;
        for (float v : values) lo = std::min(lo, v), hi = std::max(hi, v);
        ir::Quantization cq = activation_params(lo, hi);
        std::vector<std::byte> bytes(values.size());
        for (std::size_t i = 0; i < values.size(); ++i) {
          const float r = std::nearbyint(values[i] / cq.scales[0]) + static_cast<float>(cq.zero_points[0]);
          bytes[i] = static_cast<std::byte>(static_cast<std::int8_t>(std::clamp(r, -128.0f, 127.0f)));
        }
        out.inputs[k] = constant(g.tensors[src].name + "_int8", DType::kInt8, g.tensors[src].shape, std::move(bytes),
                                 std::move(cq));
      }
      // A copy: the constants added below (new_tensor) reallocate q.tensors.
      const ir::Quantization in_q = q.tensors[out.inputs[0]].quant;
      std::vector<float> weight_scales;
      if (n.source_op == "CONV_2D" || n.source_op == "DEPTHWISE_CONV_2D" || n.source_op == "FULLY_CONNECTED") {
        std::vector<float>& scales = weight_scales;
        out.inputs[1] = int8_weights(n, plan.weight_of[i], scales);
        if (n.inputs.size() > 2 && n.inputs[2] >= 0) {
          const int bsrc = weight_source(g, n.inputs[2]);
          const auto bias = *float_values(g.tensors[bsrc]);
          std::vector<std::int32_t> qb(bias.size());
          ir::Quantization bq;
          // Per channel as the weights are: a per-tensor weight scale (FULLY_CONNECTED)
          // gives the bias one scale too, which Arm NN requires (it refuses 1 weight
          // scale against N bias scales) and TFLite's converter writes.
          for (std::size_t c = 0; c < bias.size(); ++c) {
            const double s = static_cast<double>(in_q.scales[0]) * scales[scales.size() == 1 ? 0 : c];
            if (scales.size() != 1 || c == 0) {
              bq.scales.push_back(static_cast<float>(s));
              bq.zero_points.push_back(0);
            }
            qb[c] = static_cast<std::int32_t>(std::clamp(std::nearbyint(bias[c] / s), -2147483647.0, 2147483647.0));
          }
          std::vector<std::byte> bytes(qb.size() * 4);
          std::memcpy(bytes.data(), qb.data(), bytes.size());
          out.inputs[2] = constant(g.tensors[bsrc].name + "_int32", DType::kInt32, g.tensors[bsrc].shape,
                                   std::move(bytes), std::move(bq));
        }
      }
      if (n.source_op == "PADV2") {
        const float v = (*float_values(g.tensors[n.inputs[2]]))[0];
        const float r = std::nearbyint(v / in_q.scales[0]) + static_cast<float>(in_q.zero_points[0]);
        const auto qv =
            static_cast<std::int8_t>(std::clamp(std::isfinite(r) ? r : (v < 0 ? -128.0f : 127.0f), -128.0f, 127.0f));
        out.inputs[2] = constant(g.tensors[n.inputs[2]].name + "_int8", DType::kInt8, g.tensors[n.inputs[2]].shape,
                                 {static_cast<std::byte>(qv)}, in_q);
      }
      // The output: int8 in place, or (graph outputs keep their float name) a new int8
      // tensor and a DEQUANTIZE into the original.
      const int o = n.outputs[0];
      const bool graph_output = std::find(g.outputs.begin(), g.outputs.end(), o) != g.outputs.end();
      int v = o;
      if (graph_output) {
        v = new_tensor(g.tensors[o].name + "_int8", DType::kInt8, g.tensors[o].shape, ir::TensorKind::kActivation);
      }
      q.tensors[v].dtype = DType::kInt8;
      q.tensors[v].quant = keeps_params(n) ? in_q : calibrated(o);
      if (!weight_scales.empty()) {
        // XNNPACK's fixed-point requantization needs input scale × weight scale /
        // output scale < 256: an output whose calibrated range is tiny next to its
        // accumulator's (a channel that is nearly always 0) gets a coarser scale.
        const float max_w = *std::max_element(weight_scales.begin(), weight_scales.end());
        const float floor_scale = in_q.scales[0] * max_w / 128.0f;
        if (q.tensors[v].quant.scales[0] < floor_scale) q.tensors[v].quant.scales[0] = floor_scale;
      }
      if (q.tensors[v].kind == ir::TensorKind::kOutput) q.tensors[v].kind = ir::TensorKind::kActivation;
      out.outputs[0] = v;
      int8_of[o] = v;
      float_of[o] = graph_output ? o : -1;
      const std::string name = n.name;
      q.nodes.push_back(std::move(out));
      if (graph_output) add_node(name + "_dequantize", Op::Dequantize, "DEQUANTIZE", {v}, {o});
    }
    q.inputs = g.inputs;
    q.outputs = g.outputs;
    // Drop nodes nothing reads any more (DEQUANTIZE of fp16 weights now stored as int8).
    for (bool changed = true; changed;) {
      changed = false;
      std::vector<int> uses(q.tensors.size(), 0);
      for (const ir::Node& n : q.nodes) {
        for (int t : n.inputs) {
          if (t >= 0) ++uses[static_cast<std::size_t>(t)];
        }
      }
      for (int t : q.outputs) ++uses[static_cast<std::size_t>(t)];
      const auto dead = [&](const ir::Node& n) {
        return std::all_of(n.outputs.begin(), n.outputs.end(), [&](int t) { return t < 0 || uses[t] == 0; });
      };
      const std::size_t before = q.nodes.size();
      q.nodes.erase(std::remove_if(q.nodes.begin(), q.nodes.end(), dead), q.nodes.end());
      changed = q.nodes.size() != before;
    }
    q.finalize(g.meta.source_path);
  }
};

}  // namespace

Plan plan_quantization(const ir::Graph& g, QuantizeMode mode) {
  Plan p;
  p.int8_node.assign(g.nodes.size(), false);
  p.needs_range.assign(g.tensors.size(), false);
  p.weight_of.assign(g.nodes.size(), -1);
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& n = g.nodes[i];
    int weight = -1;
    std::string why;
    if (mode == QuantizeMode::kDynamic) {
      const bool weighted =
          n.source_op == "CONV_2D" || n.source_op == "DEPTHWISE_CONV_2D" || n.source_op == "FULLY_CONNECTED";
      if (!weighted) continue;
      weight = weight_source(g, n.inputs.size() > 1 ? n.inputs[1] : -1);
      if (weight < 0) why = "weights are not a dense float constant";
    } else {
      why = full_problem(g, n, weight);
    }
    if (!why.empty()) {
      // Weight plumbing (DEQUANTIZE of fp16 constants, DENSIFY) is not an op left float.
      const bool plumbing = (n.op == Op::Dequantize || n.op == Op::Densify) && !n.inputs.empty() && n.inputs[0] >= 0 &&
                            g.tensors[n.inputs[0]].is_constant();
      if (!plumbing) p.float_ops.push_back("node '" + n.name + "' (" + n.source_op + "): " + why);
      continue;
    }
    p.int8_node[i] = true;
    p.weight_of[i] = weight;
    ++p.quantized_count;
    if (mode == QuantizeMode::kFull) {
      for (std::size_t k : data_inputs(n)) {
        if (is_activation(g, n.inputs[k])) p.needs_range[static_cast<std::size_t>(n.inputs[k])] = true;
      }
      p.needs_range[static_cast<std::size_t>(n.outputs[0])] = true;
    }
  }
  return p;
}

ir::Graph rewrite(const ir::Graph& g, const Plan& plan, const std::vector<std::optional<ir::Quantization>>& params,
                  QuantizeMode mode) {
  Rewriter r{g, plan, params, mode, {}, {}, {}};
  r.run();
  return std::move(r.q);
}

}  // namespace infercast::transform::detail
