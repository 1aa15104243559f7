// The state every cooperative sync primitive keeps: a short spin lock and an intrusive FIFO of
// waiters. Internal; the operations are in sched/wait_list.cc.
#pragma once

#include <atomic>
#include <cstdint>

#include "cohook/detail/config.hpp"

namespace cohook::detail {

// The mark a SpinLock holder leaves in the lock: never 0 (free), and different in a forked
// child from its parent's (1 to 255, advanced by a fork handler in the child).
COHOOK_API extern std::atomic<std::uint8_t> g_spin_lock_mark;

// Held only for a handful of instructions (queue edits), never across a park.
// fork(): a thread that does not survive into the child may hold one at that instant (another
// scheduler thread in the middle of a queue edit). As glibc frees its internal locks in the
// child, a lock still bearing a mark from before the fork is taken over by the first locker in
// the child instead of being spun on forever: the thread that held it is gone.
class COHOOK_API SpinLock {
 public:
  void lock() {
    std::uint8_t mark = g_spin_lock_mark.load(std::memory_order_relaxed);
    // Free (0) or a mark from before a fork: ours now.
    while (locked_.exchange(mark, std::memory_order_acquire) == mark) wait_unlocked();
  }
  bool try_lock() {
    std::uint8_t mark = g_spin_lock_mark.load(std::memory_order_relaxed);
    return locked_.exchange(mark, std::memory_order_acquire) != mark;
  }
  void unlock() { locked_.store(0, std::memory_order_release); }

 private:
  void wait_unlocked();  // spins, then yields the OS thread
  std::atomic<std::uint8_t> locked_{0};
};

struct WaitNode;  // lives in the waiter's frame: sched/wait_list.h

struct WaitList {
  WaitNode* head = nullptr;
  WaitNode* tail = nullptr;
};

}  // namespace cohook::detail
