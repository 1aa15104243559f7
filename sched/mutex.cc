// cohook::Mutex: parks waiters in FIFO order and hands the lock straight to the first one on
// unlock, so a waiter is never overtaken once queued (no starvation), and the woken coroutine
// does not have to compete again. The holder is recorded for lock-cycle reports
// (sched/lock_graph.h).
#include <cstdio>
#include <cstdlib>

#include "cohook/cohook.hpp"
#include "sched/coroutine.h"
#include "sched/lock_graph.h"
#include "sched/wait_list.h"

namespace cohook {

bool Mutex::try_lock() {
  std::uint32_t expected = 0;
  if (!state_.compare_exchange_strong(expected, 1, std::memory_order_acquire)) return false;
  owner_.store(Coroutine::current(), std::memory_order_release);
  return true;
}

void Mutex::lock() {
  if (try_lock()) return;
  try_lock_until(kNoDeadline);
}

bool Mutex::try_lock_until(std::chrono::steady_clock::time_point deadline) {
  if (try_lock()) return true;
  detail::WaitNodeFor node;
  queue_lock_.lock();
  if (try_lock()) {  // released while we took the queue lock
    queue_lock_.unlock();
    return true;
  }
  detail::push_back(waiters_, node.get());
  queue_lock_.unlock();
  // Only a wait without end can be part of a deadlock.
  bool in_graph = deadline == kNoDeadline && Coroutine::current() != nullptr;
  if (in_graph) diag::note_waiting_for_lock(this, &owner_, "mutex");
  bool handed = node->baton.wait_until(deadline, "mutex");
  if (in_graph) diag::note_done_waiting_for_lock();
  if (handed) {
    owner_.store(Coroutine::current(), std::memory_order_release);
    return true;
  }
  queue_lock_.lock();
  bool still_queued = detail::remove(waiters_, node.get());
  queue_lock_.unlock();
  if (still_queued) return false;
  // Unlock popped us just as we timed out: the lock is ours, and its post is on the way.
  node->baton.await_post();
  owner_.store(Coroutine::current(), std::memory_order_release);
  return true;
}

void Mutex::unlock() {
  // Cleared first: between the hand-off and the new holder running, nobody is named.
  owner_.store(nullptr, std::memory_order_release);
  queue_lock_.lock();
  detail::WaitNode* next = detail::pop_front(waiters_);
  if (next == nullptr) state_.store(0, std::memory_order_release);
  queue_lock_.unlock();
  if (next != nullptr) next->baton.post();  // state_ stays 1: ownership moves to `next`
}

}  // namespace cohook
