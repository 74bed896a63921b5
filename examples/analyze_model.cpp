// analyze_model: the smallest complete use of infercast's C++ API.
//
//   analyze_model MODEL [--input-shape NAME=DIMS ...]
//
// Loads an .onnx or .tflite model, computes its static costs and prints one line
// per layer (name, op, MACs, params) followed by the model totals and the peak
// activation memory. Any expected failure (unreadable file, malformed model,
// symbolic input dimension, bad argument) arrives as an infercast::Error; it is
// printed as one line and the program exits with code 2, as the CLI does.
//
// Build: the top-level CMake builds this file as target `analyze_model`. Outside
// this repository, find_package(infercast) and link infercast::infercast
// (see examples/consumer/).

#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

#include "infercast/base/error.hpp"     // infercast::Error: the one error type
#include "infercast/cost/cost.hpp"      // cost::analyze, ModelCost, LayerCost
#include "infercast/import/import.hpp"  // import::load_model, ImportOptions
#include "infercast/ir/graph.hpp"       // ir::Graph, the format-independent model
#include "infercast/report/report.hpp"  // report::human_count / human_bytes

namespace {

constexpr int kExitOk = 0;
constexpr int kExitError = 2;  // same code as `infercast analyze` on an Error

int usage() {
  std::fprintf(stderr, "usage: analyze_model MODEL [--input-shape NAME=DIMS ...]\n");
  return kExitError;
}

// Parses the command line into the model path and the import options. Shape specs
// ("NAME=1x3x224x224") are handed to import::add_input_shape, which throws
// Error(kInvalidArgument) on a malformed one; that error takes the common exit path.
bool parse_args(int argc, char** argv, std::string& model, infercast::import::ImportOptions& options) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--input-shape") {
      if (i + 1 >= argc) return false;
      infercast::import::add_input_shape(options, argv[++i]);
    } else if (arg.starts_with("--input-shape=")) {
      infercast::import::add_input_shape(options, std::string(arg.substr(14)));
    } else if (model.empty() && !arg.starts_with("-")) {
      model = arg;
    } else {
      return false;  // unknown option or a second model path
    }
  }
  return !model.empty();
}

// Prints the per-layer rows and the totals. Everything printed is read from the
// ModelCost; the graph supplies names and op names.
void print_costs(const infercast::ir::Graph& graph, const infercast::cost::ModelCost& cost) {
  using infercast::report::human_bytes;
  using infercast::report::human_count;

  std::printf("%-40s %-22s %16s %14s\n", "layer", "op", "MACs", "params");
  for (const infercast::cost::LayerCost& layer : cost.layers) {
    // LayerCost::node indexes Graph::nodes. The op name is the one the file used
    // ("Conv", "CONV_2D"), which is what users recognise; the canonical op is
    // available as ir::op_name(node.op).
    const infercast::ir::Node& node = graph.nodes[layer.node];
    const std::string name = node.name.empty() ? "#" + std::to_string(layer.node) : node.name;
    // A layer is incomplete when a shape its cost needs is unknown: its MACs are
    // then a lower bound. Mark it rather than hide it.
    std::printf("%-40s %-22s %16llu %14llu%s\n", name.c_str(), node.source_op.c_str(),
                static_cast<unsigned long long>(layer.macs), static_cast<unsigned long long>(layer.params),
                layer.complete ? "" : "  (incomplete)");
  }

  // Totals count each stored weight once (shared weights are not double counted),
  // so params can be less than the sum of the column above.
  std::printf("\nlayers           %zu\n", cost.layers.size());
  std::printf("params           %llu (%s)\n", static_cast<unsigned long long>(cost.params),
              human_count(static_cast<double>(cost.params)).c_str());
  std::printf("weight bytes     %s\n", human_bytes(static_cast<double>(cost.weight_bytes)).c_str());
  std::printf("MACs             %llu (%s)\n", static_cast<unsigned long long>(cost.macs),
              human_count(static_cast<double>(cost.macs)).c_str());
  std::printf("FLOPs            %llu (%s)\n", static_cast<unsigned long long>(cost.flops),
              human_count(static_cast<double>(cost.flops)).c_str());
  // Peak activation memory: the size of a greedy-by-size arena holding every
  // activation (what a TFLite-like runtime would allocate), and the lower bound
  // no plan can beat (the most bytes simultaneously live).
  std::printf("peak activations %s (lower bound %s)\n",
              human_bytes(static_cast<double>(cost.memory.arena_bytes)).c_str(),
              human_bytes(static_cast<double>(cost.memory.lower_bound_bytes)).c_str());
  // Non-fatal findings: the importer's (graph.meta) and the analysis's.
  for (const std::string& warning : graph.meta.warnings) std::printf("warning: %s\n", warning.c_str());
  for (const std::string& warning : cost.warnings) std::printf("warning: %s\n", warning.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string model;
    infercast::import::ImportOptions options;
    if (!parse_args(argc, argv, model, options)) return usage();

    // 1. Load: the format is detected from the file's content. The graph keeps the
    //    file memory-mapped and its weights are views into it; nothing is copied.
    const infercast::ir::Graph graph = infercast::import::load_model(model, options);

    // 2. Analyze: per-layer and total params, MACs, FLOPs, traffic and the memory
    //    plan. Throws Error(kUnknownDim) when an input dimension is symbolic; fix it
    //    with --input-shape NAME=DIMS.
    const infercast::cost::ModelCost cost = infercast::cost::analyze(graph);

    // 3. Report: print what we need directly. For the CLI's tables or canonical
    //    JSON, use report::analysis_report(graph, cost) and report::render.
    print_costs(graph, cost);
    return kExitOk;
  } catch (const infercast::Error& e) {
    // Expected failures: what() already names the file, the place and the reason.
    std::fprintf(stderr, "analyze_model: error: %s\n", e.what());
    return kExitError;
  } catch (const std::exception& e) {
    // Anything else (e.g. std::bad_alloc) is still reported as one line.
    std::fprintf(stderr, "analyze_model: error: %s\n", e.what());
    return kExitError;
  }
}
