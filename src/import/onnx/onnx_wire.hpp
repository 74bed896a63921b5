// Reading ONNX files without copying weight payloads.
//
// strip_large_payloads() walks the protobuf wire format of a ModelProto with
// protobuf's own CodedInputStream and re-emits it with every large TensorProto
// raw_data field replaced by two external_data entries ("infercast:offset",
// "infercast:length") that locate the payload inside the original buffer. The small
// result is then parsed with onnx::ModelProto as usual, and constant tensors become
// views of the memory-mapped file. Small payloads (shape constants, scalars) stay
// inline because ONNX shape inference reads them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace infercast::import::onnx_wire {

inline constexpr const char* kOffsetKey = "infercast:offset";
inline constexpr const char* kLengthKey = "infercast:length";
// raw_data payloads larger than this are left in the file and referenced by offset.
inline constexpr std::size_t kInlineLimit = 4096;

// Throws Error(kBadModel) naming `file` and the byte offset of malformed wire data.
std::string strip_large_payloads(std::span<const std::byte> bytes, const std::string& file);

}  // namespace infercast::import::onnx_wire
