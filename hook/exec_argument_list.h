// execl, execlp and execle take their arguments as a list; an interposer passes them on to the
// array form. The array is built on the caller's frame, as glibc builds it (a variable-length
// array: exec may not allocate, it can run in a vfork child).
#pragma once

#include <stdarg.h>

namespace cohook::hook {

// argv from `arg` and the list after it up to its null; execle's envp follows that null (pass
// envp_follows). Returns run(argv, envp), envp being null for execl and execlp.
template <class Run>
int exec_with_list(const char* arg, va_list* arguments, bool envp_follows, Run run) {
  va_list copy;
  va_copy(copy, *arguments);
  int count = 0;
  while (va_arg(copy, char*) != nullptr) ++count;
  va_end(copy);
  char* argv[count + 2];
  argv[0] = const_cast<char*>(arg);
  for (int i = 1; i <= count + 1; ++i) argv[i] = va_arg(*arguments, char*);
  char** envp = envp_follows ? va_arg(*arguments, char**) : nullptr;
  return run(argv, envp);
}

}  // namespace cohook::hook
