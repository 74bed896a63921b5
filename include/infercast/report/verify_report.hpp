// `infercast verify`'s report. JSON (canonical):
//   {"model","runtime","reference","reference_model","rule","tolerance","rtol","atol","pass",
//    "outputs":[{"set","name","shape","max_abs_error","max_rel_error","cosine","sqnr_db",
//                "identical","mismatches","pass","note"}]}
// rule is "scaled" (tolerance: the allowed max|got - want| / max|want| per output;
// rtol and atol null) or "allclose" (rtol, atol: numpy.allclose per element;
// tolerance null); see runtime/verify.hpp. max_rel_error is max|got - want| / max|want|
// per output; sqnr_db is in decibels. JSON has no infinity: an unbounded
// max_abs_error/max_rel_error, and an infinite sqnr_db, are null (sqnr_db null with
// identical true: no error at all).
#pragma once

#include <string>
#include <vector>

#include "infercast/report/report.hpp"
#include "infercast/runtime/verify.hpp"

namespace infercast::report {

struct VerifyContext {
  std::string model;
  std::string runtime;
  std::string reference;        // a runtime name, or "testdata"
  std::string reference_model;  // the model the reference ran (same as model by default)
  runtime::Tolerance tolerance;
};

using VerifiedSet = runtime::VerifiedSet;  // one set of inputs and its comparisons

Report verify_report(const VerifyContext& context, const std::vector<VerifiedSet>& sets);

}  // namespace infercast::report
