// One CSV field as RFC 4180 writes it: quoted (with " doubled) only when it holds a
// comma, a quote or a line break. Every CSV writer in the library uses this.
#pragma once

#include <string>

namespace infercast {

inline std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace infercast
