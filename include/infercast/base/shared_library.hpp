// A shared library opened on first use (dlopen), for dependencies that only some
// commands call: libpq (PostgreSQL stores) and XGBoost (predictor bundles). A program
// linked against them directly loads and relocates them, and everything they pull in
// (libpq alone brings Kerberos, LDAP, GnuTLS and OpenSSL), at every start: half the
// dynamic loader's work for `infercast analyze`, which calls neither.
#pragma once

#include <string>

namespace infercast::base {

class SharedLibrary {
 public:
  // Opens `soname` (e.g. "libpq.so.5"). Throws Error(kUnsupported) naming the library,
  // what needs it (`purpose`) and the loader's reason.
  SharedLibrary(std::string soname, std::string purpose);
  // Never closed: the libraries keep global state until the process exits.
  ~SharedLibrary() = default;
  SharedLibrary(const SharedLibrary&) = delete;
  SharedLibrary& operator=(const SharedLibrary&) = delete;

  // The function `name` as a pointer of type F (declare F with decltype(&name) from the
  // library's own header). Throws Error(kUnsupported) when the library lacks it.
  template <typename F>
  F function(const char* name) const {
    return reinterpret_cast<F>(address(name));
  }

 private:
  void* address(const char* name) const;

  void* handle_ = nullptr;
  std::string soname_;
  std::string purpose_;
};

}  // namespace infercast::base
