// cohook::SharedMutex: a readers-writer lock (std::shared_mutex, Boost.Fiber has none, Go's
// sync.RWMutex) for coroutines and plain threads. Works with std::unique_lock and
// std::shared_lock.
#pragma once

#include <chrono>

#include "cohook/detail/config.hpp"
#include "cohook/detail/wait_list.hpp"

namespace cohook {

// Writer-preferring, as Go's RWMutex: once a writer waits, new readers queue behind it, so a
// stream of readers cannot starve writers. When a writer unlocks, the readers that queued
// meanwhile all get in before the next writer, so writers cannot starve readers either.
class COHOOK_API SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void lock();
  bool try_lock();
  bool try_lock_until(std::chrono::steady_clock::time_point deadline);
  template <class Rep, class Period>
  bool try_lock_for(std::chrono::duration<Rep, Period> timeout) {
    return try_lock_until(std::chrono::steady_clock::now() +
                          std::chrono::ceil<std::chrono::steady_clock::duration>(timeout));
  }
  void unlock();

  void lock_shared();
  bool try_lock_shared();
  bool try_lock_shared_until(std::chrono::steady_clock::time_point deadline);
  template <class Rep, class Period>
  bool try_lock_shared_for(std::chrono::duration<Rep, Period> timeout) {
    return try_lock_shared_until(std::chrono::steady_clock::now() +
                                 std::chrono::ceil<std::chrono::steady_clock::duration>(timeout));
  }
  void unlock_shared();

 private:
  bool lock_until(bool shared, std::chrono::steady_clock::time_point deadline);
  void admit_waiting_readers_locked(detail::WaitNode** chain);

  long readers_ = 0;     // holding it shared
  bool writer_ = false;  // holding it exclusively
  detail::SpinLock queue_lock_;
  detail::WaitList waiting_writers_;
  detail::WaitList waiting_readers_;
};

}  // namespace cohook
