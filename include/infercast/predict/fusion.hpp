// Fusion-rule detection by measurement. For a pair a→b (conv→relu, conv→bn, ...), time
// a alone, b alone and a→b as one graph on the runtime. If the runtime executes b
// inside a's kernel, the pair saves about T(b) (b's pass over memory and its dispatch);
// if not, T(a→b) ≈ T(a) + T(b) up to noise. The pair is fused when
//
//     T(a) + T(b) − T(a→b) > α · min(T(a), T(b)),     α = 0.5.
//
// Why 0.5: a fused pair saves close to all of the smaller kernel (saving/min ≈ 1), an
// unfused one saves ≈ 0; the midpoint gives the largest margin on both sides.
//
// The times are the kernels' own per-layer times (bench::time_kernel). When the runtime
// also reports which layers it executed, that count decides: a→b is fused when the
// runtime ran fewer layers for it than for a and b apart (a ReLU folded into the conv's
// clamp, a BatchNorm folded into its weights). Why: a 56x56 activation takes ~5 µs
// next to a ~46 µs conv, and one process's memory placement shifted the conv by ±10%
// on this machine for every repetition, so the time rule alone flipped conv+relu
// between runs. Both verdicts are kept in the evidence.
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
  int layers_a = 0, layers_b = 0, layers_ab = 0;  // layers the runtime executed; 0 = not reported
};

// The time rule above.
bool time_rule_fused(const PairTiming& timing, double alpha = kFusionAlpha);
// The decision: the layer counts when all three are reported, else the time rule.
bool is_fused(const PairTiming& timing, double alpha = kFusionAlpha);

// Rules from timings: every fused pair, the evidence of every pair ({"pair", times,
// layer counts, "saving", "time_rule", "decided_by": "layers"|"time", "fused"}), and
// the default removed (view) ops. Throws Error(kInvalidArgument) on a non-positive or non-finite
// time or a pair not written "a+b".
FusionRules decide_fusion(const std::vector<PairTiming>& timings, double alpha = kFusionAlpha);

// The probe pairs: each a→b as (a's kernel type, b's kernel type, the fused type) in
// the bench vocabulary, with shapes chosen so T(a) and T(b) are comparable.
struct FusionProbe {
  std::string pair;         // "conv+relu"
  nlohmann::json a, b, ab;  // bench KernelSpec JSON
};
const std::vector<FusionProbe>& fusion_probes();
// The int8 probes (every spec dtype int8: the float pair quantized as `quantize --mode
// full` does, bench::int8_kernel_form). An int8 op's own activation (CONV_2D with RELU6,
// a QDQ group whose Relu the QuantizeLinear's range makes redundant) is one kernel by
// construction and not probed; what is probed is what each runtime may or may not fold:
// a PAD into the next convolution, a residual ADD into the convolution before it, and
// the hard-swish and sigmoid after a convolution, which TFLite int8 keeps as their own
// ops and ONNX Runtime has no QDQ fusion for.
const std::vector<FusionProbe>& int8_fusion_probes();

// One probe kernel's time on the runtime: its own milliseconds and how many layers the
// runtime executed for it (0 = not reported).
struct ProbeTime {
  double ms = 0;
  int layers = 0;
};

// Times every probe `rounds` times with `time_spec` (a KernelSpec JSON → its time on
// the runtime; bench materializes and runs it), keeps each time's minimum over the
// rounds and decides. A probe that throws is recorded as not fused with its error.
// `probes` defaults to fusion_probes().
FusionRules detect_fusion(const std::function<ProbeTime(const nlohmann::json& spec)>& time_spec,
                          double alpha = kFusionAlpha, int rounds = 3,
                          const std::vector<FusionProbe>* probes = nullptr);

// The probes of `probes` (default fusion_probes()) whose pair `stored` holds no evidence
// for: those added to the probe list after a profile stored its rules.
std::vector<FusionProbe> missing_probes(const FusionRules& stored, const std::vector<FusionProbe>* probes = nullptr);

// `stored` with the verdicts of `measured` (detect_fusion over missing_probes) added:
// their evidence appended and their fused pairs inserted. A pair `stored` decided keeps
// its verdict.
FusionRules merge_fusion(FusionRules stored, const FusionRules& measured);

}  // namespace infercast::predict
