// The real pthread, semaphore and exit functions, for callers green mode does not emulate for:
// cohook's own threads (schedulers, the offload pool), threads that existed before green mode
// started, and every caller when green mode is off. Found with dlsym(RTLD_NEXT) on first use,
// like hook/real_functions.h, through a constant-initialised table usable from any constructor.
#pragma once

#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <time.h>

#include <atomic>
#include <cstdlib>
#include <utility>

namespace cohook::green {

// A libc function looked up by name on first use. There is no fallback: without the real
// function the program cannot go on, so a failed lookup is reported and the process aborts.
template <class Pointer>
class RealSymbol {
 public:
  constexpr explicit RealSymbol(const char* name) : name_(name) {}
  RealSymbol(const RealSymbol&) = delete;
  RealSymbol& operator=(const RealSymbol&) = delete;

  Pointer get() {
    Pointer p = pointer_.load(std::memory_order_acquire);
    if (p != nullptr) [[likely]] return p;
    return resolve();
  }
  template <class... Args>
  auto operator()(Args&&... args) {
    return get()(std::forward<Args>(args)...);
  }

 private:
  Pointer resolve();
  const char* const name_;
  std::atomic<Pointer> pointer_{nullptr};
};

// dlsym(RTLD_NEXT, name) (or the given version with dlvsym); aborts with a message if missing.
void* find_real_symbol(const char* name, const char* version = nullptr);

template <class Pointer>
Pointer RealSymbol<Pointer>::resolve() {
  auto p = reinterpret_cast<Pointer>(find_real_symbol(name_));
  pointer_.store(p, std::memory_order_release);
  return p;
}

// decltype(&::name) carries glibc's nonnull attributes, which a template argument drops (and
// GCC says so); dropping them is harmless here.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#define COHOOK_REAL(name) RealSymbol<decltype(&::name)> name{#name};

struct RealPthread {
  COHOOK_REAL(pthread_create)
  COHOOK_REAL(pthread_join)
  COHOOK_REAL(pthread_tryjoin_np)
  COHOOK_REAL(pthread_timedjoin_np)
  COHOOK_REAL(pthread_clockjoin_np)
  COHOOK_REAL(pthread_detach)
  COHOOK_REAL(pthread_self)
  COHOOK_REAL(pthread_equal)
  COHOOK_REAL(pthread_once)
  COHOOK_REAL(pthread_key_create)
  COHOOK_REAL(pthread_key_delete)
  COHOOK_REAL(pthread_getspecific)
  COHOOK_REAL(pthread_setspecific)
  COHOOK_REAL(pthread_getattr_np)
  COHOOK_REAL(pthread_setname_np)
  COHOOK_REAL(pthread_getname_np)
  COHOOK_REAL(pthread_cancel)
  COHOOK_REAL(pthread_kill)
  COHOOK_REAL(pthread_sigqueue)
  COHOOK_REAL(pthread_setschedparam)
  COHOOK_REAL(pthread_getschedparam)
  COHOOK_REAL(pthread_setschedprio)
  COHOOK_REAL(pthread_setaffinity_np)
  COHOOK_REAL(pthread_getaffinity_np)
  COHOOK_REAL(pthread_getcpuclockid)
  COHOOK_REAL(pthread_mutex_init)
  COHOOK_REAL(pthread_mutex_destroy)
  COHOOK_REAL(pthread_mutex_lock)
  COHOOK_REAL(pthread_mutex_trylock)
  COHOOK_REAL(pthread_mutex_timedlock)
  COHOOK_REAL(pthread_mutex_clocklock)
  COHOOK_REAL(pthread_mutex_unlock)
  COHOOK_REAL(pthread_cond_init)
  COHOOK_REAL(pthread_cond_destroy)
  COHOOK_REAL(pthread_cond_wait)
  COHOOK_REAL(pthread_cond_timedwait)
  COHOOK_REAL(pthread_cond_clockwait)
  COHOOK_REAL(pthread_cond_signal)
  COHOOK_REAL(pthread_cond_broadcast)
  COHOOK_REAL(pthread_rwlock_init)
  COHOOK_REAL(pthread_rwlock_destroy)
  COHOOK_REAL(pthread_rwlock_rdlock)
  COHOOK_REAL(pthread_rwlock_tryrdlock)
  COHOOK_REAL(pthread_rwlock_timedrdlock)
  COHOOK_REAL(pthread_rwlock_clockrdlock)
  COHOOK_REAL(pthread_rwlock_wrlock)
  COHOOK_REAL(pthread_rwlock_trywrlock)
  COHOOK_REAL(pthread_rwlock_timedwrlock)
  COHOOK_REAL(pthread_rwlock_clockwrlock)
  COHOOK_REAL(pthread_rwlock_unlock)
  COHOOK_REAL(pthread_barrier_init)
  COHOOK_REAL(pthread_barrier_destroy)
  COHOOK_REAL(pthread_barrier_wait)
  COHOOK_REAL(pthread_spin_init)
  COHOOK_REAL(pthread_spin_destroy)
  COHOOK_REAL(pthread_spin_lock)
  COHOOK_REAL(pthread_spin_trylock)
  COHOOK_REAL(pthread_spin_unlock)
  COHOOK_REAL(sem_init)
  COHOOK_REAL(sem_destroy)
  COHOOK_REAL(sem_wait)
  COHOOK_REAL(sem_trywait)
  COHOOK_REAL(sem_timedwait)
  COHOOK_REAL(sem_clockwait)
  COHOOK_REAL(sem_post)
  COHOOK_REAL(sem_getvalue)
  COHOOK_REAL(sched_yield)
  COHOOK_REAL(exit)
};

#undef COHOOK_REAL
#pragma GCC diagnostic pop

extern constinit RealPthread real_pthread;

}  // namespace cohook::green
