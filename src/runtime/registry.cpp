#include <array>
#include <string_view>

#include "infercast/base/error.hpp"
#include "runtimes.hpp"

namespace infercast::runtime {
namespace {

struct Registration {
  std::string_view name;
  std::unique_ptr<Runtime> (*make)(const RuntimeOptions&);
};

// One line per runtime.
constexpr std::array kRuntimes = {
    Registration{"ort", make_ort_runtime},
    Registration{"xnnpack", make_xnnpack_runtime},
    Registration{"benchmark_model", make_benchmark_model_runtime},
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
