// TensorFlow Lite's `benchmark_model` tool, read from its text output. infercast reaches
// phones only through commands (adb shell ...), so what the tool prints is all it gets;
// this parser turns that text into the timing rows every runtime reports (RunResult).
//
// Understood, in every TFLite version since 1.12 (the formats are those of
// tensorflow/lite/tools/benchmark/benchmark_model.cc, tensorflow/core/util/stats_calculator
// and tensorflow/lite/profiling/profile_summary_formatter):
//   - the summary line, current and legacy:
//       "Inference timings in us: Init: 52687, First inference: 19105, Warmup (avg): 14452.5, Inference (avg): 14290.9"
//       "Average inference timings in us: Warmup: 83235, Init: 38467, Inference: 79760.9"   (also "no stats: ...")
//   - the Stat<int64_t> lines of the warm-up and the timed runs:
//       "count=50 first=118810 curr=114219 min=88216 max=129193 avg=115062 std=7678",
//       "count=1 curr=146161", "count=64 curr=1500(all same)", "count=0"
//   - the op-profiling tables (--enable_op_profiling=true), aligned or CSV
//     (--profiling_output_csv_file), with or without the [start] column: "Run Order",
//     "Top by Computation Time", "Top by Memory Use", "Summary by node type", their
//     "Timings (microseconds): ..." summaries, the initialization section, subgraph
//     sections and the "Delegate internal:" section;
//   - the log prefixes of the tool ("INFO: ") and of logcat ("... I tflite  : ").
// Any other line is the tool's or the transport's chatter and is skipped, except inside
// a table, where every line must be a row.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "infercast/runtime/runtime.hpp"

namespace infercast::runtime::benchmark_model {

inline constexpr double kMissing = std::numeric_limits<double>::quiet_NaN();

// One Stat<int64_t> line, in microseconds, as printed. A field the line does not print
// is NaN: "count=N curr=X(all same)" prints only X (then min = max = avg = X, std = 0 are
// filled in, which is exact), "count=0" prints nothing.
struct RunStats {
  std::int64_t count = 0;
  double first_us = kMissing;
  double curr_us = kMissing;
  double min_us = kMissing;
  double max_us = kMissing;
  double avg_us = kMissing;
  double std_us = kMissing;     // population standard deviation, truncated to whole us by the tool
  double median_us = kMissing;  // only StatWithPercentiles prints "median="; benchmark_model does not
};

// Which part of the profiling output a table belongs to.
enum class Section {
  kRegular,           // "Operator-wise Profiling Info for Regular Benchmark Runs:" (or no header: TFLite < 2.2)
  kInit,              // "Profiling Info for Benchmark Initialization:"
  kDelegateInternal,  // "Delegate internal:" (ops inside a delegate, already inside its partition's time)
};

// One row of a profiling table. Columns a table does not have are NaN (or empty).
struct ProfileRow {
  std::string type;            // "CONV_2D", "TfLiteXNNPackDelegate", "Convolution (NHWC, QC8) GEMM"
  std::string name;            // as printed: "[MobilenetV2/Conv/Relu6]:0"; empty in "Summary by node type"
  double start_ms = kMissing;  // [start] column (TFLite 2.x before it was removed); avg start offset in a run
  double first_ms = kMissing;  // the node's first call
  double avg_ms = kMissing;    // per call, averaged over all calls
  double percent = kMissing;   // share of the run total
  double cdf_percent = kMissing;
  double mem_kb = kMissing;
  std::int64_t times_called = 0;  // per run (the tool's integer division)
  std::int64_t count = 0;         // "Summary by node type": nodes of this type
};

struct ProfileTable {
  Section section = Section::kRegular;
  int subgraph = 0;   // 0 = primary graph
  std::string title;  // "Run Order", "Top by Computation Time", "Top by Memory Use", "Summary by node type"
  bool csv = false;
  bool has_start = false;
  std::vector<ProfileRow> rows;
};

// The short summary after a section's tables ("Timings (microseconds): count=50 ...").
struct ProfileTotals {
  Section section = Section::kRegular;
  int subgraph = 0;
  RunStats timings;
};

struct Output {
  // The summary line (both formats fill the same fields; the legacy one has no first
  // inference). Warm-up average is absent when no warm-up ran ("nan").
  bool legacy_summary = false;
  std::optional<double> init_us;
  std::optional<double> first_inference_us;
  std::optional<double> warmup_avg_us;
  std::optional<double> inference_avg_us;
  // Stat lines in output order: the warm-up's, then the timed runs'.
  std::vector<RunStats> runs;
  std::vector<ProfileTable> tables;
  std::vector<ProfileTotals> totals;
  std::string version;     // "" unless the output names the TFLite version
  int threads = 0;         // "Num threads: [4]"; 0 when not printed or -1 (the tool's default)
  std::string last_error;  // the last "ERROR:"/"FATAL:" line, for messages
  std::string last_line;   // the last non-blank line, for messages
};

// Parses benchmark_model's output (stdout and stderr together, or a CSV profile file).
// `source` is the file errors name (the model the output is about, say). Throws
// Error(kIo) naming "benchmark_model output line N" and quoting the line, for: a summary
// or count= line that does not parse, a table line that is not a row, two summary lines
// (two runs interleaved), control characters (binary garbage), numbers that are negative,
// not finite or absurd (more than a day), min > max or avg outside [min, max], a count=
// line that disagrees with the summary, a Run Order table cut short ("Number of nodes
// executed" or its "Timings" line missing), and output with no result at all: no
// summary, no count= line, no table (quoting the last line, which usually says why the
// tool failed). A CSV profile file alone parses (tables only).
Output parse(std::string_view text, const std::string& source = "");

// The timing rows of a parsed output, in the units and shape of every runtime:
//   latency_ms: from the timed runs' count= line. Exact (to the tool's printing): n, min,
//     max, mean. Derived: std (the tool's population std, truncated to whole us, scaled by
//     sqrt(n/(n-1)) to the sample std infercast reports), cv = std / mean, and median,
//     which benchmark_model does not print: it is the mean (the printed median when a
//     future tool prints one).
//   layers (when `per_layer`): the primary graph's Run Order of the timed runs, in
//     execution order. Delegate partitions (TfLiteXNNPackDelegate, TfLiteGpuDelegateV2,
//     ...) are one node each; the ops a delegate reports inside itself are dropped when
//     their partition has a row (their time is inside it) and kept otherwise (newer
//     XNNPACK builds report only those). Per layer: n = profiled runs (exact); mean =
//     avg per call x calls per run (exact for one call per run; percent x run average
//     when the tool's integer "times called" is 0); median = mean (derived); min, max,
//     std, cv are not printed: NaN.
// Throws Error(kIo) when the output has no summary line (the run did not finish) or no
// count= line for the timed runs, and
// Error(kUnsupported) when `per_layer` is asked and the output has no Run Order table
// (the command lacks --enable_op_profiling=true).
RunResult to_run_result(const Output& output, bool per_layer, const std::string& source = "");

}  // namespace infercast::runtime::benchmark_model
