// Real (pthread) locks held by the running code of this thread. A real lock held across a
// parking call can hang the thread: the coroutine that would release it may be queued behind
// the one that waits for it, on this very thread, and nothing else can run meanwhile.
//
// Who counts them: libcohook.so's pthread interposers (green/) in the calls they forward to the
// real functions (every call outside green threads); in programs linked with libcohook.a,
// hook/real_lock_count.cc, which interposes the mutex and rwlock calls (not in sanitizer
// builds). Every park checks the count, and a coroutine that parks with a real lock held is
// named on stderr, once per coroutine (and at most kMaxRealLockReports times per process).
// The count is per OS thread and coroutines never change threads, so a lock taken by the
// scheduler's own code would be counted too: cohook holds none of its locks across a resume.
#pragma once

namespace cohook {

// initial-exec and constinit, as t_current_coroutine: a park reads it, and counting must cost no
// more than a TLS increment.
extern constinit thread_local int t_real_locks_held __attribute__((tls_model("initial-exec")));

inline constexpr int kMaxRealLockReports = 10;

// The outcome of a real lock call: 0 means the lock is now held (or, for an unlock, released).
inline int count_real_lock(int result) {
  if (result == 0) ++t_real_locks_held;
  return result;
}
inline int count_real_unlock(int result) {
  // Clamped: a lock taken before this thread's count could see it (none today) is not owed.
  if (result == 0 && t_real_locks_held > 0) --t_real_locks_held;
  return result;
}
inline void note_real_lock_acquired() { count_real_lock(0); }
inline void note_real_lock_released() { count_real_unlock(0); }

[[gnu::cold]] void report_park_with_real_lock(const char* what);

// Called by every park.
inline void check_no_real_lock_held(const char* what) {
  if (t_real_locks_held != 0) [[unlikely]]
    report_park_with_real_lock(what);
}

}  // namespace cohook
