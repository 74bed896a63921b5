// predict/: training without chosen families (train --exclude-family), the basis of
// leave-one-family-out validation: the families' samples are gone from the bundle, their
// kernels get the fallback roofline and are counted as estimated, and an unknown family
// is refused before anything is read.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "../test_files.hpp"
#include "infercast/base/error.hpp"
#include "infercast/import/import.hpp"
#include "infercast/predict/predictor.hpp"

namespace {

namespace fs = std::filesystem;
using namespace infercast;
using namespace infercast::predict;

const fs::path kModels = fs::path(INFERCAST_SOURCE_DIR) / ".cache/models";

// A physical law (a fixed cost, 20 GFLOP/s, 10 GB/s) labels the kernels of a real model.
std::vector<TrainingKernel> law_data(const fs::path& model, const FusionRules& rules) {
  std::vector<TrainingKernel> data;
  for (Kernel& k : split_kernels(import::load_model(model), rules)) {
    if (k.removed || !k.complete) continue;
    const double ms = 0.002 + std::max(k.cost.flops / 2e7, k.cost.bytes / 1e7);
    data.push_back({std::move(k), ms});
  }
  return data;
}

int cli(const std::string& args, const fs::path& out, const fs::path& err) {
  const int status =
      std::system((std::string(INFERCAST_CLI) + " " + args + " > " + out.string() + " 2> " + err.string()).c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(PredictExcludeFamily, FamiliesAreLeftOutAndTheirKernelsEstimated) {
  const fs::path model = kModels / "torchvision/resnet18.onnx";
  if (!fs::exists(model)) GTEST_SKIP() << "needs the resnet18 export";
  const FusionRules rules = default_fusion_rules();
  const std::vector<TrainingKernel> data = law_data(model, rules);
  std::map<std::string, int> count;
  for (const TrainingKernel& t : data) ++count[t.kernel.family];
  ASSERT_GT(count["pool"], 0);
  ASSERT_GT(count["eltwise"], 0);  // resnet18's residual adds (not fused under the default rules)
  ASSERT_GT(count["conv"], 0);

  TrainOptions options;
  options.kinds = {ModelKind::kRoofline};  // the test is about the data, not the regressor
  options.exclude_families = {"pool", "eltwise"};
  const Bundle b = train(data, rules, options);
  EXPECT_EQ(b.families.count("pool"), 0u);
  EXPECT_EQ(b.families.count("eltwise"), 0u);
  ASSERT_EQ(b.families.count("conv"), 1u);
  EXPECT_EQ(b.families.at("conv").samples, count["conv"]);
  EXPECT_EQ(b.excluded_families, (std::map<std::string, int>{{"eltwise", count["eltwise"]}, {"pool", count["pool"]}}));

  // The manifest keeps what was left out; predict estimates exactly those kernels.
  const fs::path path = infercast::testing::temp_path("infercast_exclude_family.bundle");
  save_bundle(b, path);
  const Bundle loaded = load_bundle(path);
  EXPECT_EQ(loaded.excluded_families, b.excluded_families);
  const Prediction p = predict::predict(loaded, import::load_model(model));
  int estimated = 0;
  for (std::size_t i = 0; i < p.kernels.size(); ++i) {
    const Kernel& k = p.kernels[i];
    if (k.removed) continue;
    const bool left_out = k.family == "pool" || k.family == "eltwise";
    EXPECT_EQ(p.per_kernel[i].source == kEstimateSource, left_out) << k.name << " " << p.per_kernel[i].source;
    if (!left_out) continue;
    ++estimated;
    // The fallback roofline, compute ceiling included.
    EXPECT_DOUBLE_EQ(p.per_kernel[i].ms, loaded.fallback.predict_ms(k.cost)) << k.name;
    EXPECT_GE(p.per_kernel[i].ms, loaded.fallback.overhead_ms + k.cost.bytes / loaded.fallback.bytes_per_ms);
  }
  EXPECT_EQ(p.estimated, estimated);
  EXPECT_EQ(estimated, count["pool"] + count["eltwise"]);

  // Without the exclusion nothing is estimated; an unknown family is an error.
  options.exclude_families.clear();
  EXPECT_EQ(predict::predict(train(data, rules, options), import::load_model(model)).estimated, 0);
  options.exclude_families = {"convolution"};
  EXPECT_THROW(train(data, rules, options), Error);
}

// One activation family without training rows is trained on the other's (ONNX Runtime's
// int8 hard swish runs as several layers, so only the sigmoids are rows), unless it is
// left out; the bundle names whose samples it holds.
TEST(PredictExcludeFamily, AnActivationFamilyWithoutRowsBorrowsTheOthers) {
  const fs::path model = kModels / "torchvision/efficientnet_b0.onnx";
  if (!fs::exists(model)) GTEST_SKIP() << "needs the efficientnet_b0 export";
  const FusionRules rules = default_fusion_rules();
  const std::vector<TrainingKernel> data = law_data(model, rules);
  std::map<std::string, int> count;
  for (const TrainingKernel& t : data) ++count[t.kernel.family];
  ASSERT_EQ(count["activation"], 0);  // SiLUs and gates: sigmoids only
  ASSERT_GT(count["exp_activation"], 0);

  TrainOptions options;
  options.kinds = {ModelKind::kRoofline};
  const Bundle b = train(data, rules, options);
  ASSERT_EQ(b.families.count("activation"), 1u);
  EXPECT_EQ(b.families.at("activation").samples_of, "exp_activation");
  EXPECT_EQ(b.families.at("activation").samples, count["exp_activation"]);
  EXPECT_EQ(b.families.at("exp_activation").samples_of, "");
  EXPECT_DOUBLE_EQ(b.families.at("activation").roofline.bytes_per_ms,
                   b.families.at("exp_activation").roofline.bytes_per_ms);
  const fs::path path = infercast::testing::temp_path("infercast_borrowed_family.bundle");
  save_bundle(b, path);
  EXPECT_EQ(load_bundle(path).families.at("activation").samples_of, "exp_activation");

  options.exclude_families = {"activation"};
  EXPECT_EQ(train(data, rules, options).families.count("activation"), 0u);
}

// The CLI on a database of kernels measured here (XNNPACK, fc and relu): the excluded
// family is absent from the bundle, and a misspelt one exits 2 with one line, no bundle.
TEST(PredictExcludeFamily, TrainCliDropsTheFamilyAndRefusesUnknownNames) {
  const fs::path dir = infercast::testing::temp_path("infercast_exclude_family_cli");
  fs::create_directories(dir);
  const fs::path db = dir / "k.db", out = dir / "out.txt", err = dir / "err.txt", bundle = dir / "b.bundle";
  const int bench =
      cli("bench --runtime xnnpack --threads 1 --kernels fc,relu --count 12 --no-cold --warmup 0 "
          "--repeats 3 --min-time 0.002 --max-remeasure 0 -q --db " +
              db.string(),
          out, err);
  if (bench != 0 && infercast::testing::read_file(err).find("xnnpack") != std::string::npos &&
      infercast::testing::read_file(err).find("not available") != std::string::npos)
    GTEST_SKIP() << "XNNPACK runtime not built";
  ASSERT_EQ(bench, 0) << infercast::testing::read_file(err);

  ASSERT_EQ(
      cli("train --db " + db.string() + " --profile xnnpack-1t -o " + bundle.string() + " --format json", out, err), 0)
      << infercast::testing::read_file(err);
  const auto full = nlohmann::json::parse(infercast::testing::read_file(out));
  ASSERT_TRUE(full["families"].contains("activation"));
  ASSERT_TRUE(full["families"].contains("fc"));
  EXPECT_TRUE(full["excluded_families"].empty());
  const int relus = full["families"]["activation"]["samples"].get<int>();

  ASSERT_EQ(cli("train --db " + db.string() + " --profile xnnpack-1t -o " + bundle.string() +
                    " --exclude-family activation --format json",
                out, err),
            0)
      << infercast::testing::read_file(err);
  const auto lofo = nlohmann::json::parse(infercast::testing::read_file(out));
  EXPECT_FALSE(lofo["families"].contains("activation"));
  EXPECT_EQ(lofo["families"]["fc"]["samples"], full["families"]["fc"]["samples"]);
  EXPECT_EQ(lofo["excluded_families"], (nlohmann::json{{"activation", relus}}));
  EXPECT_EQ(load_bundle(bundle).excluded_families, (std::map<std::string, int>{{"activation", relus}}));

  fs::remove(bundle);
  EXPECT_EQ(cli("train --db " + db.string() + " --profile xnnpack-1t -o " + bundle.string() +
                    " --exclude-family fc,activations",
                out, err),
            2);
  const std::string message = infercast::testing::read_file(err);
  EXPECT_NE(message.find("unknown family 'activations'"), std::string::npos) << message;
  EXPECT_EQ(std::count(message.begin(), message.end(), '\n'), 1) << message;
  EXPECT_FALSE(fs::exists(bundle));
}

}  // namespace
