// One float convolution timed through XNNPACK's operator API directly, with no
// infercast code in between: the floor the in-process runtime could reach with the
// XNNPACK build it links. bench/conv_kernels.sh runs it beside `infercast run` of the
// same convolution on XNNPACK and on ONNX Runtime.
//
// Usage: xnnpack_direct_conv N C H W K R S STRIDE PAD THREADS RUNS
//   NCHW input, K output channels, R x S kernel, symmetric padding, bias, no activation.
// Prints one JSON line: {"median_ms":..,"min_ms":..,"runs":..}.
#include <xnnpack.h>

#include <pthreadpool.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 12) {
    std::fprintf(stderr, "usage: %s N C H W K R S STRIDE PAD THREADS RUNS\n", argv[0]);
    return 2;
  }
  auto arg = [&](int i) { return static_cast<std::uint32_t>(std::strtoul(argv[i], nullptr, 10)); };
  const std::uint32_t n = arg(1), c = arg(2), h = arg(3), w = arg(4), k = arg(5), r = arg(6), s = arg(7);
  const std::uint32_t stride = arg(8), pad = arg(9), threads = arg(10), runs = std::max(1u, arg(11));
  if (xnn_initialize(nullptr) != xnn_status_success) {
    std::fprintf(stderr, "xnn_initialize failed\n");
    return 1;
  }
  pthreadpool_t pool = threads > 1 ? pthreadpool_create(threads) : nullptr;
  const std::uint32_t oh = (h + 2 * pad - r) / stride + 1, ow = (w + 2 * pad - s) / stride + 1;
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  auto filled = [&](std::size_t size) {
    std::vector<float> v(size + 16);  // XNNPACK may read past the end (XNN_EXTRA_BYTES)
    for (float& x : v) x = dist(rng);
    return v;
  };
  // XNNPACK's convolution is NHWC with an OHWI filter.
  std::vector<float> input = filled(std::size_t{n} * h * w * c), filter = filled(std::size_t{k} * r * s * c),
                     bias = filled(k), output(std::size_t{n} * oh * ow * k + 16);
  xnn_operator_t op = nullptr;
  xnn_status st = xnn_create_convolution2d_nhwc_f32(pad, pad, pad, pad, r, s, stride, stride, 1, 1, 1, c, k, c, k,
                                                    filter.data(), bias.data(), -INFINITY, INFINITY, 0, &op);
  if (st == xnn_status_success) st = xnn_setup_convolution2d_nhwc_f32(op, n, h, w, input.data(), output.data(), pool);
  if (st != xnn_status_success) {
    std::fprintf(stderr, "XNNPACK refused the convolution (status %d)\n", static_cast<int>(st));
    return 1;
  }
  for (int i = 0; i < 3; ++i) xnn_run_operator(op, pool);
  std::vector<double> ms;
  for (std::uint32_t i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    xnn_run_operator(op, pool);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("{\"median_ms\":%.6f,\"min_ms\":%.6f,\"runs\":%u}\n", ms[ms.size() / 2], ms.front(), runs);
  xnn_delete_operator(op);
  if (pool != nullptr) pthreadpool_destroy(pool);
  return 0;
}
