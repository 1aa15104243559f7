// cohook::Semaphore: a counting semaphore (C++20 std::counting_semaphore, Go's buffered-channel
// idiom, Boost.Fiber has none) for coroutines and plain threads.
#pragma once

#include <chrono>
#include <cstddef>

#include "cohook/detail/config.hpp"
#include "cohook/detail/wait_list.hpp"

namespace cohook {

// Waiters are served in arrival order, and release() hands its permit straight to the first of
// them, so a waiter is never overtaken by a later try_acquire.
class COHOOK_API Semaphore {
 public:
  explicit Semaphore(std::ptrdiff_t initial = 0);
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  void acquire();
  bool try_acquire();
  bool try_acquire_until(std::chrono::steady_clock::time_point deadline);
  template <class Rep, class Period>
  bool try_acquire_for(std::chrono::duration<Rep, Period> timeout) {
    return try_acquire_until(std::chrono::steady_clock::now() +
                             std::chrono::ceil<std::chrono::steady_clock::duration>(timeout));
  }
  void release(std::ptrdiff_t permits = 1);
  // The permits free right now (a snapshot).
  std::ptrdiff_t available() const;

 private:
  std::ptrdiff_t permits_;
  mutable detail::SpinLock queue_lock_;
  detail::WaitList waiters_;
};

}  // namespace cohook
