#include <cstdio>
#include <cstdlib>

#include "cohook/cohook.hpp"
#include "sched/wait_list.h"

namespace cohook {

// The count changes, and is read, under the queue lock, so the last done()'s final touch of
// the WaitGroup is that unlock: a waiter may destroy the WaitGroup as soon as wait() returns
// (the usual shape: a WaitGroup on the waiter's stack), while the done() that woke it is still
// on its way out.
void WaitGroup::add(int delta) {
  queue_lock_.lock();
  long now = count_.load(std::memory_order_relaxed) + delta;
  count_.store(now, std::memory_order_relaxed);
  if (now < 0) {
    queue_lock_.unlock();
    std::fprintf(stderr, "cohook: WaitGroup counter went negative (%ld): more done() than add()\n", now);
    std::abort();
  }
  detail::WaitNode* chain = now == 0 ? detail::take_all(waiters_) : nullptr;
  queue_lock_.unlock();
  detail::post_all(chain);
}

void WaitGroup::wait() {
  detail::WaitNodeFor node;
  queue_lock_.lock();
  if (count_.load(std::memory_order_relaxed) == 0) {
    queue_lock_.unlock();
    return;
  }
  detail::push_back(waiters_, node.get());
  queue_lock_.unlock();
  node->baton.wait("waitgroup");
}

}  // namespace cohook
