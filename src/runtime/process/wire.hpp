// Tensors on the runner protocol's wire: {"dtype", "dims", "data_b64"} with the
// element bytes little-endian, base64-encoded (RFC 4648, padded).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "infercast/runtime/runtime.hpp"

namespace infercast::runtime::wire {

std::string base64_encode(const std::vector<std::byte>& bytes);
// nullopt on characters outside the alphabet or a bad length/padding.
std::optional<std::vector<std::byte>> base64_decode(std::string_view text);

// The protocol's dtype names are infercast's (ir::dtype_name).
std::optional<ir::DType> dtype_from_name(std::string_view name);

nlohmann::json tensor_to_json(const HostTensor& tensor);
// Throws Error(kIo) naming `where` when the object is malformed or its byte count
// does not match dtype and dims.
HostTensor tensor_from_json(const std::string& name, const nlohmann::json& value, const std::string& where);

}  // namespace infercast::runtime::wire
