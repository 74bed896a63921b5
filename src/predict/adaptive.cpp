#include "infercast/predict/adaptive.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "infercast/bench/kernel.hpp"
#include "infercast/predict/kernels.hpp"
#include "infercast/predict/profile.hpp"

namespace infercast::predict {

std::string family_of_kernel_type(const std::string& type) {
  std::string anchor = type.substr(0, type.find('+'));
  if (anchor.rfind("resize", 0) == 0) anchor = "resize";
  return family_of(anchor);
}

namespace {

// The family a kernel type is trained under: that of the one kernel split_kernels makes of
// a small instance under `rules`, as training splits the timed graph (training_kernel). The
// anchor's name alone put channel_pad and slice_rows in no family and pad+conv among the
// data movers. A type split into several kernels (a fusion the runtime does not make) keeps
// its anchor's family.
std::map<std::string, std::string> families_of_types(const FusionRules& rules) {
  std::map<std::string, std::string> out;
  for (const std::string& type : bench::kernel_types()) {
    const auto instance = type_instance(type, rules);
    out[type] =
        instance && instance->kernels.size() == 1 ? instance->kernels.front().family : family_of_kernel_type(type);
  }
  return out;
}

}  // namespace

bench::ErrorFn adaptive_error_fn(const Bundle& bundle) {
  // A family's error is its cross-validated sigma over the square root of its samples: the
  // standard error of the level its regressor fits, which a few more samples move most in a
  // family with few. By sigma alone, a family drawn as one kernel type among dozens (concat:
  // 20 samples in a 15-minute ONNX Runtime profile) stayed as thin after refinement, and
  // two such profiles of one runtime predicted its in-model time at 0.79 and at 1.31 of it.
  std::map<std::string, double> error;
  for (const auto& [family, model] : bundle.families) {
    // A family trained on too few samples has the roofline only and no CV score worth
    // trusting: treat it as unmeasured.
    if (model.samples <= 0 || model.cv.empty()) continue;
    error[family] = model.sigma_log / std::sqrt(static_cast<double>(model.samples));
  }
  return [error = std::move(error), families = families_of_types(bundle.rules)](const bench::KernelSpec& spec) {
    const auto known = families.find(spec.type);
    std::string family = known != families.end() ? known->second : family_of_kernel_type(spec.type);
    const auto param = [&](const char* name) { return spec.params.count(name) != 0 ? spec.params.at(name) : 0; };
    if (family == "conv" || family == "gconv" || family == "se_conv")
      family = conv_family(param("groups"), param("k") == 1 && param("h") == 1 && param("w") == 1 && param("pad") == 0);
    const auto it = error.find(family);
    return it == error.end() ? 1.0 : it->second;
  };
}

}  // namespace infercast::predict
