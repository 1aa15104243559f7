// poll, ppoll, select, pselect, epoll_wait, epoll_pwait. Inside a coroutine a wait with a
// timeout other than zero parks the coroutine (Scheduler::poll_fds has poll(2)'s semantics);
// zero-timeout calls and calls outside coroutines are the real ones.
//
// Signals (signal(7)): a handled signal ends these waits with EINTR whatever its SA_RESTART.
// The masks of ppoll, pselect and epoll_pwait are honoured per call (see MaskedWait in
// hook/signal_hooks.h for how they combine with the thread's mask while other coroutines run).
#include <errno.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/time.h>

#include <chrono>
#include <vector>

#include "hook/interpose.h"
#include "hook/trace.h"
#include "hook/trace_points.h"
#include "hook/link_anchors.h"
#include "hook/real_functions.h"
#include "hook/signal_hooks.h"
#include "poller/poller.h"
#include "sched/scheduler.h"

using cohook::Clock;
using cohook::kNoDeadline;
using cohook::Scheduler;
using cohook::TimePoint;
using cohook::hook::cooperating_coroutine;
using cohook::hook::real_functions;

namespace {

TimePoint deadline_from_ms(int timeout_ms) {
  if (timeout_ms < 0) return kNoDeadline;
  return cohook::deadline_after(std::chrono::milliseconds(timeout_ms));
}

TimePoint deadline_from_timespec(const timespec* timeout) {
  if (timeout == nullptr) return kNoDeadline;
  return cohook::deadline_after(std::chrono::duration_cast<Clock::duration>(
      std::chrono::seconds(timeout->tv_sec) + std::chrono::nanoseconds(timeout->tv_nsec)));
}

bool is_zero(const timespec* timeout) { return timeout != nullptr && timeout->tv_sec == 0 && timeout->tv_nsec == 0; }
bool is_valid(const timespec* timeout) {
  return timeout == nullptr || (timeout->tv_sec >= 0 && timeout->tv_nsec >= 0 && timeout->tv_nsec < 1000000000);
}

// What the kernel's select reports for each poll event (fs/select.c).
constexpr short kSelectReadable = POLLIN | POLLRDNORM | POLLRDBAND | POLLHUP | POLLERR;
constexpr short kSelectWritable = POLLOUT | POLLWRNORM | POLLWRBAND | POLLERR;
constexpr short kSelectExceptional = POLLPRI;

// select in a coroutine: the fd sets become a pollfd array for Scheduler::poll_fds, and back.
int select_in_coroutine(int count, fd_set* readable, fd_set* writable, fd_set* exceptional, TimePoint deadline) {
  auto events_of = [&](int fd) {
    short events = 0;
    if (readable != nullptr && FD_ISSET(fd, readable)) events |= POLLIN;
    if (writable != nullptr && FD_ISSET(fd, writable)) events |= POLLOUT;
    if (exceptional != nullptr && FD_ISSET(fd, exceptional)) events |= POLLPRI;
    return events;
  };
  unsigned long wanted = 0;
  for (int fd = 0; fd < count; ++fd) wanted += events_of(fd) != 0 ? 1 : 0;
  // Most selects watch a few fds: no allocation for those.
  pollfd small[64];
  std::vector<pollfd> large;
  pollfd* fds = small;
  if (wanted > sizeof small / sizeof small[0]) {
    large.resize(wanted);
    fds = large.data();
  }
  unsigned long used = 0;
  for (int fd = 0; fd < count; ++fd) {
    short events = events_of(fd);
    if (events != 0) fds[used++] = {fd, events, 0};
  }
  int ready = Scheduler::poll_fds(fds, used, deadline);
  if (ready < 0) return ready;
  for (unsigned long i = 0; i < used; ++i) {
    if (fds[i].revents & POLLNVAL) {
      errno = EBADF;  // select refuses a set that names a closed fd
      return -1;
    }
  }
  if (readable != nullptr) FD_ZERO(readable);
  if (writable != nullptr) FD_ZERO(writable);
  if (exceptional != nullptr) FD_ZERO(exceptional);
  int bits = 0;
  for (unsigned long i = 0; i < used; ++i) {
    const pollfd& entry = fds[i];
    if ((entry.events & POLLIN) && (entry.revents & kSelectReadable)) {
      FD_SET(entry.fd, readable);
      ++bits;
    }
    if ((entry.events & POLLOUT) && (entry.revents & kSelectWritable)) {
      FD_SET(entry.fd, writable);
      ++bits;
    }
    if ((entry.events & POLLPRI) && (entry.revents & kSelectExceptional)) {
      FD_SET(entry.fd, exceptional);
      ++bits;
    }
  }
  return bits;
}

int epoll_wait_in_coroutine(int epoll_fd, epoll_event* events, int max_events, int timeout_ms) {
  TimePoint deadline = deadline_from_ms(timeout_ms);
  for (;;) {
    // An epoll fd is itself pollable: it is readable while events are pending. Look without
    // waiting, and park on the epoll fd until it has something.
    int ready = real_functions.epoll_wait(epoll_fd, events, max_events, 0);
    if (ready != 0) return ready;
    switch (Scheduler::wait_fd(epoll_fd, cohook::poller::kReadable, deadline, "epoll_wait")) {
      case cohook::WakeReason::kTimeout:
        return 0;
      case cohook::WakeReason::kFdClosed:
        errno = EBADF;
        return -1;
      case cohook::WakeReason::kInterrupted:
        errno = EINTR;
        return -1;
      case cohook::WakeReason::kNone: {
        // Not watchable (should not happen for an epoll fd): wait in the real call.
        int left_ms = -1;
        if (deadline != kNoDeadline) {
          auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
          left_ms = left < 0 ? 0 : static_cast<int>(left);
        }
        return real_functions.epoll_wait(epoll_fd, events, max_events, left_ms);
      }
      default:
        break;
    }
  }
}

}  // namespace

COHOOK_TRACED_HOOK(int, poll, (pollfd* fds, nfds_t count, int timeout_ms), (fds, count, timeout_ms), cohook::trace::trace_poll) {
  if (timeout_ms == 0 || cooperating_coroutine() == nullptr) return real_functions.poll(fds, count, timeout_ms);
  cohook::InterruptibleCall interruptible(/*restartable=*/false);
  return Scheduler::poll_fds(fds, count, deadline_from_ms(timeout_ms));
}

COHOOK_TRACED_HOOK(int, ppoll, (pollfd* fds, nfds_t count, const timespec* timeout, const sigset_t* mask), (fds, count, timeout, mask), cohook::trace::trace_ppoll) {
  if (is_zero(timeout) || !is_valid(timeout) || cooperating_coroutine() == nullptr) {
    return real_functions.ppoll(fds, count, timeout, mask);
  }
  cohook::hook::MaskedWait masked(mask);
  return Scheduler::poll_fds(fds, count, deadline_from_timespec(timeout));
}

COHOOK_TRACED_HOOK(int, select, (int count, fd_set* readable, fd_set* writable, fd_set* exceptional, timeval* timeout), (count, readable, writable, exceptional, timeout), cohook::trace::trace_select) {
  bool zero = timeout != nullptr && timeout->tv_sec == 0 && timeout->tv_usec == 0;
  bool invalid = count < 0 || (timeout != nullptr && (timeout->tv_sec < 0 || timeout->tv_usec < 0));
  if (zero || invalid || cooperating_coroutine() == nullptr) {
    return real_functions.select(count, readable, writable, exceptional, timeout);
  }
  TimePoint deadline = kNoDeadline;
  if (timeout != nullptr) {
    deadline = cohook::deadline_after(std::chrono::duration_cast<Clock::duration>(
        std::chrono::seconds(timeout->tv_sec) + std::chrono::microseconds(timeout->tv_usec)));
  }
  int result;
  {
    cohook::InterruptibleCall interruptible(/*restartable=*/false);
    result = select_in_coroutine(count, readable, writable, exceptional, deadline);
  }
  if (timeout != nullptr && (result >= 0 || errno == EINTR)) {
    // Linux's select leaves the time not slept in *timeout (after a signal too).
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now()).count();
    if (left < 0) left = 0;
    timeout->tv_sec = static_cast<time_t>(left / 1000000);
    timeout->tv_usec = static_cast<suseconds_t>(left % 1000000);
  }
  return result;
}

COHOOK_TRACED_HOOK(int, pselect, (int count, fd_set* readable, fd_set* writable, fd_set* exceptional, const timespec* timeout, const sigset_t* mask), (count, readable, writable, exceptional, timeout, mask), cohook::trace::trace_pselect) {
  if (count < 0 || is_zero(timeout) || !is_valid(timeout) || cooperating_coroutine() == nullptr) {
    return real_functions.pselect(count, readable, writable, exceptional, timeout, mask);
  }
  cohook::hook::MaskedWait masked(mask);
  return select_in_coroutine(count, readable, writable, exceptional, deadline_from_timespec(timeout));
}

COHOOK_TRACED_HOOK(int, epoll_wait, (int epoll_fd, epoll_event* events, int max_events, int timeout_ms), (epoll_fd, events, max_events, timeout_ms), cohook::trace::trace_epoll_wait) {
  if (timeout_ms == 0 || max_events <= 0 || cooperating_coroutine() == nullptr) {
    return real_functions.epoll_wait(epoll_fd, events, max_events, timeout_ms);
  }
  cohook::InterruptibleCall interruptible(/*restartable=*/false);
  return epoll_wait_in_coroutine(epoll_fd, events, max_events, timeout_ms);
}

COHOOK_TRACED_HOOK(int, epoll_pwait, (int epoll_fd, epoll_event* events, int max_events, int timeout_ms, const sigset_t* mask), (epoll_fd, events, max_events, timeout_ms, mask), cohook::trace::trace_epoll_pwait) {
  if (timeout_ms == 0 || max_events <= 0 || cooperating_coroutine() == nullptr) {
    return real_functions.epoll_pwait(epoll_fd, events, max_events, timeout_ms, mask);
  }
  cohook::hook::MaskedWait masked(mask);
  return epoll_wait_in_coroutine(epoll_fd, events, max_events, timeout_ms);
}

const char cohook::hook::link_anchor::poll_hooks = 0;
