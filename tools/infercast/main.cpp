// infercast: what a neural network costs to run.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "commands.hpp"
#include "infercast/base/error.hpp"
#include "infercast/bench/bench.hpp"

namespace infercast::cli {

namespace {
extern "C" void request_bench_stop(int) {
  bench::request_stop();
}
}  // namespace

StopBenchOnSigint::StopBenchOnSigint() {
  struct sigaction sa {};
  sa.sa_handler = request_bench_stop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
}

StopBenchOnSigint::~StopBenchOnSigint() {
  std::signal(SIGINT, SIG_DFL);
}

double parse_duration_s(const std::string& text, const std::string& option) {
  if (text.empty()) return 0;
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  const std::string unit = text.substr(used);
  const double scale = unit.empty() || unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : -1;
  if (used == 0 || scale < 0 || !(value >= 0)) {
    throw Error(ErrorKind::kInvalidArgument, option, text, "expected a duration such as 90s, 10m or 1h");
  }
  return value * scale;
}

void write_output(const std::string& path, const std::string& text) {
  if (path.empty() || path == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return;
  }
  // A regular file is replaced atomically (write beside it, then rename); anything
  // else (/dev/null, a FIFO, a terminal) is written in place, never replaced.
  std::error_code status_error;
  const auto status = std::filesystem::status(path, status_error);
  if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
    std::ofstream out(path, std::ios::binary);
    out << text;
    if (!out) throw Error(ErrorKind::kIo, path, "", "cannot write output");
    return;
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    if (!out) throw Error(ErrorKind::kIo, path, "", "cannot write output");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw Error(ErrorKind::kIo, path, "", "cannot write output: " + ec.message());
}

}  // namespace infercast::cli

int main(int argc, char** argv) {
  CLI::App app{"infercast: what a neural network costs to run (params, memory, MACs, traffic, latency)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "infercast 0.1.0");
  infercast::cli::Action action;
  infercast::cli::register_analyze(app, action);
  infercast::cli::register_ops(app, action);
  infercast::cli::register_run(app, action);
  infercast::cli::register_verify(app, action);
  infercast::cli::register_export(app, action);
  infercast::cli::register_train(app, action);
  infercast::cli::register_predict(app, action);
  infercast::cli::register_validate(app, action);
  infercast::cli::register_profile(app, action);
  infercast::cli::register_bench(app, action);
  infercast::cli::register_db(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One line, like every other error; `--help` shows the usage.
    std::cerr << "infercast: error: " << e.what() << " (see --help)\n";
    return 2;
  }
  try {
    return action ? action() : 0;
  } catch (const infercast::Error& e) {
    std::cerr << "infercast: error: " << e.what() << "\n";
    return 2;
  } catch (const std::bad_alloc&) {
    std::cerr << "infercast: error: out of memory\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "infercast: error: " << e.what() << "\n";
    return 2;
  }
}
