// tiled_alexnet: step 3 of the tiled-MatMul lab through the C++ API.
//
//   tiled_alexnet [MODEL] [--tile T] [--input-shape NAME=DIMS ...]
//
// Loads torchvision AlexNet (default .cache/models/torchvision/alexnet.onnx), analyzes
// it, replaces every Gemm/MatMul by T x T tile MatMuls with
// transform::apply(graph, passes), analyzes the result and prints how weight memory,
// activation memory and MACs changed, and per tiled layer the node count against the
// closed form and the tile MACs against the padded-tile MACs. Errors arrive as
// infercast::Error and exit with code 2, as the CLI does.
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

#include "infercast/base/error.hpp"
#include "infercast/cost/cost.hpp"
#include "infercast/import/import.hpp"
#include "infercast/report/report.hpp"
#include "infercast/transform/transform.hpp"

namespace {

namespace ic = infercast;

void line(const char* what, double before, double after, bool bytes) {
  const std::string b = bytes ? ic::report::human_bytes(before) : ic::report::human_count(before);
  const std::string a = bytes ? ic::report::human_bytes(after) : ic::report::human_count(after);
  std::printf("  %-28s %12s -> %12s  (x%.2f)\n", what, b.c_str(), a.c_str(), before > 0 ? after / before : 0.0);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string model = ".cache/models/torchvision/alexnet.onnx";
    std::string tile = "64";
    ic::import::ImportOptions options;
    for (int i = 1; i < argc; ++i) {
      const std::string_view arg = argv[i];
      if (arg == "--tile" && i + 1 < argc) {
        tile = argv[++i];
      } else if (arg == "--input-shape" && i + 1 < argc) {
        ic::import::add_input_shape(options, argv[++i]);
      } else if (!arg.starts_with("-")) {
        model = arg;
      } else {
        std::fprintf(stderr, "usage: tiled_alexnet [MODEL] [--tile T] [--input-shape NAME=DIMS ...]\n");
        return 2;
      }
    }
    ic::ir::Graph graph = ic::import::load_model(model, options);
    const ic::cost::ModelCost before = ic::cost::analyze(graph);

    // The lab's step 1, as one pass; make_pass throws Error for a bad spec ("tile-matmul=0").
    std::vector<std::unique_ptr<ic::transform::Pass>> passes;
    passes.push_back(ic::transform::make_pass("tile-matmul=" + tile));
    const std::vector<ic::transform::PassResult> results = ic::transform::apply(graph, passes);

    // Step 3: analyze the transformed graph.
    const ic::cost::ModelCost after = ic::cost::analyze(graph);
    std::printf("%s with tile-matmul=%s: %llu layers rewritten, %zu -> %zu nodes\n", model.c_str(), tile.c_str(),
                static_cast<unsigned long long>(results[0].rewrites), before.layers.size(), after.layers.size());
    line("weight memory", static_cast<double>(before.weight_bytes), static_cast<double>(after.weight_bytes), true);
    line("peak activation memory", static_cast<double>(before.memory.arena_bytes),
         static_cast<double>(after.memory.arena_bytes), true);
    line("persistent (from weights)", static_cast<double>(before.memory.persistent_bytes),
         static_cast<double>(after.memory.persistent_bytes), true);
    line("MACs", static_cast<double>(before.macs), static_cast<double>(after.macs), false);
    line("FLOPs", static_cast<double>(before.flops), static_cast<double>(after.flops), false);

    // Per tiled layer: the nodes under its name prefix and the MACs of its tile MatMuls.
    for (const auto& layer : results[0].details["layers"]) {
      const std::string prefix = layer["prefix"].get<std::string>();
      std::uint64_t nodes = 0, macs = 0;
      for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
        if (graph.nodes[i].name.rfind(prefix, 0) != 0) continue;
        ++nodes;
        if (graph.nodes[i].op == ic::ir::Op::MatMul) macs += after.layers[i].macs;
      }
      std::printf("  %s  %lldx%lldx%lld: %llu nodes (closed form %llu), tile MACs %llu (padded-tile MACs %llu)\n",
                  layer["node"].get<std::string>().c_str(), static_cast<long long>(layer["m"].get<std::int64_t>()),
                  static_cast<long long>(layer["k"].get<std::int64_t>()),
                  static_cast<long long>(layer["n"].get<std::int64_t>()), static_cast<unsigned long long>(nodes),
                  static_cast<unsigned long long>(layer["nodes_closed_form"].get<std::uint64_t>()),
                  static_cast<unsigned long long>(macs),
                  static_cast<unsigned long long>(layer["padded_tile_macs"].get<std::uint64_t>()));
    }
    return 0;
  } catch (const infercast::Error& e) {
    std::fprintf(stderr, "tiled_alexnet: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tiled_alexnet: error: %s\n", e.what());
    return 2;
  }
}
