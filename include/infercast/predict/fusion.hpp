// Fusion-rule detection by measurement. For a pair a→b (conv→relu, conv→bn, ...), time
// a alone, b alone and a→b as one graph on the runtime. If the runtime executes b
// inside a's kernel, the pair saves about T(b) (b's pass over memory and its dispatch);
// if not, T(a→b) ≈ T(a) + T(b) up to noise. The pair is fused when
//
//     T(a) + T(b) − T(a→b) > α · min(T(a), T(b)),     α = 0.5.
//
// Why 0.5: a fused pair saves close to all of the smaller kernel (saving/min ≈ 1), an
// unfused one saves ≈ 0; the midpoint gives the largest margin on both sides. The
// probe shapes keep T(a) and T(b) within a small factor of each other, so the timing
// noise (CV ≤ 5% per measurement, ../shared/docs/measuring.md) stays far below
// 0.5·min(T(a), T(b)).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "infercast/ir/graph.hpp"
#include "infercast/predict/kernels.hpp"

namespace infercast::predict {

inline constexpr double kFusionAlpha = 0.5;

struct PairTiming {
  std::string pair;  // "conv+relu": anchor class + follower class
  double t_a_ms = 0, t_b_ms = 0, t_ab_ms = 0;
};

// The detection rule above.
bool is_fused(const PairTiming& timing, double alpha = kFusionAlpha);

// Rules from timings: every fused pair, the evidence of every pair, and the default
// removed (view) ops. Throws Error(kInvalidArgument) on a non-positive or non-finite
// time or a pair not written "a+b".
FusionRules decide_fusion(const std::vector<PairTiming>& timings, double alpha = kFusionAlpha);

// The probe pairs: each a→b as (a's kernel type, b's kernel type, the fused type) in
// the bench vocabulary, with shapes chosen so T(a) and T(b) are comparable.
struct FusionProbe {
  std::string pair;         // "conv+relu"
  nlohmann::json a, b, ab;  // bench KernelSpec JSON
};
const std::vector<FusionProbe>& fusion_probes();

// Times every probe `rounds` times with `time_spec_ms` (a KernelSpec JSON → the
// kernel's milliseconds on the runtime; bench materializes and runs it), keeps each
// time's minimum over the rounds and decides. A probe that throws is recorded as not
// fused with its error.
FusionRules detect_fusion(const std::function<double(const nlohmann::json& spec)>& time_spec_ms,
                          double alpha = kFusionAlpha, int rounds = 3);

}  // namespace infercast::predict
