// The model report's additions over the analysis: memory timeline, edges, the join of
// predicted kernels and measured layers onto nodes, and the HTML page around them.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "infercast/base/error.hpp"
#include "infercast/cost/cost.hpp"
#include "infercast/import/import.hpp"
#include "infercast/report/model_report.hpp"

namespace infercast::report {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
const fs::path kResnet18 = fs::path(INFERCAST_SOURCE_DIR) / ".cache/models/torchvision/resnet18.onnx";

TEST(ModelReport, TimelinePeakIsTheLowerBoundAndEdgesFollowTensors) {
  if (!fs::exists(kResnet18)) GTEST_SKIP() << "no resnet18.onnx in .cache/models (make models)";
  const ir::Graph graph = import::load_model(kResnet18);
  const cost::ModelCost cost = cost::analyze(graph);
  const json doc = model_report(graph, cost, nullptr, nullptr, {}).json;
  const auto& live = doc.at("memory_timeline").at("live_bytes");
  ASSERT_EQ(live.size(), graph.nodes.size());
  double peak = 0;
  for (const auto& v : live) peak = std::max(peak, v.get<double>());
  // The lower bound is the largest set of simultaneously live tensors: the timeline's peak.
  EXPECT_DOUBLE_EQ(peak, static_cast<double>(cost.memory.lower_bound_bytes));
  EXPECT_LE(cost.memory.lower_bound_bytes, cost.memory.arena_bytes);
  // resnet18: 8 basic blocks, each with a residual Add fed by two nodes.
  int adds_with_two_producers = 0;
  std::vector<int> fan_in(graph.nodes.size(), 0);
  for (const auto& e : doc.at("edges")) {
    ASSERT_LT(e[0].get<int>(), e[1].get<int>()) << "an edge runs against execution order";
    ++fan_in[e[1].get<std::size_t>()];
  }
  for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
    if (graph.nodes[i].source_op == "Add" && fan_in[i] == 2) ++adds_with_two_producers;
  }
  EXPECT_EQ(adds_with_two_producers, 8);
}

TEST(ModelReport, KernelsAndMeasuredLayersLandOnTheirNodes) {
  if (!fs::exists(kResnet18)) GTEST_SKIP() << "no resnet18.onnx in .cache/models (make models)";
  const ir::Graph graph = import::load_model(kResnet18);
  const cost::ModelCost cost = cost::analyze(graph);
  PredictionInput p;
  p.ms = 1.5;
  p.kernels.push_back({"k0", "conv+relu", "conv", {0, 1}, 1.0, 0.8, 1.2, "gbm", false, 1e6, 1e5});
  p.kernels.push_back({"k1", "pool", "pool", {2}, 0.5, 0.4, 0.6, "gbm", false, 1e4, 1e5});
  runtime::RunResult r;
  r.runtime = "ort";
  r.latency_ms.median = 2;
  runtime::LayerTiming t0;
  t0.name = graph.nodes[0].name + "_nchwc";  // ONNX Runtime's suffix on a rewritten node
  t0.ms.median = 0.7;
  runtime::LayerTiming t1;
  t1.name = graph.nodes[1].name;
  t1.ms.median = 0.2;
  runtime::LayerTiming stray;
  stray.name = "ReorderOutput";
  stray.ms.median = 0.05;
  r.layers = {t0, t1, stray};
  const json doc = model_report(graph, cost, &p, &r, {}).json;
  const auto& layers = doc.at("layers");
  EXPECT_EQ(layers[0].at("kernel"), 0);
  EXPECT_EQ(layers[1].at("kernel"), 0);
  EXPECT_DOUBLE_EQ(layers[0].at("predicted_ms").get<double>(), 1.0);  // the anchor carries the kernel
  EXPECT_DOUBLE_EQ(layers[1].at("predicted_ms").get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(layers[0].at("measured_ms").get<double>(), 0.7);
  EXPECT_DOUBLE_EQ(doc.at("kernels")[0].at("measured_ms").get<double>(), 0.9);
  EXPECT_TRUE(doc.at("kernels")[1].at("measured_ms").is_null());
  EXPECT_DOUBLE_EQ(doc.at("measurement").at("unmapped_layers_ms").get<double>(), 0.05);
  // The attachment carries both latencies on the anchor node.
  const json a = netron_attachment(doc);
  int on_anchor = 0;
  for (const auto& item : a.at("metrics")) {
    if (item.value("target", std::string()) == graph.nodes[0].name &&
        (item.at("name") == "predicted_ms" || item.at("name") == "measured_ms"))
      ++on_anchor;
  }
  EXPECT_EQ(on_anchor, 2);
}

TEST(ModelReport, HtmlIsOneFileWithTheDocumentInside) {
  if (!html_available()) GTEST_SKIP() << "built without the report's JavaScript (scripts/install_report_js.sh)";
  const json doc = {{"kind", "model"}, {"model", "a</script><b>.onnx"}, {"layers", json::array()}};
  const std::string page = render_html(doc);
  EXPECT_NE(page.find("<!DOCTYPE html>"), std::string::npos);
  EXPECT_EQ(page.find("/*@DATA@*/"), std::string::npos);
  EXPECT_EQ(page.find("/*@CHART@*/"), std::string::npos);
  EXPECT_EQ(page.find("/*@DAGRE@*/"), std::string::npos);
  EXPECT_EQ(page.find("a</script>"), std::string::npos) << "a name closed the data's script element";
  EXPECT_NE(page.find("a<\\/script>"), std::string::npos);
  EXPECT_EQ(page.find("<script src"), std::string::npos);
  EXPECT_EQ(page.find("<link"), std::string::npos);
  EXPECT_GT(page.size(), 250000u);  // chart.js and dagre are inside
  EXPECT_THROW(render_html(json{{"runtime", "xnnpack"}, {"layers", json::array()}}), Error);  // a run report
}

// The CLI around the formats: one line and exit 2 on misuse, no file left behind.
int cli(const std::string& args, const fs::path& err) {
  const int status = std::system((std::string(INFERCAST_CLI) + " " + args + " >/dev/null 2>" + err.string()).c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ModelReport, CliRefusesMisuseWithOneLineAndNoFile) {
  const fs::path dir = fs::temp_directory_path() / ("infercast_report_cli_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path err = dir / "err.txt";
  const std::string model = "/usr/share/libonnx-testdata/data/node/test_conv_with_strides_padding/model.onnx";
  if (!fs::exists(model)) GTEST_SKIP() << "no ONNX test data (libonnx-testdata)";
  auto first_line = [&] {
    std::ifstream in(err);
    std::string line, rest;
    std::getline(in, line);
    EXPECT_FALSE(std::getline(in, rest)) << "more than one line: " << rest;
    return line;
  };
  EXPECT_EQ(cli("report " + model + " --threads 2 -o " + (dir / "a.html").string(), err), 2);
  EXPECT_NE(first_line().find("--threads"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "a.html"));
  EXPECT_EQ(cli("validate " + model + " --predictor x.bundle --runtime xnnpack --format netron", err), 2);
  EXPECT_NE(first_line().find("-o FOLDER"), std::string::npos);
  EXPECT_EQ(cli("analyze " + model + " --format netron -o " + (dir / "a.json").string(), err), 0);
  const json a = json::parse(std::ifstream(dir / "a.json"));
  EXPECT_EQ(a.at("signature"), "netron:attachment");
  if (html_available()) {
    EXPECT_EQ(cli("analyze " + model + " --format html -o " + (dir / "b.html").string(), err), 0);
    EXPECT_GT(fs::file_size(dir / "b.html"), 250000u);
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace infercast::report
