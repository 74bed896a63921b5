// Format dispatch and file writing shared by both writers.
#include "infercast/export/export.hpp"

#include <fstream>
#include <system_error>

#include "export/detail.hpp"
#include "infercast/base/error.hpp"

namespace infercast::exporter {

std::vector<std::string> unsupported_nodes(const ir::Graph& graph, Format format) {
  return format == Format::kOnnx ? detail::unsupported_onnx(graph) : detail::unsupported_tflite(graph);
}

Format format_of(const std::filesystem::path& path) {
  const std::string ext = path.extension().string();
  if (ext == ".onnx") return Format::kOnnx;
  if (ext == ".tflite") return Format::kTflite;
  throw Error(ErrorKind::kInvalidArgument, path.string(), "",
              "cannot tell the format from the extension '" + ext + "' (use .onnx or .tflite)");
}

void save(const ir::Graph& graph, const std::filesystem::path& path, Format format, const ExportOptions& options) {
  // Serialize first: a graph the writer refuses never touches the file system.
  const std::string bytes = format == Format::kOnnx ? to_onnx(graph, options) : to_tflite(graph, options);
  const std::string target = path.string();
  // A regular file (or a new one) is replaced atomically: write beside it, then rename,
  // so a reader never sees half a model. Anything else (/dev/null, a FIFO) is written
  // in place and never replaced.
  std::error_code status_error;
  const auto status = std::filesystem::status(path, status_error);
  if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) throw Error(ErrorKind::kIo, target, "", "cannot write the model");
    return;
  }
  const std::filesystem::path tmp = target + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      std::error_code ignored;
      std::filesystem::remove(tmp, ignored);
      throw Error(ErrorKind::kIo, target, "", "cannot write the model (temporary file " + tmp.string() + ")");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw Error(ErrorKind::kIo, target, "", "cannot write the model: " + ec.message());
  }
}

}  // namespace infercast::exporter
