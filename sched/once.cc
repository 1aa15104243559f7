// cohook::Once: the first caller runs the function; later ones park until it is done. A failed
// run puts the Once back to unused and wakes every waiter: each tries again, one wins.
#include "cohook/once.hpp"

#include "sched/wait_list.h"

namespace cohook {

bool Once::begin() {
  for (;;) {
    detail::WaitNodeFor node;
    queue_lock_.lock();
    int state = state_.load(std::memory_order_acquire);
    if (state == kDone) {
      queue_lock_.unlock();
      return false;
    }
    if (state == kIdle) {
      state_.store(kRunning, std::memory_order_relaxed);
      queue_lock_.unlock();
      return true;
    }
    detail::push_back(waiters_, node.get());
    queue_lock_.unlock();
    node->baton.wait("once");
  }
}

void Once::finish(bool succeeded) {
  queue_lock_.lock();
  state_.store(succeeded ? kDone : kIdle, std::memory_order_release);
  detail::WaitNode* chain = detail::take_all(waiters_);
  queue_lock_.unlock();
  detail::post_all(chain);
}

}  // namespace cohook
