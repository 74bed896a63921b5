#include "infercast/base/error.hpp"

namespace infercast {
namespace {

std::string format_message(const std::string& file, const std::string& where, const std::string& reason) {
  std::string message;
  if (!file.empty()) message += file + ": ";
  if (!where.empty()) message += where + ": ";
  message += reason;
  // One line, always: reasons quoting model strings must not break the CLI's contract.
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return message;
}

}  // namespace

Error::Error(ErrorKind kind, std::string file, std::string where, std::string reason)
    : std::runtime_error(format_message(file, where, reason)),
      kind_(kind),
      file_(std::move(file)),
      where_(std::move(where)),
      reason_(std::move(reason)) {}

}  // namespace infercast
