#include "infercast/transform/verify.hpp"

#include <algorithm>
#include <cmath>

#include "infercast/runtime/runtime.hpp"

namespace infercast::transform {

RuntimeCheck check_on_runtime(const std::string& runtime_name, const ir::Graph& original, const ir::Graph& transformed,
                              const runtime::Tolerance& tolerance, const CheckOptions& options) {
  RuntimeCheck check;
  check.runtime = runtime_name;
  const auto before = runtime::make_runtime(runtime_name);
  const auto after = runtime::make_runtime(runtime_name);
  check.version = before->version();
  before->prepare(original, {options.threads});
  after->prepare(transformed, {options.threads});
  const auto inputs = runtime::random_inputs(original, options.seed);
  auto renamed = inputs;
  for (std::size_t i = 0; i < renamed.size() && i < transformed.inputs.size(); ++i) {
    renamed[i].name = transformed.tensors[transformed.inputs[i]].name;
  }
  const auto want = before->infer(inputs);
  const auto got = after->infer(renamed);
  check.outputs = runtime::compare_outputs(got, want, tolerance);
  check.pass = !check.outputs.empty();
  for (const auto& c : check.outputs) {
    check.pass = check.pass && c.pass;
    check.max_abs_error = std::max(check.max_abs_error, c.max_abs_error);
    check.max_rel_error = std::max(check.max_rel_error, c.max_rel_error);
  }
  if (options.time) {
    runtime::RunOptions run;
    run.protocol = options.protocol;
    run.seed = options.seed;
    check.before_ms = before->run(run).latency_ms;
    check.after_ms = after->run(run).latency_ms;
    check.timed = true;
  }
  return check;
}

}  // namespace infercast::transform
