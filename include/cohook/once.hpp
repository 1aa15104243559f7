// cohook::Once and cohook::call_once: std::call_once (Go's sync.Once, Boost.Fiber uses
// std::call_once) for coroutines and plain threads: callers that arrive while the function runs
// park instead of blocking their scheduler thread.
#pragma once

#include <atomic>
#include <functional>
#include <utility>

#include "cohook/detail/config.hpp"
#include "cohook/detail/wait_list.hpp"

namespace cohook {

class COHOOK_API Once {
 public:
  Once() = default;
  Once(const Once&) = delete;
  Once& operator=(const Once&) = delete;
  bool done() const { return state_.load(std::memory_order_acquire) == kDone; }

 private:
  template <class F, class... Args>
  friend void call_once(Once& once, F&& fn, Args&&... args);
  enum : int { kIdle, kRunning, kDone };
  bool begin();  // true: the caller runs the function; false: it already ran
  void finish(bool succeeded);

  std::atomic<int> state_{kIdle};
  detail::SpinLock queue_lock_;
  detail::WaitList waiters_;
};

// Runs fn(args...) once per Once, however many coroutines and threads call it; every call
// returns after that run has finished. If fn throws, the exception reaches its caller and the
// Once stays unused: the next caller (one of those waiting, if any) runs fn again.
template <class F, class... Args>
void call_once(Once& once, F&& fn, Args&&... args) {
  if (once.done() || !once.begin()) return;
  try {
    std::invoke(std::forward<F>(fn), std::forward<Args>(args)...);
  } catch (...) {
    once.finish(false);
    throw;
  }
  once.finish(true);
}

}  // namespace cohook
