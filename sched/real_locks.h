// Real (pthread) locks held by the running code of this thread. A real lock held across a
// parking call hangs the thread: the coroutine that would release it may be queued behind the
// one that waits for it, on this very thread, and nothing else can run meanwhile.
//
// cohook cannot see real locks being taken on its own in linked mode (it interposes no pthread
// symbol there). Whoever can see them counts them here: the green layer's pthread emulation, a
// linked-mode interposer, or a program's own lock wrapper. Then every park checks the count, and
// the first coroutine that parks with a real lock held is named on stderr (once per process).
// The count is per OS thread: a coroutine that parks while holding one is reported before any
// other coroutine of the thread can park.
#pragma once

namespace cohook {

// initial-exec and constinit, as t_current_coroutine: a park reads it, and the check must cost
// no more than a TLS load and a branch.
extern constinit thread_local int t_real_locks_held __attribute__((tls_model("initial-exec")));

inline void note_real_lock_acquired() { ++t_real_locks_held; }
inline void note_real_lock_released() {
  if (t_real_locks_held > 0) --t_real_locks_held;
}

[[gnu::cold]] void report_park_with_real_lock(const char* what);

// Called by every park.
inline void check_no_real_lock_held(const char* what) {
  if (t_real_locks_held != 0) [[unlikely]]
    report_park_with_real_lock(what);
}

}  // namespace cohook
