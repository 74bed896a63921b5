// predict speed (Google Benchmark): the time `infercast predict` needs for a model once
// the bundle is loaded and the model imported: kernel detection, features, one
// XGBoost call per family, the sum. Built and run by bench/predict_speed.sh.
//
//   INFERCAST_BUNDLE=P.bundle INFERCAST_MODEL=resnet50.onnx predict_speed
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <iostream>

#include "infercast/import/import.hpp"
#include "infercast/predict/predictor.hpp"

namespace {

using namespace infercast;

const char* env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) {
    std::cerr << "predict_speed: set " << name << "\n";
    std::exit(2);
  }
  return v;
}

void BM_Predict(benchmark::State& state) {
  // Leaked on purpose: XGBoost's globals may be gone when statics are destroyed.
  static const predict::Bundle& bundle = *new predict::Bundle(predict::load_bundle(env("INFERCAST_BUNDLE")));
  static const ir::Graph& graph = *new ir::Graph(import::load_model(env("INFERCAST_MODEL")));
  std::size_t kernels = 0;
  for (auto _ : state) {
    predict::Prediction p = predict::predict(bundle, graph);
    kernels = p.kernels.size();
    benchmark::DoNotOptimize(p);
  }
  state.counters["nodes"] = static_cast<double>(graph.nodes.size());
  state.counters["kernels"] = static_cast<double>(kernels);
}
BENCHMARK(BM_Predict)->Unit(benchmark::kMicrosecond);

void BM_SplitKernels(benchmark::State& state) {
  // Leaked on purpose: XGBoost's globals may be gone when statics are destroyed.
  static const predict::Bundle& bundle = *new predict::Bundle(predict::load_bundle(env("INFERCAST_BUNDLE")));
  static const ir::Graph& graph = *new ir::Graph(import::load_model(env("INFERCAST_MODEL")));
  for (auto _ : state) benchmark::DoNotOptimize(predict::split_kernels(graph, bundle.rules));
}
BENCHMARK(BM_SplitKernels)->Unit(benchmark::kMicrosecond);

void BM_LoadBundle(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(predict::load_bundle(env("INFERCAST_BUNDLE")));
}
BENCHMARK(BM_LoadBundle)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
