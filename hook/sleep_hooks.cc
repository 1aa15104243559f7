// sleep, usleep, nanosleep, clock_nanosleep: inside a coroutine they park it on the
// scheduler's timer heap instead of blocking the thread.
//
// Signals (signal(7)): a handled signal ends the sleep early whatever its SA_RESTART, and the
// time left is reported as libc reports it: sleep returns the whole seconds not slept (glibc
// truncates), nanosleep fails with EINTR and fills *remaining, clock_nanosleep returns EINTR
// and fills *remaining unless TIMER_ABSTIME, usleep fails with EINTR. Absolute sleeps on
// CLOCK_REALTIME are converted to a monotonic deadline when they start, so a wall-clock change
// during the sleep does not move its end (the kernel's would move).
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <optional>

#include "hook/interpose.h"
#include "hook/trace.h"
#include "hook/trace_points.h"
#include "hook/link_anchors.h"
#include "hook/real_functions.h"
#include "sched/scheduler.h"

using cohook::Clock;
using cohook::Scheduler;
using cohook::TimePoint;
using cohook::hook::cooperating_coroutine;
using cohook::hook::real_functions;

namespace {

bool is_valid(const timespec& duration) {
  return duration.tv_sec >= 0 && duration.tv_nsec >= 0 && duration.tv_nsec < 1000000000;
}

std::chrono::nanoseconds to_duration(const timespec& value) {
  return std::chrono::seconds(value.tv_sec) + std::chrono::nanoseconds(value.tv_nsec);
}

// Parks for duration; the time left if a signal cut it short, else nullopt.
std::optional<std::chrono::nanoseconds> park_for(std::chrono::nanoseconds duration) {
  cohook::InterruptibleCall interruptible(/*restartable=*/false);
  if (duration <= std::chrono::nanoseconds::zero()) {
    // The kernel still reschedules on a zero sleep; let the others run once.
    Scheduler::yield();
    return std::nullopt;
  }
  TimePoint deadline = cohook::deadline_after(std::chrono::duration_cast<Clock::duration>(duration));
  if (Scheduler::sleep_until(deadline) != cohook::WakeReason::kInterrupted) return std::nullopt;
  auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - Clock::now());
  return left < std::chrono::nanoseconds::zero() ? std::chrono::nanoseconds::zero() : left;
}

timespec to_timespec(std::chrono::nanoseconds value) {
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(value);
  return timespec{static_cast<time_t>(seconds.count()), static_cast<long>((value - seconds).count())};
}

bool clock_is_supported(clockid_t clock) {
  return clock == CLOCK_REALTIME || clock == CLOCK_MONOTONIC || clock == CLOCK_BOOTTIME || clock == CLOCK_TAI;
}

}  // namespace

COHOOK_TRACED_HOOK(unsigned, sleep, (unsigned seconds), (seconds), cohook::trace::trace_sleep) {
  if (cooperating_coroutine() == nullptr) return real_functions.sleep(seconds);
  int saved_errno = errno;
  auto left = park_for(std::chrono::seconds(seconds));
  if (!left) {
    errno = saved_errno;
    return 0;
  }
  errno = EINTR;  // glibc's sleep leaves nanosleep's EINTR in errno
  return static_cast<unsigned>(std::chrono::duration_cast<std::chrono::seconds>(*left).count());
}

COHOOK_TRACED_HOOK(int, usleep, (useconds_t microseconds), (microseconds), cohook::trace::trace_usleep) {
  if (cooperating_coroutine() == nullptr) return real_functions.usleep(microseconds);
  if (park_for(std::chrono::microseconds(microseconds))) {
    errno = EINTR;
    return -1;
  }
  return 0;
}

COHOOK_TRACED_HOOK(int, nanosleep, (const timespec* duration, timespec* remaining), (duration, remaining), cohook::trace::trace_nanosleep) {
  if (duration == nullptr || !is_valid(*duration) || cooperating_coroutine() == nullptr) {
    return real_functions.nanosleep(duration, remaining);  // also its EFAULT/EINVAL
  }
  if (auto left = park_for(to_duration(*duration))) {
    if (remaining != nullptr) *remaining = to_timespec(*left);
    errno = EINTR;
    return -1;
  }
  return 0;
}

COHOOK_TRACED_HOOK(int, clock_nanosleep, (clockid_t clock, int flags, const timespec* request, timespec* remaining), (clock, flags, request, remaining), cohook::trace::trace_clock_nanosleep) {
  if (request == nullptr || !is_valid(*request) || !clock_is_supported(clock) || cooperating_coroutine() == nullptr) {
    return real_functions.clock_nanosleep(clock, flags, request, remaining);
  }
  std::chrono::nanoseconds duration = to_duration(*request);
  if (flags & TIMER_ABSTIME) {
    timespec now{};
    if (::clock_gettime(clock, &now) != 0) return errno;
    duration -= to_duration(now);
  }
  if (auto left = park_for(duration)) {
    // Unlike nanosleep, an absolute sleep leaves *remaining alone (the request is still valid).
    if (remaining != nullptr && !(flags & TIMER_ABSTIME)) *remaining = to_timespec(*left);
    return EINTR;  // clock_nanosleep reports errors as its value and leaves errno alone
  }
  return 0;
}

// Hook files nothing else refers to are linked through this one (see link_anchors.h).
[[gnu::used]] const char* const kMoreAnchors[] = {&cohook::hook::link_anchor::signal_hooks,
                                                 &cohook::hook::link_anchor::process_hooks,
                                                 &cohook::hook::link_anchor::legacy_signal_hooks};

const char cohook::hook::link_anchor::sleep_hooks = 0;
