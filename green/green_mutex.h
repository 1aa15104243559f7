// The emulated mutex, kept inside the user's pthread_mutex_t bytes (no side table: a copy, a
// memset or PTHREAD_MUTEX_INITIALIZER must just work). Fields sit where glibc keeps the ones
// with the same meaning, so that an object the real functions initialised (pthread_mutex_init
// is not interposed) or left unlocked is a valid free emulated mutex:
//   __lock (0): 0 free, 1 held      __count (4): recursion depth     __owner (8): green thread id
//   __nusers (12): queue spin lock  __kind (16): glibc's type and flags   __list (24): waiters
// Mutexes glibc gives extra behaviour (robust, priority inheritance/protection, process-shared)
// stay with the real functions: their __kind flags say so.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "cohook/detail/wait_list.hpp"
#include "sched/time.h"

namespace cohook::green {

struct GreenMutex {
  std::atomic<std::uint32_t> state;
  std::uint32_t count;
  std::atomic<std::uint32_t> owner;
  detail::SpinLock queue_lock;
  std::uint8_t unused_nusers[3];
  int kind;
  int unused_spins;
  detail::WaitList waiters;
};

static_assert(sizeof(detail::SpinLock) == 1);
static_assert(sizeof(GreenMutex) <= sizeof(pthread_mutex_t), "the emulated mutex must fit in pthread_mutex_t");
static_assert(offsetof(GreenMutex, kind) == offsetof(pthread_mutex_t, __data.__kind));
static_assert(offsetof(GreenMutex, owner) == offsetof(pthread_mutex_t, __data.__owner));
static_assert(offsetof(GreenMutex, count) == offsetof(pthread_mutex_t, __data.__count));
#if defined(__x86_64__)
static_assert(sizeof(pthread_mutex_t) == 40);
#elif defined(__aarch64__)
static_assert(sizeof(pthread_mutex_t) == 48);
#endif

inline GreenMutex* as_green_mutex(pthread_mutex_t* mutex) { return reinterpret_cast<GreenMutex*>(mutex); }

// glibc __kind flags the emulation leaves to the real functions.
inline bool needs_real_mutex(const GreenMutex* m) {
  constexpr int kRobust = 16, kPrioInherit = 32, kPrioProtect = 64, kProcessShared = 128;
  return m->kind < 0 || (m->kind & (kRobust | kPrioInherit | kPrioProtect | kProcessShared)) != 0;
}

// Emulated operations for a green caller whose id is `self_id`. Return pthread error numbers.
int lock_green_mutex(GreenMutex* m, std::uint32_t self_id, TimePoint deadline);
int unlock_green_mutex(GreenMutex* m, std::uint32_t self_id);
// Releases completely (for a condition wait) and returns the recursion depth to restore.
std::uint32_t release_for_wait(GreenMutex* m);
void reacquire_after_wait(GreenMutex* m, std::uint32_t self_id, std::uint32_t depth);

}  // namespace cohook::green
