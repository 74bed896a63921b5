// predict/composition: the least-squares fit recovers a known composition law, stays the
// identity without enough networks, and a bundle calibrated on synthetic networks applies
// it, saves it and loads it back.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "../test_files.hpp"
#include "infercast/base/error.hpp"
#include "infercast/bench/kernel.hpp"
#include "infercast/bench/synthetic.hpp"
#include "infercast/bench/timing.hpp"
#include "infercast/predict/composition.hpp"
#include "infercast/predict/predictor.hpp"
#include "infercast/predict/profile.hpp"

namespace {

using namespace infercast;
using namespace infercast::predict;

// measured = 1.3 conv + 0.8 dwconv + 1.0 gemm + 1.1 memory + 2 us per kernel + overhead.
double law(const NetworkSample& s) {
  return 1.3 * s.group_ms.at("conv") + 0.8 * s.group_ms.at("dwconv") + 1.0 * s.group_ms.at("gemm") +
         1.1 * s.group_ms.at("memory") + 0.002 * s.kernels + s.overhead_ms;
}

std::vector<NetworkSample> law_samples(int count) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<NetworkSample> out;
  for (int i = 0; i < count; ++i) {
    NetworkSample s;
    s.name = "n" + std::to_string(i);
    s.group_ms = {{"conv", 1 + 30 * u(rng)}, {"dwconv", 8 * u(rng)}, {"gemm", 2 * u(rng)}, {"memory", 6 * u(rng)}};
    s.kernels = 20 + static_cast<int>(200 * u(rng));
    s.overhead_ms = 0.05;
    s.measured_ms = law(s);
    out.push_back(s);
  }
  return out;
}

TEST(PredictComposition, FitRecoversAKnownLaw) {
  const Composition c = fit_composition(law_samples(60));
  ASSERT_EQ(c.networks, 60);
  // The ridge pulls toward 1 a little; the law's scales are recovered within a few percent.
  EXPECT_NEAR(c.factor("conv"), 1.3, 0.03);
  EXPECT_NEAR(c.factor("dwconv"), 0.8, 0.05);
  EXPECT_NEAR(c.factor("memory"), 1.1, 0.05);
  EXPECT_NEAR(c.per_kernel_ms, 0.002, 0.001);
  EXPECT_GT(c.quality["after_loo"]["within10"].get<double>(), 0.95);
  EXPECT_LT(c.quality["before"]["within10"].get<double>(), 0.5);
}

// Networks that run at their kernels' sum plus 4 us per kernel: the cost-only fit finds the
// 4 us and keeps every scale at 1.
TEST(PredictComposition, CostOnlyFitFindsThePerKernelCost) {
  std::vector<NetworkSample> samples;
  for (int i = 0; i < 20; ++i) {
    NetworkSample s;
    s.name = "n" + std::to_string(i);
    s.group_ms = {{"conv", 1.0 + i}, {"dwconv", 0.2 * i}, {"memory", 0.5}};
    s.kernels = 30 + 7 * i;
    s.overhead_ms = 0.05;
    s.measured_ms = 1.0 + i + 0.2 * i + 0.5 + 0.05 + 0.004 * s.kernels;
    samples.push_back(s);
  }
  const Composition c = fit_composition(samples, CompositionFit::kCost);
  ASSERT_EQ(c.networks, 20);
  EXPECT_NEAR(c.per_kernel_ms, 0.004, 1e-12);
  for (const char* group : {"conv", "dwconv", "gemm", "memory"}) EXPECT_DOUBLE_EQ(c.factor(group), 1.0);
  EXPECT_GT(c.quality["after_loo"]["within10"].get<double>(), 0.99);
  // Networks faster than their kernels give no negative cost.
  for (NetworkSample& s : samples) s.measured_ms *= 0.8;
  EXPECT_DOUBLE_EQ(fit_composition(samples, CompositionFit::kCost).per_kernel_ms, 0.0);
}

// The selection: networks whose thin convolutions run 1.2x their kernels and which pay 3 us
// per kernel keep the convolutions' scales (and only theirs: the memory kernels' 1.4x stays
// out); networks that pay only the per-kernel cost keep the cost alone.
TEST(PredictComposition, SelectKeepsTheConvolutionsScalesOnlyWhereTheyPredictBetter) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(0, 1);
  auto samples = [&](double thin, double memory) {
    std::vector<NetworkSample> out;
    for (int i = 0; i < 40; ++i) {
      NetworkSample s;
      s.name = "n" + std::to_string(i);
      s.group_ms = {{"conv", 1 + 10 * u(rng)}, {"conv_thin", 10 * u(rng)}, {"memory", 2 * u(rng)}};
      s.kernels = 20 + static_cast<int>(100 * u(rng));
      s.overhead_ms = 0.05;
      s.measured_ms = s.group_ms["conv"] + thin * s.group_ms["conv_thin"] + memory * s.group_ms["memory"] +
                      0.003 * s.kernels + s.overhead_ms;
      out.push_back(s);
    }
    return out;
  };
  const Composition thin = fit_composition(samples(1.2, 1.4), CompositionFit::kSelect);
  EXPECT_EQ(thin.fit, "convs");
  EXPECT_NEAR(thin.factor("conv_thin"), 1.2, 0.1);
  EXPECT_EQ(thin.factor("memory"), 1.0);
  EXPECT_EQ(thin.factor("gemm"), 1.0);
  EXPECT_LT(thin.quality["select"]["convs"]["median_abs_pct"].get<double>(),
            0.9 * thin.quality["select"]["cost"]["median_abs_pct"].get<double>());
  const Composition cost = fit_composition(samples(1.0, 1.0), CompositionFit::kSelect);
  EXPECT_EQ(cost.fit, "cost");
  EXPECT_NEAR(cost.per_kernel_ms, 0.003, 1e-9);
  for (const char* group : {"conv", "conv_thin", "dwconv", "gemm", "memory"}) EXPECT_EQ(cost.factor(group), 1.0);
  // Saved and loaded with the bundle, the choice stays.
  EXPECT_EQ(Composition::from_json(thin.to_json(), "t").fit, "convs");
  // A fit stored before conv_thin existed keeps giving those convolutions its conv scale.
  const Composition older =
      Composition::from_json({{"scale", {{"conv", 1.3}, {"memory", 0.9}}}, {"networks", 20}}, "t");
  EXPECT_EQ(older.factor("conv_thin"), 1.3);
  EXPECT_EQ(older.factor("memory"), 0.9);
}

TEST(PredictComposition, TooFewNetworksOrNoneMeasuredGiveTheIdentity) {
  const Composition c = fit_composition(law_samples(7));
  EXPECT_EQ(c.networks, 0);
  EXPECT_EQ(c.factor("conv"), 1.0);
  EXPECT_EQ(c.per_kernel_ms, 0.0);
  std::vector<NetworkSample> broken = law_samples(20);
  for (NetworkSample& s : broken) s.measured_ms = 0;  // failed measurements
  EXPECT_EQ(fit_composition(broken).networks, 0);
}

// A bundle of rooflines only: every kernel family predicted by one made-up physical law.
Bundle roofline_bundle() {
  Bundle b;
  b.runtime = "xnnpack";
  b.runtime_version = "test";
  b.threads = 1;
  b.rules = default_fusion_rules();
  for (const char* family : {"conv", "gconv", "dwconv", "convtranspose", "fc", "matmul", "pool", "globalpool",
                             "eltwise", "activation", "concat", "softmax", "resize", "datamove", "norm", "other"}) {
    FamilyModel f;
    f.kind = ModelKind::kRoofline;
    f.roofline.flops_per_ms = 2e7;
    f.roofline.bytes_per_ms = 1e7;
    f.roofline.overhead_ms = 0.002;
    b.families.emplace(family, std::move(f));
  }
  return b;
}

TEST(PredictComposition, BundleCalibratedOnSyntheticNetworksAppliesAndKeepsIt) {
  Bundle b = roofline_bundle();
  // "Measured" networks: convolutions 1.25x their kernel sum, 3 us per kernel.
  nlohmann::json networks = nlohmann::json::array();
  for (std::uint64_t seed = 1; seed <= 16; ++seed) {
    const bench::SyntheticNetwork net = bench::synthetic_network(seed, 2e8);
    const Prediction p = predict::predict(b, net.graph);
    double ms = p.ms;
    for (std::size_t i = 0; i < p.kernels.size(); ++i) {
      if (p.kernels[i].removed) continue;
      ms += 0.003 + (composition_group(p.kernels[i].family) == "conv" ? 0.25 * p.per_kernel[i].ms : 0.0);
    }
    networks.push_back({{"seed", seed}, {"name", net.name}, {"max_macs", 2e8}, {"median_ms", ms}});
  }
  networks.push_back({{"seed", 99}, {"name", "synthetic-99-renamed"}, {"max_macs", 2e8}, {"median_ms", 5.0}});
  EXPECT_EQ(calibrate_composition(b, networks), 16);  // the stale entry is left out
  EXPECT_NEAR(b.composition.factor("conv"), 1.25, 0.05);
  EXPECT_NEAR(b.composition.per_kernel_ms, 0.003, 0.0015);
  {
    // The same networks timed while the host ran at half speed, as their host factors say
    // (timed_from_database sets them): the same fit.
    nlohmann::json slow = networks;
    for (nlohmann::json& n : slow) {
      n["median_ms"] = 2 * n["median_ms"].get<double>();
      n["host_factor"] = 2.0;
    }
    Bundle again = roofline_bundle();
    EXPECT_EQ(calibrate_composition(again, slow), 16);
    EXPECT_NEAR(again.composition.factor("conv"), b.composition.factor("conv"), 1e-9);
    EXPECT_NEAR(again.composition.per_kernel_ms, b.composition.per_kernel_ms, 1e-12);
  }

  {
    // Cost only: every scale stays 1, and the per-kernel cost takes what the networks add
    // beyond their kernels on average (here the convolutions' extra quarter, spread per kernel).
    Bundle cost = roofline_bundle();
    EXPECT_EQ(calibrate_composition(cost, networks, CompositionFit::kCost), 16);
    for (const char* group : {"conv", "dwconv", "gemm", "memory"})
      EXPECT_DOUBLE_EQ(cost.composition.factor(group), 1.0);
    EXPECT_GT(cost.composition.per_kernel_ms, 0.003);
  }
  const bench::SyntheticNetwork held_out = bench::synthetic_network(40, 2e8);
  const Prediction composed = predict::predict(b, held_out.graph);
  double expected = 0;
  {
    Bundle plain = roofline_bundle();
    const Prediction p = predict::predict(plain, held_out.graph);
    expected = p.ms;
    for (std::size_t i = 0; i < p.kernels.size(); ++i) {
      if (p.kernels[i].removed) continue;
      expected += 0.003 + (composition_group(p.kernels[i].family) == "conv" ? 0.25 * p.per_kernel[i].ms : 0.0);
    }
  }
  EXPECT_NEAR(composed.ms / expected, 1.0, 0.05);
  {
    // The per-kernel cost is the model's line, not the kernels': each row is its group's
    // scale times the kernel's own time, and the rows, the line and the run overhead sum to
    // the model (a runtime's per-layer profiler times a kernel without that cost).
    const Prediction plain = predict::predict(roofline_bundle(), held_out.graph);
    int executed = 0;
    double rows = 0;
    for (std::size_t i = 0; i < composed.kernels.size(); ++i) {
      if (composed.kernels[i].removed) continue;
      ++executed;
      rows += composed.per_kernel[i].ms;
      EXPECT_NEAR(composed.per_kernel[i].ms,
                  b.composition.factor(scale_group(composed.kernels[i])) * plain.per_kernel[i].ms, 1e-12)
          << composed.kernels[i].name;
    }
    EXPECT_NEAR(composed.between_kernels_ms, executed * b.composition.per_kernel_ms, 1e-12);
    EXPECT_EQ(plain.between_kernels_ms, 0.0);
    EXPECT_NEAR(rows + composed.between_kernels_ms + composed.run_overhead_ms, composed.ms, 1e-9 * composed.ms);
  }

  const auto path = infercast::testing::temp_path("infercast_composition_test.bundle");
  save_bundle(b, path);
  const Bundle loaded = load_bundle(path);
  EXPECT_EQ(loaded.composition.networks, 16);
  EXPECT_NEAR(predict::predict(loaded, held_out.graph).ms, composed.ms, 1e-9 * composed.ms);
  std::filesystem::remove(path);
}

// Cold weights inside a model: a conv chain whose measured excess is twice what the
// flushed one-kernel fit adds gives the conv families scale 2 at its weight reuse, a
// 1x1 chain that paid exactly the fit scale 1 at its own, and kernels between get a scale
// between; fc chains that ran no slower than their copies alone give fc and matmul 0;
// unusable records are skipped; the points reach predict and survive a save and load.
TEST(PredictComposition, ColdScaleMeasuredOnWeightChainsAppliesAndKeepsIt) {
  Bundle b = roofline_bundle();
  b.llc_bytes = 32u << 20;
  b.run_overhead_ms = 0.01;
  for (auto& [name, f] : b.families) f.ms_per_weight_byte = 1e-7;  // 0.1 ms per MB
  const bench::KernelSpec heavy = bench::same_conv_spec(7, 256, 3), light = bench::same_conv_spec(14, 512, 1),
                          middle = bench::same_conv_spec(10, 256, 3);
  const bench::KernelSpec fc{"fc", {{"n", 1}, {"cin", 1024}, {"cout", 1024}}};
  auto excess = [&](const bench::KernelSpec& spec, int copies) {
    const Prediction p = predict::predict(b, bench::weight_chain(spec, copies));
    double sum = 0;
    for (std::size_t i = 0; i < p.kernels.size(); ++i) sum += p.per_kernel[i].cold_excess_ms;  // at full cold
    return sum;
  };
  const double heavy_excess = excess(heavy, 24), light_excess = excess(light, 24), middle_excess = excess(middle, 24);
  ASSERT_GT(heavy_excess, 0);
  ASSERT_GT(light_excess, 0);
  ASSERT_GT(excess(fc, 24), 0);
  const double single = 1.0;  // ms, one copy alone (with its run overhead)
  auto chain_ms = [&](double measured_excess) { return 24 * single - 23 * b.run_overhead_ms + measured_excess; };
  auto record = [&](const bench::KernelSpec& spec, double measured_excess) {
    return nlohmann::json{
        {"spec", bench::to_json(spec)}, {"copies", 24}, {"single_ms", single}, {"chain_ms", chain_ms(measured_excess)}};
  };
  const nlohmann::json chains = {
      record(heavy, 2 * heavy_excess),
      record(light, light_excess),
      record(fc, -0.5),
      {{"spec", bench::to_json(fc)}, {"copies", 24}, {"error", "cannot run"}},
      {{"spec", {{"type", "maxpool"}}}, {"copies", 24}, {"single_ms", 1.0}, {"chain_ms", 30.0}}};
  EXPECT_EQ(calibrate_cold(b, chains), 3);
  const FamilyModel& c = b.families.at("conv");
  ASSERT_EQ(c.cold_scale.size(), 2u);
  // Along output positions, the times each weight is used: 49 for the 3x3 on 7x7, 196 for the 1x1 on 14x14.
  EXPECT_NEAR(c.cold_scale[0][0], std::log2(49.0), 1e-6);  // features are float
  EXPECT_NEAR(c.cold_scale[1][0], std::log2(196.0), 1e-6);
  EXPECT_NEAR(c.cold_scale[0][1], 2.0, 1e-9);
  EXPECT_NEAR(c.cold_scale[1][1], 1.0, 1e-9);
  EXPECT_EQ(b.families.at("dwconv").cold_scale, c.cold_scale);
  // A depthwise conv (or any family that is no GEMM) holds per-channel vectors, not a GEMM's
  // weights: it takes the scale of the most reuse, whatever its positions.
  const bench::KernelSpec dw{
      "dwconv", {{"n", 1}, {"h", 7}, {"w", 7}, {"c", 256}, {"k", 3}, {"stride", 1}, {"dilation", 1}, {"pad", 1}}};
  const Prediction dw_p = predict::predict(b, bench::build_kernel_graph(dw));
  ASSERT_FALSE(dw_p.kernels.empty());
  EXPECT_TRUE(std::isinf(weight_reuse_x(dw_p.kernels[0])));
  EXPECT_NEAR(dw_p.per_kernel[0].cold_excess_ms, flushed_weight_excess_ms(b, dw_p.kernels[0]), 1e-12);
  EXPECT_EQ(cold_scale_at(b.families.at("fc"), 10.0), 0.0);
  EXPECT_EQ(cold_scale_at(b.families.at("matmul"), 30.0), 0.0);
  // predict applies them: the heavy chain's excess doubles, the light one's stays, the
  // 3x3 on 10x10 (100 positions) lands between.
  EXPECT_NEAR(excess(heavy, 24), 2 * heavy_excess, 1e-9 * heavy_excess);
  EXPECT_NEAR(excess(light, 24), light_excess, 1e-9 * light_excess);
  EXPECT_GT(excess(middle, 24), 1.05 * middle_excess);
  EXPECT_LT(excess(middle, 24), 1.95 * middle_excess);
  EXPECT_EQ(excess(fc, 24), 0.0);
  const auto path = infercast::testing::temp_path("infercast_cold_scale_test.bundle");
  save_bundle(b, path);
  const Bundle loaded = load_bundle(path);
  EXPECT_EQ(loaded.families.at("conv").cold_scale, c.cold_scale);
  EXPECT_EQ(cold_scale_at(loaded.families.at("fc"), 10.0), 0.0);
  std::filesystem::remove(path);
  // No chains: every family keeps the flushed excess as it is.
  EXPECT_EQ(calibrate_cold(b, nlohmann::json::array()), 0);
  EXPECT_TRUE(b.families.at("conv").cold_scale.empty());
  EXPECT_EQ(cold_scale_at(b.families.at("conv"), 12.0), 1.0);
}

// An int8 bundle calibrates on the chains' int8 forms, the graphs an int8 profile times
// (bench::int8_form_of): predicted on them, a measured excess twice the flushed fit's gives
// the fc families scale 2; a float chain would not even be predicted (an int8 bundle
// refuses float models).
TEST(PredictComposition, Int8BundleCalibratesOnTheChainsInt8Forms) {
  Bundle b = roofline_bundle();
  b.precision = "int8";
  b.llc_bytes = 32u << 20;
  for (auto& [name, f] : b.families) f.ms_per_weight_byte = 1e-7;
  const bench::KernelSpec fc{"fc", {{"n", 1}, {"cin", 512}, {"cout", 512}}};
  const ir::Graph int8_chain = bench::int8_form_of(b.runtime, bench::weight_chain(fc, 6)).graph;
  EXPECT_THROW(predict::predict(b, bench::weight_chain(fc, 6)), Error);
  const Prediction p = predict::predict(b, int8_chain);
  double predicted = 0;
  for (std::size_t i = 0; i < p.kernels.size(); ++i)
    if (!p.kernels[i].removed) predicted += flushed_weight_excess_ms(b, p.kernels[i]);
  ASSERT_GT(predicted, 0);
  const nlohmann::json chains = {
      {{"spec", bench::to_json(fc)}, {"copies", 6}, {"single_ms", 1.0}, {"chain_ms", 6.0 + 2 * predicted}}};
  EXPECT_EQ(calibrate_cold(b, chains), 1);
  const FamilyModel& f = b.families.at("fc");
  ASSERT_EQ(f.cold_scale.size(), 1u);
  EXPECT_NEAR(f.cold_scale[0][1], 2.0, 1e-9);
}

// A chain whose copy moves more than half the cache still gives its point: the chain runs
// cold whatever a copy's size, so the point divides by the flushed fit's excess. The
// one-row 2048->2048 FC chain is 16.8 MB a copy, just above half of a 32 MiB cache; without
// its point the classifiers of CNNs took the 50-row chain's scale. predict adds the excess
// to a kernel up to the cache (its label was timed warm) and none above (timed cold).
TEST(PredictComposition, ColdScaleKeepsTheChainOfACopyAboveHalfTheCache) {
  Bundle b = roofline_bundle();
  b.llc_bytes = 32u << 20;
  b.run_overhead_ms = 0.01;
  for (auto& [name, f] : b.families) f.ms_per_weight_byte = 1e-7;
  const bench::KernelSpec big{"fc", {{"n", 1}, {"cin", 2048}, {"cout", 2048}}};
  const Prediction p = predict::predict(b, bench::weight_chain(big, 6));
  double flushed = 0;
  for (std::size_t i = 0; i < p.kernels.size(); ++i) {
    if (p.kernels[i].removed) continue;
    EXPECT_NEAR(p.per_kernel[i].cold_excess_ms, flushed_weight_excess_ms(b, p.kernels[i]), 1e-12);
    flushed += flushed_weight_excess_ms(b, p.kernels[i]);
  }
  ASSERT_NEAR(flushed, 6 * 1e-7 * 4.0 * (2048.0 * 2048 + 2048), 1e-6);
  const double single = 1.0;
  const nlohmann::json chains = {{{"spec", bench::to_json(big)},
                                  {"copies", 6},
                                  {"single_ms", single},
                                  {"chain_ms", 6 * single - 5 * b.run_overhead_ms + 1.5 * flushed}}};
  EXPECT_EQ(calibrate_cold(b, chains), 1);
  const FamilyModel& fc = b.families.at("fc");
  ASSERT_EQ(fc.cold_scale.size(), 1u);
  EXPECT_NEAR(fc.cold_scale[0][0], 0.0, 1e-9);  // one row
  EXPECT_NEAR(fc.cold_scale[0][1], 1.5, 1e-9);
  // A classifier below half the cache pays the chain's scale.
  const bench::KernelSpec classifier{"fc", {{"n", 1}, {"cin", 1024}, {"cout", 1024}}};
  const Prediction q = predict::predict(b, bench::weight_chain(classifier, 1));
  ASSERT_FALSE(q.kernels.empty());
  EXPECT_NEAR(q.per_kernel[0].cold_excess_ms, 1.5 * flushed_weight_excess_ms(b, q.kernels[0]), 1e-12);
  // A 4096->4096 FC moves 67 MB, more than the cache: its label is cold already.
  const bench::KernelSpec huge{"fc", {{"n", 1}, {"cin", 4096}, {"cout", 4096}}};
  const Prediction r = predict::predict(b, bench::weight_chain(huge, 1));
  ASSERT_FALSE(r.kernels.empty());
  EXPECT_EQ(r.per_kernel[0].cold_excess_ms, 0.0);
}

// A convolution on at most 196 output positions takes the thin convolutions' scale.
TEST(PredictComposition, ConvolutionsOnFewPositionsAreThin) {
  const Bundle b = roofline_bundle();
  const Prediction small = predict::predict(b, bench::weight_chain(bench::same_conv_spec(14, 64, 3), 1));
  const Prediction large = predict::predict(b, bench::weight_chain(bench::same_conv_spec(28, 64, 3), 1));
  auto group_of = [](const Prediction& p) {
    for (const Kernel& k : p.kernels)
      if (!k.removed) return scale_group(k);
    return std::string();
  };
  EXPECT_EQ(group_of(small), "conv_thin");
  EXPECT_EQ(group_of(large), "conv");
}

}  // namespace
