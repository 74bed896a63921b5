// Fusion-rule detection by measurement (include/infercast/predict/fusion.hpp).
#include "infercast/predict/fusion.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "infercast/base/error.hpp"
#include "infercast/bench/kernel.hpp"

namespace infercast::predict {

bool time_rule_fused(const PairTiming& t, double alpha) {
  return t.t_a_ms + t.t_b_ms - t.t_ab_ms > alpha * std::min(t.t_a_ms, t.t_b_ms);
}

namespace {
bool layers_known(const PairTiming& t) {
  return t.layers_a > 0 && t.layers_b > 0 && t.layers_ab > 0;
}
}  // namespace

bool is_fused(const PairTiming& t, double alpha) {
  if (layers_known(t)) return t.layers_ab < t.layers_a + t.layers_b;
  return time_rule_fused(t, alpha);
}

FusionRules decide_fusion(const std::vector<PairTiming>& timings, double alpha) {
  FusionRules rules = default_fusion_rules();
  rules.alpha = alpha;
  for (const PairTiming& t : timings) {
    if (t.pair.find('+') == std::string::npos || t.pair.front() == '+' || t.pair.back() == '+')
      throw Error(ErrorKind::kInvalidArgument, "", "fusion pair '" + t.pair + "'", "must be written a+b");
    for (double v : {t.t_a_ms, t.t_b_ms, t.t_ab_ms}) {
      if (!(v > 0) || !std::isfinite(v))
        throw Error(ErrorKind::kInvalidArgument, "", "fusion pair '" + t.pair + "'", "times must be positive");
    }
    const bool fused = is_fused(t, alpha);
    const double saving = (t.t_a_ms + t.t_b_ms - t.t_ab_ms) / std::min(t.t_a_ms, t.t_b_ms);
    rules.evidence.push_back({{"pair", t.pair},
                              {"t_a_ms", t.t_a_ms},
                              {"t_b_ms", t.t_b_ms},
                              {"t_ab_ms", t.t_ab_ms},
                              {"layers_a", t.layers_a},
                              {"layers_b", t.layers_b},
                              {"layers_ab", t.layers_ab},
                              {"saving", saving},
                              {"time_rule", time_rule_fused(t, alpha)},
                              {"decided_by", layers_known(t) ? "layers" : "time"},
                              {"fused", fused}});
    if (fused) rules.fused_pairs.insert(t.pair);
  }
  return rules;
}

namespace {

nlohmann::json spec(const std::string& type, nlohmann::json params) {
  return {{"type", type}, {"params", std::move(params)}, {"dtype", "float32"}};
}

nlohmann::json conv(const std::string& type, int h, int c, int k) {
  nlohmann::json s = bench::to_json(bench::same_conv_spec(h, c, k));
  s["type"] = type;
  return s;
}

nlohmann::json conv_unpadded(int h, int c) {
  nlohmann::json s = conv("conv", h, c, 3);
  s["params"]["pad"] = 0;
  return s;
}

nlohmann::json dwconv(const std::string& type, int h, int c) {
  return spec(type, {{"n", 1}, {"h", h}, {"w", h}, {"c", c}, {"k", 3}, {"stride", 1}, {"dilation", 1}, {"pad", 1}});
}

nlohmann::json dwconv_unpadded(int h, int c) {
  nlohmann::json s = dwconv("dwconv", h, c);
  s["params"]["pad"] = 0;
  return s;
}

nlohmann::json eltwise(const std::string& type, int n, int h, int c) {
  return spec(type, {{"n", n}, {"h", h}, {"w", h}, {"c", c}});
}

}  // namespace

const std::vector<FusionProbe>& fusion_probes() {
  // 1x1 convs with few channels on a large map: the conv costs a few times the
  // activation pass, so a fused activation's saving is well above the noise. For
  // conv+bn, `mul` over the same tensor (one multiply per element, like folded-out BN's
  // scale) stands in for T(bn): the probe predates the standalone `bn` kernel.
  static const std::vector<FusionProbe> probes = {
      {"conv+relu", conv("conv", 56, 16, 1), eltwise("relu", 1, 56, 16), conv("conv+relu", 56, 16, 1)},
      {"conv+relu6", conv("conv", 56, 16, 1), eltwise("relu6", 1, 56, 16), conv("conv+relu6", 56, 16, 1)},
      {"conv+hardswish", conv("conv", 56, 16, 1), eltwise("hardswish", 1, 56, 16), conv("conv+hardswish", 56, 16, 1)},
      {"conv+bn", conv("conv", 56, 16, 1), eltwise("mul", 1, 56, 16), conv("conv+bn", 56, 16, 1)},
      {"conv+sigmoid", conv("conv", 56, 16, 1), eltwise("sigmoid", 1, 56, 16), conv("conv+sigmoid", 56, 16, 1)},
      {"conv+hardsigmoid", conv("conv", 56, 16, 1), eltwise("hardsigmoid", 1, 56, 16),
       conv("conv+hardsigmoid", 56, 16, 1)},
      {"conv+add", conv("conv", 56, 16, 1), eltwise("add", 1, 56, 16), conv("conv+add", 56, 16, 1)},
      // A zero Pad before a 3x3 conv that does not pad itself (TFLite's explicit PAD ops):
      // fused when the runtime folds the pad into the convolution.
      {"pad+conv", spec("pad", {{"n", 1}, {"h", 56}, {"w", 56}, {"c", 16}, {"pad", 1}}), conv_unpadded(58, 16),
       conv("pad+conv", 56, 16, 3)},
      {"pad+dwconv", spec("pad", {{"n", 1}, {"h", 56}, {"w", 56}, {"c", 32}, {"pad", 1}}), dwconv_unpadded(58, 32),
       dwconv("pad+dwconv", 56, 32)},
      // A conv whose output is transposed to channels-last (an NHWC model's outputs, as
      // exported to ONNX): fused when the runtime writes the conv's output in that order.
      {"conv+transpose", conv("conv", 56, 16, 1), eltwise("transpose", 1, 56, 16), conv("conv+transpose", 56, 16, 1)},
      {"dwconv+relu", dwconv("dwconv", 56, 32), eltwise("relu", 1, 56, 32), dwconv("dwconv+relu", 56, 32)},
      {"dwconv+relu6", dwconv("dwconv", 56, 32), eltwise("relu6", 1, 56, 32), dwconv("dwconv+relu6", 56, 32)},
      {"dwconv+hardswish", dwconv("dwconv", 56, 32), eltwise("hardswish", 1, 56, 32),
       dwconv("dwconv+hardswish", 56, 32)},
      // swish as x * sigmoid(x): fused when the runtime runs the pair as one operator
      // (ONNX Runtime's QuickGelu); the kernel split then calls the pair a `swish`.
      {"sigmoid+mul", eltwise("sigmoid", 1, 56, 32), eltwise("mul", 1, 56, 32), eltwise("swish", 1, 56, 32)},
      // hard swish as x * HardSigmoid(x) (torchvision's mobilenet_v3 before opset 14): the
      // pair alone, and after a conv, which ONNX Runtime's NCHWc conv runs as one layer
      // (it runs a HardSwish op apart: conv+hardswish).
      {"hardsigmoid+mul", eltwise("hardsigmoid", 1, 56, 32), eltwise("mul", 1, 56, 32),
       eltwise("hsigmoid_mul", 1, 56, 32)},
      {"conv+hsigmoid_mul", conv("conv", 56, 16, 1), eltwise("hsigmoid_mul", 1, 56, 16),
       conv("conv+hsigmoid_mul", 56, 16, 1)},
      {"dwconv+hsigmoid_mul", dwconv("dwconv", 56, 32), eltwise("hsigmoid_mul", 1, 56, 32),
       dwconv("dwconv+hsigmoid_mul", 56, 32)},
      {"add+relu", eltwise("add", 1, 56, 32), eltwise("relu", 1, 56, 32), eltwise("add+relu", 1, 56, 32)},
      // A standalone BatchNormalization then ReLU (DenseNet's pre-activation): ONNX Runtime
      // runs the BN as an NCHWc 1x1 depthwise conv that takes the ReLU in.
      {"bn+relu", eltwise("bn", 1, 56, 32), eltwise("relu", 1, 56, 32), eltwise("bn+relu", 1, 56, 32)},
      {"fc+relu", spec("fc", {{"n", 64}, {"cin", 256}, {"cout", 256}}), eltwise("relu", 64, 1, 256),
       spec("fc+relu", {{"n", 64}, {"cin", 256}, {"cout", 256}})},
  };
  return probes;
}

const std::vector<FusionProbe>& int8_fusion_probes() {
  static const std::vector<FusionProbe> probes = [] {
    auto int8 = [](nlohmann::json s) {
      s["dtype"] = "int8";
      return s;
    };
    // PAD then convolution: a stride-2 convolution padded by 1 on an even map, which the
    // TFLite writer writes as PAD + a VALID CONV_2D (TFLite's SAME would pad 0 and 1), as
    // in quantized torchvision models (bench::int8_kernel_form); the QDQ writer folds the
    // PAD back into the convolution.
    auto strided = [](nlohmann::json s) {
      s["params"]["stride"] = 2;
      return s;
    };
    std::vector<FusionProbe> out = {
        {"pad+conv", int8(spec("pad", {{"n", 1}, {"h", 56}, {"w", 56}, {"c", 16}, {"pad", 1}})),
         int8(strided(conv_unpadded(58, 16))), int8(strided(conv("pad+conv", 56, 16, 3)))},
        {"pad+dwconv", int8(spec("pad", {{"n", 1}, {"h", 56}, {"w", 56}, {"c", 32}, {"pad", 1}})),
         int8(strided(dwconv_unpadded(58, 32))), int8(strided(dwconv("pad+dwconv", 56, 32)))}};
    const std::vector<std::string> pairs = {"conv+add", "conv+hardswish", "dwconv+hardswish", "conv+sigmoid"};
    for (const FusionProbe& p : fusion_probes()) {
      if (std::find(pairs.begin(), pairs.end(), p.pair) == pairs.end()) continue;
      out.push_back({p.pair, int8(p.a), int8(p.b), int8(p.ab)});
    }
    return out;
  }();
  return probes;
}

FusionRules detect_fusion(const std::function<ProbeTime(const nlohmann::json& spec)>& time_spec, double alpha,
                          int rounds, const std::vector<FusionProbe>* probe_list) {
  const std::vector<FusionProbe>& probes = probe_list != nullptr ? *probe_list : fusion_probes();
  // Each distinct spec is timed once per round (the conv shared by four probes gives all
  // four the same T(a)), rounds interleave the probes, and a spec's time is its minimum
  // over the rounds: on a shared machine a disturbance only ever adds time, and one that
  // hits a single timing would otherwise decide a pair.
  std::map<std::string, ProbeTime> best;      // spec -> minimum time, layers
  std::map<std::string, std::string> errors;  // spec -> why it cannot run
  for (int round = 0; round < std::max(1, rounds); ++round) {
    for (const FusionProbe& p : probes) {
      for (const nlohmann::json* spec : {&p.a, &p.b, &p.ab}) {
        const std::string key = spec->dump();
        if (errors.count(key) != 0) break;  // the pair is decided: it cannot run
        try {
          const ProbeTime t = time_spec(*spec);
          const auto [it, added] = best.emplace(key, t);
          if (!added) it->second.ms = std::min(it->second.ms, t.ms);
        } catch (const std::exception& e) {
          errors.emplace(key, e.what());
          break;
        }
      }
    }
  }
  std::vector<PairTiming> timings;
  nlohmann::json failed = nlohmann::json::array();
  for (const FusionProbe& p : probes) {
    // A probe the runtime cannot run says nothing about fusion: recorded, not fused.
    std::string error;
    for (const nlohmann::json* spec : {&p.a, &p.b, &p.ab})
      if (const auto it = errors.find(spec->dump()); it != errors.end() && error.empty()) error = it->second;
    if (!error.empty()) {
      failed.push_back({{"pair", p.pair}, {"error", error}, {"fused", false}});
      continue;
    }
    const ProbeTime a = best.at(p.a.dump()), b = best.at(p.b.dump()), ab = best.at(p.ab.dump());
    timings.push_back({p.pair, a.ms, b.ms, ab.ms, a.layers, b.layers, ab.layers});
  }
  FusionRules rules = decide_fusion(timings, alpha);
  for (auto& f : failed) rules.evidence.push_back(std::move(f));
  // conv+bn also means "BN after a depthwise conv folds": the same weight rewrite.
  if (rules.fused_pairs.count("conv+bn") != 0) rules.fused_pairs.insert("dwconv+bn");
  return rules;
}

namespace {
// The pairs `rules` holds evidence for.
std::set<std::string> decided_pairs(const FusionRules& rules) {
  std::set<std::string> decided;
  for (const nlohmann::json& e : rules.evidence)
    if (e.is_object() && e.contains("pair") && e["pair"].is_string()) decided.insert(e["pair"].get<std::string>());
  return decided;
}
}  // namespace

std::vector<FusionProbe> missing_probes(const FusionRules& stored, const std::vector<FusionProbe>* probes) {
  const std::set<std::string> decided = decided_pairs(stored);
  std::vector<FusionProbe> out;
  for (const FusionProbe& p : probes != nullptr ? *probes : fusion_probes())
    if (decided.count(p.pair) == 0) out.push_back(p);
  return out;
}

FusionRules merge_fusion(FusionRules stored, const FusionRules& measured) {
  const std::set<std::string> decided = decided_pairs(stored);
  for (const nlohmann::json& e : measured.evidence) {
    if (!e.is_object() || !e.contains("pair") || !e["pair"].is_string()) continue;
    const std::string pair = e["pair"].get<std::string>();
    if (decided.count(pair) != 0) continue;
    stored.evidence.push_back(e);
    if (e.value("fused", false)) stored.fused_pairs.insert(pair);
  }
  return stored;
}

}  // namespace infercast::predict
