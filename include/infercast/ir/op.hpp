// The canonical op set, generated from ops.def (the one op table).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace infercast::ir {

enum class Op : std::uint16_t {
#define INFERCAST_OP(name, category, cost_fn, flops) name,
#include "infercast/ir/ops.def"
#undef INFERCAST_OP
};

inline constexpr std::size_t kOpCount = 0
#define INFERCAST_OP(name, category, cost_fn, flops) +1
#include "infercast/ir/ops.def"
#undef INFERCAST_OP
    ;

enum class OpCategory : std::uint8_t {
  kConv,
  kLinear,
  kRecurrent,
  kElementwise,
  kActivation,
  kNormalization,
  kPooling,
  kReduction,
  kResize,
  kDataMovement,
  kShape,
  kConstant,
  kQuantization,
  kControl,
  kOther,
};

std::string_view op_name(Op op) noexcept;
OpCategory op_category(Op op) noexcept;
std::string_view category_name(OpCategory c) noexcept;
// The table's FlopsPerElement column.
double op_flops_per_element(Op op) noexcept;
// Canonical name → op; nullopt for names outside the table.
std::optional<Op> op_from_name(std::string_view name) noexcept;

}  // namespace infercast::ir
