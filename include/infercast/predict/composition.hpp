// Composition: what a whole model costs beyond the sum of its kernels as each was timed
// alone. Inside a model a kernel finds its neighbours' data in the caches instead of its
// own, a thread pool stays awake (or not) between operators, and the runtime dispatches
// every operator; a one-kernel graph timed back to back sees none of that. `profile`
// measures synthetic networks (bench/synthetic.hpp: drawn from a design space, never a
// validated model) end to end, predicts each from its kernels, and fits
//
//   measured ≈ Σ_group scale[group] · Σ(kernel predictions of the group)
//              + per_kernel_ms · executed kernels + the bundle's run overhead
//
// by least squares on relative error, with a ridge pulling every scale toward 1 (a group
// the networks barely exercise keeps its kernels' own times). Groups: conv (dense and
// grouped convolutions, transposed convolutions), conv_thin (those on at most
// kThinConvPositions output positions), dwconv, gemm (fully connected, matmul, einsum),
// memory (everything else: elementwise, activations, pools, concat, data movement).
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace infercast::predict {

struct Prediction;

struct Composition {
  std::map<std::string, double> scale;  // group -> factor (absent: 1)
  double per_kernel_ms = 0;             // per executed kernel
  int networks = 0;                     // networks fitted on; 0 = identity (not calibrated)
  std::string fit;                      // "full", "cost" or "convs" (CompositionFit); empty when not calibrated
  // How well it fits: {"before": {...}, "after_loo": {...}}, each {"within10", "median_abs_pct"}
  // over the networks; after_loo predicts each network from a fit without it. A kSelect fit
  // adds "select": {"cost": {...}, "convs": {...}}, the two candidates' leave-one-out figures.
  nlohmann::json quality = nlohmann::json::object();

  double factor(const std::string& group) const {
    const auto it = scale.find(group);
    return it == scale.end() ? 1.0 : it->second;
  }
  nlohmann::json to_json() const;
  // Throws Error(kBadModel) on a malformed object (scales outside (0, 10], a negative cost).
  static Composition from_json(const nlohmann::json& j, const std::string& file);
};

// The composition group of a kernel family.
const std::string& composition_group(const std::string& family);

struct Kernel;
// The group whose scale a kernel takes: its family's, except a convolution on at most
// kThinConvPositions output positions (14x14: each weight used that few times), conv_thin.
// Why: on ONNX Runtime at 1 thread such convolutions ran 1.15-1.25x their one-kernel labels
// inside the held-out models (ResNet-50's last stage, RegNetX-400MF's 1x1 400->400 on 7x7:
// 0.091 ms inside, 0.074 ms alone and per copy in a chain of eight), those on 28x28 and more
// 0.95-1.03x; the synthetic networks measured the same, a scale of 1.20 against 1.01.
inline constexpr double kThinConvPositions = 196;
const std::string& scale_group(const Kernel& kernel);

// One synthetic network: its kernel-sum prediction (by a bundle without composition) and
// its measured median.
struct NetworkSample {
  std::string name;
  double measured_ms = 0;
  std::map<std::string, double> group_ms;  // predicted kernel time per group
  int kernels = 0;                         // executed (not removed) kernels
  double overhead_ms = 0;                  // the bundle's run overhead for it
};

// The sample of a prediction made without composition.
NetworkSample network_sample(const std::string& name, double measured_ms, const Prediction& p, double overhead_ms);

// What fit_composition fits.
//   kFull:   every group's scale and the per-kernel cost.
//   kCost:   every scale held at 1, only per_kernel_ms: what a model pays per operator
//            beyond its kernels (a thread pool's hand-offs at several threads), apart from
//            how well each group's kernels are predicted.
//   kConvs:  the per-kernel cost and the two convolution groups' scales, the rest held at 1.
//   kSelect: kConvs where its leave-one-out median error on the networks is at most 0.9 of
//            kCost's, else kCost. The networks' dwconv, gemm and memory scales did not carry
//            to real models (ONNX Runtime at 1 thread: memory x0.58 where the held-out models'
//            memory kernels ran 0.7x their predictions), and the convolutions' did only where
//            they predicted the networks clearly better (results.md, 2026-12-07).
enum class CompositionFit { kFull, kCost, kConvs, kSelect };

// Fits the composition; fewer than 8 usable samples give the identity (networks = 0).
Composition fit_composition(const std::vector<NetworkSample>& samples, CompositionFit how = CompositionFit::kFull);

}  // namespace infercast::predict
