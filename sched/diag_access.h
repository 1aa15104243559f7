// The diagnostics read scheduler and coroutine internals that nothing else should: the lists of
// a scheduler's coroutines, a coroutine's fiber and park start. One friend, here.
#pragma once

#include "sched/scheduler.h"

namespace cohook {

class DiagAccess {
 public:
  static Coroutine* first_started(const Scheduler& s) { return s.started_head_; }
  static Coroutine* next_started(const Coroutine& c) { return c.next_started_; }
  static Coroutine* first_ready(const Scheduler& s) { return s.ready_head_; }
  static Coroutine* next_ready(const Coroutine& c) { return c.next_ready_; }
  static std::int64_t parked_since_ms(const Coroutine& c) { return c.parked_since_ms_; }
  static bool idle_with_nothing_to_wake(const Scheduler& s) {
    return s.ready_count_ == 0 && s.timers_.empty() && s.fd_waiters_ == 0 &&
           !s.remote_pending() && s.fresh_count_.load(std::memory_order_acquire) == 0;
  }
};

}  // namespace cohook
