// Numeric verification: compare a runtime's outputs with a reference (another
// runtime, or the reference tensors beside an ONNX test model).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "infercast/runtime/runtime.hpp"

namespace infercast::runtime {

// How an output is judged.
//
// The default rule judges each output against its own scale: it passes when
//   max |got - want| <= scaled · max |want|
// over the output's elements (max |want| over finite values). Two float32 runtimes
// that sum in different orders differ by a small fraction of the output's magnitude
// everywhere, including at elements that happen to be near zero, where an element-wise
// relative rule calls a correct result wrong (resnet50 logits: max error 1.6e-6 of the
// scale; MediaPipe box regressors: up to 2e-4). A wrong model (a transposed weight, a
// missing bias, a shifted padding) moves whole regions of an output by 1e-2 of its
// scale or more. The default 1e-3 sits between the two.
//
// Tolerance(rtol, atol) selects numpy.allclose's element-wise rule instead:
//   |got - want| <= atol + rtol · |want|   for every element.
// Integer and bool outputs are compared exactly under either rule.
struct Tolerance {
  enum class Rule { kScaled, kAllclose };
  static constexpr double kDefaultScaled = 1e-3;
  // The allclose values used for whichever of --rtol/--atol is not given.
  static constexpr double kDefaultRtol = 1e-4;
  static constexpr double kDefaultAtol = 1e-5;

  Rule rule = Rule::kScaled;
  double scaled = kDefaultScaled;  // kScaled: allowed max |got - want| / max |want|
  double rtol = kDefaultRtol;      // kAllclose
  double atol = kDefaultAtol;      // kAllclose

  Tolerance() = default;
  // numpy.allclose(rtol, atol), element by element.
  Tolerance(double rtol_, double atol_) : rule(Rule::kAllclose), rtol(rtol_), atol(atol_) {}
  static Tolerance scaled_by(double fraction) {
    Tolerance t;
    t.scaled = fraction;
    return t;
  }
};

struct OutputComparison {
  std::string name;
  std::vector<std::int64_t> dims;
  double max_abs_error = 0;
  // max |got - want| / max |want|: relative to the output's scale, so outputs that
  // are near zero in places (logits of untrained heads) do not make it meaningless.
  // Infinite when the reference is all zeros and got is not.
  double max_rel_error = 0;
  // sum(got·want) / sqrt(sum(got²) · sum(want²)); 1 when both are all zeros, 0 when
  // only one is. Over finite element pairs.
  double cosine = 1;
  // Signal-to-quantization-noise ratio in dB: 10·log10(sum(want²) / sum((got - want)²)).
  // Over finite element pairs: +infinity when they are all equal (no noise), -infinity
  // when the reference is all zeros and got is not.
  double sqnr_db = 0;
  bool identical = false;        // every element equal (NaN matching NaN)
  std::uint64_t mismatches = 0;  // elements outside the tolerance's rule
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
// One serialized onnx.TensorProto file as a HostTensor named `name`. Throws
// Error(kBadModel) naming the file when it cannot be read or decoded.
HostTensor read_tensor_proto(const std::filesystem::path& path, const std::string& name);

std::vector<TestDataSet> read_onnx_test_data(const std::filesystem::path& model, const ir::Graph& graph);

// One set of inputs and the comparison of every output on it.
struct VerifiedSet {
  std::string set;  // "test_data_set_0", or "random (seed 42)"
  std::vector<OutputComparison> outputs;
};

struct VerifyOptions {
  std::string runtime;               // the runtime under test
  std::string reference;             // a runtime name, or "testdata" (the sets beside `model_path`)
  std::filesystem::path model_path;  // where test data sets are looked for
  // The model the reference runs (an exported copy); nullptr = the graph under test.
  // Its inputs are matched by position, since an exported model may rename them.
  const ir::Graph* reference_graph = nullptr;
  Tolerance tolerance;
  int threads = 0;
  std::uint64_t seed = 42;  // of the random inputs fed to both
};

// Runs `graph` on options.runtime and compares its outputs with the reference's: the
// ONNX test data sets, or one set of random inputs run on both runtimes. Throws Error
// when a runtime cannot prepare or run a graph.
std::vector<VerifiedSet> verify_model(const ir::Graph& graph, const VerifyOptions& options);

}  // namespace infercast::runtime
