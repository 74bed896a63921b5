// Starting a child process the way every external runner and device command is
// started: its own process group (so a timeout kills it and everything it started),
// an empty signal mask and default handling of SIGPIPE, SIGINT, SIGTERM and SIGHUP,
// whatever this process uses.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace infercast::runtime {

// Spawns argv[0] (looked up on PATH unless it contains a '/') with `stdin_fd`
// (-1 = /dev/null), `stdout_fd` and `stderr_fd` as its standard streams. Returns 0 and
// sets `pid`, or the error number posix_spawnp gave. The descriptors stay open here.
int spawn_in_own_group(std::vector<std::string> argv, int stdin_fd, int stdout_fd, int stderr_fd, pid_t& pid);

}  // namespace infercast::runtime
