// How cohook names an exception in its reports: the demangled type ("std::runtime_error", not
// "St13runtime_error") and, for a std::exception, what().
#pragma once

#include <exception>
#include <string>

namespace cohook {

// "std::runtime_error: boom", or "int" for an exception that is not a std::exception.
std::string describe_exception(const std::exception_ptr& error);
// The exception being handled (inside a catch block).
std::string describe_current_exception();

}  // namespace cohook
