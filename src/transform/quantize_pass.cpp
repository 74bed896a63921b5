// `quantize=dynamic|full` as a transform pass: the one quantizer (quantize.hpp) behind
// the Pass interface, calibrated with fixed-seed random inputs (the `quantize` command
// takes a calibration folder and a percentile as well).
#include "infercast/base/error.hpp"
#include "infercast/transform/quantize.hpp"
#include "transform/passes.hpp"

namespace infercast::transform {
namespace {

class QuantizePass : public Pass {
 public:
  QuantizePass(QuantizeOptions options, std::string spec) : options_(std::move(options)), spec_(std::move(spec)) {}

  std::string name() const override { return spec_; }
  std::string summary() const override {
    return options_.mode == QuantizeMode::kFull ? "int8 weights and activations (calibrated on random inputs)"
                                                : "int8 weights, float activations";
  }

  // The result is the quantized TFLite form of the graph (NHWC, QUANTIZE/DEQUANTIZE at
  // a float interface); rewrites = ops now computed in int8.
  PassResult apply(ir::Graph& graph, const PassContext&) override {
    QuantizedModel q = quantize(graph, options_);
    PassResult result;
    result.rewrites = q.quantized_ops;
    for (const std::string& op : q.float_ops) result.notes.push_back("left float: " + op);
    graph = std::move(q.graph);
    return result;
  }

 private:
  QuantizeOptions options_;
  std::string spec_;
};

}  // namespace

std::unique_ptr<Pass> make_quantize(const std::string& argument, const std::string& spec) {
  QuantizeOptions options;
  if (argument == "full") {
    options.mode = QuantizeMode::kFull;
  } else if (argument == "dynamic") {
    options.mode = QuantizeMode::kDynamic;
  } else {
    throw Error(ErrorKind::kInvalidArgument, "", "--pass " + spec,
                "quantize takes 'dynamic' or 'full', not '" + argument + "'");
  }
  return std::make_unique<QuantizePass>(std::move(options), spec);
}

}  // namespace infercast::transform
