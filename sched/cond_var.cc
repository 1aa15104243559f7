#include "cohook/cohook.hpp"
#include "sched/wait_list.h"

namespace cohook {

void CondVar::wait(std::unique_lock<Mutex>& lock) { wait_until(lock, kNoDeadline); }

std::cv_status CondVar::wait_until(std::unique_lock<Mutex>& lock, std::chrono::steady_clock::time_point deadline) {
  detail::WaitNodeFor node;
  queue_lock_.lock();
  detail::push_back(waiters_, node.get());
  queue_lock_.unlock();
  // Queued before the mutex is released, so a notify issued after our caller's check of its
  // condition (under the mutex) cannot be missed.
  lock.unlock();
  std::cv_status status = std::cv_status::no_timeout;
  if (!node->baton.wait_until(deadline, "condvar")) {
    queue_lock_.lock();
    bool still_queued = detail::remove(waiters_, node.get());
    queue_lock_.unlock();
    if (still_queued) status = std::cv_status::timeout;
    else node->baton.await_post();  // a notify picked us as we timed out: it counts as a wake-up
  }
  lock.lock();
  return status;
}

void CondVar::notify_one() {
  queue_lock_.lock();
  detail::WaitNode* node = detail::pop_front(waiters_);
  queue_lock_.unlock();
  if (node != nullptr) node->baton.post();
}

void CondVar::notify_all() {
  queue_lock_.lock();
  detail::WaitNode* chain = detail::take_all(waiters_);
  queue_lock_.unlock();
  detail::post_all(chain);
}

}  // namespace cohook
