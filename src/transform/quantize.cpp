// Post-training int8 quantization (include/infercast/transform/quantize.hpp): the
// model's TFLite form is calibrated on XNNPACK, then rewritten into a new ir::Graph
// whose tensors carry int8 data and quantization parameters, and written through the
// TFLite writer's NHWC path, which keeps dtypes and parameters as they are.
#include "infercast/transform/quantize.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <set>

#include "infercast/base/error.hpp"
#include "infercast/cost/cost.hpp"
#include "infercast/export/export.hpp"
#include "infercast/import/import.hpp"
#include "infercast/runtime/runtime.hpp"
#include "infercast/runtime/verify.hpp"
#include "infercast/runtime/xnnpack_executor.hpp"
#include "transform/editor.hpp"
#include "transform/quantize_detail.hpp"

namespace infercast::transform {
namespace {

namespace fs = std::filesystem;
using ir::DType;
using ir::Op;

std::span<const std::byte> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

ir::Graph import_bytes(std::shared_ptr<const std::string> bytes, const std::string& name) {
  ir::Graph g = import::load_tflite_bytes(bytes_of(*bytes), name);
  g.retain(bytes);
  return g;
}

std::vector<float> as_floats(const runtime::HostTensor& h) {
  std::vector<float> out(static_cast<std::size_t>(h.numel()));
  if (h.dtype != DType::kFloat32 || h.data.size() != out.size() * 4) return {};
  std::memcpy(out.data(), h.data.data(), h.data.size());
  return out;
}

// --- .npy (NumPy's format: magic, version, header length, a dict literal header)

struct Npy {
  std::string descr;
  bool fortran = false;
  std::vector<std::int64_t> shape;
  std::vector<std::byte> data;
};

Npy read_npy(const fs::path& path) {
  auto bad = [&](const std::string& why) -> Npy { throw Error(ErrorKind::kInvalidArgument, path.string(), "", why); };
  std::ifstream in(path, std::ios::binary);
  if (!in) bad("cannot be opened");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (all.size() < 10 || all.compare(0, 6, "\x93NUMPY") != 0) return bad("is not a .npy file (no \\x93NUMPY magic)");
  const auto major = static_cast<unsigned char>(all[6]);
  std::size_t header_len = 0, start = 0;
  if (major == 1) {
    header_len =
        static_cast<unsigned char>(all[8]) | (static_cast<std::size_t>(static_cast<unsigned char>(all[9])) << 8);
    start = 10;
  } else if (major == 2 || major == 3) {
    if (all.size() < 12) return bad("truncated header");
    for (int i = 0; i < 4; ++i)
      header_len |= static_cast<std::size_t>(static_cast<unsigned char>(all[8 + i])) << (8 * i);
    start = 12;
  } else {
    return bad(".npy version " + std::to_string(major) + " is not supported");
  }
  if (start + header_len > all.size()) return bad("truncated header");
  const std::string header = all.substr(start, header_len);
  Npy npy;
  auto value_after = [&](const std::string& key) -> std::string {
    const auto k = header.find("'" + key + "'");
    if (k == std::string::npos) bad("header has no '" + key + "'");
    const auto colon = header.find(':', k);
    if (colon == std::string::npos) bad("malformed header");
    return header.substr(colon + 1);
  };
  {
    const std::string v = value_after("descr");
    const auto q1 = v.find('\''), q2 = v.find('\'', q1 + 1);
    if (q1 == std::string::npos || q2 == std::string::npos) bad("malformed descr");
    npy.descr = v.substr(q1 + 1, q2 - q1 - 1);
  }
  npy.fortran = value_after("fortran_order").find("True") < value_after("fortran_order").find(',');
  {
    const std::string v = value_after("shape");
    const auto open = v.find('('), close = v.find(')');
    if (open == std::string::npos || close == std::string::npos || close < open) bad("malformed shape");
    std::string dims = v.substr(open + 1, close - open - 1);
    std::size_t pos = 0;
    while (pos < dims.size()) {
      while (pos < dims.size() && (dims[pos] == ' ' || dims[pos] == ',')) ++pos;
      if (pos >= dims.size()) break;
      std::size_t used = 0;
      try {
        npy.shape.push_back(std::stoll(dims.substr(pos), &used));
      } catch (const std::exception&) {
        bad("malformed shape");
      }
      if (npy.shape.back() < 0) bad("negative dimension");
      pos += used;
    }
  }
  std::uint64_t count = 1;
  for (auto d : npy.shape) count *= static_cast<std::uint64_t>(d);
  const std::size_t body = start + header_len;
  const std::size_t width = npy.descr.size() >= 3 ? static_cast<std::size_t>(npy.descr.back() - '0') : 0;
  if (width == 0 || width > 8) return bad("dtype '" + npy.descr + "' is not supported");
  if (all.size() - body != count * width) {
    return bad("holds " + std::to_string(all.size() - body) + " data bytes, shape needs " +
               std::to_string(count * width));
  }
  npy.data.resize(all.size() - body);
  std::memcpy(npy.data.data(), all.data() + body, npy.data.size());
  return npy;
}

std::string dims_text(const std::vector<std::int64_t>& d) {
  std::string s;
  for (std::size_t i = 0; i < d.size(); ++i) s += (i ? "x" : "") + std::to_string(d[i]);
  return s.empty() ? "scalar" : s;
}

// One calibration tensor from a file, checked against graph input `t`.
std::vector<float> read_sample_file(const fs::path& path, const ir::Tensor& t) {
  const std::vector<std::int64_t> want = t.shape.extents();
  std::vector<std::int64_t> shape;
  std::vector<float> values;
  if (path.extension() == ".npy") {
    Npy npy = read_npy(path);
    if (npy.descr != "<f4" && npy.descr != "|f4" && npy.descr != "=f4") {
      throw Error(ErrorKind::kInvalidArgument, path.string(), "input '" + t.name + "'",
                  "dtype '" + npy.descr + "' is not float32 ('<f4')");
    }
    if (npy.fortran)
      throw Error(ErrorKind::kInvalidArgument, path.string(), "", "Fortran-order arrays are not supported");
    shape = npy.shape;
    values.resize(npy.data.size() / 4);
    std::memcpy(values.data(), npy.data.data(), npy.data.size());
  } else if (path.extension() == ".pb") {
    const runtime::HostTensor h = runtime::read_tensor_proto(path, t.name);
    if (h.dtype != DType::kFloat32) {
      throw Error(ErrorKind::kInvalidArgument, path.string(), "input '" + t.name + "'",
                  "dtype " + std::string(ir::dtype_name(h.dtype)) + " is not float32");
    }
    shape = h.dims;
    values = as_floats(h);
  } else {
    throw Error(ErrorKind::kInvalidArgument, path.string(), "", "calibration files must be .npy or .pb");
  }
  std::uint64_t n = 1, m = 1;
  for (auto d : shape) n *= static_cast<std::uint64_t>(d);
  for (auto d : want) m *= static_cast<std::uint64_t>(d);
  if (shape != want && !(n == m && shape.size() + 1 == want.size() && want[0] == 1)) {
    throw Error(ErrorKind::kInvalidArgument, path.string(), "input '" + t.name + "'",
                "shape " + dims_text(shape) + " does not match the model's " + dims_text(want));
  }
  return values;
}

// --- parameter choice

struct Range {
  float lo = std::numeric_limits<float>::infinity();
  float hi = -std::numeric_limits<float>::infinity();
  std::vector<float> reservoir;  // percentile calibration: a strided subset of the values
  bool seen() const { return lo <= hi; }
};

// The activation a standalone RELU / RELU6 / RELU_N1_TO_1 node applies, as a fused
// activation's name; empty for any other node.
std::string activation_of(const ir::Node& n) {
  if (n.op == Op::Relu) return "relu";
  if (n.op != Op::Clip || n.inputs.size() != 1) return {};
  const double lo = n.attrs.get_float("min", -1e30), hi = n.attrs.get_float("max", 1e30);
  if (lo == 0.0 && hi == 6.0) return "relu6";
  if (lo == -1.0 && hi == 1.0) return "relu_n1_to_1";
  return {};
}

// Folds each standalone ReLU (RELU, RELU6, RELU_N1_TO_1) into the convolution, fully
// connected layer, ADD or MUL before it, as the fused activation those TFLite ops carry,
// where the producer has none and its output feeds the ReLU alone: what TensorFlow Lite's
// converter does before it quantizes. The int8 op then writes the clamped range at its
// own scale, instead of requantizing twice (the op's output at a scale covering its
// negative half, then the ReLU's). MediaPipe's face detectors keep 47 such ReLUs as ops of
// their own. Deterministic: the same graph gives the same tensor indices.
void fuse_activations(ir::Graph& g) {
  Editor edit(g);
  bool changed = false;
  for (std::size_t r = 0; r < g.nodes.size(); ++r) {
    const ir::Node& relu = g.nodes[r];
    const std::string act = activation_of(relu);
    if (act.empty() || relu.inputs.empty() || relu.outputs.size() != 1) continue;
    const ir::Tensor& x = g.tensors[static_cast<std::size_t>(relu.inputs[0])];
    if (x.producer < 0 || x.consumers.size() != 1 ||
        std::find(g.outputs.begin(), g.outputs.end(), relu.inputs[0]) != g.outputs.end()) {
      continue;
    }
    ir::Node& p = g.nodes[static_cast<std::size_t>(x.producer)];
    const bool fusable = p.op == Op::Conv || p.op == Op::FullyConnected || p.op == Op::Add || p.op == Op::Mul;
    if (!fusable || p.outputs.size() != 1 || !p.attrs.get_string("fused_activation", "").empty()) continue;
    p.attrs.set("fused_activation", act);
    p.outputs[0] = relu.outputs[0];
    edit.remove_node(static_cast<int>(r));
    changed = true;
  }
  if (changed) edit.commit(g.meta.source_path);
}

}  // namespace

// --- public

ir::Graph float_tflite_form(const ir::Graph& model) {
  auto bytes = std::make_shared<const std::string>(exporter::to_tflite(model));
  const std::string name = model.meta.source_path.empty() ? "model" : model.meta.source_path;
  ir::Graph g = import_bytes(bytes, name);
  g.meta.source_path = name;
  return g;
}

std::vector<Sample> load_calibration(const ir::Graph& graph, const std::string& spec, std::uint64_t seed) {
  std::vector<Sample> samples;
  if (spec.rfind("random:", 0) == 0) {
    long long n = 0;
    try {
      std::size_t used = 0;
      n = std::stoll(spec.substr(7), &used);
      if (used != spec.size() - 7) n = -1;
    } catch (const std::exception&) {
      n = -1;
    }
    if (n < 1 || n > 100000) {
      throw Error(ErrorKind::kInvalidArgument, "", "--calibration", "'" + spec + "': random:N needs N in [1, 100000]");
    }
    for (long long i = 0; i < n; ++i) {
      Sample s;
      for (const auto& h : runtime::random_inputs(graph, seed + static_cast<std::uint64_t>(i))) {
        if (h.dtype != DType::kFloat32) {
          throw Error(ErrorKind::kUnsupported, graph.meta.source_path, "input '" + h.name + "'",
                      "is " + std::string(ir::dtype_name(h.dtype)) + "; calibration feeds float32 inputs only");
        }
        s.push_back(as_floats(h));
      }
      samples.push_back(std::move(s));
    }
    return samples;
  }
  const fs::path dir(spec);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw Error(ErrorKind::kInvalidArgument, spec, "--calibration", "is neither a folder nor random:N");
  }
  for (int id : graph.inputs) {
    if (graph.tensors[id].dtype != DType::kFloat32) {
      throw Error(ErrorKind::kUnsupported, graph.meta.source_path, "input '" + graph.tensors[id].name + "'",
                  "calibration feeds float32 inputs only");
    }
  }
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file() && (e.path().extension() == ".npy" || e.path().extension() == ".pb"))
      files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    throw Error(ErrorKind::kInvalidArgument, spec, "--calibration",
                "the calibration set is empty (no .npy or .pb files)");
  }
  if (graph.inputs.size() == 1) {
    for (const auto& f : files) samples.push_back({read_sample_file(f, graph.tensors[graph.inputs[0]])});
    return samples;
  }
  // Several inputs: group files by sample key; each file names its input.
  std::map<std::string, std::map<std::string, fs::path>> by_sample;
  for (const auto& f : files) {
    const std::string stem = f.stem().string();
    std::string input, key;
    for (int id : graph.inputs) {
      const std::string& name = graph.tensors[id].name;
      if (stem == name) input = name, key = f.parent_path().string();
      if (stem.rfind(name + "_", 0) == 0 && input.size() < name.size())
        input = name, key = stem.substr(name.size() + 1);
    }
    if (input.empty()) {
      throw Error(ErrorKind::kInvalidArgument, f.string(), "", "names none of the model's inputs");
    }
    by_sample[key][input] = f;
  }
  for (const auto& [key, files_of] : by_sample) {
    Sample s;
    for (int id : graph.inputs) {
      const ir::Tensor& t = graph.tensors[id];
      const auto it = files_of.find(t.name);
      if (it == files_of.end()) {
        throw Error(ErrorKind::kInvalidArgument, spec, "sample '" + key + "'",
                    "has no file for input '" + t.name + "'");
      }
      s.push_back(read_sample_file(it->second, t));
    }
    samples.push_back(std::move(s));
  }
  return samples;
}

std::map<std::string, std::uint64_t> weight_bytes_by_dtype(const ir::Graph& graph) {
  return cost::analyze(graph).weight_bytes_by_dtype;
}

QuantizedModel quantize(const ir::Graph& model, const QuantizeOptions& options) {
  if (!(options.percentile > 50.0 && options.percentile <= 100.0)) {
    throw Error(ErrorKind::kInvalidArgument, "", "--percentile", "must be in (50, 100]");
  }
  for (const ir::Tensor& t : model.tensors) {
    // Densifying reads the sparsity parameters from the source file, which the
    // in-memory TFLite form is not.
    if (t.sparse) {
      throw Error(ErrorKind::kUnsupported, model.meta.source_path, "tensor '" + t.name + "'",
                  "sparse weights are not quantized; quantize the dense model");
    }
  }
  ir::Graph f = float_tflite_form(model);
  fuse_activations(f);
  const std::string file = f.meta.source_path;

  // 1. Which nodes become int8, and the constant each weight input really is.
  detail::Plan plan = detail::plan_quantization(f, options.mode);

  // 2. Calibration: the float model with every tensor the plan needs ranges for as an
  // output.
  std::vector<Range> ranges(f.tensors.size());
  std::size_t sample_count = 0;
  if (options.mode == QuantizeMode::kFull) {
    const std::vector<Sample> samples = load_calibration(f, options.calibration, options.seed);
    sample_count = samples.size();
    ir::Graph probe = float_tflite_form(model);
    fuse_activations(probe);
    std::vector<int> watched;
    for (std::size_t t = 0; t < plan.needs_range.size(); ++t) {
      if (plan.needs_range[t]) watched.push_back(static_cast<int>(t));
    }
    for (int t : watched) {
      if (std::find(probe.outputs.begin(), probe.outputs.end(), t) == probe.outputs.end()) probe.outputs.push_back(t);
    }
    runtime::XnnpackExecutor exec;
    exec.prepare(probe, options.threads);
    for (const Sample& s : samples) {
      for (std::size_t i = 0; i < s.size(); ++i) exec.set_input(i, s[i]);
      exec.run();
      for (std::size_t o = 0; o < probe.outputs.size(); ++o) {
        const int t = probe.outputs[o];
        Range& r = ranges[static_cast<std::size_t>(t)];
        const auto v = exec.output(o);
        for (float x : v) {
          if (!std::isfinite(x)) continue;
          r.lo = std::min(r.lo, x);
          r.hi = std::max(r.hi, x);
        }
        if (options.percentile < 100.0) {
          const std::size_t stride = std::max<std::size_t>(1, v.size() / 4096);
          for (std::size_t i = 0; i < v.size(); i += stride) {
            if (std::isfinite(v[i])) r.reservoir.push_back(v[i]);
          }
        }
      }
    }
    if (options.percentile < 100.0) {
      for (Range& r : ranges) {
        if (r.reservoir.empty()) continue;
        std::sort(r.reservoir.begin(), r.reservoir.end());
        const double p = options.percentile / 100.0;
        const auto at = [&](double q) {
          return r.reservoir[static_cast<std::size_t>(q * static_cast<double>(r.reservoir.size() - 1))];
        };
        r.lo = at(1.0 - p);
        r.hi = at(p);
        std::vector<float>().swap(r.reservoir);
      }
    }
  }
  std::vector<std::optional<ir::Quantization>> params(f.tensors.size());
  for (std::size_t t = 0; t < ranges.size(); ++t) {
    if (ranges[t].seen()) params[t] = detail::activation_params(ranges[t].lo, ranges[t].hi);
  }

  // 3. Rewrite.
  ir::Graph q = detail::rewrite(f, plan, params, options.mode);
  QuantizedModel out;
  out.tflite = std::make_shared<const std::string>(exporter::to_tflite(q));
  out.graph = import_bytes(out.tflite, file);
  out.float_ops = plan.float_ops;
  out.quantized_ops = plan.quantized_count;
  out.calibration_samples = sample_count;
  return out;
}

namespace {

// Errors of one output accumulated over samples.
struct ErrorSums {
  double signal = 0, noise = 0, max_abs = 0;
  int agree = 0;
  std::uint64_t within = 0, total = 0;

  // `step`: one quantization step of the output (0: unknown).
  void add(std::span<const float> want, std::span<const float> got, double step) {
    const std::size_t n = std::min(want.size(), got.size());
    std::size_t arg_w = 0, arg_g = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const double d = static_cast<double>(got[i]) - want[i];
      signal += static_cast<double>(want[i]) * want[i];
      noise += d * d;
      max_abs = std::max(max_abs, std::fabs(d));
      if (step > 0 && std::fabs(d) <= step * 1.0001) ++within;
      if (want[i] > want[arg_w]) arg_w = i;
      if (got[i] > got[arg_g]) arg_g = i;
    }
    total += n;
    agree += arg_w == arg_g ? 1 : 0;
  }

  OutputError result(const std::string& name, const std::vector<std::int64_t>& dims, int samples) const {
    OutputError e;
    e.name = name;
    e.max_abs = max_abs;
    e.sqnr_db = noise == 0 ? std::numeric_limits<double>::infinity() : 10.0 * std::log10(signal / noise);
    // Class scores: a vector of at least 10 per sample.
    std::int64_t count = 1;
    for (auto d : dims) count *= d;
    if (!dims.empty() && dims.back() >= 10 && count == dims.back()) e.top1 = static_cast<double>(agree) / samples;
    e.within_step = total ? static_cast<double>(within) / static_cast<double>(total) : 0;
    return e;
  }
};

// One quantization step of output `o` of `g`: the scale of the int8 tensor its
// DEQUANTIZE reads; 0 when the output is not dequantized from int8.
double output_step(const ir::Graph& g, std::size_t o) {
  const ir::Tensor& ot = g.tensors[static_cast<std::size_t>(g.outputs[o])];
  if (ot.producer < 0) return 0;
  const ir::Node& pn = g.nodes[static_cast<std::size_t>(ot.producer)];
  if (pn.op == Op::Dequantize && !g.tensors[pn.inputs[0]].quant.empty()) return g.tensors[pn.inputs[0]].quant.scales[0];
  return 0;
}

// The graph input the one-step perturbation moves: the first one a QUANTIZE reads,
// directly or through layout ops (TRANSPOSE, RESHAPE, which move no value), and that
// QUANTIZE's step. {-1, 0} when no input is quantized.
std::pair<int, double> quantized_input(const ir::Graph& g) {
  for (std::size_t i = 0; i < g.inputs.size(); ++i) {
    int t = g.inputs[i];
    for (bool moved = true; moved;) {
      moved = false;
      for (const ir::Node& n : g.nodes) {
        if (n.inputs.empty() || n.inputs[0] != t || n.outputs.empty()) continue;
        const ir::Tensor& out = g.tensors[static_cast<std::size_t>(n.outputs[0])];
        if (n.op == Op::Quantize && !out.quant.empty() && out.quant.scales[0] > 0) {
          return {static_cast<int>(i), out.quant.scales[0]};
        }
        if (n.op == Op::Transpose || n.op == Op::Reshape) {
          t = n.outputs[0];
          moved = true;
          break;
        }
      }
    }
  }
  return {-1, 0.0};
}

// Counts |got − want| within one step and the largest difference in steps.
struct StepSums {
  std::uint64_t within = 0, total = 0;
  double max_steps = 0;
  void add(std::span<const float> want, std::span<const float> got, double step) {
    const std::size_t n = std::min(want.size(), got.size());
    for (std::size_t i = 0; i < n; ++i) {
      const double d = std::fabs(static_cast<double>(got[i]) - want[i]) / step;
      within += d <= 1.0001 ? 1 : 0;
      max_steps = std::max(max_steps, d);
    }
    total += n;
  }
  // The fraction within one step; `none` when nothing was compared.
  double within_fraction(double none) const {
    return total ? static_cast<double>(within) / static_cast<double>(total) : none;
  }
};

}  // namespace

std::vector<RuntimeAgreement> compare_runtimes(const ir::Graph& reference, const ir::Graph& int8,
                                               const ir::Graph& other, const std::string& runtime, int samples,
                                               std::uint64_t seed, int threads) {
  runtime::XnnpackExecutor a, b;
  a.prepare(reference, threads);
  b.prepare(int8, threads);
  auto r = runtime::make_runtime(runtime);
  runtime::PrepareOptions prepare;
  prepare.threads = threads;
  r->prepare(other, prepare);
  std::unique_ptr<runtime::Runtime> unoptimized;
  if (runtime == "ort") {
    unoptimized = runtime::make_runtime(runtime);
    runtime::PrepareOptions off = prepare;
    off.optimize = false;
    unoptimized->prepare(other, off);
  }
  if (a.output_count() != b.output_count() || other.outputs.size() != a.output_count() ||
      other.inputs.size() != a.input_count()) {
    throw Error(ErrorKind::kInvalidArgument, other.meta.source_path, "",
                "inputs/outputs differ from the int8 TFLite model's");
  }
  const std::size_t outputs = a.output_count();
  std::vector<ErrorSums> vs_float(outputs);
  std::vector<StepSums> vs_int8(outputs), one_step(outputs), vs_unoptimized(outputs);
  std::vector<double> steps(outputs, 0);
  for (std::size_t o = 0; o < outputs; ++o) steps[o] = output_step(int8, o);
  const auto [moved_input, input_step] = quantized_input(int8);
  for (int s = 0; s < samples; ++s) {
    const std::uint64_t sample_seed = seed + 1000 + static_cast<std::uint64_t>(s);
    auto inputs = runtime::random_inputs(reference, sample_seed);
    std::vector<float> moved;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const auto v = as_floats(inputs[i]);
      a.set_input(i, v);
      b.set_input(i, v);
      if (static_cast<int>(i) == moved_input) moved = v;
      inputs[i].name = other.tensors[static_cast<std::size_t>(other.inputs[i])].name;
    }
    a.run();
    b.run();
    std::vector<std::vector<float>> int8_out(outputs);
    for (std::size_t o = 0; o < outputs; ++o) int8_out[o].assign(b.output(o).begin(), b.output(o).end());
    if (!moved.empty()) {
      // Towards zero, so the quantized value moves by exactly one step (zero is in every
      // calibrated range); the element from the sample's seed.
      const std::size_t at = static_cast<std::size_t>((sample_seed * 0x9E3779B97F4A7C15ull) >> 17) % moved.size();
      moved[at] += static_cast<float>(moved[at] < 0 ? input_step : -input_step);
      b.set_input(static_cast<std::size_t>(moved_input), moved);
      b.run();
      for (std::size_t o = 0; o < outputs; ++o) {
        if (steps[o] > 0) one_step[o].add(int8_out[o], b.output(o), steps[o]);
      }
    }
    const auto got = r->infer(inputs);
    const auto got_unoptimized = unoptimized ? unoptimized->infer(inputs) : std::vector<runtime::HostTensor>{};
    if (got.size() != outputs || (unoptimized && got_unoptimized.size() != outputs)) {
      throw Error(
          ErrorKind::kInvalidArgument, other.meta.source_path, "",
          runtime + " returned " + std::to_string(got.size()) + " outputs, expected " + std::to_string(outputs));
    }
    for (std::size_t o = 0; o < outputs; ++o) {
      const auto g = as_floats(got[o]);
      if (g.empty() && got[o].numel() != 0) {
        throw Error(ErrorKind::kUnsupported, other.meta.source_path, "output '" + got[o].name + "'",
                    "is " + std::string(ir::dtype_name(got[o].dtype)) + ", not float32");
      }
      const auto want = a.output(o);
      vs_float[o].add(want, g, 0);
      if (steps[o] > 0) {
        vs_int8[o].add(int8_out[o], g, steps[o]);
        if (unoptimized) vs_unoptimized[o].add(as_floats(got_unoptimized[o]), g, steps[o]);
      }
    }
  }
  std::vector<RuntimeAgreement> out(outputs);
  for (std::size_t o = 0; o < outputs; ++o) {
    const auto& info = a.output_info(o);
    out[o].name = info.name;
    out[o].vs_float = vs_float[o].result(info.name, info.shape, samples);
    out[o].within_step = vs_int8[o].within_fraction(0);
    out[o].max_steps = vs_int8[o].max_steps;
    out[o].step = steps[o];
    out[o].one_step_within = one_step[o].within_fraction(-1);
    out[o].one_step_max_steps = one_step[o].max_steps;
    out[o].unoptimized_within = vs_unoptimized[o].within_fraction(-1);
    out[o].unoptimized_max_steps = vs_unoptimized[o].max_steps;
  }
  return out;
}

std::vector<OutputError> compare_models(const ir::Graph& reference, const ir::Graph& candidate, int samples,
                                        std::uint64_t seed, int threads) {
  runtime::XnnpackExecutor a, b;
  a.prepare(reference, threads);
  b.prepare(candidate, threads);
  if (a.output_count() != b.output_count() || a.input_count() != b.input_count()) {
    throw Error(ErrorKind::kInvalidArgument, candidate.meta.source_path, "",
                "inputs/outputs differ from the reference model's");
  }
  std::vector<ErrorSums> sums(a.output_count());
  for (int s = 0; s < samples; ++s) {
    const auto inputs = runtime::random_inputs(reference, seed + 1000 + static_cast<std::uint64_t>(s));
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const auto v = as_floats(inputs[i]);
      a.set_input(i, v);
      b.set_input(i, v);
    }
    a.run();
    b.run();
    for (std::size_t o = 0; o < sums.size(); ++o) sums[o].add(a.output(o), b.output(o), output_step(candidate, o));
  }
  std::vector<OutputError> errors;
  for (std::size_t o = 0; o < sums.size(); ++o) {
    errors.push_back(sums[o].result(a.output_info(o).name, a.output_info(o).shape, samples));
  }
  return errors;
}

}  // namespace infercast::transform
