// Samplers (grid = the seed project's grid, random, adaptive, prior over real models
// with its coverage of every conv/dwconv/fc layer) and the bench loop's handling of a
// runner that crashes mid-measurement.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <sstream>

#include "infercast/base/error.hpp"
#include "infercast/bench/bench.hpp"
#include "infercast/bench/kernel.hpp"
#include "infercast/bench/sampler.hpp"
#include "infercast/import/import.hpp"

namespace infercast::bench {
namespace {

namespace fs = std::filesystem;
const fs::path kSource = INFERCAST_SOURCE_DIR;

std::set<std::int64_t> values(const std::vector<KernelSpec>& specs, const std::string& name) {
  std::set<std::int64_t> v;
  for (const auto& s : specs) v.insert(s.get(name));
  return v;
}

std::vector<std::string> keys(const std::vector<KernelSpec>& specs) {
  std::vector<std::string> k;
  for (const auto& s : specs) k.push_back(s.key());
  return k;
}

TEST(BenchSampler, GridIsTheSeedGridForConvolutions) {
  SamplerOptions o;
  o.kernel_types = {"conv"};
  o.max_macs = 1e18;  // the whole grid
  const auto specs = sample_kernels(o, 0);
  EXPECT_EQ(values(specs, "k"), (std::set<std::int64_t>{1, 3, 5, 7}));
  EXPECT_EQ(values(specs, "cout"), (std::set<std::int64_t>{16, 32, 64, 128, 256}));
  EXPECT_EQ(values(specs, "h"), (std::set<std::int64_t>{8, 16, 28, 56, 112, 224}));
  EXPECT_EQ(values(specs, "cin"), (std::set<std::int64_t>{3, 16, 32, 64, 128, 256}));
  EXPECT_EQ(values(specs, "stride"), (std::set<std::int64_t>{1, 2}));
  // 4 kernels x 5 filters x 6 inputs x 6 Cin x 2 strides: with pad k/2 every kernel
  // fits its padded input, so the grid is complete.
  EXPECT_EQ(specs.size(), 4u * 5 * 6 * 6 * 2);
  for (const auto& s : specs) EXPECT_EQ(s.get("pad"), s.get("k") / 2);
  const auto all = keys(specs);
  const std::set<std::string> unique(all.begin(), all.end());
  EXPECT_EQ(unique.size(), specs.size());
}

TEST(BenchSampler, EverySamplerIsSeededValidAndInterleavesTypes) {
  for (const char* name : {"grid", "random", "space"}) {
    SCOPED_TRACE(name);
    SamplerOptions o;
    o.sampler = name;
    o.seed = 5;
    const auto a = sample_kernels(o, 200);
    const auto b = sample_kernels(o, 200);
    ASSERT_EQ(a.size(), 200u);
    EXPECT_EQ(keys(a), keys(b));
    o.seed = 6;
    EXPECT_NE(keys(sample_kernels(o, 200)), keys(a));
    std::set<std::string> types;
    for (const auto& s : a) {
      EXPECT_NO_THROW(validate(s)) << s.key();
      types.insert(s.type);
    }
    // 200 specs round-robin over the default types: every one is there, and the
    // conv+transpose fusion probe is not among them.
    EXPECT_EQ(types.size(), default_kernel_types().size());
    EXPECT_EQ(types.count("conv+transpose"), 0u);
  }
}

TEST(BenchSampler, RandomStaysWithinTheSpaceAndTheMacCap) {
  SamplerOptions o;
  o.sampler = "random";
  o.kernel_types = {"conv+relu", "dwconv"};
  o.max_macs = 5e8;
  const auto specs = sample_kernels(o, 300);
  ASSERT_EQ(specs.size(), 300u);
  for (const auto& s : specs) {
    EXPECT_GE(s.get("h"), s.type == "dwconv" ? 7 : 8);
    EXPECT_LE(s.get("h"), 224);
    if (s.type == "conv+relu") {
      const double oh = (s.get("h") + 2 * s.get("pad") - s.get("k")) / s.get("stride") + 1;
      EXPECT_LE(oh * oh * s.get("cin") * s.get("cout") * s.get("k") * s.get("k"), 5e8) << s.key();
    }
  }
  // Sizes are not confined to the grid's values.
  EXPECT_GT(values(specs, "h").size(), 20u);
}

TEST(BenchSampler, SpaceCoversTheParametersRealNetworksUseWithoutAnyModel) {
  // No model is named: the space comes from the distributions alone.
  SamplerOptions o;
  o.sampler = "space";
  o.kernel_types = {"conv", "dwconv", "fc", "matmul", "add", "softmax", "maxpool", "convtranspose", "se", "einsum"};
  const auto specs = sample_kernels(o, 3000);
  ASSERT_EQ(specs.size(), 3000u);
  EXPECT_EQ(keys(specs), keys(sample_kernels(o, 3000)));
  std::vector<KernelSpec> conv, fc, matmul, add, einsum;
  for (const auto& s : specs) {
    EXPECT_NO_THROW(validate(s)) << s.key();
    EXPECT_LE(kernel_work(s), o.max_macs) << s.key();
    if (s.params.count("h") != 0) EXPECT_EQ(s.get("h"), s.get("w")) << "square inputs, as CNNs take: " << s.key();
    if (s.type == "conv") conv.push_back(s);
    if (s.type == "fc") fc.push_back(s);
    if (s.type == "matmul") matmul.push_back(s);
    if (s.type == "add") add.push_back(s);
    if (s.type == "einsum") einsum.push_back(s);
  }
  // conv, fc and matmul get four times the share of the others.
  EXPECT_GT(conv.size(), 3 * add.size());
  const auto cin = values(conv, "cin"), h = values(conv, "h"), k = values(conv, "k");
  EXPECT_EQ(*cin.begin(), 3);
  EXPECT_GE(*cin.rbegin(), 1024);
  EXPECT_LE(*h.begin(), 2);
  EXPECT_GE(*h.rbegin(), 224);
  for (std::int64_t kk : {1, 3, 5, 7, 9}) EXPECT_EQ(k.count(kk), 1u) << kk;
  EXPECT_EQ(values(conv, "stride").count(2), 1u);
  EXPECT_EQ(values(conv, "dilation").count(2), 1u);
  // Stems, the layer that reads the image: 3 channels at an input resolution, strided or
  // patchifying (k = stride, as ConvNeXt, Swin and the ViTs).
  std::size_t stems = 0, patchify = 0;
  for (const auto& s : conv) {
    if (s.get("cin") == 3 && s.get("h") >= 64 && s.get("stride") >= 2) ++stems;
    if (s.get("cin") == 3 && s.get("k") >= 4 && s.get("k") == s.get("stride") && s.get("pad") == 0) ++patchify;
  }
  EXPECT_GT(stems, conv.size() / 20);
  EXPECT_GT(patchify, 0u);
  // A squeeze-excitation's reduce and expand convs: 1x1 at the one position a pool leaves.
  std::size_t se = 0;
  for (const auto& s : conv)
    if (s.get("h") == 1 && s.get("k") == 1 && s.get("groups") == 1) ++se;
  EXPECT_GT(se, conv.size() / 25);
  int grouped = 0, odd_groups = 0;
  double largest_conv_weights = 0;
  for (const auto& s : conv) {
    // Weights as networks have them: channels and kernel size never meet at 2048->2048
    // 7x7 (205M), while wide_resnet101_2's 3x3 1024->1024 (9.4M) is in range.
    const double weights =
        static_cast<double>(s.get("cin") / s.get("groups") * s.get("cout") * s.get("k") * s.get("k"));
    EXPECT_LE(weights, 16.8e6) << s.key();
    largest_conv_weights = std::max(largest_conv_weights, weights);
    // Channels and resolution trade against each other as in real networks.
    const double in = static_cast<double>(s.get("h") * s.get("w") * s.get("cin"));
    const double out = static_cast<double>(s.get("h") * s.get("w") * s.get("cout")) / s.get("stride") / s.get("stride");
    EXPECT_LE(std::max(in, out), 3.3e6) << s.key();
    if (s.get("groups") > 1) {
      ++grouped;
      EXPECT_LT(s.get("groups"), s.get("cin")) << "a grouped conv, not a depthwise one: " << s.key();
      // RegNet's group counts (13, 26, 55 in regnet_y_400mf) are no powers of two.
      if ((s.get("groups") & (s.get("groups") - 1)) != 0) ++odd_groups;
    }
  }
  EXPECT_GT(odd_groups, grouped / 4);
  EXPECT_LT(odd_groups, grouped * 3 / 4);
  EXPECT_GT(grouped, static_cast<int>(conv.size()) / 5);
  EXPECT_LT(grouped, static_cast<int>(conv.size()) / 2);
  EXPECT_GT(largest_conv_weights, 4e6);
  EXPECT_GE(*values(fc, "cin").rbegin(), 9216);  // vgg/alexnet classifier heads
  EXPECT_GE(*values(fc, "cout").rbegin(), 4096);
  EXPECT_EQ(*values(fc, "n").begin(), 1);      // classifier heads: one row
  EXPECT_GE(*values(fc, "n").rbegin(), 1000);  // token and pixel MLPs: a GEMM
  // A transformer block's GEMMs over its tokens (d -> d, 3d, 4d; 4d -> d with d a multiple
  // of 32 from 64): three FC draws in ten are one; independent widths rarely meet so.
  std::size_t token_gemms = 0;
  for (const auto& s : fc) {
    const std::int64_t d = std::min(s.get("cin"), s.get("cout")), wide = std::max(s.get("cin"), s.get("cout"));
    if (s.get("n") >= 16 && d >= 64 && d % 32 == 0 && (wide == d || wide == 3 * d || wide == 4 * d)) ++token_gemms;
  }
  EXPECT_GT(token_gemms, fc.size() / 6);
  EXPECT_GE(*values(matmul, "m").rbegin(), 1000);  // attention over long sequences
  // Attention as an Einsum, both forms, MaxViT's 49-token windows among them.
  EXPECT_EQ(values(einsum, "form"), (std::set<std::int64_t>{1, 2}));
  EXPECT_EQ(values(einsum, "m").count(49), 1u);
  double largest_add = 0;
  for (const auto& s : add)
    largest_add = std::max(largest_add, static_cast<double>(s.get("h") * s.get("w") * s.get("c")));
  EXPECT_GT(largest_add, 2e6);  // elementwise tensors of many MB
}

// Concats join two to four inputs (Inception, ShuffleNet) and, in a share of the draws,
// the many narrow ones of a dense block (DenseNet-169 joins up to 33 of 32 channels),
// whose input count the regressors cannot extrapolate to; every draw builds and runs as
// one Concat node with that many inputs.
TEST(BenchSampler, ConcatsReachTheInputCountsOfDenseBlocks) {
  SamplerOptions o;
  o.sampler = "space";
  o.kernel_types = {"concat"};
  const auto specs = sample_kernels(o, 400);
  ASSERT_EQ(specs.size(), 400u);
  int few = 0, dense = 0;
  for (const auto& s : specs) {
    EXPECT_NO_THROW(validate(s)) << s.key();
    const std::int64_t inputs = s.get("inputs");
    EXPECT_GE(inputs, 2) << s.key();
    EXPECT_LE(inputs, 40) << s.key();
    if (inputs <= 4) {
      ++few;
      continue;
    }
    ++dense;
    EXPECT_LE(s.get("c"), 128) << "a dense block's growth: " << s.key();
    if (dense == 1) {
      const ir::Graph g = build_kernel_graph(s);
      ASSERT_EQ(g.nodes.size(), 1u);
      EXPECT_EQ(g.nodes[0].inputs.size(), static_cast<std::size_t>(inputs));
    }
  }
  EXPECT_GT(dense, 30);
  EXPECT_GT(few, 4 * dense);
  std::set<std::int64_t> counts;
  for (const auto& s : specs) counts.insert(s.get("inputs"));
  EXPECT_GE(*counts.rbegin(), 25) << "DenseNet-121's largest concat";
}

TEST(BenchSampler, AdaptiveSamplesMoreWhereTheErrorIsLarge) {
  SamplerOptions o;
  o.sampler = "adaptive";
  o.kernel_types = {"conv"};
  EXPECT_THROW(sample_kernels(o, 10), Error);  // no error function
  o.error_fn = [](const KernelSpec& s) { return s.get("k") == 7 ? 1.0 : 0.01; };
  const auto adaptive = sample_kernels(o, 100);
  ASSERT_EQ(adaptive.size(), 100u);
  EXPECT_EQ(keys(adaptive), keys(sample_kernels(o, 100)));
  auto share_k7 = [](const std::vector<KernelSpec>& v) {
    double n = 0;
    for (const auto& s : v) n += s.get("k") == 7 ? 1 : 0;
    return n / static_cast<double>(v.size());
  };
  // The candidates come from the space, where 7x7 convs are 7% of the draws.
  o.sampler = "space";
  const double base = share_k7(sample_kernels(o, 100));
  EXPECT_GT(share_k7(adaptive), 0.6);
  EXPECT_LT(base, 0.15);
}

TEST(BenchSampler, RefusesUnknownSamplersTypesAndPriorWithoutModels) {
  SamplerOptions o;
  o.sampler = "sobol";
  EXPECT_THROW(sample_kernels(o, 1), Error);
  o.sampler = "grid";
  o.kernel_types = {"conv", "warp"};
  EXPECT_THROW(sample_kernels(o, 1), Error);
  o.kernel_types = {};
  o.sampler = "prior";
  EXPECT_THROW(sample_kernels(o, 1), Error);
  o.models = {kSource / "no-such-folder"};
  EXPECT_THROW(sample_kernels(o, 1), Error);
}

// The geometry of a layer, fusion suffix dropped: "conv+bn+relu|..." and "conv|..." of
// the same shapes are the same configuration.
std::string geometry(const KernelSpec& s) {
  KernelSpec g = s;
  g.type = s.type.substr(0, s.type.find('+'));
  return g.key();
}

TEST(BenchSampler, PriorCoversEveryConvDwconvFcLayerOfTheRealModels) {
  std::vector<fs::path> dirs;
  for (const char* d : {".cache/models/torchvision", ".cache/models/mediapipe"}) {
    if (fs::exists(kSource / d)) dirs.push_back(kSource / d);
  }
  if (dirs.size() < 2) GTEST_SKIP() << "models missing in .cache/models (run make test to fetch them)";
  SamplerOptions o;
  o.sampler = "prior";
  o.models = dirs;
  o.seed = 3;
  const auto sampled = sample_kernels(o, 0);
  std::set<std::string> space;
  for (const auto& s : sampled) space.insert(geometry(s));

  // Every conv / depthwise conv / fully connected layer, read node by node (not through
  // the sampler's grouping), must be in the sampled space.
  int layers = 0, covered = 0;
  std::set<std::string> configs;
  for (const auto& dir : dirs) {
    for (const auto& entry : fs::directory_iterator(dir)) {
      const ir::Graph g = import::load_model(entry.path());
      for (int i = 0; i < static_cast<int>(g.nodes.size()); ++i) {
        const ir::Op op = g.nodes[i].op;
        if (op != ir::Op::Conv && op != ir::Op::Gemm && op != ir::Op::FullyConnected && op != ir::Op::MatMul) continue;
        const int nodes[] = {i};
        const auto spec = kernel_spec_of(g, nodes);
        if (op == ir::Op::MatMul && (!spec || spec->type == "matmul")) continue;  // activation x activation
        ++layers;
        ASSERT_TRUE(spec) << entry.path().filename() << " node " << g.nodes[i].name;
        configs.insert(geometry(*spec));
        if (space.count(geometry(*spec)) != 0) {
          ++covered;
        } else {
          ADD_FAILURE() << entry.path().filename() << " node " << g.nodes[i].name << " " << spec->key()
                        << " is outside the sampled space";
        }
      }
    }
  }
  // `make models` fetches 9 torchvision exports and 5 MediaPipe models: 780 such layers
  // (a cache with more models has more).
  EXPECT_GE(layers, 780);
  EXPECT_EQ(covered, layers);
  std::printf("prior coverage: %d of %d conv/dwconv/fc layers (%zu distinct configurations); %zu kernels sampled\n",
              covered, layers, configs.size(), sampled.size());
}

TEST(BenchLoop, ARunnerCrashIsAFailedRowAndTheRunGoesOn) {
  if (std::system("node --version >/dev/null 2>&1") != 0) GTEST_SKIP() << "node is not installed";
  const fs::path dir = fs::temp_directory_path() / ("infercast_bench_loop_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  store::Database db = store::Database::open(dir / "k.db");
  BenchOptions o;
  o.runtime = "ort";
  o.runner_command = {"node", (kSource / "tests/runtime/fake_runners/fake_runner.js").string(), "crash_once",
                      (dir / "crashed").string()};
  o.sampler.kernel_types = {"relu"};
  o.count = 3;
  o.protocol.min_time_s = 0;
  o.protocol.min_repeats = 3;
  o.quiet = true;
  std::ostringstream progress;
  const BenchSummary s = run_bench(o, db, progress);
  EXPECT_EQ(s.failed, 1u);
  EXPECT_EQ(s.measured, 2u);
  const auto rows = db.measurements(s.profile_id);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_TRUE(rows[0].failed());
  EXPECT_NE(rows[0].error.find("crash"), std::string::npos) << rows[0].error;
  EXPECT_FALSE(rows[1].failed());
  EXPECT_GT(rows[1].stats.median, 0);
  // The rerun skips all three, failed or not.
  o.count = 0;
  o.sampler.kernel_types = {"relu"};
  const BenchSummary again = run_bench(o, db, progress);
  EXPECT_EQ(again.skipped, 3u);
  EXPECT_EQ(again.failed, 0u);
  // --retry-failed measures the crashed kernel again (the fake crashes only once).
  o.retry_failed = true;
  const BenchSummary retried = run_bench(o, db, progress);
  EXPECT_EQ(retried.measured, 1u);
  EXPECT_EQ(retried.failed, 0u);
  EXPECT_EQ(db.stats().failed_measurements, 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace infercast::bench
