// cohook::Barrier: the last party to arrive wakes the others and opens the next phase. Each
// waiter has its own node, so a fast party that re-arrives in the next phase cannot be confused
// with the phase before.
#include "cohook/barrier.hpp"

#include <stdexcept>

#include "sched/wait_list.h"

namespace cohook {

Barrier::Barrier(std::ptrdiff_t parties) : parties_(parties) {
  if (parties < 1) throw std::invalid_argument("cohook::Barrier: the number of parties must be at least 1");
}

bool Barrier::arrive_and_wait() {
  detail::WaitNodeFor node;
  queue_lock_.lock();
  if (++arrived_ == parties_) {
    arrived_ = 0;
    detail::WaitNode* chain = detail::take_all(waiters_);
    queue_lock_.unlock();
    detail::post_all(chain);
    return true;
  }
  detail::push_back(waiters_, node.get());
  queue_lock_.unlock();
  node->baton.wait("barrier");
  return false;
}

}  // namespace cohook
