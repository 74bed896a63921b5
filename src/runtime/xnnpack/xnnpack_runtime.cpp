// The `xnnpack` runtime: XnnpackExecutor behind the Runtime interface.
#include <chrono>
#include <cstring>

#include "infercast/base/error.hpp"
#include "infercast/measure/stats.hpp"
#include "infercast/runtime/xnnpack_executor.hpp"
#include "runtime/runtimes.hpp"

namespace infercast::runtime {
namespace {

double elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

class XnnpackRuntime final : public Runtime {
 public:
  std::string name() const override { return "xnnpack"; }
  std::string version() override { return XnnpackExecutor::version(); }

  Support supports(const ir::Graph& graph, int node) const override {
    const XnnpackSupport s = XnnpackExecutor::supports(graph, node);
    return {s.ok, s.reason};
  }

  void prepare(const ir::Graph& graph, const PrepareOptions& options) override {
    // The executor checks every node in one pass (supports_all) and throws one Error
    // listing each unsupported node before building anything.
    threads_ = resolve_threads(options.threads);
    executor_ = XnnpackExecutor();
    executor_.prepare(graph, threads_);
    graph_ = &graph;
  }

  RunResult run(const RunOptions& options) override {
    require_prepared();
    set_inputs(random_inputs(*graph_, options.seed));
    RunResult result;
    result.runtime = name();
    result.runtime_version = version();
    result.threads = threads_;
    executor_.set_profiling(false);
    result.latency_ms = measure::measure(options.protocol, [this] {
      const auto start = std::chrono::steady_clock::now();
      executor_.run();
      return elapsed_ms(start);
    });
    if (options.per_layer) result.layers = time_layers(options.protocol, options.flush_bytes);
    return result;
  }

  std::vector<HostTensor> infer(const std::vector<HostTensor>& inputs) override {
    require_prepared();
    set_inputs(inputs);
    executor_.set_profiling(false);
    executor_.run();
    std::vector<HostTensor> outputs;
    for (std::size_t i = 0; i < executor_.output_count(); ++i) {
      const XnnpackTensorInfo& info = executor_.output_info(i);
      const std::span<const float> values = executor_.output(i);
      HostTensor t{info.name, ir::DType::kFloat32, info.shape, std::vector<std::byte>(values.size_bytes())};
      std::memcpy(t.data.data(), values.data(), values.size_bytes());
      outputs.push_back(std::move(t));
    }
    return outputs;
  }

 private:
  void require_prepared() const {
    if (graph_ == nullptr) throw Error(ErrorKind::kInvalidArgument, "", "xnnpack", "run before prepare");
  }

  void set_inputs(const std::vector<HostTensor>& inputs) {
    for (std::size_t i = 0; i < executor_.input_count(); ++i) {
      const XnnpackTensorInfo& info = executor_.input_info(i);
      const HostTensor* match = nullptr;
      for (const HostTensor& t : inputs) {
        if (t.name == info.name) match = &t;
      }
      if (match == nullptr) throw Error(ErrorKind::kInvalidArgument, "", "input '" + info.name + "'", "not given");
      if (match->dtype != ir::DType::kFloat32 && match->dtype != ir::DType::kInt8) {
        throw Error(ErrorKind::kUnsupported, "", "input '" + info.name + "'",
                    "xnnpack runs float32 and int8 inputs only");
      }
      if (match->dims != info.shape) {
        throw Error(ErrorKind::kInvalidArgument, "", "input '" + info.name + "'",
                    "shape differs from the prepared model's");
      }
      if (match->dtype == ir::DType::kInt8) {
        // The executor takes int8 inputs as float (real values) and quantizes them
        // with the tensor's own parameters: q → scale · (q − zero point) → q exactly.
        const ir::Tensor& t = graph_->tensors[static_cast<std::size_t>(graph_->inputs.at(i))];
        if (t.dtype != ir::DType::kInt8 || t.quant.empty()) {
          throw Error(ErrorKind::kInvalidArgument, "", "input '" + info.name + "'", "int8 data for a non-int8 input");
        }
        const float scale = t.quant.scales[0];
        const auto zp = static_cast<float>(t.quant.zero_points.empty() ? 0 : t.quant.zero_points[0]);
        std::vector<float> real(match->data.size());
        for (std::size_t k = 0; k < real.size(); ++k) {
          real[k] = scale * (static_cast<float>(static_cast<std::int8_t>(match->data[k])) - zp);
        }
        executor_.set_input(i, real);
        continue;
      }
      executor_.set_input(i, std::span<const float>(reinterpret_cast<const float*>(match->data.data()),
                                                    match->data.size() / sizeof(float)));
    }
  }

  // Per-node times from a separate profiled pass (timers inside the real run), so
  // the end-to-end figures are never slowed by them. The pass follows the protocol's
  // run count and minimum time, as ONNX Runtime's profiled pass does, with at least 10
  // runs: a layer's minimum over 10 runs alone was often 2x the end-to-end minimum on a
  // shared VM (a 3-channel 192x192 Pad: 0.78 ms against 0.50 ms end to end and in the
  // model), where memory-bound layers slow down in spells. A flushed pass (flush_bytes >
  // 0, whose every run first writes the flush) takes the protocol's count as it is.
  std::vector<LayerTiming> time_layers(const measure::Protocol& protocol, std::size_t flush_bytes) {
    executor_.set_profiling(true);
    const int min_runs = flush_bytes > 0 ? protocol.min_repeats : std::max(protocol.min_repeats, 10);
    const int max_runs = std::max(protocol.max_repeats, min_runs);
    for (int i = 0; i < protocol.warmup; ++i) executor_.run();
    std::vector<std::vector<double>> samples(graph_->nodes.size());
    if (flush_.size() != flush_bytes) flush_.assign(flush_bytes, 0);
    const auto begin = std::chrono::steady_clock::now();
    for (int r = 0; r < max_runs && (r < min_runs || elapsed_ms(begin) < 1000 * protocol.min_time_s); ++r) {
      if (!flush_.empty()) {
        for (std::size_t i = 0; i < flush_.size(); i += 64) ++flush_[i];  // one write per cache line
        // The flush takes long enough for the pool's workers to fall asleep; inside a
        // model they spin from one operator to the next, so the flushed pass wakes them
        // first. Without it a 2-thread profile charged every parallel GEMM 60-180 us of
        // wake-up as its cold start (a median 49 us against 2.6 us at 1 thread), and
        // predicted the squeeze-excitation convs at 7.8x their in-model times.
        executor_.wake_threads();
      }
      executor_.run();
      const auto& times = executor_.node_times_ms();
      for (std::size_t n = 0; n < samples.size() && n < times.size(); ++n) samples[n].push_back(times[n]);
    }
    executor_.set_profiling(false);
    std::vector<LayerTiming> layers;
    const auto& plans = executor_.node_plans();
    for (std::size_t n = 0; n < samples.size() && n < plans.size(); ++n) {
      if (plans[n].role != XnnpackNodeRole::kXnnpack && plans[n].role != XnnpackNodeRole::kCustom) continue;
      const ir::Node& node = graph_->nodes[n];
      layers.push_back({node.name, node.op == ir::Op::Other ? node.source_op : std::string(ir::op_name(node.op)),
                        measure::summarize(samples[n])});
    }
    return layers;
  }

  XnnpackExecutor executor_;
  std::vector<unsigned char> flush_;  // scratch written between per-layer runs
  const ir::Graph* graph_ = nullptr;
  int threads_ = 1;
};

}  // namespace

std::unique_ptr<Runtime> make_xnnpack_runtime(const RuntimeOptions&) {
  return std::make_unique<XnnpackRuntime>();
}

}  // namespace infercast::runtime
