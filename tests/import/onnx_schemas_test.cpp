// The importer's lazy schema lookup (src/import/onnx/onnx_schemas.hpp) against
// libonnx's own OpSchemaRegistry: for every operator libonnx registers and every opset
// a model can import, both must answer with the same schema version, and the schema
// built on demand must be the one the registry holds (same signature, attributes and
// inference function), so shapes inferred through either are the same.
#include <gtest/gtest.h>

#include <onnx/defs/schema.h>

#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "../../src/import/onnx/onnx_schemas.hpp"

namespace infercast::import {
namespace {

std::vector<std::string> formal_names(const std::vector<::onnx::OpSchema::FormalParameter>& params) {
  std::vector<std::string> out;
  for (const auto& p : params) out.push_back(p.GetName() + ":" + p.GetTypeStr());
  return out;
}

// First, while no test has built GridSample yet.
TEST(OnnxSchemas, ConcurrentFirstLookupsBuildOneSchema) {
  std::vector<const ::onnx::OpSchema*> seen(8, nullptr);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    threads.emplace_back([&seen, i] { seen[i] = onnx_schemas::find("GridSample", 16, ""); });
  }
  for (auto& t : threads) t.join();
  ASSERT_NE(seen[0], nullptr);
  for (const auto* s : seen) EXPECT_EQ(s, seen[0]);
  EXPECT_EQ(seen[0]->SinceVersion(), 16);
}

TEST(OnnxSchemas, EveryRegisteredSchemaIsListedOnce) {
  const auto all = ::onnx::OpSchemaRegistry::get_all_schemas_with_history();
  EXPECT_EQ(onnx_schemas::definition_count(), all.size());
  std::set<std::tuple<std::string, std::string, int>> seen;
  for (const auto& s : all) seen.emplace(s.domain(), s.Name(), s.SinceVersion());
  EXPECT_EQ(seen.size(), all.size());
}

TEST(OnnxSchemas, SameAnswerAsLibonnxRegistryForEveryOpsetVersion) {
  const auto all = ::onnx::OpSchemaRegistry::get_all_schemas_with_history();
  std::set<std::pair<std::string, std::string>> ops;
  for (const auto& s : all) ops.emplace(s.domain(), s.Name());
  int compared = 0;
  for (const auto& [domain, name] : ops) {
    for (int version = 0; version <= 20; ++version) {
      const ::onnx::OpSchema* expected = ::onnx::OpSchemaRegistry::Schema(name, version, domain);
      const ::onnx::OpSchema* got = onnx_schemas::find(name, version, domain);
      ASSERT_EQ(expected == nullptr, got == nullptr) << domain << "." << name << " opset " << version;
      if (expected == nullptr) continue;
      ++compared;
      EXPECT_EQ(got->Name(), expected->Name());
      EXPECT_EQ(got->domain(), expected->domain());
      ASSERT_EQ(got->SinceVersion(), expected->SinceVersion()) << domain << "." << name << " opset " << version;
      EXPECT_EQ(formal_names(got->inputs()), formal_names(expected->inputs())) << name;
      EXPECT_EQ(formal_names(got->outputs()), formal_names(expected->outputs())) << name;
      EXPECT_EQ(got->min_input(), expected->min_input()) << name;
      EXPECT_EQ(got->max_input(), expected->max_input()) << name;
      EXPECT_EQ(got->attributes().size(), expected->attributes().size()) << name;
      EXPECT_EQ(got->has_type_and_shape_inference_function(), expected->has_type_and_shape_inference_function())
          << name;
      EXPECT_EQ(got->has_data_propagation_function(), expected->has_data_propagation_function()) << name;
      EXPECT_EQ(got->HasFunction(), expected->HasFunction()) << name;
      EXPECT_EQ(got->Deprecated(), expected->Deprecated()) << name;
    }
  }
  EXPECT_GT(compared, 2000);
  // Unknown operators and domains, and the "ai.onnx" spelling the registry does not
  // alias, are absent from both.
  for (const auto& [name, domain] : std::vector<std::pair<std::string, std::string>>{
           {"NoSuchOp", ""}, {"Conv", "com.example"}, {"Conv", "ai.onnx"}}) {
    EXPECT_EQ(onnx_schemas::find(name, 13, domain), nullptr);
    EXPECT_EQ(::onnx::OpSchemaRegistry::Schema(name, 13, domain), nullptr);
  }
}

}  // namespace
}  // namespace infercast::import
