#include "infercast/report/verify_report.hpp"

#include <fmt/format.h>

#include <cmath>

namespace infercast::report {
namespace {

// JSON has no infinity: an unbounded number is written as null (see the header).
nlohmann::json number(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

// The table's cosine keeps the digits that tell 0.999999 from 0.99 (the default
// three significant digits would print both as 1).
std::string cosine_text(double cosine) {
  return fmt::format("{:.6f}", cosine);
}

std::string sqnr_text(const runtime::OutputComparison& c) {
  if (c.identical) return "exact";
  if (std::isinf(c.sqnr_db)) return c.sqnr_db > 0 ? "inf" : "-inf";
  return fmt::format("{:.1f}", c.sqnr_db);
}

std::string rule_text(const runtime::Tolerance& t) {
  if (t.rule == runtime::Tolerance::Rule::kAllclose) {
    return "allclose per element: |a-b| <= " + nlohmann::json(t.atol).dump() + " + " + nlohmann::json(t.rtol).dump() +
           "*|b|";
  }
  return "per output: max |a-b| <= " + nlohmann::json(t.scaled).dump() + " * max |b|";
}

}  // namespace

Report verify_report(const VerifyContext& context, const std::vector<VerifiedSet>& sets) {
  Report report;
  auto& doc = report.json;
  bool pass = true;
  const bool allclose = context.tolerance.rule == runtime::Tolerance::Rule::kAllclose;
  doc["model"] = context.model;
  doc["runtime"] = context.runtime;
  doc["reference"] = context.reference;
  doc["reference_model"] = context.reference_model;
  doc["rule"] = allclose ? "allclose" : "scaled";
  doc["tolerance"] = allclose ? nlohmann::json(nullptr) : nlohmann::json(context.tolerance.scaled);
  doc["rtol"] = allclose ? nlohmann::json(context.tolerance.rtol) : nlohmann::json(nullptr);
  doc["atol"] = allclose ? nlohmann::json(context.tolerance.atol) : nlohmann::json(nullptr);
  doc["outputs"] = nlohmann::json::array();
  Table table{"Outputs",
              {{"set", "set", Unit::kNone},
               {"name", "output", Unit::kNone},
               {"shape", "shape", Unit::kNone},
               {"max_abs_error", "max abs err", Unit::kRatio},
               {"max_rel_error", "max rel err", Unit::kRatio},
               {"cosine_text", "cosine", Unit::kNone},
               {"sqnr_text", "SQNR dB", Unit::kNone},
               {"mismatches", "mismatches", Unit::kCount},
               {"result", "result", Unit::kNone}},
              {},
              false};
  for (const VerifiedSet& s : sets) {
    for (const runtime::OutputComparison& c : s.outputs) {
      pass = pass && c.pass;
      nlohmann::json row = {{"set", s.set},
                            {"name", c.name},
                            {"shape", c.dims},
                            {"max_abs_error", number(c.max_abs_error)},
                            {"max_rel_error", number(c.max_rel_error)},
                            {"cosine", number(c.cosine)},
                            {"sqnr_db", number(c.sqnr_db)},
                            {"identical", c.identical},
                            {"mismatches", c.mismatches},
                            {"pass", c.pass},
                            {"note", c.note}};
      doc["outputs"].push_back(row);
      row["cosine_text"] = c.note.empty() ? cosine_text(c.cosine) : "";
      row["sqnr_text"] = c.note.empty() ? sqnr_text(c) : "";
      row["result"] = c.pass ? "pass" : "FAIL" + (c.note.empty() ? std::string() : ": " + c.note);
      table.rows.push_back(std::move(row));
    }
  }
  doc["pass"] = pass;
  Table summary{"Verify", {{"field", "field", Unit::kNone}, {"value", "value", Unit::kNone}}, {}, false};
  summary.rows.push_back({{"field", "model"}, {"value", context.model + " on " + context.runtime}});
  summary.rows.push_back({{"field", "reference"}, {"value", context.reference_model + " on " + context.reference}});
  summary.rows.push_back({{"field", "tolerance"}, {"value", rule_text(context.tolerance)}});
  summary.rows.push_back({{"field", "result"}, {"value", pass ? "pass" : "FAIL"}});
  report.tables.push_back(std::move(summary));
  report.tables.push_back(std::move(table));
  return report;
}

}  // namespace infercast::report
