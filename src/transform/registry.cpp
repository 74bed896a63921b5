// The one pass table: `infercast transform --list` prints it, make_pass() reads it.
#include "infercast/base/error.hpp"
#include "transform/passes.hpp"

namespace infercast::transform {

const std::vector<PassInfo>& pass_table() {
  static const std::vector<PassInfo> table = {
      {"tile-matmul", "T",
       "Gemm and MatMul (batched, transA/transB, alpha/beta) as a subgraph of T x T MatMuls: Pad, Split, MatMul, "
       "Sum, Concat, Slice, Add",
       make_tile_matmul},
      {"fold-bn", "",
       "BatchNormalization into the preceding Conv / ConvTranspose / Gemm (computed in float64, rounded once)",
       make_fold_bn},
      {"fold-pad", "", "a zero constant spatial Pad into the following Conv's pads", make_fold_pad},
      {"cleanup", "", "Identity/Dropout removal, shape-arithmetic constant folding, dead nodes, unused initializers",
       make_cleanup},
      {"static-shapes", "", "requires every input dimension pinned (--input-shape) and folds what becomes constant",
       make_static_shapes},
      {"fp16", "",
       "float32 weights stored as float16, with Cast (ONNX) or DEQUANTIZE (TFLite) back to float32 in front",
       make_fp16},
      {"quantize", "dynamic|full",
       "post-training int8 (the `quantize` command's quantizer): the model's TFLite form with int8 weights, and with "
       "full also int8 activations calibrated on 8 fixed-seed random inputs",
       make_quantize},
  };
  return table;
}

std::unique_ptr<Pass> make_pass(const std::string& spec) {
  const auto eq = spec.find('=');
  const std::string name = spec.substr(0, eq);
  const bool has_argument = eq != std::string::npos;
  const std::string argument = has_argument ? spec.substr(eq + 1) : std::string();
  std::string known;
  for (const PassInfo& info : pass_table()) {
    known += (known.empty() ? "" : ", ") + std::string(info.name);
    if (info.name != name) continue;
    if (info.argument.empty() && has_argument) {
      throw Error(ErrorKind::kInvalidArgument, "", "--pass " + spec, "pass '" + name + "' takes no argument");
    }
    if (!info.argument.empty() && !has_argument) {
      throw Error(ErrorKind::kInvalidArgument, "", "--pass " + spec,
                  "pass '" + name + "' needs an argument: " + name + "=" + std::string(info.argument));
    }
    return info.make(argument, spec);
  }
  throw Error(ErrorKind::kInvalidArgument, "", "--pass " + spec,
              "unknown pass '" + name + "' (passes: " + known + "; see --list)");
}

std::vector<std::unique_ptr<Pass>> make_passes(const std::vector<std::string>& specs) {
  std::vector<std::unique_ptr<Pass>> passes;
  for (const std::string& spec : specs) passes.push_back(make_pass(spec));
  return passes;
}

}  // namespace infercast::transform
