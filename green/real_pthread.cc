#include "green/real_pthread.h"

#include <dlfcn.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace cohook::green {

constinit RealPthread real_pthread;

void* find_real_symbol(const char* name, const char* version) {
  void* found = version != nullptr ? ::dlvsym(RTLD_NEXT, name, version) : ::dlsym(RTLD_NEXT, name);
  if (found == nullptr && version != nullptr) found = ::dlsym(RTLD_NEXT, name);
  if (found == nullptr) {
    char message[160];
    int n = std::snprintf(message, sizeof message, "cohook: cannot find the C library's %s\n", name);
    // Raw write(2): the hooked write may be what is being resolved.
    (void)!::syscall(SYS_write, STDERR_FILENO, message, n > 0 ? static_cast<std::size_t>(n) : 0);
    std::abort();
  }
  return found;
}

}  // namespace cohook::green
