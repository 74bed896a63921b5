// Synthetic networks (include/infercast/bench/synthetic.hpp).
#include "infercast/bench/synthetic.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include "graph_builder.hpp"
#include "infercast/base/error.hpp"

namespace infercast::bench {

namespace {

using detail::conv_out;
using detail::GraphBuilder;
using O = ir::Op;

const char* const kFamilies[] = {"plain", "basic", "bottleneck", "inverted", "branches", "dense", "shuffle"};

std::int64_t round8(double c) {
  return std::max<std::int64_t>(8, static_cast<std::int64_t>(std::lround(c / 8.0)) * 8);
}

// A network under construction: the builder, the running tensor and its NCHW extent.
class Net {
 public:
  Net(const std::string& label, std::uint64_t seed) : b_(label, seed), rng_(seed) {
    // One table of uniform values in [-1, 1), read from a random offset for each weight
    // tensor: generating every weight of a 100 M-parameter network one draw at a time
    // took seconds, and a runtime's speed does not depend on the values.
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    table_.resize(kTable);
    for (float& v : table_) v = u(rng_);
  }

  struct T {
    int id;
    std::int64_t c, h, w;
  };

  T input(std::int64_t c, std::int64_t hw) { return {b_.input("input", {1, c, hw, hw}), c, hw, hw}; }

  T conv(const T& x, std::int64_t cout, std::int64_t k, std::int64_t stride, std::int64_t groups,
         const std::string& act) {
    const std::string name = next("conv");
    const std::int64_t pad = k / 2;
    const std::int64_t oh = conv_out(x.h, k, stride, 1, pad), ow = conv_out(x.w, k, stride, 1, pad);
    const double fan_in = static_cast<double>(x.c / groups * k * k);
    const float a = static_cast<float>(std::sqrt(3.0 / fan_in));
    const int wt = weights(name + "_w", {cout, x.c / groups, k, k}, a);
    const int bias = b_.weights(name + "_b", {cout}, -0.1f, 0.1f);
    const int y = b_.activation(name + "_out", {1, cout, oh, ow});
    ir::Node& n = b_.node(O::Conv, name, {x.id, wt, bias}, {y});
    detail::set_window(n, k, stride, 1, pad);
    n.attrs.set("group", groups);
    macs_ += static_cast<double>(cout * oh * ow) * fan_in;
    return activate({y, cout, oh, ow}, act);
  }

  T dwconv(const T& x, std::int64_t k, std::int64_t stride, const std::string& act) {
    return conv(x, x.c, k, stride, x.c, act);
  }

  T activate(const T& x, const std::string& act) {
    if (act.empty()) return x;
    return {detail::append_activation(b_, act, x.id, {1, x.c, x.h, x.w}, next("act") + "_"), x.c, x.h, x.w};
  }

  T add(const T& x, const T& y, const std::string& act) {
    const std::string name = next("add");
    const int out = b_.activation(name + "_out", {1, x.c, x.h, x.w});
    b_.node(O::Add, name, {x.id, y.id}, {out});
    return activate({out, x.c, x.h, x.w}, act);
  }

  T pool(const T& x, bool max, std::int64_t k, std::int64_t stride, std::int64_t pad) {
    const std::string name = next(max ? "maxpool" : "avgpool");
    const std::int64_t oh = conv_out(x.h, k, stride, 1, pad), ow = conv_out(x.w, k, stride, 1, pad);
    const int y = b_.activation(name + "_out", {1, x.c, oh, ow});
    ir::Node& n = b_.node(max ? O::MaxPool : O::AveragePool, name, {x.id}, {y});
    n.attrs.set("kernel_shape", std::vector<std::int64_t>{k, k});
    n.attrs.set("strides", std::vector<std::int64_t>{stride, stride});
    n.attrs.set("pads", std::vector<std::int64_t>{pad, pad, pad, pad});
    if (max) {
      n.attrs.set("dilations", std::vector<std::int64_t>{1, 1});
    } else {
      n.attrs.set("count_include_pad", std::int64_t{0});
    }
    return {y, x.c, oh, ow};
  }

  T global_pool(const T& x) {
    const std::string name = next("gap");
    const int y = b_.activation(name + "_out", {1, x.c, 1, 1});
    b_.node(O::GlobalAveragePool, name, {x.id}, {y});
    return {y, x.c, 1, 1};
  }

  // Squeeze-and-excitation: global pool, 1x1 to c/4, ReLU, 1x1 back, gate, channel Mul.
  T se(const T& x, const std::string& gate) {
    const T pooled = global_pool(x);
    const T squeezed = conv(pooled, std::max<std::int64_t>(8, round8(static_cast<double>(x.c) / 4)), 1, 1, 1, "relu");
    const T g = conv(squeezed, x.c, 1, 1, 1, gate);
    const std::string name = next("se_mul");
    const int y = b_.activation(name + "_out", {1, x.c, x.h, x.w});
    b_.node(O::Mul, name, {x.id, g.id}, {y});
    return {y, x.c, x.h, x.w};
  }

  T concat(const std::vector<T>& xs) {
    const std::string name = next("concat");
    std::int64_t c = 0;
    std::vector<int> ids;
    for (const T& x : xs) c += x.c, ids.push_back(x.id);
    const int y = b_.activation(name + "_out", {1, c, xs[0].h, xs[0].w});
    b_.node(O::Concat, name, ids, {y}).attrs.set("axis", std::int64_t{1});
    return {y, c, xs[0].h, xs[0].w};
  }

  T shuffle(const T& x, std::int64_t groups) {
    const std::string name = next("shuffle");
    const int r1 = b_.activation(name + "_split", {1, groups, x.c / groups, x.h, x.w});
    b_.node(O::Reshape, name + "_split", {x.id, b_.ints(name + "_shape1", {1, groups, x.c / groups, x.h, x.w})}, {r1});
    const int tr = b_.activation(name + "_swap", {1, x.c / groups, groups, x.h, x.w});
    b_.node(O::Transpose, name + "_swap", {r1}, {tr}).attrs.set("perm", std::vector<std::int64_t>{0, 2, 1, 3, 4});
    const int y = b_.activation(name + "_out", {1, x.c, x.h, x.w});
    b_.node(O::Reshape, name + "_merge", {tr, b_.ints(name + "_shape2", {1, x.c, x.h, x.w})}, {y});
    return {y, x.c, x.h, x.w};
  }

  T flatten(const T& x) {
    const std::string name = next("flatten");
    const std::int64_t features = x.c * x.h * x.w;
    const int y = b_.activation(name + "_out", {1, features});
    b_.node(O::Flatten, name, {x.id}, {y}).attrs.set("axis", std::int64_t{1});
    return {y, features, 1, 1};
  }

  T fc(const T& x, std::int64_t cout, const std::string& act) {
    const std::string name = next("fc");
    const float a = static_cast<float>(std::sqrt(3.0 / static_cast<double>(x.c)));
    const int y = b_.activation(name + "_out", {1, cout});
    ir::Node& n =
        b_.node(O::Gemm, name, {x.id, weights(name + "_w", {cout, x.c}, a), b_.weights(name + "_b", {cout})}, {y});
    n.attrs.set("transB", std::int64_t{1});
    macs_ += static_cast<double>(cout * x.c);
    if (act.empty()) return {y, cout, 1, 1};
    return {detail::append_activation(b_, act, y, {1, cout}, next("act") + "_"), cout, 1, 1};
  }

  ir::Graph finish(const T& x) { return b_.finish(x.id); }
  double macs() const { return macs_; }
  ir::Graph& graph() { return b_.graph(); }

 private:
  std::string next(const std::string& kind) { return kind + "_" + std::to_string(count_++); }

  // Uniform in [-a, a): the table read cyclically from a random offset.
  int weights(const std::string& name, const std::vector<std::int64_t>& dims, float a) {
    std::int64_t count = 1;
    for (std::int64_t d : dims) count *= d;
    std::vector<float> values(static_cast<std::size_t>(count));
    std::size_t at = std::uniform_int_distribution<std::size_t>(0, kTable - 1)(rng_);
    for (float& v : values) {
      v = a * table_[at];
      at = at + 1 == kTable ? 0 : at + 1;
    }
    return b_.floats(name, dims, values);
  }

  static constexpr std::size_t kTable = 1 << 16;
  GraphBuilder b_;
  std::mt19937_64 rng_;
  std::vector<float> table_;
  int count_ = 0;
  double macs_ = 0;
};

struct Draws {
  std::string family;
  std::int64_t resolution = 224;
  int stem_k = 3;
  std::int64_t stem_c = 32;
  bool stem_pool = false;
  std::vector<std::int64_t> widths;
  std::vector<int> depths;
  std::string act = "relu";
  int group_width = 0;  // bottleneck: 0 = dense 3x3
  bool se = false;
  std::string gate = "sigmoid";
  int dw_k = 3;
  int expansion = 6;
  bool mlp_head = false;
  std::int64_t mlp_width = 1024;
  std::int64_t head_c = 0;  // inverted: 1x1 conv width before the pool
};

template <typename T>
T pick(std::mt19937_64& rng, std::initializer_list<T> values) {
  std::uniform_int_distribution<std::size_t> d(0, values.size() - 1);
  return *(values.begin() + static_cast<std::ptrdiff_t>(d(rng)));
}

double uniform(std::mt19937_64& rng, double lo, double hi) {
  return std::uniform_real_distribution<double>(lo, hi)(rng);
}

int uniform_int(std::mt19937_64& rng, int lo, int hi) {
  return std::uniform_int_distribution<int>(lo, hi)(rng);
}

Draws draw(std::mt19937_64& rng) {
  Draws d;
  d.family = kFamilies[uniform_int(rng, 0, static_cast<int>(std::size(kFamilies)) - 1)];
  d.resolution = uniform(rng, 0, 1) < 0.45 ? 224 : pick<std::int64_t>(rng, {96, 128, 160, 192, 256});
  const bool mobile = d.family == "inverted" || d.family == "shuffle";
  d.stem_k = !mobile && uniform(rng, 0, 1) < 0.4 ? 7 : 3;
  d.stem_c = mobile ? pick<std::int64_t>(rng, {8, 16, 24, 32}) : pick<std::int64_t>(rng, {16, 24, 32, 48, 64});
  d.stem_pool = d.stem_k == 7 || (!mobile && uniform(rng, 0, 1) < 0.3);
  const int stages = uniform_int(rng, 3, 5);
  double c = static_cast<double>(d.stem_c) * (d.family == "bottleneck" ? 4 : 1);
  for (int s = 0; s < stages; ++s) {
    c = std::min(c * uniform(rng, 1.4, 2.2), d.family == "bottleneck" ? 2048.0 : 1024.0);
    d.widths.push_back(round8(c));
    d.depths.push_back(uniform_int(rng, 1, d.family == "plain" ? 3 : 4));
  }
  if (d.family == "inverted") {
    d.act = pick<std::string>(rng, {"relu", "relu6", "hardswish", "swish"});
    d.gate = d.act == "hardswish" ? "hardsigmoid" : "sigmoid";
    d.se = uniform(rng, 0, 1) < 0.4;
    d.dw_k = pick<int>(rng, {3, 3, 5, 7});
    d.expansion = pick<int>(rng, {1, 3, 4, 6, 6});
    d.head_c = uniform(rng, 0, 1) < 0.6 ? pick<std::int64_t>(rng, {576, 960, 1280}) : 0;
  } else if (d.family == "bottleneck") {
    d.group_width = uniform(rng, 0, 1) < 0.5 ? 0 : pick<int>(rng, {4, 8, 16, 32, 64});
    d.se = uniform(rng, 0, 1) < 0.3;
  } else if (d.family == "shuffle") {
    d.dw_k = pick<int>(rng, {3, 5});
  }
  d.mlp_head = d.family == "plain" && uniform(rng, 0, 1) < 0.3;
  d.mlp_width = pick<std::int64_t>(rng, {1024, 2048, 4096});
  return d;
}

// Builds the drawn network with widths scaled by `scale`.
SyntheticNetwork build(const Draws& d, std::uint64_t seed, double scale) {
  SyntheticNetwork out;
  out.seed = seed;
  out.name = "synthetic-" + std::to_string(seed) + "-" + d.family;
  Net net(out.name, seed);
  auto width = [&](std::int64_t c) { return round8(static_cast<double>(c) * scale); };
  Net::T x = net.input(3, d.resolution);
  x = net.conv(x, width(d.stem_c), d.stem_k, 2, 1, d.act);
  if (d.stem_pool) x = net.pool(x, true, 3, 2, 1);
  for (std::size_t s = 0; s < d.widths.size(); ++s) {
    const std::int64_t c = width(d.widths[s]);
    if (x.h < 4) break;  // no stage below 2x2
    for (int i = 0; i < d.depths[s]; ++i) {
      const std::int64_t stride = i == 0 ? 2 : 1;
      const Net::T in = x;
      if (d.family == "plain") {
        if (stride == 2) x = net.pool(x, true, 2, 2, 0);
        x = net.conv(x, c, 3, 1, 1, d.act);
      } else if (d.family == "basic") {
        Net::T y = net.conv(x, c, 3, stride, 1, d.act);
        y = net.conv(y, c, 3, 1, 1, "");
        const Net::T shortcut = stride != 1 || in.c != c ? net.conv(in, c, 1, stride, 1, "") : in;
        x = net.add(y, shortcut, d.act);
      } else if (d.family == "bottleneck") {
        const std::int64_t mid = std::max<std::int64_t>(8, round8(static_cast<double>(c) / 4));
        const std::int64_t groups = d.group_width > 0 && mid % d.group_width == 0 ? mid / d.group_width : 1;
        Net::T y = net.conv(x, mid, 1, 1, 1, d.act);
        y = net.conv(y, mid, 3, stride, groups, d.act);
        if (d.se) y = net.se(y, "sigmoid");
        y = net.conv(y, c, 1, 1, 1, "");
        const Net::T shortcut = stride != 1 || in.c != c ? net.conv(in, c, 1, stride, 1, "") : in;
        x = net.add(y, shortcut, d.act);
      } else if (d.family == "inverted") {
        Net::T y = x;
        if (d.expansion > 1) y = net.conv(y, round8(static_cast<double>(x.c) * d.expansion), 1, 1, 1, d.act);
        y = net.dwconv(y, d.dw_k, stride, d.act);
        if (d.se) y = net.se(y, d.gate);
        y = net.conv(y, c, 1, 1, 1, "");
        x = stride == 1 && in.c == c ? net.add(y, in, "") : y;
      } else if (d.family == "branches") {
        if (stride == 2) x = net.pool(x, true, 3, 2, 1);
        const std::int64_t q = std::max<std::int64_t>(8, round8(static_cast<double>(c) / 4));
        const Net::T b1 = net.conv(x, q, 1, 1, 1, d.act);
        const Net::T b2 = net.conv(net.conv(x, q, 1, 1, 1, d.act), q, 3, 1, 1, d.act);
        const Net::T b3 = net.conv(net.conv(x, q / 2 < 8 ? 8 : round8(static_cast<double>(q) / 2), 1, 1, 1, d.act), q,
                                   5, 1, 1, d.act);
        const Net::T b4 = net.conv(net.pool(x, true, 3, 1, 1), q, 1, 1, 1, d.act);
        x = net.concat({b1, b2, b3, b4});
      } else if (d.family == "dense") {
        if (stride == 2) {
          x = net.conv(x, round8(static_cast<double>(x.c) / 2), 1, 1, 1, d.act);
          x = net.pool(x, false, 2, 2, 0);
        }
        const std::int64_t growth = std::max<std::int64_t>(8, round8(static_cast<double>(c) / 8));
        const Net::T y = net.conv(net.conv(x, 4 * growth, 1, 1, 1, d.act), growth, 3, 1, 1, d.act);
        x = net.concat({x, y});
      } else {  // shuffle
        const std::int64_t half = std::max<std::int64_t>(8, round8(static_cast<double>(c) / 2));
        const Net::T a = net.conv(net.dwconv(x, d.dw_k, stride, ""), half, 1, 1, 1, d.act);
        Net::T b = net.conv(x, half, 1, 1, 1, d.act);
        b = net.conv(net.dwconv(b, d.dw_k, stride, ""), half, 1, 1, 1, d.act);
        x = net.shuffle(net.concat({a, b}), 2);
      }
    }
  }
  if (d.head_c > 0) x = net.conv(x, width(d.head_c), 1, 1, 1, d.act);
  if (d.mlp_head && x.c * x.h * x.w <= 25088) {
    x = net.fc(net.flatten(x), d.mlp_width, "relu");
  } else {
    x = net.flatten(net.global_pool(x));
  }
  x = net.fc(x, 1000, "");
  out.macs = net.macs();
  out.graph = net.finish(x);
  out.description = {{"family", d.family},
                     {"resolution", d.resolution},
                     {"stem_k", d.stem_k},
                     {"widths", d.widths},
                     {"depths", d.depths},
                     {"width_scale", scale},
                     {"activation", d.act},
                     {"se", d.se},
                     {"group_width", d.group_width},
                     {"dw_k", d.dw_k},
                     {"expansion", d.expansion},
                     {"mlp_head", d.mlp_head},
                     {"macs", out.macs}};
  return out;
}

}  // namespace

SyntheticNetwork synthetic_network(std::uint64_t seed, double max_macs) {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 17);
  const Draws d = draw(rng);
  double scale = 1;
  for (int attempt = 0;; ++attempt) {
    SyntheticNetwork n = build(d, seed, scale);
    if (n.macs <= max_macs || attempt >= 8) return n;
    scale *= std::max(0.5, std::sqrt(max_macs / n.macs));
  }
}

ir::Graph weight_chain(const KernelSpec& spec, int copies) {
  validate(spec);
  auto invalid = [&](const std::string& reason) {
    throw Error(ErrorKind::kInvalidArgument, "kernel '" + spec.type + "'", "weight chain", reason);
  };
  // At most kMaxChainCopies: a stored record read back (a profile's extra) must not ask for
  // gigabytes of weights.
  if (copies < 1 || copies > kMaxChainCopies) invalid("needs 1 to " + std::to_string(kMaxChainCopies) + " copies");
  const auto p = [&](const char* n) { return spec.params.at(n); };
  GraphBuilder b("weight chain '" + spec.key() + "' x" + std::to_string(copies), 1);
  b.graph().meta.graph_name = "chain-" + spec.type;
  if (spec.type == "conv") {
    const std::int64_t n = p("n"), h = p("h"), w = p("w"), c = p("cin"), k = p("k");
    if (p("cout") != c || p("stride") != 1 || p("dilation") != 1 || p("groups") != 1 || 2 * p("pad") != k - 1)
      invalid("needs cin == cout, stride 1, dilation 1, one group and same padding");
    const float a = std::sqrt(3.0f / static_cast<float>(c * k * k));
    int x = b.input("x", {n, c, h, w});
    for (int i = 0; i < copies; ++i) {
      const std::string name = "conv" + std::to_string(i);
      const int y = b.activation(name, {n, c, h, w});
      ir::Node& conv =
          b.node(O::Conv, name,
                 {x, b.weights(name + "_w", {c, c, k, k}, -a, a), b.weights(name + "_b", {c}, -0.1f, 0.1f)}, {y});
      detail::set_window(conv, k, 1, 1, p("pad"));
      conv.attrs.set("group", std::int64_t{1});
      x = y;
    }
    return b.finish(x);
  }
  if (spec.type == "fc") {
    const std::int64_t n = p("n"), c = p("cin");
    if (p("cout") != c) invalid("needs cin == cout");
    const float a = std::sqrt(3.0f / static_cast<float>(c));
    int x = b.input("x", {n, c});
    for (int i = 0; i < copies; ++i) {
      const std::string name = "fc" + std::to_string(i);
      const int y = b.activation(name, {n, c});
      b.node(O::Gemm, name, {x, b.weights(name + "_w", {c, c}, -a, a), b.weights(name + "_b", {c}, -0.1f, 0.1f)}, {y})
          .attrs.set("transB", std::int64_t{1});
      x = y;
    }
    return b.finish(x);
  }
  throw Error(ErrorKind::kInvalidArgument, "kernel '" + spec.type + "'", "weight chain",
              "only conv and fc kernels chain");
}

std::vector<KernelSpec> cold_chain_specs() {
  auto fc = [](std::int64_t rows, std::int64_t c) { return KernelSpec{"fc", {{"n", rows}, {"cin", c}, {"cout", c}}}; };
  return {same_conv_spec(7, 512, 3), same_conv_spec(14, 1024, 1), fc(1, 2048), fc(50, 768), fc(197, 768)};
}

}  // namespace infercast::bench
