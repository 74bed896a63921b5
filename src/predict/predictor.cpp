// Training, bundle files and prediction (include/infercast/predict/predictor.hpp).
#include "infercast/predict/predictor.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <tuple>

#include "infercast/base/error.hpp"
#include "infercast/bench/kernel.hpp"
#include "infercast/measure/stats.hpp"

namespace infercast::predict {

namespace {

constexpr char kMagic[] = "INFERCAST-PREDICTOR\n";
constexpr std::size_t kMagicSize = sizeof(kMagic) - 1;
// z of a two-sided 90% band.
constexpr double kZ90 = 1.645;
// The rows FamilyModel::cold_start_ms is the median over: at most this many weight bytes
// (a squeeze-excitation FC's 1-60 KB, a small conv's).
constexpr double kColdStartWeightBytes = 64.0 * 1024;

}  // namespace

namespace {

// What XNNPACK pays to turn an NCHW model's 4-D input channels-last: it holds a CNN's
// activations so, and converts the input inside the first layer that reads it
// (runtime::xnnpack Builder::as_order, a gather into a new tensor), which the bench's
// kernel labels never include (their inputs are channels-last already). Priced as the
// bench's `transpose` kernel of the input's shape (NCHW to NHWC, the same gather) by the
// datamove regressor; 0 for other runtimes, channels-last (TFLite) models and bundles
// without that regressor. Measured at 1 thread: the first conv of every torchvision model
// with a small stem (3x3 stride 2 on a 224x224 image) was predicted 0.14-0.18 ms short,
// 4-10% of mobilenet_v3_small's, mnasnet0_5's and shufflenet_v2_x0_5's latency.
double input_conversion_ms(const Bundle& bundle, const ir::Graph& graph, const ir::Tensor& input) {
  if (bundle.runtime != "xnnpack" || graph.meta.layout == ir::Layout::kNHWC || input.shape.rank() != 4 ||
      !input.shape.is_static() || !ir::is_floating(input.dtype))
    return 0;
  const auto family = bundle.families.find("datamove");
  if (family == bundle.families.end() || family->second.kind == ModelKind::kRoofline) return 0;
  const auto d = input.shape.extents();
  bench::KernelSpec spec{"transpose", {{"n", d[0]}, {"c", d[1]}, {"h", d[2]}, {"w", d[3]}}, ir::DType::kFloat32};
  try {
    bench::validate(spec);
  } catch (const Error&) {
    return 0;  // beyond the bench's tensor limits: no label could say
  }
  const ir::Graph transpose = bench::build_kernel_graph(spec);
  for (const Kernel& k : split_kernels(transpose, bundle.rules))
    if (!k.removed && k.family == "datamove") {
      const std::vector<Features> row{k.features};
      return family->second.xgb.predict_ms(row).front();
    }
  return 0;
}

// Per kernel of `p`: what XNNPACK pays inside its layer to turn an NCHW tensor
// channels-last (input_conversion_ms; 0 on other runtimes and channels-last models). On
// an NCHW model it holds three kinds of 4-D tensor in NCHW order: the graph's inputs,
// what a channel shuffle (Reshape, Transpose, Reshape over NCHW axes) writes, and the
// slices of either (a slice keeps its input's order). The first kernel that reads such a
// tensor converts it once, when it runs channels-last: a convolution or a pool, or a
// concat with a channels-last input. A tensor first read by any other kernel is converted
// later, in a layer this does not find. Measured at 1 thread: the stems of torchvision's
// small CNNs were predicted 0.14-0.18 ms short without it; in shufflenet_v2_x1_0 the
// concat of a unit whose pass-through half was sliced from the previous unit's shuffle
// takes 36-39 us against 10-12 us for the same concat in a unit's first block, and a
// branch's first 1x1 conv after such a slice 64 us against 48 us.
std::vector<double> nchw_conversion_ms(const Bundle& bundle, const ir::Graph& graph, const Prediction& p) {
  std::vector<double> conversion(p.kernels.size(), 0.0);
  if (bundle.runtime != "xnnpack" || graph.meta.layout == ir::Layout::kNHWC) return conversion;
  static const std::set<std::string> kSpatial = {"conv", "gconv", "dwconv", "convtranspose", "pool"};
  enum : char { kChannelsLast = 0, kNchw = 1, kHandled = 2 };
  std::vector<char> order(graph.tensors.size(), kChannelsLast);
  const auto rank4 = [&](int t) { return graph.tensors[static_cast<std::size_t>(t)].shape.rank() == 4; };
  for (int input : graph.inputs)
    if (!graph.tensors[static_cast<std::size_t>(input)].is_constant() && rank4(input))
      order[static_cast<std::size_t>(input)] = kNchw;
  for (std::size_t i = 0; i < p.kernels.size(); ++i) {
    const Kernel& k = p.kernels[i];
    if (k.removed) continue;
    const std::vector<int> inputs = kernel_inputs(graph, k);
    const auto nchw = [&](int t) { return order[static_cast<std::size_t>(t)] == kNchw; };
    const std::vector<int>& outputs = graph.nodes[static_cast<std::size_t>(k.nodes.back())].outputs;
    if (k.family == "slice" && !inputs.empty() && nchw(inputs.front())) {
      for (int t : outputs)
        if (t >= 0 && rank4(t)) order[static_cast<std::size_t>(t)] = kNchw;
      continue;
    }
    const bool converts =
        kSpatial.count(k.family) != 0 ||
        (k.family == "concat" && std::any_of(inputs.begin(), inputs.end(), [&](int t) { return !nchw(t); }));
    for (int t : inputs) {
      if (!nchw(t)) continue;
      if (converts && p.per_kernel[i].source != kEstimateSource)
        conversion[i] += input_conversion_ms(bundle, graph, graph.tensors[static_cast<std::size_t>(t)]);
      order[static_cast<std::size_t>(t)] = kHandled;
    }
    if (k.type == "channel_shuffle")
      for (int t : outputs)
        if (t >= 0 && rank4(t)) order[static_cast<std::size_t>(t)] = kNchw;
  }
  return conversion;
}

// Output rows per tile of XNNPACK's f32 GEMM kernels on AVX-512 (stale_inputs).
constexpr int kXnnpackGemmTileRows = 7;

double memory_read_ms_per_byte(const Bundle& bundle) {
  // The FC family's flushed excess per weight byte: an FC streams each weight once, so it
  // is the bench's measure of a stream read from memory.
  const auto it = bundle.families.find("fc");
  return it == bundle.families.end() ? 0.0 : it->second.ms_per_weight_byte;
}

// Bytes a kernel reads as activations (its inputs and output); weight_bytes in kernels.hpp.
double io_bytes(const KernelCost& c) {
  return std::max(0.0, c.bytes - weight_bytes(c));
}

// Least squares of y = a * x1 + b * x2 with a, b >= 0 (the constrained optimum of two
// variables is the free one, or one with the other at zero, or zero).
std::pair<double, double> nonnegative_fit(const std::vector<std::array<double, 3>>& rows) {
  double s11 = 0, s22 = 0, s12 = 0, s1y = 0, s2y = 0;
  for (const auto& [x1, x2, y] : rows) s11 += x1 * x1, s22 += x2 * x2, s12 += x1 * x2, s1y += x1 * y, s2y += x2 * y;
  auto sse = [&](double a, double b) {
    double e = 0;
    for (const auto& [x1, x2, y] : rows) e += (y - a * x1 - b * x2) * (y - a * x1 - b * x2);
    return e;
  };
  std::vector<std::pair<double, double>> candidates = {{0, 0}};
  if (s11 > 0) candidates.emplace_back(std::max(0.0, s1y / s11), 0);
  if (s22 > 0) candidates.emplace_back(0, std::max(0.0, s2y / s22));
  const double det = s11 * s22 - s12 * s12;
  if (det > 0) {
    const double a = (s1y * s22 - s2y * s12) / det, b = (s2y * s11 - s1y * s12) / det;
    if (a >= 0 && b >= 0) candidates.emplace_back(a, b);
  }
  std::pair<double, double> best = candidates[0];
  for (const auto& c : candidates)
    if (sse(c.first, c.second) < sse(best.first, best.second)) best = c;
  return best;
}

// What FamilyModel::cold_start_ms is the median of: the excess left after the rates on the
// rows of weights up to kColdStartWeightBytes, where the rates explain little of it.
std::vector<double> cold_start_left(const std::vector<std::array<double, 3>>& rows, double ms_per_weight_byte,
                                    double ms_per_io_byte) {
  std::vector<double> left;
  for (const auto& [w, io, y] : rows)
    if (w > 0 && w <= kColdStartWeightBytes) left.push_back(y - ms_per_weight_byte * w - ms_per_io_byte * io);
  return left;
}

}  // namespace

double cold_scale_at(const FamilyModel& family, double x) {
  const auto& pts = family.cold_scale;
  if (pts.empty()) return 1.0;
  if (x <= pts.front()[0]) return pts.front()[1];
  if (x >= pts.back()[0]) return pts.back()[1];
  for (std::size_t i = 1; i < pts.size(); ++i) {
    if (x <= pts[i][0]) {
      const double t = (x - pts[i - 1][0]) / (pts[i][0] - pts[i - 1][0]);
      return pts[i - 1][1] + t * (pts[i][1] - pts[i - 1][1]);
    }
  }
  return pts.back()[1];
}

double flushed_weight_excess_ms(const Bundle& bundle, const Kernel& k) {
  const auto it = bundle.families.find(k.family);
  return it == bundle.families.end() ? 0.0 : it->second.ms_per_weight_byte * weight_bytes(k.cost);
}

double weight_reuse_x(const Kernel& k) {
  const std::string& group = composition_group(k.family);
  if (group == "gemm" || group == "conv") return std::log2(output_positions(k));
  return std::numeric_limits<double>::infinity();
}

Bundle train(const std::vector<TrainingKernel>& data, const FusionRules& rules, const TrainOptions& options) {
  for (const std::string& family : options.exclude_families) {
    const auto& known = family_names();
    if (std::find(known.begin(), known.end(), family) == known.end())
      throw Error(ErrorKind::kInvalidArgument, "", "excluded family", "unknown family '" + family + "'");
  }
  std::map<std::string, int> excluded;
  for (const std::string& family : options.exclude_families) excluded[family] = 0;
  auto left_out = [&](const TrainingKernel& t) { return options.exclude_families.count(t.kernel.family) > 0; };
  // Kernels moving more than half the last-level cache find their data evicted warm
  // or cold alike; they say nothing about the excess and would dominate the fit.
  std::map<std::string, std::vector<std::array<double, 3>>> cold_rows;
  for (const TrainingKernel& t : data) {
    if (t.kernel.removed || left_out(t) || !(t.cold_ms > 0) || !(t.latency_ms > 0) || !std::isfinite(t.cold_ms))
      continue;
    if (options.llc_bytes > 0 && t.kernel.cost.bytes > 0.5 * static_cast<double>(options.llc_bytes)) continue;
    cold_rows[t.kernel.family].push_back(
        {weight_bytes(t.kernel.cost), io_bytes(t.kernel.cost), t.cold_ms - t.latency_ms});
  }
  std::map<std::string, std::vector<Sample>> by_family;
  std::vector<Sample> all;
  for (const TrainingKernel& t : data) {
    if (t.kernel.removed || !t.kernel.complete || !(t.latency_ms > 0) || !std::isfinite(t.latency_ms)) continue;
    if (left_out(t)) {
      ++excluded[t.kernel.family];
      continue;
    }
    Sample s{t.kernel.features, t.kernel.cost, t.latency_ms};
    by_family[t.kernel.family].push_back(s);
    all.push_back(s);
  }
  if (all.empty()) throw Error(ErrorKind::kInvalidArgument, "", "training data", "no usable measured kernels");
  // The two activation families stand in for each other when one has no training rows
  // (and is not left out): ONNX Runtime's int8 hard swish runs as several layers of a QDQ
  // form, so its samples are no rows and only the sigmoids are. With the fallback
  // roofline for them instead, the 15 quantized models went from 93% to 87% within ±10%
  // (ONNX Runtime, 1 thread; the MediaPipe ones moved).
  std::map<std::string, std::string> borrowed;
  for (const auto& [a, b] : {std::pair<std::string, std::string>{"activation", "exp_activation"},
                             std::pair<std::string, std::string>{"exp_activation", "activation"}}) {
    if (by_family.count(a) != 0 || by_family.count(b) == 0 || options.exclude_families.count(a) != 0) continue;
    by_family[a] = by_family[b];
    if (const auto it = cold_rows.find(b); it != cold_rows.end()) cold_rows[a] = it->second;
    borrowed[a] = b;
  }
  Bundle bundle;
  bundle.rules = rules;
  bundle.excluded_families = std::move(excluded);
  bundle.fallback = Roofline::fit(all);
  const double llc = static_cast<double>(options.llc_bytes);
  std::map<std::string, std::vector<double>> start_left;  // GEMM family -> cold_start_left
  for (auto& [family, samples] : by_family) {
    FamilyModel model;
    model.samples = static_cast<int>(samples.size());
    if (const auto it = borrowed.find(family); it != borrowed.end()) model.samples_of = it->second;
    // An FC reads its weights once per run, so its bytes are a working set streamed
    // through the shared last-level cache: the family whose DRAM knee lies below the
    // cache's size (Roofline::fit). Elsewhere the knee searched below it fitted the
    // one-kernel rooflines better but moved the held-out models away (ONNX Runtime,
    // 1 thread: within ±5% 72% -> 63%, the channel gates at 1.41 -> 1.77 of their time).
    const double lowest_knee = family == "fc" ? 0.5 : 1.0;
    model.roofline = Roofline::fit(samples, llc, lowest_knee);
    model.kind = ModelKind::kRoofline;
    model.feature_lo = model.feature_hi = samples.front().x;
    for (const Sample& s : samples) {
      for (int i = 0; i < kFeatureCount; ++i) {
        model.feature_lo[i] = std::min(model.feature_lo[i], s.x[i]);
        model.feature_hi[i] = std::max(model.feature_hi[i], s.x[i]);
      }
    }
    if (static_cast<int>(samples.size()) >= std::max(options.min_samples, 3)) {
      double best = std::numeric_limits<double>::infinity();
      for (ModelKind kind : options.kinds) {
        const CvScore s = cross_validate(samples, kind, options.folds, options.seed, llc, lowest_knee);
        model.cv[model_kind_name(kind)] = s;
        // Chosen by the time-weighted error: a model's relative error is its kernels'
        // relative errors weighted by their times, so a regressor that is right on the
        // heavy kernels of a family beats one that is right on many microsecond ones.
        if (s.rmse_log_timed < best) {
          best = s.rmse_log_timed;
          model.kind = kind;
          model.sigma_log = s.rmse_log;
        }
      }
    } else {
      model.kind = ModelKind::kRoofline;
      model.sigma_log = 0.5;  // unvalidated: a wide band
    }
    if (model.kind != ModelKind::kRoofline) model.xgb.fit(samples, model.kind, options.seed, &model.roofline);
    if (const auto it = cold_rows.find(family); it != cold_rows.end()) {
      // A GEMM family's rates come from its kernels above kColdStartWeightBytes where it
      // has three: through the origin, the small ones would fold their start into the rate
      // (a squeeze-excitation family of 1-330 KB convs kept a third of its start).
      const bool gemm = composition_group(family) == "gemm";
      std::vector<std::array<double, 3>> large;
      if (gemm)
        std::copy_if(it->second.begin(), it->second.end(), std::back_inserter(large),
                     [](const std::array<double, 3>& r) { return r[0] > kColdStartWeightBytes; });
      std::tie(model.ms_per_weight_byte, model.ms_per_io_byte) =
          nonnegative_fit(large.size() >= 3 ? large : it->second);
      if (gemm) start_left[family] = cold_start_left(it->second, model.ms_per_weight_byte, model.ms_per_io_byte);
    }
    bundle.families.emplace(family, std::move(model));
  }
  // A GEMM family with fewer than three small-weight rows takes all the GEMM families' (an
  // early profile's squeeze-excitation convs were 18 rows, none of them small; the fc
  // family's one-row FCs are the same GEMM).
  std::vector<double> pooled;
  for (const auto& [family, left] : start_left) pooled.insert(pooled.end(), left.begin(), left.end());
  for (auto& [name, model] : bundle.families) {
    if (composition_group(name) != "gemm") continue;
    const auto own = start_left.find(name);
    const std::vector<double>& rows = own != start_left.end() && own->second.size() >= 3 ? own->second : pooled;
    model.cold_start_ms = rows.size() >= 3 ? std::max(0.0, measure::median(rows)) : 0.0;
  }
  // No family reads a weight byte from memory slower than the FC family streams its
  // weights (the bench's measure of a stream read, memory_read_ms_per_byte). A family
  // whose weights are a few per-channel vectors or shape constants cannot separate their
  // excess from its activations' in the flushed runs, where both come from memory: on
  // ONNX Runtime at 1 thread the fit gave BatchNormalization 1.5 ns per weight byte
  // (47x the FC's 0.031), Gelu 400 and Resize 870, and predict charged densenet169's
  // BNs 1.6 ms of cold weights (3.6% of the model, which was over-predicted by 12%).
  if (bundle.families.count("fc") != 0) {
    const double stream = memory_read_ms_per_byte(bundle);
    for (auto& [name, model] : bundle.families) model.ms_per_weight_byte = std::min(model.ms_per_weight_byte, stream);
  }
  return bundle;
}

nlohmann::json bundle_summary(const Bundle& bundle) {
  nlohmann::json families = nlohmann::json::object();
  for (const auto& [name, f] : bundle.families) {
    nlohmann::json cv = nlohmann::json::object();
    for (const auto& [kind, s] : f.cv) cv[kind] = to_json(s);
    families[name] = {{"model", model_kind_name(f.kind)},   {"samples", f.samples},
                      {"samples_of", f.samples_of},         {"ms_per_weight_byte", f.ms_per_weight_byte},
                      {"ms_per_io_byte", f.ms_per_io_byte}, {"cold_start_ms", f.cold_start_ms},
                      {"cold_scale", f.cold_scale},         {"sigma_log", f.sigma_log},
                      {"roofline", f.roofline.to_json()},   {"feature_lo", f.feature_lo},
                      {"feature_hi", f.feature_hi},         {"cv", cv}};
  }
  return {{"schema_version", kBundleSchemaVersion},
          {"runtime", bundle.runtime},
          {"runtime_version", bundle.runtime_version},
          {"threads", bundle.threads},
          {"precision", bundle.precision},
          {"profile", bundle.profile},
          {"created_utc", bundle.created_utc},
          {"features", kFeatureNames},
          {"fusion_rules", to_json(bundle.rules)},
          {"fallback", bundle.fallback.to_json()},
          {"run_overhead_ms", bundle.run_overhead_ms},
          {"run_ms_per_io_byte", bundle.run_ms_per_io_byte},
          {"layer_excess_ms", bundle.layer_excess_ms},
          {"kernel_start_ms", bundle.kernel_start_ms},
          {"l2_bytes", bundle.l2_bytes},
          {"llc_bytes", bundle.llc_bytes},
          {"composition", bundle.composition.to_json()},
          {"excluded_families", bundle.excluded_families},
          {"families", families}};
}

void save_bundle(const Bundle& bundle, const std::filesystem::path& path) {
  nlohmann::json manifest = bundle_summary(bundle);
  std::string blobs;
  for (const auto& [name, f] : bundle.families) {
    if (f.kind == ModelKind::kRoofline) continue;
    const std::vector<char> bytes = f.xgb.save();
    manifest["families"][name]["blob"] = {blobs.size(), bytes.size()};
    blobs.append(bytes.data(), bytes.size());
  }
  const std::string text = manifest.dump();
  std::string out(kMagic, kMagicSize);
  const std::uint64_t length = text.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((length >> (8 * i)) & 0xff));
  out += text;
  out += blobs;
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
    file.write(out.data(), static_cast<std::streamsize>(out.size()));
    if (!file) throw Error(ErrorKind::kIo, path.string(), "", "cannot write predictor bundle");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw Error(ErrorKind::kIo, path.string(), "", "cannot write predictor bundle: " + ec.message());
}

Bundle load_bundle(const std::filesystem::path& path, const std::string& expected_runtime) {
  const std::string file = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::kIo, file, "", "cannot open predictor bundle");
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (bytes.size() < kMagicSize + 8 || bytes.compare(0, kMagicSize, kMagic) != 0)
    throw Error(ErrorKind::kBadModel, file, "header", "not an infercast predictor bundle");
  std::uint64_t length = 0;
  for (int i = 0; i < 8; ++i)
    length |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[kMagicSize + i])) << (8 * i);
  const std::size_t start = kMagicSize + 8;
  if (length > bytes.size() - start) throw Error(ErrorKind::kBadModel, file, "manifest", "truncated");
  nlohmann::json manifest;
  try {
    manifest = nlohmann::json::parse(bytes.begin() + static_cast<std::ptrdiff_t>(start),
                                     bytes.begin() + static_cast<std::ptrdiff_t>(start + length));
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::kBadModel, file, "manifest", std::string("not valid JSON: ") + e.what());
  }
  const std::size_t blobs = start + length;
  Bundle bundle;
  try {
    const int version = manifest.at("schema_version").get<int>();
    if (version > kBundleSchemaVersion)
      throw Error(ErrorKind::kUnsupported, file, "schema_version",
                  "bundle schema " + std::to_string(version) + " is newer than this build's " +
                      std::to_string(kBundleSchemaVersion) + "; retrain or upgrade infercast");
    if (version < 1) throw Error(ErrorKind::kBadModel, file, "schema_version", "must be >= 1");
    if (version < kBundleSchemaVersion)
      throw Error(ErrorKind::kUnsupported, file, "schema_version",
                  "bundle schema " + std::to_string(version) + " is older than this build's " +
                      std::to_string(kBundleSchemaVersion) + "; retrain it from its database (infercast train)");
    bundle.runtime = manifest.at("runtime").get<std::string>();
    if (!expected_runtime.empty() && bundle.runtime != expected_runtime)
      throw Error(ErrorKind::kInvalidArgument, file, "runtime",
                  "bundle was trained for runtime '" + bundle.runtime + "', not '" + expected_runtime + "'");
    const auto features = manifest.at("features").get<std::vector<std::string>>();
    if (features.size() != kFeatureCount || !std::equal(features.begin(), features.end(), kFeatureNames.begin()))
      throw Error(ErrorKind::kUnsupported, file, "features",
                  "feature list differs from this build's; retrain it from its database (infercast train)");
    bundle.runtime_version = manifest.value("runtime_version", "");
    bundle.threads = manifest.value("threads", 0);
    // Bundles from before int8 profiles are fp32 ones.
    bundle.precision = manifest.value("precision", "fp32");
    bundle.profile = manifest.value("profile", nlohmann::json::object());
    bundle.created_utc = manifest.value("created_utc", "");
    bundle.rules = fusion_rules_from_json(manifest.at("fusion_rules"));
    bundle.fallback = Roofline::from_json(manifest.at("fallback"));
    bundle.run_overhead_ms = manifest.value("run_overhead_ms", 0.0);
    bundle.run_ms_per_io_byte = manifest.value("run_ms_per_io_byte", 0.0);
    bundle.layer_excess_ms = manifest.value("layer_excess_ms", 0.0);
    bundle.kernel_start_ms = manifest.value("kernel_start_ms", 0.0);
    bundle.l2_bytes = manifest.value("l2_bytes", std::size_t{0});
    bundle.llc_bytes = manifest.value("llc_bytes", std::size_t{0});
    if (manifest.contains("composition")) bundle.composition = Composition::from_json(manifest["composition"], file);
    bundle.excluded_families = manifest.value("excluded_families", std::map<std::string, int>{});
    for (const auto& [field, v] :
         {std::pair{"run_overhead_ms", bundle.run_overhead_ms},
          std::pair{"run_ms_per_io_byte", bundle.run_ms_per_io_byte},
          std::pair{"layer_excess_ms", bundle.layer_excess_ms}, std::pair{"kernel_start_ms", bundle.kernel_start_ms}}) {
      if (!(v >= 0) || !std::isfinite(v))
        throw Error(ErrorKind::kBadModel, file, field, "must be a finite number >= 0");
    }
    for (const auto& [name, f] : manifest.at("families").items()) {
      FamilyModel model;
      model.kind = model_kind_from_name(f.at("model").get<std::string>());
      model.samples = f.value("samples", 0);
      model.samples_of = f.value("samples_of", std::string());
      model.sigma_log = f.at("sigma_log").get<double>();
      model.ms_per_weight_byte = f.value("ms_per_weight_byte", 0.0);
      model.ms_per_io_byte = f.value("ms_per_io_byte", 0.0);
      model.cold_start_ms = f.value("cold_start_ms", 0.0);
      model.cold_scale = f.value("cold_scale", std::vector<std::array<double, 2>>{});
      for (double v : {model.ms_per_weight_byte, model.ms_per_io_byte, model.cold_start_ms}) {
        if (!(v >= 0) || !std::isfinite(v))
          throw Error(ErrorKind::kBadModel, file, "family '" + name + "'", "cold-cache rates must be finite and >= 0");
      }
      for (std::size_t i = 0; i < model.cold_scale.size(); ++i) {
        const auto& [x, scale] = model.cold_scale[i];
        if (!std::isfinite(x) || !(scale >= 0) || !std::isfinite(scale) || (i > 0 && !(x > model.cold_scale[i - 1][0])))
          throw Error(ErrorKind::kBadModel, file, "family '" + name + "'",
                      "cold_scale must be [x, scale] points with finite, increasing x and scale >= 0");
      }
      model.roofline = Roofline::from_json(f.at("roofline"));
      model.feature_lo = f.at("feature_lo").get<Features>();
      model.feature_hi = f.at("feature_hi").get<Features>();
      const nlohmann::json cv = f.value("cv", nlohmann::json::object());
      for (const auto& [kind, s] : cv.items()) {
        model.cv[kind] = CvScore{s.at("n").get<int>(), s.at("rmse_log").get<double>(), s.at("rmspe").get<double>(),
                                 s.at("within10").get<double>(), s.value("rmse_log_timed", 0.0)};
      }
      if (model.kind != ModelKind::kRoofline) {
        const auto blob = f.at("blob").get<std::vector<std::uint64_t>>();
        if (blob.size() != 2 || blob[0] > bytes.size() - blobs || blob[1] > bytes.size() - blobs - blob[0])
          throw Error(ErrorKind::kBadModel, file, "family '" + name + "'", "model blob outside the file");
        model.xgb.load(std::span<const char>(bytes.data() + blobs + blob[0], blob[1]));
        model.xgb.set_baseline(model.roofline);
      }
      bundle.families.emplace(name, std::move(model));
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::kBadModel, file, "manifest", std::string("malformed: ") + e.what());
  } catch (const Error& e) {
    if (!e.file().empty()) throw;
    throw Error(e.kind(), file, e.where(), e.what());
  }
  return bundle;
}

std::string model_precision(const ir::Graph& graph) {
  // Quantized activations: int8 TFLite tensors between int8 ops, QDQ ONNX's QuantizeLinear
  // outputs (both carry quantization parameters). Weights alone do not count: dynamic-range
  // and fp16 models run float kernels; nor does a raw uint8 image input a Cast turns float.
  for (const ir::Tensor& t : graph.tensors)
    if (!t.is_constant() && !t.quant.empty() && (t.dtype == ir::DType::kInt8 || t.dtype == ir::DType::kUInt8))
      return "int8";
  return "fp32";
}

Prediction predict(const Bundle& bundle, const ir::Graph& graph) {
  const std::string precision = model_precision(graph);
  if (precision != bundle.precision) {
    const std::string model = graph.meta.source_path.empty() ? std::string("model") : graph.meta.source_path;
    throw Error(ErrorKind::kInvalidArgument, model, "precision",
                "is an " + precision + " model and the predictor bundle was profiled for " + bundle.precision +
                    " kernels (profile --precision " + precision + " makes a bundle for it)");
  }
  Prediction p;
  p.kernels = split_kernels(graph, bundle.rules);
  p.per_kernel.resize(p.kernels.size());
  // Batch the rows of each XGBoost family: one call per family.
  std::map<const FamilyModel*, std::vector<std::size_t>> batches;
  for (std::size_t i = 0; i < p.kernels.size(); ++i) {
    const Kernel& k = p.kernels[i];
    KernelPrediction& out = p.per_kernel[i];
    if (k.removed) {
      out.source = "removed";
      continue;
    }
    const auto it = bundle.families.find(k.family);
    if (it == bundle.families.end()) {
      // No regressor: the roofline of every trained family at once, whose compute ceiling
      // counts too (bytes alone put an unsampled conv at a few percent of its time).
      out.ms = bundle.fallback.predict_ms(k.cost);
      out.lo_ms = out.ms * std::exp(-kZ90 * 1.0);
      out.hi_ms = out.ms * std::exp(kZ90 * 1.0);
      out.source = kEstimateSource;
      ++p.estimated;
      continue;
    }
    const FamilyModel& f = it->second;
    // A small margin: log2 features of equal kernels differ in the last float bits.
    for (int j = 0; j < kFeatureCount; ++j) {
      const float margin = 1e-3f * std::max(1.0f, std::abs(f.feature_hi[j]));
      if (k.features[j] < f.feature_lo[j] - margin || k.features[j] > f.feature_hi[j] + margin)
        out.outside.emplace_back(kFeatureNames[static_cast<std::size_t>(j)]);
    }
    if (!out.outside.empty()) ++p.extrapolated;
    if (f.kind == ModelKind::kRoofline) {
      out.ms = f.roofline.predict_ms(k.cost);
      out.source = "roofline";
    } else {
      batches[&f].push_back(i);
      out.source = model_kind_name(f.kind);
    }
  }
  // What a run moves decides how warm its kernels find the caches: between two runs of
  // a kernel, every other kernel reads its weights and activations and writes its
  // output, and that traffic is what evicts the kernel's weights, as in the measurement
  // of Bundle::llc_bytes (a block re-read after X bytes of other reads).
  // FamilyModel::cold_start_ms is paid where a kernel's first weight lines come from memory:
  // the more of the cache the model's weights would fill, the fewer of them survive a run's
  // traffic (XNNPACK, 1 thread: selfie_segmentation's 0.45 MB of weights left its
  // squeeze-excitation convs at their warm 0.2-0.4 us though a run moves 53 MB; efficientnet_b0's 21
  // MB cost them 2.5 us more).
  double model_weight_bytes = 0;
  for (const Kernel& k : p.kernels) {
    if (k.removed) continue;
    p.moved_bytes += k.cost.bytes;
    model_weight_bytes += weight_bytes(k.cost);
  }
  const double llc = static_cast<double>(bundle.llc_bytes);
  if (llc > 0) p.cold_fraction = std::clamp(std::log2(std::max(p.moved_bytes, 1.0) / llc), 0.0, 1.0);
  const double start_fraction = llc > 0 ? std::clamp(model_weight_bytes / llc, 0.0, 1.0) : 1.0;
  // Identical kernels (a ResNet repeats its bottleneck convs: 53 convs, 23 distinct)
  // are predicted once: tree traversal is most of predict's time.
  std::vector<Features> rows;
  std::map<Features, std::size_t> row_of;
  std::vector<std::size_t> slot;
  for (const auto& [family, indices] : batches) {
    rows.clear();
    row_of.clear();
    slot.clear();
    for (std::size_t i : indices) {
      const auto [it, added] = row_of.emplace(p.kernels[i].features, rows.size());
      if (added) rows.push_back(p.kernels[i].features);
      slot.push_back(it->second);
    }
    const std::vector<double> ms = family->xgb.predict_ms(rows);
    for (std::size_t j = 0; j < indices.size(); ++j) p.per_kernel[indices[j]].ms = ms[slot[j]];
  }
  // XNNPACK's GEMMs stream their weights once per tile of output rows (7 in its AVX-512
  // f32 kernels; 4-6 on other ISAs, which changes the count, not whether it outgrows the
  // cache); ONNX Runtime's MLAS packs a panel of weights that stays cached while every
  // row passes, so it reads them once.
  const int gemm_tile_rows = bundle.runtime == "xnnpack" ? kXnnpackGemmTileRows : 0;
  const StaleInputs stale = stale_inputs(graph, p.kernels, static_cast<double>(bundle.l2_bytes), llc, gemm_tile_rows);
  const double memory_ms_per_byte = memory_read_ms_per_byte(bundle);
  const std::vector<double> conversion = nchw_conversion_ms(bundle, graph, p);
  for (std::size_t i = 0; i < p.kernels.size(); ++i) {
    KernelPrediction& out = p.per_kernel[i];
    const Kernel& k = p.kernels[i];
    if (!k.removed && out.source != kEstimateSource) {
      const FamilyModel& f = bundle.families.at(k.family);
      // Kernels moving more than the cache were measured cold already: Bundle::llc_bytes
      // is what stays cached between two runs of a kernel, so a label below it is warm,
      // up to it (a GEMM whose weights alone outgrow it is labelled with its flushed time,
      // train_from_timed: alone, it found part of them still cached). (Up to half of it, as the flushed fit takes its
      // rows, left the int8 4096->4096 FC of alexnet and vgg11, 16.8 MB against 32 MiB, at its warm time: 0.42 against
      // 0.75-1.07 ms inside alexnet on both runtimes.) Only the weights come from memory cold inside a model: a
      // kernel's input was written by the layer just before it and is in the caches, which the flushed one-kernel runs
      // behind ms_per_io_byte never saw (measured: with the activation part too, the held-out CNNs on XNNPACK were
      // over-predicted by up to 20% where their weights outgrow the last-level cache).
      if (k.cost.bytes <= llc)
        out.cold_excess_ms = cold_scale_at(f, weight_reuse_x(k)) * flushed_weight_excess_ms(bundle, k);
      out.ms += p.cold_fraction * out.cold_excess_ms;
      if (weight_bytes(k.cost) > 0) out.ms += start_fraction * f.cold_start_ms;
      // Inputs that left the core's cache since they were written pay the family's flushed
      // rate per activation byte (stale_inputs; measured at 1 thread on an EPYC host,
      // XNNPACK's concats inside the held-out models went from 0.45 to 0.66 of their times),
      // and those that left the last-level cache too the rate of a read from memory, where
      // that is more (on XNNPACK at 1 thread, a transformer's residual Adds went from 0.43
      // to 0.77 of their in-model times, the eltwise family from 0.63 to 0.77).
      const double beyond_llc = stale.beyond_llc[i];
      out.ms += f.ms_per_io_byte * (stale.beyond_l2[i] - beyond_llc) +
                std::max(memory_ms_per_byte, f.ms_per_io_byte) * beyond_llc;
      // An NCHW input turned channels-last inside this kernel's layer (input_conversion_ms).
      out.ms += conversion[i];
      // The label's profiler share (Bundle::layer_excess_ms) is not paid unprofiled.
      out.ms = std::max(out.ms - bundle.layer_excess_ms, 0.1 * out.ms);
      // Its code and operator state come from beyond the private caches (Bundle::kernel_start_ms).
      out.ms += bundle.kernel_start_ms;
      // Inside a whole model (composition.hpp): the group's scale. The per-kernel cost is the
      // model's, not the kernel's: a runtime's per-layer profiler times the kernel alone, so
      // that cost on every row put ONNX Runtime's per-kernel error at 2 threads at 48.3%
      // against 31.8% without it, for the same model sums.
      out.ms = bundle.composition.factor(scale_group(k)) * out.ms;
      p.between_kernels_ms += bundle.composition.per_kernel_ms;
      const double sigma = f.sigma_log;
      out.lo_ms = out.ms * std::exp(-kZ90 * sigma);
      out.hi_ms = out.ms * std::exp(kZ90 * sigma);
    }
    p.ms += out.ms;
    p.lo_ms += out.lo_ms;
    p.hi_ms += out.hi_ms;
  }
  p.run_overhead_ms = bundle.run_overhead_ms + bundle.run_ms_per_io_byte * graph_io_bytes(graph);
  const double outside_kernels = p.between_kernels_ms + p.run_overhead_ms;
  p.ms += outside_kernels;
  p.lo_ms += outside_kernels;
  p.hi_ms += outside_kernels;
  return p;
}

double graph_io_bytes(const ir::Graph& graph) {
  double bytes = 0;
  for (const std::vector<int>* ports : {&graph.inputs, &graph.outputs}) {
    for (int id : *ports) {
      const ir::Tensor& t = graph.tensors[static_cast<std::size_t>(id)];
      if (t.is_constant()) continue;
      if (const auto b = t.bytes()) bytes += static_cast<double>(*b);
    }
  }
  return bytes;
}

PredictionRecord prediction_record(const Bundle& bundle, const ir::Graph& graph, const Prediction& p) {
  PredictionRecord r;
  r.runtime = bundle.runtime;
  r.runtime_version = bundle.runtime_version;
  r.precision = bundle.precision;
  r.threads = bundle.threads;
  r.ms = p.ms;
  r.lo_ms = p.lo_ms;
  r.hi_ms = p.hi_ms;
  r.between_kernels_ms = p.between_kernels_ms;
  r.run_overhead_ms = p.run_overhead_ms;
  r.estimated = p.estimated;
  r.extrapolated = p.extrapolated;
  r.moved_bytes = p.moved_bytes;
  r.cold_fraction = p.cold_fraction;
  r.kernels.resize(p.kernels.size());
  for (std::size_t i = 0; i < p.kernels.size(); ++i) {
    const Kernel& k = p.kernels[i];
    const KernelPrediction& kp = p.per_kernel[i];
    PredictionRecord::KernelRow& row = r.kernels[i];
    row.name = k.name;
    row.type = k.type;
    row.family = k.family;
    row.nodes.reserve(k.nodes.size());
    for (int n : k.nodes) row.nodes.push_back(graph.nodes[static_cast<std::size_t>(n)].name);
    row.ms = kp.ms;
    row.lo_ms = kp.lo_ms;
    row.hi_ms = kp.hi_ms;
    row.source = kp.source;
    row.outside = kp.outside;
    row.flops = k.cost.flops;
    row.bytes = k.cost.bytes;
    row.cold_excess_ms = kp.cold_excess_ms;
  }
  return r;
}

nlohmann::json prediction_json(const PredictionRecord& r) {
  // Built member by member: brace-initialized objects copy every value through a
  // temporary array per key, which cost more than predicting a small model.
  using json = nlohmann::json;
  auto pair = [](double a, double b) {
    json v = json::array();
    v.get_ref<json::array_t&>().reserve(2);
    v.push_back(a);
    v.push_back(b);
    return v;
  };
  json kernels = json::array();
  kernels.get_ref<json::array_t&>().reserve(r.kernels.size());
  for (const PredictionRecord::KernelRow& k : r.kernels) {
    json nodes = json::array();
    nodes.get_ref<json::array_t&>().reserve(k.nodes.size());
    for (const std::string& name : k.nodes) nodes.push_back(name);
    json outside = json::array();
    for (const std::string& name : k.outside) outside.push_back(name);
    json kernel = json::object();
    kernel["name"] = k.name;
    kernel["type"] = k.type;
    kernel["family"] = k.family;
    kernel["nodes"] = std::move(nodes);
    kernel["latency_ms"] = k.ms;
    kernel["interval_ms"] = pair(k.lo_ms, k.hi_ms);
    kernel["source"] = k.source;
    kernel["outside_sampled_range"] = std::move(outside);
    kernel["flops"] = k.flops;
    kernel["bytes"] = k.bytes;
    kernel["cold_excess_ms"] = k.cold_excess_ms;
    kernels.push_back(std::move(kernel));
  }
  json doc = json::object();
  doc["runtime"] = r.runtime;
  doc["runtime_version"] = r.runtime_version;
  doc["threads"] = r.threads;
  doc["precision"] = r.precision;
  doc["latency_ms"] = r.ms;
  doc["interval_ms"] = pair(r.lo_ms, r.hi_ms);
  doc["between_kernels_ms"] = r.between_kernels_ms;
  doc["run_overhead_ms"] = r.run_overhead_ms;
  doc["estimated_kernels"] = r.estimated;
  doc["extrapolated_kernels"] = r.extrapolated;
  doc["moved_bytes"] = r.moved_bytes;
  doc["cold_fraction"] = r.cold_fraction;
  doc["kernels"] = std::move(kernels);
  return doc;
}

nlohmann::json prediction_json(const Bundle& bundle, const ir::Graph& graph, const Prediction& p) {
  return prediction_json(prediction_record(bundle, graph, p));
}

}  // namespace infercast::predict
