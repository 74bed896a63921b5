// XnnpackExecutor's contract on small ONNX graphs built in memory:
// - the layout pass: a 1×1 identity convolution puts its output in channels-last
//   order, so every op after it sees NHWC-held data; the expected values are the
//   op applied to the input in NCHW by a plain loop here;
// - fusion (Conv + BatchNormalization + Relu) and its numbers;
// - errors: one Error listing every unsupported node, bad arguments.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "infercast/base/error.hpp"
#include "infercast/import/import.hpp"
#include "infercast/runtime/xnnpack_executor.hpp"

namespace infercast::runtime {
namespace {

constexpr std::int64_t C = 3, H = 4, W = 5;

class ModelBuilder {
 public:
  ModelBuilder() {
    model_.set_ir_version(8);
    model_.add_opset_import()->set_version(13);
    model_.mutable_graph()->set_name("test");
  }

  ModelBuilder& input(const std::string& name, std::vector<std::int64_t> dims) {
    auto* v = model_.mutable_graph()->add_input();
    v->set_name(name);
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(::onnx::TensorProto::FLOAT);
    for (auto d : dims) t->mutable_shape()->add_dim()->set_dim_value(d);
    return *this;
  }
  ModelBuilder& opset(std::int64_t version) {
    model_.mutable_opset_import(0)->set_version(version);
    return *this;
  }
  // `dims` declares the output's shape, for ops the ONNX shape inference here does not know.
  ModelBuilder& output(const std::string& name, std::vector<std::int64_t> dims = {}) {
    auto* v = model_.mutable_graph()->add_output();
    v->set_name(name);
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(::onnx::TensorProto::FLOAT);
    for (auto d : dims) t->mutable_shape()->add_dim()->set_dim_value(d);
    return *this;
  }
  ModelBuilder& floats(const std::string& name, std::vector<std::int64_t> dims, const std::vector<float>& values) {
    auto* t = model_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(::onnx::TensorProto::FLOAT);
    for (auto d : dims) t->add_dims(d);
    for (float v : values) t->add_float_data(v);
    return *this;
  }
  ModelBuilder& ints(const std::string& name, const std::vector<std::int64_t>& values) {
    auto* t = model_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(::onnx::TensorProto::INT64);
    t->add_dims(static_cast<std::int64_t>(values.size()));
    for (auto v : values) t->add_int64_data(v);
    return *this;
  }
  ::onnx::NodeProto& node(const std::string& op, std::vector<std::string> in, std::vector<std::string> out,
                          const std::string& domain = "") {
    auto* n = model_.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(out.empty() ? op : out[0]);
    if (!domain.empty()) n->set_domain(domain);
    for (auto& s : in) n->add_input(s);
    for (auto& s : out) n->add_output(s);
    return *n;
  }
  // A 1×1 convolution copying the C channels of `in` to `out`.
  ModelBuilder& identity_conv(const std::string& in, const std::string& out) {
    std::vector<float> w(C * C, 0.0f);
    for (std::int64_t c = 0; c < C; ++c) w[static_cast<std::size_t>(c * C + c)] = 1.0f;
    floats(out + "_w", {C, C, 1, 1}, w);
    node("Conv", {in, out + "_w"}, {out});
    return *this;
  }

  ir::Graph load() {
    bytes_ = model_.SerializeAsString();
    return import::load_onnx_bytes(std::as_bytes(std::span<const char>(bytes_.data(), bytes_.size())), "test.onnx");
  }

 private:
  ::onnx::ModelProto model_;
  std::string bytes_;
};

void set_ints(::onnx::NodeProto& n, const std::string& name, const std::vector<std::int64_t>& v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INTS);
  for (auto x : v) a->add_ints(x);
}

void set_int(::onnx::NodeProto& n, const std::string& name, std::int64_t v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INT);
  a->set_i(v);
}

std::vector<float> input_data() {
  std::vector<float> x(static_cast<std::size_t>(C * H * W));
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> d(-2.0f, 2.0f);
  for (float& v : x) v = d(rng);
  return x;
}

float at(const std::vector<float>& x, std::int64_t c, std::int64_t h, std::int64_t w) {
  return x[static_cast<std::size_t>((c * H + h) * W + w)];
}

std::vector<float> run(const ir::Graph& g, const std::vector<float>& x, int threads = 1,
                       XnnpackExecutor* keep = nullptr) {
  XnnpackExecutor local;
  XnnpackExecutor& ex = keep ? *keep : local;
  ex.prepare(g, threads);
  ex.set_input(0, x);
  ex.run();
  return {ex.output(0).begin(), ex.output(0).end()};
}

void expect_near(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5 + 1e-5 * std::fabs(want[i])) << i;
}

TEST(XnnpackExecutor, ConvOutputIsReturnedInNchw) {
  ModelBuilder m;
  m.input("x", {1, C, H, W}).output("y").identity_conv("x", "y");
  const auto x = input_data();
  expect_near(run(m.load(), x), x);
}

TEST(XnnpackExecutor, ReshapeOfChannelsLastDataSeesLogicalOrder) {
  ModelBuilder m;
  m.input("x", {1, C, H, W}).output("y").identity_conv("x", "c").ints("shape", {1, C * H * W});
  m.node("Reshape", {"c", "shape"}, {"y"});
  const auto x = input_data();
  expect_near(run(m.load(), x), x);
}

TEST(XnnpackExecutor, TransposeOfChannelsLastData) {
  ModelBuilder m;
  m.input("x", {1, C, H, W}).output("y").identity_conv("x", "c");
  set_ints(m.node("Transpose", {"c"}, {"y"}), "perm", {0, 2, 3, 1});
  const auto x = input_data();
  std::vector<float> want;
  for (std::int64_t h = 0; h < H; ++h)
    for (std::int64_t w = 0; w < W; ++w)
      for (std::int64_t c = 0; c < C; ++c) want.push_back(at(x, c, h, w));
  expect_near(run(m.load(), x), want);
}

TEST(XnnpackExecutor, SoftmaxOverChannelsOfChannelsLastData) {
  ModelBuilder m;
  m.input("x", {1, C, H, W}).output("y").identity_conv("x", "c");
  set_int(m.node("Softmax", {"c"}, {"y"}), "axis", 1);
  const auto x = input_data();
  std::vector<float> want(x.size());
  for (std::int64_t h = 0; h < H; ++h) {
    for (std::int64_t w = 0; w < W; ++w) {
      double sum = 0;
      for (std::int64_t c = 0; c < C; ++c) sum += std::exp(static_cast<double>(at(x, c, h, w)));
      for (std::int64_t c = 0; c < C; ++c) {
        want[static_cast<std::size_t>((c * H + h) * W + w)] = static_cast<float>(std::exp(at(x, c, h, w)) / sum);
      }
    }
  }
  expect_near(run(m.load(), x), want);
}

TEST(XnnpackExecutor, ConcatAndSliceAlongChannelsOfChannelsLastData) {
  ModelBuilder m;
  m.input("x", {1, C, H, W}).output("y").identity_conv("x", "a").identity_conv("x", "b");
  set_int(m.node("Concat", {"a", "b"}, {"cat"}), "axis", 1);
  m.ints("starts", {1}).ints("ends", {1 + C}).ints("axes", {1});
  m.node("Slice", {"cat", "starts", "ends", "axes"}, {"y"});
  const auto x = input_data();
  std::vector<float> want;
  for (std::int64_t k = 1; k < 1 + C; ++k) {
    const std::int64_t c = k % C;
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t w = 0; w < W; ++w) want.push_back(at(x, c, h, w));
  }
  expect_near(run(m.load(), x), want);
}

TEST(XnnpackExecutor, BroadcastAddOfPerChannelConstant) {
  ModelBuilder m;
  m.input("x", {1, C, H, W}).output("y").identity_conv("x", "c").floats("b", {C, 1, 1}, {10.0f, 20.0f, 30.0f});
  m.node("Add", {"c", "b"}, {"y"});
  const auto x = input_data();
  std::vector<float> want(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) want[i] = x[i] + 10.0f * static_cast<float>(1 + i / (H * W));
  expect_near(run(m.load(), x), want);
}

void set_string(::onnx::NodeProto& n, const std::string& name, const std::string& v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::STRING);
  a->set_s(v);
}

// ONNX linear resize with half_pixel runs on XNNPACK's resize_bilinear2d; with
// pytorch_half_pixel (the same transform for outputs longer than 1) on the custom
// kernel, which ONNX's own resize tests check. Both must agree, up- and downsampling.
TEST(XnnpackExecutor, XnnpackBilinearResizeAgreesWithTheCustomKernel) {
  auto model = [](const std::string& mode) {
    ModelBuilder m;
    m.input("x", {1, C, 7, 9}).output("y").ints("sizes", {1, C, 12, 5});
    auto& n = m.node("Resize", {"x", "", "", "sizes"}, {"y"});
    set_string(n, "mode", "linear");
    set_string(n, "coordinate_transformation_mode", mode);
    return m;
  };
  std::vector<float> x(static_cast<std::size_t>(C * 7 * 9));
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  for (float& v : x) v = d(rng);
  auto a = model("half_pixel");
  auto b = model("pytorch_half_pixel");
  XnnpackExecutor xa, xb;
  const auto ya = run(a.load(), x, 1, &xa);
  const auto yb = run(b.load(), x, 1, &xb);
  EXPECT_EQ(xa.node_plans()[0].role, XnnpackNodeRole::kXnnpack);
  EXPECT_EQ(xb.node_plans()[0].role, XnnpackNodeRole::kCustom);
  expect_near(ya, yb);
}

// Erf runs a branch-free kernel (its time must not depend on the data); its values are
// checked against glibc's double-precision erf, from tiny arguments (relative error) to
// the saturated tails, and the same for Gelu (opset 20), which is built on it.
TEST(XnnpackExecutor, ErfAndGeluAgreeWithDoublePrecisionErfOverTheWholeRange) {
  std::vector<float> x;
  for (float v = -9.0f; v <= 9.0f; v += 0.00037f) x.push_back(v);
  for (float v = 1e-30f; v < 1.0f; v *= 1.07f) x.push_back(-v);
  const std::int64_t n = static_cast<std::int64_t>(x.size());
  for (const char* op : {"Erf", "Gelu"}) {
    ModelBuilder m;
    if (std::string(op) == "Gelu") m.opset(20);
    m.input("x", {n}).output("y", {n}).node(op, {"x"}, {"y"});
    const auto y = run(m.load(), x);
    ASSERT_EQ(y.size(), x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double xd = x[i];
      const double want = std::string(op) == "Erf" ? std::erf(xd) : 0.5 * xd * (1.0 + std::erf(xd / std::sqrt(2.0)));
      ASSERT_NEAR(y[i], want, 4e-7 + 1e-6 * std::fabs(want)) << op << "(" << x[i] << ")";
    }
  }
}

TEST(XnnpackExecutor, ConvBatchNormReluFuseIntoOneOperator) {
  ModelBuilder m;
  m.input("x", {1, C, H, W}).output("y").identity_conv("x", "c");
  const std::vector<float> gamma{1.5f, -2.0f, 0.5f}, beta{0.1f, 0.2f, -0.3f}, mean{0.5f, -0.5f, 0.0f},
      var{1.0f, 4.0f, 0.25f};
  m.floats("g", {C}, gamma).floats("be", {C}, beta).floats("m", {C}, mean).floats("v", {C}, var);
  m.node("BatchNormalization", {"c", "g", "be", "m", "v"}, {"bn"});
  m.node("Relu", {"bn"}, {"y"});
  const ir::Graph g = m.load();
  const auto x = input_data();
  std::vector<float> want(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const std::size_t c = i / (H * W);
    const double v = (x[i] - mean[c]) / std::sqrt(var[c] + 1e-5) * gamma[c] + beta[c];
    want[i] = static_cast<float>(std::max(v, 0.0));
  }
  XnnpackExecutor ex;
  expect_near(run(g, x, 2, &ex), want);
  ASSERT_EQ(ex.node_plans().size(), 3u);
  EXPECT_EQ(ex.node_plans()[0].role, XnnpackNodeRole::kXnnpack);
  EXPECT_EQ(ex.node_plans()[1].role, XnnpackNodeRole::kFused);
  EXPECT_EQ(ex.node_plans()[1].fused_into, 0);
  EXPECT_EQ(ex.node_plans()[2].role, XnnpackNodeRole::kFused);
}

// Runs repeat without set_input (benchmarks do): the input must survive the arena reuse.
// Attention written as Einsums (MaxViT's export): Q K^T, then the scores times V, both batched
// over the leading letters; the expected values are the equations' sums written out.
TEST(XnnpackExecutor, AttentionEinsumsAreBatchedProducts) {
  constexpr std::int64_t B = 2, Hd = 3, I = 4, J = 6, D = 5, E = 7;
  ModelBuilder m;
  m.input("q", {B, Hd, I, D}).input("k", {B, Hd, J, D}).input("v", {B, Hd, J, E}).output("y", {B, Hd, I, E});
  auto eq = [](::onnx::NodeProto& n, const std::string& e) {
    auto* a = n.add_attribute();
    a->set_name("equation");
    a->set_type(::onnx::AttributeProto::STRING);
    a->set_s(e);
  };
  eq(m.opset(12).node("Einsum", {"q", "k"}, {"s"}), "B H I D, B H J D -> B H I J");
  eq(m.node("Einsum", {"s", "v"}, {"y"}), "B H I J, B H J E -> B H I E");
  const ir::Graph g = m.load();
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  auto fill = [&](std::size_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = d(rng);
    return v;
  };
  const auto q = fill(B * Hd * I * D), k = fill(B * Hd * J * D), v = fill(B * Hd * J * E);
  std::vector<float> want(static_cast<std::size_t>(B * Hd * I * E), 0.0f);
  for (std::int64_t bh = 0; bh < B * Hd; ++bh) {
    for (std::int64_t i = 0; i < I; ++i) {
      for (std::int64_t j = 0; j < J; ++j) {
        double s = 0;
        for (std::int64_t t = 0; t < D; ++t) s += double(q[(bh * I + i) * D + t]) * k[(bh * J + j) * D + t];
        for (std::int64_t e = 0; e < E; ++e) want[(bh * I + i) * E + e] += float(s * v[(bh * J + j) * E + e]);
      }
    }
  }
  for (int threads : {1, 2}) {
    XnnpackExecutor ex;
    ex.prepare(g, threads);
    ex.set_input(0, q);
    ex.set_input(1, k);
    ex.set_input(2, v);
    ex.run();
    expect_near({ex.output(0).begin(), ex.output(0).end()}, want);
  }
}

TEST(XnnpackExecutor, AnEinsumThatIsNoBatchedProductIsRefusedWithItsEquation) {
  ModelBuilder m;
  m.input("a", {2, 3, 4}).input("b", {2, 4, 5}).output("y", {2, 5, 3});
  auto& n = m.opset(12).node("Einsum", {"a", "b"}, {"y"});
  auto* a = n.add_attribute();
  a->set_name("equation");
  a->set_type(::onnx::AttributeProto::STRING);
  a->set_s("bij,bjk->bki");  // the product's output transposed
  const auto support = XnnpackExecutor::supports(m.load(), 0);
  EXPECT_FALSE(support.ok);
  EXPECT_NE(support.reason.find("'bij,bjk->bki' is not a batched matrix product"), std::string::npos) << support.reason;
}

TEST(XnnpackExecutor, InputsSurviveRuns) {
  ModelBuilder m;
  m.input("x", {1, C, H, W}).output("y").identity_conv("x", "a");
  m.node("Relu", {"a"}, {"r"});
  m.node("Sigmoid", {"r"}, {"s"});
  m.node("Tanh", {"s"}, {"y"});
  const ir::Graph g = m.load();
  XnnpackExecutor ex;
  ex.prepare(g, 1);
  ex.set_input(0, input_data());
  ex.run();
  const std::vector<float> first(ex.output(0).begin(), ex.output(0).end());
  ex.run();
  ex.run();
  expect_near({ex.output(0).begin(), ex.output(0).end()}, first);
}

TEST(XnnpackExecutor, ProfilingRecordsEveryRunningNode) {
  ModelBuilder m;
  m.input("x", {1, C, H, W}).output("y").identity_conv("x", "c");
  m.node("Sigmoid", {"c"}, {"s"});
  m.node("Tanh", {"s"}, {"y"});
  const ir::Graph g = m.load();
  XnnpackExecutor ex;
  ex.prepare(g, 1);
  ex.set_input(0, input_data());
  ex.set_profiling(true);
  ex.run();
  ASSERT_EQ(ex.node_times_ms().size(), 3u);
  for (double t : ex.node_times_ms()) EXPECT_TRUE(std::isfinite(t) && t > 0.0);
  EXPECT_EQ(ex.node_plans()[2].role, XnnpackNodeRole::kCustom);  // no tanh in XNNPACK 2022
}

TEST(XnnpackExecutor, PrepareListsEveryUnsupportedNodeInOneError) {
  ModelBuilder m;
  m.input("x", {1, C, H, W}).output("y");
  m.node("Hardmax", {"x"}, {"h"});
  m.node("Relu", {"h"}, {"r"});
  m.node("Frobnicate", {"r"}, {"y"}, "com.example");
  const ir::Graph g = m.load();
  EXPECT_FALSE(XnnpackExecutor::supports(g, 0).ok);
  EXPECT_TRUE(XnnpackExecutor::supports(g, 1).ok);
  EXPECT_NE(XnnpackExecutor::supports(g, 2).reason.find("Frobnicate"), std::string::npos);
  const auto all = XnnpackExecutor::supports_all(g);
  ASSERT_EQ(all.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(all[i].ok, XnnpackExecutor::supports(g, i).ok);
  XnnpackExecutor ex;
  try {
    ex.prepare(g, 1);
    FAIL() << "prepare accepted unsupported nodes";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    const std::string what = e.what();
    EXPECT_NE(what.find("2 problems"), std::string::npos) << what;
    EXPECT_NE(what.find("'h' (Hardmax)"), std::string::npos) << what;
    EXPECT_NE(what.find("'y' (com.example.Frobnicate)"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos);
  }
  EXPECT_FALSE(ex.prepared());
}

// A model with hundreds of unsupported nodes (Swin-T's export: 696) still gets one line a
// terminal shows: the count, the first twelve, and how many more.
TEST(XnnpackExecutor, PrepareListsTheFirstTwelveOfManyProblems) {
  ModelBuilder m;
  m.input("x", {1, C, H, W}).output("h19");
  std::string previous = "x";
  for (int i = 0; i < 20; ++i) {
    m.node("Hardmax", {previous}, {"h" + std::to_string(i)});
    previous = "h" + std::to_string(i);
  }
  XnnpackExecutor ex;
  try {
    ex.prepare(m.load(), 1);
    FAIL() << "prepare accepted unsupported nodes";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    const std::string what = e.what();
    EXPECT_NE(what.find("20 problems"), std::string::npos) << what;
    EXPECT_NE(what.find("'h11' (Hardmax)"), std::string::npos) << what;
    EXPECT_EQ(what.find("'h12' (Hardmax)"), std::string::npos) << what;
    EXPECT_NE(what.find("; and 8 more"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos);
  }
}

TEST(XnnpackExecutor, BadArgumentsAreErrors) {
  ModelBuilder m;
  m.input("x", {1, C, H, W}).output("y");
  m.node("Relu", {"x"}, {"y"});
  const ir::Graph g = m.load();
  XnnpackExecutor ex;
  EXPECT_THROW(ex.run(), Error);
  EXPECT_THROW(ex.prepare(g, -1), Error);
  ex.prepare(g, 2);
  EXPECT_EQ(ex.threads(), 2);
  EXPECT_EQ(ex.input_info(0).name, "x");
  EXPECT_EQ(ex.output_info(0).shape, (std::vector<std::int64_t>{1, C, H, W}));
  try {
    ex.set_input(0, std::vector<float>(7));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
  }
  EXPECT_THROW(ex.set_input(1, input_data()), Error);
  EXPECT_THROW(ex.output(3), Error);
}

}  // namespace
}  // namespace infercast::runtime
