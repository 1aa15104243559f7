// Real (pthread) locks held by coroutines. A real lock held across a parking call can hang the
// thread: the coroutine that would release it may be queued behind the one that waits for it,
// on this very thread, and nothing else can run meanwhile.
//
// Who counts them: libcohook.so's pthread interposers (green/) in the calls they forward to the
// real functions (every call outside green threads); in programs linked with libcohook.a,
// hook/real_lock_count.cc, which interposes the same names (not in sanitizer builds). A lock
// taken or released while a coroutine runs counts to that coroutine; outside coroutines nothing
// is counted. Every park checks the parking coroutine's count, and a coroutine that parks with a
// real lock held is named on stderr, once per coroutine (at most kMaxRealLockReports times per
// process).
#pragma once

#include "sched/coroutine.h"

namespace cohook {

inline constexpr int kMaxRealLockReports = 10;

// The outcome of a real lock call: 0 means the lock is now held (or, for an unlock, released).
// A TLS load, a branch and an add: the price of every real lock and unlock in the process.
inline int count_real_lock(int result) {
  if (result == 0) {
    if (Coroutine* self = t_current_coroutine) self->count_real_locks(1);
  }
  return result;
}
inline int count_real_unlock(int result) {
  if (result == 0) {
    if (Coroutine* self = t_current_coroutine) self->count_real_locks(-1);
  }
  return result;
}

[[gnu::cold]] void report_park_with_real_lock(Coroutine* self, const char* what);

// Called by every park, by the parking coroutine.
inline void check_no_real_lock_held(const char* what) {
  Coroutine* self = t_current_coroutine;
  if (self != nullptr && self->real_locks_held() != 0) [[unlikely]]
    report_park_with_real_lock(self, what);
}

}  // namespace cohook
