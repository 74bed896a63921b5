#include "infercast/report/verify_report.hpp"

#include <cmath>

namespace infercast::report {

Report verify_report(const VerifyContext& context, const std::vector<VerifiedSet>& sets) {
  Report report;
  auto& doc = report.json;
  bool pass = true;
  doc["model"] = context.model;
  doc["runtime"] = context.runtime;
  doc["reference"] = context.reference;
  doc["reference_model"] = context.reference_model;
  doc["rtol"] = context.tolerance.rtol;
  doc["atol"] = context.tolerance.atol;
  doc["outputs"] = nlohmann::json::array();
  Table table{"Outputs",
              {{"set", "set", Unit::kNone},
               {"name", "output", Unit::kNone},
               {"shape", "shape", Unit::kNone},
               {"max_abs_error", "max abs err", Unit::kRatio},
               {"max_rel_error", "max rel err", Unit::kRatio},
               {"mismatches", "mismatches", Unit::kCount},
               {"result", "result", Unit::kNone}},
              {},
              false};
  // JSON has no infinity: an unbounded error is written as null.
  auto number = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  for (const VerifiedSet& s : sets) {
    for (const runtime::OutputComparison& c : s.outputs) {
      pass = pass && c.pass;
      nlohmann::json row = {{"set", s.set},
                            {"name", c.name},
                            {"shape", c.dims},
                            {"max_abs_error", number(c.max_abs_error)},
                            {"max_rel_error", number(c.max_rel_error)},
                            {"mismatches", c.mismatches},
                            {"pass", c.pass},
                            {"note", c.note}};
      doc["outputs"].push_back(row);
      row["result"] = c.pass ? "pass" : "FAIL" + (c.note.empty() ? std::string() : ": " + c.note);
      table.rows.push_back(std::move(row));
    }
  }
  doc["pass"] = pass;
  Table summary{"Verify", {{"field", "field", Unit::kNone}, {"value", "value", Unit::kNone}}, {}, false};
  summary.rows.push_back({{"field", "model"}, {"value", context.model + " on " + context.runtime}});
  summary.rows.push_back({{"field", "reference"}, {"value", context.reference_model + " on " + context.reference}});
  summary.rows.push_back({{"field", "tolerance"},
                          {"value", "rtol " + nlohmann::json(context.tolerance.rtol).dump() + ", atol " +
                                        nlohmann::json(context.tolerance.atol).dump()}});
  summary.rows.push_back({{"field", "result"}, {"value", pass ? "pass" : "FAIL"}});
  report.tables.push_back(std::move(summary));
  report.tables.push_back(std::move(table));
  return report;
}

}  // namespace infercast::report
