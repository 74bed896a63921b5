// One Report per result: a canonical JSON document plus the tables that the text
// formats draw from it. Reporters format; they compute nothing.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "infercast/cost/cost.hpp"
#include "infercast/ir/graph.hpp"

namespace infercast::report {

enum class Unit { kNone, kCount, kBytes, kRatio };

struct Column {
  std::string key;    // field name in the JSON rows
  std::string title;  // header in table and CSV output
  Unit unit = Unit::kNone;
};

struct Table {
  std::string title;
  std::vector<Column> columns;
  std::vector<nlohmann::json> rows;  // objects keyed by Column::key
  bool detail = false;               // drawn by the table format only on request (--per-layer)
};

struct Report {
  nlohmann::json json;  // canonical
  std::vector<Table> tables;
};

enum class Format { kTable, kCsv, kJson, kHtml, kNetron };

// "table" | "csv" | "json" | "html" | "netron"; throws Error(kInvalidArgument) otherwise.
Format parse_format(const std::string& name);

struct RenderOptions {
  bool detail = false;  // include detail tables (per-layer) in table output
};

// table: every non-detail table (and detail ones on request) aligned for people,
// with counts and bytes in engineering units; csv: the last detail table (or the
// last table) with exact numbers, RFC 4180 quoting; json: the document, indented;
// html: one self-contained page drawing the document (render_html); netron: the
// document's layers as Netron's attachment (render_netron).
std::string render(const Report& report, Format format, const RenderOptions& options = {});

// One HTML file that draws the document offline: the page, its script and the chart
// and graph-layout libraries (chart.js, @dagrejs/dagre, embedded in the binary at build
// time) are inlined, and the document rides along as JSON. The page picks its view from
// the document: a model report (model_report.hpp) or a validation ("models" + "summary").
// Throws Error(kInvalidArgument) for any other document; Error(kUnsupported) when built
// without the libraries (scripts/install_report_js.sh was not run before configuring).
std::string render_html(const nlohmann::json& document);

// True when render_html can work (the libraries were embedded at build time).
bool html_available();

// Netron's attachment sidecar for the model a document describes (signature
// "netron:attachment"; per-node "metrics" and "metadata" items; docs/report.md): each
// layer's MACs, FLOPs, params, weight bytes, bytes moved, FLOPs per byte, and
// predicted / measured ms when present. ONNX nodes are addressed by name ("target"),
// TFLite operators by their index in the subgraph ("identifier"), as Netron names them.
// Throws Error(kInvalidArgument) unless the document is a model report (model_report.hpp).
nlohmann::json netron_attachment(const nlohmann::json& document);

// `infercast analyze`'s report for a graph and its costs.
Report analysis_report(const ir::Graph& graph, const cost::ModelCost& cost);

// 1234567 → "1.23 M"; bytes: 1536 → "1.50 KiB".
std::string human_count(double value);
std::string human_bytes(double value);

}  // namespace infercast::report
