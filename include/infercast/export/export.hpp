// Writers: ir::Graph -> .onnx and .tflite. Kernel models for runtimes and devices,
// transformed graphs and format conversions all leave through here.
//
// ("export" is a C++ keyword, so this room's namespace is infercast::exporter.)
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "infercast/ir/graph.hpp"

namespace infercast::exporter {

enum class Format { kOnnx, kTflite };

struct ExportOptions {
  // ONNX: the default-domain opset written (>= 13).
  int opset = 13;
  // TFLite: store float32 weights as float16 with DEQUANTIZE ops in front (what the
  // TFLite converter's float16 quantization writes).
  bool fp16_weights = false;
  // The producer name recorded in the file.
  std::string producer = "infercast";
};

// Nodes the writer for `format` cannot express, one entry per node:
// "node 12 'conv3' (Foo): <reason>". Empty when the whole graph can be written.
std::vector<std::string> unsupported_nodes(const ir::Graph& graph, Format format);

// The serialized file. Throws Error(kUnsupported) listing every unsupported node
// (one line), Error(kUnknownDim) when a shape the format needs is not static, and
// Error(kInvalidArgument) for options out of range. Graphs in the other layout are
// converted (NHWC -> NCHW for ONNX, NCHW -> NHWC for TFLite) with transposes folded
// into weights where possible.
std::string to_onnx(const ir::Graph& graph, const ExportOptions& options = {});
std::string to_tflite(const ir::Graph& graph, const ExportOptions& options = {});

// to_onnx / to_tflite written to `path` (atomically: a temporary file beside it, then
// a rename). Throws Error(kIo) on write failure, plus what the above throw.
void save(const ir::Graph& graph, const std::filesystem::path& path, Format format, const ExportOptions& options = {});

// The format a path's extension names (".onnx", ".tflite"); throws Error(kInvalidArgument).
Format format_of(const std::filesystem::path& path);

}  // namespace infercast::exporter
