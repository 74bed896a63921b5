// Training data for a profile (include/infercast/predict/profile.hpp).
#include "infercast/predict/profile.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <limits>
#include <map>
#include <numeric>
#include <random>

#include "infercast/base/error.hpp"
#include "infercast/bench/bench.hpp"
#include "infercast/bench/kernel.hpp"
#include "infercast/bench/synthetic.hpp"
#include "infercast/bench/timing.hpp"
#include "infercast/measure/stats.hpp"
#include "infercast/predict/composition.hpp"

namespace infercast::predict {

bench::GroupingFn kernel_grouping(const FusionRules& rules) {
  return [rules](const ir::Graph& graph) {
    std::vector<std::vector<int>> groups;
    for (Kernel& k : split_kernels(graph, rules))
      if (!k.removed) groups.push_back(std::move(k.nodes));
    return groups;
  };
}

std::optional<TypeInstance> type_instance(const std::string& type, const FusionRules& rules) {
  std::mt19937_64 rng(7);
  const auto spec = bench::space_kernel(type, rng, 1e7);
  if (!spec) return std::nullopt;
  TypeInstance out{bench::build_kernel_graph(*spec), {}};
  for (Kernel& k : split_kernels(out.graph, rules))
    if (!k.removed) out.kernels.push_back(std::move(k));
  return out;
}

std::vector<std::string> single_kernel_types(const FusionRules& rules,
                                             const std::function<bool(const ir::Graph&)>& runs) {
  std::vector<std::string> out;
  for (const std::string& type : bench::default_kernel_types()) {
    const auto instance = type_instance(type, rules);
    if (instance && instance->kernels.size() == 1 && (!runs || runs(instance->graph))) out.push_back(type);
  }
  return out;
}

measure::Protocol kernel_protocol() {
  measure::Protocol p;
  p.warmup = 2;
  p.min_repeats = 5;
  p.min_time_s = 0.05;
  p.max_repeats = 200;
  p.cv_target = 0.05;
  p.max_remeasure = 1;
  return p;
}

measure::Protocol network_protocol() {
  measure::Protocol p;
  p.warmup = 2;
  p.min_repeats = 5;
  p.min_time_s = 0.3;
  p.max_repeats = 200;
  p.max_remeasure = 0;
  return p;
}

std::optional<TrainingKernel> training_kernel(const nlohmann::json& spec, double latency_ms, const FusionRules& rules,
                                              const std::string& runtime) {
  const bench::KernelSpec kernel_spec = bench::kernel_spec_from_json(spec);
  const bool int8 = kernel_spec.dtype == ir::DType::kInt8;
  // An int8 kernel is split in the form its runtime timed (int8 TFLite, QDQ ONNX), so its
  // features are those of the same op inside a quantized model; the graph's boundary
  // layers (the float interface's Quantize/Dequantize, layout Transposes, the TFLite
  // writer's explicit Pad), which its label leaves out, are left out here too.
  const ir::Graph graph =
      int8 ? bench::int8_kernel_form(runtime, kernel_spec).graph : bench::build_kernel_graph(kernel_spec);
  // A conversion kernel is its form's interface itself: the quantize reading the graph's
  // input, or the dequantize writing its output (bench::own_layer).
  const bool to_int8 = kernel_spec.type == "quantize", from_int8 = kernel_spec.type == "dequantize";
  auto boundary = [&](const Kernel& k) {
    if (to_int8 || from_int8) {
      const ir::Node& anchor = graph.nodes[static_cast<std::size_t>(k.nodes.front())];
      const bool q = anchor.op == ir::Op::QuantizeLinear || anchor.op == ir::Op::Quantize;
      const bool dq = anchor.op == ir::Op::DequantizeLinear || anchor.op == ir::Op::Dequantize;
      const auto reads_input = [&] {
        return std::any_of(anchor.inputs.begin(), anchor.inputs.end(), [&](int t) {
          return std::find(graph.inputs.begin(), graph.inputs.end(), t) != graph.inputs.end();
        });
      };
      const auto writes_output = [&] {
        return std::any_of(anchor.outputs.begin(), anchor.outputs.end(), [&](int t) {
          return std::find(graph.outputs.begin(), graph.outputs.end(), t) != graph.outputs.end();
        });
      };
      return !(to_int8 ? q && reads_input() : dq && writes_output());
    }
    if (!int8) return false;
    for (int n : k.nodes) {
      const ir::Node& node = graph.nodes[static_cast<std::size_t>(n)];
      if (!bench::boundary_layer(kernel_spec.type, std::string(ir::op_name(node.op)))) return false;
    }
    return true;
  };
  std::vector<Kernel> kernels = split_kernels(graph, rules);
  std::optional<TrainingKernel> found;
  for (Kernel& k : kernels) {
    if (k.removed || boundary(k)) continue;
    if (found) return std::nullopt;
    found = TrainingKernel{std::move(k), latency_ms};
    found->graph_io_bytes = graph_io_bytes(graph);
  }
  return found;
}

namespace {

// One one-kernel graph's run beyond its layers: end to end (unprofiled) minus what its
// layers take unprofiled (their spans less the profiler's share).
struct RunOverhead {
  double io_bytes = 0;
  double ms = 0;
};

void fit_overheads(std::vector<RunOverhead> points, Bundle& bundle) {
  // overhead = a + b * io bytes: the graphs sorted by their I/O, in up to ten groups of
  // equal count, each group's median point, a least-squares line through the medians
  // (medians, because a shared machine puts outliers into single runs). b < 0 is
  // noise: b = 0 and a the overall median.
  if (points.empty()) return;
  std::sort(points.begin(), points.end(),
            [](const RunOverhead& x, const RunOverhead& y) { return x.io_bytes < y.io_bytes; });
  const std::size_t groups = std::min<std::size_t>(10, points.size());
  std::vector<std::pair<double, double>> medians;
  for (std::size_t g = 0; g < groups; ++g) {
    const std::size_t lo = g * points.size() / groups, hi = (g + 1) * points.size() / groups;
    std::vector<double> xs, ys;
    for (std::size_t i = lo; i < hi; ++i) xs.push_back(points[i].io_bytes), ys.push_back(points[i].ms);
    if (!xs.empty()) medians.emplace_back(measure::median(xs), measure::median(ys));
  }
  const double n = static_cast<double>(medians.size());
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const auto& [x, y] : medians) sx += x, sy += y, sxx += x * x, sxy += x * y;
  const double var = sxx / n - (sx / n) * (sx / n);
  double slope = var > 0 ? (sxy / n - (sx / n) * (sy / n)) / var : 0.0;
  if (!(slope > 0)) slope = 0;
  bundle.run_overhead_ms = std::max(0.0, sy / n - slope * sx / n);
  bundle.run_ms_per_io_byte = slope;
}

// A GEMM whose weights outgrow what stays cached between two runs (Bundle::llc_bytes) reads
// them from memory inside a model, where every other layer's traffic runs between two of its
// runs: its label is its flushed time. Run back to back alone, the same kernel finds part of
// them still in a last-level cache that does not replace in LRU order: on an EPYC VM with 28 MiB
// measured to stay cached, one-row FCs of 36-120 MB ran at 1.3-2.2x their flushed speed, while
// inside alexnet and the VGGs the 9216->4096, 4096->4096 and 25088->4096 FCs ran at their flushed
// speed (21-27 bytes/ns at 1 thread; predicted from the warm labels at 0.47-0.82 of their times
// on both runtimes). Only the GEMM group: a convolution of that size (no real network has one)
// reuses each weight hundreds of times, and its flushed labels moved the conv regressor's fit
// without bringing any held-out model closer.
bool cold_labelled(const TrainingKernel& k, std::size_t llc_bytes) {
  return llc_bytes > 0 && composition_group(k.kernel.family) == "gemm" &&
         weight_bytes(k.kernel.cost) > static_cast<double>(llc_bytes) && k.cold_ms > k.latency_ms;
}

}  // namespace

Bundle train_from_timed(const std::vector<TimedSpec>& timed, const FusionRules& rules, const TrainOptions& options,
                        int* unusable) {
  std::vector<TrainingKernel> data;
  std::vector<RunOverhead> overheads;
  int bad = 0;
  for (const TimedSpec& t : timed) {
    const double label = t.label_ms(options.median_labels);
    if (!(label > 0)) continue;
    try {
      if (auto k = training_kernel(t.spec, label, rules, options.runtime)) {
        k->cold_ms = t.kernel_ms > 0 ? t.cold_ms : 0;
        if (cold_labelled(*k, options.llc_bytes)) k->latency_ms = k->cold_ms;
        // An excluded family's graphs inform nothing, the run overhead included (train drops the rest).
        const bool excluded = options.exclude_families.count(k->kernel.family) > 0;
        if (!excluded && t.layers_ms > 0 && t.layer_count > 0 && t.stats.median > 0) {
          const double layers = std::max(0.0, t.layers_ms - options.layer_excess_ms * t.layer_count);
          overheads.push_back({k->graph_io_bytes, std::max(0.0, t.stats.median - layers)});
        }
        data.push_back(std::move(*k));
        continue;
      }
    } catch (const Error&) {
    }
    ++bad;
  }
  if (unusable != nullptr) *unusable = bad;
  Bundle bundle = train(data, rules, options);
  bundle.layer_excess_ms = options.layer_excess_ms;
  bundle.kernel_start_ms = options.kernel_start_ms;
  fit_overheads(std::move(overheads), bundle);
  return bundle;
}

int calibrate_composition(Bundle& bundle, const nlohmann::json& networks, CompositionFit how) {
  bundle.composition = Composition{};
  std::vector<NetworkSample> samples;
  for (const nlohmann::json& n : networks) {
    // The host's speed when the network was timed (timed_from_database), as for the kernels.
    const double host_factor = n.value("host_factor", 1.0);
    const double measured = n.value("median_ms", 0.0) / (host_factor > 0 ? host_factor : 1.0);
    if (!(measured > 0)) continue;
    const bench::SyntheticNetwork net =
        bench::synthetic_network(n.value("seed", std::uint64_t{0}), n.value("max_macs", 1.5e9));
    if (net.name != n.value("name", "")) continue;
    const Prediction p = predict(bundle, net.graph);
    const double overhead = bundle.run_overhead_ms + bundle.run_ms_per_io_byte * graph_io_bytes(net.graph);
    samples.push_back(network_sample(net.name, measured, p, overhead));
  }
  bundle.composition = fit_composition(samples, how);
  return bundle.composition.networks;
}

namespace {

// A weight chain as the profile times it and predicts it: float, or in the int8 form the
// runtime loads (bench::int8_form_of) for an int8 profile.
ir::Graph chain_graph(const bench::KernelSpec& spec, int copies, bool int8, const std::string& runtime) {
  ir::Graph graph = bench::weight_chain(spec, copies);
  if (!int8) return graph;
  return bench::int8_form_of(runtime, graph).graph;
}

}  // namespace

int calibrate_cold(Bundle& bundle, const nlohmann::json& chains) {
  auto group_of = [](const std::string& family) { return composition_group(family) == "gemm" ? "gemm" : "conv"; };
  for (auto& [name, f] : bundle.families) f.cold_scale.clear();
  std::map<std::string, std::map<double, std::vector<double>>> points;  // group -> x -> scales
  int used = 0;
  for (const nlohmann::json& c : chains) {
    const double single = c.value("single_ms", 0.0), chain = c.value("chain_ms", 0.0);
    const int copies = c.value("copies", 0);
    if (!(single > 0) || !(chain > 0) || copies < 2 || !c.contains("spec")) continue;
    ir::Graph graph;
    try {
      graph = chain_graph(bench::kernel_spec_from_json(c["spec"]), copies, bundle.precision == "int8", bundle.runtime);
    } catch (const std::exception&) {
      continue;  // a record this build cannot rebuild
    }
    const Prediction p = predict(bundle, graph);
    double predicted = 0, x = 0, params = 0;
    std::string group;
    for (std::size_t i = 0; i < p.kernels.size(); ++i) {
      if (p.kernels[i].removed) continue;
      // At full cold: a chain's weights are at least three times the cache, and where the log2 ramp calls a chain
      // part-warm its measured excess is still all of what cold weights cost it. Not the kernel's cold_excess_ms:
      // predict gives none to a kernel above half the cache, and the one-row FC chain (2048->2048, 16.8 MB) is just
      // above half of a 32 MiB one, which dropped its point and held the 50-row point's scale (3.5 on XNNPACK) for
      // every classifier: a 4096->1000 FC was predicted at 3.1x its time inside vgg16, 1.8 against 0.58 ms.
      predicted += flushed_weight_excess_ms(bundle, p.kernels[i]);
      // The point is the copies' (an int8 chain also has its QUANTIZE and DEQUANTIZE
      // kernels at the edges, which hold no weights).
      if (p.kernels[i].cost.params > params) {
        params = p.kernels[i].cost.params;
        group = group_of(p.kernels[i].family);
        x = weight_reuse_x(p.kernels[i]);
      }
    }
    if (group.empty() || !(predicted > 0)) continue;
    const double measured = chain - copies * single + (copies - 1) * bundle.run_overhead_ms;
    points[group][x].push_back(std::clamp(measured / predicted, 0.0, 4.0));
    ++used;
  }
  for (auto& [name, f] : bundle.families) {
    const auto it = points.find(group_of(name));
    if (it == points.end()) continue;
    for (const auto& [x, scales] : it->second)
      f.cold_scale.push_back(
          {x, std::accumulate(scales.begin(), scales.end(), 0.0) / static_cast<double>(scales.size())});
  }
  return used;
}

nlohmann::json measure_cold_chains(runtime::Runtime& engine, int threads, std::size_t cache_bytes, bool int8,
                                   std::ostream* progress) {
  constexpr int kRounds = 3;
  nlohmann::json out = nlohmann::json::array();
  for (const bench::KernelSpec& spec : bench::cold_chain_specs()) {
    if (bench::stop_requested()) break;
    const ir::Graph single = chain_graph(spec, 1, int8, engine.name());
    double weights = 0;
    for (const ir::Tensor& t : single.tensors)
      if (t.is_constant()) weights += static_cast<double>(t.bytes().value_or(0));
    const int copies =
        static_cast<int>(std::clamp(std::ceil(3.0 * static_cast<double>(cache_bytes) / std::max(weights, 1.0)), 4.0,
                                    static_cast<double>(bench::kMaxChainCopies)));
    nlohmann::json row = {{"spec", bench::to_json(spec)}, {"copies", copies}, {"weight_bytes", weights * copies}};
    try {
      const ir::Graph chain = chain_graph(spec, copies, int8, engine.name());
      std::vector<double> alone, chained;
      for (int round = 0; round < kRounds && !bench::stop_requested(); ++round) {
        alone.push_back(bench::time_network(engine, single, threads, network_protocol()).median);
        chained.push_back(bench::time_network(engine, chain, threads, network_protocol()).median);
      }
      if (alone.empty()) break;
      row["single_ms"] = measure::median(alone);
      row["chain_ms"] = measure::median(chained);
    } catch (const std::exception& e) {
      row["error"] = e.what();
    }
    if (progress != nullptr) {
      *progress << "profile: cold weights: " << spec.key() << (int8 ? " as int8" : "") << " x" << copies;
      if (row.contains("error"))
        *progress << ": " << row["error"].get<std::string>() << "\n";
      else
        *progress << ": " << row["single_ms"].get<double>() << " ms alone, " << row["chain_ms"].get<double>() / copies
                  << " ms per copy chained\n";
    }
    out.push_back(std::move(row));
  }
  return out;
}

store::Profile store_profile(const nlohmann::json& context, const FusionRules& rules) {
  store::Profile p;
  p.name = context.value("name", "");
  p.runtime = context.value("runtime", "");
  p.runtime_version = context.value("runtime_version", "");
  p.threads = context.value("threads", 0);
  p.precision = context.value("precision", "fp32");
  p.device = context.value("device", "");
  p.machine_id = context.value("machine_id", "");
  p.hostname = context.value("hostname", "");
  p.created_utc = context.value("created_utc", "");
  p.extra = {{"fusion_rules", to_json(rules)},
             {"l2_bytes", context.value("l2_bytes", std::size_t{0})},
             {"llc_bytes", context.value("llc_bytes", std::size_t{0})},
             {"cache_bytes", context.value("cache_bytes", std::size_t{0})},
             {"layer_excess_ms", context.value("layer_excess_ms", 0.0)}};
  if (context.contains("kernel_start_ms")) p.extra["kernel_start_ms"] = context["kernel_start_ms"];
  if (context.contains("cache_readings")) p.extra["cache_readings"] = context["cache_readings"];
  if (context.contains("networks")) p.extra["networks"] = context["networks"];
  if (context.contains("cold_chains")) p.extra["cold_chains"] = context["cold_chains"];
  return p;
}

namespace {

// The q-quantile of sorted values, interpolated between neighbours.
double quantile_sorted(const std::vector<double>& v, double q) {
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto i = static_cast<std::size_t>(pos);
  if (i + 1 >= v.size()) return v.back();
  return v[i] + (pos - static_cast<double>(i)) * (v[i + 1] - v[i]);
}

}  // namespace

HostSpeed::HostSpeed(std::vector<Reading> readings) {
  for (const Reading& r : readings)
    if (r.t > 0 && std::isfinite(r.ms) && r.ms > 0) readings_.push_back(r);
  std::sort(readings_.begin(), readings_.end(), [](const Reading& a, const Reading& b) { return a.t < b.t; });
  if (readings_.empty()) return;
  std::vector<double> ms;
  for (const Reading& r : readings_) ms.push_back(r.ms);
  std::sort(ms.begin(), ms.end());
  median_ms_ = quantile_sorted(ms, 0.5);
  p10_ = quantile_sorted(ms, 0.1) / median_ms_;
  p90_ = quantile_sorted(ms, 0.9) / median_ms_;
}

double HostSpeed::factor(std::int64_t t) const {
  if (!active()) return 1.0;
  // The kNearest readings closest to t: a window of that many consecutive readings.
  const auto at =
      std::lower_bound(readings_.begin(), readings_.end(), t, [](const Reading& r, std::int64_t v) { return r.t < v; });
  auto lo = at, hi = at;  // [lo, hi)
  while (static_cast<std::size_t>(hi - lo) < kNearest) {
    const bool can_lo = lo != readings_.begin(), can_hi = hi != readings_.end();
    if (!can_lo && !can_hi) break;
    if (can_lo && (!can_hi || t - (lo - 1)->t <= hi->t - t)) {
      --lo;
    } else {
      ++hi;
    }
  }
  std::int64_t gap = std::numeric_limits<std::int64_t>::max();
  std::vector<double> ms;
  for (auto it = lo; it != hi; ++it) {
    gap = std::min(gap, std::abs(it->t - t));
    ms.push_back(it->ms);
  }
  if (gap > kMaxGapS) return 1.0;
  std::sort(ms.begin(), ms.end());
  const double f = std::clamp(quantile_sorted(ms, 0.5) / median_ms_, 0.5, 2.0);
  return std::abs(f - 1.0) < kDeadBand ? 1.0 : f;
}

std::int64_t epoch_seconds(const std::string& utc) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(utc.c_str(), "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
      consumed != static_cast<int>(utc.size()))
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<std::int64_t>(timegm(&tm));
}

std::vector<TimedSpec> timed_from_database(const store::Database& db, const std::string& name, FusionRules& rules,
                                           nlohmann::json& context, bool host_speed) {
  const auto profile = db.find_profile(name);
  if (!profile) {
    std::string known;
    for (const auto& p : db.profiles()) known += (known.empty() ? "" : ", ") + p.name;
    throw Error(ErrorKind::kInvalidArgument, "", "profile '" + name + "'",
                "not in the database (it has: " + (known.empty() ? std::string("none") : known) + ")");
  }
  rules = profile->extra.contains("fusion_rules") ? fusion_rules_from_json(profile->extra["fusion_rules"])
                                                  : default_fusion_rules();
  context = {{"name", profile->name},
             {"runtime", profile->runtime},
             {"runtime_version", profile->runtime_version},
             {"threads", profile->threads},
             {"precision", profile->precision},
             {"device", profile->device},
             {"machine_id", profile->machine_id},
             {"hostname", profile->hostname},
             {"created_utc", profile->created_utc},
             {"l2_bytes", profile->extra.value("l2_bytes", std::size_t{0})},
             {"llc_bytes", profile->extra.value("llc_bytes", std::size_t{0})},
             {"cache_bytes", profile->extra.value("cache_bytes", std::size_t{0})},
             {"layer_excess_ms", profile->extra.value("layer_excess_ms", 0.0)}};
  if (profile->extra.contains("kernel_start_ms")) context["kernel_start_ms"] = profile->extra["kernel_start_ms"];
  if (profile->extra.contains("networks")) context["networks"] = profile->extra["networks"];
  if (profile->extra.contains("cold_chains")) context["cold_chains"] = profile->extra["cold_chains"];
  std::vector<HostSpeed::Reading> readings;
  std::string reference;
  for (const store::ModelMeasurement& m : db.model_measurements(profile->id)) {
    if (!bench::host_reference_reading(m) || !m.error.empty()) continue;
    readings.push_back({epoch_seconds(m.timestamp_utc), bench::host_reference_ms(m)});
    reference = m.model_hash;
  }
  const HostSpeed speed(std::move(readings));
  const double cache_bytes = static_cast<double>(profile->extra.value("cache_bytes", std::size_t{0}) > 0
                                                     ? profile->extra.value("cache_bytes", std::size_t{0})
                                                     : profile->extra.value("llc_bytes", std::size_t{0}));
  const bool apply = host_speed && speed.active();
  if (speed.readings() > 0) {
    context["host_speed"] = {{"reference", reference}, {"readings", speed.readings()}, {"median_ms", speed.median_ms()},
                             {"p10", speed.p10()},     {"p90", speed.p90()},           {"applied", apply}};
  }
  // A synthetic network (profile --network-share) carries the host's speed at the time it was
  // timed; calibrate_composition divides its time by it. Networks move far less than a
  // one-row FC beyond the cache, so the cache rule below does not apply to them.
  if (context.contains("networks")) {
    for (nlohmann::json& n : context["networks"]) {
      n.erase("host_factor");
      if (apply && n.contains("epoch_s")) n["host_factor"] = speed.factor(n.value("epoch_s", std::int64_t{0}));
    }
  }
  std::vector<TimedSpec> out;
  for (const auto& mk : db.measured_kernels(profile->id)) {
    TimedSpec t;
    t.spec = mk.kernel.params;
    t.stats = mk.measurement.stats;
    t.kernel_ms = mk.measurement.own_ms;
    t.layers_ms = mk.measurement.layers_ms;
    t.layer_count = mk.measurement.layer_count;
    t.cold_ms = mk.measurement.cold_ms;
    t.kernel_median_ms = mk.measurement.own_median_ms;
    // The reference runs from the private caches, so it reads the cores' speed, not the
    // memory's: a kernel that streams more than the cache holds keeps its times (measured:
    // one-row FCs of 70-250 MB ran at 13-62 GB/s here whatever the reference read, and
    // divided by it alexnet's classifier was predicted at half its in-model time).
    const double moved = mk.kernel.features.value("read_bytes", 0.0) + mk.kernel.features.value("write_bytes", 0.0);
    if (apply && !(cache_bytes > 0 && moved > cache_bytes)) {
      const double f = speed.factor(epoch_seconds(mk.measurement.timestamp_utc));
      for (double* v : {&t.stats.median, &t.stats.mean, &t.stats.min, &t.stats.max, &t.stats.std, &t.kernel_ms,
                        &t.layers_ms, &t.cold_ms, &t.kernel_median_ms})
        *v /= f;
    }
    out.push_back(std::move(t));
  }
  return out;
}

double host_profile_median_ms(const Bundle& bundle) {
  if (!bundle.profile.is_object() || !bundle.profile.contains("host_speed")) return 0;
  const nlohmann::json& h = bundle.profile["host_speed"];
  return h.is_object() ? h.value("median_ms", 0.0) : 0.0;
}

double read_host_reference_ms(runtime::Runtime& engine, int threads) {
  bench::TimingOptions timing;
  timing.threads = threads > 0 ? threads : measure::machine_context().cores;
  timing.protocol = kernel_protocol();
  return bench::host_reference_ms(bench::time_host_reference(engine, timing));
}

HostReading read_host(const Bundle& bundle, runtime::Runtime& engine) {
  HostReading r;
  r.profile_median_ms = host_profile_median_ms(bundle);
  if (!(r.profile_median_ms > 0))
    throw Error(ErrorKind::kInvalidArgument, "", "profile.host_speed",
                "the bundle's profile read no host speed (profile again to read it)");
  r.reference_ms = read_host_reference_ms(engine, bundle.threads);
  if (!(r.reference_ms > 0) || !std::isfinite(r.reference_ms))
    throw Error(ErrorKind::kUnsupported, "", "host reference", "the reference kernel gave no time on this runtime");
  r.speed = r.reference_ms / r.profile_median_ms;
  return r;
}

void scale_to_host(Prediction& prediction, double speed) {
  if (!(speed > 0) || !std::isfinite(speed))
    throw Error(ErrorKind::kInvalidArgument, "", "host speed", std::to_string(speed) + " (a positive factor)");
  for (KernelPrediction& k : prediction.per_kernel) {
    k.ms *= speed;
    k.lo_ms *= speed;
    k.hi_ms *= speed;
    k.cold_excess_ms *= speed;
  }
  prediction.ms *= speed;
  prediction.between_kernels_ms *= speed;
  prediction.run_overhead_ms *= speed;
  prediction.lo_ms *= speed;
  prediction.hi_ms *= speed;
}

}  // namespace infercast::predict
