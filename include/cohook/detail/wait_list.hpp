// The state every cooperative sync primitive keeps: a short spin lock and an intrusive FIFO of
// waiters. Internal; the operations are in sched/wait_list.cc.
#pragma once

#include <atomic>

#include "cohook/detail/config.hpp"

namespace cohook::detail {

// Held only for a handful of instructions (queue edits), never across a park.
class COHOOK_API SpinLock {
 public:
  void lock() {
    while (locked_.exchange(true, std::memory_order_acquire)) wait_unlocked();
  }
  bool try_lock() { return !locked_.exchange(true, std::memory_order_acquire); }
  void unlock() { locked_.store(false, std::memory_order_release); }

 private:
  void wait_unlocked();  // spins, then yields the OS thread
  std::atomic<bool> locked_{false};
};

struct WaitNode;  // lives in the waiter's frame: sched/wait_list.h

struct WaitList {
  WaitNode* head = nullptr;
  WaitNode* tail = nullptr;
};

}  // namespace cohook::detail
