#include "hook/blocking_call.h"

#include <poll.h>

#include <chrono>

#include "hook/real_functions.h"
#include "poller/poller.h"
#include "sched/scheduler.h"

namespace cohook::hook {
namespace {

std::uint32_t interest_of(Direction direction) {
  return direction == Direction::kRead ? poller::kReadable : poller::kWritable;
}

// Milliseconds until the deadline for poll(), rounded up so that we never wake early; -1 for none.
int poll_timeout_ms(TimePoint deadline) {
  if (deadline == kNoDeadline) return -1;
  auto left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return ms > 0x7fffffff ? 0x7fffffff : static_cast<int>(ms);
}

}  // namespace

bool wait_in_coroutine(BlockingCall& call) {
  // signal(7): with SA_RESTART a socket call is restarted unless it has a timeout.
  InterruptibleCall interruptible(/*restartable=*/call.wait_deadline() == kNoDeadline);
  WakeReason reason = Scheduler::wait_fd(call.fd, interest_of(call.direction), call.wait_deadline(), call.what);
  switch (reason) {
    case WakeReason::kInterrupted:
      errno = EINTR;  // a handler without SA_RESTART ran (or one with it, and a timeout is set)
      return false;
    case WakeReason::kTimeout:
      errno = EAGAIN;
      return false;
    case WakeReason::kFdClosed:
      // Closed (or the number reused) under us: the kernel would have failed the call on the
      // now-closed fd, so report what a call on a closed fd reports.
      errno = EBADF;
      return false;
    case WakeReason::kNone:
      // epoll refused the file; waiting in poll() blocks the thread but keeps libc's result.
      if (errno == EPERM) return wait_on_plain_thread(call);
      return false;
    default:
      return true;
  }
}

bool wait_on_plain_thread(BlockingCall& call) {
  pollfd entry{call.fd, static_cast<short>(call.direction == Direction::kRead ? POLLIN : POLLOUT), 0};
  TimePoint deadline = call.wait_deadline();
  for (;;) {
    int ready = real_functions.poll(&entry, 1, poll_timeout_ms(deadline));
    if (ready > 0) {
      if (entry.revents & POLLNVAL) {
        errno = EBADF;
        return false;
      }
      return true;
    }
    if (ready == 0) {
      errno = EAGAIN;
      return false;
    }
    if (errno != EINTR) return false;
  }
}

}  // namespace cohook::hook
