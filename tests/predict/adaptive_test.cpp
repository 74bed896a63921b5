// The adaptive sampler driven by a bundle's cross-validated errors: families the
// predictor knows badly (or not at all) are sampled more than families it knows well.
#include <gtest/gtest.h>

#include <map>
#include <utility>

#include "infercast/bench/sampler.hpp"
#include "infercast/predict/adaptive.hpp"

namespace infercast::predict {
namespace {

FamilyModel fitted(double sigma_log) {
  FamilyModel m;
  m.sigma_log = sigma_log;
  m.samples = 50;
  m.cv["gbm"] = CvScore{};
  return m;
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
  EXPECT_DOUBLE_EQ(error(conv), 0.6);
  EXPECT_DOUBLE_EQ(error(fc), 0.02);
  EXPECT_DOUBLE_EQ(error(pool), 1.0);     // untrusted family: the worst error, at least 1
  EXPECT_DOUBLE_EQ(error(softmax), 1.0);  // never measured

  bench::SamplerOptions options;
  options.sampler = "adaptive";
  options.kernel_types = {"conv", "fc"};
  options.seed = 7;
  options.error_fn = error;
  std::map<std::string, int> picked;
  for (const bench::KernelSpec& s : bench::sample_kernels(options, 100)) ++picked[s.type];
  EXPECT_GT(picked["conv"], 3 * picked["fc"]) << picked["conv"] << " conv vs " << picked["fc"] << " fc";
}

}  // namespace
}  // namespace infercast::predict
