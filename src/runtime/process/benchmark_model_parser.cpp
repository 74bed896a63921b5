// benchmark_model's text output -> Output -> RunResult. One pass over the lines, no
// regular expressions (profiles of large models are tens of thousands of lines): a line
// is classified by its prefix, tables are read row by row until their blank line.
//
// Table rows are matched by their numeric columns, not by splitting on one separator:
// node types contain spaces and commas ("Convolution (NHWC, QC8) GEMM"), node names
// contain ", " ("[out1, out2]:71"), and pasted output often has its tabs turned into
// spaces. The row is "<type> <numbers...> <name>" with a fixed pattern of numbers, so
// the first place where that pattern fits splits the type from the name.
#include <charconv>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "infercast/base/error.hpp"
#include "infercast/runtime/benchmark_model.hpp"

namespace infercast::runtime::benchmark_model {
namespace {

constexpr double kMaxUs = 86400e6;  // a day: no single inference or init takes longer
constexpr double kMaxMs = kMaxUs / 1000;
constexpr double kMaxPercent = 1e6;  // percentages are shares; anything near this is garbage
constexpr double kMaxMemKb = 1e12;
constexpr std::int64_t kMaxCount = 1'000'000'000;

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// A printable, bounded excerpt of a line for one-line messages.
std::string quote(std::string_view line) {
  constexpr std::size_t kLimit = 160;
  std::string out = "'";
  for (char c : line.substr(0, kLimit)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? (c == '\t' ? ' ' : '?') : c;
  }
  if (line.size() > kLimit) out += "...";
  return out + "'";
}

// Strict: the whole text is the number. from_chars also reads "nan" and "inf"; callers
// check ranges, which refuses both.
bool to_double(std::string_view s, double& out) {
  if (s.empty() || s.front() == '+') return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

bool to_int(std::string_view s, std::int64_t& out) {
  if (s.empty()) return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

bool in_range(double v, double max) {
  return std::isfinite(v) && v >= 0 && v <= max;
}

bool is_nan_text(std::string_view s) {
  return s == "nan" || s == "-nan" || s == "NaN" || s == "-NaN";
}

// Relative agreement of two numbers the tool printed with 6 significant digits.
bool agree(double a, double b) {
  return std::fabs(a - b) <= 1e-5 * std::max(std::fabs(a), std::fabs(b)) + 1e-9;
}

// A token of a table row and where it starts and ends in the line.
struct Token {
  std::string_view text;
  std::size_t begin = 0;
  std::size_t end = 0;
};

enum class Kind { kNumber, kPercent, kInt };

constexpr Kind kNodeWithStart[] = {Kind::kNumber,  Kind::kNumber, Kind::kNumber, Kind::kPercent,
                                   Kind::kPercent, Kind::kNumber, Kind::kInt};
constexpr Kind kNodeNoStart[] = {Kind::kNumber,  Kind::kNumber, Kind::kPercent,
                                 Kind::kPercent, Kind::kNumber, Kind::kInt};
constexpr Kind kByType[] = {Kind::kInt, Kind::kNumber, Kind::kPercent, Kind::kPercent, Kind::kNumber, Kind::kInt};

bool token_matches(std::string_view t, Kind kind) {
  if (kind == Kind::kPercent) {
    if (t.size() < 2 || t.back() != '%') return false;
    t.remove_suffix(1);
  }
  if (t.empty()) return false;
  const char c = t.front();
  if (!(c >= '0' && c <= '9') && c != '-' && c != '.' && c != 'n' && c != 'i' && c != 'N') return false;
  if (kind == Kind::kInt) {
    std::int64_t v = 0;
    return to_int(t, v);
  }
  double v = 0;
  return to_double(t, v);
}

class Parser {
 public:
  Parser(std::string_view text, const std::string& source) : text_(text), source_(source) {}

  Output parse() {
    std::size_t pos = 0;
    while (pos < text_.size()) {
      std::size_t nl = text_.find('\n', pos);
      if (nl == std::string_view::npos) nl = text_.size();
      line_ = text_.substr(pos, nl - pos);
      if (!line_.empty() && line_.back() == '\r') line_.remove_suffix(1);
      ++line_no_;
      pos = nl + 1;
      check_bytes();
      if (table_ >= 0) {
        table_line();
      } else {
        plain_line();
      }
      if (!trim(line_).empty()) {
        last_line_ = line_;
        last_line_no_ = line_no_;
      }
    }
    if (table_ >= 0 && awaiting_header_) {
      fail_at(last_line_no_, last_line_, "output ends after a table title, before its header (truncated?)");
    }
    finish();
    return std::move(out_);
  }

 private:
  [[noreturn]] void fail_at(std::size_t line_no, std::string_view line, const std::string& reason) const {
    throw Error(ErrorKind::kIo, source_, "benchmark_model output line " + std::to_string(line_no),
                reason + ": " + quote(line));
  }
  [[noreturn]] void fail(const std::string& reason) const { fail_at(line_no_, line_, reason); }

  void check_bytes() const {
    for (char c : line_) {
      const auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\t') || u == 0x7f) fail("control characters in the output (binary or garbled)");
    }
  }

  // The message without the tool's log prefix ("INFO: ") or logcat's ("11-22 ... I tflite  : ").
  std::string_view body_of(std::string_view line) {
    std::string_view body = line;
    if (const auto t = body.find(" tflite"); t != std::string_view::npos) {
      const auto colon = body.find(": ", t + 7);
      if (colon != std::string_view::npos && trim(body.substr(t + 7, colon - t - 7)).empty()) {
        body = body.substr(colon + 2);
      }
    }
    for (std::string_view prefix : {"INFO: ", "WARN: ", "WARNING: ", "VERBOSE: ", "ERROR: ", "FATAL: "}) {
      if (starts_with(body, prefix)) {
        if (prefix == "ERROR: " || prefix == "FATAL: ") out_.last_error = std::string(trim(body));
        body.remove_prefix(prefix.size());
        break;
      }
    }
    return trim(body);
  }

  void plain_line() {
    const std::string_view body = body_of(line_);
    if (body.empty()) return;
    if (starts_with(body, "=====")) return open_table(body);
    if (body.find("Profiling Info for Benchmark Initialization:") != std::string_view::npos) {
      section_ = Section::kInit;
      subgraph_ = 0;
    } else if (body.find("Operator-wise Profiling Info for Regular Benchmark Runs:") != std::string_view::npos) {
      section_ = Section::kRegular;
      subgraph_ = 0;
    } else if (starts_with(body, "Delegate internal:")) {
      section_ = Section::kDelegateInternal;
      subgraph_ = 0;
    } else if (starts_with(body, "Primary graph ") && body.back() == ':') {
      subgraph_ = 0;
    } else if (starts_with(body, "Subgraph (index: ")) {
      subgraph_line(body);
    } else if (starts_with(body, "Timings (microseconds): ")) {
      totals_line(subgraph_, body.substr(std::strlen("Timings (microseconds): ")));
    } else if (starts_with(body, "Number of nodes executed: ")) {
      std::int64_t n = 0;
      if (!to_int(trim(body.substr(std::strlen("Number of nodes executed: "))), n) || n < 0 || n > kMaxCount) {
        fail("unreadable node count");
      }
      nodes_executed_[{static_cast<int>(section_), subgraph_}] = n;
    } else if (starts_with(body, "count=")) {
      if (summary_line_no_ != 0) fail("a count= line after the summary line (two runs interleaved?)");
      out_.runs.push_back(parse_stats(body));
      run_lines_.push_back({line_no_, line_});
    } else if (const auto p = body.find("Average inference timings in us:"); p != std::string_view::npos) {
      summary(body.substr(p + std::strlen("Average inference timings in us:")), true);
    } else if (const auto q = body.find("Inference timings in us:"); q != std::string_view::npos) {
      summary(body.substr(q + std::strlen("Inference timings in us:")), false);
    } else if (starts_with(body, "Num threads: [")) {
      std::int64_t n = 0;
      const std::string_view v = body.substr(std::strlen("Num threads: ["));
      if (v.empty() || v.back() != ']' || !to_int(v.substr(0, v.size() - 1), n) || n < -1 || n > 4096) {
        fail("unreadable thread count");
      }
      out_.threads = n > 0 ? static_cast<int>(n) : 0;
    } else {
      version_line(body);
    }
  }

  void subgraph_line(std::string_view body) {
    const std::string_view rest = body.substr(std::strlen("Subgraph (index: "));
    const auto close = rest.find(')');
    std::int64_t index = 0;
    if (close == std::string_view::npos || !to_int(rest.substr(0, close), index) || index < 0 || index > kMaxCount) {
      fail("unreadable subgraph index");
    }
    const std::string_view tail = trim(rest.substr(close + 1));
    if (starts_with(tail, "Timings (microseconds): ")) {
      totals_line(static_cast<int>(index), tail.substr(std::strlen("Timings (microseconds): ")));
    } else if (!tail.empty() && tail.back() == ':') {
      subgraph_ = static_cast<int>(index);
    }
    // Other "Subgraph (index: N) ..." lines ("Memory (bytes)", "N nodes observed") carry nothing.
  }

  void totals_line(int subgraph, std::string_view stats) {
    out_.totals.push_back({section_, subgraph, parse_stats(stats)});
    totals_keys_.insert({static_cast<int>(section_), subgraph});
  }

  // "count=50 first=118810 curr=114219 min=88216 max=129193 avg=115062 std=7678",
  // "count=1 curr=146161", "count=64 curr=1500(all same)", "count=0".
  RunStats parse_stats(std::string_view text) {
    RunStats s;
    std::set<std::string_view> seen;
    bool all_same = false;
    text = trim(text);
    if (text.size() > 10 && text.substr(text.size() - 10) == "(all same)") {
      all_same = true;
      text.remove_suffix(10);
    }
    std::size_t pos = 0;
    while (pos < text.size()) {
      while (pos < text.size() && text[pos] == ' ') ++pos;
      if (pos >= text.size()) break;
      std::size_t end = text.find(' ', pos);
      if (end == std::string_view::npos) end = text.size();
      const std::string_view item = text.substr(pos, end - pos);
      pos = end;
      const auto eq = item.find('=');
      if (eq == std::string_view::npos) fail("a count= line with '" + std::string(item.substr(0, 40)) + "'");
      const std::string_view key = item.substr(0, eq);
      const std::string_view value = item.substr(eq + 1);
      if (!seen.insert(key).second) fail("a count= line with '" + std::string(key) + "' twice");
      if (key == "count") {
        if (!to_int(value, s.count) || s.count < 0 || s.count > kMaxCount) fail("a count= line with a bad count");
        continue;
      }
      double v = 0;
      if (!to_double(value, v) || !in_range(v, kMaxUs)) {
        fail("a count= line with " + std::string(key) + "=" + std::string(value.substr(0, 40)) +
             " (negative, not a number or more than a day)");
      }
      if (key == "first") {
        s.first_us = v;
      } else if (key == "curr") {
        s.curr_us = v;
      } else if (key == "min") {
        s.min_us = v;
      } else if (key == "max") {
        s.max_us = v;
      } else if (key == "avg") {
        s.avg_us = v;
      } else if (key == "std") {
        s.std_us = v;
      } else if (key == "median") {
        s.median_us = v;
      } else if (key != "p5" && key != "p95") {
        fail("a count= line with an unknown field '" + std::string(key) + "'");
      }
    }
    if (!seen.count("count")) fail("a count= line without count");
    const bool full = seen.count("first") || seen.count("min") || seen.count("max") || seen.count("avg");
    if (s.count == 0) {
      if (seen.size() != 1) fail("a count=0 line with values");
      return s;
    }
    if (!full) {
      // Stat::OutputToStream prints only curr when every sample was the same.
      if (seen.size() != 2 || !std::isfinite(s.curr_us)) fail("a count= line without curr= or avg=");
      if (s.count > 1 && !all_same) fail("a count= line with several samples but only curr= (truncated?)");
      s.first_us = s.min_us = s.max_us = s.avg_us = s.curr_us;
      s.std_us = 0;
      return s;
    }
    for (const char* key : {"first", "curr", "min", "max", "avg", "std"}) {
      if (!seen.count(key)) fail(std::string("a count= line without ") + key + "= (truncated?)");
    }
    if (s.count < 2) fail("a count= line with one sample and a spread");
    const double slack = 1e-5 * s.max_us + 1e-9;
    if (s.min_us > s.max_us) fail("a count= line with min > max");
    for (double v : {s.first_us, s.curr_us, s.avg_us}) {
      if (v < s.min_us - slack || v > s.max_us + slack) fail("a count= line with a value outside [min, max]");
    }
    if (s.std_us > s.max_us - s.min_us + 1) fail("a count= line with std larger than max - min");
    return s;
  }

  // After "...timings in us:": "Init: 52687, First inference: 19105, Warmup (avg): 14452.5,
  // Inference (avg): 14290.9" or, legacy, "Warmup: 83235, Init: 38467, Inference: 79760.9".
  void summary(std::string_view items, bool legacy) {
    if (summary_line_no_ != 0) {
      fail("a second summary line (line " + std::to_string(summary_line_no_) +
           " has one): two runs interleaved in one output");
    }
    summary_line_no_ = line_no_;
    out_.legacy_summary = legacy;
    std::set<std::string> seen;
    std::size_t pos = 0;
    while (pos <= items.size()) {
      std::size_t end = items.find(',', pos);
      if (end == std::string_view::npos) end = items.size();
      const std::string_view item = trim(items.substr(pos, end - pos));
      pos = end + 1;
      if (item.empty()) fail("a summary line with an empty field");
      const auto colon = item.rfind(':');
      if (colon == std::string_view::npos) fail("a summary line with a field that has no value");
      const std::string key(trim(item.substr(0, colon)));
      const std::string_view value = trim(item.substr(colon + 1));
      if (!seen.insert(key).second) fail("a summary line with '" + key + "' twice");
      std::optional<double>* field = nullptr;
      if (key == "Init") {
        field = &out_.init_us;
      } else if (!legacy && key == "First inference") {
        field = &out_.first_inference_us;
      } else if ((!legacy && key == "Warmup (avg)") || (legacy && key == "Warmup")) {
        field = &out_.warmup_avg_us;
      } else if ((!legacy && key == "Inference (avg)") || (legacy && (key == "Inference" || key == "no stats"))) {
        field = &out_.inference_avg_us;
      } else {
        fail("a summary line with an unknown field '" + key + "'");
      }
      if (field == &out_.warmup_avg_us && is_nan_text(value)) continue;  // no warm-up run
      double v = 0;
      if (!to_double(value, v) || !in_range(v, kMaxUs)) {
        fail("a summary line with " + key + ": " + std::string(value.substr(0, 40)) +
             " (negative, not a number or more than a day)");
      }
      *field = v;
    }
    if (!out_.init_us || !out_.inference_avg_us || (!legacy && !seen.count("First inference"))) {
      fail("a summary line without " +
           std::string(!out_.init_us            ? "Init"
                       : !out_.inference_avg_us ? "Inference"
                                                : "First inference") +
           " (truncated?)");
    }
  }

  void version_line(std::string_view body) {
    if (body.find("version") == std::string_view::npos && body.find("Version") == std::string_view::npos) return;
    if (body.find("TFLite") == std::string_view::npos && body.find("TensorFlow Lite") == std::string_view::npos &&
        body.find("LiteRT") == std::string_view::npos) {
      return;
    }
    // The first token that starts with a digit and has a dot: "2.14.0", "[2.16.1]".
    std::size_t pos = 0;
    while (pos < body.size()) {
      while (pos < body.size() && (body[pos] == ' ' || body[pos] == '[' || body[pos] == ':')) ++pos;
      std::size_t end = pos;
      while (end < body.size() && body[end] != ' ' && body[end] != ']' && body[end] != ',') ++end;
      std::string_view token = body.substr(pos, end - pos);
      while (!token.empty() && token.back() == '.') token.remove_suffix(1);
      if (!token.empty() && token.front() >= '0' && token.front() <= '9' && token.find('.') != std::string_view::npos &&
          token.size() <= 40) {
        out_.version = std::string(token);
        return;
      }
      pos = end + 1;
    }
  }

  // "============================== Run Order ==============================".
  void open_table(std::string_view body) {
    std::string_view title = body;
    while (!title.empty() && title.front() == '=') title.remove_prefix(1);
    while (!title.empty() && title.back() == '=') title.remove_suffix(1);
    title = trim(title);
    if (title != "Run Order" && title != "Top by Computation Time" && title != "Top by Memory Use" &&
        title != "Summary by node type") {
      fail("an unknown profiling table");
    }
    // A set, not a scan of the tables: hostile output can hold many thousands of them.
    if (!table_keys_.insert({static_cast<int>(section_), subgraph_, std::string(title)}).second) {
      fail("a second '" + std::string(title) + "' table in one section (two profiles interleaved?)");
    }
    ProfileTable table;
    table.section = section_;
    table.subgraph = subgraph_;
    table.title = std::string(title);
    out_.tables.push_back(std::move(table));
    table_ = static_cast<int>(out_.tables.size()) - 1;
    table_line_no_ = line_no_;
    awaiting_header_ = true;
  }

  void table_line() {
    ProfileTable& table = out_.tables[static_cast<std::size_t>(table_)];
    const std::string_view text = trim(line_);
    if (text.empty()) {
      if (awaiting_header_) fail("a table title without a header");
      table_ = -1;
      return;
    }
    const bool by_type = table.title == "Summary by node type";
    if (awaiting_header_) {
      awaiting_header_ = false;
      if (starts_with(text, "node type,")) {
        table.csv = true;
        const bool ok =
            by_type ? starts_with(text, "node type, count, avg_ms")
                    : text.find("avg_ms") != std::string_view::npos && text.find("name") != std::string_view::npos;
        if (!ok) fail("a CSV table header that does not match its title");
        table.has_start = !by_type && text.find(", start,") != std::string_view::npos;
      } else if (text.find("ode type]") != std::string_view::npos) {  // [node type] / [Node type]
        const bool ok =
            by_type ? text.find("[count]") != std::string_view::npos
                    : text.find("[avg ms]") != std::string_view::npos && text.find("[Name]") != std::string_view::npos;
        if (!ok) fail("a table header that does not match its title");
        table.has_start = !by_type && text.find("[start]") != std::string_view::npos;
      } else {
        fail("a profiling table without its header line");
      }
      return;
    }
    table.rows.push_back(parse_row(table, by_type));
  }

  ProfileRow parse_row(const ProfileTable& table, bool by_type) {
    tokens_.clear();
    const std::string_view line = line_;
    if (table.csv) {
      std::size_t pos = 0;
      while (pos <= line.size()) {
        std::size_t end = line.find(',', pos);
        if (end == std::string_view::npos) end = line.size();
        std::size_t b = pos;
        std::size_t e = end;
        while (b < e && is_space(line[b])) ++b;
        while (e > b && is_space(line[e - 1])) --e;
        tokens_.push_back({line.substr(b, e - b), b, e});
        pos = end + 1;
      }
    } else {
      std::size_t pos = 0;
      while (pos < line.size()) {
        while (pos < line.size() && is_space(line[pos])) ++pos;
        if (pos >= line.size()) break;
        std::size_t end = pos;
        while (end < line.size() && !is_space(line[end])) ++end;
        tokens_.push_back({line.substr(pos, end - pos), pos, end});
        pos = end;
      }
    }
    const Kind* pattern = by_type ? kByType : table.has_start ? kNodeWithStart : kNodeNoStart;
    const std::size_t k = by_type           ? std::size(kByType)
                          : table.has_start ? std::size(kNodeWithStart)
                                            : std::size(kNodeNoStart);
    // The first place the numeric columns fit; a node row needs a name after them, a
    // node-type row ends with them.
    std::size_t at = 0;
    for (std::size_t i = 1; i + k <= tokens_.size(); ++i) {
      if (by_type ? i + k != tokens_.size() : i + k >= tokens_.size()) continue;
      bool match = true;
      for (std::size_t j = 0; j < k && match; ++j) match = token_matches(tokens_[i + j].text, pattern[j]);
      if (match) {
        at = i;
        break;
      }
    }
    if (at == 0) {
      fail("a line in the '" + table.title + "' table (started line " + std::to_string(table_line_no_) +
           ") that is not a row of it (truncated or interleaved output?)");
    }
    ProfileRow row;
    row.type = std::string(trim(line.substr(tokens_[0].begin, tokens_[at - 1].end - tokens_[0].begin)));
    if (!by_type) {
      std::string_view name = trim(line.substr(tokens_[at + k].begin));
      row.name = std::string(name);
      // Since the [start] column went away, the CSV writer turns commas in names into tabs.
      if (table.csv) {
        for (char& c : row.name) {
          if (c == '\t') c = ',';
        }
      }
    }
    std::size_t j = at;
    auto number = [&](double max) {
      std::string_view t = tokens_[j++].text;
      if (!t.empty() && t.back() == '%') t.remove_suffix(1);
      double v = 0;
      if (!to_double(t, v) || !in_range(v, max)) {
        fail("a '" + table.title + "' row with " + std::string(t.substr(0, 40)) +
             " (negative, not a number or absurd)");
      }
      return v;
    };
    auto integer = [&]() {
      std::int64_t v = 0;
      if (!to_int(tokens_[j++].text, v) || v < 0 || v > kMaxCount) {
        fail("a '" + table.title + "' row with a negative or absurd count");
      }
      return v;
    };
    if (by_type) {
      row.count = integer();
      row.avg_ms = number(kMaxMs);
      row.percent = number(kMaxPercent);
      row.cdf_percent = number(kMaxPercent);
      row.mem_kb = number(kMaxMemKb);
      row.times_called = integer();
    } else {
      if (table.has_start) row.start_ms = number(kMaxMs);
      row.first_ms = number(kMaxMs);
      row.avg_ms = number(kMaxMs);
      row.percent = number(kMaxPercent);
      row.cdf_percent = number(kMaxPercent);
      row.mem_kb = number(kMaxMemKb);
      row.times_called = integer();
    }
    return row;
  }

  void finish() {
    out_.last_line = std::string(last_line_.substr(0, 300));
    if (summary_line_no_ == 0 && out_.runs.empty() && out_.tables.empty()) {
      const std::string last = !out_.last_error.empty() ? out_.last_error : std::string(last_line_);
      throw Error(ErrorKind::kIo, source_, "benchmark_model output",
                  "no benchmark result (no 'Inference timings in us' line, no count= line, no profile): the tool "
                  "failed or its output was cut short; last line: " +
                      (last.empty() ? std::string("(no output)") : quote(last)));
    }
    if (out_.runs.size() > 2) {
      fail_at(run_lines_[2].first, run_lines_[2].second,
              "more than two count= lines before one summary (interleaved output?)");
    }
    const RunStats* timed = out_.runs.empty() ? nullptr : &out_.runs.back();
    const RunStats* warmup = out_.runs.size() == 2 ? &out_.runs.front() : nullptr;
    if (timed != nullptr && timed->count > 0 && out_.inference_avg_us &&
        !agree(timed->avg_us, *out_.inference_avg_us)) {
      fail_at(run_lines_.back().first, run_lines_.back().second,
              "the timed runs' count= line disagrees with the summary's Inference " +
                  std::to_string(*out_.inference_avg_us) + " us (interleaved output?)");
    }
    if (warmup != nullptr && warmup->count > 0 && out_.warmup_avg_us && !agree(warmup->avg_us, *out_.warmup_avg_us)) {
      fail_at(run_lines_.front().first, run_lines_.front().second,
              "the warm-up count= line disagrees with the summary's Warmup " + std::to_string(*out_.warmup_avg_us) +
                  " us (interleaved output?)");
    }
    // A profile section ends with its "Timings (microseconds)" line; a Run Order table
    // without it, or with fewer rows than "Number of nodes executed", was cut short.
    for (const ProfileTable& t : out_.tables) {
      if (t.title != "Run Order") continue;
      if (!totals_keys_.count({static_cast<int>(t.section), t.subgraph})) {
        fail_at(last_line_no_, last_line_,
                "the profile's '" + t.title + "' table has no 'Timings (microseconds)' line after it (truncated?)");
      }
      const auto n = nodes_executed_.find({static_cast<int>(t.section), t.subgraph});
      if (n != nodes_executed_.end() && static_cast<std::int64_t>(t.rows.size()) != n->second) {
        fail_at(last_line_no_, last_line_,
                "the profile's Run Order has " + std::to_string(t.rows.size()) +
                    " rows but 'Number of nodes executed' says " + std::to_string(n->second) +
                    " (truncated or interleaved?)");
      }
    }
  }

  std::string_view text_;
  const std::string& source_;
  Output out_;
  std::string_view line_;
  std::size_t line_no_ = 0;
  std::string_view last_line_;
  std::size_t last_line_no_ = 0;
  Section section_ = Section::kRegular;
  int subgraph_ = 0;
  int table_ = -1;  // index into out_.tables while inside a table
  std::size_t table_line_no_ = 0;
  bool awaiting_header_ = false;
  std::size_t summary_line_no_ = 0;
  std::vector<std::pair<std::size_t, std::string_view>> run_lines_;  // the count= lines
  std::map<std::pair<int, int>, std::int64_t> nodes_executed_;
  std::set<std::tuple<int, int, std::string>> table_keys_;  // (section, subgraph, title)
  std::set<std::pair<int, int>> totals_keys_;               // (section, subgraph) with a Timings line
  std::vector<Token> tokens_;
};

bool is_delegate_internal(const ProfileRow& row) {
  return row.type == "DelegateOpInvoke" || starts_with(row.name, "Delegate/");
}

bool is_delegate_partition(const ProfileRow& row) {
  return !is_delegate_internal(row) && (row.type.find("Delegate") != std::string::npos || row.type == "DELEGATE");
}

measure::Stats latency_of(const RunStats& r) {
  measure::Stats s;
  s.n = static_cast<std::size_t>(r.count);
  s.mean = r.avg_us / 1000;
  s.min = r.min_us / 1000;
  s.max = r.max_us / 1000;
  s.median = std::isfinite(r.median_us) ? r.median_us / 1000 : s.mean;
  const double n = static_cast<double>(r.count);
  s.std = r.count >= 2 ? r.std_us / 1000 * std::sqrt(n / (n - 1)) : 0.0;
  s.cv = s.mean > 0 ? s.std / s.mean : 0.0;
  return s;
}

}  // namespace

Output parse(std::string_view text, const std::string& source) {
  return Parser(text, source).parse();
}

RunResult to_run_result(const Output& output, bool per_layer, const std::string& source) {
  RunResult result;
  result.runtime = "benchmark_model";
  result.runtime_version = output.version.empty() ? "unknown" : output.version;
  result.threads = output.threads;
  if (!output.inference_avg_us) {
    const std::string last = !output.last_error.empty() ? output.last_error : output.last_line;
    throw Error(ErrorKind::kIo, source, "benchmark_model output",
                "no summary line ('Inference timings in us: ...'): the run did not finish or its output was cut "
                "short; last line: '" +
                    last + "'");
  }
  if (output.runs.empty()) {
    throw Error(ErrorKind::kIo, source, "benchmark_model output",
                "no count= line for the timed runs (the summary's average alone has no n, min or spread)");
  }
  const RunStats& timed = output.runs.back();
  if (timed.count == 0) throw Error(ErrorKind::kIo, source, "benchmark_model output", "no timed runs (count=0)");
  result.latency_ms = latency_of(timed);
  if (!per_layer) return result;

  const ProfileTable* order = nullptr;
  for (const ProfileTable& t : output.tables) {
    if (t.section == Section::kRegular && t.subgraph == 0 && t.title == "Run Order") order = &t;
  }
  if (order == nullptr) {
    throw Error(ErrorKind::kUnsupported, source, "per-layer timings",
                "the output has no op profile; add --enable_op_profiling=true to the benchmark_model command");
  }
  const RunStats* totals = nullptr;
  for (const ProfileTotals& t : output.totals) {
    if (t.section == Section::kRegular && t.subgraph == 0) totals = &t.timings;
  }
  bool has_partition = false;
  for (const ProfileRow& row : order->rows) has_partition = has_partition || is_delegate_partition(row);
  for (const ProfileRow& row : order->rows) {
    if (has_partition && is_delegate_internal(row)) continue;
    LayerTiming layer;
    layer.name = row.name;
    layer.op = row.type;
    double mean = 0;
    if (row.times_called >= 1) {
      mean = row.avg_ms * static_cast<double>(row.times_called);
    } else if (totals != nullptr && std::isfinite(totals->avg_us)) {
      mean = row.percent / 100 * totals->avg_us / 1000;
    }
    layer.ms.n = totals != nullptr ? static_cast<std::size_t>(totals->count) : 0;
    layer.ms.mean = mean;
    layer.ms.median = mean;
    layer.ms.min = kMissing;
    layer.ms.max = kMissing;
    layer.ms.std = kMissing;
    layer.ms.cv = kMissing;
    result.layers.push_back(std::move(layer));
  }
  return result;
}

}  // namespace infercast::runtime::benchmark_model
