// Per synthetic network of a profile: its family, MACs, measured median, the kernels'
// sum (the bundle without its composition), the composed prediction, and the kernel
// time per composition group. Built and run by bench/composition.sh.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "infercast/bench/synthetic.hpp"
#include "infercast/predict/predictor.hpp"
#include "infercast/store/store.hpp"

int main(int argc, char** argv) {
  using namespace infercast;
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s BUNDLE DB PROFILE\n", argv[0]);
    return 2;
  }
  predict::Bundle composed = predict::load_bundle(argv[1]);
  predict::Bundle plain = predict::load_bundle(argv[1]);
  plain.composition = predict::Composition{};
  const store::Database db = store::Database::open(argv[2]);
  const auto profile = db.find_profile(argv[3]);
  if (!profile) {
    std::fprintf(stderr, "no profile %s\n", argv[3]);
    return 2;
  }
  std::printf(
      "name,family,resolution,macs,measured_ms,kernels_ms,composed_ms,conv_ms,dwconv_ms,gemm_ms,memory_ms,kernels\n");
  for (const auto& n : profile->extra.value("networks", nlohmann::json::array())) {
    if (!n.contains("median_ms")) continue;
    const bench::SyntheticNetwork net =
        bench::synthetic_network(n.value("seed", std::uint64_t{0}), n.value("max_macs", 1.5e9));
    const predict::Prediction p = predict::predict(plain, net.graph);
    const predict::Prediction c = predict::predict(composed, net.graph);
    const double overhead = plain.run_overhead_ms + plain.run_ms_per_io_byte * predict::graph_io_bytes(net.graph);
    const predict::NetworkSample s = predict::network_sample(net.name, n["median_ms"], p, overhead);
    auto group = [&](const char* g) { return s.group_ms.count(g) ? s.group_ms.at(g) : 0.0; };
    std::printf("%s,%s,%d,%.0f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%d\n", net.name.c_str(),
                net.description["family"].get<std::string>().c_str(), net.description["resolution"].get<int>(),
                net.macs, s.measured_ms, p.ms, c.ms, group("conv"), group("dwconv"), group("gemm"), group("memory"),
                s.kernels);
  }
  return 0;
}
