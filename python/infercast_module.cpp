// The Python module `infercast`: a pybind11 face over the library, holding no logic of
// its own. Every result is the library's canonical JSON (the CLI's --format json)
// turned into Python objects; every expected failure is infercast.Error (a
// ValueError) with the library's kind, file, node and one-line message.
//
// Models arrive as a path, bytes (ONNX or TFLite, told apart by content) or anything
// with SerializeToString() (onnx.ModelProto). The graph views the caller's bytes
// object, which each call keeps referenced until the graph is gone; no graph outlives
// the call that imported it.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "infercast/base/error.hpp"
#include "infercast/cost/cost.hpp"
#include "infercast/export/export.hpp"
#include "infercast/import/import.hpp"
#include "infercast/measure/measure.hpp"
#include "infercast/predict/predictor.hpp"
#include "infercast/predict/profile.hpp"
#include "infercast/report/report.hpp"
#include "infercast/report/run_report.hpp"
#include "infercast/report/verify_report.hpp"
#include "infercast/runtime/runtime.hpp"
#include "infercast/runtime/verify.hpp"

namespace py = pybind11;
using nlohmann::json;

namespace infercast::python {
namespace {

// (`import` alone at the start of a declaration reads as a C++20 module import to some tools.)
using ImportOptions = infercast::import::ImportOptions;

const char* kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidArgument: return "invalid_argument";
    case ErrorKind::kIo: return "io";
    case ErrorKind::kBadModel: return "bad_model";
    case ErrorKind::kUnsupported: return "unsupported";
    case ErrorKind::kUnknownDim: return "unknown_dim";
  }
  return "unknown";
}

// nonfinite_as_none: a NaN or infinity becomes None, as the CLI's JSON text writes it
// (null); a Prediction's document never went through that text, the others keep their
// floats as they always did.
py::object to_python(const json& j, bool nonfinite_as_none = false) {
  switch (j.type()) {
    case json::value_t::null: return py::none();
    case json::value_t::boolean: return py::bool_(j.get<bool>());
    case json::value_t::number_integer: return py::int_(j.get<std::int64_t>());
    case json::value_t::number_unsigned: return py::int_(j.get<std::uint64_t>());
    case json::value_t::number_float: {
      const double x = j.get<double>();
      if (nonfinite_as_none && !std::isfinite(x)) return py::none();
      return py::float_(x);
    }
    case json::value_t::string: return py::str(j.get_ref<const std::string&>());
    case json::value_t::array: {
      py::list out(j.size());
      std::size_t i = 0;
      for (const json& v : j) out[i++] = to_python(v, nonfinite_as_none);
      return out;
    }
    case json::value_t::object: {
      py::dict out;
      for (auto it = j.begin(); it != j.end(); ++it) out[py::str(it.key())] = to_python(it.value(), nonfinite_as_none);
      return out;
    }
    default: return py::none();
  }
}

py::object dataframe(const json& rows, bool nonfinite_as_none = false) {
  py::module_ pandas;
  try {
    pandas = py::module_::import("pandas");
  } catch (const py::error_already_set&) {
    throw py::import_error("to_pandas() needs pandas (Debian: apt-get install python3-pandas)");
  }
  return pandas.attr("DataFrame")(to_python(rows, nonfinite_as_none));
}

// A model argument resolved to a path or to bytes the call keeps referenced.
struct ModelSource {
  std::string path;  // set for a path
  py::bytes keep;    // set for in-memory models
  std::span<const std::byte> bytes;
  std::string name;  // what error messages call it
};

ModelSource model_source(const py::handle& model) {
  ModelSource s;
  if (py::isinstance<py::str>(model) || py::hasattr(model, "__fspath__")) {
    s.path = py::str(py::module_::import("os").attr("fspath")(model));
    s.name = s.path;
    return s;
  }
  if (py::isinstance<py::bytes>(model)) {
    s.keep = py::reinterpret_borrow<py::bytes>(model);
    s.name = "<bytes>";
  } else if (py::isinstance<py::bytearray>(model) || py::isinstance<py::memoryview>(model)) {
    s.keep = py::bytes(py::module_::import("builtins").attr("bytes")(model));  // a snapshot: the caller may mutate
    s.name = "<bytes>";
  } else if (py::hasattr(model, "SerializeToString")) {
    py::object serialized = model.attr("SerializeToString")();
    if (!py::isinstance<py::bytes>(serialized)) throw py::type_error("model.SerializeToString() did not return bytes");
    s.keep = py::reinterpret_borrow<py::bytes>(serialized);
    s.name = "<" + std::string(py::str(py::type::handle_of(model).attr("__name__"))) + ">";
  } else {
    throw py::type_error(
        "model must be a path (str or os.PathLike), bytes of an .onnx/.tflite file, or an "
        "onnx.ModelProto; got " +
        std::string(py::str(py::type::handle_of(model).attr("__name__"))));
  }
  char* data = nullptr;
  Py_ssize_t size = 0;
  if (PyBytes_AsStringAndSize(s.keep.ptr(), &data, &size) != 0) throw py::error_already_set();
  s.bytes = {reinterpret_cast<const std::byte*>(data), static_cast<std::size_t>(size)};
  if (s.bytes.empty()) throw Error(ErrorKind::kBadModel, s.name, "", "file is empty");
  return s;
}

// input_shapes: None, {name: [dims] or "1x3x224x224"}, or ["NAME=1x3x224x224", ...].
ImportOptions import_options(const py::object& input_shapes) {
  ImportOptions options;
  if (input_shapes.is_none()) return options;
  auto dims_text = [](const py::handle& dims) -> std::string {
    if (py::isinstance<py::str>(dims)) return py::str(dims);
    std::string text;
    for (const py::handle& d : py::iter(dims)) {
      if (!py::isinstance<py::int_>(d)) throw py::type_error("input_shapes: dimensions must be ints");
      text += (text.empty() ? "" : "x") + std::string(py::str(d));
    }
    return text;
  };
  if (py::isinstance<py::dict>(input_shapes)) {
    for (const auto& [name, dims] : py::reinterpret_borrow<py::dict>(input_shapes)) {
      if (!py::isinstance<py::str>(name)) throw py::type_error("input_shapes: keys must be input names (str)");
      import::add_input_shape(options, std::string(py::str(name)) + "=" + dims_text(dims));
    }
    return options;
  }
  if (py::isinstance<py::str>(input_shapes)) {
    import::add_input_shape(options, py::str(input_shapes));
    return options;
  }
  for (const py::handle& spec : py::iter(input_shapes)) {
    if (!py::isinstance<py::str>(spec))
      throw py::type_error("input_shapes: expected a dict or 'NAME=1x3x224x224' strings");
    import::add_input_shape(options, py::str(spec));
  }
  return options;
}

// Call without the GIL: the bytes stay referenced by `source`.
ir::Graph load(const ModelSource& source, const ImportOptions& options) {
  if (!source.path.empty()) return import::load_model(source.path, options);
  return import::load_model_bytes(source.bytes, source.name, options);
}

// A result: the canonical document plus accessors.
struct Result {
  json doc;
  py::object to_dict() const { return to_python(doc); }
  py::object get(const char* key) const { return doc.contains(key) ? to_python(doc[key]) : py::none(); }
};

struct Analysis : Result {};
// A prediction keeps the library's record of it (numbers, kernel rows, node names), not
// a document: a search loop makes thousands and reads latency_ms from most of them, and
// building and printing the JSON document cost a fifth of a call on mobilenet_v2. The
// document (the CLI's) is built from the record when to_dict(), kernels or to_pandas()
// asks for it.
struct Prediction {
  predict::PredictionRecord record;
  std::string model;      // the document's "model"
  std::string predictor;  // and "predictor"

  json doc() const {
    json d = predict::prediction_json(record);
    d["model"] = model;
    d["predictor"] = predictor;
    return d;
  }
};
struct Measurement : Result {};
struct Verification : Result {};

Analysis analyze(const py::object& model, const py::object& input_shapes) {
  const ModelSource source = model_source(model);
  const ImportOptions options = import_options(input_shapes);
  py::gil_scoped_release release;
  const ir::Graph graph = load(source, options);
  return {report::analysis_report(graph, cost::analyze(graph)).json};
}

// Polls Ctrl-C every 50 ms while `done()` is false, without holding the GIL in between.
// On a pending signal, calls stop() and raises once `done()` holds.
template <typename Done, typename Stop>
void wait_interruptibly(std::mutex& mutex, std::condition_variable& cv, Done done, Stop stop) {
  for (;;) {
    {
      py::gil_scoped_release release;
      std::unique_lock lock(mutex);
      if (cv.wait_for(lock, std::chrono::milliseconds(50), done)) return;
    }
    if (PyErr_CheckSignals() != 0) {
      stop();
      {
        py::gil_scoped_release release;
        std::unique_lock lock(mutex);
        cv.wait(lock, done);
      }
      throw py::error_already_set();
    }
  }
}

class Predictor {
 public:
  Predictor(const py::object& bundle, const std::string& runtime) {
    path_ = py::str(py::module_::import("os").attr("fspath")(bundle));
    py::gil_scoped_release release;
    bundle_ = std::make_shared<const predict::Bundle>(predict::load_bundle(path_, runtime));
  }

  Prediction predict(const py::object& model, const py::object& input_shapes, double host_speed) const {
    const ModelSource source = model_source(model);
    const ImportOptions options = import_options(input_shapes);
    py::gil_scoped_release release;
    return one(source, options, host_speed);
  }

  // The host's speed now against the profile's (predict::read_host, as `predict --read-host`
  // reads it): the profile's reference kernel timed on the bundle's runtime.
  py::dict read_host() const {
    predict::HostReading r;
    {
      py::gil_scoped_release release;
      auto engine = runtime::make_runtime(bundle_->runtime);
      r = predict::read_host(*bundle_, *engine);
    }
    py::dict d;
    d["reference_ms"] = r.reference_ms;
    d["profile_median_ms"] = r.profile_median_ms;
    d["speed"] = r.speed;
    return d;
  }

  // Every model on `threads` workers (0 = the machine's cores). Predicting only reads
  // the bundle: XGBoost's in-place prediction is thread-safe (c_api.h), and the rest
  // of predict() touches no shared state. The first failure (by position) is raised
  // after all workers stop.
  std::vector<Prediction> predict_many(const py::iterable& models, const py::object& input_shapes, int threads,
                                       double host_speed) const {
    std::vector<ModelSource> sources;
    for (const py::handle& m : models) sources.push_back(model_source(m));
    const ImportOptions options = import_options(input_shapes);
    const std::size_t n = sources.size();
    std::vector<Prediction> out(n);
    std::vector<std::exception_ptr> errors(n);
    if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const std::size_t workers = std::min<std::size_t>(static_cast<std::size_t>(threads), std::max<std::size_t>(n, 1));
    std::atomic<std::size_t> next{0};
    std::atomic<bool> stop{false};
    std::mutex mutex;
    std::condition_variable cv;
    std::size_t finished = 0;
    std::vector<std::thread> pool;
    for (std::size_t w = 0; w < workers; ++w) {
      pool.emplace_back([&] {
        for (std::size_t i; !stop && (i = next++) < n;) {
          try {
            out[i] = one(sources[i], options, host_speed);
          } catch (...) {
            errors[i] = std::current_exception();
          }
        }
        std::lock_guard lock(mutex);
        ++finished;
        cv.notify_all();
      });
    }
    try {
      wait_interruptibly(
          mutex, cv, [&] { return finished == workers; }, [&] { stop = true; });
    } catch (...) {
      for (auto& t : pool) t.join();
      throw;
    }
    for (auto& t : pool) t.join();
    for (const auto& e : errors) {
      if (e) std::rethrow_exception(e);
    }
    return out;
  }

  const predict::Bundle& bundle() const { return *bundle_; }
  const std::string& path() const { return path_; }

 private:
  // host_speed scales every time (predict::scale_to_host); 1 leaves the prediction as the bundle gives it.
  Prediction one(const ModelSource& source, const ImportOptions& options, double host_speed) const {
    const ir::Graph graph = load(source, options);
    predict::Prediction p = predict::predict(*bundle_, graph);
    if (host_speed != 1.0) predict::scale_to_host(p, host_speed);
    return {predict::prediction_record(*bundle_, graph, p), source.path.empty() ? source.name : source.path, path_};
  }

  std::string path_;
  std::shared_ptr<const predict::Bundle> bundle_;
};

// While alive, the library's timing loops raise KeyboardInterrupt (via
// error_already_set) between runs when Ctrl-C is pending. The GIL must be released.
class InterruptibleMeasurement {
 public:
  InterruptibleMeasurement() {
    measure::set_interrupt_check([] {
      py::gil_scoped_acquire acquire;
      if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    });
  }
  ~InterruptibleMeasurement() { measure::set_interrupt_check({}); }
};

Measurement run(const py::object& model, const std::string& runtime_name, int threads, bool per_layer,
                const py::object& input_shapes, int warmup, int repeat, double min_time_s, std::uint64_t seed) {
  const ModelSource source = model_source(model);
  const ImportOptions options = import_options(input_shapes);
  measure::Protocol protocol;
  protocol.warmup = warmup;
  protocol.min_repeats = repeat;
  protocol.min_time_s = min_time_s;
  if (protocol.max_repeats < protocol.min_repeats) protocol.max_repeats = protocol.min_repeats;
  py::gil_scoped_release release;
  measure::validate(protocol);
  InterruptibleMeasurement interruptible;
  const ir::Graph graph = load(source, options);
  const auto engine = runtime::make_runtime(runtime_name);
  engine->prepare(graph, {threads});
  const runtime::RunResult result = engine->run({protocol, per_layer, seed});
  return {report::run_report(
              result, {source.path.empty() ? source.name : source.path, protocol, seed, measure::machine_context()})
              .json};
}

Verification verify(const py::object& model, const std::string& runtime_name, const std::string& reference,
                    const py::object& reference_model, const py::object& tolerance, const py::object& rtol,
                    const py::object& atol, int threads, std::uint64_t seed, const py::object& input_shapes) {
  const ModelSource source = model_source(model);
  std::optional<ModelSource> reference_source;
  if (!reference_model.is_none()) reference_source = model_source(reference_model);
  const ImportOptions options = import_options(input_shapes);
  auto non_negative = [](const py::object& v, const char* name, double fallback) {
    const double x = v.is_none() ? fallback : v.cast<double>();
    if (!(x >= 0)) throw Error(ErrorKind::kInvalidArgument, "", name, "must be a number >= 0");
    return x;
  };
  const bool allclose = !rtol.is_none() || !atol.is_none();
  if (allclose && !tolerance.is_none())
    throw Error(ErrorKind::kInvalidArgument, "", "tolerance", "excludes rtol/atol (two different rules)");
  const runtime::Tolerance rule =
      allclose
          ? runtime::Tolerance(non_negative(rtol, "rtol", runtime::Tolerance::kDefaultRtol),
                               non_negative(atol, "atol", runtime::Tolerance::kDefaultAtol))
          : runtime::Tolerance::scaled_by(non_negative(tolerance, "tolerance", runtime::Tolerance::kDefaultScaled));
  py::gil_scoped_release release;
  const ir::Graph graph = load(source, options);
  const ir::Graph reference_graph = reference_source ? load(*reference_source, options) : ir::Graph();
  runtime::VerifyOptions o;
  o.runtime = runtime_name;
  o.reference = reference;
  o.model_path = source.path;
  o.reference_graph = reference_source ? &reference_graph : nullptr;
  o.tolerance = rule;
  o.threads = threads;
  o.seed = seed;
  const auto sets = runtime::verify_model(graph, o);
  const std::string name = source.path.empty() ? source.name : source.path;
  const std::string reference_name =
      !reference_source ? name : (reference_source->path.empty() ? reference_source->name : reference_source->path);
  return {report::verify_report({name, runtime_name, reference, reference_name, rule}, sets).json};
}

py::object export_model(const py::object& model, const std::string& to, const py::object& output, int opset, bool fp16,
                        const py::object& input_shapes) {
  exporter::Format format = exporter::Format::kOnnx;
  if (to == "tflite") {
    format = exporter::Format::kTflite;
  } else if (to != "onnx") {
    throw Error(ErrorKind::kInvalidArgument, "", "to", "'" + to + "' is neither onnx nor tflite");
  }
  const ModelSource source = model_source(model);
  const ImportOptions options = import_options(input_shapes);
  exporter::ExportOptions export_options;
  export_options.opset = opset;
  export_options.fp16_weights = fp16;
  if (!output.is_none()) {
    const std::string path = py::str(py::module_::import("os").attr("fspath")(output));
    py::gil_scoped_release release;
    const ir::Graph graph = load(source, options);
    exporter::save(graph, path, format, export_options);
    return py::none();
  }
  std::string bytes;
  {
    py::gil_scoped_release release;
    const ir::Graph graph = load(source, options);
    bytes = format == exporter::Format::kOnnx ? exporter::to_onnx(graph, export_options)
                                              : exporter::to_tflite(graph, export_options);
  }
  return py::bytes(bytes);
}

}  // namespace
}  // namespace infercast::python

PYBIND11_MODULE(infercast, m) {
  using namespace infercast::python;
  m.doc() =
      "infercast: what a neural network costs to run (params, memory, MACs, traffic, latency) from .onnx/.tflite "
      "models, as a Python module over the C++ library. See docs/python.md.";
  m.attr("__version__") = "0.1.0";

  // infercast.Error(ValueError): .kind, .file, .node, .reason; str() is the CLI's line.
  static py::exception<infercast::Error> error(m, "Error", PyExc_ValueError);
  error.doc() =
      "An expected failure (bad model file, unsupported op, bad argument, I/O). str() is the CLI's one-line "
      "message; .kind is one of invalid_argument, io, bad_model, unsupported, unknown_dim; .file the model "
      "(or '<bytes>'); .node the node, tensor or field (may be empty); .reason the reason alone.";
  for (const char* attr : {"kind", "file", "node", "reason"}) error.attr(attr) = py::str("");
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const infercast::Error& e) {
      py::object instance = py::reinterpret_borrow<py::object>(error)(py::str(e.what()));
      instance.attr("kind") = kind_name(e.kind());
      instance.attr("file") = e.file();
      instance.attr("node") = e.where();
      instance.attr("reason") = e.reason();
      PyErr_SetObject(error.ptr(), instance.ptr());
    }
  });

  py::class_<Analysis>(m, "Analysis", "What infercast.analyze() found: the CLI's `analyze --format json` document.")
      .def_property_readonly(
          "totals", [](const Analysis& a) { return a.get("totals"); },
          "dict: params, weight_bytes, macs, flops, activation_bytes, peak_activation_bytes, read_bytes, "
          "write_bytes, arithmetic_intensity, layers, ...")
      .def_property_readonly(
          "layers", [](const Analysis& a) { return a.get("layers"); },
          "list of dicts, one per node: index, name, op, output_shape, params, macs, flops, read_bytes, ...")
      .def_property_readonly(
          "ops", [](const Analysis& a) { return a.get("ops"); }, "dict: op name -> node count")
      .def_property_readonly(
          "warnings", [](const Analysis& a) { return a.get("warnings"); }, "list of str")
      .def("to_dict", &Analysis::to_dict, "The canonical JSON document (the CLI's keys) as a new dict.")
      .def(
          "to_pandas", [](const Analysis& a) { return dataframe(a.doc["layers"]); },
          "The per-layer rows as a pandas.DataFrame (needs pandas).")
      .def("__repr__", [](const Analysis& a) {
        const json& t = a.doc["totals"];
        return "<infercast.Analysis " + a.doc.value("model", std::string()) + ": " +
               std::to_string(t.value("params", 0LL)) + " params, " + std::to_string(t.value("macs", 0LL)) + " MACs, " +
               std::to_string(t.value("layers", 0LL)) + " layers>";
      });

  py::class_<Prediction>(m, "Prediction", "A predicted latency: the CLI's `predict --format json` document.")
      .def_property_readonly(
          "latency_ms", [](const Prediction& p) { return p.record.ms; },
          "Predicted end-to-end latency in milliseconds.")
      .def_property_readonly(
          "interval_ms", [](const Prediction& p) { return py::make_tuple(p.record.lo_ms, p.record.hi_ms); },
          "(lo, hi): the 90% band in milliseconds.")
      .def_property_readonly(
          "between_kernels_ms", [](const Prediction& p) { return p.record.between_kernels_ms; },
          "What the model pays per executed kernel beyond the kernels' own times, summed (in latency_ms, in no "
          "kernel's row).")
      .def_property_readonly(
          "run_overhead_ms", [](const Prediction& p) { return p.record.run_overhead_ms; },
          "The per-run cost (in latency_ms, in no kernel's row).")
      .def_property_readonly(
          "kernels", [](const Prediction& p) { return to_python(p.doc()["kernels"], true); },
          "list of dicts, one per fused kernel: name, type, family, nodes, latency_ms, interval_ms, source, "
          "outside_sampled_range, flops, bytes, cold_excess_ms")
      .def(
          "to_dict", [](const Prediction& p) { return to_python(p.doc(), true); },
          "The canonical JSON document as a new dict.")
      .def(
          "to_pandas", [](const Prediction& p) { return dataframe(p.doc()["kernels"], true); },
          "The per-kernel rows as a pandas.DataFrame (needs pandas).")
      .def("__repr__", [](const Prediction& p) {
        return "<infercast.Prediction " + std::to_string(p.record.ms) + " ms on " + p.record.runtime + ">";
      });

  py::class_<Measurement>(m, "Measurement", "A measured latency: the CLI's `run --format json` document.")
      .def_property_readonly(
          "latency_ms", [](const Measurement& r) { return r.doc["latency_ms"]["median"].get<double>(); },
          "Median end-to-end latency in milliseconds.")
      .def_property_readonly(
          "stats", [](const Measurement& r) { return r.get("latency_ms"); },
          "dict: median, mean, min, max, std, cv, n (milliseconds)")
      .def_property_readonly(
          "layers", [](const Measurement& r) { return r.get("layers"); },
          "list of per-layer timing dicts (empty unless per_layer=True)")
      .def("to_dict", &Measurement::to_dict, "The canonical JSON document as a new dict.")
      .def("to_pandas", [](const Measurement& r) { return dataframe(r.doc["layers"]); })
      .def("__repr__", [](const Measurement& r) {
        return "<infercast.Measurement " + std::to_string(r.doc["latency_ms"]["median"].get<double>()) +
               " ms median on " + r.doc.value("runtime", std::string()) + ">";
      });

  m.def("analyze", &analyze, py::arg("model"), py::arg("input_shapes") = py::none(),
        "Params, weight bytes, MACs, FLOPs, memory traffic and peak activation memory of a model.\n\n"
        "model: a path, bytes of an .onnx/.tflite file (detected by content), or an onnx.ModelProto.\n"
        "input_shapes: {name: [1, 3, 224, 224]} or ['name=1x3x224x224'] to fix symbolic input shapes.\n"
        "Raises infercast.Error for a bad model, TypeError for a wrong argument type.");

  py::class_<Predictor>(m, "Predictor",
                        "A latency predictor bundle (from `infercast profile` or `train`), loaded once.")
      .def(py::init<const py::object&, const std::string&>(), py::arg("bundle"), py::arg("runtime") = "",
           "Loads a bundle file. runtime: when given, a bundle for another runtime raises infercast.Error.")
      .def("predict", &Predictor::predict, py::arg("model"), py::arg("input_shapes") = py::none(),
           py::arg("host_speed") = 1.0,
           "Predicted latency of one model (path, bytes or onnx.ModelProto). host_speed: every time times it "
           "(read_host()['speed'] for the host as it runs now).")
      .def("predict_many", &Predictor::predict_many, py::arg("models"), py::arg("input_shapes") = py::none(),
           py::arg("threads") = 0, py::arg("host_speed") = 1.0,
           "Predictions for many models on `threads` native threads (0 = all cores), without the GIL. "
           "Raises the first failure by position; Ctrl-C stops it.")
      .def("read_host", &Predictor::read_host,
           "Times the profile's reference kernel now on the bundle's runtime: {reference_ms, profile_median_ms, "
           "speed}, speed = reference_ms / profile_median_ms. Raises infercast.Error when the profile read no "
           "host speed.")
      .def_property_readonly("runtime", [](const Predictor& p) { return p.bundle().runtime; })
      .def_property_readonly("runtime_version", [](const Predictor& p) { return p.bundle().runtime_version; })
      .def_property_readonly("threads", [](const Predictor& p) { return p.bundle().threads; })
      .def_property_readonly("path", &Predictor::path)
      .def(
          "summary", [](const Predictor& p) { return to_python(infercast::predict::bundle_summary(p.bundle())); },
          "The bundle's manifest (what `infercast train` prints).")
      .def("__repr__", [](const Predictor& p) {
        return "<infercast.Predictor " + p.path() + " (" + p.bundle().runtime + ", " +
               std::to_string(p.bundle().threads) + " threads)>";
      });

  m.def("run", &run, py::arg("model"), py::arg("runtime") = "xnnpack", py::arg("threads") = 1,
        py::arg("per_layer") = false, py::arg("input_shapes") = py::none(), py::arg("warmup") = 3,
        py::arg("repeat") = 10, py::arg("min_time_s") = 1.0, py::arg("seed") = 42,
        "Measures a model's latency on a runtime ('xnnpack' in process, 'ort' via the Node runner) under the "
        "timing protocol. Ctrl-C raises KeyboardInterrupt between runs.");
  py::class_<Verification>(m, "Verification", "A numeric check: the CLI's `verify --format json` document.")
      .def_property_readonly(
          "passed", [](const Verification& v) { return v.doc["pass"].get<bool>(); }, "True when every output matched.")
      .def_property_readonly(
          "outputs", [](const Verification& v) { return v.get("outputs"); },
          "list of dicts per output: set, name, shape, max_abs_error, max_rel_error, cosine, sqnr_db, pass, ...")
      .def("to_dict", &Verification::to_dict, "The canonical JSON document as a new dict.")
      .def("__repr__", [](const Verification& v) {
        return std::string("<infercast.Verification ") + (v.doc["pass"].get<bool>() ? "passed" : "FAILED") + ">";
      });
  m.def("verify", &verify, py::arg("model"), py::arg("runtime") = "xnnpack", py::arg("reference") = "ort",
        py::arg("reference_model") = py::none(), py::arg("tolerance") = py::none(), py::arg("rtol") = py::none(),
        py::arg("atol") = py::none(), py::arg("threads") = 1, py::arg("seed") = 42,
        py::arg("input_shapes") = py::none(),
        "Checks that `runtime` computes what `reference` does (another runtime on random inputs, or 'testdata': "
        "the ONNX test data sets beside a model path). tolerance: allowed max|got - want| / max|want| per output "
        "(default 1e-3); rtol/atol switch to numpy.allclose per element.");
  m.def("export", &export_model, py::arg("model"), py::arg("to") = "onnx", py::arg("output") = py::none(),
        py::arg("opset") = 13, py::arg("fp16") = false, py::arg("input_shapes") = py::none(),
        "Converts a model to ONNX or TFLite through infercast's IR. Writes `output` when given (returns None), "
        "otherwise returns the file's bytes.");
}
