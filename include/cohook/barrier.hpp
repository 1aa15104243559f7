// cohook::Barrier: a reusable rendezvous for a fixed number of parties (std::barrier's
// arrive_and_wait, boost::fibers::barrier), for coroutines and plain threads.
#pragma once

#include <cstddef>

#include "cohook/detail/config.hpp"
#include "cohook/detail/wait_list.hpp"

namespace cohook {

class COHOOK_API Barrier {
 public:
  // parties >= 1, else std::invalid_argument.
  explicit Barrier(std::ptrdiff_t parties);
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;

  // Waits until `parties` calls have arrived in this phase, then all return and the next
  // phase begins. True in exactly one caller per phase (the last to arrive), as
  // boost::fibers::barrier::wait does.
  bool arrive_and_wait();

 private:
  const std::ptrdiff_t parties_;
  std::ptrdiff_t arrived_ = 0;
  detail::SpinLock queue_lock_;
  detail::WaitList waiters_;
};

}  // namespace cohook
