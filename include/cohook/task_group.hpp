// cohook::TaskGroup: start coroutines, wait for all of them, get the first exception (Go's
// errgroup.Group, a structured nursery). Scoped to a block, it is the way around the lifetime
// trap: its destructor waits, so members may capture the block's locals by reference.
//
//   cohook::TaskGroup group;
//   for (auto& url : urls) group.spawn([&] { fetch(url, group); });
//   group.wait();  // rethrows the first exception a member threw
#pragma once

#include <atomic>
#include <exception>
#include <functional>

#include "cohook/cohook.hpp"

namespace cohook {

class COHOOK_API TaskGroup {
 public:
  // Members start with go(): create and spawn from a coroutine.
  TaskGroup() = default;
  // Members start with runtime.spawn(): spawn from any thread while runtime.run() is active.
  explicit TaskGroup(Runtime& runtime) : runtime_(&runtime) {}
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;
  // Waits for every member. An exception no wait() has rethrown is reported on stderr (a
  // destructor cannot throw it); call wait() to handle it.
  ~TaskGroup();

  // Starts fn as a member. An exception escaping fn is kept (the first one only) and cancels
  // the group; it does not terminate the program.
  void spawn(std::function<void()> fn, SpawnOptions options = {});
  // Waits until every member has finished, then rethrows the first exception a member threw,
  // if any (once). The group may be reused afterwards.
  void wait();
  // Sets the flag members poll with cancelled(); nothing is interrupted. The first exception
  // of a member cancels the group too (errgroup.WithContext).
  void cancel() { cancelled_.store(true, std::memory_order_release); }
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

 private:
  void member_finished(std::exception_ptr error);
  void wait_for_members();

  Runtime* runtime_ = nullptr;
  std::atomic<bool> cancelled_{false};
  long running_ = 0;                // guarded by queue_lock_
  std::exception_ptr first_error_;  // guarded by queue_lock_
  detail::SpinLock queue_lock_;
  detail::WaitList waiters_;
};

}  // namespace cohook
