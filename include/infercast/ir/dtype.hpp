// Element types of tensors, independent of any file format.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace infercast::ir {

enum class DType : std::uint8_t {
  kUnknown,
  kFloat32,
  kFloat16,
  kBFloat16,
  kFloat64,
  kInt4,
  kInt8,
  kUInt8,
  kInt16,
  kUInt16,
  kInt32,
  kUInt32,
  kInt64,
  kUInt64,
  kBool,
  kString,
  kComplex64,
  kComplex128,
};

// Bits per element; 0 for kUnknown and kString (no fixed size).
std::size_t dtype_bits(DType t) noexcept;
// Bytes needed for `count` elements, rounded up (int4 packs two per byte).
std::uint64_t dtype_bytes(DType t, std::uint64_t count) noexcept;
// Lower-case name used in every report: "float32", "float16", "int8", ...
std::string_view dtype_name(DType t) noexcept;
bool is_floating(DType t) noexcept;

// IEEE binary16 <-> binary32. float_to_half rounds to nearest even (what the TFLite
// converter's float16 quantization stores); half_to_float is exact.
std::uint16_t float_to_half(float value);
float half_to_float(std::uint16_t h);

}  // namespace infercast::ir
