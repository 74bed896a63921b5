// Kernel specs: every type builds a graph XNNPACK runs, kernel_spec_of reads the same
// spec back, bad specs are refused, and on real models (MediaPipe NHWC, torchvision
// NCHW) the spec of each conv/dwconv/fc layer rebuilds a kernel with the layer's own
// output shape and MACs (as the cost room counts them on the real model).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "infercast/base/error.hpp"
#include "infercast/bench/kernel.hpp"
#include "infercast/cost/cost.hpp"
#include "infercast/export/export.hpp"
#include "infercast/import/import.hpp"
#include "infercast/runtime/runtime.hpp"
#include "infercast/runtime/verify.hpp"

namespace infercast::bench {
namespace {

namespace fs = std::filesystem;
const fs::path kSource = INFERCAST_SOURCE_DIR;

// A small valid instance of every kernel type.
KernelSpec example(const std::string& type) {
  const std::map<std::string, std::int64_t> base{{"n", 1}, {"h", 9}, {"w", 7}, {"c", 8}};
  std::map<std::string, std::int64_t> p;
  for (const auto& name : kernel_parameters(type)) {
    static const std::map<std::string, std::int64_t> defaults{
        {"n", 1},      {"h", 9},        {"w", 7},    {"c", 8},      {"cin", 8},     {"cout", 12}, {"k", 3},
        {"stride", 2}, {"dilation", 1}, {"pad", 1},  {"groups", 2}, {"b", 2},       {"m", 5},     {"inputs", 3},
        {"scale", 2},  {"r", 4},        {"cpad", 4}, {"parts", 2},  {"scalar", 0},  {"form", 1},  {"d0", 3},
        {"d1", 4},     {"d2", 5},       {"d3", 2},   {"d4", 1},     {"perm", 2413}, {"axis", 2},  {"keep", 5}};
    p[name] = defaults.at(name);
  }
  if (type == "matmul" || type == "einsum") p["k"] = 6, p["n"] = 4;
  if (type.starts_with("fc")) p["n"] = 3;
  if (type == "softmax" || type == "layernorm" || type == "gelu" || type == "layernorm_ops") p["n"] = 4;
  if (type == "slice_rows") p["n"] = 5, p["c"] = 12, p["parts"] = 3;
  return {type, p, ir::DType::kFloat32};
}

std::vector<int> all_nodes(const ir::Graph& g) {
  std::vector<int> v(g.nodes.size());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int>(i);
  return v;
}

TEST(BenchKernel, EveryTypeBuildsRunsOnXnnpackAndReadsBack) {
  ASSERT_EQ(kernel_types().size(), 64u);
  for (const auto& type : kernel_types()) {
    SCOPED_TRACE(type);
    const KernelSpec spec = example(type);
    ASSERT_NO_THROW(validate(spec));
    const ir::Graph g = build_kernel_graph(spec, 7);
    ASSERT_FALSE(g.nodes.empty());
    // Weights are random, never all zeros.
    for (const auto& t : g.tensors) {
      if (!t.is_constant() || t.dtype != ir::DType::kFloat32 || t.data.size() < 8) continue;
      bool nonzero = false;
      for (auto b : t.data) nonzero = nonzero || b != std::byte{0};
      EXPECT_TRUE(nonzero) << t.name;
    }
    auto rt = runtime::make_runtime("xnnpack");
    ASSERT_NO_THROW(rt->prepare(g, {1}));
    const auto outputs = rt->infer(runtime::random_inputs(g, 3));
    ASSERT_EQ(outputs.size(), 1u);
    EXPECT_EQ(outputs[0].dims, g.tensors[g.outputs[0]].shape.extents());
    const auto back = kernel_spec_of(g, all_nodes(g));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->key(), spec.key());
  }
}

// The einsum kernel in both forms is the batched product a MatMul computes: ONNX Runtime
// runs each (exported to ONNX, as the bench times it) and its output equals the product
// of the same inputs computed here in double precision, B read transposed for Q K^T.
// (Equations that are no such product are refused by ir::einsum_batched_matmul, tested
// in tests/ir/einsum_test.cpp.)
TEST(BenchKernel, EinsumMatchesMatMulOnOnnxRuntime) {
  if (!fs::exists(kSource / "runners/ort/node_modules/onnxruntime-node/package.json")) {
    GTEST_SKIP() << "ONNX Runtime runner not installed (scripts/install_runners.sh)";
  }
  const fs::path dir = fs::temp_directory_path() / ("infercast_einsum_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto ort = runtime::make_runtime("ort");
  for (const std::int64_t form : {1, 2}) {
    SCOPED_TRACE(form);
    KernelSpec spec{"einsum", {{"b", 3}, {"m", 5}, {"k", 6}, {"n", 4}, {"form", form}}, ir::DType::kFloat32};
    const fs::path file = dir / ("einsum" + std::to_string(form) + ".onnx");
    exporter::save(build_kernel_graph(spec, 7), file, exporter::Format::kOnnx);
    const ir::Graph g = import::load_model(file);
    ASSERT_NO_THROW(ort->prepare(g, {1}));
    const auto inputs = runtime::random_inputs(g, 3);
    const auto out = ort->infer(inputs);
    ASSERT_EQ(out.size(), 1u);
    ASSERT_EQ(out[0].dims, (std::vector<std::int64_t>{1, 3, 5, 4}));
    std::vector<float> a(inputs[0].data.size() / 4), b(inputs[1].data.size() / 4), y(out[0].data.size() / 4);
    std::memcpy(a.data(), inputs[0].data.data(), inputs[0].data.size());
    std::memcpy(b.data(), inputs[1].data.data(), inputs[1].data.size());
    std::memcpy(y.data(), out[0].data.data(), out[0].data.size());
    for (int batch = 0; batch < 3; ++batch)
      for (int i = 0; i < 5; ++i)
        for (int j = 0; j < 4; ++j) {
          double want = 0;
          for (int k = 0; k < 6; ++k)
            want += static_cast<double>(a[static_cast<std::size_t>((batch * 5 + i) * 6 + k)]) *
                    b[static_cast<std::size_t>(form == 1 ? (batch * 4 + j) * 6 + k : (batch * 6 + k) * 4 + j)];
          EXPECT_NEAR(y[static_cast<std::size_t>((batch * 5 + i) * 4 + j)], want, 1e-4);
        }
  }
  fs::remove_all(dir);
}

TEST(BenchKernel, ConvMacsMatchTheFormula) {
  KernelSpec spec = example("conv+bn+relu");
  const ir::Graph g = build_kernel_graph(spec);
  const auto cost = cost::layer_cost(g, 0);
  // 9x7 input, k3 s2 p1 -> 5x4 output; MACs = n*cout*oh*ow*(cin/groups)*k*k
  EXPECT_EQ(g.tensors[g.nodes[0].outputs[0]].shape.str(), "1x12x5x4");
  EXPECT_EQ(cost.macs, 1u * 12 * 5 * 4 * (8 / 2) * 3 * 3);
}

TEST(BenchKernel, KeyIsCanonicalAndJsonRoundTrips) {
  const KernelSpec spec = example("dwconv+relu6");
  EXPECT_EQ(spec.key(), "dwconv+relu6|c=8|dilation=1|h=9|k=3|n=1|pad=1|stride=2|w=7|dtype=float32");
  const KernelSpec back = kernel_spec_from_json(to_json(spec));
  EXPECT_EQ(back, spec);
  EXPECT_THROW(kernel_spec_from_json(nlohmann::json::parse(R"({"type":"conv","params":{"n":1.5}})")), Error);
  EXPECT_THROW(kernel_spec_from_json(nlohmann::json::array()), Error);
  EXPECT_THROW(kernel_spec_from_json(nlohmann::json::parse(R"({"type":"conv","params":{},"dtype":"int7"})")), Error);
}

TEST(BenchKernel, RefusesBadSpecsNamingTheParameter) {
  auto expect_invalid = [](KernelSpec spec, const std::string& needle) {
    try {
      validate(spec);
      ADD_FAILURE() << "accepted " << spec.key();
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  KernelSpec s = example("conv");
  s.params.erase("k");
  expect_invalid(s, "'k'");
  s = example("conv");
  s.params["bogus"] = 1;
  expect_invalid(s, "'bogus'");
  s = example("conv");
  s.params["k"] = 15;  // larger than 9+2
  expect_invalid(s, "'k'");
  s = example("conv");
  s.params["groups"] = 3;
  expect_invalid(s, "'groups'");
  s = example("conv");
  s.params["h"] = 0;
  expect_invalid(s, "'h'");
  s = example("fc");
  s.params["cin"] = 1 << 20, s.params["cout"] = 1 << 20;
  expect_invalid(s, "2^28");
  s = example("relu");
  s.type = "nope";
  expect_invalid(s, "unknown kernel type");
  s = example("se");
  s.params["r"] = 64;
  expect_invalid(s, "'r'");
  // int8 only for the types with an int8 form (bench::int8_kernel_types); no other integers.
  s = example("se");
  s.dtype = ir::DType::kInt8;
  expect_invalid(s, "dtype");
  // A permute's perm: the digits p(i) + 1 of a permutation of its d0 .. d(r-1), in reduced
  // form (1243 moves its first two axes together) and no matrix transpose (21); the
  // extents beyond its rank are 1.
  for (const std::int64_t perm : {2213, 2403, 21, 1, 123456, 1243}) {
    s = example("permute");
    s.params["perm"] = perm;
    expect_invalid(s, "'perm'");
  }
  s = example("permute");
  s.params["perm"] = 213;
  expect_invalid(s, "'d3'");
  s = example("conv");
  s.dtype = ir::DType::kInt32;
  expect_invalid(s, "dtype");
  s.dtype = ir::DType::kInt8;
  EXPECT_NO_THROW(validate(s));
}

// What ONNX Runtime gets: each kernel written by the exporter passes onnx.checker
// (Python onnx, full check), and ONNX Runtime computes what XNNPACK computes from the
// in-memory graph on the same inputs, so both runtimes time the same kernel.
TEST(BenchKernel, EveryTypeExportsCheckedOnnxThatOnnxRuntimeAgreesWith) {
  if (!fs::exists(kSource / "runners/ort/node_modules/onnxruntime-node/package.json")) {
    GTEST_SKIP() << "ONNX Runtime runner not installed (scripts/install_runners.sh)";
  }
  const fs::path dir = fs::temp_directory_path() / ("infercast_kernel_onnx_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string files;
  auto ort = runtime::make_runtime("ort");
  auto xnn = runtime::make_runtime("xnnpack");
  for (const auto& type : kernel_types()) {
    SCOPED_TRACE(type);
    const ir::Graph g = build_kernel_graph(example(type), 11);
    const fs::path file = dir / (std::to_string(&type - kernel_types().data()) + ".onnx");
    exporter::ExportOptions eo;
    eo.opset = static_cast<int>(g.meta.opset);
    ASSERT_NO_THROW(exporter::save(g, file, exporter::Format::kOnnx, eo));
    files += " " + file.string();
    const ir::Graph back = import::load_model(file);
    const auto inputs = runtime::random_inputs(g, 5);
    ort->prepare(back, {1});
    xnn->prepare(g, {1});
    const auto cmp = runtime::compare_outputs(xnn->infer(inputs), ort->infer(inputs), {1e-3, 1e-4});
    ASSERT_EQ(cmp.size(), 1u);
    EXPECT_TRUE(cmp[0].pass) << "max abs error " << cmp[0].max_abs_error << " " << cmp[0].note;
  }
  const std::string check =
      "/usr/bin/python3 -c \"import onnx, sys; [onnx.checker.check_model(onnx.load(p), "
      "full_check=True) for p in sys.argv[1:]]\"" +
      files;
  EXPECT_EQ(std::system(check.c_str()), 0) << check;
  fs::remove_all(dir);
}

// The node's first output in NCHW order, whatever the model's layout.
std::vector<std::int64_t> nchw(const ir::Graph& g, int tensor, bool nhwc) {
  auto d = g.tensors[tensor].shape.extents();
  if (nhwc && d.size() == 4) return {d[0], d[3], d[1], d[2]};
  return d;
}

struct RealModelCoverage {
  int layers = 0, matched = 0;
};

RealModelCoverage check_real_model(const fs::path& path) {
  RealModelCoverage cov;
  const ir::Graph g = import::load_model(path);
  const bool nhwc = g.meta.layout == ir::Layout::kNHWC;
  for (int i = 0; i < static_cast<int>(g.nodes.size()); ++i) {
    const ir::Node& n = g.nodes[i];
    const bool fc = (n.op == ir::Op::Gemm || n.op == ir::Op::FullyConnected);
    if (n.op != ir::Op::Conv && !fc) continue;
    ++cov.layers;
    const int nodes[] = {i};
    const auto spec = kernel_spec_of(g, nodes);
    if (!spec) {
      ADD_FAILURE() << path.filename() << " node " << i << " '" << n.name << "' has no kernel spec";
      continue;
    }
    ++cov.matched;
    const ir::Graph k = build_kernel_graph(*spec);
    const int out = k.nodes[0].outputs[0];
    auto want = nchw(g, n.outputs[0], nhwc);
    auto got = k.tensors[out].shape.extents();
    if (fc) {  // rows x features
      std::int64_t rows = 1;
      for (std::size_t d = 0; d + 1 < want.size(); ++d) rows *= want[d];
      want = {rows, want.back()};
    }
    EXPECT_EQ(got, want) << path.filename() << " node '" << n.name << "' " << spec->key();
    EXPECT_EQ(cost::layer_cost(k, 0).macs, cost::layer_cost(g, i).macs)
        << path.filename() << " node '" << n.name << "' " << spec->key();
  }
  return cov;
}

// Swin-T's cyclic shift (torch.roll, exported as two Slices and a Concat per axis) keeps
// 53 and 3 of 56 rows, then of 56 columns: one-axis slices of any length, each read back
// as a `slice_axis` whose kernel writes the node's own output shape.
TEST(BenchKernel, SwinRollSlicesReadBackAsOneAxisSlices) {
  const fs::path path = kSource / ".cache/models/torchvision/swin_t.onnx";
  if (!fs::exists(path)) GTEST_SKIP() << "run `make models` to export swin_t";
  const ir::Graph g = import::load_model(path);
  int axis_slices = 0, rows = 0, columns = 0;
  for (int i = 0; i < static_cast<int>(g.nodes.size()); ++i) {
    const ir::Node& n = g.nodes[static_cast<std::size_t>(i)];
    if (n.op != ir::Op::Slice || g.tensors[n.inputs[0]].shape.rank() != 4) continue;
    const int nodes[] = {i};
    const auto spec = kernel_spec_of(g, nodes);
    const auto in = g.tensors[n.inputs[0]].shape.extents(), out = g.tensors[n.outputs[0]].shape.extents();
    // A Slice that keeps the whole tensor, or takes every second row or column (the patch
    // merging), is no one-axis slice.
    if (!spec || spec->type != "slice_axis") continue;
    ++axis_slices;
    const std::int64_t axis = spec->get("axis"), keep = spec->get("keep");
    EXPECT_EQ(out[static_cast<std::size_t>(axis)], keep) << n.name;
    if (in[static_cast<std::size_t>(axis)] == 56) {
      EXPECT_TRUE(keep == 53 || keep == 3) << n.name << " " << spec->key();
      rows += axis == 1 ? 1 : 0;  // [1, 56, 56, 96]: ONNX's axis 1 is the rows, read as NCHW channels
      columns += axis == 2 ? 1 : 0;
    }
    const ir::Graph k = build_kernel_graph(*spec);
    EXPECT_EQ(k.tensors[static_cast<std::size_t>(k.outputs[0])].shape.extents(), out) << n.name;
  }
  // Two shifted blocks per stage (the second, fourth, ... block of each), four slices each
  // way (shift and shift back): at 56 x 56 the first stage's one shifted block.
  EXPECT_GE(axis_slices, 8);
  EXPECT_EQ(rows, 4);
  EXPECT_EQ(columns, 4);
}

TEST(BenchKernel, RealModelLayersRebuildWithTheirShapesAndMacs) {
  std::vector<fs::path> models;
  for (const char* dir : {".cache/models/mediapipe", ".cache/models/torchvision"}) {
    if (!fs::exists(kSource / dir)) continue;
    for (const auto& e : fs::directory_iterator(kSource / dir)) models.push_back(e.path());
  }
  if (models.empty()) GTEST_SKIP() << "no models in .cache/models (run make test to fetch them)";
  RealModelCoverage total;
  for (const auto& m : models) {
    const auto c = check_real_model(m);
    total.layers += c.layers;
    total.matched += c.matched;
  }
  EXPECT_GT(total.layers, 500);
  EXPECT_EQ(total.matched, total.layers);
  std::printf("conv/fc layers matched: %d of %d in %zu models\n", total.matched, total.layers, models.size());
}

}  // namespace
}  // namespace infercast::bench
