#include "infercast/ir/op.hpp"

#include <array>
#include <unordered_map>

namespace infercast::ir {
namespace {

struct OpInfo {
  std::string_view name;
  OpCategory category;
  double flops_per_element;
};

constexpr std::array<OpInfo, kOpCount> kOps = {{
#define INFERCAST_OP(name, category, cost_fn, flops) {#name, OpCategory::k##category, flops},
#include "infercast/ir/ops.def"
#undef INFERCAST_OP
}};

}  // namespace

std::string_view op_name(Op op) noexcept {
  return kOps[static_cast<std::size_t>(op)].name;
}

OpCategory op_category(Op op) noexcept {
  return kOps[static_cast<std::size_t>(op)].category;
}

double op_flops_per_element(Op op) noexcept {
  return kOps[static_cast<std::size_t>(op)].flops_per_element;
}

std::string_view category_name(OpCategory c) noexcept {
  switch (c) {
    case OpCategory::kConv: return "conv";
    case OpCategory::kLinear: return "linear";
    case OpCategory::kRecurrent: return "recurrent";
    case OpCategory::kElementwise: return "elementwise";
    case OpCategory::kActivation: return "activation";
    case OpCategory::kNormalization: return "normalization";
    case OpCategory::kPooling: return "pooling";
    case OpCategory::kReduction: return "reduction";
    case OpCategory::kResize: return "resize";
    case OpCategory::kDataMovement: return "data_movement";
    case OpCategory::kShape: return "shape";
    case OpCategory::kConstant: return "constant";
    case OpCategory::kQuantization: return "quantization";
    case OpCategory::kControl: return "control";
    case OpCategory::kOther: return "other";
  }
  return "other";
}

std::optional<Op> op_from_name(std::string_view name) noexcept {
  // Indexed once: scanning the table cost an importer more per node than the rest of
  // reading the node's op. The first entry of a name wins, as in the table's order.
  static const std::unordered_map<std::string_view, Op> by_name = [] {
    std::unordered_map<std::string_view, Op> m;
    for (std::size_t i = 0; i < kOps.size(); ++i) m.emplace(kOps[i].name, static_cast<Op>(i));
    return m;
  }();
  const auto it = by_name.find(name);
  if (it == by_name.end()) return std::nullopt;
  return it->second;
}

}  // namespace infercast::ir
