// base::SharedLibrary (include/infercast/base/shared_library.hpp), and what it is for:
// the CLI starts without loading libpq or XGBoost, which it opens only when a command
// needs them.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "infercast/base/error.hpp"
#include "infercast/base/shared_library.hpp"

namespace infercast::base {
namespace {

TEST(SharedLibrary, ResolvesAFunctionOfALoadedLibrary) {
  const SharedLibrary libm("libm.so.6", "this test");
  const auto cosine = libm.function<double (*)(double)>("cos");
  ASSERT_NE(cosine, nullptr);
  EXPECT_DOUBLE_EQ(cosine(0.5), std::cos(0.5));
}

TEST(SharedLibrary, MissingLibraryOrFunctionIsAnErrorNamingIt) {
  try {
    const SharedLibrary missing("libinfercast-no-such-library.so.0", "this test");
    FAIL() << "opened a library that does not exist";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("libinfercast-no-such-library.so.0"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("this test"), std::string::npos) << e.what();
  }
  const SharedLibrary libm("libm.so.6", "this test");
  try {
    (void)libm.function<void (*)()>("infercast_no_such_function");
    FAIL() << "resolved a function that does not exist";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("infercast_no_such_function"), std::string::npos) << e.what();
  }
}

// The dynamic loader's own list of the files it opens for `infercast --version`.
TEST(SharedLibrary, CliStartsWithoutLibpqOrXgboost) {
  const std::string command = std::string("LD_DEBUG=files ") + INFERCAST_CLI + " --version 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buf[4096];
  while (const std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  ASSERT_EQ(::pclose(pipe), 0) << out;
  ASSERT_NE(out.find("libonnx"), std::string::npos) << "LD_DEBUG listed no files:\n" << out;
  EXPECT_EQ(out.find("libpq"), std::string::npos) << out;
  EXPECT_EQ(out.find("libxgboost"), std::string::npos) << out;
}

}  // namespace
}  // namespace infercast::base
