// bench/synthetic: the design space is deterministic, covers every block family, stays
// under its MAC cap, counts MACs as the cost room does, and its networks compute the same
// on XNNPACK as on ONNX Runtime (a runtime nobody here wrote).
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "../test_files.hpp"
#include "infercast/base/error.hpp"
#include "infercast/bench/synthetic.hpp"
#include "infercast/cost/cost.hpp"
#include "infercast/export/export.hpp"
#include "infercast/import/import.hpp"
#include "infercast/runtime/verify.hpp"

namespace infercast::bench {
namespace {

TEST(BenchSynthetic, SameSeedSameNetworkAndEveryFamilyUnderTheCap) {
  std::set<std::string> families;
  for (std::uint64_t seed = 1; seed <= 60; ++seed) {
    const SyntheticNetwork a = synthetic_network(seed);
    families.insert(a.description["family"].get<std::string>());
    EXPECT_LE(a.macs, 1.5e9 * 1.0001) << a.name;
    EXPECT_GT(a.graph.nodes.size(), 5u) << a.name;
    // The cost room counts the same convolution and Gemm MACs (it adds none for the rest
    // beyond a small share: pooling and elementwise ops are not multiply-accumulates).
    const double counted = static_cast<double>(cost::analyze(a.graph).macs);
    EXPECT_GE(counted, a.macs * 0.999) << a.name;
    EXPECT_LE(counted, a.macs * 1.02) << a.name;
    if (seed <= 5) {
      const SyntheticNetwork b = synthetic_network(seed);
      EXPECT_EQ(a.name, b.name);
      EXPECT_EQ(a.graph.nodes.size(), b.graph.nodes.size());
      EXPECT_EQ(a.macs, b.macs);
    }
  }
  EXPECT_EQ(families.size(), 7u);
}

TEST(BenchSynthetic, NetworksAgreeOnXnnpackAndOnnxRuntime) {
  if (!std::filesystem::exists(std::filesystem::path(INFERCAST_SOURCE_DIR) /
                               "runners/ort/node_modules/onnxruntime-node/package.json"))
    GTEST_SKIP() << "runners/ort/node_modules is absent: run scripts/install_runners.sh (make test does)";
  for (std::uint64_t seed : {2u, 3u, 4u}) {
    const SyntheticNetwork net = synthetic_network(seed, 1e8);
    const auto path = infercast::testing::temp_path("infercast_synthetic_" + std::to_string(seed) + ".onnx");
    exporter::save(net.graph, path, exporter::Format::kOnnx);
    const ir::Graph loaded = import::load_model(path);
    runtime::VerifyOptions o;
    o.runtime = "xnnpack";
    o.reference = "ort";
    o.threads = 1;
    for (const runtime::VerifiedSet& set : runtime::verify_model(loaded, o)) {
      for (const runtime::OutputComparison& c : set.outputs) {
        EXPECT_TRUE(c.pass) << net.name << " (" << net.description["family"] << "): max rel " << c.max_rel_error << " "
                            << c.note;
      }
    }
    std::filesystem::remove(path);
  }
}

// Weight chains: copies of one kernel, each with weights of its own, that keep the
// activation's shape and scale (the same result on ONNX Runtime), and refuse a kernel
// that would change the shape along the chain.
TEST(BenchSynthetic, WeightChainsRepeatOneKernelWithWeightsOfItsOwn) {
  const KernelSpec conv{"conv",
                        {{"n", 1},
                         {"h", 7},
                         {"w", 7},
                         {"cin", 32},
                         {"cout", 32},
                         {"k", 3},
                         {"stride", 1},
                         {"dilation", 1},
                         {"pad", 1},
                         {"groups", 1}}};
  const ir::Graph g = weight_chain(conv, 4);
  ASSERT_EQ(g.nodes.size(), 4u);
  std::set<std::string> first_values;
  for (const ir::Node& n : g.nodes) {
    EXPECT_EQ(n.op, ir::Op::Conv);
    const ir::Tensor& w = g.tensors[static_cast<std::size_t>(n.inputs[1])];
    ASSERT_EQ(w.data.size(), 32u * 32 * 9 * sizeof(float));
    first_values.insert(std::string(reinterpret_cast<const char*>(w.data.data()), 64));
  }
  EXPECT_EQ(first_values.size(), 4u);  // no two copies share weights
  EXPECT_EQ(g.tensors[static_cast<std::size_t>(g.outputs[0])].shape.extents(),
            (std::vector<std::int64_t>{1, 32, 7, 7}));
  EXPECT_EQ(weight_chain(KernelSpec{"fc", {{"n", 50}, {"cin", 64}, {"cout", 64}}}, 3).nodes.size(), 3u);
  KernelSpec strided = conv;
  strided.params["stride"] = 2;
  EXPECT_THROW(weight_chain(strided, 4), Error);
  EXPECT_THROW(weight_chain(KernelSpec{"fc", {{"n", 1}, {"cin", 64}, {"cout", 32}}}, 2), Error);
  EXPECT_THROW(weight_chain(conv, 0), Error);
  EXPECT_THROW(weight_chain(conv, 1 << 20), Error);  // a stored record asking for gigabytes
  for (const KernelSpec& spec : cold_chain_specs()) {
    EXPECT_NO_THROW(validate(spec)) << spec.key();
    // Every chain can outgrow three times a 120 MiB cache: a chain that fits measures a
    // warm excess (none) and calibrates cold weights to nothing.
    double weights = 0;
    for (const ir::Tensor& t : weight_chain(spec, 1).tensors)
      if (t.is_constant()) weights += static_cast<double>(t.bytes().value_or(0));
    EXPECT_GE(weights * kMaxChainCopies, 3.0 * 120 * (1 << 20)) << spec.key();
  }

  if (!std::filesystem::exists(std::filesystem::path(INFERCAST_SOURCE_DIR) /
                               "runners/ort/node_modules/onnxruntime-node/package.json"))
    GTEST_SKIP() << "runners/ort/node_modules is absent: run scripts/install_runners.sh (make test does)";
  const auto path = infercast::testing::temp_path("infercast_weight_chain.onnx");
  exporter::save(weight_chain(conv, 8), path, exporter::Format::kOnnx);
  runtime::VerifyOptions o;
  o.runtime = "xnnpack";
  o.reference = "ort";
  o.threads = 1;
  for (const runtime::VerifiedSet& set : runtime::verify_model(import::load_model(path), o)) {
    for (const runtime::OutputComparison& c : set.outputs) EXPECT_TRUE(c.pass) << c.max_rel_error << " " << c.note;
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace infercast::bench
