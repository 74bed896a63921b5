#include "infercast/runtime/verify.hpp"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include "infercast/base/error.hpp"

namespace infercast::runtime {
namespace {

namespace fs = std::filesystem;

// Element values as doubles (float16 widened; integers exact up to 2^53).
std::vector<double> values(const HostTensor& t) {
  const std::uint64_t n = t.numel();
  std::vector<double> out(n);
  auto read = [&](auto tag) {
    using T = decltype(tag);
    for (std::uint64_t i = 0; i < n && (i + 1) * sizeof(T) <= t.data.size(); ++i) {
      T v;
      std::memcpy(&v, t.data.data() + i * sizeof(T), sizeof(T));
      out[i] = static_cast<double>(v);
    }
  };
  switch (t.dtype) {
    case ir::DType::kFloat32: read(float{}); break;
    case ir::DType::kFloat64: read(double{}); break;
    case ir::DType::kInt64: read(std::int64_t{}); break;
    case ir::DType::kInt32: read(std::int32_t{}); break;
    case ir::DType::kInt16: read(std::int16_t{}); break;
    case ir::DType::kInt8: read(std::int8_t{}); break;
    case ir::DType::kUInt8:
    case ir::DType::kBool: read(std::uint8_t{}); break;
    case ir::DType::kUInt16: read(std::uint16_t{}); break;
    case ir::DType::kUInt32: read(std::uint32_t{}); break;
    case ir::DType::kUInt64: read(std::uint64_t{}); break;
    case ir::DType::kFloat16:
      for (std::uint64_t i = 0; i < n && (i + 1) * 2 <= t.data.size(); ++i) {
        std::uint16_t h;
        std::memcpy(&h, t.data.data() + i * 2, 2);
        const int exponent = (h >> 10) & 0x1f;
        const int mantissa = h & 0x3ff;
        double v = exponent == 0    ? std::ldexp(mantissa, -24)
                   : exponent == 31 ? (mantissa ? NAN : INFINITY)
                                    : std::ldexp(mantissa + 1024, exponent - 25);
        out[i] = (h & 0x8000) ? -v : v;
      }
      break;
    default: break;
  }
  return out;
}

HostTensor read_tensor(const fs::path& path, const std::string& name) {
  std::ifstream in(path, std::ios::binary);
  ::onnx::TensorProto proto;
  if (!in || !proto.ParseFromIstream(&in))
    throw Error(ErrorKind::kBadModel, path.string(), "", "not a serialized onnx.TensorProto");
  HostTensor t;
  t.name = name;
  t.dims.assign(proto.dims().begin(), proto.dims().end());
  switch (proto.data_type()) {
    case ::onnx::TensorProto::FLOAT: t.dtype = ir::DType::kFloat32; break;
    case ::onnx::TensorProto::DOUBLE: t.dtype = ir::DType::kFloat64; break;
    case ::onnx::TensorProto::INT64: t.dtype = ir::DType::kInt64; break;
    case ::onnx::TensorProto::INT32: t.dtype = ir::DType::kInt32; break;
    case ::onnx::TensorProto::BOOL: t.dtype = ir::DType::kBool; break;
    case ::onnx::TensorProto::UINT8: t.dtype = ir::DType::kUInt8; break;
    case ::onnx::TensorProto::INT8: t.dtype = ir::DType::kInt8; break;
    default:
      throw Error(ErrorKind::kUnsupported, path.string(), "",
                  "data_type " + std::to_string(proto.data_type()) + " is not supported");
  }
  const std::uint64_t bytes = ir::dtype_bytes(t.dtype, t.numel());
  if (!proto.raw_data().empty()) {
    const std::string& raw = proto.raw_data();
    t.data.resize(raw.size());
    std::memcpy(t.data.data(), raw.data(), raw.size());
  } else {
    t.data.resize(bytes);
    auto put = [&](std::uint64_t i, auto v) { std::memcpy(t.data.data() + i * sizeof(v), &v, sizeof(v)); };
    for (std::uint64_t i = 0; i < t.numel(); ++i) {
      switch (t.dtype) {
        case ir::DType::kFloat32:
          if (i < static_cast<std::uint64_t>(proto.float_data_size())) put(i, proto.float_data(static_cast<int>(i)));
          break;
        case ir::DType::kFloat64:
          if (i < static_cast<std::uint64_t>(proto.double_data_size())) put(i, proto.double_data(static_cast<int>(i)));
          break;
        case ir::DType::kInt64:
          if (i < static_cast<std::uint64_t>(proto.int64_data_size())) put(i, proto.int64_data(static_cast<int>(i)));
          break;
        case ir::DType::kInt32:
          if (i < static_cast<std::uint64_t>(proto.int32_data_size())) put(i, proto.int32_data(static_cast<int>(i)));
          break;
        default:
          if (i < static_cast<std::uint64_t>(proto.int32_data_size()))
            put(i, static_cast<std::uint8_t>(proto.int32_data(static_cast<int>(i))));
          break;
      }
    }
  }
  if (t.data.size() != bytes) {
    throw Error(ErrorKind::kBadModel, path.string(), "",
                "holds " + std::to_string(t.data.size()) + " bytes, its shape needs " + std::to_string(bytes));
  }
  return t;
}

}  // namespace

HostTensor read_tensor_proto(const std::filesystem::path& path, const std::string& name) {
  return read_tensor(path, name);
}

std::vector<OutputComparison> compare_outputs(const std::vector<HostTensor>& got, const std::vector<HostTensor>& want,
                                              const Tolerance& tolerance) {
  std::vector<OutputComparison> result;
  for (std::size_t i = 0; i < want.size(); ++i) {
    OutputComparison c;
    c.name = want[i].name;
    c.dims = want[i].dims;
    if (i >= got.size()) {
      c.pass = false;
      c.note = "the runtime returned no output " + std::to_string(i);
      result.push_back(std::move(c));
      continue;
    }
    if (got[i].dims != want[i].dims) {
      c.pass = false;
      c.note = "shape differs";
      result.push_back(std::move(c));
      continue;
    }
    const bool floating = ir::is_floating(want[i].dtype);
    const auto a = values(got[i]);
    const auto b = values(want[i]);
    double scale = 0;
    for (double x : b) {
      if (std::isfinite(x)) scale = std::max(scale, std::fabs(x));
    }
    std::vector<double> diffs(std::min(a.size(), b.size()));
    double dot = 0, got_power = 0, want_power = 0, noise_power = 0;
    c.identical = true;
    for (std::size_t k = 0; k < diffs.size(); ++k) {
      const bool both_nan = std::isnan(a[k]) && std::isnan(b[k]);
      const double diff = both_nan || a[k] == b[k] ? 0 : std::fabs(a[k] - b[k]);
      diffs[k] = diff;
      if (diff != 0) c.identical = false;
      c.max_abs_error = std::isnan(diff) ? INFINITY : std::max(c.max_abs_error, diff);
      if (std::isfinite(a[k]) && std::isfinite(b[k])) {
        dot += a[k] * b[k];
        got_power += a[k] * a[k];
        want_power += b[k] * b[k];
        noise_power += (a[k] - b[k]) * (a[k] - b[k]);
      }
    }
    c.max_rel_error = scale > 0 ? c.max_abs_error / scale : (c.max_abs_error > 0 ? INFINITY : 0);
    c.cosine = got_power == 0 && want_power == 0   ? 1
               : got_power == 0 || want_power == 0 ? 0
                                                   : dot / (std::sqrt(got_power) * std::sqrt(want_power));
    c.sqnr_db = noise_power == 0 ? INFINITY : want_power == 0 ? -INFINITY : 10 * std::log10(want_power / noise_power);
    // The element bound of each rule; NaN differences (one side NaN) fail both.
    for (std::size_t k = 0; k < diffs.size(); ++k) {
      bool ok = false;
      if (!floating) {
        ok = diffs[k] == 0;
      } else if (tolerance.rule == Tolerance::Rule::kAllclose) {
        ok = diffs[k] <= tolerance.atol + tolerance.rtol * std::fabs(b[k]);
      } else {
        ok = diffs[k] <= tolerance.scaled * scale;
      }
      if (!ok) ++c.mismatches;
    }
    c.pass = c.mismatches == 0;
    result.push_back(std::move(c));
  }
  return result;
}

std::vector<TestDataSet> read_onnx_test_data(const fs::path& model, const ir::Graph& graph) {
  std::vector<fs::path> dirs;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(model.parent_path().empty() ? "." : model.parent_path(), ec)) {
    if (entry.is_directory() && entry.path().filename().string().rfind("test_data_set_", 0) == 0)
      dirs.push_back(entry.path());
  }
  std::sort(dirs.begin(), dirs.end());
  if (dirs.empty()) {
    throw Error(ErrorKind::kInvalidArgument, model.string(), "--reference testdata",
                "no test_data_set_* folder beside the model");
  }
  std::vector<TestDataSet> sets;
  for (const fs::path& dir : dirs) {
    TestDataSet set;
    set.name = dir.filename().string();
    for (std::size_t i = 0; fs::exists(dir / ("input_" + std::to_string(i) + ".pb")); ++i) {
      const std::string name = i < graph.inputs.size() ? graph.tensors[graph.inputs[i]].name : "";
      set.inputs.push_back(read_tensor(dir / ("input_" + std::to_string(i) + ".pb"), name));
    }
    for (std::size_t i = 0; fs::exists(dir / ("output_" + std::to_string(i) + ".pb")); ++i) {
      const std::string name = i < graph.outputs.size() ? graph.tensors[graph.outputs[i]].name : "";
      set.outputs.push_back(read_tensor(dir / ("output_" + std::to_string(i) + ".pb"), name));
    }
    sets.push_back(std::move(set));
  }
  return sets;
}

std::vector<VerifiedSet> verify_model(const ir::Graph& graph, const VerifyOptions& o) {
  const auto engine = make_runtime(o.runtime);
  engine->prepare(graph, {o.threads});
  std::vector<VerifiedSet> sets;
  if (o.reference == "testdata") {
    for (const TestDataSet& set : read_onnx_test_data(o.model_path, graph)) {
      sets.push_back({set.name, compare_outputs(engine->infer(set.inputs), set.outputs, o.tolerance)});
    }
    return sets;
  }
  const ir::Graph& ref_graph = o.reference_graph != nullptr ? *o.reference_graph : graph;
  const auto reference = make_runtime(o.reference);
  reference->prepare(ref_graph, {o.threads});
  const auto inputs = random_inputs(graph, o.seed);
  auto ref_inputs = inputs;
  for (std::size_t i = 0; i < ref_inputs.size() && i < ref_graph.inputs.size(); ++i) {
    ref_inputs[i].name = ref_graph.tensors[ref_graph.inputs[i]].name;
  }
  sets.push_back({"random (seed " + std::to_string(o.seed) + ")",
                  compare_outputs(engine->infer(inputs), reference->infer(ref_inputs), o.tolerance)});
  return sets;
}

}  // namespace infercast::runtime
