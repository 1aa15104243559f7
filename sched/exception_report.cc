#include "sched/exception_report.h"

#include <cxxabi.h>

#include <cstdio>
#include <cstdlib>
#include <typeinfo>

#include "cohook/future.hpp"

namespace cohook {
namespace {

std::string demangle(const char* mangled) {
  int status = 0;
  char* plain = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  if (status != 0 || plain == nullptr) return mangled;
  std::string name(plain);
  std::free(plain);
  return name;
}

}  // namespace

std::string describe_current_exception() {
  std::type_info* type = abi::__cxa_current_exception_type();
  std::string name = type != nullptr ? demangle(type->name()) : "unknown type";
  try {
    throw;
  } catch (const std::exception& error) {
    return name + ": " + error.what();
  } catch (...) {
    return name + " (not a std::exception)";
  }
}

std::string describe_exception(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (...) {
    return describe_current_exception();
  }
}

namespace detail {

void terminate_unjoined(std::uint64_t coroutine_id, const std::exception_ptr& error) {
  std::fprintf(stderr, "cohook: coroutine #%llu ended with an exception that nobody joined: %s\n",
               static_cast<unsigned long long>(coroutine_id), describe_exception(error).c_str());
  std::terminate();
}

}  // namespace detail
}  // namespace cohook
