// libco's per-coroutine environment: after co_set_env_list(names), setenv/getenv/unsetenv of
// those names, called inside a coroutine with hooks enabled, act on that coroutine's own copy
// (which starts empty, as in libco). Every other call goes to libc's functions, found with
// dlsym(RTLD_NEXT). These three are interposed for the whole process, so the path that does not
// apply (no list set, or not in a hooked coroutine) is one atomic load and one thread_local read.
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "compat/routine.h"

extern char** environ;

namespace cohook::libco {

// One coroutine's values, parallel to the names of the list; strdup'd, or nullptr when unset.
struct EnvValues {
  std::vector<char*> values;
};

void free_env_values(EnvValues* env) {
  if (env == nullptr) return;
  for (char* value : env->values) std::free(value);
  delete env;
}

namespace {

struct EnvList {
  std::vector<std::string> names;  // sorted, unique
};

std::atomic<const EnvList*> g_env_list{nullptr};  // set once, then never freed or changed

template <class Fn>
Fn libc_function(std::atomic<void*>& cache, const char* name) {
  void* fn = cache.load(std::memory_order_acquire);
  if (fn == nullptr) {
    fn = dlsym(RTLD_NEXT, name);
    cache.store(fn, std::memory_order_release);
  }
  return reinterpret_cast<Fn>(fn);
}

// getenv by hand, for a process where dlsym finds no libc getenv (fully static links).
char* scan_environ(const char* name) {
  std::size_t length = std::strlen(name);
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry)
    if (std::strncmp(*entry, name, length) == 0 && (*entry)[length] == '=') return *entry + length + 1;
  return nullptr;
}

// The calling coroutine's slot for `name`, or nullptr when libc's environment applies.
char** coroutine_slot(const char* name) {
  const EnvList* list = g_env_list.load(std::memory_order_acquire);
  if (list == nullptr) return nullptr;
  Coroutine* coroutine = Coroutine::current();
  if (coroutine == nullptr || !coroutine->hooks_enabled()) return nullptr;
  auto found = std::lower_bound(list->names.begin(), list->names.end(), name,
                                [](const std::string& a, const char* b) { return std::strcmp(a.c_str(), b) < 0; });
  if (found == list->names.end() || *found != name) return nullptr;
  stCoRoutine_t* self = current_coroutine_routine();
  EnvValues*& env = self->more().env;
  if (env == nullptr) {
    env = new EnvValues;
    env->values.assign(list->names.size(), nullptr);
  }
  return &env->values[static_cast<std::size_t>(found - list->names.begin())];
}

std::atomic<void*> g_libc_getenv{nullptr};
std::atomic<void*> g_libc_setenv{nullptr};
std::atomic<void*> g_libc_unsetenv{nullptr};

}  // namespace
}  // namespace cohook::libco

extern "C" {

void co_set_env_list(const char* name[], size_t cnt) {
  static std::mutex set_once;
  std::lock_guard<std::mutex> guard(set_once);
  if (cohook::libco::g_env_list.load(std::memory_order_acquire) != nullptr) return;  // first wins
  auto* list = new cohook::libco::EnvList;
  for (size_t i = 0; i < cnt; ++i)
    if (name != nullptr && name[i] != nullptr && name[i][0] != '\0' && std::strchr(name[i], '=') == nullptr)
      list->names.emplace_back(name[i]);
  std::sort(list->names.begin(), list->names.end());
  list->names.erase(std::unique(list->names.begin(), list->names.end()), list->names.end());
  cohook::libco::g_env_list.store(list, std::memory_order_release);
}

__attribute__((visibility("default"))) char* getenv(const char* name) noexcept {
  if (char** slot = cohook::libco::coroutine_slot(name)) return *slot;
  using Fn = char* (*)(const char*);
  Fn libc = cohook::libco::libc_function<Fn>(cohook::libco::g_libc_getenv, "getenv");
  return libc != nullptr ? libc(name) : cohook::libco::scan_environ(name);
}

__attribute__((visibility("default"))) int setenv(const char* name, const char* value, int overwrite) noexcept {
  if (char** slot = cohook::libco::coroutine_slot(name)) {
    if (overwrite != 0 || *slot == nullptr) {
      char* copy = strdup(value);  // value is declared non-null, as for libc's setenv
      if (copy == nullptr) return -1;  // strdup set ENOMEM
      std::free(*slot);
      *slot = copy;
    }
    return 0;
  }
  using Fn = int (*)(const char*, const char*, int);
  Fn libc = cohook::libco::libc_function<Fn>(cohook::libco::g_libc_setenv, "setenv");
  if (libc == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  return libc(name, value, overwrite);
}

__attribute__((visibility("default"))) int unsetenv(const char* name) noexcept {
  if (char** slot = cohook::libco::coroutine_slot(name)) {
    std::free(*slot);
    *slot = nullptr;
    return 0;
  }
  using Fn = int (*)(const char*);
  Fn libc = cohook::libco::libc_function<Fn>(cohook::libco::g_libc_unsetenv, "unsetenv");
  if (libc == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  return libc(name);
}

}  // extern "C"
