// The Netron attachment: its node items must name exactly the nodes Netron shows for
// the file. The model files are read here directly (the ONNX protobuf, the TFLite
// flatbuffer), not through infercast's importers, and joined with the attachment.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>

#include <onnx/onnx_pb.h>

#include "../test_files.hpp"
#include "infercast/base/error.hpp"
#include "infercast/cost/cost.hpp"
#include "infercast/import/import.hpp"
#include "infercast/report/model_report.hpp"
#include "tflite_generated.h"

namespace infercast::report {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
const fs::path kModels = fs::path(INFERCAST_SOURCE_DIR) / ".cache/models";

std::vector<fs::path> models_in(const char* dir, const char* ext) {
  std::vector<fs::path> out;
  if (!fs::exists(kModels / dir)) return out;
  for (const auto& e : fs::directory_iterator(kModels / dir)) {
    if (e.path().extension() == ext) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

json attachment_of(const fs::path& model) {
  const ir::Graph graph = import::load_model(model);
  const cost::ModelCost cost = cost::analyze(graph);
  return json::parse(render(model_report(graph, cost, nullptr, nullptr, {}), Format::kNetron));
}

// node key ("target" or "identifier") -> metric names, from the attachment's node items.
std::map<std::string, std::set<std::string>> node_metrics(const json& attachment, const char* key) {
  std::map<std::string, std::set<std::string>> out;
  for (const json& item : attachment.at("metrics")) {
    if (item.at("kind") != "node") continue;
    EXPECT_TRUE(item.contains(key)) << item.dump();
    if (!item.contains(key)) continue;
    const std::string name = item.at(key).get<std::string>();
    EXPECT_EQ(name.find('\n'), std::string::npos) << "Netron cuts names at a newline: " << name;
    out[name].insert(item.at("name").get<std::string>());
  }
  return out;
}

const std::set<std::string> kEveryNode = {"macs", "flops", "params", "weight_bytes", "bytes_moved", "flops_per_byte"};

TEST(NetronAttachment, TfliteOperatorsJoinByIndexOnEveryMediapipeModel) {
  const auto models = models_in("mediapipe", ".tflite");
  if (models.empty()) GTEST_SKIP() << "no MediaPipe models in .cache/models (make models)";
  for (const fs::path& path : models) {
    SCOPED_TRACE(path.filename().string());
    const std::string bytes = infercast::testing::read_file(path);
    const tflite::Model* model = tflite::GetModel(bytes.data());
    ASSERT_NE(model->subgraphs(), nullptr);
    const auto* ops = model->subgraphs()->Get(0)->operators();
    const std::size_t count = ops == nullptr ? 0 : ops->size();
    const json a = attachment_of(path);
    EXPECT_EQ(a.at("signature"), "netron:attachment");
    const auto joined = node_metrics(a, "identifier");
    EXPECT_EQ(joined.size(), count);
    for (std::size_t i = 0; i < count; ++i) {
      const auto it = joined.find(std::to_string(i));
      ASSERT_NE(it, joined.end()) << "operator " << i << " has no metrics";
      for (const std::string& m : kEveryNode) EXPECT_TRUE(it->second.count(m)) << "operator " << i << " " << m;
    }
  }
}

TEST(NetronAttachment, OnnxNodesJoinByNameOnEveryTorchvisionModel) {
  const auto models = models_in("torchvision", ".onnx");
  if (models.empty()) GTEST_SKIP() << "no torchvision models in .cache/models (make models)";
  for (const fs::path& path : models) {
    SCOPED_TRACE(path.filename().string());
    onnx::ModelProto proto;
    {
      const std::string bytes = infercast::testing::read_file(path);
      ASSERT_TRUE(proto.ParseFromString(bytes));
    }
    std::set<std::string> names;
    for (const auto& n : proto.graph().node()) {
      EXPECT_FALSE(n.name().empty()) << "an unnamed " << n.op_type() << " node: Netron shows no name to attach to";
      names.insert(n.name());
    }
    EXPECT_EQ(names.size(), static_cast<std::size_t>(proto.graph().node_size())) << "duplicate node names";
    const json a = attachment_of(path);
    const auto joined = node_metrics(a, "target");
    for (const std::string& name : names) {
      const auto it = joined.find(name);
      ASSERT_NE(it, joined.end()) << "node '" << name << "' has no metrics";
      for (const std::string& m : kEveryNode) EXPECT_TRUE(it->second.count(m)) << name << " " << m;
    }
    for (const auto& [target, metrics] : joined) EXPECT_TRUE(names.count(target)) << "no node '" << target << "'";
    // The model row: Netron reads kind "model" with target "".
    bool model_row = false;
    for (const json& item : a.at("metrics")) model_row |= item.at("kind") == "model" && item.at("target") == "";
    EXPECT_TRUE(model_row);
  }
}

TEST(NetronAttachment, ADocumentWithoutLayersIsRefused) {
  try {
    netron_attachment(json{{"model", "x"}});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
  }
}

}  // namespace
}  // namespace infercast::report
