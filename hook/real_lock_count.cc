// Counts the real pthread locks each OS thread holds, for programs linked with libcohook.a, so
// that a coroutine that parks while holding one is named (sched/real_locks.h says why it hangs).
//
// Defining pthread_mutex_lock and friends in the archive puts them in the executable, where they
// interpose libc's for the program and every library it loads. Each forwards to the next
// definition (libc's, found once with dlsym(RTLD_NEXT)) and adds one thread-local increment or
// decrement on success (sched/real_locks.h). glibc's internal names (__pthread_mutex_lock) cannot be linked to: they
// are compat-only symbol versions.
//
// Only the archive has this file (the Makefile leaves it out of libcohook.so): there, green/
// interposes the same names and counts in the calls it forwards to the real functions.
// Not in sanitizer builds: ThreadSanitizer intercepts these very names to see the program's
// locks, and a definition in the executable would hide them from it.
//
// Counted, as in green/: the mutex lock, trylock, timedlock, clocklock and unlock calls, and the
// rwlock read and write locks (plain, try, timed, clock) and unlock; that is std::mutex,
// std::recursive_mutex, std::timed_mutex and std::shared_mutex. Spin locks are not counted.
#include <dlfcn.h>
#include <pthread.h>
#include <time.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "coctx/sanitizers.h"
#include "hook/interpose.h"
#include "sched/real_locks.h"

#if !COHOOK_ASAN && !COHOOK_TSAN

namespace cohook::hook {
namespace {

[[gnu::noinline, gnu::cold]] void* look_up_next(const char* name) {
  void* fn = dlsym(RTLD_NEXT, name);
  if (fn == nullptr) {
    std::fprintf(stderr, "cohook: %s not found in libc (%s)\n", name, dlerror());
    std::abort();
  }
  return fn;
}

// libc's definition of `name`; looked up at the first call (dlsym takes none of these locks).
template <typename Fn>
[[gnu::always_inline]] inline Fn next_definition(std::atomic<Fn>& cache, const char* name) {
  Fn fn = cache.load(std::memory_order_relaxed);
  if (__builtin_expect(fn == nullptr, 0)) {
    fn = reinterpret_cast<Fn>(look_up_next(name));
    cache.store(fn, std::memory_order_relaxed);
  }
  return fn;
}

// Plain pointer types: decltype(&pthread_mutex_lock) would carry glibc's nonnull attributes.
using MutexFn = int (*)(pthread_mutex_t*);
using MutexTimedFn = int (*)(pthread_mutex_t*, const timespec*);
using MutexClockFn = int (*)(pthread_mutex_t*, clockid_t, const timespec*);
using RwlockFn = int (*)(pthread_rwlock_t*);
using RwlockTimedFn = int (*)(pthread_rwlock_t*, const timespec*);
using RwlockClockFn = int (*)(pthread_rwlock_t*, clockid_t, const timespec*);

// Calls libc's `name`, of pointer type `Fn`, with the arguments that follow.
#define COHOOK_NEXT(Fn, name, ...)                       \
  ([]() {                                                \
    static std::atomic<cohook::hook::Fn> cache{nullptr}; \
    return cohook::hook::next_definition(cache, #name);  \
  }())(__VA_ARGS__)

}  // namespace
}  // namespace cohook::hook

using cohook::count_real_lock;
using cohook::count_real_unlock;

COHOOK_INTERPOSE int pthread_mutex_lock(pthread_mutex_t* m) {
  return count_real_lock(COHOOK_NEXT(MutexFn, pthread_mutex_lock, m));
}
COHOOK_INTERPOSE int pthread_mutex_trylock(pthread_mutex_t* m) {
  return count_real_lock(COHOOK_NEXT(MutexFn, pthread_mutex_trylock, m));
}
COHOOK_INTERPOSE int pthread_mutex_timedlock(pthread_mutex_t* m, const timespec* abstime) {
  return count_real_lock(COHOOK_NEXT(MutexTimedFn, pthread_mutex_timedlock, m, abstime));
}
COHOOK_INTERPOSE int pthread_mutex_clocklock(pthread_mutex_t* m, clockid_t clock, const timespec* abstime) {
  return count_real_lock(COHOOK_NEXT(MutexClockFn, pthread_mutex_clocklock, m, clock, abstime));
}
COHOOK_INTERPOSE int pthread_mutex_unlock(pthread_mutex_t* m) {
  return count_real_unlock(COHOOK_NEXT(MutexFn, pthread_mutex_unlock, m));
}

COHOOK_INTERPOSE int pthread_rwlock_rdlock(pthread_rwlock_t* l) {
  return count_real_lock(COHOOK_NEXT(RwlockFn, pthread_rwlock_rdlock, l));
}
COHOOK_INTERPOSE int pthread_rwlock_tryrdlock(pthread_rwlock_t* l) {
  return count_real_lock(COHOOK_NEXT(RwlockFn, pthread_rwlock_tryrdlock, l));
}
COHOOK_INTERPOSE int pthread_rwlock_timedrdlock(pthread_rwlock_t* l, const timespec* abstime) {
  return count_real_lock(COHOOK_NEXT(RwlockTimedFn, pthread_rwlock_timedrdlock, l, abstime));
}
COHOOK_INTERPOSE int pthread_rwlock_clockrdlock(pthread_rwlock_t* l, clockid_t clock, const timespec* abstime) {
  return count_real_lock(COHOOK_NEXT(RwlockClockFn, pthread_rwlock_clockrdlock, l, clock, abstime));
}
COHOOK_INTERPOSE int pthread_rwlock_wrlock(pthread_rwlock_t* l) {
  return count_real_lock(COHOOK_NEXT(RwlockFn, pthread_rwlock_wrlock, l));
}
COHOOK_INTERPOSE int pthread_rwlock_trywrlock(pthread_rwlock_t* l) {
  return count_real_lock(COHOOK_NEXT(RwlockFn, pthread_rwlock_trywrlock, l));
}
COHOOK_INTERPOSE int pthread_rwlock_timedwrlock(pthread_rwlock_t* l, const timespec* abstime) {
  return count_real_lock(COHOOK_NEXT(RwlockTimedFn, pthread_rwlock_timedwrlock, l, abstime));
}
COHOOK_INTERPOSE int pthread_rwlock_clockwrlock(pthread_rwlock_t* l, clockid_t clock, const timespec* abstime) {
  return count_real_lock(COHOOK_NEXT(RwlockClockFn, pthread_rwlock_clockwrlock, l, clock, abstime));
}
COHOOK_INTERPOSE int pthread_rwlock_unlock(pthread_rwlock_t* l) {
  return count_real_unlock(COHOOK_NEXT(RwlockFn, pthread_rwlock_unlock, l));
}

#endif
