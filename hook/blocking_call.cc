#include "hook/blocking_call.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <chrono>

#include "hook/nonblocking_window.h"
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

// fd's SO_RCVTIMEO or SO_SNDTIMEO; zero for none (socket(7): {0, 0}) or on failure.
Clock::duration socket_timeout(int fd, Direction direction) {
  timeval value{};
  socklen_t length = sizeof value;
  int option = direction == Direction::kRead ? SO_RCVTIMEO : SO_SNDTIMEO;
  if (real_functions.getsockopt(fd, SOL_SOCKET, option, &value, &length) != 0) return Clock::duration::zero();
  return std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(value.tv_sec) +
                                                     std::chrono::microseconds(value.tv_usec));
}

}  // namespace

bool BlockingCall::known_plain() {
  if (!FdTable::instance().settings_known_plain(fd)) return false;
  flags_known_ = deadline_known_ = true;
  user_nonblocking_ = false;
  deadline_ = kNoDeadline;
  return true;
}

TimePoint BlockingCall::wait_deadline() {
  if (deadline_known_ || known_plain()) return deadline_;
  deadline_known_ = true;
  // Taken before the kernel is asked: a change to the settings un-shares fd first.
  FdTable::PrivateToken token = FdTable::instance().private_token(fd);
  // Asked now, not remembered from setsockopt: a timeout set through a dup, or before the fd was
  // inherited, is the socket's all the same.
  int saved_errno = errno;
  Clock::duration timeout = socket_timeout(fd, direction);
  if (timeout > Clock::duration::zero()) deadline_ = deadline_after(timeout);
  if (token != 0 && timeout == Clock::duration::zero()) learn_plain(token);
  errno = saved_errno;
  return deadline_;
}

void BlockingCall::learn_plain(FdTable::PrivateToken token) {
  // All asked after the token, once per socket: flags this call read earlier may be another
  // file's, if the number was closed and reused meanwhile.
  int flags = file_status_flags(fd);
  Direction other = direction == Direction::kRead ? Direction::kWrite : Direction::kRead;
  if (flags >= 0 && (flags & O_NONBLOCK) == 0 && socket_timeout(fd, other) == Clock::duration::zero()) {
    FdTable::instance().remember_plain_settings(fd, token);
  }
}

bool BlockingCall::user_wants_eagain() {
  if (!flags_known_ && !known_plain()) {
    int saved_errno = errno;
    int flags = file_status_flags(fd);
    errno = saved_errno;
    user_nonblocking_ = flags < 0 || (flags & O_NONBLOCK) != 0;
    flags_known_ = true;
  }
  return user_nonblocking_;
}

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
      if (errno == EPERM) {
        // epoll refused the file: the number names a regular file now (it was reused behind our
        // back). Remember that, and let this call block the thread as libc's would.
        FdTable::instance().reclassify(call.fd, FdKind::kNotPollable);
        call.blocking_fallback = true;
        return wait_on_plain_thread(call);
      }
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
