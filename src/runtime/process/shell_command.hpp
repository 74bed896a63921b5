// Runs one shell command to completion with a deadline and captures what it prints:
// the device runner's way of reaching a phone (adb push, adb shell benchmark_model ...).
// Unlike RunnerProcess (a long-lived JSON-lines runner), nothing is written to the
// command: its stdin is /dev/null, so an adb that reads stdin cannot hang on ours.
#pragma once

#include <string>
#include <string_view>

namespace infercast::runtime {

struct ShellResult {
  bool timed_out = false;   // the deadline passed; the process group was killed
  int exit_code = -1;       // when it exited
  int signal = 0;           // when a signal ended it
  std::string merged;       // stdout and stderr, in the order they arrived
  std::string stderr_text;  // stderr alone (its last 64 KiB)

  bool ok() const { return !timed_out && signal == 0 && exit_code == 0; }
  // "exit code 3", "killed by signal 11 (SIGSEGV)", "timed out".
  std::string status() const;
  // The last non-blank line of stderr, else of stdout; "" when it printed nothing.
  std::string last_line() const;
};

// Runs `/bin/sh -c command` in its own process group. Returns when the command has
// exited and its output has closed (a background process that keeps the output open
// past 2 s after the command exits is killed with its group), or when `timeout_s`
// passes (the whole group is killed; timed_out is set). Throws Error(kIo) naming
// `label` when the command cannot be started or prints more than 512 MiB.
ShellResult run_shell(const std::string& command, double timeout_s, const std::string& label);

// `s` as one word for a POSIX shell: single-quoted, with ' written as '\''.
std::string shell_quote(std::string_view s);

}  // namespace infercast::runtime
