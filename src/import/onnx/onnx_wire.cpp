#include "import/onnx/onnx_wire.hpp"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <limits>
#include <string_view>

#include "infercast/base/error.hpp"

namespace infercast::import::onnx_wire {
namespace {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;
using google::protobuf::io::CodedOutputStream;

// The message types whose fields can (transitively) hold tensors.
enum class Msg { kNone, kModel, kGraph, kNode, kAttribute, kTensor, kSparseTensor, kFunction };

// Field numbers from onnx.proto: which length-delimited fields are sub-messages we
// must descend into.
Msg child_of(Msg parent, std::uint32_t field) {
  switch (parent) {
    case Msg::kModel:
      if (field == 7) return Msg::kGraph;      // graph
      if (field == 25) return Msg::kFunction;  // functions
      return Msg::kNone;
    case Msg::kGraph:
      if (field == 1) return Msg::kNode;           // node
      if (field == 5) return Msg::kTensor;         // initializer
      if (field == 15) return Msg::kSparseTensor;  // sparse_initializer
      return Msg::kNone;
    case Msg::kFunction:
      if (field == 7) return Msg::kNode;  // node
      return Msg::kNone;
    case Msg::kNode:
      if (field == 5) return Msg::kAttribute;  // attribute
      return Msg::kNone;
    case Msg::kAttribute:
      if (field == 5 || field == 10) return Msg::kTensor;         // t, tensors
      if (field == 6 || field == 11) return Msg::kGraph;          // g, graphs
      if (field == 22 || field == 23) return Msg::kSparseTensor;  // sparse_tensor(s)
      return Msg::kNone;
    case Msg::kSparseTensor:
      if (field == 1 || field == 2) return Msg::kTensor;  // values, indices
      return Msg::kNone;
    case Msg::kTensor:
    case Msg::kNone: return Msg::kNone;
  }
  return Msg::kNone;
}

constexpr std::uint32_t kTensorRawDataField = 9;
constexpr std::uint32_t kTensorExternalDataField = 13;
constexpr int kMaxDepth = 64;

void append_varint(std::string& out, std::uint64_t value) {
  std::uint8_t buf[10];
  const std::uint8_t* end = CodedOutputStream::WriteVarint64ToArray(value, buf);
  out.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(end - buf));
}

void append_tag(std::string& out, std::uint32_t field) {
  append_varint(out, WireFormatLite::MakeTag(static_cast<int>(field), WireFormatLite::WIRETYPE_LENGTH_DELIMITED));
}

void append_length_delimited(std::string& out, std::uint32_t field, std::string_view payload) {
  append_tag(out, field);
  append_varint(out, payload.size());
  out.append(payload);
}

// A nested message's length is known only once the message is written: it is written
// in place as a five-byte varint (continuation bits on the first four bytes). Protobuf
// reads varints of any length up to ten bytes, and lengths here are below 2^31, so the
// padded form reads as the same number; the message is then written once, straight into
// the output, instead of into a string of its own copied into its parent's.
constexpr std::size_t kPaddedLength = 5;

void write_padded_length(std::string& out, std::size_t at, std::uint32_t length) {
  for (std::size_t i = 0; i < kPaddedLength; ++i) {
    const auto bits = static_cast<std::uint8_t>((length >> (7 * i)) & 0x7f);
    out[at + i] = static_cast<char>(i + 1 < kPaddedLength ? bits | 0x80 : bits);
  }
}

class Stripper {
 public:
  Stripper(const std::uint8_t* base, const std::string& file) : base_(base), file_(file) {}

  void walk(const std::uint8_t* begin, std::size_t size, Msg kind, int depth, std::string& out) {
    if (depth > kMaxDepth) fail(begin, "messages nested deeper than 64 levels");
    CodedInputStream in(begin, static_cast<int>(size));
    in.SetRecursionLimit(kMaxDepth);
    while (true) {
      const int field_start = in.CurrentPosition();
      const std::uint32_t tag = in.ReadTag();
      if (tag == 0) {
        if (static_cast<std::size_t>(in.CurrentPosition()) != size) fail(begin + field_start, "invalid field tag");
        return;
      }
      const std::uint32_t field = WireFormatLite::GetTagFieldNumber(tag);
      const auto wire_type = WireFormatLite::GetTagWireType(tag);
      const Msg child = child_of(kind, field);
      const bool raw_data = kind == Msg::kTensor && field == kTensorRawDataField;
      if (wire_type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED && (child != Msg::kNone || raw_data)) {
        std::uint32_t length = 0;
        if (!in.ReadVarint32(&length)) fail(begin + field_start, "truncated length");
        const int payload_at = in.CurrentPosition();
        if (length > size - static_cast<std::size_t>(payload_at)) {
          fail(begin + field_start, "field " + std::to_string(field) + " runs past the end of its message");
        }
        const std::uint8_t* payload = begin + payload_at;
        if (raw_data) {
          if (length > kInlineLimit) {
            append_entry(out, kOffsetKey, static_cast<std::uint64_t>(payload - base_));
            append_entry(out, kLengthKey, length);
          } else {
            out.append(reinterpret_cast<const char*>(begin + field_start),
                       static_cast<std::size_t>(payload_at + static_cast<int>(length) - field_start));
          }
        } else {
          append_tag(out, field);
          const std::size_t at = out.size();
          out.append(kPaddedLength, '\0');
          walk(payload, length, child, depth + 1, out);
          write_padded_length(out, at, static_cast<std::uint32_t>(out.size() - at - kPaddedLength));
        }
        if (!in.Skip(static_cast<int>(length))) fail(begin + field_start, "truncated field");
        continue;
      }
      if (!WireFormatLite::SkipField(&in, tag)) {
        fail(begin + field_start, "malformed field " + std::to_string(field));
      }
      out.append(reinterpret_cast<const char*>(begin + field_start),
                 static_cast<std::size_t>(in.CurrentPosition() - field_start));
    }
  }

 private:
  // One external_data entry (onnx.StringStringEntryProto: key = 1, value = 2).
  void append_entry(std::string& out, const char* key, std::uint64_t value) {
    const std::string number = std::to_string(value);
    entry_.clear();
    append_length_delimited(entry_, 1, key);
    append_length_delimited(entry_, 2, number);
    append_length_delimited(out, kTensorExternalDataField, entry_);
  }

  [[noreturn]] void fail(const std::uint8_t* at, const std::string& reason) const {
    throw Error(ErrorKind::kBadModel, file_, "byte " + std::to_string(at - base_),
                "not a valid ONNX protobuf: " + reason);
  }

  const std::uint8_t* base_;
  const std::string& file_;
  std::string entry_;  // scratch for append_entry
};

}  // namespace

std::string strip_large_payloads(std::span<const std::byte> bytes, const std::string& file) {
  if (bytes.size() >= static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw Error(ErrorKind::kUnsupported, file, "",
                "ONNX protobuf files are limited to 2 GiB; larger models must use external data");
  }
  const auto* base = reinterpret_cast<const std::uint8_t*>(bytes.data());
  std::string out;
  Stripper(base, file).walk(base, bytes.size(), Msg::kModel, 0, out);
  return out;
}

}  // namespace infercast::import::onnx_wire
