// Post-training int8 quantization, as TensorFlow Lite's converter does it.
//
// - Dynamic range: CONV_2D / DEPTHWISE_CONV_2D weights become int8 with one symmetric
//   scale per output channel, FULLY_CONNECTED weights int8 with one scale; activations
//   stay float (the runtime dequantizes the weights, or runs hybrid kernels).
// - Full integer: also activations int8, one asymmetric scale/zero point per tensor,
//   calibrated by running the float model (XNNPACK, in-process) on a representative
//   set and taking each tensor's min/max (or a percentile of its values). Biases become
//   int32 with scale = input scale × weight scale. The model's interface stays float:
//   QUANTIZE after the inputs, DEQUANTIZE before the outputs; an op without an int8
//   form in this quantizer stays float between a DEQUANTIZE and a QUANTIZE, and is
//   listed in QuantizedModel::float_ops.
//
// The quantizer works on the TFLite form of a model (NHWC, BatchNorm and Relu folded,
// as `infercast export --to tflite` writes it), so ONNX and TFLite models go through the
// same path. The result is a TFLite flatbuffer with quantization parameters on every
// int8 tensor; the ONNX writer turns that graph into QDQ ONNX (QuantizeLinear /
// DequantizeLinear around each quantized op, the same parameters) for ONNX Runtime.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "infercast/ir/graph.hpp"

namespace infercast::transform {

enum class QuantizeMode { kDynamic, kFull };

struct QuantizeOptions {
  QuantizeMode mode = QuantizeMode::kFull;
  // Representative inputs: "random:N" (N fixed-seed random samples, runtime::random_inputs
  // with seeds seed..seed+N-1) or a folder of .npy files: one file per sample for a
  // single-input model, or files named <input>_<k>.npy / <k>/<input>.npy otherwise.
  std::string calibration = "random:8";
  // 100: min/max of each activation over the set. Below 100: the P-th and (100-P)-th
  // percentiles of its values (outliers clipped). Range (50, 100].
  double percentile = 100.0;
  std::uint64_t seed = 42;
  int threads = 1;  // for the calibration runs
};

// One float sample per graph input, in graph input order, logical layout.
using Sample = std::vector<std::vector<float>>;

struct QuantizedModel {
  std::shared_ptr<const std::string> tflite;  // the int8 TFLite file's bytes
  ir::Graph graph;                            // `tflite` imported (views the bytes)
  std::vector<std::string> float_ops;         // "node 'name' (OP): reason" for ops left float
  std::size_t quantized_ops = 0;
  std::size_t calibration_samples = 0;
};

// Quantizes `model` (ONNX or TFLite, static shapes). Throws Error(kInvalidArgument) for
// bad options, Error(kBadModel/kUnsupported) naming the file/node when the model cannot
// be converted to TFLite or run for calibration, and Error(kInvalidArgument) naming the
// file for calibration data of the wrong shape or dtype or an empty calibration set.
QuantizedModel quantize(const ir::Graph& model, const QuantizeOptions& options);

// The model in the quantizer's TFLite form (float), imported; the bytes are retained.
ir::Graph float_tflite_form(const ir::Graph& model);

// The calibration samples `spec` names for the inputs of `graph` (see QuantizeOptions).
std::vector<Sample> load_calibration(const ir::Graph& graph, const std::string& spec, std::uint64_t seed);

// Quantization error of one output against the float model on the same inputs.
struct OutputError {
  std::string name;
  double sqnr_db = 0;      // 10·log10(Σ want² / Σ (got − want)²) over all samples
  double max_abs = 0;      // max |got − want|
  double top1 = -1;        // fraction of samples whose argmax agrees (class scores only; −1 otherwise)
  double within_step = 0;  // fraction of elements within one output quantization step (when known)
};

// Runs `reference` and `candidate` (same inputs and outputs) on `samples` random inputs
// (seeds seed+1000..) with XNNPACK and compares each output.
std::vector<OutputError> compare_models(const ir::Graph& reference, const ir::Graph& candidate, int samples,
                                        std::uint64_t seed, int threads);

// The same quantized model on another runtime, in another form (the QDQ ONNX the ONNX
// writer makes of QuantizedModel::graph, run by ONNX Runtime), against XNNPACK.
struct RuntimeAgreement {
  std::string name;        // output
  OutputError vs_float;    // the other runtime's output against the float model (XNNPACK)
  double within_step = 0;  // fraction of elements within one quantization step of XNNPACK's int8 output
  double max_steps = 0;    // max |other − XNNPACK int8| in quantization steps
  double step = 0;         // the output's quantization step (scale); 0 when it is not dequantized from int8
  // The model's own sensitivity, the yardstick for within_step: XNNPACK's int8 output
  // against XNNPACK's int8 output for the same sample with one input element moved by
  // one input quantization step (towards zero; a different element per sample). Where
  // this is below a bar, two runtimes whose roundings differ in one element anywhere are
  // not expected to meet that bar either. −1 when no input is quantized.
  double one_step_within = -1;
  double one_step_max_steps = 0;
  // The other runtime against itself with its graph optimizations off
  // (PrepareOptions::optimize; ONNX Runtime: each QDQ group as DequantizeLinear → float op
  // → QuantizeLinear instead of its fused int8 kernel): two executions of the same file by
  // one runtime. −1 for a runtime without that switch.
  double unoptimized_within = -1;
  double unoptimized_max_steps = 0;
};

// Runs `reference` (the float TFLite form) and `int8` (the int8 TFLite) on XNNPACK and
// `other` (prepared on runtime `runtime`, e.g. "ort" with an imported QDQ ONNX file)
// on the same `samples` random inputs compare_models uses (inputs matched by position),
// and compares each output; runs `int8` once more per sample for the one-step figure, and
// with runtime "ort" `other` once more unoptimized. Throws Error when a runtime cannot prepare or run a model,
// and Error(kInvalidArgument) when the models' inputs or outputs differ.
std::vector<RuntimeAgreement> compare_runtimes(const ir::Graph& reference, const ir::Graph& int8,
                                               const ir::Graph& other, const std::string& runtime, int samples,
                                               std::uint64_t seed, int threads);

// Weight bytes by dtype ("float32" → bytes), as `analyze` counts them.
std::map<std::string, std::uint64_t> weight_bytes_by_dtype(const ir::Graph& graph);

}  // namespace infercast::transform
