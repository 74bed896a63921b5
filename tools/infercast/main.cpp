// infercast: what a neural network costs to run.
#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

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

namespace {

std::string fmt_fixed(double v, int digits) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", digits, v);
  return text;
}

}  // namespace

std::string composition_line(const predict::Composition& c) {
  if (c.networks == 0) return "composition: none (profile --network-share, train --composition)\n";
  std::string scales;
  for (const auto& [group, s] : c.scale) scales += " " + group + " x" + fmt_fixed(s, 3);
  auto quality = [&](const char* key) {
    const nlohmann::json q = c.quality.value(key, nlohmann::json::object());
    return fmt_fixed(100 * q.value("within10", 0.0), 0) + "% within 10%, median error " +
           fmt_fixed(q.value("median_abs_pct", 0.0), 1) + "%";
  };
  std::string chosen;
  if (c.quality.contains("select")) {
    const nlohmann::json& s = c.quality.at("select");
    auto error = [&](const char* fit) {
      return fmt_fixed(s.value(fit, nlohmann::json::object()).value("median_abs_pct", 0.0), 1);
    };
    chosen = std::string("; ") + (c.fit == "convs" ? "the convolutions' scales kept" : "the per-operator cost alone") +
             " (leave-one-out median error " + error("convs") + "% with the scales, " + error("cost") + "% without)";
  }
  return "composition (" + std::to_string(c.networks) + " synthetic networks):" + scales + ", +" +
         fmt_fixed(1000 * c.per_kernel_ms, 2) + " us per kernel; networks " + quality("before") +
         " from kernels alone, " + quality("after_loo") + " composed (leave-one-out)" + chosen + "\n";
}

std::string host_speed_line(const nlohmann::json& profile) {
  if (!profile.is_object() || !profile.contains("host_speed")) return "";
  const nlohmann::json& h = profile["host_speed"];
  return "host speed: " + std::to_string(h.value("readings", 0)) + " reference readings, 10th-90th percentile " +
         fmt_fixed(h.value("p10", 1.0), 2) + "-" + fmt_fixed(h.value("p90", 1.0), 2) + " of their median; " +
         (h.value("applied", false) ? "kernel times divided by the host's speed around each kernel"
                                    : "kernel times as measured") +
         "\n";
}

std::string cold_scale_line(const predict::Bundle& bundle) {
  if (!bundle.profile.contains("cold_chains"))
    return "cold weights inside a model: not measured (profile --budget 10m or more measures them)\n";
  std::string text =
      "cold weights inside a model (weight chains), scale of the flushed excess at output positions (conv: pixels; "
      "fc: rows):";
  for (const char* family : {"conv", "fc"}) {
    const auto it = bundle.families.find(family);
    if (it == bundle.families.end() || it->second.cold_scale.empty()) continue;
    text += std::string(" ") + family;
    for (const auto& [x, scale] : it->second.cold_scale)
      text += " x" + fmt_fixed(scale, 2) + " at " + fmt_fixed(std::exp2(x), 0) + ",";
    text.pop_back();
    text += ";";
  }
  return text + "\n";
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

namespace {

// When the first argument is meant as a subcommand (not an option) but names none,
// the one-line error naming it, the closest real command and the list of real ones;
// empty otherwise. CLI11 alone would answer "A subcommand is required".
std::string unknown_command(CLI::App& app, int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-' || argv[1][0] == '\0') return {};
  const std::string given = argv[1];
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->get_name() == given) return {};
    names.push_back(sub->get_name());
  }
  // Levenshtein distance: suggest a command one or two edits away (analyse -> analyze).
  auto distance = [](const std::string& a, const std::string& b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
      std::size_t diagonal = row[0];
      row[0] = i;
      for (std::size_t j = 1; j <= b.size(); ++j) {
        const std::size_t above = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
        diagonal = above;
      }
    }
    return row[b.size()];
  };
  std::string closest;
  std::size_t best = 3;
  std::string list;
  for (const std::string& name : names) {
    list += (list.empty() ? "" : ", ") + name;
    const std::size_t d = distance(given, name);
    if (d < best) {
      best = d;
      closest = name;
    }
  }
  return "unknown command '" + given + "'" + (closest.empty() ? "" : " (did you mean '" + closest + "'?)") +
         "; commands: " + list + " (see --help)";
}

}  // namespace

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
  infercast::cli::register_transform(app, action);
  infercast::cli::register_report(app, action);
  infercast::cli::register_quantize(app, action);
  if (const std::string unknown = infercast::cli::unknown_command(app, argc, argv); !unknown.empty()) {
    std::cerr << "infercast: error: " << unknown << "\n";
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One line, like every other error; `--help` shows the usage.
    std::cerr << "infercast: error: " << e.what() << " (see --help)\n";
    return 2;
  }
  int code = 2;
  try {
    code = action ? action() : 0;
  } catch (const infercast::Error& e) {
    std::cerr << "infercast: error: " << e.what() << "\n";
  } catch (const std::bad_alloc&) {
    std::cerr << "infercast: error: out of memory\n";
  } catch (const std::exception& e) {
    std::cerr << "infercast: error: " << e.what() << "\n";
  }
  // Leave without static destructors: tearing down ONNX's schema registry (every
  // opset's schemas) costs about a tenth of `analyze resnet50`. The action has closed
  // every file and database it opened by now; only the standard streams need flushing.
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  std::_Exit(code);
}
