// libFuzzer target: arbitrary bytes through the ONNX importer and cost analysis.
// The contract under test (include/infercast/import/import.hpp): malformed input
// throws infercast::Error and nothing else; no crash, leak, hang or sanitizer report.
#include <cstddef>
#include <cstdint>
#include <span>

#include "infercast/base/error.hpp"
#include "infercast/cost/cost.hpp"
#include "infercast/import/import.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const infercast::ir::Graph graph =
        infercast::import::load_onnx_bytes(std::as_bytes(std::span(data, size)), "fuzz.onnx");
    (void)infercast::cost::analyze(graph);
  } catch (const infercast::Error&) {
    // The expected way to reject a hostile model; any other exception escapes and
    // libFuzzer reports it as a crash.
  }
  return 0;
}
