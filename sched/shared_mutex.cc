// cohook::SharedMutex. Ownership is handed over on unlock, as Mutex does: a woken writer owns
// the lock, a woken reader already counts among the readers.
#include "cohook/shared_mutex.hpp"

#include "sched/time.h"
#include "sched/wait_list.h"

namespace cohook {

void SharedMutex::lock() {
  lock_until(false, kNoDeadline);
}
void SharedMutex::lock_shared() {
  lock_until(true, kNoDeadline);
}
bool SharedMutex::try_lock_until(std::chrono::steady_clock::time_point deadline) {
  return lock_until(false, deadline);
}
bool SharedMutex::try_lock_shared_until(std::chrono::steady_clock::time_point deadline) {
  return lock_until(true, deadline);
}

bool SharedMutex::try_lock() {
  queue_lock_.lock();
  bool got = !writer_ && readers_ == 0 && waiting_writers_.head == nullptr;
  if (got) writer_ = true;
  queue_lock_.unlock();
  return got;
}

bool SharedMutex::try_lock_shared() {
  queue_lock_.lock();
  bool got = !writer_ && waiting_writers_.head == nullptr;  // a waiting writer goes first
  if (got) ++readers_;
  queue_lock_.unlock();
  return got;
}

bool SharedMutex::lock_until(bool shared, std::chrono::steady_clock::time_point deadline) {
  detail::WaitNodeFor node;
  queue_lock_.lock();
  if (shared ? (!writer_ && waiting_writers_.head == nullptr)
             : (!writer_ && readers_ == 0 && waiting_writers_.head == nullptr)) {
    if (shared)
      ++readers_;
    else
      writer_ = true;
    queue_lock_.unlock();
    return true;
  }
  if (deadline != kNoDeadline && Clock::now() >= deadline) {
    queue_lock_.unlock();
    return false;
  }
  detail::WaitList& list = shared ? waiting_readers_ : waiting_writers_;
  detail::push_back(list, node.get());
  queue_lock_.unlock();
  if (node->baton.wait_until(deadline, shared ? "shared_mutex (shared)" : "shared_mutex")) return true;
  detail::WaitNode* admitted = nullptr;
  queue_lock_.lock();
  bool still_queued = detail::remove(list, node.get());
  // A writer giving up may have been all that held the queued readers back.
  if (still_queued && !shared && !writer_ && waiting_writers_.head == nullptr) admit_waiting_readers_locked(&admitted);
  queue_lock_.unlock();
  detail::post_all(admitted);
  if (still_queued) return false;
  node->baton.await_post();  // ownership was handed to us as we timed out
  return true;
}

void SharedMutex::admit_waiting_readers_locked(detail::WaitNode** chain) {
  *chain = detail::take_all(waiting_readers_);
  for (detail::WaitNode* n = *chain; n != nullptr; n = n->next) ++readers_;
}

void SharedMutex::unlock() {
  detail::WaitNode* chain = nullptr;
  queue_lock_.lock();
  writer_ = false;
  if (waiting_readers_.head != nullptr) {
    admit_waiting_readers_locked(&chain);  // readers that queued behind us go before the next writer
  } else if (detail::WaitNode* next = detail::pop_front(waiting_writers_)) {
    writer_ = true;
    chain = next;
  }
  queue_lock_.unlock();
  detail::post_all(chain);
}

void SharedMutex::unlock_shared() {
  detail::WaitNode* next = nullptr;
  queue_lock_.lock();
  if (--readers_ == 0) {
    next = detail::pop_front(waiting_writers_);
    if (next != nullptr) writer_ = true;
  }
  queue_lock_.unlock();
  if (next != nullptr) next->baton.post();
}

}  // namespace cohook
