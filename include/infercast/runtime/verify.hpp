// Numeric verification: compare a runtime's outputs with a reference (another
// runtime, or the reference tensors beside an ONNX test model).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "infercast/runtime/runtime.hpp"

namespace infercast::runtime {

// numpy.allclose's rule per element: |got - want| <= atol + rtol * |want|.
struct Tolerance {
  double rtol = 1e-4;
  double atol = 1e-5;
};

struct OutputComparison {
  std::string name;
  std::vector<std::int64_t> dims;
  double max_abs_error = 0;
  // max |got - want| / max |want|: relative to the output's scale, so outputs that
  // are near zero in places (logits of untrained heads) do not make it meaningless.
  double max_rel_error = 0;
  std::uint64_t mismatches = 0;  // elements outside the tolerance
  bool pass = true;
  std::string note;  // why it failed when shapes or types differ
};

// Compares outputs position by position. Floating types by tolerance, integer and
// bool types exactly. Never throws for mismatching shapes or types: the comparison
// fails with a note.
std::vector<OutputComparison> compare_outputs(const std::vector<HostTensor>& got, const std::vector<HostTensor>& want,
                                              const Tolerance& tolerance);

struct TestDataSet {
  std::string name;  // "test_data_set_0"
  std::vector<HostTensor> inputs;
  std::vector<HostTensor> outputs;
};

// The test_data_set_*/input_N.pb and output_N.pb (serialized onnx.TensorProto) beside
// an ONNX test model, with input names taken from `graph`'s inputs in order.
// Throws Error(kBadModel) naming the file for an unreadable tensor, Error(kInvalidArgument)
// when there is no test data set.
std::vector<TestDataSet> read_onnx_test_data(const std::filesystem::path& model, const ir::Graph& graph);

}  // namespace infercast::runtime
