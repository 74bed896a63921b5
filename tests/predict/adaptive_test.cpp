// The adaptive sampler driven by a bundle's cross-validated errors: families the
// predictor knows badly (or not at all) are sampled more than families it knows well.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <utility>
#include <vector>

#include "infercast/bench/sampler.hpp"
#include "infercast/predict/adaptive.hpp"

namespace infercast::predict {
namespace {

FamilyModel fitted(double sigma_log, int samples = 50) {
  FamilyModel m;
  m.sigma_log = sigma_log;
  m.samples = samples;
  m.cv["gbm"] = CvScore{};
  return m;
}

// How many of 100 adaptive draws over `types` (seed 7) went to each type.
std::map<std::string, int> picks(const bench::ErrorFn& error, std::vector<std::string> types) {
  bench::SamplerOptions options;
  options.sampler = "adaptive";
  options.kernel_types = std::move(types);
  options.seed = 7;
  options.error_fn = error;
  std::map<std::string, int> picked;
  for (const bench::KernelSpec& s : bench::sample_kernels(options, 100)) ++picked[s.type];
  return picked;
}

TEST(PredictAdaptive, KernelTypesMapToTheirRegressorFamilies) {
  EXPECT_EQ(family_of_kernel_type("conv+bn+relu"), "conv");
  EXPECT_EQ(family_of_kernel_type("dwconv+relu6"), "dwconv");
  EXPECT_EQ(family_of_kernel_type("fc"), "fc");
  EXPECT_EQ(family_of_kernel_type("resize_bilinear"), "resize");
  EXPECT_EQ(family_of_kernel_type("maxpool"), "pool");
  EXPECT_EQ(family_of_kernel_type("add+relu"), "eltwise");
  // The activations through an exponential have the FLOPs per element of the
  // piecewise-linear ones (sigmoid 4, hardswish 4) but not their time: two families.
  EXPECT_EQ(family_of_kernel_type("hardswish"), "activation");
  EXPECT_EQ(family_of_kernel_type("relu6"), "activation");
  EXPECT_EQ(family_of_kernel_type("sigmoid"), "exp_activation");
  EXPECT_EQ(family_of_kernel_type("tanh"), "exp_activation");
  EXPECT_EQ(family_of_kernel_type("swish"), "exp_activation");
}

TEST(PredictAdaptive, SamplesMoreWhereThePredictorErrsMost) {
  Bundle bundle;
  bundle.runtime = "xnnpack";
  bundle.families["conv"] = fitted(0.6);  // errs a lot
  bundle.families["fc"] = fitted(0.02);   // nearly exact
  FamilyModel thin;                       // too few samples: no CV score
  thin.samples = 3;
  bundle.families["pool"] = std::move(thin);
  const bench::ErrorFn error = adaptive_error_fn(bundle);
  bench::KernelSpec conv{"conv", {}}, fc{"fc", {}}, pool{"maxpool", {}}, softmax{"softmax", {}};
  EXPECT_DOUBLE_EQ(error(conv), 0.6 / std::sqrt(50.0));
  EXPECT_DOUBLE_EQ(error(fc), 0.02 / std::sqrt(50.0));
  EXPECT_DOUBLE_EQ(error(pool), 1.0);     // untrusted family: the worst error, at least 1
  EXPECT_DOUBLE_EQ(error(softmax), 1.0);  // never measured

  std::map<std::string, int> picked = picks(error, {"conv", "fc"});
  EXPECT_GT(picked["conv"], 3 * picked["fc"]) << picked["conv"] << " conv vs " << picked["fc"] << " fc";
}

// A kernel type counts in the family training puts its kernel in: split_kernels of the
// type's graph under the bundle's fusion rules, not its anchor's name (which has no family
// for channel_pad or slice_rows and put pad+conv among the data movers).
TEST(PredictAdaptive, KernelTypesCountInTheFamilyTheirKernelIsTrainedIn) {
  Bundle bundle;
  bundle.runtime = "ort";
  bundle.rules.fused_pairs = {"pad+conv"};
  bundle.families["datamove"] = fitted(0.5, 25);
  bundle.families["slice"] = fitted(0.4, 16);
  bundle.families["conv"] = fitted(0.3, 100);
  const bench::ErrorFn error = adaptive_error_fn(bundle);
  const auto of = [&](const std::string& type, std::map<std::string, std::int64_t> params = {}) {
    return error(bench::KernelSpec{type, std::move(params)});
  };
  EXPECT_DOUBLE_EQ(of("channel_pad"), 0.5 / 5);
  EXPECT_DOUBLE_EQ(of("pad"), 0.5 / 5);
  EXPECT_DOUBLE_EQ(of("slice_rows"), 0.4 / 4);
  EXPECT_DOUBLE_EQ(of("slice_axis"), 0.4 / 4);
  EXPECT_DOUBLE_EQ(of("slice"), 0.4 / 4);
  EXPECT_DOUBLE_EQ(of("pad+conv", {{"groups", 1}, {"k", 3}, {"h", 28}, {"w", 28}, {"pad", 1}}), 0.3 / 10);
  EXPECT_DOUBLE_EQ(of("pad+conv", {{"groups", 4}, {"k", 3}, {"h", 28}, {"w", 28}, {"pad", 1}}), 1.0);  // gconv: none
}

// Of two families the predictor errs on alike, the one fitted on fewer samples is drawn
// more: its error is the standard error of its fitted level, sigma / sqrt(samples).
TEST(PredictAdaptive, SamplesMoreWhereAFamilyHasFewSamples) {
  Bundle bundle;
  bundle.runtime = "ort";
  for (const char* conv : {"conv", "gconv", "se_conv"}) bundle.families[conv] = fitted(0.3, 400);
  bundle.families["concat"] = fitted(0.3, 25);
  const bench::ErrorFn error = adaptive_error_fn(bundle);
  const bench::KernelSpec conv{"conv", {}}, concat{"concat", {}};
  EXPECT_DOUBLE_EQ(error(concat), 4 * error(conv));

  std::map<std::string, int> picked = picks(error, {"conv", "concat"});
  // The space draws conv 6 times as often as concat (bench::space_weight): concat
  // is 1 candidate in 7, and 4 times the weight puts it near 4 picks in 10.
  EXPECT_GT(picked["concat"], 2 * 100 / 7) << picked["concat"] << " concat vs " << picked["conv"] << " conv";
}

}  // namespace
}  // namespace infercast::predict
