// The CLI's failure contract, checked by running the real binary (INFERCAST_CLI):
// a hostile model file or a bad argument ends the process normally with exit code 2
// and exactly one line on stderr that names the file (when there is one); never a
// signal. Plus one positive run whose JSON report must parse and carry the
// documented keys.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <onnx/onnx_pb.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../test_files.hpp"
#include "infercast/predict/predictor.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

extern char** environ;

namespace infercast::cli {
namespace {

using infercast::testing::random_bytes;
using infercast::testing::read_file;
using infercast::testing::write_file;

namespace fs = std::filesystem;

const char* const kConvModel = "/usr/share/libonnx-testdata/data/node/test_conv_with_strides_padding/model.onnx";

struct CliRun {
  int status = -1;  // as from waitpid
  std::string out;
  std::string err;
};

class CliErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ =
        fs::temp_directory_path() / ("infercast_cli_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) +
                                     "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  fs::path write(const std::string& name, const std::string& bytes) {
    write_file(dir_ / name, bytes);
    return dir_ / name;
  }

  // Runs the CLI directly (no shell between, so a signal shows as a signal) with
  // stdout and stderr captured in files.
  CliRun run(const std::vector<std::string>& args) {
    const std::string out_path = (dir_ / "stdout.txt").string();
    const std::string err_path = (dir_ / "stderr.txt").string();
    std::vector<std::string> argv_storage{INFERCAST_CLI};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CliRun result;
    pid_t pid = -1;
    const int spawn_error = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawn_error != 0) {
      ADD_FAILURE() << "cannot start " << INFERCAST_CLI << ": " << std::strerror(spawn_error);
      return result;
    }
    while (::waitpid(pid, &result.status, 0) < 0 && errno == EINTR) {
    }
    result.out = read_file(out_path);
    result.err = read_file(err_path);
    return result;
  }

  fs::path dir_;
};

// Exit code 2, not a signal, and stderr exactly one line containing each of `needles`.
::testing::AssertionResult failed_cleanly(const CliRun& r, const std::vector<std::string>& needles) {
  if (WIFSIGNALED(r.status)) {
    return ::testing::AssertionFailure() << "killed by signal " << WTERMSIG(r.status) << "; stderr: " << r.err;
  }
  if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 2) {
    return ::testing::AssertionFailure() << "exit status " << (WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1)
                                         << ", expected 2; stderr: " << r.err;
  }
  const auto newlines = std::count(r.err.begin(), r.err.end(), '\n');
  if (r.err.empty() || r.err.back() != '\n' || newlines != 1) {
    return ::testing::AssertionFailure() << "stderr is not exactly one line (" << newlines << " newlines): '" << r.err
                                         << "'";
  }
  for (const auto& needle : needles) {
    if (r.err.find(needle) == std::string::npos) {
      return ::testing::AssertionFailure() << "stderr lacks '" << needle << "': " << r.err;
    }
  }
  return ::testing::AssertionSuccess();
}

bool have_testdata() {
  return fs::exists(kConvModel);
}

// Hostile files -------------------------------------------------------------------

TEST_F(CliErrors, EmptyFile) {
  const auto path = write("empty.onnx", "");
  EXPECT_TRUE(failed_cleanly(run({"analyze", path.string()}), {path.string(), "empty"}));
}

// The per-operator cost and the selected convolutions' scales are fitted on synthetic
// networks: asked for with none, profile says so before it measures anything.
TEST_F(CliErrors, PerOperatorCostWithoutNetworks) {
  const fs::path bundle = dir_ / "p.bundle";
  EXPECT_TRUE(failed_cleanly(run({"profile", "--runtime", "xnnpack", "--budget", "1m", "--network-share", "0",
                                  "--per-operator-cost", "-o", bundle.string()}),
                             {"--per-operator-cost", "--network-share"}));
  EXPECT_TRUE(failed_cleanly(run({"profile", "--runtime", "xnnpack", "--budget", "1m", "--network-share", "0",
                                  "--select-composition", "-o", bundle.string()}),
                             {"--select-composition", "--network-share"}));
  EXPECT_FALSE(fs::exists(bundle));
}

TEST_F(CliErrors, RandomBytes) {
  const auto path = write("random.onnx", random_bytes(4096, 1));
  EXPECT_TRUE(failed_cleanly(run({"analyze", path.string()}), {path.string(), "not a valid ONNX"}));
}

TEST_F(CliErrors, RandomBytesNamedTflite) {
  const auto path = write("random.tflite", random_bytes(4096, 2));
  EXPECT_TRUE(failed_cleanly(run({"analyze", path.string()}), {path.string(), "not a TFLite model"}));
}

TEST_F(CliErrors, CorruptTfliteBehindValidIdentifier) {
  std::string bytes = random_bytes(1024, 3);
  bytes.replace(4, 4, "TFL3");
  const auto path = write("corrupt.tflite", bytes);
  EXPECT_TRUE(failed_cleanly(run({"analyze", path.string()}), {path.string()}));
}

TEST_F(CliErrors, PngNamedOnnx) {
  const auto path = write("picture.onnx", std::string("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x01\0\0\0\x01", 24));
  EXPECT_TRUE(failed_cleanly(run({"analyze", path.string(), "--format", "json"}), {path.string()}));
}

TEST_F(CliErrors, DirectoryAsModel) {
  fs::create_directories(dir_ / "model.onnx");
  EXPECT_TRUE(failed_cleanly(run({"analyze", (dir_ / "model.onnx").string()}), {"model.onnx", "not a regular file"}));
}

TEST_F(CliErrors, TruncatedTestdataModel) {
  if (!have_testdata()) GTEST_SKIP() << kConvModel << " is not installed";
  const std::string bytes = read_file(kConvModel);
  const auto path = write("truncated.onnx", bytes.substr(0, bytes.size() / 2));
  EXPECT_TRUE(failed_cleanly(run({"analyze", path.string()}), {path.string()}));
}

// A model whose error text would span lines if quoted raw: a node name with newlines.
TEST_F(CliErrors, MultilineNamesStayOnOneLine) {
  ::onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(13);
  auto* n = model.mutable_graph()->add_node();
  n->set_op_type("Relu");
  n->set_name("evil\nname\r\nhere");
  n->add_input("ghost\ninput");
  n->add_output("y");
  model.mutable_graph()->add_output()->set_name("y");
  const auto path = write("multiline.onnx", model.SerializeAsString());
  EXPECT_TRUE(failed_cleanly(run({"analyze", path.string()}), {path.string(), "not produced"}));
}

TEST_F(CliErrors, SymbolicInputNeedsInputShape) {
  ::onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(13);
  auto* g = model.mutable_graph();
  auto* n = g->add_node();
  n->set_op_type("Relu");
  n->add_input("x");
  n->add_output("y");
  auto* x = g->add_input();
  x->set_name("x");
  x->mutable_type()->mutable_tensor_type()->set_elem_type(::onnx::TensorProto::FLOAT);
  x->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_param("batch");
  g->add_output()->set_name("y");
  const auto path = write("symbolic.onnx", model.SerializeAsString());
  EXPECT_TRUE(failed_cleanly(run({"analyze", path.string()}), {path.string(), "--input-shape"}));
  // Giving the shape fixes it.
  const CliRun fixed = run({"analyze", path.string(), "--input-shape", "x=8", "--format", "csv"});
  EXPECT_TRUE(WIFEXITED(fixed.status) && WEXITSTATUS(fixed.status) == 0) << fixed.err;
}

// A model that breaks an op's shape contract: ONNX Runtime refuses it, so must analyze.
TEST_F(CliErrors, ConvGroupContractViolation) {
  ::onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(13);
  auto* g = model.mutable_graph();
  auto* n = g->add_node();
  n->set_op_type("Conv");
  n->set_name("conv");
  n->add_input("x");
  n->add_input("w");
  n->add_output("y");
  auto* group = n->add_attribute();
  group->set_name("group");
  group->set_type(::onnx::AttributeProto::INT);
  group->set_i(7);
  auto* x = g->add_input();
  x->set_name("x");
  x->mutable_type()->mutable_tensor_type()->set_elem_type(::onnx::TensorProto::FLOAT);
  for (int d : {1, 3, 8, 8}) x->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(d);
  auto* w = g->add_initializer();
  w->set_name("w");
  w->set_data_type(::onnx::TensorProto::FLOAT);
  for (int d : {4, 3, 3, 3}) w->add_dims(d);
  w->set_raw_data(std::string(4 * 3 * 3 * 3 * 4, '\0'));
  g->add_output()->set_name("y");
  const auto path = write("group.onnx", model.SerializeAsString());
  EXPECT_TRUE(failed_cleanly(run({"analyze", path.string()}), {path.string(), "'conv'", "group 7", "3 channels"}));
}

// Bad arguments --------------------------------------------------------------------

TEST_F(CliErrors, MissingFile) {
  const auto path = dir_ / "does_not_exist.onnx";
  EXPECT_TRUE(failed_cleanly(run({"analyze", path.string()}), {path.string(), "No such file"}));
}

TEST_F(CliErrors, UnknownFormat) {
  if (!have_testdata()) GTEST_SKIP() << kConvModel << " is not installed";
  EXPECT_TRUE(failed_cleanly(run({"analyze", kConvModel, "--format", "yaml"}), {"--format", "yaml"}));
}

TEST_F(CliErrors, BadInputShapeSpec) {
  if (!have_testdata()) GTEST_SKIP() << kConvModel << " is not installed";
  for (const char* spec : {"x=1xAx7x5", "x", "=1x1", "x=", "x=1x-1x7x5", "x=1x1x7x99999999999999999999"}) {
    EXPECT_TRUE(failed_cleanly(run({"analyze", kConvModel, "--input-shape", spec}), {"shape"})) << "spec " << spec;
  }
}

TEST_F(CliErrors, InputShapeForUnknownInput) {
  if (!have_testdata()) GTEST_SKIP() << kConvModel << " is not installed";
  EXPECT_TRUE(failed_cleanly(run({"analyze", kConvModel, "--input-shape", "nope=1x1x7x5"}),
                             {kConvModel, "nope", "no input of that name"}));
}

TEST_F(CliErrors, InputShapeOfWrongRank) {
  if (!have_testdata()) GTEST_SKIP() << kConvModel << " is not installed";
  EXPECT_TRUE(failed_cleanly(run({"analyze", kConvModel, "--input-shape", "x=1x7x5"}), {kConvModel, "rank"}));
}

TEST_F(CliErrors, UnwritableOutput) {
  if (!have_testdata()) GTEST_SKIP() << kConvModel << " is not installed";
  const auto out = dir_ / "no_such_dir" / "report.json";
  EXPECT_TRUE(failed_cleanly(run({"analyze", kConvModel, "--format", "json", "-o", out.string()}), {out.string()}));
}

// Usage errors come from CLI11, which adds a "Run with --help" line; they still exit 2.
TEST_F(CliErrors, UsageErrorsExitTwo) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{}, {"analyze"}, {"no_such_command"}, {"analyze", kConvModel, "--no-such-flag"}}) {
    const CliRun r = run(args);
    EXPECT_FALSE(WIFSIGNALED(r.status));
    EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 2) << r.err;
    EXPECT_FALSE(r.err.empty());
  }
}

// A typo of a subcommand names itself, the closest command and the real ones.
TEST_F(CliErrors, UnknownCommandIsNamed) {
  EXPECT_TRUE(failed_cleanly(run({"analyse", "x.onnx"}),
                             {"unknown command 'analyse'", "did you mean 'analyze'", "analyze", "verify", "export"}));
  const CliRun far = run({"frobnicate"});
  EXPECT_TRUE(failed_cleanly(far, {"unknown command 'frobnicate'", "commands: analyze"}));
  EXPECT_EQ(far.err.find("did you mean"), std::string::npos) << far.err;
}

// A float model on an int8 predictor bundle, and an unknown precision: one line, exit 2.
TEST_F(CliErrors, PrecisionMismatchIsOneLine) {
  if (!have_testdata()) GTEST_SKIP() << kConvModel << " is not installed";
  infercast::predict::Bundle bundle;
  bundle.runtime = "xnnpack";
  bundle.precision = "int8";
  const fs::path path = dir_ / "int8.bundle";
  infercast::predict::save_bundle(bundle, path);
  EXPECT_TRUE(failed_cleanly(run({"predict", kConvModel, "--predictor", path.string()}),
                             {kConvModel, "precision", "fp32 model", "int8 kernels"}));
  EXPECT_TRUE(failed_cleanly(
      run({"bench", "--runtime", "xnnpack", "--precision", "int4", "--db", (dir_ / "k.db").string(), "--count", "1"}),
      {"--precision", "int4"}));
}

// predict --read-host needs the profile's host readings: a bundle without them gets one
// line naming the field; with them, every time is the plain prediction's times the speed read.
TEST_F(CliErrors, ReadHostNeedsTheProfilesReadings) {
  if (!have_testdata()) GTEST_SKIP() << kConvModel << " is not installed";
  infercast::predict::Bundle bundle;
  bundle.runtime = "xnnpack";
  bundle.threads = 1;
  const fs::path path = dir_ / "plain.bundle";
  infercast::predict::save_bundle(bundle, path);
  EXPECT_TRUE(failed_cleanly(run({"predict", kConvModel, "--predictor", path.string(), "--read-host"}),
                             {"host_speed", "read no host speed"}));
  bundle.profile["host_speed"] = {{"median_ms", 1000.0}, {"readings", 40}};
  const fs::path read = dir_ / "read.bundle";
  infercast::predict::save_bundle(bundle, read);
  const CliRun plain = run({"predict", kConvModel, "--predictor", read.string(), "--format", "json"});
  const CliRun scaled = run({"predict", kConvModel, "--predictor", read.string(), "--format", "json", "--read-host"});
  ASSERT_TRUE(WIFEXITED(scaled.status) && WEXITSTATUS(scaled.status) == 0) << scaled.err;
  const auto p = nlohmann::json::parse(plain.out);
  const auto s = nlohmann::json::parse(scaled.out);
  EXPECT_FALSE(p.contains("host_reading"));
  const double speed = s["host_reading"]["speed"].get<double>();
  EXPECT_GT(speed, 0);
  EXPECT_LT(speed, 0.01);  // a reference of well under 10 ms against the stated 1000 ms
  EXPECT_DOUBLE_EQ(s["host_reading"]["profile_median_ms"].get<double>(), 1000.0);
  EXPECT_NEAR(s["latency_ms"].get<double>(), p["latency_ms"].get<double>() * speed,
              1e-9 * p["latency_ms"].get<double>());
}

// The positive case ---------------------------------------------------------------

TEST_F(CliErrors, JsonReportOfTestdataModel) {
  if (!have_testdata()) GTEST_SKIP() << kConvModel << " is not installed";
  const CliRun r = run({"analyze", kConvModel, "--format", "json"});
  ASSERT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.err;
  const auto report = nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(report.is_discarded()) << "stdout is not JSON: " << r.out;
  for (const char* key : {"model", "format", "totals", "ops", "unknown_ops", "inputs", "outputs", "layers"}) {
    EXPECT_TRUE(report.contains(key)) << key;
  }
  for (const char* key : {"params", "weight_bytes", "macs", "flops", "activation_bytes", "peak_activation_bytes",
                          "read_bytes", "write_bytes"}) {
    EXPECT_TRUE(report["totals"].contains(key) && report["totals"][key].is_number()) << "totals." << key;
  }
  EXPECT_EQ(report["model"], kConvModel);
  EXPECT_EQ(report["format"], "onnx");
  // Conv 1x1x7x5 * 3x3 kernel, stride 2, pad 1 -> 1x1x4x3 output, 9 MACs per output element.
  EXPECT_EQ(report["totals"]["macs"], 4 * 3 * 9);
  EXPECT_EQ(report["layers"].size(), 1u);
  EXPECT_TRUE(report["unknown_ops"].empty());
}

}  // namespace
}  // namespace infercast::cli
