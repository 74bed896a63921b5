// Netron's attachment sidecar. Netron (source/metadata.js, metadata.Attachment) reads a
// .json whose "signature" is "netron:attachment" and whose "metadata" and "metrics"
// arrays hold items {kind, target | identifier, name, value, type}: kind is "model",
// "graph", "node", "value" or "tensor"; "target" matches an entity's name (up to its
// first newline; "" for the model), "identifier" its identifier (a TFLite operator's
// index, as Netron numbers them). Items it cannot match are ignored silently, so the
// names here must be exactly the ones Netron shows for the file.
#include "infercast/base/error.hpp"
#include "infercast/report/report.hpp"

namespace infercast::report {
namespace {

using nlohmann::json;

}  // namespace

json netron_attachment(const json& document) {
  if (document.value("kind", std::string()) != "model" || !document.contains("layers") ||
      !document["layers"].is_array()) {
    throw Error(ErrorKind::kInvalidArgument, "", "--format netron",
                "only a model's report (analyze, predict, report) has per-node costs to attach");
  }
  const bool by_index = document.value("format", std::string()) == "tflite";
  json metrics = json::array();
  json metadata = json::array();
  auto item = [&](const json& layer, const char* name, const json& value, const char* type) {
    json entry = {{"kind", "node"}, {"name", name}, {"value", value}};
    if (by_index) {
      entry["identifier"] = std::to_string(layer.at("index").get<int>());
    } else {
      entry["target"] = layer.at("name");
    }
    if (type != nullptr) entry["type"] = type;
    return entry;
  };
  const json* kernels = document.contains("kernels") ? &document["kernels"] : nullptr;
  for (const json& layer : document["layers"]) {
    const double moved = layer.value("read_bytes", 0.0) + layer.value("write_bytes", 0.0);
    metrics.push_back(item(layer, "macs", layer.value("macs", 0), "int64"));
    metrics.push_back(item(layer, "flops", layer.value("flops", 0), "int64"));
    metrics.push_back(item(layer, "params", layer.value("params", 0), "int64"));
    metrics.push_back(item(layer, "weight_bytes", layer.value("weight_bytes", 0), "int64"));
    metrics.push_back(item(layer, "bytes_moved", moved, "int64"));
    metrics.push_back(item(layer, "flops_per_byte", layer.value("arithmetic_intensity", 0.0), "float64"));
    if (layer.contains("predicted_ms") && !layer["predicted_ms"].is_null()) {
      metrics.push_back(item(layer, "predicted_ms", layer["predicted_ms"], "float64"));
    }
    if (layer.contains("measured_ms") && !layer["measured_ms"].is_null()) {
      metrics.push_back(item(layer, "measured_ms", layer["measured_ms"], "float64"));
    }
    metadata.push_back(item(layer, "infercast_op", layer.value("op", std::string()), "string"));
    if (kernels != nullptr && layer.contains("kernel") && layer["kernel"].is_number_integer()) {
      const auto k = layer["kernel"].get<std::size_t>();
      if (k < kernels->size()) {
        const json& kernel = (*kernels)[k];
        metadata.push_back(item(layer, "kernel",
                                kernel.value("name", std::string()) + " (" + kernel.value("type", std::string()) + ")",
                                "string"));
      }
    }
  }
  auto model_item = [](const char* name, const json& value, const char* type) {
    return json{{"kind", "model"}, {"target", ""}, {"name", name}, {"value", value}, {"type", type}};
  };
  if (document.contains("totals")) {
    const json& t = document["totals"];
    metrics.push_back(model_item("macs", t.value("macs", 0), "int64"));
    metrics.push_back(model_item("flops", t.value("flops", 0), "int64"));
    metrics.push_back(model_item("parameters", t.value("params", 0), "int64"));
    metrics.push_back(model_item("weight_bytes", t.value("weight_bytes", 0), "int64"));
    metrics.push_back(model_item("peak_activation_bytes", t.value("peak_activation_bytes", 0), "int64"));
  }
  if (document.contains("prediction") && document["prediction"].is_object()) {
    metrics.push_back(model_item("predicted_ms", document["prediction"].value("latency_ms", 0.0), "float64"));
  }
  if (document.contains("measurement") && document["measurement"].is_object()) {
    metrics.push_back(model_item("measured_ms", document["measurement"]["latency_ms"].value("median", 0.0), "float64"));
  }
  return {{"signature", "netron:attachment"}, {"metadata", metadata}, {"metrics", metrics}};
}

}  // namespace infercast::report
