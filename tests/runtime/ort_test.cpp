// ONNX Runtime through the external runner (runners/ort/runner.js + the pinned
// onnxruntime-node), end to end on real models: ONNX's own backend node tests
// (reference inputs and outputs from Debian libonnx-testdata) through infer(), and
// `infercast run` on a torchvision export. Skipped only when the npm package is not
// installed (`make test` installs it through scripts/install_runners.sh).
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>

#include <sys/wait.h>
#include <unistd.h>

#include "infercast/base/error.hpp"
#include "infercast/import/import.hpp"
#include "infercast/runtime/process.hpp"
#include "infercast/runtime/runtime.hpp"

namespace infercast::runtime {
namespace {

namespace fs = std::filesystem;

const fs::path kSource = INFERCAST_SOURCE_DIR;
const fs::path kNodeTests = "/usr/share/libonnx-testdata/data/node";

bool ort_installed() {
  return fs::exists(kSource / "runners/ort/node_modules/onnxruntime-node/package.json");
}

#define REQUIRE_ORT()   \
  if (!ort_installed()) \
  GTEST_SKIP() << "runners/ort/node_modules is absent: run scripts/install_runners.sh (make test does)"

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::optional<ir::DType> dtype_of(int onnx_type) {
  switch (onnx_type) {
    case onnx::TensorProto::FLOAT: return ir::DType::kFloat32;
    case onnx::TensorProto::DOUBLE: return ir::DType::kFloat64;
    case onnx::TensorProto::FLOAT16: return ir::DType::kFloat16;
    case onnx::TensorProto::INT8: return ir::DType::kInt8;
    case onnx::TensorProto::UINT8: return ir::DType::kUInt8;
    case onnx::TensorProto::INT16: return ir::DType::kInt16;
    case onnx::TensorProto::UINT16: return ir::DType::kUInt16;
    case onnx::TensorProto::INT32: return ir::DType::kInt32;
    case onnx::TensorProto::UINT32: return ir::DType::kUInt32;
    case onnx::TensorProto::INT64: return ir::DType::kInt64;
    case onnx::TensorProto::UINT64: return ir::DType::kUInt64;
    case onnx::TensorProto::BOOL: return ir::DType::kBool;
    default: return std::nullopt;  // strings, bfloat16 (not in onnxruntime-node), complex
  }
}

template <typename T, typename Field>
void append(std::vector<std::byte>& out, const Field& field) {
  for (const auto& v : field) {
    const T x = static_cast<T>(v);
    const auto* p = reinterpret_cast<const std::byte*>(&x);
    out.insert(out.end(), p, p + sizeof(T));
  }
}

// A serialized onnx::TensorProto → HostTensor (raw_data or the typed fields).
std::optional<HostTensor> read_tensor(const fs::path& path, const std::string& name) {
  onnx::TensorProto proto;
  const std::string bytes = read_file(path);
  if (!proto.ParseFromString(bytes)) return std::nullopt;
  const auto dtype = dtype_of(proto.data_type());
  if (!dtype) return std::nullopt;
  HostTensor t;
  t.name = name;
  t.dtype = *dtype;
  t.dims.assign(proto.dims().begin(), proto.dims().end());
  if (proto.has_raw_data()) {
    const std::string& raw = proto.raw_data();
    t.data.resize(raw.size());
    std::memcpy(t.data.data(), raw.data(), raw.size());
  } else {
    switch (t.dtype) {
      case ir::DType::kFloat32: append<float>(t.data, proto.float_data()); break;
      case ir::DType::kFloat64: append<double>(t.data, proto.double_data()); break;
      case ir::DType::kInt64: append<std::int64_t>(t.data, proto.int64_data()); break;
      case ir::DType::kUInt32: append<std::uint32_t>(t.data, proto.uint64_data()); break;
      case ir::DType::kUInt64: append<std::uint64_t>(t.data, proto.uint64_data()); break;
      case ir::DType::kInt32: append<std::int32_t>(t.data, proto.int32_data()); break;
      case ir::DType::kInt16: append<std::int16_t>(t.data, proto.int32_data()); break;
      case ir::DType::kUInt16:
      case ir::DType::kFloat16: append<std::uint16_t>(t.data, proto.int32_data()); break;
      case ir::DType::kInt8: append<std::int8_t>(t.data, proto.int32_data()); break;
      case ir::DType::kUInt8:
      case ir::DType::kBool: append<std::uint8_t>(t.data, proto.int32_data()); break;
      default: return std::nullopt;
    }
  }
  if (ir::dtype_bytes(t.dtype, t.numel()) != t.data.size()) return std::nullopt;
  return t;
}

double element(const HostTensor& t, std::size_t i) {
  auto get = [&](auto zero) {
    decltype(zero) v;
    std::memcpy(&v, t.data.data() + i * sizeof(v), sizeof(v));
    return static_cast<double>(v);
  };
  switch (t.dtype) {
    case ir::DType::kFloat32: return get(float{});
    case ir::DType::kFloat64: return get(double{});
    case ir::DType::kFloat16: {
      const auto h = static_cast<std::uint16_t>(get(std::uint16_t{}));
      const int e = (h >> 10) & 0x1f;
      const int f = h & 0x3ff;
      const double sign = (h & 0x8000) ? -1 : 1;
      if (e == 0x1f) return f ? std::nan("") : sign * INFINITY;
      return e == 0 ? sign * std::ldexp(f, -24) : sign * std::ldexp(1.0 + f / 1024.0, e - 15);
    }
    case ir::DType::kInt8: return get(std::int8_t{});
    case ir::DType::kUInt8:
    case ir::DType::kBool: return get(std::uint8_t{});
    case ir::DType::kInt16: return get(std::int16_t{});
    case ir::DType::kUInt16: return get(std::uint16_t{});
    case ir::DType::kInt32: return get(std::int32_t{});
    case ir::DType::kUInt32: return get(std::uint32_t{});
    case ir::DType::kInt64: return get(std::int64_t{});
    case ir::DType::kUInt64: return get(std::uint64_t{});
    default: return std::nan("");
  }
}

// ONNX's backend-test rule: |got - want| <= atol + rtol * |want| (rtol 1e-3, atol 1e-7),
// NaN where the reference has NaN; integers and bools exactly. "" when they agree.
std::string compare(const HostTensor& got, const HostTensor& want) {
  if (got.dtype != want.dtype) {
    return std::string("dtype ") + std::string(ir::dtype_name(got.dtype)) + " vs " +
           std::string(ir::dtype_name(want.dtype));
  }
  if (got.numel() != want.numel())
    return "element count " + std::to_string(got.numel()) + " vs " + std::to_string(want.numel());
  const bool floating = ir::is_floating(want.dtype);
  for (std::size_t i = 0; i < want.numel(); ++i) {
    const double g = element(got, i);
    const double w = element(want, i);
    if (std::isnan(w) || std::isnan(g)) {
      if (std::isnan(w) != std::isnan(g)) return "NaN mismatch at " + std::to_string(i);
      continue;
    }
    if (std::isinf(w) || std::isinf(g)) {
      if (g != w) return "inf mismatch at " + std::to_string(i);
      continue;
    }
    const double tolerance = floating ? 1e-7 + 1e-3 * std::fabs(w) : 0.0;
    if (std::fabs(g - w) > tolerance) {
      return "element " + std::to_string(i) + ": " + std::to_string(g) + " vs " + std::to_string(w);
    }
  }
  return "";
}

std::vector<std::string> ort_command() {
  return {"node", (kSource / "runners/ort/runner.js").string()};
}

TEST(Ort, HelloReportsThePinnedVersion) {
  REQUIRE_ORT();
  auto rt = make_runtime("ort");
  EXPECT_EQ(rt->name(), "ort");
  EXPECT_EQ(rt->version(), "1.30.0");
}

TEST(Ort, OnnxBackendNodeTestsMatchTheirReferenceOutputs) {
  REQUIRE_ORT();
  if (!fs::exists(kNodeTests)) GTEST_SKIP() << kNodeTests << " is absent (Debian libonnx-testdata)";
  RuntimeOptions options;
  options.request_timeout_s = 120;
  auto rt = make_runtime("ort", options);
  int tests = 0, skipped = 0, refused = 0, passed = 0, failed = 0, float_passed = 0;
  std::vector<std::string> failures;
  std::vector<std::string> refusals;
  std::vector<fs::path> dirs;
  for (const auto& entry : fs::directory_iterator(kNodeTests)) dirs.push_back(entry.path());
  std::sort(dirs.begin(), dirs.end());
  for (const fs::path& dir : dirs) {
    const fs::path model_path = dir / "model.onnx";
    const fs::path data = dir / "test_data_set_0";
    if (!fs::exists(model_path) || !fs::exists(data)) continue;
    ++tests;
    onnx::ModelProto model;
    if (!model.ParseFromString(read_file(model_path))) {
      ++skipped;
      continue;
    }
    // Graph inputs in order, less initializers (old files list those as inputs too).
    std::set<std::string> initializers;
    for (const auto& init : model.graph().initializer()) initializers.insert(init.name());
    std::vector<std::string> input_names;
    for (const auto& in : model.graph().input()) {
      if (!initializers.count(in.name())) input_names.push_back(in.name());
    }
    std::vector<HostTensor> inputs;
    std::vector<HostTensor> expected;
    bool usable = true;
    for (std::size_t i = 0; i < input_names.size() && usable; ++i) {
      auto t = read_tensor(data / ("input_" + std::to_string(i) + ".pb"), input_names[i]);
      usable = t.has_value();
      if (t) inputs.push_back(std::move(*t));
    }
    for (int i = 0; i < model.graph().output_size() && usable; ++i) {
      auto t = read_tensor(data / ("output_" + std::to_string(i) + ".pb"), model.graph().output(i).name());
      usable = t.has_value();
      if (t) expected.push_back(std::move(*t));
    }
    if (!usable) {  // sequences, optionals, strings, bfloat16, complex
      ++skipped;
      continue;
    }
    const std::string name = dir.filename().string();
    try {
      const ir::Graph graph = import::load_model(model_path);
      rt->prepare(graph, {1});
      const std::vector<HostTensor> outputs = rt->infer(inputs);
      std::string problem = outputs.size() == expected.size() ? "" : "output count differs";
      for (std::size_t i = 0; i < outputs.size() && problem.empty(); ++i) {
        problem = compare(outputs[i], expected[i]);
        if (!problem.empty()) problem = "output " + std::to_string(i) + ": " + problem;
      }
      if (problem.empty()) {
        ++passed;
        bool all_float = true;
        for (const HostTensor& e : expected) all_float &= e.dtype == ir::DType::kFloat32;
        float_passed += all_float;
      } else {
        ++failed;
        failures.push_back(name + ": " + problem);
      }
    } catch (const Error& e) {
      // ONNX Runtime refusing a model (an op or type it does not implement) is its
      // limitation, reported; the runner must survive it.
      ++refused;
      refusals.push_back(name + ": " + e.what());
    }
  }
  std::string listing;
  for (const std::string& f : failures) listing += "  mismatch  " + f + "\n";
  for (const std::string& r : refusals) listing += "  refused   " + r.substr(0, 240) + "\n";
  std::printf(
      "ONNX backend node tests through ONNX Runtime 1.30.0 (runner): %d tests, %d skipped (non-tensor or "
      "unsupported types), %d refused by ORT, %d passed (%d with float32 outputs only), %d mismatched\n%s",
      tests, skipped, refused, passed, float_passed, failed, listing.c_str());
  EXPECT_GE(float_passed, 600);
  EXPECT_GE(passed, 850);
  EXPECT_LE(refused, 24);  // training ops, bfloat16 (not in onnxruntime-node), a few int16/uint kernels
  // Every mismatch must be a known difference between ONNX Runtime and ONNX's
  // reference implementation; anything else is a bug in the runner or the protocol.
  const std::vector<std::pair<std::string, std::string>> known = {
      {"test_bernoulli", "random output"},
      {"test_training_dropout", "random mask"},
      {"test_dft", "FFT round-off of about 1e-4 where the reference has exact zeros (atol 1e-7)"},
      {"test_stft", "FFT round-off where the reference has exact zeros"},
      {"test_resize_downsample_scales_cubic_align_corners", "ORT's align_corners downsampling differs"},
      {"test_resize_downsample_scales_linear_align_corners", "ORT's align_corners downsampling differs"},
      {"test_maxunpool_export_with_output_shape", "ORT places unpooled values differently"},
  };
  for (const std::string& f : failures) {
    bool is_known = false;
    for (const auto& [prefix, why] : known) is_known |= f.rfind(prefix, 0) == 0;
    EXPECT_TRUE(is_known) << f;
  }
}

// A plain decoder, independent of the runtime room's, for checking wire bytes here.
std::vector<std::byte> from_base64(const std::string& text) {
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<std::byte> out;
  std::uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    if (c == '=') break;
    bits = (bits << 6) | static_cast<std::uint32_t>(alphabet.find(c));
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<std::byte>((bits >> count) & 0xff));
    }
  }
  return out;
}

TEST(Ort, RunnerRandomInputsEqualRandomInputs) {
  REQUIRE_ORT();
  // The runner generates the inputs it times from the seed; they must be the very
  // bytes random_inputs() makes (docs/runner-protocol.md). Identity shows them.
  const fs::path model = kNodeTests / "test_identity/model.onnx";
  if (!fs::exists(model)) GTEST_SKIP() << model << " is absent";
  const ir::Graph graph = import::load_model(model);
  RunnerProcess runner(ort_command(), "ort runner");
  runner.request({{"op", "load"}, {"model", model.string()}, {"threads", 1}}, 60);
  const std::string output = graph.tensors[static_cast<std::size_t>(graph.outputs[0])].name;
  for (std::uint64_t seed : {0ull, 42ull, 0x123456789ull}) {
    const auto answer = runner.request({{"op", "infer"}, {"seed", seed}}, 60);
    const auto ours = random_inputs(graph, seed);
    ASSERT_EQ(ours.size(), 1u);
    const auto& theirs = answer["outputs"][output];
    EXPECT_EQ(theirs["dims"].get<std::vector<std::int64_t>>(), ours[0].dims);
    EXPECT_EQ(from_base64(theirs["data_b64"].get<std::string>()), ours[0].data) << "seed " << seed;
  }
}

TEST(Ort, OptimizationsOffRunEveryNodeAsTheFileDefinesIt) {
  REQUIRE_ORT();
  // PrepareOptions::optimize = false reaches the session: with its graph optimizations
  // ONNX Runtime folds each ReLU into the convolution before it and runs the convolutions
  // in its blocked NCHWc layout (a ReorderOutput node turns the result back); without
  // them the ReLUs run, and are timed, as nodes of their own. Both compute the model.
  const fs::path model = kSource / ".cache/models/torchvision/resnet18.onnx";
  if (!fs::exists(model)) GTEST_SKIP() << model << " is absent (make models exports it)";
  const ir::Graph graph = import::load_model(model);
  RunOptions run;
  run.per_layer = true;
  run.protocol.warmup = 0;
  run.protocol.min_repeats = 1;
  run.protocol.max_repeats = 1;
  run.protocol.min_time_s = 0;
  std::map<bool, std::set<std::string>> ops;
  std::map<bool, std::vector<float>> outputs;
  const auto inputs = random_inputs(graph, 7);
  for (bool optimize : {true, false}) {
    auto ort = make_runtime("ort");
    PrepareOptions prepare;
    prepare.threads = 1;
    prepare.optimize = optimize;
    ort->prepare(graph, prepare);
    for (const LayerTiming& layer : ort->run(run).layers) ops[optimize].insert(layer.op);
    const auto got = ort->infer(inputs);
    ASSERT_EQ(got.size(), 1u);
    ASSERT_EQ(got[0].dtype, ir::DType::kFloat32);
    outputs[optimize].resize(got[0].data.size() / sizeof(float));
    std::memcpy(outputs[optimize].data(), got[0].data.data(), got[0].data.size());
  }
  EXPECT_TRUE(ops[true].count("ReorderOutput")) << "optimized";
  EXPECT_FALSE(ops[true].count("Relu")) << "optimized";
  EXPECT_TRUE(ops[false].count("Relu")) << "unoptimized";
  EXPECT_FALSE(ops[false].count("ReorderOutput")) << "unoptimized";
  ASSERT_EQ(outputs[true].size(), outputs[false].size());
  double peak = 0, diff = 0;
  for (std::size_t i = 0; i < outputs[true].size(); ++i) {
    peak = std::max(peak, std::fabs(static_cast<double>(outputs[false][i])));
    diff = std::max(diff, std::fabs(static_cast<double>(outputs[true][i]) - outputs[false][i]));
  }
  EXPECT_LE(diff, 1e-4 * peak);

  // The runner refuses an optimization level it does not know, in one line.
  RunnerProcess runner(ort_command(), "ort runner");
  EXPECT_THROW(
      {
        try {
          runner.request({{"op", "load"}, {"model", model.string()}, {"threads", 1}, {"optimization", "some"}}, 60);
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("\"optimization\" must be \"all\" or \"disabled\""), std::string::npos)
              << e.what();
          throw;
        }
      },
      Error);
}

TEST(Ort, RefusalsAreClearErrorsAndTheRuntimeGoesOn) {
  REQUIRE_ORT();
  const fs::path dir = fs::temp_directory_path() / ("infercast_ort_custom_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* custom = m.add_opset_import();
  custom->set_domain("com.example");
  custom->set_version(1);
  auto* g = m.mutable_graph();
  g->set_name("custom");
  auto* n = g->add_node();
  n->set_op_type("NoSuchOp");
  n->set_domain("com.example");
  n->add_input("x");
  n->add_output("y");
  auto declare = [](onnx::ValueInfoProto* vi, const char* name) {
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    tt->mutable_shape()->add_dim()->set_dim_value(4);
  };
  declare(g->add_input(), "x");
  declare(g->add_output(), "y");
  const fs::path path = dir / "custom.onnx";
  std::ofstream(path, std::ios::binary) << m.SerializeAsString();
  const ir::Graph graph = import::load_model(path);
  auto rt = make_runtime("ort");
  try {
    rt->prepare(graph, {1});
    FAIL() << "ONNX Runtime loaded an unknown op";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    const std::string what = e.what();
    EXPECT_NE(what.find("custom.onnx: ort runner request 'load': ONNX Runtime cannot load the model"),
              std::string::npos)
        << what;
    EXPECT_EQ(what.find('\n'), std::string::npos);
  }
  const fs::path relu = kNodeTests / "test_relu/model.onnx";
  if (fs::exists(relu)) {
    const ir::Graph ok = import::load_model(relu);
    rt->prepare(ok, {1});
    EXPECT_EQ(rt->infer(random_inputs(ok, 3)).size(), 1u);
  }
  fs::remove_all(dir);
}

std::string run_cli(const std::string& args, int* status) {
  const std::string command = std::string(INFERCAST_CLI) + " " + args + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  *status = ::pclose(pipe);
  return out;
}

TEST(Ort, RunCommandOnResnet18) {
  REQUIRE_ORT();
  const fs::path model = kSource / ".cache/models/torchvision/resnet18.onnx";
  if (!fs::exists(model)) GTEST_SKIP() << model << " is absent (make models exports it)";
  int status = 0;
  const std::string out =
      run_cli("run " + model.string() +
                  " --runtime ort --format json --threads 2 --warmup 1 --repeat 5 --min-time 0 --per-layer",
              &status);
  ASSERT_EQ(status, 0) << out;
  const auto doc = nlohmann::json::parse(out);
  EXPECT_EQ(doc["model"], model.string());
  EXPECT_EQ(doc["runtime"], "ort");
  EXPECT_EQ(doc["runtime_version"], "1.30.0");
  EXPECT_EQ(doc["threads"], 2);
  const auto& latency = doc["latency_ms"];
  for (const char* key : {"median", "mean", "min", "max", "std", "cv", "n"}) ASSERT_TRUE(latency.contains(key)) << key;
  EXPECT_GE(latency["n"].get<int>(), 5);
  for (const char* key : {"median", "mean", "min"}) {
    const double v = latency[key].get<double>();
    EXPECT_TRUE(std::isfinite(v) && v > 0) << key << " = " << v;  // positive and finite; never a bound
  }
  EXPECT_LE(latency["min"].get<double>(), latency["median"].get<double>());
  for (const char* key : {"cpu_model", "cores", "machine_id", "hostname", "timestamp_utc"}) {
    EXPECT_TRUE(doc["machine"].contains(key)) << key;
  }
  ASSERT_TRUE(doc["layers"].is_array());
  ASSERT_GE(doc["layers"].size(), 10u);  // resnet18's convolutions at least (ORT fuses BN and ReLU)
  std::set<std::string> ops;
  for (const auto& layer : doc["layers"]) {
    EXPECT_TRUE(layer["name"].is_string());
    ops.insert(layer["op"].get<std::string>());
    const double ms = layer["median_ms"].get<double>();
    EXPECT_TRUE(std::isfinite(ms) && ms >= 0) << layer.dump();
  }
  EXPECT_TRUE(ops.count("Conv") || ops.count("FusedConv")) << doc["layers"].dump();

  // Table output, and a clean one-line error for an unknown runtime.
  const std::string table =
      run_cli("run " + model.string() + " --runtime ort --threads 1 --warmup 0 --repeat 2 --min-time 0", &status);
  EXPECT_EQ(status, 0) << table;
  EXPECT_NE(table.find("median"), std::string::npos) << table;
  const std::string bad = run_cli("run " + model.string() + " --runtime nope", &status);
  EXPECT_EQ(WEXITSTATUS(status), 2) << bad;
  EXPECT_NE(bad.find("unknown runtime; known: ort"), std::string::npos) << bad;
}

TEST(Ort, ResnetOutputsAreFiniteAndDeterministic) {
  REQUIRE_ORT();
  const fs::path model = kSource / ".cache/models/torchvision/resnet18.onnx";
  if (!fs::exists(model)) GTEST_SKIP() << model << " is absent";
  const ir::Graph graph = import::load_model(model);
  auto rt = make_runtime("ort");
  rt->prepare(graph, {2});
  const auto inputs = random_inputs(graph, 42);
  const auto a = rt->infer(inputs);
  const auto b = rt->infer(inputs);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].dims, (std::vector<std::int64_t>{1, 1000}));
  EXPECT_EQ(a[0].data, b[0].data);
  for (std::size_t i = 0; i < a[0].numel(); ++i) EXPECT_TRUE(std::isfinite(element(a[0], i)));
}

}  // namespace
}  // namespace infercast::runtime
