#include "import/onnx/shape_folding.hpp"

#include "infercast/ir/einsum.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace infercast::import::onnx_fold {
namespace {

using ::onnx::TensorProto;

// A small known tensor. Values are held as doubles: exact for the integers shapes
// use (|v| < 2^53), and able to carry the float casts some exporters put in shape math.
struct Value {
  std::vector<std::int64_t> dims;
  std::vector<double> data;
  int elem_type = TensorProto::INT64;

  std::int64_t numel() const {
    std::int64_t n = 1;
    for (auto d : dims) n *= d;
    return n;
  }
};

bool is_integer_type(int t) {
  return t == TensorProto::INT64 || t == TensorProto::INT32 || t == TensorProto::INT16 || t == TensorProto::INT8 ||
         t == TensorProto::UINT8 || t == TensorProto::UINT16 || t == TensorProto::UINT32 || t == TensorProto::UINT64 ||
         t == TensorProto::BOOL;
}

bool is_supported_type(int t) {
  return is_integer_type(t) || t == TensorProto::FLOAT || t == TensorProto::DOUBLE;
}

bool small_dims(const google::protobuf::RepeatedField<std::int64_t>& dims) {
  std::int64_t n = 1;
  for (auto d : dims) {
    if (d < 0 || d > kMaxFoldedElements) return false;
    n *= d;
    if (n > kMaxFoldedElements) return false;
  }
  return true;
}

template <typename T>
void append_raw(const std::string& raw, std::vector<double>& out) {
  const std::size_t n = raw.size() / sizeof(T);
  for (std::size_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, raw.data() + i * sizeof(T), sizeof(T));
    out.push_back(static_cast<double>(v));
  }
}

// The value of a tensor stored inline (raw or typed fields); nullopt otherwise.
std::optional<Value> value_of(const TensorProto& t) {
  if (!is_supported_type(t.data_type()) || !small_dims(t.dims())) return std::nullopt;
  if (t.data_location() == TensorProto::EXTERNAL || t.external_data_size() > 0) return std::nullopt;
  Value v;
  v.elem_type = t.data_type();
  v.dims.assign(t.dims().begin(), t.dims().end());
  const std::string& raw = t.raw_data();
  if (!raw.empty()) {
    switch (t.data_type()) {
      case TensorProto::INT64: append_raw<std::int64_t>(raw, v.data); break;
      case TensorProto::INT32: append_raw<std::int32_t>(raw, v.data); break;
      case TensorProto::INT16: append_raw<std::int16_t>(raw, v.data); break;
      case TensorProto::INT8: append_raw<std::int8_t>(raw, v.data); break;
      case TensorProto::UINT8:
      case TensorProto::BOOL: append_raw<std::uint8_t>(raw, v.data); break;
      case TensorProto::UINT16: append_raw<std::uint16_t>(raw, v.data); break;
      case TensorProto::UINT32: append_raw<std::uint32_t>(raw, v.data); break;
      case TensorProto::UINT64: append_raw<std::uint64_t>(raw, v.data); break;
      case TensorProto::FLOAT: append_raw<float>(raw, v.data); break;
      case TensorProto::DOUBLE: append_raw<double>(raw, v.data); break;
      default: return std::nullopt;
    }
  } else {
    switch (t.data_type()) {
      case TensorProto::INT64:
        for (auto x : t.int64_data()) v.data.push_back(static_cast<double>(x));
        break;
      case TensorProto::UINT32:
      case TensorProto::UINT64:
        for (auto x : t.uint64_data()) v.data.push_back(static_cast<double>(x));
        break;
      case TensorProto::FLOAT:
        for (auto x : t.float_data()) v.data.push_back(x);
        break;
      case TensorProto::DOUBLE:
        for (auto x : t.double_data()) v.data.push_back(x);
        break;
      default:
        for (auto x : t.int32_data()) v.data.push_back(x);
        break;
    }
  }
  if (static_cast<std::int64_t>(v.data.size()) != v.numel()) return std::nullopt;
  return v;
}

TensorProto to_proto(const Value& v) {
  TensorProto t;
  t.set_data_type(v.elem_type);
  for (auto d : v.dims) t.add_dims(d);
  const int n = static_cast<int>(v.data.size());
  switch (v.elem_type) {
    case TensorProto::INT64: t.mutable_int64_data()->Reserve(n); break;
    case TensorProto::UINT32:
    case TensorProto::UINT64: t.mutable_uint64_data()->Reserve(n); break;
    case TensorProto::FLOAT: t.mutable_float_data()->Reserve(n); break;
    case TensorProto::DOUBLE: t.mutable_double_data()->Reserve(n); break;
    default: t.mutable_int32_data()->Reserve(n); break;
  }
  for (double x : v.data) {
    switch (v.elem_type) {
      case TensorProto::INT64: t.add_int64_data(static_cast<std::int64_t>(x)); break;
      case TensorProto::UINT32:
      case TensorProto::UINT64: t.add_uint64_data(static_cast<std::uint64_t>(x)); break;
      case TensorProto::FLOAT: t.add_float_data(static_cast<float>(x)); break;
      case TensorProto::DOUBLE: t.add_double_data(x); break;
      default: t.add_int32_data(static_cast<std::int32_t>(x)); break;
    }
  }
  return t;
}

std::vector<std::int64_t> ints_attr(const ::onnx::NodeProto& n, const char* name, bool* found = nullptr) {
  for (const auto& a : n.attribute()) {
    if (a.name() == name) {
      if (found) *found = true;
      if (a.ints_size() > 0) return {a.ints().begin(), a.ints().end()};
      return {a.i()};
    }
  }
  if (found) *found = false;
  return {};
}

std::int64_t int_attr(const ::onnx::NodeProto& n, const char* name, std::int64_t fallback) {
  for (const auto& a : n.attribute()) {
    if (a.name() == name) return a.i();
  }
  return fallback;
}

// Numpy-style broadcasting of a binary function; nullopt when shapes do not broadcast.
template <typename F>
std::optional<Value> broadcast(const Value& a, const Value& b, int out_type, F f) {
  const std::size_t rank = std::max(a.dims.size(), b.dims.size());
  std::vector<std::int64_t> da(rank, 1), db(rank, 1), out(rank, 1);
  std::copy(a.dims.begin(), a.dims.end(), da.begin() + static_cast<std::ptrdiff_t>(rank - a.dims.size()));
  std::copy(b.dims.begin(), b.dims.end(), db.begin() + static_cast<std::ptrdiff_t>(rank - b.dims.size()));
  for (std::size_t i = 0; i < rank; ++i) {
    if (da[i] != db[i] && da[i] != 1 && db[i] != 1) return std::nullopt;
    out[i] = std::max(da[i], db[i]);
  }
  Value r;
  r.dims = out;
  r.elem_type = out_type;
  const std::int64_t n = r.numel();
  if (n > kMaxFoldedElements) return std::nullopt;
  r.data.resize(static_cast<std::size_t>(n));
  std::vector<std::int64_t> index(rank, 0);
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t ia = 0, ib = 0;
    for (std::size_t k = 0; k < rank; ++k) {
      ia = ia * da[k] + (da[k] == 1 ? 0 : index[k]);
      ib = ib * db[k] + (db[k] == 1 ? 0 : index[k]);
    }
    r.data[static_cast<std::size_t>(i)] = f(a.data[static_cast<std::size_t>(ia)], b.data[static_cast<std::size_t>(ib)]);
    for (std::size_t k = rank; k-- > 0;) {
      if (++index[k] < out[k]) break;
      index[k] = 0;
    }
  }
  return r;
}

double normalized_axis(std::int64_t axis, std::int64_t rank) {
  return static_cast<double>(axis < 0 ? axis + rank : axis);
}

class Folder {
 public:
  explicit Folder(const ::onnx::ModelProto& model) : model_(model) {
    for (const auto& o : model.opset_import()) {
      if (o.domain().empty() || o.domain() == "ai.onnx") opset_ = o.version();
    }
    const auto& g = model.graph();
    // Decoded when a folded node reads them (in()): most initializers are weights no
    // shape computation reads.
    for (const auto& t : g.initializer()) initializers_.emplace(t.name(), &t);
    auto add_type = [&](const ::onnx::ValueInfoProto& vi) {
      if (vi.type().has_tensor_type() && vi.type().tensor_type().has_shape())
        shapes_[vi.name()] = &vi.type().tensor_type().shape();
    };
    for (const auto& vi : g.input()) add_type(vi);
    for (const auto& vi : g.value_info()) add_type(vi);
    for (const auto& vi : g.output()) add_type(vi);
  }

  // Reads the model only; what folds is returned as edits (apply() makes them), so a
  // model where nothing folds is never copied.
  Folding run() {
    Folding folding;
    const auto& nodes = model_.graph().node();
    for (int index = 0; index < nodes.size(); ++index) {
      const auto& n = nodes[index];
      if (n.output_size() != 1 || !(n.domain().empty() || n.domain() == "ai.onnx")) continue;
      if (n.op_type() == "Einsum") {
        annotate_einsum(n, folding);
        continue;
      }
      if (n.op_type() == "Constant") {
        // A lone tensor value is decoded when a folded node reads it (in()): after a
        // first round, every folded value is one of these.
        if (n.attribute_size() == 1 && n.attribute(0).name() == "value" && n.attribute(0).has_t()) {
          constants_[n.output(0)] = &n.attribute(0).t();
          continue;
        }
        for (const auto& a : n.attribute()) {
          if (a.name() == "value" && a.has_t()) {
            if (auto v = value_of(a.t())) known_[n.output(0)] = std::move(*v);
          } else if (a.name() == "value_int") {
            known_[n.output(0)] = Value{{}, {static_cast<double>(a.i())}, TensorProto::INT64};
          } else if (a.name() == "value_ints") {
            Value v{{a.ints_size()}, {}, TensorProto::INT64};
            for (auto x : a.ints()) v.data.push_back(static_cast<double>(x));
            known_[n.output(0)] = std::move(v);
          }
        }
        continue;
      }
      std::optional<Value> v;
      try {
        v = evaluate(n);
      } catch (const std::exception&) {
        v.reset();  // malformed for folding purposes: leave the node to inference
      }
      if (!v || v->numel() > kMaxFoldedElements || static_cast<std::int64_t>(v->data.size()) != v->numel()) continue;
      const std::string& out = n.output(0);
      ::onnx::NodeProto constant;
      constant.set_op_type("Constant");
      constant.set_name(n.name());
      constant.add_output(out);
      auto* attr = constant.add_attribute();
      attr->set_name("value");
      attr->set_type(::onnx::AttributeProto::TENSOR);
      *attr->mutable_t() = to_proto(*v);
      known_[out] = std::move(*v);
      folding.constants.emplace_back(index, std::move(constant));
    }
    return folding;
  }

 private:
  const Value* in(const ::onnx::NodeProto& n, int i) const {
    if (i >= n.input_size() || n.input(i).empty()) return nullptr;
    const std::string& name = n.input(i);
    if (auto it = known_.find(name); it != known_.end()) return &it->second;
    // A Constant node's value, else an initializer's; each decoded once, whether or not
    // it has a value.
    for (auto* pending : {&constants_, &initializers_}) {
      const auto p = pending->find(name);
      if (p == pending->end()) continue;
      std::optional<Value> v = value_of(*p->second);
      pending->erase(p);
      if (v) return &(known_[name] = std::move(*v));
    }
    return nullptr;
  }

  // libonnx 1.12 infers only the rank of an Einsum's output; with static input shapes
  // the equation gives the whole shape, recorded for apply() to write as value_info
  // for inference to keep (and seen by the rest of this pass at once).
  void annotate_einsum(const ::onnx::NodeProto& n, Folding& folding) {
    if (n.output_size() != 1 || static_dims(n.output(0))) return;
    std::vector<std::vector<std::int64_t>> shapes;
    for (const auto& input : n.input()) {
      auto dims = static_dims(input);
      if (!dims) return;
      shapes.push_back(std::move(*dims));
    }
    std::string equation;
    for (const auto& a : n.attribute()) {
      if (a.name() == "equation") equation = a.s();
    }
    const auto r = ir::evaluate_einsum(equation, shapes);
    if (!r) return;
    ::onnx::TensorShapeProto& shape = annotated_.emplace_back();
    for (auto d : r->output_shape) shape.add_dim()->set_dim_value(d);
    shapes_[n.output(0)] = &shape;
    folding.shapes.emplace_back(n.output(0), r->output_shape);
  }

  std::optional<std::vector<std::int64_t>> static_dims(const std::string& name) const {
    auto it = shapes_.find(name);
    if (it == shapes_.end()) return std::nullopt;
    std::vector<std::int64_t> dims;
    for (const auto& d : it->second->dim()) {
      if (!d.has_dim_value() || d.dim_value() < 0) return std::nullopt;
      dims.push_back(d.dim_value());
    }
    return dims;
  }

  std::optional<Value> evaluate(const ::onnx::NodeProto& n) {
    const std::string& op = n.op_type();
    if (op == "Shape") return shape(n);
    const Value* a = in(n, 0);
    if (op == "Size") {
      const auto s = static_shape(n);
      if (!s) return std::nullopt;
      double numel = 1;
      for (auto d : *s) numel *= static_cast<double>(d);
      return Value{{}, {numel}, TensorProto::INT64};
    }
    if (a == nullptr) return std::nullopt;
    if (op == "Identity") return *a;
    if (op == "Cast") {
      const int to = static_cast<int>(int_attr(n, "to", 0));
      if (!is_supported_type(to)) return std::nullopt;
      Value r = *a;
      r.elem_type = to;
      for (double& x : r.data) x = to == TensorProto::BOOL ? (x != 0) : is_integer_type(to) ? std::trunc(x) : x;
      return r;
    }
    if (op == "Neg" || op == "Abs" || op == "Floor" || op == "Ceil" || op == "Not") {
      Value r = *a;
      for (double& x : r.data) {
        x = op == "Neg"     ? -x
            : op == "Abs"   ? std::fabs(x)
            : op == "Floor" ? std::floor(x)
            : op == "Ceil"  ? std::ceil(x)
                            : (x == 0);
      }
      return r;
    }
    if (op == "Unsqueeze" || op == "Squeeze") return squeeze(n, *a, op == "Unsqueeze");
    if (op == "Gather") return gather(n, *a);
    if (op == "Concat") return concat(n);
    if (op == "Slice") return slice(n, *a);
    if (op == "Reshape") return reshape(n, *a);
    if (op == "ConstantOfShape") return constant_of_shape(n, *a);
    if (op == "Range") return range(n);
    if (op == "Transpose") return transpose(n, *a);
    const Value* b = in(n, 1);
    if (op == "Where") {
      const Value* c = in(n, 2);
      if (b == nullptr || c == nullptr) return std::nullopt;
      auto picked = broadcast(*a, *b, TensorProto::INT64, [](double cond, double) { return cond; });
      if (!picked) return std::nullopt;
      auto x = broadcast(*a, *b, b->elem_type, [](double cond, double x) { return cond != 0 ? x : NAN; });
      if (!x) return std::nullopt;
      auto r = broadcast(*x, *c, b->elem_type, [](double x, double y) { return std::isnan(x) ? y : x; });
      return r;
    }
    if (b == nullptr) return std::nullopt;
    const bool integer = is_integer_type(a->elem_type);
    if (op == "Add") return broadcast(*a, *b, a->elem_type, [](double x, double y) { return x + y; });
    if (op == "Sub") return broadcast(*a, *b, a->elem_type, [](double x, double y) { return x - y; });
    if (op == "Mul") return broadcast(*a, *b, a->elem_type, [](double x, double y) { return x * y; });
    if (op == "Div") {
      if (std::find(b->data.begin(), b->data.end(), 0.0) != b->data.end()) return std::nullopt;
      return broadcast(*a, *b, a->elem_type,
                       [integer](double x, double y) { return integer ? std::trunc(x / y) : x / y; });
    }
    if (op == "Mod") {
      // fmod=0 (integers only): the result takes the divisor's sign, as Python's %;
      // fmod=1: the dividend's, as C's fmod. Swin's window padding is (w - H % w) % w.
      if (std::find(b->data.begin(), b->data.end(), 0.0) != b->data.end()) return std::nullopt;
      const bool c_style = int_attr(n, "fmod", 0) != 0;
      if (!c_style && !integer) return std::nullopt;
      return broadcast(*a, *b, a->elem_type, [c_style](double x, double y) {
        const double r = std::fmod(x, y);
        return !c_style && r != 0 && ((r < 0) != (y < 0)) ? r + y : r;
      });
    }
    if (op == "Max") return broadcast(*a, *b, a->elem_type, [](double x, double y) { return std::max(x, y); });
    if (op == "Min") return broadcast(*a, *b, a->elem_type, [](double x, double y) { return std::min(x, y); });
    if (op == "Equal") return broadcast(*a, *b, TensorProto::BOOL, [](double x, double y) { return double(x == y); });
    if (op == "Less") return broadcast(*a, *b, TensorProto::BOOL, [](double x, double y) { return double(x < y); });
    if (op == "Greater") return broadcast(*a, *b, TensorProto::BOOL, [](double x, double y) { return double(x > y); });
    return std::nullopt;
  }

  // The static shape of the node's first input, as inference (or an annotation) left it.
  std::optional<std::vector<std::int64_t>> static_shape(const ::onnx::NodeProto& n) const {
    if (n.input_size() < 1) return std::nullopt;
    return static_dims(n.input(0));
  }

  std::optional<Value> shape(const ::onnx::NodeProto& n) const {
    auto dims = static_shape(n);
    if (!dims) {
      // The shape of a value folded here (e.g. F.pad's pads, built by Concat) is known
      // even before inference has typed it.
      if (const Value* v = in(n, 0)) dims = v->dims;
    }
    if (!dims) return std::nullopt;
    const auto rank = static_cast<std::int64_t>(dims->size());
    std::int64_t start = int_attr(n, "start", 0);
    std::int64_t end = int_attr(n, "end", rank);
    if (start < 0) start += rank;
    if (end < 0) end += rank;
    start = std::clamp<std::int64_t>(start, 0, rank);
    end = std::clamp<std::int64_t>(end, 0, rank);
    Value v{{std::max<std::int64_t>(end - start, 0)}, {}, TensorProto::INT64};
    for (std::int64_t i = start; i < end; ++i)
      v.data.push_back(static_cast<double>((*dims)[static_cast<std::size_t>(i)]));
    return v;
  }

  // Transpose by `perm` (default: reversed axes), as PyTorch's F.pad export applies to
  // its [pairs, 2] pads table.
  std::optional<Value> transpose(const ::onnx::NodeProto& n, const Value& a) const {
    const auto rank = static_cast<std::int64_t>(a.dims.size());
    bool found = false;
    std::vector<std::int64_t> perm = ints_attr(n, "perm", &found);
    if (!found) {
      perm.resize(static_cast<std::size_t>(rank));
      for (std::int64_t i = 0; i < rank; ++i) perm[static_cast<std::size_t>(i)] = rank - 1 - i;
    }
    if (static_cast<std::int64_t>(perm.size()) != rank) return std::nullopt;
    std::vector<bool> used(static_cast<std::size_t>(rank), false);
    for (auto p : perm) {
      if (p < 0 || p >= rank || used[static_cast<std::size_t>(p)]) return std::nullopt;
      used[static_cast<std::size_t>(p)] = true;
    }
    Value r;
    r.elem_type = a.elem_type;
    for (auto p : perm) r.dims.push_back(a.dims[static_cast<std::size_t>(p)]);
    // Row-major strides of the input, visited in the output's axis order.
    std::vector<std::int64_t> stride(static_cast<std::size_t>(rank), 1);
    for (std::int64_t k = rank - 2; k >= 0; --k)
      stride[static_cast<std::size_t>(k)] =
          stride[static_cast<std::size_t>(k + 1)] * a.dims[static_cast<std::size_t>(k + 1)];
    const std::int64_t count = a.numel();
    r.data.resize(static_cast<std::size_t>(count));
    std::vector<std::int64_t> index(static_cast<std::size_t>(rank), 0);
    for (std::int64_t i = 0; i < count; ++i) {
      std::int64_t src = 0;
      for (std::int64_t k = 0; k < rank; ++k)
        src += index[static_cast<std::size_t>(k)] * stride[static_cast<std::size_t>(perm[static_cast<std::size_t>(k)])];
      r.data[static_cast<std::size_t>(i)] = a.data[static_cast<std::size_t>(src)];
      for (std::int64_t k = rank; k-- > 0;) {
        if (++index[static_cast<std::size_t>(k)] < r.dims[static_cast<std::size_t>(k)]) break;
        index[static_cast<std::size_t>(k)] = 0;
      }
    }
    return r;
  }

  std::optional<Value> squeeze(const ::onnx::NodeProto& n, const Value& a, bool unsqueeze) const {
    bool from_attr = false;
    std::vector<std::int64_t> axes = ints_attr(n, "axes", &from_attr);
    if (!from_attr && n.input_size() > 1) {
      const Value* ax = in(n, 1);
      if (ax == nullptr) return std::nullopt;
      for (double x : ax->data) axes.push_back(static_cast<std::int64_t>(x));
    }
    Value r = a;
    if (unsqueeze) {
      const auto rank = static_cast<std::int64_t>(a.dims.size() + axes.size());
      for (auto& x : axes) x = static_cast<std::int64_t>(normalized_axis(x, rank));
      std::sort(axes.begin(), axes.end());
      for (auto x : axes) {
        if (x < 0 || x > static_cast<std::int64_t>(r.dims.size())) return std::nullopt;
        r.dims.insert(r.dims.begin() + x, 1);
      }
      return r;
    }
    const auto rank = static_cast<std::int64_t>(a.dims.size());
    std::vector<std::int64_t> kept;
    for (std::int64_t i = 0; i < rank; ++i) {
      const bool listed = axes.empty() ? a.dims[static_cast<std::size_t>(i)] == 1
                                       : std::any_of(axes.begin(), axes.end(),
                                                     [&](std::int64_t x) { return normalized_axis(x, rank) == i; });
      if (!listed) kept.push_back(a.dims[static_cast<std::size_t>(i)]);
    }
    r.dims = kept;
    return r;
  }

  std::optional<Value> gather(const ::onnx::NodeProto& n, const Value& data) const {
    const Value* idx = in(n, 1);
    if (idx == nullptr || data.dims.size() != 1) return std::nullopt;
    if (normalized_axis(int_attr(n, "axis", 0), 1) != 0) return std::nullopt;
    Value r{idx->dims, {}, data.elem_type};
    const auto size = data.dims[0];
    for (double x : idx->data) {
      auto i = static_cast<std::int64_t>(x);
      if (i < 0) i += size;
      if (i < 0 || i >= size) return std::nullopt;
      r.data.push_back(data.data[static_cast<std::size_t>(i)]);
    }
    return r;
  }

  std::optional<Value> concat(const ::onnx::NodeProto& n) const {
    Value r{{0}, {}, TensorProto::INT64};
    for (int i = 0; i < n.input_size(); ++i) {
      const Value* v = in(n, i);
      if (v == nullptr || v->dims.size() != 1) return std::nullopt;
      r.elem_type = v->elem_type;
      r.data.insert(r.data.end(), v->data.begin(), v->data.end());
    }
    r.dims[0] = static_cast<std::int64_t>(r.data.size());
    return r;
  }

  // Slice along any axes of a small tensor (ONNX Slice-1 attributes or Slice-10+ inputs;
  // negative steps walk backwards, as F.pad's export does over its pads table).
  std::optional<Value> slice(const ::onnx::NodeProto& n, const Value& data) const {
    const auto rank = static_cast<std::int64_t>(data.dims.size());
    if (rank == 0) return std::nullopt;
    std::vector<std::int64_t> starts, ends, axes, steps;
    auto to_ints = [](const Value* v, std::vector<std::int64_t>& out) {
      if (v == nullptr) return false;
      for (double x : v->data) out.push_back(static_cast<std::int64_t>(std::clamp(x, -9e18, 9e18)));
      return true;
    };
    if (opset_ < 10) {
      starts = ints_attr(n, "starts");
      ends = ints_attr(n, "ends");
      axes = ints_attr(n, "axes");
    } else {
      if (!to_ints(in(n, 1), starts) || !to_ints(in(n, 2), ends)) return std::nullopt;
      if (n.input_size() > 3 && !n.input(3).empty() && !to_ints(in(n, 3), axes)) return std::nullopt;
      if (n.input_size() > 4 && !n.input(4).empty() && !to_ints(in(n, 4), steps)) return std::nullopt;
    }
    if (starts.size() != ends.size() || starts.empty()) return std::nullopt;
    if (axes.empty()) {
      for (std::size_t k = 0; k < starts.size(); ++k) axes.push_back(static_cast<std::int64_t>(k));
    }
    if (steps.empty()) steps.assign(starts.size(), 1);
    if (axes.size() != starts.size() || steps.size() != starts.size()) return std::nullopt;
    // Per axis, the source indices the result takes, in order.
    std::vector<std::vector<std::int64_t>> picks(static_cast<std::size_t>(rank));
    std::vector<bool> sliced(static_cast<std::size_t>(rank), false);
    for (std::size_t k = 0; k < axes.size(); ++k) {
      const auto axis = static_cast<std::int64_t>(normalized_axis(axes[k], rank));
      if (axis < 0 || axis >= rank || sliced[static_cast<std::size_t>(axis)] || steps[k] == 0) return std::nullopt;
      sliced[static_cast<std::size_t>(axis)] = true;
      const std::int64_t size = data.dims[static_cast<std::size_t>(axis)];
      auto clampi = [&](std::int64_t v, std::int64_t lo, std::int64_t hi) {
        if (v < 0) v += size;
        return std::clamp(v, lo, hi);
      };
      auto& p = picks[static_cast<std::size_t>(axis)];
      if (steps[k] > 0) {
        for (std::int64_t i = clampi(starts[k], 0, size), e = clampi(ends[k], 0, size); i < e; i += steps[k])
          p.push_back(i);
      } else {
        for (std::int64_t i = clampi(starts[k], -1, size - 1), e = clampi(ends[k], -1, size - 1); i > e; i += steps[k])
          p.push_back(i);
      }
    }
    Value r{{}, {}, data.elem_type};
    for (std::int64_t a = 0; a < rank; ++a) {
      auto& p = picks[static_cast<std::size_t>(a)];
      if (!sliced[static_cast<std::size_t>(a)]) {
        for (std::int64_t i = 0; i < data.dims[static_cast<std::size_t>(a)]; ++i) p.push_back(i);
      }
      r.dims.push_back(static_cast<std::int64_t>(p.size()));
    }
    const std::int64_t count = r.numel();
    if (count == 0) return r;
    std::vector<std::int64_t> stride(static_cast<std::size_t>(rank), 1);
    for (std::int64_t k = rank - 2; k >= 0; --k)
      stride[static_cast<std::size_t>(k)] =
          stride[static_cast<std::size_t>(k + 1)] * data.dims[static_cast<std::size_t>(k + 1)];
    std::vector<std::size_t> index(static_cast<std::size_t>(rank), 0);
    for (std::int64_t i = 0; i < count; ++i) {
      std::int64_t src = 0;
      for (std::size_t k = 0; k < index.size(); ++k) src += picks[k][index[k]] * stride[k];
      r.data.push_back(data.data[static_cast<std::size_t>(src)]);
      for (std::size_t k = index.size(); k-- > 0;) {
        if (++index[k] < picks[k].size()) break;
        index[k] = 0;
      }
    }
    return r;
  }

  std::optional<Value> reshape(const ::onnx::NodeProto& n, const Value& data) const {
    const Value* s = in(n, 1);
    if (s == nullptr) return std::nullopt;
    std::vector<std::int64_t> dims;
    std::int64_t known = 1;
    int infer = -1;
    for (std::size_t i = 0; i < s->data.size(); ++i) {
      auto d = static_cast<std::int64_t>(s->data[i]);
      if (d == 0 && int_attr(n, "allowzero", 0) == 0) {
        if (i >= data.dims.size()) return std::nullopt;
        d = data.dims[i];
      }
      if (d == -1) {
        if (infer >= 0) return std::nullopt;
        infer = static_cast<int>(i);
      } else if (d < 0) {
        return std::nullopt;
      } else {
        known *= d;
      }
      dims.push_back(d);
    }
    if (infer >= 0) {
      if (known == 0 || data.numel() % known != 0) return std::nullopt;
      dims[static_cast<std::size_t>(infer)] = data.numel() / known;
    }
    Value r{dims, data.data, data.elem_type};
    if (r.numel() != data.numel()) return std::nullopt;
    return r;
  }

  std::optional<Value> constant_of_shape(const ::onnx::NodeProto& n, const Value& shape) const {
    Value r{{}, {}, TensorProto::FLOAT};
    double fill = 0;
    for (const auto& a : n.attribute()) {
      if (a.name() == "value" && a.has_t()) {
        auto v = value_of(a.t());
        if (!v || v->data.size() != 1) return std::nullopt;
        fill = v->data[0];
        r.elem_type = v->elem_type;
      }
    }
    std::int64_t numel = 1;
    for (double d : shape.data) {
      if (d < 0 || d > kMaxFoldedElements) return std::nullopt;
      r.dims.push_back(static_cast<std::int64_t>(d));
      numel *= static_cast<std::int64_t>(d);
      if (numel > kMaxFoldedElements) return std::nullopt;
    }
    r.data.assign(static_cast<std::size_t>(numel), fill);
    return r;
  }

  std::optional<Value> range(const ::onnx::NodeProto& n) const {
    const Value* s = in(n, 0);
    const Value* l = in(n, 1);
    const Value* d = in(n, 2);
    if (s == nullptr || l == nullptr || d == nullptr || s->data.size() != 1 || l->data.size() != 1 ||
        d->data.size() != 1)
      return std::nullopt;
    if (d->data[0] == 0) return std::nullopt;
    const double count = std::max(std::ceil((l->data[0] - s->data[0]) / d->data[0]), 0.0);
    if (count > kMaxFoldedElements) return std::nullopt;
    Value r{{static_cast<std::int64_t>(count)}, {}, s->elem_type};
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(count); ++i)
      r.data.push_back(s->data[0] + static_cast<double>(i) * d->data[0]);
    return r;
  }

  const ::onnx::ModelProto& model_;
  std::deque<::onnx::TensorShapeProto> annotated_;  // Einsum shapes found in this pass
  std::int64_t opset_ = 0;
  // Values computed so far, and Constant values and initializers not decoded yet (a
  // cache: in() fills it). Every key views a name in model_, which outlives the Folder.
  mutable std::unordered_map<std::string_view, Value> known_;
  mutable std::unordered_map<std::string_view, const TensorProto*> constants_;
  mutable std::unordered_map<std::string_view, const TensorProto*> initializers_;
  std::unordered_map<std::string_view, const ::onnx::TensorShapeProto*> shapes_;
};

}  // namespace

Folding find_foldable(const ::onnx::ModelProto& model) {
  if (!model.has_graph()) return {};
  return Folder(model).run();
}

void apply(Folding folding, ::onnx::ModelProto& work) {
  auto& graph = *work.mutable_graph();
  for (auto& [index, constant] : folding.constants) *graph.mutable_node(index) = std::move(constant);
  for (const auto& [name, dims] : folding.shapes) {
    ::onnx::ValueInfoProto* vi = nullptr;
    for (auto& existing : *graph.mutable_value_info()) {
      if (existing.name() == name) vi = &existing;
    }
    if (vi == nullptr) {
      vi = graph.add_value_info();
      vi->set_name(name);
    }
    auto* tensor = vi->mutable_type()->mutable_tensor_type();
    if (tensor->elem_type() == 0) tensor->set_elem_type(TensorProto::FLOAT);
    auto* shape = tensor->mutable_shape();
    shape->clear_dim();
    for (auto d : dims) shape->add_dim()->set_dim_value(d);
  }
}

}  // namespace infercast::import::onnx_fold
