// Scheduler::keep_only_after_fork: the scheduler half of green mode's fork (green/fork_child.cc).
// POSIX fork gives the child one thread, the caller. In green mode the caller is a coroutine,
// and its scheduler also homes the coroutines of the other green threads of that OS thread:
// they must vanish as real threads would, never to run in the child. Their memory stays (as a
// vanished thread's stack does in a real child), so locks they held stay held.
#include "sched/baton.h"
#include "sched/coroutine.h"
#include "sched/scheduler.h"

namespace cohook {

void Scheduler::keep_only_after_fork(Coroutine* survivor) {
  // Wake-ups queued for the others, and any yet to come through their wait lists, do nothing.
  Baton::forget_waiters_before_fork();
  ready_head_ = ready_tail_ = nullptr;
  ready_count_ = 0;
  remote_head_.store(nullptr, std::memory_order_relaxed);
  remote_wakers_.store(0, std::memory_order_relaxed);
  fresh_head_ = fresh_tail_ = nullptr;
  fresh_count_.store(0, std::memory_order_relaxed);
  ready_published_.store(0, std::memory_order_relaxed);
  timers_ = TimerHeap{};  // park timers of the others: the survivor runs, so it has none armed
  poller_.drop_waiters_after_fork();
  fd_waiters_ = 0;
  interrupts_posted_.store(false, std::memory_order_relaxed);
  thread_restart_.store(0, std::memory_order_relaxed);
  thread_no_restart_.store(0, std::memory_order_relaxed);
  stop_requested_.store(false, std::memory_order_relaxed);
  started_head_ = survivor;
  survivor->prev_started_ = survivor->next_started_ = nullptr;
  live_.store(1, std::memory_order_relaxed);
  stalled_ = stall_reported_ = false;
  busy_rounds_ = 0;
}

}  // namespace cohook
