// cohook::Semaphore: the Mutex pattern (sched/mutex.cc) with a count: release() hands a permit
// to the first waiter directly, so the woken party never has to compete for it again.
#include "cohook/semaphore.hpp"

#include <stdexcept>

#include "sched/time.h"
#include "sched/wait_list.h"

namespace cohook {

Semaphore::Semaphore(std::ptrdiff_t initial) : permits_(initial) {
  if (initial < 0) throw std::invalid_argument("cohook::Semaphore: the initial count must not be negative");
}

bool Semaphore::try_acquire() {
  queue_lock_.lock();
  bool got = permits_ > 0;
  if (got) --permits_;
  queue_lock_.unlock();
  return got;
}

void Semaphore::acquire() {
  try_acquire_until(kNoDeadline);
}

bool Semaphore::try_acquire_until(std::chrono::steady_clock::time_point deadline) {
  detail::WaitNodeFor node;
  queue_lock_.lock();
  // Only when nobody queues: a permit released meanwhile belongs to the first waiter.
  if (permits_ > 0 && waiters_.head == nullptr) {
    --permits_;
    queue_lock_.unlock();
    return true;
  }
  if (deadline != kNoDeadline && Clock::now() >= deadline) {
    queue_lock_.unlock();
    return false;
  }
  detail::push_back(waiters_, node.get());
  queue_lock_.unlock();
  if (node->baton.wait_until(deadline, "semaphore")) return true;  // a permit was handed to us
  queue_lock_.lock();
  bool still_queued = detail::remove(waiters_, node.get());
  queue_lock_.unlock();
  if (still_queued) return false;
  node->baton.await_post();  // release() picked us just as we timed out: the permit is ours
  return true;
}

void Semaphore::release(std::ptrdiff_t permits) {
  if (permits < 0) throw std::invalid_argument("cohook::Semaphore::release: a negative count");
  detail::WaitNode* chain = nullptr;
  detail::WaitNode** tail = &chain;
  queue_lock_.lock();
  for (; permits > 0; --permits) {
    detail::WaitNode* next = detail::pop_front(waiters_);
    if (next == nullptr) break;
    *tail = next;  // pop_front cleared next->next: chain the handed-over waiters
    tail = &next->next;
  }
  permits_ += permits;
  queue_lock_.unlock();
  detail::post_all(chain);
}

std::ptrdiff_t Semaphore::available() const {
  queue_lock_.lock();
  std::ptrdiff_t n = permits_;
  queue_lock_.unlock();
  return n;
}

}  // namespace cohook
