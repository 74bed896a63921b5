#include <fmt/format.h>

#include "infercast/report/report.hpp"

namespace infercast::report {
namespace {

using nlohmann::json;

json shape_json(const ir::Shape& shape) {
  if (!shape.rank_known) return nullptr;
  json dims = json::array();
  for (const ir::Dim& d : shape.dims) {
    if (d.known()) {
      dims.push_back(d.value);
    } else if (!d.symbol.empty()) {
      dims.push_back(d.symbol);
    } else {
      dims.push_back(nullptr);
    }
  }
  return dims;
}

json tensor_json(const ir::Tensor& t) {
  return {{"name", t.name}, {"dtype", std::string(ir::dtype_name(t.dtype))}, {"shape", shape_json(t.shape)}};
}

json attr_json(const ir::AttrValue& v) {
  return std::visit([](const auto& x) { return json(x); }, v);
}

std::string shape_text(const ir::Tensor& t) {
  return std::string(ir::dtype_name(t.dtype)) + "[" + t.shape.str() + "]";
}

}  // namespace

Report analysis_report(const ir::Graph& graph, const cost::ModelCost& cost) {
  Report report;
  json& doc = report.json;
  doc["model"] = graph.meta.source_path;
  doc["format"] = graph.meta.format;
  doc["producer"] = graph.meta.producer;
  doc["opset"] = graph.meta.opset;
  doc["layout"] = std::string(ir::layout_name(graph.meta.layout));
  const double moved = static_cast<double>(cost.read_bytes + cost.write_bytes);
  doc["totals"] = {
      {"params", cost.params},
      {"weight_bytes", cost.weight_bytes},
      {"weight_bytes_by_dtype", cost.weight_bytes_by_dtype},
      {"macs", cost.macs},
      {"macs_by_dtype", cost.macs_by_dtype},
      {"flops", cost.flops},
      {"activation_bytes", cost.memory.naive_bytes},
      {"peak_activation_bytes", cost.memory.arena_bytes},
      {"peak_activation_lower_bound_bytes", cost.memory.lower_bound_bytes},
      {"persistent_activation_bytes", cost.memory.persistent_bytes},
      {"read_bytes", cost.read_bytes},
      {"write_bytes", cost.write_bytes},
      {"arithmetic_intensity", moved > 0 ? static_cast<double>(cost.flops) / moved : 0.0},
      {"layers", graph.nodes.size()},
      {"sparse_tensors", cost.sparse_tensors},
  };
  doc["ops"] = cost.op_counts;
  doc["unknown_ops"] = cost.unknown_ops;
  doc["inputs"] = json::array();
  for (int id : graph.inputs) doc["inputs"].push_back(tensor_json(graph.tensors[id]));
  doc["outputs"] = json::array();
  for (int id : graph.outputs) doc["outputs"].push_back(tensor_json(graph.tensors[id]));
  doc["other_subgraphs"] = graph.meta.other_subgraphs;
  std::vector<std::string> warnings = graph.meta.warnings;
  warnings.insert(warnings.end(), cost.warnings.begin(), cost.warnings.end());
  doc["warnings"] = warnings;

  json layers = json::array();
  Table layer_table{"Layers",
                    {{"index", "#", Unit::kNone},
                     {"name", "name", Unit::kNone},
                     {"op", "op", Unit::kNone},
                     {"output_shape", "output", Unit::kNone},
                     {"params", "params", Unit::kCount},
                     {"macs", "MACs", Unit::kCount},
                     {"flops", "FLOPs", Unit::kCount},
                     {"read_bytes", "read", Unit::kBytes},
                     {"write_bytes", "written", Unit::kBytes},
                     {"arithmetic_intensity", "FLOP/B", Unit::kRatio}},
                    {},
                    true};
  for (const cost::LayerCost& layer : cost.layers) {
    const ir::Node& node = graph.nodes[static_cast<std::size_t>(layer.node)];
    json inputs = json::array();
    for (int id : node.inputs) inputs.push_back(id >= 0 ? json(graph.tensors[id].name) : json(nullptr));
    json outputs = json::array();
    for (int id : node.outputs) outputs.push_back(id >= 0 ? json(graph.tensors[id].name) : json(nullptr));
    json attributes = json::object();
    for (const auto& [name, value] : node.attrs.all()) attributes[name] = attr_json(value);
    std::string out_shape;
    for (int id : node.outputs) {
      if (id >= 0) out_shape += (out_shape.empty() ? "" : " ") + shape_text(graph.tensors[id]);
    }
    json row = {{"index", layer.node},
                {"name", node.name},
                {"op", node.op == ir::Op::Other ? "Other(" + node.source_op + ")" : std::string(ir::op_name(node.op))},
                {"source_op", node.source_op},
                {"inputs", inputs},
                {"outputs", outputs},
                {"output_shape", out_shape},
                {"params", layer.params},
                {"weight_bytes", layer.weight_bytes},
                {"macs", layer.macs},
                {"flops", layer.flops},
                {"read_bytes", layer.read_bytes},
                {"write_bytes", layer.write_bytes},
                {"arithmetic_intensity", layer.intensity()},
                {"complete", layer.complete},
                {"attributes", attributes}};
    layer_table.rows.push_back(row);
    layers.push_back(std::move(row));
  }
  doc["layers"] = std::move(layers);

  Table model{"Model", {{"field", "field", Unit::kNone}, {"value", "value", Unit::kNone}}, {}, false};
  model.rows.push_back({{"field", "model"}, {"value", graph.meta.source_path}});
  model.rows.push_back({{"field", "format"},
                        {"value", fmt::format("{} (opset/version {}, {})", graph.meta.format, graph.meta.opset,
                                              ir::layout_name(graph.meta.layout))}});
  if (!graph.meta.producer.empty()) model.rows.push_back({{"field", "producer"}, {"value", graph.meta.producer}});
  for (int id : graph.inputs) {
    model.rows.push_back({{"field", "input"}, {"value", graph.tensors[id].name + " " + shape_text(graph.tensors[id])}});
  }
  for (int id : graph.outputs) {
    model.rows.push_back(
        {{"field", "output"}, {"value", graph.tensors[id].name + " " + shape_text(graph.tensors[id])}});
  }
  report.tables.push_back(std::move(model));

  Table totals{
      "Totals",
      {{"quantity", "quantity", Unit::kNone}, {"value", "value", Unit::kNone}, {"exact", "exact", Unit::kCount}},
      {},
      false};
  auto add_count = [&](const char* what, std::uint64_t v) {
    totals.rows.push_back(
        {{"quantity", what}, {"value", human_count(static_cast<double>(v))}, {"exact", json(v).dump()}});
  };
  auto add_bytes = [&](const char* what, std::uint64_t v) {
    totals.rows.push_back(
        {{"quantity", what}, {"value", human_bytes(static_cast<double>(v))}, {"exact", json(v).dump()}});
  };
  add_count("layers", graph.nodes.size());
  add_count("params", cost.params);
  add_bytes("weight bytes", cost.weight_bytes);
  for (const auto& [dtype, bytes] : cost.weight_bytes_by_dtype) {
    totals.rows.push_back({{"quantity", "  " + dtype},
                           {"value", human_bytes(static_cast<double>(bytes))},
                           {"exact", json(bytes).dump()}});
  }
  add_count("MACs", cost.macs);
  if (cost.macs_by_dtype.size() > 1 || (cost.macs_by_dtype.size() == 1 && !cost.macs_by_dtype.count("float32"))) {
    for (const auto& [dtype, macs] : cost.macs_by_dtype) {
      totals.rows.push_back({{"quantity", "  " + dtype},
                             {"value", human_count(static_cast<double>(macs))},
                             {"exact", json(macs).dump()}});
    }
  }
  add_count("FLOPs", cost.flops);
  add_bytes("activations (sum)", cost.memory.naive_bytes);
  add_bytes("peak activations (arena)", cost.memory.arena_bytes);
  add_bytes("peak lower bound", cost.memory.lower_bound_bytes);
  if (cost.memory.persistent_bytes) add_bytes("persistent (from constants)", cost.memory.persistent_bytes);
  add_bytes("bytes read", cost.read_bytes);
  add_bytes("bytes written", cost.write_bytes);
  totals.rows.push_back({{"quantity", "FLOPs per byte"},
                         {"value", fmt::format("{:.2f}", moved > 0 ? static_cast<double>(cost.flops) / moved : 0.0)},
                         {"exact", ""}});
  if (cost.sparse_tensors) add_count("sparse weight tensors", cost.sparse_tensors);
  report.tables.push_back(std::move(totals));

  Table ops{"Op census", {{"op", "op", Unit::kNone}, {"count", "count", Unit::kCount}}, {}, false};
  for (const auto& [op, count] : cost.op_counts) ops.rows.push_back({{"op", op}, {"count", count}});
  report.tables.push_back(std::move(ops));
  report.tables.push_back(std::move(layer_table));
  return report;
}

}  // namespace infercast::report
