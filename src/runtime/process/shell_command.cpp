// One poll loop reads stdout and stderr as they come (so a chatty command never blocks
// on a full pipe) and watches the deadline; the child's exit is noticed without reaping
// it, so its process group still exists when the leftovers are killed.
#include "shell_command.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "infercast/base/error.hpp"
#include "runtime/process/spawn.hpp"

namespace infercast::runtime {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxOutput = std::size_t{512} << 20;
constexpr std::size_t kStderrKeep = 64 << 10;
constexpr auto kExitGrace = std::chrono::seconds(2);

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

bool has_exited(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
}

}  // namespace

std::string ShellResult::status() const {
  if (timed_out) return "timed out";
  if (signal != 0) {
    const char* name = sigabbrev_np(signal);
    return "killed by signal " + std::to_string(signal) + (name ? std::string(" (SIG") + name + ")" : "");
  }
  // A shell reports a command that a signal ended as 128 + the signal.
  if (exit_code > 128 && exit_code < 128 + 65) {
    const int sig = exit_code - 128;
    const char* name = sigabbrev_np(sig);
    return "exit code " + std::to_string(exit_code) + " (signal " + std::to_string(sig) +
           (name ? std::string(", SIG") + name : "") + ")";
  }
  return "exit code " + std::to_string(exit_code);
}

std::string ShellResult::last_line() const {
  for (const std::string* text : {&stderr_text, &merged}) {
    std::size_t end = text->size();
    while (end > 0) {
      const std::size_t nl = text->rfind('\n', end - 1);
      const std::size_t begin = nl == std::string::npos ? 0 : nl + 1;
      std::string line = text->substr(begin, end - begin);
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
      if (!line.empty()) return line.size() > 300 ? line.substr(0, 300) + "..." : line;
      if (nl == std::string::npos) break;
      end = nl;
    }
  }
  return "";
}

std::string shell_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

ShellResult run_shell(const std::string& command, double timeout_s, const std::string& label) {
  int out[2] = {-1, -1};
  int err[2] = {-1, -1};
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    const int e = errno;
    for (int fd : {out[0], out[1], err[0], err[1]}) {
      if (fd >= 0) ::close(fd);
    }
    throw Error(ErrorKind::kIo, "", label, std::string("cannot create pipes: ") + std::strerror(e));
  }
  // Its own process group, so a timeout kills the shell and everything it started.
  pid_t pid = -1;
  const int rc = spawn_in_own_group({"/bin/sh", "-c", command}, -1, out[1], err[1], pid);
  ::close(out[1]);
  ::close(err[1]);
  if (rc != 0) {
    ::close(out[0]);
    ::close(err[0]);
    throw Error(ErrorKind::kIo, "", label, std::string("cannot start /bin/sh: ") + std::strerror(rc));
  }
  int fds[2] = {out[0], err[0]};
  for (int fd : fds) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);

  ShellResult result;
  // Clamped so that the deadline cannot overflow the clock (--timeout 1e300).
  const double bounded_s = std::min(std::max(timeout_s, 0.0), 1e8);
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(bounded_s));
  bool exited = false;
  Clock::time_point exited_at{};
  bool too_much = false;
  char buf[1 << 16];
  for (;;) {
    if (!exited && has_exited(pid)) {
      exited = true;
      exited_at = Clock::now();
    }
    if (exited && fds[0] < 0 && fds[1] < 0) break;
    const auto now = Clock::now();
    if (now >= deadline) {
      result.timed_out = !exited;
      break;
    }
    if (exited && now - exited_at > kExitGrace) break;  // a leftover holds the output open
    pollfd p[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1;
    // Short waits while the child runs: its exit is polled, not signalled.
    const int ready = ::poll(p, 2, static_cast<int>(std::min<long long>(left, 50)));
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i] < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = ::read(fds[i], buf, sizeof(buf));
      if (n > 0) {
        result.merged.append(buf, static_cast<std::size_t>(n));
        if (i == 1) {
          result.stderr_text.append(buf, static_cast<std::size_t>(n));
          if (result.stderr_text.size() > 2 * kStderrKeep) {
            result.stderr_text.erase(0, result.stderr_text.size() - kStderrKeep);
          }
        }
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        close_fd(fds[i]);
      }
    }
    if (result.merged.size() > kMaxOutput) {
      too_much = true;
      break;
    }
  }
  // Whatever is left of the group goes: the timed-out command, or the background
  // processes of one that exited. The leader is not reaped yet, so the group id is ours.
  ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  close_fd(fds[0]);
  close_fd(fds[1]);
  if (too_much) throw Error(ErrorKind::kIo, "", label, "the command printed more than 512 MiB; killed it");
  if (!result.timed_out) {
    if (WIFEXITED(status)) {
      result.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      result.signal = WTERMSIG(status);
    }
  }
  return result;
}

}  // namespace infercast::runtime
