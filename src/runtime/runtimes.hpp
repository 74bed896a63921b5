// Factories of the registered runtimes (src/runtime/registry.cpp lists them).
#pragma once

#include <memory>

#include "infercast/runtime/runtime.hpp"

namespace infercast::runtime {

std::unique_ptr<Runtime> make_ort_runtime(const RuntimeOptions& options);              // process/ort_runtime.cpp
std::unique_ptr<Runtime> make_xnnpack_runtime(const RuntimeOptions& options);          // xnnpack/xnnpack_runtime.cpp
std::unique_ptr<Runtime> make_benchmark_model_runtime(const RuntimeOptions& options);  // process/command_runtime.cpp
// armnn/armnn_runtime.cpp when Arm NN was found at build time; else registry.cpp's "not built".
std::unique_ptr<Runtime> make_armnn_runtime(const RuntimeOptions& options);

}  // namespace infercast::runtime
