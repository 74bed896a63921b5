// The runtime room's shared pieces: the registry, random inputs, and the
// unsupported-node report.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>

#include "infercast/base/error.hpp"
#include "infercast/runtime/runtime.hpp"

namespace infercast::runtime {
namespace {

ir::Graph graph_with_inputs(const std::vector<std::pair<std::string, ir::DType>>& inputs,
                            std::vector<std::int64_t> dims = {2, 3, 4}) {
  ir::Graph g;
  for (const auto& [name, dtype] : inputs) {
    ir::Tensor t;
    t.name = name;
    t.dtype = dtype;
    t.shape = ir::Shape::of(dims);
    t.kind = ir::TensorKind::kInput;
    g.inputs.push_back(g.add_tensor(t));
  }
  g.meta.format = "onnx";
  g.meta.source_path = "m.onnx";
  return g;
}

template <typename T>
std::vector<T> values(const HostTensor& t) {
  std::vector<T> v(t.data.size() / sizeof(T));
  std::memcpy(v.data(), t.data.data(), t.data.size());
  return v;
}

float half_to_float(std::uint16_t h) {
  const int exponent = (h >> 10) & 0x1f;
  const int fraction = h & 0x3ff;
  const float sign = (h & 0x8000) ? -1.0f : 1.0f;
  if (exponent == 0) return sign * std::ldexp(static_cast<float>(fraction), -24);
  return sign * std::ldexp(1.0f + fraction / 1024.0f, exponent - 15);
}

TEST(Registry, KnowsOrtAndRejectsUnknownNames) {
  const auto names = runtime_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "ort"), names.end());
  try {
    make_runtime("tensorflow");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("unknown runtime; known: ort"), std::string::npos) << e.what();
  }
}

TEST(RandomInputs, DeterministicPerSeedAndNeverAllZero) {
  const ir::Graph g = graph_with_inputs({{"a", ir::DType::kFloat32}, {"b", ir::DType::kFloat32}});
  const auto first = random_inputs(g, 7);
  const auto again = random_inputs(g, 7);
  const auto other = random_inputs(g, 8);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].data, again[0].data);
  EXPECT_NE(first[0].data, other[0].data);
  EXPECT_NE(first[0].data, first[1].data);  // each input has its own stream
  EXPECT_EQ(first[0].dims, (std::vector<std::int64_t>{2, 3, 4}));
  EXPECT_EQ(first[0].dtype, ir::DType::kFloat32);
  const auto v = values<float>(first[0]);
  ASSERT_EQ(v.size(), 24u);
  std::set<float> distinct(v.begin(), v.end());
  EXPECT_GT(distinct.size(), 20u);
  for (float x : v) {
    EXPECT_GE(x, -1.0f);
    EXPECT_LT(x, 1.0f);
  }
}

TEST(RandomInputs, FirstValuesFollowTheDocumentedGenerator) {
  // docs/runner-protocol.md: state = FNV-1a("x") ^ lo32(seed) ^ hi32(seed); xorshift32;
  // float = (x >> 8) / 2^23 - 1. FNV-1a("x") = 0xfd0c5087 (0x811c9dc5 ^ 0x78, times 0x01000193).
  std::uint32_t state = 0xfd0c5087u ^ 5u;
  const ir::Graph g = graph_with_inputs({{"x", ir::DType::kFloat32}}, {3});
  const auto v = values<float>(random_inputs(g, 5)[0]);
  for (int i = 0; i < 3; ++i) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    EXPECT_EQ(v[static_cast<std::size_t>(i)], static_cast<float>((state >> 8) / 8388608.0 - 1.0));
  }
}

TEST(RandomInputs, EveryFixedWidthType) {
  const ir::Graph g = graph_with_inputs({{"f16", ir::DType::kFloat16},
                                         {"bf16", ir::DType::kBFloat16},
                                         {"f64", ir::DType::kFloat64},
                                         {"i64", ir::DType::kInt64},
                                         {"u8", ir::DType::kUInt8},
                                         {"b", ir::DType::kBool}},
                                        {64});
  const auto in = random_inputs(g, 1);
  ASSERT_EQ(in.size(), 6u);
  for (std::uint16_t h : values<std::uint16_t>(in[0])) {
    const float f = half_to_float(h);
    EXPECT_GE(f, -1.0f);
    EXPECT_LT(f, 1.0f);
    EXPECT_EQ(std::fmod(f * 1024.0f, 1.0f), 0.0f);  // k / 1024 - 1, exactly
  }
  EXPECT_EQ(in[1].data.size(), 128u);
  for (double d : values<double>(in[2])) {
    EXPECT_GE(d, -1.0);
    EXPECT_LT(d, 1.0);
  }
  std::set<std::int64_t> ints;
  for (std::int64_t i : values<std::int64_t>(in[3])) {
    EXPECT_GE(i, 0);
    EXPECT_LT(i, 8);
    ints.insert(i);
  }
  EXPECT_GT(ints.size(), 4u);
  for (std::uint8_t u : values<std::uint8_t>(in[4])) EXPECT_LT(u, 8);
  std::set<std::uint8_t> bools;
  for (std::uint8_t b : values<std::uint8_t>(in[5])) bools.insert(b);
  EXPECT_EQ(bools, (std::set<std::uint8_t>{0, 1}));
}

TEST(RandomInputs, RefusesSymbolicShapesAndStrings) {
  ir::Graph g = graph_with_inputs({{"x", ir::DType::kFloat32}});
  g.tensors[0].shape.dims[0] = ir::Dim{-1, "batch"};
  try {
    random_inputs(g, 1);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnknownDim);
    EXPECT_NE(std::string(e.what()).find("--input-shape x="), std::string::npos) << e.what();
  }
  const ir::Graph s = graph_with_inputs({{"s", ir::DType::kString}});
  EXPECT_THROW(random_inputs(s, 1), Error);
}

class RefusesRelu : public Runtime {
 public:
  std::string name() const override { return "picky"; }
  std::string version() override { return "1"; }
  Support supports(const ir::Graph& g, int node) const override {
    if (g.nodes[static_cast<std::size_t>(node)].op == ir::Op::Relu) return {false, "no activations today"};
    return {};
  }
  void prepare(const ir::Graph& g, const PrepareOptions&) override { require_supported(*this, g); }
  RunResult run(const RunOptions&) override { return {}; }
  std::vector<HostTensor> infer(const std::vector<HostTensor>&) override { return {}; }
};

TEST(RequireSupported, ListsEveryRefusedNodeWithItsReason) {
  ir::Graph g = graph_with_inputs({{"x", ir::DType::kFloat32}});
  auto add_node = [&](const std::string& name, ir::Op op, const char* source) {
    ir::Tensor out;
    out.name = name + "_out";
    out.dtype = ir::DType::kFloat32;
    out.shape = ir::Shape::of({2, 3, 4});
    ir::Node n;
    n.name = name;
    n.op = op;
    n.source_op = source;
    n.inputs = {0};
    n.outputs = {g.add_tensor(out)};
    g.nodes.push_back(n);
  };
  add_node("r1", ir::Op::Relu, "Relu");
  add_node("s1", ir::Op::Sigmoid, "Sigmoid");
  add_node("r2", ir::Op::Relu, "Relu");
  g.finalize("m.onnx");
  RefusesRelu rt;
  try {
    rt.prepare(g, {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    const std::string m = e.what();
    EXPECT_NE(m.find("m.onnx: runtime 'picky': 2 unsupported node(s): node 'r1' (Relu): no activations today; "
                     "node 'r2' (Relu): no activations today"),
              std::string::npos)
        << m;
  }
}

TEST(HostTensor, Numel) {
  EXPECT_EQ((HostTensor{"s", ir::DType::kFloat32, {}, {}}).numel(), 1u);
  EXPECT_EQ((HostTensor{"t", ir::DType::kFloat32, {2, 0, 3}, {}}).numel(), 0u);
  EXPECT_EQ((HostTensor{"u", ir::DType::kFloat32, {2, 5, 3}, {}}).numel(), 30u);
}

}  // namespace
}  // namespace infercast::runtime
