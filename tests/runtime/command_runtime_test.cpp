// The benchmark_model runtime's process handling against fake device scripts
// (tests/runtime/fake_device/): how the model path arrives (spaces and quotes, pushed or
// local), push failures, crashes, non-zero exits, timeouts that kill the process group.
// The fakes print fixed, real-format output only so that a run can finish; what the
// parser makes of benchmark_model's formats is benchmark_model_parser_test.cpp's job.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "../test_files.hpp"
#include "infercast/base/error.hpp"
#include "infercast/import/import.hpp"
#include "infercast/runtime/runtime.hpp"

namespace infercast::runtime {
namespace {

namespace fs = std::filesystem;
using infercast::testing::read_file;
using infercast::testing::write_file;

const fs::path kSource = INFERCAST_SOURCE_DIR;
const fs::path kFakes = kSource / "tests/runtime/fake_device";
const fs::path kModel = kSource / ".cache/models/mediapipe/face_detection_short_range.tflite";

// What TFLite 2.14's benchmark_model prints for a plain CPU run (see the parser tests).
const std::string kOutput = R"(INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Loaded model /data/local/tmp/face_detection_short_range.tflite
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=195 first=4046 curr=2410 min=2389 max=4046 avg=2552.92 std=232

INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=394 first=2475 curr=2497 min=2388 max=3567 avg=2528.29 std=121

INFO: Inference timings in us: Init: 14375, First inference: 4046, Warmup (avg): 2552.92, Inference (avg): 2528.29
)";

std::string q(const fs::path& p) {
  std::string out = "'";
  for (char c : p.string()) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class CommandRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kModel)) GTEST_SKIP() << "run scripts/fetch_mediapipe.sh (needs " << kModel << ")";
    std::string pattern = (fs::temp_directory_path() / "infercast device test XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    model_ = dir_ / "my model's face.tflite";  // a space and a quote
    fs::copy_file(kModel, model_);
    write_file(dir_ / "output.txt", kOutput);
    fs::create_directory(dir_ / "device");
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // `sh fake --graph={model} --record RECORD --output OUTPUT [extra]`.
  std::string fake_command(const std::string& extra = "") const {
    return "sh " + q(kFakes / "benchmark_model.sh") + " --graph={model} --record " + q(dir_ / "record") + " --output " +
           q(dir_ / "output.txt") + (extra.empty() ? "" : " " + extra);
  }

  RunResult run(const RuntimeOptions& options, int threads = 4, const fs::path& model = {}) {
    const ir::Graph graph = import::load_model(model.empty() ? model_.string() : model.string());
    const auto engine = make_runtime("benchmark_model", options);
    engine->prepare(graph, {threads});
    return engine->run({measure::Protocol{}, false, 42});
  }

  std::string error_of(const RuntimeOptions& options, ErrorKind* kind = nullptr, int threads = 4) {
    try {
      run(options, threads);
    } catch (const Error& e) {
      if (kind) *kind = e.kind();
      return e.what();
    }
    return "";
  }

  std::string recorded() const {
    std::string text = read_file(dir_ / "record");
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
  }

  fs::path dir_;
  fs::path model_;
};

TEST_F(CommandRuntimeTest, LocalPathWithSpacesAndQuotesArrivesIntact) {
  RuntimeOptions options;
  options.device_command = fake_command();
  const RunResult r = run(options);
  EXPECT_EQ(recorded(), fs::absolute(model_).string());
  EXPECT_EQ(r.runtime, "benchmark_model");
  EXPECT_EQ(r.threads, 4);  // the output names none: the requested count
  EXPECT_EQ(r.latency_ms.n, 394u);
}

TEST_F(CommandRuntimeTest, PushPutsTheModelInTheDeviceFolderUnderAPlainName) {
  RuntimeOptions options;
  options.push_command = "sh " + q(kFakes / "push.sh") + " {model} {device_dir}";
  options.device_dir = (dir_ / "device").string();
  options.device_command = fake_command();
  run(options);
  // adb shell hands the device's shell one string: the pushed name needs no quoting there.
  const fs::path pushed = dir_ / "device" / "my_model_s_face.tflite";
  EXPECT_EQ(recorded(), pushed.string());
  EXPECT_EQ(read_file(pushed), read_file(kModel));
}

TEST_F(CommandRuntimeTest, DocumentedAdbCommandLineSurvivesTwoShells) {
  // docs/devices.md's command shape through an adb that, like the real one, joins its
  // arguments into one string for the device's shell. The device folder has no spaces,
  // like /data/local/tmp/; the model's own name has a space and a quote.
  std::string pattern = (fs::temp_directory_path() / "infercast-device-XXXXXX").string();
  ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
  const fs::path device = pattern;
  fs::copy_file(dir_ / "output.txt", device / "output.txt");
  const char* old_path = std::getenv("PATH");
  const std::string saved = old_path ? old_path : "";
  ::setenv("PATH", (kFakes.string() + ":" + saved).c_str(), 1);
  RuntimeOptions options;
  options.push_command = "adb push {model} " + device.string() + "/";
  options.device_dir = device.string();
  options.device_command = "adb shell sh " + kFakes.string() + "/benchmark_model.sh --graph={model}" +
                           " --num_threads={threads} --record " + (device / "record").string() + " --output " +
                           (device / "output.txt").string();
  std::string message;
  try {
    run(options);
  } catch (const Error& e) {
    message = e.what();
  }
  ::setenv("PATH", saved.c_str(), 1);
  EXPECT_EQ(message, "");
  EXPECT_EQ(read_file(device / "record"), (device / "my_model_s_face.tflite").string() + "\n");
  fs::remove_all(device);
}

TEST_F(CommandRuntimeTest, PlaceholdersTakeTheRunsSettings) {
  RuntimeOptions options;
  options.device_command =
      "echo {threads} {warmup} {repeat} {min_time} > " + q(dir_ / "settings") + "; " + fake_command();
  run(options, 6);
  EXPECT_EQ(read_file(dir_ / "settings"), "6 3 10 1\n");
}

TEST_F(CommandRuntimeTest, HighCvRunsAgainUpToMaxRemeasure) {
  // kOutput's CV is 0.121 * sqrt(394/393) / 2.52829 = 0.048.
  RuntimeOptions options;
  options.device_command = "echo run >> " + q(dir_ / "runs") + "; " + fake_command();
  const ir::Graph graph = import::load_model(model_.string());
  const auto engine = make_runtime("benchmark_model", options);
  engine->prepare(graph, {4});
  measure::Protocol protocol;
  protocol.cv_target = 0.01;
  protocol.max_remeasure = 2;
  const RunResult r = engine->run({protocol, false, 42});
  EXPECT_EQ(read_file(dir_ / "runs"), "run\nrun\nrun\n");
  EXPECT_NEAR(r.latency_ms.cv, 0.0479, 1e-4);
  protocol.cv_target = 0.05;
  engine->run({protocol, false, 42});
  EXPECT_EQ(read_file(dir_ / "runs"), "run\nrun\nrun\nrun\n");
}

TEST_F(CommandRuntimeTest, FailedPushIsOneLineQuotingItsStderr) {
  RuntimeOptions options;
  options.push_command = "sh " + q(kFakes / "push.sh") + " {model} {device_dir} fail";
  options.device_dir = (dir_ / "device").string();
  options.device_command = fake_command();
  ErrorKind kind{};
  const std::string message = error_of(options, &kind);
  EXPECT_EQ(kind, ErrorKind::kIo);
  EXPECT_TRUE(contains(message,
                       "runtime 'benchmark_model': the push command failed (exit code 1): "
                       "'adb: error: failed to get feature set: no devices/emulators found'"))
      << message;
  EXPECT_EQ(message.find('\n'), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ / "record"));  // the device command never ran
}

TEST_F(CommandRuntimeTest, CrashNamesTheSignal) {
  RuntimeOptions options;
  options.device_command = fake_command("--mode crash");
  const std::string message = error_of(options);
  EXPECT_TRUE(contains(message, "the device command failed")) << message;
  EXPECT_TRUE(contains(message, "SIGSEGV")) << message;
}

TEST_F(CommandRuntimeTest, NonZeroExitQuotesTheLastStderrLine) {
  RuntimeOptions options;
  options.device_command = fake_command("--mode fail");
  const std::string message = error_of(options);
  EXPECT_TRUE(contains(message, "failed (exit code 1): 'ERROR: Benchmarking failed.'")) << message;
  // A model the device cannot open is the same kind of failure, quoted the same way.
  options.device_command = "sh " + q(kFakes / "benchmark_model.sh") + " --graph={model}.missing";
  EXPECT_TRUE(contains(error_of(options), "ERROR: Could not open")) << error_of(options);
}

TEST_F(CommandRuntimeTest, TimeoutKillsTheWholeProcessGroup) {
  RuntimeOptions options;
  options.device_command = fake_command("--mode hang");
  options.request_timeout_s = 1;
  const auto start = std::chrono::steady_clock::now();
  const std::string message = error_of(options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(contains(message, "the device command gave no result within 1 s; killed it")) << message;
  EXPECT_LT(seconds, 30);
  // The fake's background child went with it.
  const std::string child = read_file(dir_ / "record.child");
  ASSERT_FALSE(child.empty());
  const pid_t pid = std::stoi(child);
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = ::kill(pid, 0) != 0 && errno == ESRCH;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(gone) << "pid " << pid << " survived the timeout";
}

TEST_F(CommandRuntimeTest, GarbageOutputIsAnError) {
  RuntimeOptions options;
  options.device_command = fake_command("--mode garbage");
  const std::string message = error_of(options);
  EXPECT_TRUE(contains(message, "benchmark_model output line 2: control characters")) << message;
}

TEST_F(CommandRuntimeTest, ConfigurationErrors) {
  RuntimeOptions options;
  ErrorKind kind{};
  EXPECT_TRUE(contains(error_of(options, &kind), "--command")) << error_of(options);
  EXPECT_EQ(kind, ErrorKind::kInvalidArgument);
  options.device_command = "sh " + q(kFakes / "benchmark_model.sh");
  EXPECT_TRUE(contains(error_of(options), "has no {model}")) << error_of(options);
  options.device_command = fake_command("--num_threads={threads}");
  EXPECT_TRUE(contains(error_of(options, &kind, 0), "give --threads N")) << error_of(options, &kind, 0);
  options.device_command = fake_command();
  options.push_command = "true";
  EXPECT_TRUE(contains(error_of(options), "--push: has no {model}")) << error_of(options);

  options.push_command.clear();
  const ir::Graph graph = import::load_model(model_.string());
  const auto engine = make_runtime("benchmark_model", options);
  engine->prepare(graph, {1});
  try {
    engine->infer({});
    ADD_FAILURE() << "infer() returned";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_TRUE(contains(e.what(), "benchmark_model reports timings only")) << e.what();
  }
  EXPECT_EQ(engine->version(), "unknown");
}

TEST_F(CommandRuntimeTest, OnnxGraphIsWrittenAsTflite) {
  const fs::path onnx = kSource / ".cache/models/torchvision/squeezenet1_1.onnx";
  if (!fs::exists(onnx)) GTEST_SKIP() << "run scripts/fetch_torchvision.sh";
  RuntimeOptions options;
  options.device_command = fake_command();
  try {
    run(options, 4, onnx);
  } catch (const Error& e) {
    if (contains(e.what(), "TFLite writer")) GTEST_SKIP() << e.what();
    throw;
  }
  // The fake checked the TFL3 identifier of what it was given.
  EXPECT_EQ(fs::path(recorded()).filename(), "squeezenet1_1.tflite");
}

TEST_F(CommandRuntimeTest, CliRunsTheCommandAndReportsErrorsInOneLine) {
  const std::string json = (dir_ / "run.json").string();
  const std::string base = std::string(INFERCAST_CLI) + " run " + q(model_) + " --runtime benchmark_model";
  int status = std::system((base + " --command " + q(fake_command()) + " --format json -o " + q(json)).c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  const auto doc = nlohmann::json::parse(read_file(json));
  EXPECT_EQ(doc["runtime"], "benchmark_model");
  EXPECT_EQ(doc["latency_ms"]["n"], 394);

  const std::string err = (dir_ / "stderr.txt").string();
  const std::string push = "sh " + q(kFakes / "push.sh") + " {model} {device_dir} fail";
  status = std::system((base + " --command " + q(fake_command()) + " --push " + q(push) + " 2> " + q(err)).c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  const std::string message = read_file(err);
  EXPECT_TRUE(contains(message, "no devices/emulators found")) << message;
  EXPECT_EQ(std::count(message.begin(), message.end(), '\n'), 1) << message;
}

}  // namespace
}  // namespace infercast::runtime
