// infercast's one error mechanism: expected failures (bad model files, unsupported
// inputs, unknown dimensions, I/O) are thrown as infercast::Error, which carries the
// file, the place inside it (node, tensor, field) and the reason. The CLI prints
// what() as one line and exits with code 2. Broken internal invariants use assert.
#pragma once

#include <stdexcept>
#include <string>

namespace infercast {

enum class ErrorKind {
  kInvalidArgument,  // a bad option or argument from the caller
  kIo,               // the file cannot be opened, mapped or read
  kBadModel,         // the file is not a well-formed model
  kUnsupported,      // well-formed, but uses something infercast does not handle
  kUnknownDim,       // a cost needs a dimension the model leaves symbolic
};

class Error : public std::runtime_error {
 public:
  // `where` names the node, tensor or field ("node 'conv1' input 2"); may be empty.
  Error(ErrorKind kind, std::string file, std::string where, std::string reason);

  ErrorKind kind() const noexcept { return kind_; }
  const std::string& file() const noexcept { return file_; }
  const std::string& where() const noexcept { return where_; }
  const std::string& reason() const noexcept { return reason_; }

 private:
  ErrorKind kind_;
  std::string file_;
  std::string where_;
  std::string reason_;
};

}  // namespace infercast
