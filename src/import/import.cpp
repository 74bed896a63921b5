#include "infercast/import/import.hpp"

#include <cstring>

#include "infercast/base/error.hpp"
#include "infercast/base/mapped_file.hpp"

namespace infercast::import {
namespace {

bool has_tflite_identifier(std::span<const std::byte> bytes) {
  return bytes.size() >= 8 && std::memcmp(bytes.data() + 4, "TFL3", 4) == 0;
}

}  // namespace

ir::Graph load_model(const std::filesystem::path& path, const ImportOptions& options) {
  const std::string name = path.string();
  std::string ext = path.extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  bool tflite = false;
  {
    // Peek at the identifier without keeping a second mapping around.
    base::MappedFile file(path);
    tflite = has_tflite_identifier(file.bytes());
  }
  if (!tflite && ext == ".tflite") {
    throw Error(ErrorKind::kBadModel, name, "", "not a TFLite model: no 'TFL3' identifier at byte 4");
  }
  ir::Graph graph = [&] {
    if (tflite || ext == ".onnx") return tflite ? load_tflite(path, options) : load_onnx(path, options);
    try {
      return load_onnx(path, options);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kBadModel) throw;
      throw Error(e.kind(), e.file(), e.where(),
                  "not a TFLite model (no 'TFL3' identifier); read as ONNX: " + e.reason());
    }
  }();
  if (tflite && ext == ".onnx") {
    graph.meta.warnings.push_back("file has extension .onnx but holds a TFLite model; read as TFLite");
  } else if (!tflite && ext == ".tflite") {
    graph.meta.warnings.push_back("file has extension .tflite but holds an ONNX model; read as ONNX");
  }
  return graph;
}

ir::Graph load_model_bytes(std::span<const std::byte> bytes, const std::string& name, const ImportOptions& options) {
  if (has_tflite_identifier(bytes)) return load_tflite_bytes(bytes, name, options);
  try {
    return load_onnx_bytes(bytes, name, options);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kBadModel) throw;
    throw Error(e.kind(), e.file(), e.where(),
                "not a TFLite model (no 'TFL3' identifier); read as ONNX: " + e.reason());
  }
}

std::vector<std::int64_t> parse_shape(const std::string& text) {
  std::vector<std::int64_t> dims;
  std::size_t pos = 0;
  if (text.empty()) throw Error(ErrorKind::kInvalidArgument, "", "shape ''", "is empty; expected e.g. 1x3x224x224");
  while (pos <= text.size()) {
    const std::size_t end = std::min(text.find_first_of("x,", pos), text.size());
    const std::string part = text.substr(pos, end - pos);
    std::size_t used = 0;
    long long value = -1;
    try {
      value = std::stoll(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (part.empty() || used != part.size() || value < 0 || value > (1LL << 40)) {
      throw Error(ErrorKind::kInvalidArgument, "", "shape '" + text + "'",
                  "dimension '" + part + "' is not an integer in [0, 2^40]; expected e.g. 1x3x224x224");
    }
    dims.push_back(value);
    pos = end + 1;
  }
  return dims;
}

void add_input_shape(ImportOptions& options, const std::string& spec) {
  const std::size_t eq = spec.rfind('=');
  if (eq == std::string::npos || eq == 0) {
    throw Error(ErrorKind::kInvalidArgument, "", "--input-shape '" + spec + "'",
                "expected NAME=DIMS, e.g. input=1x3x224x224");
  }
  options.input_shapes[spec.substr(0, eq)] = parse_shape(spec.substr(eq + 1));
}

}  // namespace infercast::import
