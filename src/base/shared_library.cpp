#include "infercast/base/shared_library.hpp"

#include <dlfcn.h>

#include "infercast/base/error.hpp"

namespace infercast::base {

SharedLibrary::SharedLibrary(std::string soname, std::string purpose)
    : soname_(std::move(soname)), purpose_(std::move(purpose)) {
  handle_ = ::dlopen(soname_.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle_ == nullptr) {
    const char* why = ::dlerror();
    throw Error(ErrorKind::kUnsupported, "", soname_,
                "cannot load it (" + purpose_ + " need it): " + std::string(why ? why : "unknown reason"));
  }
}

void* SharedLibrary::address(const char* name) const {
  ::dlerror();
  void* symbol = ::dlsym(handle_, name);
  if (symbol == nullptr) {
    throw Error(ErrorKind::kUnsupported, "", soname_,
                std::string("has no function '") + name + "' (" + purpose_ + " need it)");
  }
  return symbol;
}

}  // namespace infercast::base
