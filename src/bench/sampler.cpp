// Samplers over the kernel vocabulary: grid, prior (real models), random, adaptive.
#include "infercast/bench/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <unordered_set>

#include "infercast/base/error.hpp"
#include "infercast/import/import.hpp"

namespace infercast::bench {

namespace {

namespace fs = std::filesystem;
using Values = std::vector<std::int64_t>;

// A type's grid: parameter -> choices. "hw" sets h and w together; parameters of the
// type that are absent here are derived (pad = k/2, dilation 1, groups 1, n 1).
using Space = std::vector<std::pair<std::string, Values>>;

bool starts_with(const std::string& s, const char* p) {
  return s.rfind(p, 0) == 0;
}

const Values kHw{8, 16, 28, 56, 112, 224};
const Values kHwSmall{7, 14, 28, 56, 112};
const Values kChannels{16, 32, 64, 128, 256, 512};

Space space_of(const std::string& type) {
  if (type == "conv" || starts_with(type, "conv+")) {
    // The seed project's grid.
    return {{"k", {1, 3, 5, 7}},
            {"cout", {16, 32, 64, 128, 256}},
            {"hw", kHw},
            {"cin", {3, 16, 32, 64, 128, 256}},
            {"stride", {1, 2}}};
  }
  if (type == "pad+conv") {  // the pad is the conv's k / 2, so k > 1
    return {{"k", {3, 5, 7}},
            {"cout", {16, 32, 64, 128, 256}},
            {"hw", kHw},
            {"cin", {3, 16, 32, 64, 128, 256}},
            {"stride", {1, 2}}};
  }
  if (starts_with(type, "dwconv") || type == "pad+dwconv") {
    return {{"k", {3, 5, 7}}, {"c", {16, 32, 64, 128, 256, 512, 1024}}, {"hw", kHwSmall}, {"stride", {1, 2}}};
  }
  if (type == "convtranspose") {
    return {{"k", {2, 3, 4}},
            {"stride", {1, 2}},
            {"cin", {16, 32, 64, 128}},
            {"cout", {16, 32, 64, 128}},
            {"hw", {8, 16, 32, 64}}};
  }
  if (starts_with(type, "fc")) {
    return {{"cin", {64, 128, 256, 512, 1024, 2048, 4096}}, {"cout", {16, 64, 128, 256, 512, 1000, 1024, 4096}}};
  }
  if (type == "matmul")
    return {{"b", {1, 4, 12}}, {"m", {16, 64, 197, 256}}, {"k", {32, 64, 128, 768}}, {"n", {16, 64, 197, 256}}};
  if (type == "einsum")
    return {{"b", {12, 64, 128}}, {"m", {49, 197}}, {"k", {32, 64}}, {"n", {49, 197}}, {"form", {1, 2}}};
  // Heads split off a sequence, Swin's window partition, MaxViT's window partition.
  if (type == "permute")
    return {{"d0", {49, 196}}, {"d1", {4, 8}}, {"d2", {7, 32}}, {"d3", {1}}, {"d4", {1}}, {"perm", {213}}};
  if (type == "maxpool" || type == "avgpool") {
    return {{"k", {2, 3}}, {"stride", {1, 2}}, {"c", {16, 32, 64, 128, 256}}, {"hw", kHwSmall}};
  }
  if (type == "globalavgpool") return {{"c", {16, 64, 256, 512, 1024, 2048}}, {"hw", {1, 7, 14, 28, 56}}};
  if (type == "softmax" || type == "layernorm" || type == "gelu" || type == "layernorm_ops")
    return {{"n", {1, 16, 197, 1024}}, {"c", {10, 100, 768, 1000, 4096}}};
  if (type == "concat") return {{"c", kChannels}, {"hw", kHwSmall}, {"inputs", {2, 3, 4}}};
  if (starts_with(type, "resize")) return {{"c", {16, 32, 64, 128, 256}}, {"hw", {8, 16, 32, 56}}, {"scale", {2, 4}}};
  if (type == "pad") return {{"c", kChannels}, {"hw", kHwSmall}, {"pad", {1, 2, 3}}};
  if (type == "channel_pad") return {{"c", kChannels}, {"hw", kHwSmall}, {"cpad", {4, 8, 16, 32}}};
  if (type == "se") return {{"c", {16, 32, 64, 128, 256, 512, 1024}}, {"hw", {7, 14, 28, 56}}, {"r", {4, 8, 16}}};
  if (type == "channel_shuffle") return {{"c", {16, 32, 64, 128, 256, 512}}, {"hw", kHwSmall}, {"groups", {2, 4, 8}}};
  if (type == "slice") return {{"c", {48, 96, 192, 384, 768}}, {"hw", kHwSmall}, {"parts", {2, 3}}};
  if (type == "slice_axis")
    return {{"c", {48, 96, 192, 384}}, {"hw", {14, 28, 56}}, {"axis", {2, 3}}, {"keep", {3, 11}}};
  if (type == "slice_rows") return {{"n", {1, 16, 50, 197, 1024}}, {"c", {96, 384, 1536, 2304}}, {"parts", {2, 3}}};
  return {{"c", kChannels}, {"hw", kHwSmall}};  // elementwise, activations, reshape, transpose
}

// Fills the parameters the space leaves out and checks the result.
std::optional<KernelSpec> complete(const std::string& type, std::map<std::string, std::int64_t> p) {
  if (auto it = p.find("hw"); it != p.end()) {
    p["h"] = p["w"] = it->second;
    p.erase(it);
  }
  for (const auto& name : kernel_parameters(type)) {
    if (p.count(name) != 0) continue;
    if (name == "n" || name == "dilation" || name == "groups") {
      p[name] = 1;
    } else if (name == "pad") {
      const std::int64_t k = p.count("k") != 0 ? p["k"] : 1;
      p[name] = type == "convtranspose"                    ? (k - 1) / 2
                : (type == "maxpool" || type == "avgpool") ? (k == 3 ? 1 : 0)
                                                           : k / 2;
    }
  }
  KernelSpec spec{type, std::move(p), ir::DType::kFloat32};
  try {
    validate(spec);
  } catch (const Error&) {
    return std::nullopt;
  }
  return spec;
}

}  // namespace

double kernel_work(const KernelSpec& s) {
  const auto g = [&](const char* n) { return static_cast<double>(s.params.at(n)); };
  const std::string& t = s.type;
  if (t == "conv" || starts_with(t, "conv+") || t == "pad+conv") {
    const double oh = std::floor((g("h") + 2 * g("pad") - g("dilation") * (g("k") - 1) - 1) / g("stride")) + 1;
    const double ow = std::floor((g("w") + 2 * g("pad") - g("dilation") * (g("k") - 1) - 1) / g("stride")) + 1;
    return g("n") * g("cout") * oh * ow * g("cin") / g("groups") * g("k") * g("k");
  }
  if (starts_with(t, "dwconv") || t == "pad+dwconv")
    return g("n") * g("c") * g("h") * g("w") * g("k") * g("k") / g("stride") / g("stride");
  if (t == "convtranspose") return g("n") * g("cin") * g("cout") * g("h") * g("w") * g("k") * g("k");
  if (starts_with(t, "fc")) return g("n") * g("cin") * g("cout");
  if (t == "matmul" || t == "einsum") return g("b") * g("m") * g("k") * g("n");
  if (t == "permute") return g("d0") * g("d1") * g("d2") * g("d3") * g("d4") * 10;
  double elements = 1;
  for (const auto& [name, v] : s.params) {
    if (name == "n" || name == "h" || name == "w" || name == "c") elements *= static_cast<double>(v);
  }
  return elements * 10;
}

namespace {

void require_types(const std::vector<std::string>& types) {
  for (const auto& t : types) kernel_parameters(t);  // throws naming an unknown type
}

// Round-robin over per-type lists until `count` (0 = all) distinct specs; list i gives
// weights[i] specs a round (1 each without weights).
std::vector<KernelSpec> interleave(const std::vector<std::vector<KernelSpec>>& per_type, std::size_t count,
                                   const std::vector<int>& weights = {}) {
  std::vector<KernelSpec> out;
  std::unordered_set<std::string> seen;
  std::vector<std::size_t> next(per_type.size(), 0);
  bool any = true;
  while (any && (count == 0 || out.size() < count)) {
    any = false;
    for (std::size_t t = 0; t < per_type.size(); ++t) {
      const int take = weights.empty() ? 1 : std::max(1, weights[t]);
      for (int i = 0; i < take && next[t] < per_type[t].size(); ++i) {
        any = true;
        const KernelSpec& s = per_type[t][next[t]++];
        if (seen.insert(s.key()).second) out.push_back(s);
        if (count != 0 && out.size() >= count) return out;
      }
    }
  }
  return out;
}

// The space sampler's sequence: each type from its own generator (seeded by the seed and
// the type's name, so adding a type shifts no other type's draws).
std::vector<KernelSpec> space_specs(const std::vector<std::string>& types, std::size_t count, std::uint64_t seed,
                                    double max_macs) {
  int total_weight = 0;
  for (const auto& t : types) total_weight += space_weight(t);
  std::vector<std::vector<KernelSpec>> lists;
  std::vector<int> weights;
  for (const auto& t : types) {
    const int w = space_weight(t);
    const std::size_t want = count == 0
                                 ? 500 * static_cast<std::size_t>(w)
                                 : (count * static_cast<std::size_t>(w) + static_cast<std::size_t>(total_weight) - 1) /
                                           static_cast<std::size_t>(total_weight) * 2 +
                                       8;
    std::uint64_t h = 1469598103934665603ULL;  // FNV-1a of the name: stable across builds
    for (unsigned char ch : t) h = (h ^ ch) * 1099511628211ULL;
    std::mt19937_64 rng(seed ^ h);
    std::vector<KernelSpec> list;
    for (std::size_t i = 0; i < want; ++i) {
      if (auto s = space_kernel(t, rng, max_macs)) list.push_back(std::move(*s));
    }
    lists.push_back(std::move(list));
    weights.push_back(w);
  }
  return interleave(lists, count, weights);
}

std::vector<KernelSpec> grid_of(const std::string& type, double max_macs) {
  const Space space = space_of(type);
  std::vector<KernelSpec> out;
  std::vector<std::size_t> index(space.size(), 0);
  while (true) {
    std::map<std::string, std::int64_t> p;
    for (std::size_t i = 0; i < space.size(); ++i) p[space[i].first] = space[i].second[index[i]];
    if (auto spec = complete(type, p); spec && kernel_work(*spec) <= max_macs) out.push_back(std::move(*spec));
    std::size_t i = 0;
    for (; i < space.size(); ++i) {
      if (++index[i] < space[i].second.size()) break;
      index[i] = 0;
    }
    if (i == space.size()) break;
  }
  return out;
}

bool is_size(const std::string& type, const std::string& name) {
  if (name == "hw" || name == "c" || name == "cin" || name == "cout" || name == "m") return true;
  if ((type == "matmul" || type == "einsum") && (name == "k" || name == "n" || name == "b")) return true;
  return (type == "softmax" || type == "layernorm" || type == "gelu" || type == "layernorm_ops") && name == "n";
}

// One random spec of `type`: sizes log-uniform between the grid's extremes (channel
// counts rounded to multiples of 8 above 16), other parameters from the grid's choices.
std::optional<KernelSpec> random_of(const std::string& type, std::mt19937_64& rng, double max_macs) {
  const Space space = space_of(type);
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::map<std::string, std::int64_t> p;
    for (const auto& [name, values] : space) {
      if (is_size(type, name) && values.size() > 1) {
        const double lo = std::log(static_cast<double>(*std::min_element(values.begin(), values.end())));
        const double hi = std::log(static_cast<double>(*std::max_element(values.begin(), values.end())));
        std::int64_t v = std::llround(std::exp(std::uniform_real_distribution<double>(lo, hi)(rng)));
        if ((name == "c" || name == "cin" || name == "cout") && v > 16) v = (v + 4) / 8 * 8;
        p[name] = std::max<std::int64_t>(1, v);
      } else {
        p[name] = values[std::uniform_int_distribution<std::size_t>(0, values.size() - 1)(rng)];
      }
    }
    if (auto spec = complete(type, p); spec && kernel_work(*spec) <= max_macs) return spec;
  }
  return std::nullopt;
}

std::vector<KernelSpec> random_specs(const std::vector<std::string>& types, std::size_t count, std::uint64_t seed,
                                     double max_macs) {
  std::mt19937_64 rng(seed);
  const std::size_t per_type = count == 0 ? 1000 : (count + types.size() - 1) / types.size() * 2;
  std::vector<std::vector<KernelSpec>> lists;
  for (const auto& t : types) {
    std::vector<KernelSpec> list;
    for (std::size_t i = 0; i < per_type; ++i) {
      if (auto s = random_of(t, rng, max_macs)) list.push_back(std::move(*s));
    }
    lists.push_back(std::move(list));
  }
  return interleave(lists, count);
}

bool is_activation(ir::Op op) {
  return op == ir::Op::Relu || op == ir::Op::Clip || op == ir::Op::HardSwish || op == ir::Op::Sigmoid ||
         op == ir::Op::Tanh;
}

// The single node consuming node `i`'s only output, or -1.
int sole_consumer(const ir::Graph& g, int i) {
  const ir::Node& n = g.nodes[static_cast<std::size_t>(i)];
  if (n.outputs.size() != 1 || n.outputs[0] < 0) return -1;
  const ir::Tensor& t = g.tensors[static_cast<std::size_t>(n.outputs[0])];
  if (t.consumers.size() != 1 || t.kind == ir::TensorKind::kOutput) return -1;
  return t.consumers[0];
}

}  // namespace

std::vector<fs::path> model_files(const std::vector<fs::path>& models) {
  std::vector<fs::path> files;
  for (const auto& m : models) {
    if (fs::is_directory(m)) {
      std::vector<fs::path> found;
      for (const auto& e : fs::directory_iterator(m)) {
        const auto ext = e.path().extension();
        if (e.is_regular_file() && (ext == ".onnx" || ext == ".tflite")) found.push_back(e.path());
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::exists(m)) {
      files.push_back(m);
    } else {
      throw Error(ErrorKind::kIo, m.string(), "", "no such model file or folder");
    }
  }
  return files;
}

const std::vector<std::string>& default_kernel_types() {
  // conv+transpose is a fusion probe: a runtime either folds the transpose into the conv
  // (then a model's kernel is the plain conv) or runs it as a transpose kernel. scale and
  // shift+relu are int8 kernel types (bench::int8_kernel_types): a float model's
  // BatchNormalization is the bn kernel.
  static const std::vector<std::string> types = [] {
    std::vector<std::string> v;
    for (const std::string& t : kernel_types())
      if (t != "conv+transpose" && t != "scale" && t != "shift+relu") v.push_back(t);
    return v;
  }();
  return types;
}

std::vector<std::vector<int>> simple_fused_groups(const ir::Graph& graph) {
  std::vector<std::vector<int>> groups;
  std::vector<bool> taken(graph.nodes.size(), false);
  for (int i = 0; i < static_cast<int>(graph.nodes.size()); ++i) {
    if (taken[static_cast<std::size_t>(i)]) continue;
    std::vector<int> group{i};
    const ir::Op op = graph.nodes[static_cast<std::size_t>(i)].op;
    const bool anchor = op == ir::Op::Conv || op == ir::Op::Gemm || op == ir::Op::FullyConnected ||
                        op == ir::Op::MatMul || op == ir::Op::Add;
    if (anchor) {
      int next = sole_consumer(graph, i);
      if (op == ir::Op::Conv && next >= 0 &&
          graph.nodes[static_cast<std::size_t>(next)].op == ir::Op::BatchNormalization) {
        group.push_back(next);
        next = sole_consumer(graph, next);
      }
      if (next >= 0 && is_activation(graph.nodes[static_cast<std::size_t>(next)].op) &&
          graph.nodes[static_cast<std::size_t>(next)].op != ir::Op::Sigmoid) {
        group.push_back(next);
      }
    }
    for (int n : group) taken[static_cast<std::size_t>(n)] = true;
    groups.push_back(std::move(group));
  }
  return groups;
}

std::vector<KernelSpec> model_kernels(const std::vector<fs::path>& models, const std::vector<std::string>& types,
                                      const GroupingFn& grouping) {
  require_types(types);
  const std::set<std::string> wanted(types.begin(), types.end());
  std::vector<KernelSpec> out;
  std::unordered_set<std::string> seen;
  for (const auto& file : model_files(models)) {
    const ir::Graph graph = import::load_model(file);
    for (const auto& group : grouping ? grouping(graph) : simple_fused_groups(graph)) {
      if (group.empty()) continue;
      // The longest prefix of the group the vocabulary names (conv+bn+relu6 -> conv+bn -> conv).
      for (std::size_t len = group.size(); len >= 1; --len) {
        const auto spec = kernel_spec_of(graph, std::span<const int>(group.data(), len));
        if (!spec) continue;
        if ((wanted.empty() || wanted.count(spec->type) != 0) && seen.insert(spec->key()).second) out.push_back(*spec);
        break;
      }
    }
  }
  return out;
}

namespace {

std::vector<KernelSpec> sample_float_kernels(const SamplerOptions& o, std::size_t count);

}  // namespace

std::vector<KernelSpec> sample_kernels(const SamplerOptions& o, std::size_t count) {
  if (o.dtype == ir::DType::kFloat32) {
    // The conversions between float and int8 have no float graph (kernel_types()).
    for (const std::string& t : o.kernel_types)
      if (conversion_type(t))
        throw Error(ErrorKind::kInvalidArgument, "kernel '" + t + "'", "--precision",
                    "is an int8 kernel type: bench it with --precision int8");
    return sample_float_kernels(o, count);
  }
  if (o.dtype != ir::DType::kInt8)
    throw Error(ErrorKind::kInvalidArgument, "bench", "--precision",
                "kernels are sampled in float32 or int8, not " + std::string(ir::dtype_name(o.dtype)));
  // int8: the float sequence of the int8 types, each spec as int8 (the same shapes, so an
  // int8 and a float profile of one seed time the same layers).
  // Types a quantized model runs in float (int8_float_kernel_types) stay float32.
  const std::vector<std::string>& int8 = int8_kernel_types();
  const std::vector<std::string>& as_float = int8_float_kernel_types();
  const auto runs_in_float = [&](const std::string& t) {
    return std::find(as_float.begin(), as_float.end(), t) != as_float.end();
  };
  SamplerOptions float_options = o;
  float_options.dtype = ir::DType::kFloat32;
  if (float_options.kernel_types.empty()) {
    float_options.kernel_types = int8;
    float_options.kernel_types.insert(float_options.kernel_types.end(), as_float.begin(), as_float.end());
  }
  for (const std::string& t : float_options.kernel_types) {
    kernel_parameters(t);  // an unknown type is named as such
    if (std::find(int8.begin(), int8.end(), t) == int8.end() && !runs_in_float(t)) {
      std::string known;
      for (const auto& k : int8) known += (known.empty() ? "" : ", ") + k;
      for (const auto& k : as_float) known += ", " + k + " (float)";
      throw Error(ErrorKind::kInvalidArgument, "kernel '" + t + "'", "--precision int8",
                  "has no int8 form (int8 kernel types: " + known + ")");
    }
  }
  std::vector<KernelSpec> specs = sample_float_kernels(float_options, count);
  for (KernelSpec& s : specs)
    if (!runs_in_float(s.type)) s.dtype = ir::DType::kInt8;
  return specs;
}

namespace {

std::vector<KernelSpec> sample_float_kernels(const SamplerOptions& o, std::size_t count) {
  const std::vector<std::string> types = o.kernel_types.empty() ? default_kernel_types() : o.kernel_types;
  require_types(types);
  if (o.sampler == "grid") {
    std::vector<std::vector<KernelSpec>> lists;
    std::mt19937_64 rng(o.seed);
    for (const auto& t : types) {
      auto list = grid_of(t, o.max_macs);
      std::shuffle(list.begin(), list.end(), rng);
      lists.push_back(std::move(list));
    }
    return interleave(lists, count);
  }
  if (o.sampler == "random") return random_specs(types, count, o.seed, o.max_macs);
  if (o.sampler == "space") return space_specs(types, count, o.seed, o.max_macs);
  if (o.sampler == "prior") {
    if (o.models.empty()) {
      throw Error(ErrorKind::kInvalidArgument, "--sampler prior", "--models", "the prior sampler needs models");
    }
    if (!(o.jitter > 0) || o.jitter > 4) {
      throw Error(ErrorKind::kInvalidArgument, "--sampler prior", "jitter", "must be in (0, 4]");
    }
    std::vector<KernelSpec> real = model_kernels(o.models, o.kernel_types, o.grouping);
    std::mt19937_64 rng(o.seed);
    std::shuffle(real.begin(), real.end(), rng);
    std::vector<KernelSpec> out;
    std::unordered_set<std::string> seen;
    auto push = [&](const KernelSpec& s) {
      if (count != 0 && out.size() >= count) return;
      if (seen.insert(s.key()).second) out.push_back(s);
    };
    for (const auto& s : real) push(s);  // every real configuration first, exactly
    const double span = std::log1p(o.jitter);
    std::uniform_real_distribution<double> log_factor(-span, span);
    std::uniform_real_distribution<double> coin(0.0, 1.0);
    for (int copy = 0; copy < o.jitter_copies; ++copy) {
      for (const auto& s : real) {
        KernelSpec j = s;
        const bool grouped = (j.params.count("groups") != 0 && j.get("groups") > 1);
        const double hw = std::exp(log_factor(rng));
        for (auto& [name, v] : j.params) {
          if (name == "h" || name == "w") {
            if (v > 1) v = std::max<std::int64_t>(1, std::llround(static_cast<double>(v) * hw));
          } else if (name == "c" || name == "cin" || name == "cout" || name == "m" ||
                     ((j.type == "matmul" || j.type == "einsum") && (name == "k" || name == "n"))) {
            if (grouped || coin(rng) >= 0.6) continue;
            v = std::max<std::int64_t>(1, std::llround(static_cast<double>(v) * std::exp(log_factor(rng))));
            if (v > 8) v = (v + 7) / 8 * 8;
          }
        }
        try {
          validate(j);
        } catch (const Error&) {
          continue;
        }
        push(j);
      }
    }
    return out;
  }
  if (o.sampler == "adaptive") {
    if (!o.error_fn) {
      throw Error(ErrorKind::kInvalidArgument, "--sampler adaptive", "error function",
                  "the adaptive sampler needs a predictor's error function");
    }
    const std::size_t want = count == 0 ? 1000 : count;
    const std::size_t pool = want * static_cast<std::size_t>(std::max(1, o.adaptive_candidates));
    const std::vector<KernelSpec> candidates = space_specs(types, pool, o.seed ^ 0x9e3779b97f4a7c15ULL, o.max_macs);
    // Weighted sampling without replacement (Efraimidis-Spirakis): key = u^(1/w).
    std::mt19937_64 rng(o.seed);
    std::uniform_real_distribution<double> u(1e-12, 1.0);
    std::vector<std::pair<double, std::size_t>> keys;
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      double w = o.error_fn(candidates[i]);
      if (!std::isfinite(w) || w < 0) w = 0;
      keys.emplace_back(std::log(u(rng)) / (w + 1e-6), i);
    }
    std::sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<KernelSpec> out;
    for (std::size_t i = 0; i < keys.size() && out.size() < want; ++i) out.push_back(candidates[keys[i].second]);
    return out;
  }
  throw Error(ErrorKind::kInvalidArgument, "--sampler", o.sampler,
              "unknown sampler (grid, prior, space, random, adaptive)");
}

}  // namespace

}  // namespace infercast::bench
