// The error function the adaptive sampler (bench::SamplerOptions::error_fn) weighs
// candidate kernels by, from a trained bundle: where the predictor errs most, bench
// measures more. bench never depends on predict; the CLI joins the two here.
#pragma once

#include "infercast/bench/sampler.hpp"
#include "infercast/predict/predictor.hpp"

namespace infercast::predict {

// The regressor family a kernel type's anchor goes to ("conv+bn+relu" -> "conv",
// "resize_bilinear" -> "resize", "se" -> "other", ...).
std::string family_of_kernel_type(const std::string& type);

// error(spec) = the standard error of the level the spec's family is fitted at: the
// cross-validated rmse of ln latency of the model the bundle chose for the family (its
// sigma_log) over the square root of the family's samples. Families the bundle has no
// fitted model for (fewer samples than training needed, or never measured) get 1.0,
// above any fitted family's, so unmeasured ground is sampled first. The function keeps
// its own copy of those errors: the bundle need not outlive it.
bench::ErrorFn adaptive_error_fn(const Bundle& bundle);

}  // namespace infercast::predict
