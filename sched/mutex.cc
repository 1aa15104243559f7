// cohook::Mutex: parks waiters in FIFO order and hands the lock straight to the first one on
// unlock, so a waiter is never overtaken once queued (no starvation), and the woken coroutine
// does not have to compete again.
//
// The lock, the queue's spin lock and "somebody is queued" share one word. unlock() then ends
// with a single atomic store (or CAS) and never touches the mutex after it: POSIX lets the next
// owner destroy a mutex as soon as it has unlocked it, which may be before our unlock() returns.
// Invariant: kHasWaiters is set, under kQueueLocked, exactly when the queue is non-empty, and
// only while kHeld is set (ownership passes to the first waiter, never through "free").
// The holder is recorded in owner_ for lock-cycle reports (sched/lock_graph.h).
#include "cohook/cohook.hpp"
#include "sched/coroutine.h"
#include "sched/lock_graph.h"
#include "sched/runtime_state.h"
#include "sched/scheduler.h"
#include "sched/spin_wait.h"
#include "sched/wait_list.h"

namespace cohook {
namespace {

constexpr std::uint32_t kHeld = 1;
constexpr std::uint32_t kQueueLocked = 2;
constexpr std::uint32_t kHasWaiters = 4;
constexpr int kLockSpins = 100;

// Takes the queue bit; returns the word as it was (without the bit). While we hold the bit,
// nobody else changes the word: every other transition is a CAS that expects it clear.
std::uint32_t lock_queue(std::atomic<std::uint32_t>& state) {
  int spins = 0;
  std::uint32_t s = state.load(std::memory_order_relaxed);
  for (;;) {
    if ((s & kQueueLocked) == 0 &&
        state.compare_exchange_weak(s, s | kQueueLocked, std::memory_order_acquire, std::memory_order_relaxed))
      return s;
    spin_then_yield(spins);
    s = state.load(std::memory_order_relaxed);
  }
}

// Whether the holder may be running on another thread right now, so that a short spin can see
// it unlock: true on a plain thread and in a runtime of several threads. On a lone scheduler
// thread the holder is a parked coroutine of this very thread, and spinning cannot help.
bool holder_may_run_elsewhere() {
  if (Coroutine::current() == nullptr) return true;
  Scheduler* here = Scheduler::current();
  return here != nullptr && here->runtime() != nullptr && here->runtime()->schedulers.size() > 1;
}

}  // namespace

bool Mutex::try_lock() {
  std::uint32_t expected = 0;
  if (!state_.compare_exchange_strong(expected, kHeld, std::memory_order_acquire, std::memory_order_relaxed))
    return false;
  owner_.store(Coroutine::current(), std::memory_order_release);
  return true;
}

void Mutex::lock() {
  if (try_lock()) return;
  try_lock_until(kNoDeadline);
}


bool Mutex::try_lock_until(std::chrono::steady_clock::time_point deadline) {
  if (try_lock()) return true;
  // Critical sections are usually short: a holder on another thread often unlocks within a
  // few hundred nanoseconds, far sooner than a park and a cross-thread wake-up would take.
  if (holder_may_run_elsewhere()) {
    for (int i = 0; i < kLockSpins; ++i) {
      spin_pause();
      if (state_.load(std::memory_order_relaxed) == 0 && try_lock()) return true;
    }
  }
  detail::WaitNodeFor node;
  std::uint32_t s = lock_queue(state_);
  if ((s & kHeld) == 0) {  // released while we took the queue bit
    state_.store(s | kHeld, std::memory_order_release);
    owner_.store(Coroutine::current(), std::memory_order_release);
    return true;
  }
  detail::push_back(waiters_, node.get());
  state_.store(s | kHasWaiters, std::memory_order_release);
  // Only a wait without end can be part of a deadlock.
  bool in_graph = deadline == kNoDeadline && Coroutine::current() != nullptr;
  if (in_graph) diag::note_waiting_for_lock(this, &owner_, "mutex");
  bool handed = node->baton.wait_until(deadline, "mutex");
  if (in_graph) diag::note_done_waiting_for_lock();
  if (handed) {
    owner_.store(Coroutine::current(), std::memory_order_release);
    return true;
  }
  s = lock_queue(state_);
  bool still_queued = detail::remove(waiters_, node.get());
  state_.store(waiters_.head != nullptr ? s : s & ~kHasWaiters, std::memory_order_release);
  if (still_queued) return false;
  // Unlock popped us just as we timed out: the lock is ours, and its post is on the way.
  node->baton.await_post();
  owner_.store(Coroutine::current(), std::memory_order_release);
  return true;
}

void Mutex::unlock() {
  // Cleared first: between the hand-off and the new holder running, nobody is named.
  owner_.store(nullptr, std::memory_order_release);
  std::uint32_t expected = kHeld;
  if (state_.compare_exchange_strong(expected, 0, std::memory_order_release, std::memory_order_relaxed)) return;
  std::uint32_t s = lock_queue(state_);
  detail::WaitNode* next = detail::pop_front(waiters_);
  if (next == nullptr) {
    state_.store(0, std::memory_order_release);  // the queue was being edited, not waited on
    return;
  }
  // kHeld stays: ownership moves to `next`. The store is our last touch of the mutex.
  state_.store(waiters_.head != nullptr ? s : s & ~kHasWaiters, std::memory_order_release);
  next->baton.post();
}

}  // namespace cohook
