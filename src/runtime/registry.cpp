#include <array>
#include <string_view>

#include "infercast/base/error.hpp"
#include "runtimes.hpp"

namespace infercast::runtime {
namespace {

#ifndef INFERCAST_HAVE_ARMNN
// Arm NN is optional at build time (CMakeLists.txt compiles src/runtime/armnn/ only
// when it finds the library); without it the name stays known and says why it fails.
std::unique_ptr<Runtime> make_armnn_runtime(const RuntimeOptions&) {
  throw Error(ErrorKind::kUnsupported, "", "runtime 'armnn'",
              "armnn: not built (Arm NN was not found when infercast was configured; install libarmnn-dev and "
              "libarmnntfliteparser-dev, then configure again)");
}
#endif

struct Registration {
  std::string_view name;
  std::unique_ptr<Runtime> (*make)(const RuntimeOptions&);
};

// One line per runtime.
constexpr std::array kRuntimes = {
    Registration{"ort", make_ort_runtime},
    Registration{"xnnpack", make_xnnpack_runtime},
    Registration{"benchmark_model", make_benchmark_model_runtime},
    Registration{"armnn", make_armnn_runtime},
};

}  // namespace

std::vector<std::string> runtime_names() {
  std::vector<std::string> names;
  for (const Registration& r : kRuntimes) names.emplace_back(r.name);
  return names;
}

std::unique_ptr<Runtime> make_runtime(const std::string& name, const RuntimeOptions& options) {
  for (const Registration& r : kRuntimes) {
    if (r.name == name) return r.make(options);
  }
  std::string known;
  for (const Registration& r : kRuntimes) known += (known.empty() ? "" : ", ") + std::string(r.name);
  throw Error(ErrorKind::kInvalidArgument, "", "--runtime '" + name + "'", "unknown runtime; known: " + known);
}

}  // namespace infercast::runtime
