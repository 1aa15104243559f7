// Baton: a one-shot wake-up. One party waits, another posts once, from any thread. Waiting
// parks the calling coroutine, or blocks the calling OS thread (futex) outside coroutines, so
// every sync primitive built on it works for both. Not reusable after a wait returns.
//
// A coroutine whose scheduler has nothing else to run, while cross-thread hand-offs are under
// way, first spins on the baton for up to COHOOK_SPIN_US (Scheduler::spin_for_post): a post
// from another thread that lands meanwhile costs one cache-line transfer each way, instead of
// a remote-queue push, a scheduler round and two context switches.
#pragma once

#include <atomic>
#include <cstdint>

#include "sched/time.h"

namespace cohook {

class Coroutine;

class Baton {
 public:
  Baton() = default;
  Baton(const Baton&) = delete;
  Baton& operator=(const Baton&) = delete;

  // `what` names the wait in dumps ("mutex", "join").
  void wait(const char* what = "baton") { wait_until(kNoDeadline, what); }
  // False if the deadline passed first.
  bool wait_until(TimePoint deadline, const char* what = "baton");
  void post();
  // After a timed-out wait whose owner learnt (from its own queue) that a post is under way:
  // returns once that post() has finished touching this baton, so the baton may be destroyed.
  void await_post();

  // Forked children (green mode): every waiter that existed at the fork belonged to a thread
  // that did not survive it. After forget_waiters_before_fork() in the child, those batons say
  // so, post() to them does nothing (their coroutine must never run in the child), and wait
  // lists skip them, so a mutex or a semaphore count is never handed to a thread that is gone.
  bool waiter_vanished() const {
    return generation_ != s_generation.load(std::memory_order_relaxed);
  }
  static void forget_waiters_before_fork() { s_generation.fetch_add(1, std::memory_order_relaxed); }

 private:
  // kSpinning: a coroutine spins on state_ (a post is only recorded, as for kIdle); it moves on
  // to kWaitingCoroutine if the spin ends unposted.
  enum : std::uint32_t { kIdle, kWaitingCoroutine, kWaitingThread, kPosted, kTimedOut, kSpinning };

  bool wait_thread(TimePoint deadline);

  std::atomic<std::uint32_t> state_{kIdle};   // also the futex word
  std::atomic<bool> post_done_{false};
  std::atomic<Coroutine*> coroutine_{nullptr};
  std::atomic<std::uint64_t> ticket_{0};
  std::uint32_t generation_ = s_generation.load(std::memory_order_relaxed);  // a baton serves one wait
  static constinit std::atomic<std::uint32_t> s_generation;
};

}  // namespace cohook
