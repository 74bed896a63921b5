// Per synthetic network of a profile: its family, MACs, measured median, the kernels'
// sum (the bundle without its composition), the composed prediction, and the kernel
// time per composition group. Built and run by bench/composition.sh. The networks are the
// bundle's (its profile's, with the host factor `train` read for each: the measured median is
// divided by it, as calibrate_composition does), else the database's as stored.
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
      "name,family,resolution,macs,measured_ms,kernels_ms,composed_ms,conv_ms,dwconv_ms,gemm_ms,memory_ms,kernels,"
      "host_factor\n");
  const nlohmann::json networks = composed.profile.is_object() && composed.profile.contains("networks")
                                      ? composed.profile["networks"]
                                      : profile->extra.value("networks", nlohmann::json::array());
  for (const auto& n : networks) {
    if (!n.contains("median_ms")) continue;
    const double host_factor = n.value("host_factor", 1.0);
    const bench::SyntheticNetwork net =
        bench::synthetic_network(n.value("seed", std::uint64_t{0}), n.value("max_macs", 1.5e9));
    const predict::Prediction p = predict::predict(plain, net.graph);
    const predict::Prediction c = predict::predict(composed, net.graph);
    const double overhead = plain.run_overhead_ms + plain.run_ms_per_io_byte * predict::graph_io_bytes(net.graph);
    const predict::NetworkSample s =
        predict::network_sample(net.name, n["median_ms"].get<double>() / host_factor, p, overhead);
    auto group = [&](const char* g) { return s.group_ms.count(g) ? s.group_ms.at(g) : 0.0; };
    std::printf("%s,%s,%d,%.0f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%d,%.3f\n", net.name.c_str(),
                net.description["family"].get<std::string>().c_str(), net.description["resolution"].get<int>(),
                net.macs, s.measured_ms, p.ms, c.ms, group("conv"), group("dwconv"), group("gemm"), group("memory"),
                s.kernels, host_factor);
  }
  return 0;
}
