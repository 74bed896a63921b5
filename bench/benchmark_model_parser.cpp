// Throughput of the benchmark_model output parser (src/runtime/process/benchmark_model_parser.cpp)
// on large op profiles, side by side with the floor of any line-based reader: finding
// every newline of the same buffer with memchr. Built and run by bench/benchmark_model_parser.sh.
//
// The profile is printed the way TensorFlow Lite prints it (stats_calculator.cc: tab +
// std::setw columns, fixed 3 decimals; or CSV): a Run Order of N nodes, the Top by
// Computation Time, the Summary by node type and the summary lines.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "infercast/runtime/benchmark_model.hpp"

namespace bm = infercast::runtime::benchmark_model;

namespace {

volatile std::size_t g_sink = 0;  // keeps the baseline scan from being optimized away

std::string profile(int rows, bool csv) {
  const char* types[] = {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "TfLiteXNNPackDelegate",
                         "Convolution (NHWC, F32) GEMM"};
  std::string out =
      "INFO: count=40 first=31250 curr=25110 min=24890 max=31250 avg=25602.1 std=911\n\n"
      "INFO: count=120 first=25331 curr=25102 min=24801 max=27433 avg=25211.4 std=402\n\n"
      "INFO: Inference timings in us: Init: 52687, First inference: 31250, Warmup (avg): 25602.1, Inference (avg): "
      "25211.4\n"
      "INFO: Operator-wise Profiling Info for Regular Benchmark Runs:\n";
  char line[512];
  auto table = [&](const char* title, int n) {
    out += std::string("============================== ") + title + " ==============================\n";
    out += csv ? "node type, start, first, avg_ms, %, cdf%, mem KB, times called, name\n"
               : "\t             [node type]\t          [start]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]"
                 "\t[times called]\t[Name]\n";
    double start = 0, cdf = 0;
    for (int i = 0; i < n; ++i) {
      const double avg = 0.011 + (i % 17) * 0.003;
      const double pct = 100.0 / rows;
      cdf += pct;
      const char* type = types[i % 5];
      const std::string name =
          "[model/block_" + std::to_string(i / 8) + "/layer_" + std::to_string(i) + "/Relu6]:" + std::to_string(i);
      if (csv) {
        std::snprintf(line, sizeof(line), "%s, %g, %g, %g, %g%%, %g%%, %g, %d, %s\n", type, start, avg * 1.1, avg, pct,
                      cdf, 0.0, 1, name.c_str());
      } else {
        std::snprintf(line, sizeof(line), "\t%24s\t%17.3f\t%9.3f\t%9.3f\t%7.3f%%\t%7.3f%%\t%10.3f\t%9d\t%s\n", type,
                      start, avg * 1.1, avg, pct, cdf, 0.0, 1, name.c_str());
      }
      out += line;
      start += avg;
    }
    out += "\n";
  };
  table("Run Order", rows);
  table("Top by Computation Time", std::min(rows, 10));
  out += "Number of nodes executed: " + std::to_string(rows) + "\n";
  out += "============================== Summary by node type ==============================\n";
  out +=
      csv ? "node type, count, avg_ms, avg %, cdf %, mem KB, times called\n"
          : "\t             [Node type]\t  [count]\t  [avg ms]\t    [avg %]\t    [cdf %]\t  [mem KB]\t[times called]\n";
  for (int t = 0; t < 5; ++t) {
    if (csv) {
      std::snprintf(line, sizeof(line), "%s, %d, %g, %g%%, %g%%, %g, %d\n", types[t], rows / 5, 1.5, 20.0,
                    20.0 * (t + 1), 0.0, rows / 5);
    } else {
      std::snprintf(line, sizeof(line), "\t%24s\t%9d\t%10.3f\t%10.3f%%\t%10.3f%%\t%10.3f\t%9d\n", types[t], rows / 5,
                    1.5, 20.0, 20.0 * (t + 1), 0.0, rows / 5);
    }
    out += line;
  }
  out += "\nTimings (microseconds): count=120 first=26001 curr=24999 min=24700 max=27100 avg=25100.2 std=390\n";
  out += "Memory (bytes): count=0\n" + std::to_string(rows) + " nodes observed\n\n";
  return out;
}

// Median seconds per call of `fn` over at least `min_runs` calls and 1 s, after 3 warm-ups.
template <typename Fn>
double median_seconds(Fn fn, int min_runs = 20) {
  for (int i = 0; i < 3; ++i) fn();
  std::vector<double> samples;
  const auto begin = std::chrono::steady_clock::now();
  while (static_cast<int>(samples.size()) < min_runs ||
         std::chrono::steady_clock::now() - begin < std::chrono::seconds(1)) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    samples.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::atoi(argv[i]));
  if (sizes.empty()) sizes = {2000, 20000};
  std::printf("%-8s %-8s %10s %12s %12s %14s %8s\n", "format", "rows", "bytes", "parse ms", "parse MB/s", "memchr MB/s",
              "ratio");
  for (int rows : sizes) {
    for (bool csv : {false, true}) {
      const std::string text = profile(rows, csv);
      std::size_t layers = 0;
      const double parse_s = median_seconds([&] {
        const bm::Output out = bm::parse(text);
        layers = bm::to_run_result(out, true).layers.size();
      });
      if (layers != static_cast<std::size_t>(rows)) {
        std::fprintf(stderr, "parsed %zu layers, expected %d\n", layers, rows);
        return 1;
      }
      const double scan_s = median_seconds([&] {
        std::size_t newlines = 0;
        for (const char* p = text.data();
             (p = static_cast<const char*>(std::memchr(p, '\n', text.data() + text.size() - p))); ++p) {
          ++newlines;
        }
        g_sink = newlines;
      });
      const double mb = static_cast<double>(text.size()) / 1e6;
      std::printf("%-8s %-8d %10zu %12.3f %12.1f %14.1f %7.1fx\n", csv ? "csv" : "aligned", rows, text.size(),
                  parse_s * 1e3, mb / parse_s, mb / scan_s, parse_s / scan_s);
    }
  }
  return 0;
}
