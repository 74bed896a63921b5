#include "wire.hpp"

#include <array>

#include "infercast/base/error.hpp"

namespace infercast::runtime::wire {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> decode_table() {
  std::array<std::int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::int8_t>(i);
  return t;
}
constexpr auto kDecode = decode_table();

}  // namespace

std::string base64_encode(const std::vector<std::byte>& bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const auto v = (std::to_integer<std::uint32_t>(bytes[i]) << 16) |
                   (std::to_integer<std::uint32_t>(bytes[i + 1]) << 8) | std::to_integer<std::uint32_t>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t v = std::to_integer<std::uint32_t>(bytes[i]) << 16;
    if (rest == 2) v |= std::to_integer<std::uint32_t>(bytes[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::vector<std::byte>> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::size_t pad = 0;
  if (!text.empty() && text.back() == '=') ++pad;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++pad;
  std::vector<std::byte> out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    std::uint32_t v = 0;
    const bool last = i + 4 == text.size();
    for (std::size_t j = 0; j < 4; ++j) {
      const char c = text[i + j];
      std::int8_t d;
      if (c == '=' && last && j >= 4 - pad) {
        d = 0;
      } else {
        d = kDecode[static_cast<unsigned char>(c)];
        if (d < 0) return std::nullopt;
      }
      v = (v << 6) | static_cast<std::uint32_t>(d);
    }
    const std::size_t keep = last ? 3 - pad : 3;
    for (std::size_t j = 0; j < keep; ++j) out.push_back(static_cast<std::byte>((v >> (16 - 8 * j)) & 0xff));
  }
  return out;
}

std::optional<ir::DType> dtype_from_name(std::string_view name) {
  for (int i = 0; i <= static_cast<int>(ir::DType::kComplex128); ++i) {
    const auto t = static_cast<ir::DType>(i);
    if (t != ir::DType::kUnknown && ir::dtype_name(t) == name) return t;
  }
  return std::nullopt;
}

nlohmann::json tensor_to_json(const HostTensor& tensor) {
  return {{"dtype", std::string(ir::dtype_name(tensor.dtype))},
          {"dims", tensor.dims},
          {"data_b64", base64_encode(tensor.data)}};
}

HostTensor tensor_from_json(const std::string& name, const nlohmann::json& value, const std::string& where) {
  const std::string at = where + " tensor '" + name + "'";
  if (!value.is_object() || !value.contains("dtype") || !value["dtype"].is_string() || !value.contains("dims") ||
      !value["dims"].is_array() || !value.contains("data_b64") || !value["data_b64"].is_string()) {
    throw Error(ErrorKind::kIo, "", at, "runner sent a tensor without dtype, dims and data_b64");
  }
  HostTensor t;
  t.name = name;
  const auto dtype = dtype_from_name(value["dtype"].get<std::string>());
  if (!dtype) throw Error(ErrorKind::kIo, "", at, "unknown dtype '" + value["dtype"].get<std::string>() + "'");
  t.dtype = *dtype;
  for (const auto& d : value["dims"]) {
    if (!d.is_number_integer() || d.get<std::int64_t>() < 0) throw Error(ErrorKind::kIo, "", at, "bad dims");
    t.dims.push_back(d.get<std::int64_t>());
  }
  auto bytes = base64_decode(value["data_b64"].get<std::string>());
  if (!bytes) throw Error(ErrorKind::kIo, "", at, "data_b64 is not valid base64");
  t.data = std::move(*bytes);
  if (ir::dtype_bytes(t.dtype, t.numel()) != t.data.size()) {
    throw Error(ErrorKind::kIo, "", at,
                std::to_string(t.data.size()) + " bytes for " + std::to_string(t.numel()) + " " +
                    std::string(ir::dtype_name(t.dtype)) + " elements");
  }
  return t;
}

}  // namespace infercast::runtime::wire
