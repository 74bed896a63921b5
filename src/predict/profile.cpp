// Training data for a profile (include/infercast/predict/profile.hpp).
#include "infercast/predict/profile.hpp"

#include <unistd.h>

#include <algorithm>
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

TimedSpec time_spec(runtime::Runtime& engine, const nlohmann::json& spec, int threads,
                    const measure::Protocol& protocol) {
  TimedSpec out;
  out.spec = spec;
  try {
    const ir::Graph graph = bench::build_kernel_graph(bench::kernel_spec_from_json(spec));
    auto own_time = [&out](const ir::Graph& g, const runtime::RunResult& r) {
      double sum = 0;
      for (const runtime::LayerTiming& l : r.layers) {
        for (const ir::Node& n : g.nodes) {
          if (n.name == l.name) {
            sum += l.ms.median;
            break;
          }
        }
      }
      out.kernel_ms = sum;
    };
    const std::string type = spec.value("type", "");
    const bool nhwc_possible = exporter::unsupported_nodes(graph, exporter::Format::kTflite).empty();
    if (engine.name() == "xnnpack" && nhwc_possible && type != "transpose" && type != "channel_shuffle" &&
        type != "reshape") {
      // XNNPACK computes in NHWC; an NCHW kernel graph's per-layer time includes the
      // re-layout of its input and output (3x the conv itself for a 1x1 conv), which a
      // real NHWC model, or an NCHW one after the layout pass, does not pay per layer.
      // So the kernel runs as NHWC (a .tflite round trip: explicit boundary Transposes)
      // and its own time is every layer but those Transposes. Kernels the TFLite writer
      // cannot express (bilinear resize of ONNX origin) keep the NCHW graph.
      const std::filesystem::path file = std::filesystem::temp_directory_path() /
                                         ("infercast-predict-kernel-" + std::to_string(::getpid()) + ".tflite");
      exporter::save(graph, file, exporter::Format::kTflite);
      const ir::Graph nhwc = import::load_model(file);
      std::error_code ec;
      std::filesystem::remove(file, ec);
      engine.prepare(nhwc, {threads});
      const runtime::RunResult r = engine.run({protocol, true, 42});
      out.stats = r.latency_ms;
      for (const runtime::LayerTiming& l : r.layers)
        if (l.op != "Transpose") out.kernel_ms += l.ms.median;
    } else if (engine.name() == "xnnpack") {
      engine.prepare(graph, {threads});
      const runtime::RunResult r = engine.run({protocol, true, 42});
      out.stats = r.latency_ms;
      own_time(graph, r);
    } else {
      // External runners load files: the kernel as a one-kernel .onnx, imported back
      // so the runner and the graph agree (the bench loop does the same).
      const std::filesystem::path file =
          std::filesystem::temp_directory_path() / ("infercast-predict-kernel-" + std::to_string(::getpid()) + ".onnx");
      exporter::ExportOptions eo;
      eo.opset = static_cast<int>(std::max<std::int64_t>(13, graph.meta.opset));
      exporter::save(graph, file, exporter::Format::kOnnx, eo);
      const ir::Graph imported = import::load_model(file);
      engine.prepare(imported, {threads});
      out.stats = engine.run({protocol, false, 42}).latency_ms;
      std::error_code ec;
      std::filesystem::remove(file, ec);
    }
  } catch (const std::exception& e) {
    out.error = e.what();
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

Bundle train_from_timed(const std::vector<TimedSpec>& timed, const FusionRules& rules, const TrainOptions& options,
                        int* unusable) {
  std::vector<TrainingKernel> data;
  int bad = 0;
  for (const TimedSpec& t : timed) {
    if (!t.error.empty() || !(t.label_ms() > 0)) continue;
    try {
      if (auto k = training_kernel(t.spec, t.label_ms(), rules)) {
        data.push_back(std::move(*k));
        continue;
      }
    } catch (const Error&) {
    }
    ++bad;
  }
  if (unusable != nullptr) *unusable = bad;
  return train(data, rules, options);
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
  p.extra = {{"fusion_rules", to_json(rules)}};
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
             {"created_utc", profile->created_utc}};
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
  return {{"spec", t.spec},           {"median_ms", t.stats.median},
          {"min_ms", t.stats.min},    {"mean_ms", t.stats.mean},
          {"cv", t.stats.cv},         {"n", t.stats.n},
          {"kernel_ms", t.kernel_ms}, {"error", t.error}};
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
    t.error = j.value("error", "");
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::kBadModel, "", "measurement row", std::string("malformed: ") + e.what());
  }
  return t;
}

}  // namespace infercast::predict
