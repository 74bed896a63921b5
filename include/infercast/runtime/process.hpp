// A client for external runners: processes that read one JSON request per line on
// stdin and answer one JSON line on stdout (docs/runner-protocol.md). The runner is
// started on the first request and reused; a runner that crashes, hangs past the
// request's timeout, closes its output or prints anything but the matching JSON
// answer is killed (its whole process group), that request throws one Error, and the
// next request starts a fresh runner.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace infercast::runtime {

class RunnerProcess {
 public:
  // `argv[0]` is looked up on PATH. `label` names the runner in error messages.
  RunnerProcess(std::vector<std::string> argv, std::string label);
  ~RunnerProcess();  // closes the runner's stdin, waits briefly, then kills its group
  RunnerProcess(const RunnerProcess&) = delete;
  RunnerProcess& operator=(const RunnerProcess&) = delete;

  // Sends `request` with a fresh "id" added and returns the answer, whose "id" must
  // match and whose "ok" must be true. Throws Error(kIo) when the runner cannot be
  // started, dies, times out or breaks the protocol (the runner is then killed), and
  // Error(kUnsupported) with the runner's message when it answers "ok": false (the
  // runner stays up). Errors name `file` (the model, say) and "<label> request '<op>'".
  nlohmann::json request(nlohmann::json request, double timeout_s, const std::string& file = "");

  // Kills the runner if one is up (the next request starts a fresh one).
  void stop();
  bool running() const noexcept { return pid_ > 0; }
  // Counts runner starts: a change tells a caller to re-send its session state.
  std::uint64_t generation() const noexcept { return generation_; }
  const std::string& label() const noexcept { return label_; }

 private:
  void start();
  // Kills the process group, reaps the child and describes how it ended.
  std::string kill_and_reap();
  std::string reap_status(int status) const;
  // True once the runner has exited (not reaped), waiting up to `timeout_ms`.
  bool wait_for_exit(int timeout_ms) const;
  std::string stderr_tail() const;
  [[noreturn]] void fail(const std::string& where, const std::string& reason);

  std::vector<std::string> argv_;
  std::string label_;
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  std::string stdout_buffer_;
  std::string stderr_buffer_;  // the last few KiB of the runner's stderr
  std::uint64_t next_id_ = 1;
  std::uint64_t generation_ = 0;
};

}  // namespace infercast::runtime
