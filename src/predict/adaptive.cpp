#include "infercast/predict/adaptive.hpp"

#include <algorithm>
#include <map>

#include "infercast/predict/kernels.hpp"

namespace infercast::predict {

std::string family_of_kernel_type(const std::string& type) {
  std::string anchor = type.substr(0, type.find('+'));
  if (anchor.rfind("resize", 0) == 0) anchor = "resize";
  return family_of(anchor);
}

bench::ErrorFn adaptive_error_fn(const Bundle& bundle) {
  std::map<std::string, double> sigma;
  double worst = 1.0;
  for (const auto& [family, model] : bundle.families) {
    // A family trained on too few samples has the roofline only and no CV score worth
    // trusting: treat it as unmeasured.
    if (model.samples <= 0 || model.cv.empty()) continue;
    sigma[family] = model.sigma_log;
    worst = std::max(worst, model.sigma_log);
  }
  return [sigma = std::move(sigma), worst](const bench::KernelSpec& spec) {
    std::string family = family_of_kernel_type(spec.type);
    const auto param = [&](const char* name) { return spec.params.count(name) != 0 ? spec.params.at(name) : 0; };
    if (family == "conv")
      family = conv_family(param("groups"), param("k") == 1 && param("h") == 1 && param("w") == 1 && param("pad") == 0);
    const auto it = sigma.find(family);
    return it == sigma.end() ? worst : it->second;
  };
}

}  // namespace infercast::predict
