#include <cstdio>
#include <cstdlib>

#include "cohook/cohook.hpp"
#include "sched/wait_list.h"

namespace cohook {

void WaitGroup::add(int delta) {
  long now = count_.fetch_add(delta, std::memory_order_acq_rel) + delta;
  if (now < 0) {
    std::fprintf(stderr, "cohook: WaitGroup counter went negative (%ld): more done() than add()\n", now);
    std::abort();
  }
  if (now != 0) return;
  queue_lock_.lock();
  detail::WaitNode* chain = detail::take_all(waiters_);
  queue_lock_.unlock();
  detail::post_all(chain);
}

void WaitGroup::wait() {
  if (count_.load(std::memory_order_acquire) == 0) return;
  detail::WaitNodeFor node;
  queue_lock_.lock();
  // Checked again under the queue lock: add() reaching zero takes this lock after the count
  // changes, so either we see zero here or it sees our node.
  if (count_.load(std::memory_order_acquire) == 0) {
    queue_lock_.unlock();
    return;
  }
  detail::push_back(waiters_, node.get());
  queue_lock_.unlock();
  node->baton.wait("waitgroup");
}

}  // namespace cohook
