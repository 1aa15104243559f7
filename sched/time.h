// Time as the scheduler counts it: the monotonic clock (steady_clock is CLOCK_MONOTONIC on Linux).
#pragma once

#include <chrono>

namespace cohook {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
inline constexpr TimePoint kNoDeadline = TimePoint::max();

// A relative timeout as an absolute deadline, saturating instead of overflowing.
inline TimePoint deadline_after(Clock::duration timeout) {
  TimePoint now = Clock::now();
  if (timeout >= kNoDeadline - now) return kNoDeadline;
  return now + timeout;
}

}  // namespace cohook
