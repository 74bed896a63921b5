// Model files → ir::Graph. The format is detected from the file's content (TFLite's
// "TFL3" identifier, otherwise ONNX protobuf), not its extension.
//
// Contract for every loader: on success the graph is finalized (topological order,
// producers/consumers linked) and constant tensors are views into the memory-mapped
// file, which the graph keeps alive. On any malformed, hostile or unsupported input
// it throws infercast::Error naming the file, the node/tensor/field and the reason;
// it never reads a file outside the model's own folder because the model says so.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "infercast/ir/graph.hpp"

namespace infercast::import {

struct ImportOptions {
  // Overrides of graph input shapes ("--input-shape NAME=1x3x224x224"). Naming an
  // input the model does not have is an error.
  std::map<std::string, std::vector<std::int64_t>> input_shapes;
};

enum class Format { kOnnx, kTflite };

ir::Graph load_model(const std::filesystem::path& path, const ImportOptions& options = {});
ir::Graph load_onnx(const std::filesystem::path& path, const ImportOptions& options = {});
ir::Graph load_tflite(const std::filesystem::path& path, const ImportOptions& options = {});

// In-memory variants (fuzzers, tests). `name` is used in error messages. ONNX
// external data is refused: there is no folder to resolve it in. The graph may view
// `bytes`, which must outlive it.
ir::Graph load_onnx_bytes(std::span<const std::byte> bytes, const std::string& name, const ImportOptions& options = {});
ir::Graph load_tflite_bytes(std::span<const std::byte> bytes, const std::string& name,
                            const ImportOptions& options = {});
// Either format, detected by content as load_model does (TFLite's "TFL3" identifier,
// otherwise ONNX). The graph may view `bytes`; a caller whose buffer may go away first
// keeps it alive with graph.retain(...).
ir::Graph load_model_bytes(std::span<const std::byte> bytes, const std::string& name,
                           const ImportOptions& options = {});

// "1x3x224x224" → {1,3,224,224}; throws Error(kInvalidArgument) on anything else.
std::vector<std::int64_t> parse_shape(const std::string& text);
// "NAME=1x3x224x224" → options.input_shapes[NAME]; throws Error(kInvalidArgument).
void add_input_shape(ImportOptions& options, const std::string& spec);

}  // namespace infercast::import
