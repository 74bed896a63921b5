#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "infercast/base/csv.hpp"
#include "infercast/base/error.hpp"
#include "infercast/report/report.hpp"

namespace infercast::report {
namespace {

std::string cell_text(const nlohmann::json& v, Unit unit, bool human) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  if (v.is_number()) {
    const double d = v.get<double>();
    if (human && unit == Unit::kCount) return human_count(d);
    if (human && unit == Unit::kBytes) return human_bytes(d);
    if (v.is_number_float()) return human || unit == Unit::kRatio ? fmt::format("{:.3g}", d) : fmt::format("{}", d);
    return v.dump();
  }
  if (v.is_array()) {
    std::string out;
    for (const auto& e : v) {
      if (!out.empty()) out += human ? " " : ";";
      out += e.is_array() ? [&] {
        std::string s;
        for (const auto& x : e) s += (s.empty() ? "" : "x") + (x.is_null() ? std::string("?") : x.is_string() ? x.get<std::string>() : x.dump());
        return s;
      }() : cell_text(e, Unit::kNone, human);
    }
    return out;
  }
  return v.dump();
}

// Display width in code points, so UTF-8 names align.
std::size_t width(const std::string& s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string render_table(const Table& t) {
  std::vector<std::vector<std::string>> cells;
  std::vector<std::size_t> widths;
  for (const Column& c : t.columns) widths.push_back(width(c.title));
  for (const auto& row : t.rows) {
    std::vector<std::string> line;
    for (std::size_t i = 0; i < t.columns.size(); ++i) {
      const auto it = row.find(t.columns[i].key);
      line.push_back(it == row.end() ? "" : cell_text(*it, t.columns[i].unit, true));
      widths[i] = std::max(widths[i], width(line.back()));
    }
    cells.push_back(std::move(line));
  }
  std::string out;
  if (!t.title.empty()) out += t.title + "\n";
  auto draw = [&](const std::vector<std::string>& line, bool header) {
    std::string text;
    for (std::size_t i = 0; i < line.size(); ++i) {
      const bool right = !header && t.columns[i].unit != Unit::kNone;
      const std::string pad(widths[i] - width(line[i]), ' ');
      text += (i ? "  " : "") + (right ? pad + line[i] : line[i] + (i + 1 < line.size() ? pad : ""));
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + "\n";
  };
  std::vector<std::string> header;
  for (const Column& c : t.columns) header.push_back(c.title);
  draw(header, true);
  std::size_t total = 0;
  for (std::size_t w : widths) total += w;
  out += std::string(total + 2 * (widths.size() - 1), '-') + "\n";
  for (const auto& line : cells) draw(line, false);
  return out;
}

std::string render_csv(const Table& t) {
  std::string out;
  for (std::size_t i = 0; i < t.columns.size(); ++i) out += (i ? "," : "") + csv_field(t.columns[i].key);
  out += "\n";
  for (const auto& row : t.rows) {
    for (std::size_t i = 0; i < t.columns.size(); ++i) {
      const auto it = row.find(t.columns[i].key);
      out += (i ? "," : "") + csv_field(it == row.end() ? "" : cell_text(*it, t.columns[i].unit, false));
    }
    out += "\n";
  }
  return out;
}

std::string scaled(double value, double base, const char* const* units, int count, const char* sep) {
  int i = 0;
  double v = value;
  while (std::fabs(v) >= base && i + 1 < count) {
    v /= base;
    ++i;
  }
  if (i == 0) return fmt::format("{:.0f}", v);
  return fmt::format("{:.2f}{}{}", v, sep, units[i]);
}

}  // namespace

std::string human_count(double value) {
  static const char* const kUnits[] = {"", "K", "M", "G", "T", "P"};
  return scaled(value, 1000.0, kUnits, 6, " ");
}

std::string human_bytes(double value) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  const std::string s = scaled(value, 1024.0, kUnits, 6, " ");
  return value < 1024 ? s + " B" : s;
}

Format parse_format(const std::string& name) {
  if (name == "table") return Format::kTable;
  if (name == "csv") return Format::kCsv;
  if (name == "json") return Format::kJson;
  if (name == "html") return Format::kHtml;
  if (name == "netron") return Format::kNetron;
  throw Error(ErrorKind::kInvalidArgument, "", "--format '" + name + "'", "expected table, csv, json, html or netron");
}

std::string render(const Report& report, Format format, const RenderOptions& options) {
  switch (format) {
    case Format::kJson: return report.json.dump(2) + "\n";
    case Format::kHtml: return render_html(report.json);
    case Format::kNetron: return netron_attachment(report.json).dump() + "\n";
    case Format::kCsv: {
      const Table* chosen = nullptr;
      for (const Table& t : report.tables) {
        if (t.detail || chosen == nullptr || !chosen->detail) chosen = &t;
      }
      return chosen == nullptr ? std::string() : render_csv(*chosen);
    }
    case Format::kTable: {
      std::string out;
      for (const Table& t : report.tables) {
        if (t.detail && !options.detail) continue;
        if (!out.empty()) out += "\n";
        out += render_table(t);
      }
      return out;
    }
  }
  return {};
}

}  // namespace infercast::report
