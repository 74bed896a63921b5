// File helpers shared by tests that build or corrupt model files.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <system_error>
#include <vector>

namespace infercast::testing {

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

// `size` bytes from a fixed-seed generator: garbage that is the same on every run.
inline std::string random_bytes(std::size_t size, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

// A path in the system temp folder that carries this process's id, so concurrent test
// runs (ctest -j, two checkouts) never share a file: "name.ext" -> name_<pid>.ext. What
// is there is removed when the test process exits.
inline std::filesystem::path temp_path(const std::string& name) {
  struct Registry {
    std::vector<std::filesystem::path> paths;
    ~Registry() {
      std::error_code ec;
      for (const auto& p : paths) std::filesystem::remove_all(p, ec);
    }
  };
  static Registry registry;
  const std::filesystem::path p(name);
  const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                     (p.stem().string() + "_" + std::to_string(::getpid()) + p.extension().string());
  registry.paths.push_back(path);
  return path;
}

}  // namespace infercast::testing
