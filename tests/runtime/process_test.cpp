// The external-runner client against fake runners (tests/runtime/fake_runners/) that
// crash, hang, print garbage or answer correctly. These check process handling only;
// ort_test.cpp runs the real ONNX Runtime runner.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "infercast/base/error.hpp"
#include "infercast/runtime/process.hpp"
#include "infercast/runtime/runtime.hpp"

namespace infercast::runtime {
namespace {

namespace fs = std::filesystem;

const std::string kFakes = std::string(INFERCAST_SOURCE_DIR) + "/tests/runtime/fake_runners/";

bool have_node() {
  return std::system("node --version >/dev/null 2>&1") == 0;
}

#define REQUIRE_NODE() \
  if (!have_node()) GTEST_SKIP() << "node is not installed (scripts/install_deps.sh installs it)"

std::vector<std::string> fake(const std::string& mode = "") {
  std::vector<std::string> argv = {"node", kFakes + "fake_runner.js"};
  if (!mode.empty()) argv.push_back(mode);
  return argv;
}

// Runs `request` and returns the Error's message ("" when it succeeded).
std::string error_of(RunnerProcess& runner, const nlohmann::json& request, double timeout_s = 20,
                     ErrorKind* kind = nullptr) {
  try {
    runner.request(request, timeout_s, "model.onnx");
  } catch (const Error& e) {
    if (kind) *kind = e.kind();
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(RunnerProcess, AnswersAndReusesOneRunner) {
  REQUIRE_NODE();
  RunnerProcess runner(fake(), "fake runner");
  EXPECT_FALSE(runner.running());
  const auto a = runner.request({{"op", "hello"}}, 20);
  EXPECT_EQ(a["runtime_version"], "0.0.1");
  EXPECT_TRUE(runner.running());
  const auto generation = runner.generation();
  for (int i = 0; i < 20; ++i) runner.request({{"op", "hello"}}, 20);
  EXPECT_EQ(runner.generation(), generation);
}

TEST(RunnerProcess, CrashFailsThatRequestAndTheNextStartsAFreshRunner) {
  REQUIRE_NODE();
  RunnerProcess runner(fake(), "fake runner");
  runner.request({{"op", "hello"}}, 20);
  const auto generation = runner.generation();
  ErrorKind kind{};
  const std::string message = error_of(runner, {{"op", "crash"}}, 20, &kind);
  EXPECT_EQ(kind, ErrorKind::kIo);
  EXPECT_TRUE(contains(message, "model.onnx: fake runner request 'crash': runner exited before answering")) << message;
  EXPECT_TRUE(contains(message, "exit code 3")) << message;
  EXPECT_TRUE(contains(message, "something went badly wrong")) << message;  // its stderr
  EXPECT_FALSE(runner.running());
  EXPECT_EQ(runner.request({{"op", "hello"}}, 20)["ok"], true);
  EXPECT_EQ(runner.generation(), generation + 1);
}

TEST(RunnerProcess, HangIsKilledAtTheTimeout) {
  REQUIRE_NODE();
  RunnerProcess runner(fake(), "fake runner");
  runner.request({{"op", "hello"}}, 20);
  const auto start = std::chrono::steady_clock::now();
  const std::string message = error_of(runner, {{"op", "hang"}}, 0.5);
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(contains(message, "no answer within 1 s; killed the runner")) << message;
  EXPECT_GE(waited, 0.5);
  EXPECT_LT(waited, 30.0);  // the timeout is enforced (generous: shared machines stall)
  EXPECT_EQ(runner.request({{"op", "hello"}}, 20)["ok"], true);
}

TEST(RunnerProcess, TimeoutKillsTheRunnersWholeProcessGroup) {
  REQUIRE_NODE();
  const fs::path pid_file = fs::temp_directory_path() / ("infercast_fake_child_" + std::to_string(::getpid()));
  fs::remove(pid_file);
  {
    RunnerProcess runner(fake(), "fake runner");
    const std::string message = error_of(runner, {{"op", "hang_child"}, {"pid_file", pid_file.string()}}, 2);
    EXPECT_TRUE(contains(message, "no answer within")) << message;
  }
  std::ifstream in(pid_file);
  pid_t child = 0;
  ASSERT_TRUE(in >> child) << "the fake did not start its child";
  // The child was killed with the group; once init reaps it, the pid is gone.
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    gone = ::kill(child, 0) != 0;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(gone) << "child " << child << " of the killed runner is still alive";
  fs::remove(pid_file);
}

TEST(RunnerProcess, GarbageLinesFailWithAClearMessage) {
  REQUIRE_NODE();
  RunnerProcess runner(fake(), "fake runner");
  std::string m = error_of(runner, {{"op", "garbage"}});
  EXPECT_TRUE(contains(m, "runner printed something that is not a JSON object: 'this is not json'")) << m;
  EXPECT_FALSE(runner.running());
  // The second line arrives with the answer or just after it: that request or the next fails.
  m = error_of(runner, {{"op", "two_lines"}});
  if (m.empty()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    m = error_of(runner, {{"op", "hello"}});
  }
  EXPECT_TRUE(contains(m, "more than one line")) << m;
  m = error_of(runner, {{"op", "wrong_id"}});
  EXPECT_TRUE(contains(m, "answered with id")) << m;
  m = error_of(runner, {{"op", "partial"}}, 1);
  EXPECT_TRUE(contains(m, "no answer within")) << m;
  m = error_of(runner, {{"op", "exit_quietly"}});
  EXPECT_TRUE(contains(m, "runner exited before answering (exit code 0)")) << m;
  EXPECT_EQ(runner.request({{"op", "hello"}}, 20)["ok"], true);
}

TEST(RunnerProcess, RefusalKeepsTheRunner) {
  REQUIRE_NODE();
  RunnerProcess runner(fake(), "fake runner");
  runner.request({{"op", "hello"}}, 20);
  const auto generation = runner.generation();
  ErrorKind kind{};
  const std::string m = error_of(runner, {{"op", "fail"}}, 20, &kind);
  EXPECT_EQ(kind, ErrorKind::kUnsupported);
  EXPECT_TRUE(contains(m, "fake runner request 'fail': the fake cannot do that")) << m;
  EXPECT_TRUE(runner.running());
  runner.request({{"op", "hello"}}, 20);
  EXPECT_EQ(runner.generation(), generation);
}

TEST(RunnerProcess, LargeOutputsOnBothStreamsDoNotDeadlock) {
  REQUIRE_NODE();
  RunnerProcess runner(fake(), "fake runner");
  EXPECT_EQ(runner.request({{"op", "stderr_flood"}}, 60)["ok"], true);
  const auto big = runner.request({{"op", "big"}}, 60);
  EXPECT_EQ(big["blob"].get<std::string>().size(), std::size_t{32} << 20);
  // A large request: the runner reads it while we read its answer.
  const auto echo = runner.request({{"op", "hello"}, {"padding", std::string(16 << 20, 'p')}}, 60);
  EXPECT_EQ(echo["ok"], true);
}

TEST(RunnerProcess, RunnersThatFailAtStart) {
  REQUIRE_NODE();
  {
    RunnerProcess runner({"sh", kFakes + "crash_on_start.sh"}, "fake runner");
    const std::string m = error_of(runner, {{"op", "hello"}});
    EXPECT_TRUE(contains(m, "exit code 7")) << m;
    EXPECT_TRUE(contains(m, "crash_on_start: cannot initialise")) << m;
  }
  {
    RunnerProcess runner({"sh", kFakes + "garbage_on_start.sh"}, "fake runner");
    const std::string m = error_of(runner, {{"op", "hello"}});
    EXPECT_TRUE(contains(m, "not a JSON object: 'Welcome to the runner!'")) << m;
  }
  {
    RunnerProcess runner({"sh", kFakes + "silent.sh"}, "fake runner");
    const std::string m = error_of(runner, {{"op", "hello"}}, 0.3);
    EXPECT_TRUE(contains(m, "no answer within")) << m;
  }
  {
    RunnerProcess runner({"/nonexistent/infercast-runner"}, "fake runner");
    ErrorKind kind{};
    const std::string m = error_of(runner, {{"op", "hello"}}, 20, &kind);
    EXPECT_EQ(kind, ErrorKind::kIo);
    EXPECT_TRUE(contains(m, "cannot start '/nonexistent/infercast-runner'")) << m;
  }
}

TEST(RunnerProcess, DestructorEndsARunnerThatIgnoresEndOfInput) {
  const auto start = std::chrono::steady_clock::now();
  {
    // Answers one request, then ignores both its closed input and SIGTERM.
    RunnerProcess runner({"sh", "-c", "read line; echo '{\"id\":1,\"ok\":true}'; trap '' TERM; exec sleep 1000"},
                         "stubborn");
    EXPECT_EQ(runner.request({{"op", "hello"}}, 20)["ok"], true);
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 30.0);
}

// ---- The process-backed Runtime, over the fake ----

ir::Graph one_op_graph(const std::string& path) {
  ir::Graph g;
  ir::Tensor x;
  x.name = "x";
  x.dtype = ir::DType::kFloat32;
  x.shape = ir::Shape::of({1, 4});
  x.kind = ir::TensorKind::kInput;
  ir::Tensor y = x;
  y.name = "y";
  y.kind = ir::TensorKind::kOutput;
  g.inputs = {g.add_tensor(x)};
  g.outputs = {g.add_tensor(y)};
  ir::Node n;
  n.name = "id";
  n.op = ir::Op::Identity;
  n.source_op = "Identity";
  n.inputs = {0};
  n.outputs = {1};
  g.nodes.push_back(n);
  g.meta.format = "onnx";
  g.meta.source_path = path;
  g.finalize(path);
  return g;
}

class FakeRuntime : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_node()) GTEST_SKIP() << "node is not installed";
    dir_ = fs::temp_directory_path() / ("infercast_fake_rt_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    model_ = (dir_ / "model.onnx").string();
    std::ofstream(model_) << "not read by the fake";
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::unique_ptr<Runtime> make(const std::vector<std::string>& command) {
    RuntimeOptions o;
    o.runner_command = command;
    o.request_timeout_s = 30;
    return make_runtime("ort", o);
  }
  fs::path dir_;
  std::string model_;
};

TEST_F(FakeRuntime, RunComputesStatsFromTheRunnersSamples) {
  auto rt = make(fake());
  const ir::Graph g = one_op_graph(model_);
  rt->prepare(g, {2});
  RunOptions o;
  o.protocol.min_repeats = 6;
  o.per_layer = true;
  const RunResult r = rt->run(o);
  EXPECT_EQ(r.runtime, "ort");
  EXPECT_EQ(r.runtime_version, "0.0.1");
  EXPECT_EQ(r.threads, 2);
  EXPECT_EQ(r.latency_ms.n, 6u);  // fake samples 2, 2.01, 2, 2.01, 2, 2.01
  EXPECT_DOUBLE_EQ(r.latency_ms.median, 2.005);
  EXPECT_DOUBLE_EQ(r.latency_ms.min, 2.0);
  ASSERT_EQ(r.layers.size(), 2u);
  EXPECT_EQ(r.layers[0].name, "n0");
  EXPECT_EQ(r.layers[0].op, "Conv");
  EXPECT_DOUBLE_EQ(r.layers[0].ms.median, 1.5);
  EXPECT_EQ(r.layers[1].ms.n, 1u);
}

TEST_F(FakeRuntime, CrashDuringRunCostsOneRunAndTheModelIsReloaded) {
  const std::string marker = (dir_ / "crashed").string();
  auto rt = make({"node", kFakes + "fake_runner.js", "crash_once", marker});
  const ir::Graph g = one_op_graph(model_);
  rt->prepare(g, {1});
  RunOptions o;
  o.protocol.min_repeats = 3;
  try {
    rt->run(o);
    FAIL() << "the crash was not reported";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_TRUE(contains(e.what(), "ort runner request 'time': runner exited before answering (exit code 5)"))
        << e.what();
    EXPECT_TRUE(contains(e.what(), "model.onnx")) << e.what();
  }
  // A fresh runner, the model loaded again (the fake refuses "time" without a load).
  const RunResult r = rt->run(o);
  EXPECT_EQ(r.latency_ms.n, 3u);
}

TEST_F(FakeRuntime, InferRoundTripsEveryByteValue) {
  auto rt = make(fake());
  const ir::Graph g = one_op_graph(model_);
  rt->prepare(g, {1});
  // 4 floats = 16 bytes per call; cover all 256 byte values over 16 calls, and the
  // base64 padding cases through the fake's Buffer decoding.
  for (int start = 0; start < 256; start += 16) {
    HostTensor x{"x", ir::DType::kFloat32, {1, 4}, {}};
    for (int i = 0; i < 16; ++i) x.data.push_back(static_cast<std::byte>(start + i));
    const auto out = rt->infer({x});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].name, "y");
    EXPECT_EQ(out[0].dims, x.dims);
    EXPECT_EQ(out[0].data, x.data);
  }
  HostTensor wrong{"nope", ir::DType::kFloat32, {1}, std::vector<std::byte>(4)};
  EXPECT_THROW(rt->infer({wrong}), Error);
  EXPECT_THROW(rt->infer({}), Error);
}

TEST_F(FakeRuntime, RefusesGraphsItCannotLoad) {
  auto rt = make(fake());
  ir::Graph g = one_op_graph(model_);
  g.meta.format = "tflite";
  try {
    rt->prepare(g, {1});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_TRUE(contains(e.what(), "ONNX Runtime runs onnx files; this graph comes from tflite")) << e.what();
  }
  EXPECT_THROW(rt->run({}), Error);  // not prepared
  ir::Graph in_memory = one_op_graph("");
  EXPECT_THROW(rt->prepare(in_memory, {1}), Error);
}

}  // namespace
}  // namespace infercast::runtime
