// sleep, usleep, nanosleep, clock_nanosleep: inside a coroutine they park it on the
// scheduler's timer heap instead of blocking the thread.
//
// Signals: a sleeping coroutine is not interrupted by a signal, so these never fail with EINTR
// (and `remaining` is never needed); libc would return early with EINTR. Absolute sleeps on
// CLOCK_REALTIME are converted to a monotonic deadline when they start, so a wall-clock change
// during the sleep does not move its end (the kernel's would move).
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include <chrono>

#include "hook/interpose.h"
#include "hook/link_anchors.h"
#include "hook/real_functions.h"
#include "sched/scheduler.h"

using cohook::Clock;
using cohook::Scheduler;
using cohook::hook::cooperating_coroutine;
using cohook::hook::real_functions;

namespace {

bool is_valid(const timespec& duration) {
  return duration.tv_sec >= 0 && duration.tv_nsec >= 0 && duration.tv_nsec < 1000000000;
}

std::chrono::nanoseconds to_duration(const timespec& value) {
  return std::chrono::seconds(value.tv_sec) + std::chrono::nanoseconds(value.tv_nsec);
}

void park_for(std::chrono::nanoseconds duration) {
  if (duration <= std::chrono::nanoseconds::zero()) {
    // The kernel still reschedules on a zero sleep; let the others run once.
    Scheduler::yield();
    return;
  }
  Scheduler::sleep_until(cohook::deadline_after(std::chrono::duration_cast<Clock::duration>(duration)));
}

bool clock_is_supported(clockid_t clock) {
  return clock == CLOCK_REALTIME || clock == CLOCK_MONOTONIC || clock == CLOCK_BOOTTIME || clock == CLOCK_TAI;
}

}  // namespace

COHOOK_INTERPOSE unsigned sleep(unsigned seconds) {
  if (cooperating_coroutine() == nullptr) return real_functions.sleep(seconds);
  park_for(std::chrono::seconds(seconds));
  return 0;
}

COHOOK_INTERPOSE int usleep(useconds_t microseconds) {
  if (cooperating_coroutine() == nullptr) return real_functions.usleep(microseconds);
  park_for(std::chrono::microseconds(microseconds));
  return 0;
}

COHOOK_INTERPOSE int nanosleep(const timespec* duration, timespec* remaining) {
  if (duration == nullptr || !is_valid(*duration) || cooperating_coroutine() == nullptr) {
    return real_functions.nanosleep(duration, remaining);  // also its EFAULT/EINVAL
  }
  park_for(to_duration(*duration));
  return 0;
}

COHOOK_INTERPOSE int clock_nanosleep(clockid_t clock, int flags, const timespec* request, timespec* remaining) {
  if (request == nullptr || !is_valid(*request) || !clock_is_supported(clock) || cooperating_coroutine() == nullptr) {
    return real_functions.clock_nanosleep(clock, flags, request, remaining);
  }
  std::chrono::nanoseconds duration = to_duration(*request);
  if (flags & TIMER_ABSTIME) {
    timespec now{};
    if (::clock_gettime(clock, &now) != 0) return errno;
    duration -= to_duration(now);
  }
  park_for(duration);
  return 0;
}

const char cohook::hook::link_anchor::sleep_hooks = 0;
