// infercast_consumer MODEL: prints a model's params and MACs as one JSON line,
// {"model": "...", "params": N, "macs": N}, using only the installed public API.
// Exit 2 with one line on stderr on any infercast::Error.
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "infercast/base/error.hpp"
#include "infercast/cost/cost.hpp"
#include "infercast/import/import.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: infercast_consumer MODEL\n";
    return 2;
  }
  try {
    const infercast::ir::Graph graph = infercast::import::load_model(argv[1]);
    const infercast::cost::ModelCost cost = infercast::cost::analyze(graph);
    // nlohmann_json is a public dependency of infercast::report, so the installed
    // package brings it along; using it here also checks that it does.
    const nlohmann::json line = {{"model", argv[1]}, {"params", cost.params}, {"macs", cost.macs}};
    std::cout << line.dump() << "\n";
    return 0;
  } catch (const infercast::Error& e) {
    std::cerr << "infercast_consumer: error: " << e.what() << "\n";
    return 2;
  }
}
