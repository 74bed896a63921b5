// A read-only memory mapping of a whole file. Model weights are views into it:
// analysis never copies weight payloads, and untouched pages are never read.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>

namespace infercast::base {

class MappedFile {
 public:
  // Maps `path`. Throws Error(kIo) when it cannot be opened, is not a regular file
  // or is empty; the message names the path.
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
  std::size_t size() const noexcept { return size_; }
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

// True when `candidate`, after resolving symlinks, `.` and `..`, lies inside
// directory `root`. Used to keep model-referenced files inside the model's folder.
bool is_inside(const std::filesystem::path& root, const std::filesystem::path& candidate);

}  // namespace infercast::base
