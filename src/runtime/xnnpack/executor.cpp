// XnnpackExecutor: checks, fusion planning, lowering node by node (constant nodes
// computed on the spot), the activation arena, and the run loop.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "infercast/runtime/xnnpack_executor.hpp"
#include "runtime/xnnpack/ops.hpp"

namespace infercast::runtime {

using xnnpack::Binder;
using xnnpack::Builder;
using xnnpack::Order;
using xnnpack::Step;
using xnnpack::Value;

namespace {

struct PoolDeleter {
  void operator()(pthreadpool_t p) const noexcept {
    if (p != nullptr) pthreadpool_destroy(p);
  }
};

struct ArenaDeleter {
  void operator()(std::byte* p) const noexcept { std::free(p); }
};

constexpr std::size_t kAlign = 64;

float* value_ptr(const std::vector<Value>& values, std::byte* arena, int value) {
  const Value& v = values[static_cast<std::size_t>(value)];
  const Value& r = v.storage == Value::Storage::kAlias ? values[static_cast<std::size_t>(v.root)] : v;
  if (r.storage == Value::Storage::kConstant) return const_cast<float*>(r.constant.data());
  return reinterpret_cast<float*>(arena + r.offset);
}

std::string node_label(const ir::Node& n, int index) {
  return "node " + std::to_string(index) + " '" + n.name + "' (" + n.source_op + ")";
}

}  // namespace

struct XnnpackExecutor::Impl {
  int threads = 1;
  std::unique_ptr<pthreadpool, PoolDeleter> pool;
  std::vector<Value> values;
  std::vector<Step> steps;
  std::unique_ptr<std::byte, ArenaDeleter> arena;
  std::uint64_t arena_size = 0;
  std::uint64_t constant_size = 0;
  std::vector<int> input_values, output_values;
  std::vector<XnnpackTensorInfo> inputs, outputs;
  std::vector<double> node_times;
  std::vector<XnnpackNodePlan> plans;
  bool profiling = false;
  bool ready = false;

  float* ptr(int value) const { return value_ptr(values, arena.get(), value); }
};

namespace {

// Addresses during prepare's constant folding: every value is a constant.
class FoldBinder final : public Binder {
 public:
  explicit FoldBinder(Builder& b) : b_(b) {}
  float* ptr(int value) const override {
    Value& r = b_.values[static_cast<std::size_t>(b_.root(value))];
    if (r.storage != Value::Storage::kConstant) b_.fail("internal: folding reads a run-time value");
    return r.constant.data();
  }
  pthreadpool_t pool() const override { return b_.pool; }

 private:
  Builder& b_;
};

class ArenaBinder final : public Binder {
 public:
  ArenaBinder(const std::vector<Value>& values, std::byte* arena, pthreadpool_t pool)
      : values_(values), arena_(arena), pool_(pool) {}
  float* ptr(int value) const override { return value_ptr(values_, arena_, value); }
  pthreadpool_t pool() const override { return pool_; }

 private:
  const std::vector<Value>& values_;
  std::byte* arena_;
  pthreadpool_t pool_;
};

void run_step(Step& s, pthreadpool_t pool) {
  if (s.op) {
    const xnn_status status = xnn_run_operator(s.op.get(), pool);
    if (status != xnn_status_success) {
      throw Error(ErrorKind::kUnsupported, "", "node " + std::to_string(s.node), "xnn_run_operator failed");
    }
  } else if (s.kernel) {
    s.kernel();
  }
}

// Greedy-by-size placement of arena values with known lifetimes; returns the arena size.
std::uint64_t place(std::vector<Value>& values) {
  std::vector<int> order;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (values[i].storage == Value::Storage::kArena && values[i].first <= values[i].last) {
      order.push_back(static_cast<int>(i));
    }
  }
  auto bytes = [&](int v) {
    const std::size_t raw =
        static_cast<std::size_t>(values[static_cast<std::size_t>(v)].size()) * sizeof(float) + XNN_EXTRA_BYTES;
    return (raw + kAlign - 1) / kAlign * kAlign;
  };
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return bytes(a) > bytes(b); });
  std::vector<int> placed;
  std::uint64_t total = 0;
  for (int v : order) {
    Value& cur = values[static_cast<std::size_t>(v)];
    std::vector<std::pair<std::size_t, std::size_t>> busy;  // [offset, end) of overlapping lifetimes
    for (int p : placed) {
      const Value& o = values[static_cast<std::size_t>(p)];
      if (o.last < cur.first || cur.last < o.first) continue;
      busy.emplace_back(o.offset, o.offset + bytes(p));
    }
    std::sort(busy.begin(), busy.end());
    std::size_t offset = 0;
    const std::size_t need = bytes(v);
    for (const auto& [begin, end] : busy) {
      if (begin >= offset + need) break;
      offset = std::max(offset, end);
    }
    cur.offset = offset;
    total = std::max<std::uint64_t>(total, offset + need);
    placed.push_back(v);
  }
  return total;
}

}  // namespace

XnnpackExecutor::XnnpackExecutor() : impl_(std::make_unique<Impl>()) {}
XnnpackExecutor::~XnnpackExecutor() = default;
XnnpackExecutor::XnnpackExecutor(XnnpackExecutor&&) noexcept = default;
XnnpackExecutor& XnnpackExecutor::operator=(XnnpackExecutor&&) noexcept = default;

std::string XnnpackExecutor::version() {
  return "XNNPACK 2022-02-16 (ae108ef)";
}

void XnnpackExecutor::prepare(const ir::Graph& graph, int threads) {
  if (threads < 0) throw Error(ErrorKind::kInvalidArgument, "", "threads", "must be >= 0");
  xnnpack::initialize_xnnpack();
  const std::string& file = graph.meta.source_path;
  auto fresh = std::make_unique<Impl>();
  Impl& impl = *fresh;
  impl.threads = threads == 0 ? static_cast<int>(std::max(1u, std::thread::hardware_concurrency())) : threads;
  if (impl.threads > 1) {
    impl.pool.reset(pthreadpool_create(static_cast<std::size_t>(impl.threads)));
    if (!impl.pool) throw Error(ErrorKind::kUnsupported, file, "threads", "pthreadpool_create failed");
  }

  // 1. Everything the model needs must be supported: one error listing all of it.
  const xnnpack::GraphFacts facts = xnnpack::analyze_graph(graph);
  const xnnpack::Check check(graph, facts);
  std::vector<std::string> problems;
  for (int id : graph.inputs) {
    const ir::Tensor& t = graph.tensors[id];
    // int8 inputs are exchanged as float and quantized with the tensor's own parameters.
    const bool int8 = t.dtype == ir::DType::kInt8;
    if ((t.dtype != ir::DType::kFloat32 && !int8) || !t.shape.is_static() || *t.shape.numel() == 0) {
      problems.push_back("input '" + t.name + "' is " + std::string(ir::dtype_name(t.dtype)) + " " + t.shape.str() +
                         "; inputs must be float32 or int8 with a static, non-empty shape");
    } else if (int8) {
      if (std::string why = xnnpack::activation_quant_problem(t); !why.empty()) {
        problems.push_back("input '" + t.name + "': " + why);
      }
    }
  }
  std::vector<XnnpackSupport> support(graph.nodes.size());
  for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
    support[i] = xnnpack::check_node(check, static_cast<int>(i));
    if (!support[i].ok) problems.push_back(node_label(graph.nodes[i], static_cast<int>(i)) + ": " + support[i].reason);
  }
  for (int id : graph.outputs) {  // outputs a node computes were checked with the node
    if (graph.tensors[id].dtype == ir::DType::kInt8 && !facts.derived[id]) {
      if (std::string why = xnnpack::activation_quant_problem(graph.tensors[id]); !why.empty()) {
        problems.push_back("graph output '" + graph.tensors[id].name + "': " + why);
      }
      continue;
    }
    if (graph.tensors[id].producer >= 0) continue;
    if (std::string why = check.float_problem(id); !why.empty()) problems.push_back("graph output " + why);
  }
  if (!problems.empty()) {
    // One line a terminal can show: Swin-T's export has 696 problems (int64 shape
    // arithmetic, ScatterND, ...), which listed whole made an 80 KB line.
    constexpr std::size_t kListed = 12;
    std::string msg = std::to_string(problems.size()) + " problem" + (problems.size() == 1 ? "" : "s") +
                      " prevent running on XNNPACK: ";
    for (std::size_t i = 0; i < std::min(problems.size(), kListed); ++i) msg += (i ? "; " : "") + problems[i];
    if (problems.size() > kListed) msg += "; and " + std::to_string(problems.size() - kListed) + " more";
    throw Error(ErrorKind::kUnsupported, file, "", msg);
  }

  // 2. Fusion: BatchNormalization into the convolution before it, ReLU/Clip into the
  // output clamp of the op before it, when that op's output feeds nothing else.
  std::vector<xnnpack::Epilogue> epilogues(graph.nodes.size());
  std::vector<int> absorbed(graph.nodes.size(), -1);
  auto single_consumer = [&](int tensor) -> int {
    const ir::Tensor& t = graph.tensors[tensor];
    if (t.consumers.size() != 1) return -1;
    if (std::find(graph.outputs.begin(), graph.outputs.end(), tensor) != graph.outputs.end()) return -1;
    const int c = t.consumers[0];
    const ir::Node& cn = graph.nodes[static_cast<std::size_t>(c)];
    if (cn.inputs.empty() || cn.inputs[0] != tensor || !facts.needed[static_cast<std::size_t>(c)]) return -1;
    return c;
  };
  for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
    const ir::Node& n = graph.nodes[i];
    if (!facts.needed[i] || absorbed[i] >= 0 || !xnnpack::can_fuse_activation(n.op)) continue;
    if (xnnpack::is_quantized_node(graph, facts, n)) continue;  // int8 ops clamp in their own lowering
    if (n.outputs.empty() || n.outputs[0] < 0 || facts.derived[n.outputs[0]]) continue;
    xnnpack::Epilogue& e = epilogues[i];
    int t = n.outputs[0];
    if (n.op == ir::Op::Conv && n.layout == ir::Layout::kNCHW) {
      const int c = single_consumer(t);
      if (c >= 0 && graph.nodes[static_cast<std::size_t>(c)].op == ir::Op::BatchNormalization &&
          xnnpack::check_bn_fold(check, n, graph.nodes[static_cast<std::size_t>(c)]).ok) {
        e.bn_node = c;
        e.absorbed.push_back(c);
        t = graph.nodes[static_cast<std::size_t>(c)].outputs[0];
      }
    }
    if (const int c = single_consumer(t);
        c >= 0 && !xnnpack::is_quantized_node(graph, facts, graph.nodes[static_cast<std::size_t>(c)])) {
      const ir::Node& cn = graph.nodes[static_cast<std::size_t>(c)];
      const auto bounds = xnnpack::clamp_bounds(graph, cn);
      auto own = xnnpack::fused_activation_bounds(n, nullptr);
      if (bounds && own && std::max(bounds->first, own->first) <= std::min(bounds->second, own->second) &&
          bounds->first <= bounds->second) {
        e.min = bounds->first;
        e.max = bounds->second;
        e.absorbed.push_back(c);
        t = cn.outputs[0];
      }
    }
    if (t != n.outputs[0]) e.out_tensor = t;
    for (int a : e.absorbed) absorbed[static_cast<std::size_t>(a)] = static_cast<int>(i);
  }

  // 3. Lowering.
  Builder b(graph, impl.pool.get(), facts);
  impl.plans.assign(graph.nodes.size(), {});
  for (int id : graph.inputs) {
    const ir::Tensor& t = graph.tensors[id];
    const int v = b.new_value(t.shape.extents(), Order::kLogical);
    b.tensor_value[id] = t.dtype == ir::DType::kInt8 ? xnnpack::quantize_value(b, v, t) : v;
    impl.input_values.push_back(v);
    impl.inputs.push_back({t.name, t.shape.extents()});
  }
  for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
    const ir::Node& n = graph.nodes[i];
    XnnpackNodePlan& plan = impl.plans[i];
    if (!facts.needed[i]) {
      plan.role = XnnpackNodeRole::kUnused;
      continue;
    }
    if (absorbed[i] >= 0) {
      plan.role = XnnpackNodeRole::kFused;
      plan.fused_into = absorbed[i];
      continue;
    }
    b.node_index = static_cast<int>(i);
    b.node = &n;
    b.epilogue = epilogues[i];
    b.folding = n.op == ir::Op::Constant || (!n.outputs.empty() && n.outputs[0] >= 0 && facts.derived[n.outputs[0]]);
    const std::size_t first = b.steps.size();
    if (xnnpack::is_quantized_node(graph, facts, n)) {
      xnnpack::lower_quantized(b, n);
    } else {
      xnnpack::handler_for(n.op)->lower(b, n);
    }
    if (b.folding) {
      FoldBinder fb(b);
      for (std::size_t s = first; s < b.steps.size(); ++s) {
        Step& step = b.steps[s];
        if (step.bind) step.bind(step, fb);
        run_step(step, b.pool);
      }
      b.steps.resize(first);
      plan.role = XnnpackNodeRole::kConstant;
      continue;
    }
    plan.steps = static_cast<int>(b.steps.size() - first);
    bool any_xnn = false;
    for (std::size_t s = first; s < b.steps.size(); ++s) any_xnn = any_xnn || b.steps[s].op != nullptr;
    plan.role = plan.steps == 0 ? XnnpackNodeRole::kAlias
                : any_xnn       ? XnnpackNodeRole::kXnnpack
                                : XnnpackNodeRole::kCustom;
  }
  // Graph outputs in logical order (a transpose counted toward the producing node).
  for (int id : graph.outputs) {
    const ir::Tensor& t = graph.tensors[id];
    b.node_index = t.producer;
    b.node = t.producer >= 0 ? &graph.nodes[static_cast<std::size_t>(t.producer)] : nullptr;
    b.folding = false;
    const std::size_t first = b.steps.size();
    int v = b.value_of_tensor(id);
    // int8 outputs are handed out as float, dequantized with the tensor's own parameters.
    if (t.dtype == ir::DType::kInt8 && !facts.derived[id]) v = xnnpack::dequantize_value(b, v, t);
    v = b.as_logical(v);
    if (b.steps.size() > first && t.producer >= 0) impl.plans[static_cast<std::size_t>(t.producer)].steps += 1;
    impl.output_values.push_back(v);
    impl.outputs.push_back({t.name, t.shape.extents()});
  }

  // 4. Arena: lifetimes per root value; inputs live throughout, outputs to the end.
  impl.values = std::move(b.values);
  impl.steps = std::move(b.steps);
  auto root = [&](int v) {
    const Value& x = impl.values[static_cast<std::size_t>(v)];
    return x.storage == Value::Storage::kAlias ? x.root : v;
  };
  auto touch = [&](int v, int step) {
    Value& r = impl.values[static_cast<std::size_t>(root(v))];
    if (r.storage != Value::Storage::kArena) return;
    r.first = std::min(r.first, step);
    r.last = std::max(r.last, step);
  };
  for (std::size_t s = 0; s < impl.steps.size(); ++s) {
    for (int v : impl.steps[s].reads) touch(v, static_cast<int>(s));
    for (int v : impl.steps[s].writes) touch(v, static_cast<int>(s));
  }
  for (int v : impl.input_values) {  // inputs keep their value across runs: live for the whole run
    touch(v, -1);
    touch(v, static_cast<int>(impl.steps.size()));
  }
  for (int v : impl.output_values) touch(v, static_cast<int>(impl.steps.size()));
  impl.arena_size = place(impl.values);
  const std::size_t alloc = static_cast<std::size_t>((impl.arena_size + kAlign) / kAlign * kAlign);
  impl.arena.reset(static_cast<std::byte*>(std::aligned_alloc(kAlign, alloc)));
  if (!impl.arena)
    throw Error(ErrorKind::kUnsupported, file, "arena", "cannot allocate " + std::to_string(alloc) + " bytes");
  std::memset(impl.arena.get(), 0, alloc);
  // Constants no step reads (weights XNNPACK packed into its own buffers, folded
  // intermediates) are released; the rest stay for the kernels and outputs.
  std::vector<bool> referenced(impl.values.size(), false);
  for (const Step& s : impl.steps) {
    for (int v : s.reads) referenced[static_cast<std::size_t>(root(v))] = true;
  }
  for (int v : impl.output_values) referenced[static_cast<std::size_t>(root(v))] = true;
  for (std::size_t i = 0; i < impl.values.size(); ++i) {
    Value& v = impl.values[i];
    if (v.storage != Value::Storage::kConstant) continue;
    if (!referenced[i]) {
      std::vector<float>().swap(v.constant);
    } else {
      impl.constant_size += v.constant.size() * sizeof(float);
    }
  }

  // 5. Bind: XNNPACK setup calls and kernel closures see their final addresses.
  const ArenaBinder binder(impl.values, impl.arena.get(), impl.pool.get());
  for (Step& s : impl.steps) {
    if (s.bind) s.bind(s, binder);
    s.bind = nullptr;
  }
  impl.node_times.assign(graph.nodes.size(), 0.0);
  impl.ready = true;
  impl_ = std::move(fresh);
}

bool XnnpackExecutor::prepared() const noexcept {
  return impl_->ready;
}
int XnnpackExecutor::threads() const noexcept {
  return impl_->threads;
}
std::size_t XnnpackExecutor::input_count() const noexcept {
  return impl_->inputs.size();
}
std::size_t XnnpackExecutor::output_count() const noexcept {
  return impl_->outputs.size();
}

const XnnpackTensorInfo& XnnpackExecutor::input_info(std::size_t i) const {
  if (i >= impl_->inputs.size())
    throw Error(ErrorKind::kInvalidArgument, "", "input " + std::to_string(i), "no such input");
  return impl_->inputs[i];
}

const XnnpackTensorInfo& XnnpackExecutor::output_info(std::size_t i) const {
  if (i >= impl_->outputs.size()) {
    throw Error(ErrorKind::kInvalidArgument, "", "output " + std::to_string(i), "no such output");
  }
  return impl_->outputs[i];
}

void XnnpackExecutor::set_input(std::size_t i, std::span<const float> data) {
  const XnnpackTensorInfo& info = input_info(i);
  const int v = impl_->input_values[i];
  const auto n = static_cast<std::size_t>(impl_->values[static_cast<std::size_t>(v)].size());
  if (data.size() != n) {
    throw Error(ErrorKind::kInvalidArgument, "", "input '" + info.name + "'",
                "expects " + std::to_string(n) + " floats (shape " + xnnpack::dims_str(info.shape) + "), got " +
                    std::to_string(data.size()));
  }
  std::memcpy(impl_->ptr(v), data.data(), n * sizeof(float));
}

void XnnpackExecutor::run() {
  Impl& impl = *impl_;
  if (!impl.ready) throw Error(ErrorKind::kInvalidArgument, "", "run", "prepare() has not succeeded");
  pthreadpool_t pool = impl.pool.get();
  if (!impl.profiling) {
    for (Step& s : impl.steps) run_step(s, pool);
    return;
  }
  std::fill(impl.node_times.begin(), impl.node_times.end(), 0.0);
  for (Step& s : impl.steps) {
    const auto t0 = std::chrono::steady_clock::now();
    run_step(s, pool);
    const auto t1 = std::chrono::steady_clock::now();
    if (s.node >= 0)
      impl.node_times[static_cast<std::size_t>(s.node)] += std::chrono::duration<double, std::milli>(t1 - t0).count();
  }
}

void XnnpackExecutor::wake_threads() {
  pthreadpool_t pool = impl_->pool.get();
  if (pool == nullptr) return;
  // One item per thread: pthreadpool returns only when every worker has checked in, so
  // each has woken, and it spins for its next job for a while after.
  pthreadpool_parallelize_1d(
      pool, [](void*, std::size_t) {}, nullptr, pthreadpool_get_threads_count(pool), 0);
}

std::span<const float> XnnpackExecutor::output(std::size_t i) const {
  output_info(i);
  const int v = impl_->output_values[i];
  return {impl_->ptr(v), static_cast<std::size_t>(impl_->values[static_cast<std::size_t>(v)].size())};
}

void XnnpackExecutor::set_profiling(bool on) noexcept {
  impl_->profiling = on;
}
const std::vector<double>& XnnpackExecutor::node_times_ms() const noexcept {
  return impl_->node_times;
}
const std::vector<XnnpackNodePlan>& XnnpackExecutor::node_plans() const noexcept {
  return impl_->plans;
}
std::uint64_t XnnpackExecutor::arena_bytes() const noexcept {
  return impl_->arena_size;
}
std::uint64_t XnnpackExecutor::constant_bytes() const noexcept {
  return impl_->constant_size;
}

}  // namespace infercast::runtime
