// Training data for a profile (include/infercast/predict/profile.hpp).
#include "infercast/predict/profile.hpp"

#include <unistd.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "infercast/base/error.hpp"
#include "infercast/bench/kernel.hpp"
#include "infercast/export/export.hpp"
#include "infercast/import/import.hpp"

namespace infercast::predict {

namespace {

// A seeded neighbour of `spec`: spatial sizes and channel counts scaled, the rest kept.
std::optional<bench::KernelSpec> jittered(const bench::KernelSpec& spec, std::mt19937_64& rng) {
  static const double kScales[] = {0.5, 0.75, 1.25, 1.5, 2.0};
  std::uniform_int_distribution<int> pick(0, 4);
  bench::KernelSpec out = spec;
  for (auto& [name, value] : out.params) {
    if (name == "h" || name == "w") {
      // keep square maps square: h and w get the same factor below
      continue;
    }
    if (name == "cin" || name == "cout" || name == "c" || name == "m" || (name == "k" && spec.type == "matmul")) {
      if (pick(rng) < 2) continue;  // leave some channels as they are
      value = std::max<std::int64_t>(1, static_cast<std::int64_t>(static_cast<double>(value) * kScales[pick(rng)]));
      if (value > 8) value = (value + 7) / 8 * 8;
    }
  }
  if (out.params.count("h") != 0 && out.params.count("w") != 0 && out.params["h"] > 1) {
    const double s = kScales[pick(rng)];
    out.params["h"] = std::max<std::int64_t>(1, static_cast<std::int64_t>(static_cast<double>(out.params["h"]) * s));
    out.params["w"] = std::max<std::int64_t>(1, static_cast<std::int64_t>(static_cast<double>(out.params["w"]) * s));
  }
  // Depthwise and grouped convs keep their structure: groups follow the channels.
  if (out.params.count("groups") != 0 && spec.params.at("groups") > 1) {
    out.params["cin"] = spec.params.at("cin");
    out.params["cout"] = spec.params.at("cout");
  }
  try {
    bench::validate(out);
  } catch (const Error&) {
    return std::nullopt;
  }
  return out;
}

}  // namespace

std::vector<nlohmann::json> prior_specs(const std::vector<std::filesystem::path>& models, const FusionRules& rules,
                                        int jitter, std::uint64_t seed, std::vector<std::string>* skipped) {
  std::vector<bench::KernelSpec> specs;
  std::set<std::string> seen;
  for (const auto& path : models) {
    try {
      const ir::Graph graph = import::load_model(path);
      for (const Kernel& k : split_kernels(graph, rules)) {
        if (k.removed) continue;
        const auto spec = bench::kernel_spec_of(graph, k.nodes);
        if (!spec) continue;
        if (seen.insert(spec->key()).second) specs.push_back(*spec);
      }
    } catch (const Error& e) {
      if (skipped != nullptr) skipped->push_back(path.string() + ": " + e.what());
    }
  }
  std::mt19937_64 rng(seed);
  const std::size_t base = specs.size();
  for (int j = 0; j < jitter; ++j) {
    for (std::size_t i = 0; i < base; ++i) {
      if (auto v = jittered(specs[i], rng); v && seen.insert(v->key()).second) specs.push_back(*v);
    }
  }
  std::vector<nlohmann::json> out;
  out.reserve(specs.size());
  for (const auto& s : specs) out.push_back(bench::to_json(s));
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

namespace {

// Layers a one-kernel graph runs that a model does not pay per kernel: the layout
// conversions at the graph's boundary (XNNPACK's NHWC round trip adds Transposes;
// ONNX Runtime's NCHWc layout adds ReorderInput/ReorderOutput around a lone conv) and
// the explicit Pad the TFLite writer adds where ONNX's symmetric pads are not SAME (a
// model's own padding is part of its conv).
bool boundary_layer(const std::string& kernel_type, const std::string& op) {
  if (op == "ReorderInput" || op == "ReorderOutput") return true;
  if (op == "Transpose") return kernel_type != "transpose" && kernel_type != "channel_shuffle";
  if (op == "Pad") return kernel_type != "pad";
  return false;
}

// Kernels whose NCHW one-kernel graph XNNPACK would time with a re-layout inside the
// op: the spatial ones. Elementwise kernels run as they are: their time does not depend
// on the layout, and a TFLite round trip could lower them differently (HardSigmoid
// becomes MUL, ADD, RELU_0_TO_1, while a model runs one HardSigmoid).
bool layout_sensitive(const std::string& type) {
  static const std::set<std::string> spatial = {
      "convtranspose", "maxpool", "avgpool", "globalavgpool", "resize_nearest", "resize_bilinear",
      "pad",           "concat",  "se",      "channel_mul"};
  return type.rfind("conv", 0) == 0 || type.rfind("dwconv", 0) == 0 || spatial.count(type) != 0;
}

// Each layer's fastest run: on a shared machine the other tenants only ever add time,
// so the minimum is the estimate least disturbed by them (validate compares it with a
// model's fastest end-to-end run).
double own_time_ms(const std::string& kernel_type, const runtime::RunResult& r) {
  double sum = 0;
  for (const runtime::LayerTiming& l : r.layers)
    if (!boundary_layer(kernel_type, l.op)) sum += l.ms.min;
  return sum;
}

double all_layers_ms(const runtime::RunResult& r) {
  double sum = 0;
  for (const runtime::LayerTiming& l : r.layers) sum += l.ms.median;
  return sum;
}

}  // namespace

measure::Protocol cold_protocol() {
  measure::Protocol p;
  p.warmup = 1;
  p.min_repeats = 10;
  p.max_repeats = 10;
  p.min_time_s = 0;
  p.max_remeasure = 0;
  return p;
}

std::size_t cold_flush_bytes() {
  static const std::size_t bytes = std::max<std::size_t>(2 * measure::machine_context().llc_bytes, 16u << 20);
  return bytes;
}

TimedSpec time_spec(runtime::Runtime& engine, const nlohmann::json& spec, int threads,
                    const measure::Protocol& protocol) {
  TimedSpec out;
  out.spec = spec;
  std::filesystem::path runner_file;  // the .onnx an external runner reads
  try {
    const ir::Graph graph = bench::build_kernel_graph(bench::kernel_spec_from_json(spec));
    const std::string type = spec.value("type", "");
    const bool nhwc_possible =
        layout_sensitive(type) && exporter::unsupported_nodes(graph, exporter::Format::kTflite).empty();
    const std::string stem = "infercast-predict-kernel-" + std::to_string(::getpid());
    ir::Graph converted;  // the kernel as the runtime loads it, when it is not `graph` itself
    const ir::Graph* timed_graph = &graph;
    if (engine.name() == "xnnpack" && nhwc_possible) {
      // XNNPACK computes spatial ops in NHWC; an NCHW kernel graph's per-layer time
      // includes the re-layout of its input and output (3x the conv itself for a 1x1
      // conv), which a real NHWC model, or an NCHW one after the layout pass, does not
      // pay per layer. So the kernel runs as NHWC (a .tflite round trip: explicit
      // boundary Transposes).
      const std::filesystem::path file = std::filesystem::temp_directory_path() / (stem + ".tflite");
      exporter::save(graph, file, exporter::Format::kTflite);
      converted = import::load_model(file);
      timed_graph = &converted;
      std::error_code ec;
      std::filesystem::remove(file, ec);
    } else if (engine.name() != "xnnpack") {
      // External runners load files: the kernel as a one-kernel .onnx, imported back
      // so the runner and the graph agree (the bench loop does the same). The runner
      // reads the file again for its profiled passes, so it stays until they are done.
      runner_file = std::filesystem::temp_directory_path() / (stem + ".onnx");
      exporter::ExportOptions eo;
      eo.opset = static_cast<int>(std::max<std::int64_t>(13, graph.meta.opset));
      exporter::save(graph, runner_file, exporter::Format::kOnnx, eo);
      converted = import::load_model(runner_file);
      timed_graph = &converted;
    }
    engine.prepare(*timed_graph, {threads});
    const runtime::RunResult r = engine.run({protocol, true, 42});
    const runtime::RunResult cold = engine.run({cold_protocol(), true, 42, cold_flush_bytes()});
    out.stats = r.latency_ms;
    out.kernel_ms = own_time_ms(type, r);
    out.layers_ms = all_layers_ms(r);
    out.layer_count = static_cast<int>(r.layers.size());
    out.cold_ms = own_time_ms(type, cold);
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  if (!runner_file.empty()) {
    std::error_code ec;
    std::filesystem::remove(runner_file, ec);
  }
  return out;
}

std::optional<TrainingKernel> training_kernel(const nlohmann::json& spec, double latency_ms, const FusionRules& rules) {
  const ir::Graph graph = bench::build_kernel_graph(bench::kernel_spec_from_json(spec));
  std::vector<Kernel> kernels = split_kernels(graph, rules);
  std::optional<TrainingKernel> found;
  for (Kernel& k : kernels) {
    if (k.removed) continue;
    if (found) return std::nullopt;
    found = TrainingKernel{std::move(k), latency_ms};
  }
  return found;
}

namespace {

void fit_overheads(const std::vector<TimedSpec>& timed, Bundle& bundle) {
  // What a run costs beyond its layers' own times, as a + b * layers: the median
  // overhead of the graphs with each layer count, then a least-squares line through
  // those medians (a lone count gives b = 0; a negative slope is noise, also b = 0).
  std::map<int, std::vector<double>> by_count;
  for (const TimedSpec& t : timed) {
    if (t.error.empty() && t.layers_ms > 0 && t.layer_count > 0 && t.stats.median > 0)
      by_count[t.layer_count].push_back(std::max(0.0, t.stats.median - t.layers_ms));
  }
  std::vector<std::pair<double, double>> points;  // (layers, median overhead)
  std::vector<double> weights;
  for (auto& [count, v] : by_count) {
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    points.emplace_back(count, v[v.size() / 2]);
    weights.push_back(static_cast<double>(v.size()));
  }
  if (points.empty()) return;
  double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const auto [x, y] = points[i];
    sw += weights[i], sx += weights[i] * x, sy += weights[i] * y, sxx += weights[i] * x * x, sxy += weights[i] * x * y;
  }
  const double var = sxx / sw - (sx / sw) * (sx / sw);
  double slope = var > 0 ? (sxy / sw - (sx / sw) * (sy / sw)) / var : 0.0;
  if (!(slope > 0)) slope = 0;
  const double intercept = std::max(0.0, sy / sw - slope * sx / sw);
  bundle.run_overhead_ms = intercept;
  bundle.kernel_overhead_ms = slope;
}

}  // namespace

Bundle train_from_timed(const std::vector<TimedSpec>& timed, const FusionRules& rules, const TrainOptions& options,
                        int* unusable) {
  std::vector<TrainingKernel> data;
  int bad = 0;
  for (const TimedSpec& t : timed) {
    if (!t.error.empty() || !(t.label_ms() > 0)) continue;
    try {
      if (auto k = training_kernel(t.spec, t.label_ms(), rules)) {
        k->cold_ms = t.kernel_ms > 0 ? t.cold_ms : 0;
        data.push_back(std::move(*k));
        continue;
      }
    } catch (const Error&) {
    }
    ++bad;
  }
  if (unusable != nullptr) *unusable = bad;
  Bundle bundle = train(data, rules, options);
  fit_overheads(timed, bundle);
  return bundle;
}

store::Profile store_profile(const nlohmann::json& context, const FusionRules& rules) {
  store::Profile p;
  p.name = context.value("name", "");
  p.runtime = context.value("runtime", "");
  p.runtime_version = context.value("runtime_version", "");
  p.threads = context.value("threads", 0);
  p.device = context.value("device", "");
  p.machine_id = context.value("machine_id", "");
  p.hostname = context.value("hostname", "");
  p.created_utc = context.value("created_utc", "");
  p.extra = {{"fusion_rules", to_json(rules)},
             {"l2_bytes", context.value("l2_bytes", std::size_t{0})},
             {"llc_bytes", context.value("llc_bytes", std::size_t{0})}};
  return p;
}

std::vector<TimedSpec> timed_from_database(const store::Database& db, const std::string& name, FusionRules& rules,
                                           nlohmann::json& context) {
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
             {"device", profile->device},
             {"machine_id", profile->machine_id},
             {"hostname", profile->hostname},
             {"created_utc", profile->created_utc},
             {"l2_bytes", profile->extra.value("l2_bytes", std::size_t{0})},
             {"llc_bytes", profile->extra.value("llc_bytes", std::size_t{0})}};
  std::vector<TimedSpec> out;
  for (const auto& mk : db.measured_kernels(profile->id)) {
    TimedSpec t;
    t.spec = mk.kernel.params;
    t.stats = mk.measurement.stats;
    out.push_back(std::move(t));
  }
  return out;
}

nlohmann::json to_json(const TimedSpec& t) {
  return {{"spec", t.spec},
          {"median_ms", t.stats.median},
          {"min_ms", t.stats.min},
          {"mean_ms", t.stats.mean},
          {"cv", t.stats.cv},
          {"n", t.stats.n},
          {"kernel_ms", t.kernel_ms},
          {"layers_ms", t.layers_ms},
          {"layer_count", t.layer_count},
          {"cold_ms", t.cold_ms},
          {"error", t.error}};
}

TimedSpec timed_spec_from_json(const nlohmann::json& j) {
  TimedSpec t;
  try {
    t.spec = j.at("spec");
    t.stats.median = j.at("median_ms").get<double>();
    t.stats.min = j.value("min_ms", t.stats.median);
    t.stats.mean = j.value("mean_ms", t.stats.median);
    t.stats.cv = j.value("cv", 0.0);
    t.stats.n = j.value("n", std::size_t{0});
    t.kernel_ms = j.value("kernel_ms", 0.0);
    t.layers_ms = j.value("layers_ms", 0.0);
    t.layer_count = j.value("layer_count", 0);
    t.cold_ms = j.value("cold_ms", 0.0);
    t.error = j.value("error", "");
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::kBadModel, "", "measurement row", std::string("malformed: ") + e.what());
  }
  return t;
}

}  // namespace infercast::predict
