// The parent side of the runner protocol. One poll loop per request writes the
// request, reads the answer and drains the runner's stderr at once, so neither side
// can block the other, and the request's deadline covers all of it.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <thread>

#include "infercast/base/error.hpp"
#include "infercast/runtime/process.hpp"
#include "runtime/process/spawn.hpp"

namespace infercast::runtime {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxLineBytes = std::size_t{1} << 30;  // an answer line larger than this is refused
constexpr std::size_t kStderrKeep = 8192;                    // bytes of runner stderr kept for messages
constexpr std::size_t kReadChunk = 1 << 16;

std::string errno_text(int err) {
  return std::strerror(err);
}

// A short, printable excerpt of what the runner sent, for one-line messages.
std::string excerpt(const std::string& text, std::size_t limit = 120) {
  std::string out;
  for (char c : text.substr(0, limit)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? '?' : c;
  }
  if (text.size() > limit) out += "...";
  return out;
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// write() that never raises SIGPIPE in this process when the runner has gone: the
// signal is blocked for this thread and a SIGPIPE it caused is consumed.
ssize_t write_no_sigpipe(int fd, const char* data, std::size_t size) {
  sigset_t pipe_set;
  sigset_t old_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  sigset_t pending;
  sigemptyset(&pending);
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
  const ssize_t n = ::write(fd, data, size);
  const int err = errno;
  if (n < 0 && err == EPIPE && !was_pending) {
    const timespec zero{0, 0};
    while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  errno = err;
  return n;
}

}  // namespace

RunnerProcess::RunnerProcess(std::vector<std::string> argv, std::string label)
    : argv_(std::move(argv)), label_(std::move(label)) {}

RunnerProcess::~RunnerProcess() {
  if (pid_ <= 0) return;
  // A runner exits when its input closes; give it a moment, then make sure.
  close_fd(stdin_fd_);
  int status = 0;
  for (int i = 0; i < 100; ++i) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (pid_ > 0) kill_and_reap();
  close_fd(stdout_fd_);
  close_fd(stderr_fd_);
}

void RunnerProcess::start() {
  if (argv_.empty()) throw Error(ErrorKind::kInvalidArgument, "", label_, "no runner command");
  int in[2] = {-1, -1};
  int out[2] = {-1, -1};
  int err[2] = {-1, -1};
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    const int e = errno;
    for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) {
      if (fd >= 0) ::close(fd);
    }
    throw Error(ErrorKind::kIo, "", label_, "cannot create pipes: " + errno_text(e));
  }
  // Its own process group, so a timeout kills the runner and anything it started.
  pid_t pid = -1;
  const int rc = spawn_in_own_group(argv_, in[0], out[1], err[1], pid);
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  if (rc != 0) {
    ::close(in[1]);
    ::close(out[0]);
    ::close(err[0]);
    throw Error(ErrorKind::kIo, "", label_, "cannot start '" + argv_[0] + "': " + errno_text(rc));
  }
  pid_ = pid;
  stdin_fd_ = in[1];
  stdout_fd_ = out[0];
  stderr_fd_ = err[0];
  for (int fd : {stdin_fd_, stdout_fd_, stderr_fd_}) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  stdout_buffer_.clear();
  stderr_buffer_.clear();
  ++generation_;
}

std::string RunnerProcess::reap_status(int status) const {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = sigabbrev_np(sig);
    return "killed by signal " + std::to_string(sig) + (name ? std::string(" (SIG") + name + ")" : "");
  }
  return "status " + std::to_string(status);
}

std::string RunnerProcess::kill_and_reap() {
  std::string how;
  if (pid_ > 0) {
    int status = 0;
    pid_t got = ::waitpid(pid_, &status, WNOHANG);
    if (got == 0) {
      ::kill(-pid_, SIGKILL);
      ::kill(pid_, SIGKILL);
      while ((got = ::waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
      }
      how = "killed";
    } else if (got == pid_) {
      how = reap_status(status);
      ::kill(-pid_, SIGKILL);  // anything it left behind in its group
    }
    pid_ = -1;
  }
  close_fd(stdin_fd_);
  close_fd(stdout_fd_);
  close_fd(stderr_fd_);
  stdout_buffer_.clear();
  return how;
}

void RunnerProcess::stop() {
  kill_and_reap();
}

std::string RunnerProcess::stderr_tail() const {
  std::string text = stderr_buffer_;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  if (text.empty()) return "";
  // The last few lines say what went wrong (a stack trace ends with the cause first,
  // so keep several), flattened to one line.
  std::size_t start = text.size();
  for (int lines = 0; lines < 6 && start > 0; ++lines) {
    const auto nl = text.rfind('\n', start - 1);
    start = nl == std::string::npos ? 0 : nl;
    if (nl == std::string::npos) break;
  }
  std::string tail = text.substr(start);
  std::string flat;
  for (char c : tail) {
    if (c == '\n' || c == '\r') {
      if (!flat.empty() && flat.back() != ' ') flat += " | ";
    } else {
      flat += c;
    }
  }
  while (flat.rfind(" | ", 0) == 0) flat.erase(0, 3);
  if (flat.size() > 600) flat = "..." + flat.substr(flat.size() - 600);
  return flat;
}

void RunnerProcess::fail(const std::string& where, const std::string& reason) {
  // Drain what the runner wrote to stderr before it goes; it usually says why.
  if (stderr_fd_ >= 0) {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(stderr_fd_, buf, sizeof(buf))) > 0) stderr_buffer_.append(buf, static_cast<std::size_t>(n));
  }
  const std::string how = kill_and_reap();
  const std::string tail = stderr_tail();
  throw Error(ErrorKind::kIo, "", where,
              reason + (how.empty() || how == "killed" ? "" : " (" + how + ")") +
                  (tail.empty() ? "" : "; runner stderr: " + tail));
}

bool RunnerProcess::wait_for_exit(int timeout_ms) const {
  for (int waited = 0; pid_ > 0; waited += 10) {
    siginfo_t info{};
    // WNOWAIT: leave the child to kill_and_reap(), which reports its status.
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid_) {
      return true;
    }
    if (waited >= timeout_ms) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

nlohmann::json RunnerProcess::request(nlohmann::json request, double timeout_s, const std::string& file) {
  const std::string op = request.contains("op") && request["op"].is_string() ? request["op"].get<std::string>() : "?";
  const std::string where = label_ + " request '" + op + "'";
  auto with_file = [&](const Error& e) { return Error(e.kind(), file, e.where(), e.reason()); };
  try {
    const bool fresh = pid_ <= 0;
    if (fresh) start();
    // Output nobody asked for (a second line after the last answer) means the runner
    // no longer follows the protocol. A runner just started has had no request yet:
    // whatever it prints first is taken as its answer below and judged as one, so the
    // error does not depend on whether it printed before or after our request.
    if (!fresh && stdout_fd_ >= 0) {
      char buf[4096];
      const ssize_t n = ::read(stdout_fd_, buf, sizeof(buf));
      if (n > 0) {
        fail(where, "runner printed more than one line for its previous request: '" +
                        excerpt(std::string(buf, static_cast<std::size_t>(n))) + "'");
      }
    }
    const std::uint64_t id = next_id_++;
    request["id"] = id;
    const std::string line = request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::size_t written = 0;
    const auto deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
    std::size_t scanned = 0;
    for (;;) {
      const auto newline = stdout_buffer_.find('\n', scanned);
      if (newline != std::string::npos) {
        std::string answer_line = stdout_buffer_.substr(0, newline);
        if (newline + 1 != stdout_buffer_.size()) {
          fail(where, "runner printed more than one line for one request: '" +
                          excerpt(stdout_buffer_.substr(newline + 1)) + "'");
        }
        if (written != line.size()) fail(where, "runner answered before reading the whole request");
        stdout_buffer_.clear();
        nlohmann::json answer = nlohmann::json::parse(answer_line, nullptr, false);
        if (answer.is_discarded() || !answer.is_object()) {
          fail(where, "runner printed something that is not a JSON object: '" + excerpt(answer_line) + "'");
        }
        if (!answer.contains("id") || answer["id"] != id) {
          fail(where, "runner answered with id " + (answer.contains("id") ? answer["id"].dump() : "(none)") +
                          ", expected " + std::to_string(id));
        }
        if (!answer.contains("ok") || !answer["ok"].is_boolean()) fail(where, "runner's answer has no \"ok\"");
        if (!answer["ok"].get<bool>()) {
          const std::string message = answer.contains("error") && answer["error"].is_string()
                                          ? answer["error"].get<std::string>()
                                          : "runner reported an error without a message";
          throw Error(ErrorKind::kUnsupported, "", where, message);
        }
        return answer;
      }
      scanned = stdout_buffer_.size();
      if (stdout_buffer_.size() > kMaxLineBytes) fail(where, "runner's answer exceeds 1 GiB without a newline");

      const auto now = Clock::now();
      if (now >= deadline) {
        fail(where, "no answer within " + std::to_string(static_cast<long long>(std::ceil(timeout_s))) +
                        " s; killed the runner");
      }
      const auto left_ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1;
      pollfd fds[3] = {{stdout_fd_, POLLIN, 0}, {stderr_fd_, POLLIN, 0}, {-1, POLLOUT, 0}};
      if (written < line.size()) fds[2].fd = stdin_fd_;
      const int ready = ::poll(fds, 3, static_cast<int>(std::min<long long>(left_ms, 1 << 30)));
      if (ready < 0) {
        if (errno == EINTR) continue;
        fail(where, "poll failed: " + errno_text(errno));
      }
      if (fds[2].revents & (POLLOUT | POLLERR | POLLHUP)) {
        const ssize_t n = write_no_sigpipe(stdin_fd_, line.data() + written, line.size() - written);
        if (n > 0) {
          written += static_cast<std::size_t>(n);
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
          // The runner closed its input: it is exiting. Its exit status says more.
          const int e = errno;
          wait_for_exit(500);
          fail(where, "runner stopped reading requests (" + errno_text(e) + ")");
        }
      }
      if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
        char buf[4096];
        const ssize_t n = ::read(stderr_fd_, buf, sizeof(buf));
        if (n > 0) {
          stderr_buffer_.append(buf, static_cast<std::size_t>(n));
          if (stderr_buffer_.size() > 2 * kStderrKeep) stderr_buffer_.erase(0, stderr_buffer_.size() - kStderrKeep);
        } else if (n == 0) {
          close_fd(stderr_fd_);
        }
      }
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        const std::size_t old = stdout_buffer_.size();
        stdout_buffer_.resize(old + kReadChunk);
        const ssize_t n = ::read(stdout_fd_, stdout_buffer_.data() + old, kReadChunk);
        stdout_buffer_.resize(old + (n > 0 ? static_cast<std::size_t>(n) : 0));
        if (n == 0) {
          // End of output: the runner has exited or is about to.
          const std::string how = wait_for_exit(500) ? "exited" : "closed its output";
          fail(where, "runner " + how + " before answering");
        }
      }
    }
  } catch (const Error& e) {
    if (!file.empty() && e.file().empty()) throw with_file(e);
    throw;
  }
}

}  // namespace infercast::runtime
