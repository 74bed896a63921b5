#include "infercast/ir/dtype.hpp"

namespace infercast::ir {

std::size_t dtype_bits(DType t) noexcept {
  switch (t) {
    case DType::kFloat32: return 32;
    case DType::kFloat16: return 16;
    case DType::kBFloat16: return 16;
    case DType::kFloat64: return 64;
    case DType::kInt4: return 4;
    case DType::kInt8: return 8;
    case DType::kUInt8: return 8;
    case DType::kInt16: return 16;
    case DType::kUInt16: return 16;
    case DType::kInt32: return 32;
    case DType::kUInt32: return 32;
    case DType::kInt64: return 64;
    case DType::kUInt64: return 64;
    case DType::kBool: return 8;
    case DType::kComplex64: return 64;
    case DType::kComplex128: return 128;
    case DType::kUnknown:
    case DType::kString: return 0;
  }
  return 0;
}

std::uint64_t dtype_bytes(DType t, std::uint64_t count) noexcept {
  return (count * dtype_bits(t) + 7) / 8;
}

std::string_view dtype_name(DType t) noexcept {
  switch (t) {
    case DType::kUnknown: return "unknown";
    case DType::kFloat32: return "float32";
    case DType::kFloat16: return "float16";
    case DType::kBFloat16: return "bfloat16";
    case DType::kFloat64: return "float64";
    case DType::kInt4: return "int4";
    case DType::kInt8: return "int8";
    case DType::kUInt8: return "uint8";
    case DType::kInt16: return "int16";
    case DType::kUInt16: return "uint16";
    case DType::kInt32: return "int32";
    case DType::kUInt32: return "uint32";
    case DType::kInt64: return "int64";
    case DType::kUInt64: return "uint64";
    case DType::kBool: return "bool";
    case DType::kString: return "string";
    case DType::kComplex64: return "complex64";
    case DType::kComplex128: return "complex128";
  }
  return "unknown";
}

bool is_floating(DType t) noexcept {
  return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16 || t == DType::kFloat64;
}

}  // namespace infercast::ir
