// connect, accept and accept4: the calls that set up stream connections. Outside a coroutine they
// are the real calls. Inside one, neither has a per-call non-blocking form, so each attempt runs
// in a window of O_NONBLOCK that lasts exactly that one system call (nonblocking_window.h says
// why that and not poll-then-accept, and what others can see meanwhile).
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>

#include "hook/blocking_call.h"
#include "hook/fd_table.h"
#include "hook/interpose.h"
#include "hook/trace.h"
#include "hook/trace_points.h"
#include "hook/link_anchors.h"
#include "hook/nonblocking_window.h"
#include "hook/real_functions.h"
#include "poller/poller.h"
#include "sched/scheduler.h"

using cohook::hook::BlockingCall;
using cohook::hook::cooperating_coroutine;
using cohook::hook::Direction;
using cohook::hook::FdKind;
using cohook::hook::FdTable;
using cohook::hook::NonblockingWindow;
using cohook::hook::real_functions;

namespace {

bool connect_finished(int fd) {
  pollfd entry{fd, POLLOUT, 0};
  return real_functions.poll(&entry, 1, 0) != 0;
}

// The rest of a blocking connect that the non-blocking one left in progress: wait until the
// socket is writable, then report the outcome from SO_ERROR, as the kernel does.
int finish_connect(BlockingCall& call) {
  do {
    if (!cohook::hook::wait_in_coroutine(call)) {
      // A blocking connect that times out leaves the connection in progress and says so.
      if (errno == EAGAIN) errno = EINPROGRESS;
      return -1;
    }
  } while (!connect_finished(call.fd));
  int error = 0;
  socklen_t length = sizeof error;
  if (real_functions.getsockopt(call.fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return -1;
  if (error != 0) {
    errno = error;
    return -1;
  }
  return 0;
}

// A Unix-domain connect to a listener whose backlog is full: the blocking call waits for room,
// the non-blocking one fails with EAGAIN at once. The room shows on no fd we could watch, so the
// attempt is repeated after short sleeps (1 ms, doubling to 16 ms), until SO_SNDTIMEO.
int connect_when_backlog_has_room(BlockingCall& call, const sockaddr* address, socklen_t length) {
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    cohook::TimePoint deadline = call.wait_deadline();
    cohook::TimePoint wake = cohook::deadline_after(pause);
    if (wake > deadline) wake = deadline;
    cohook::Scheduler::sleep_until(wake);
    if (cohook::Clock::now() >= deadline) {
      errno = EAGAIN;
      return -1;
    }
    int result;
    {
      NonblockingWindow window(call.fd);
      window.open();
      result = real_functions.connect(call.fd, address, length);
    }
    if (result == 0 || errno != EAGAIN) return result;
    pause = std::min(pause * 2, decltype(pause)(16));
  }
}

int connect_in_coroutine(int fd, const sockaddr* address, socklen_t length) {
  int result;
  {
    NonblockingWindow window(fd);
    if (window.user_nonblocking()) return real_functions.connect(fd, address, length);
    window.open();
    result = real_functions.connect(fd, address, length);
  }
  if (result == 0) return 0;
  BlockingCall call(fd, Direction::kWrite, "connect");  // SO_SNDTIMEO bounds connect on Linux
  if (errno == EINPROGRESS) return finish_connect(call);
  if (errno == EAGAIN && address != nullptr && address->sa_family == AF_UNIX) {
    return connect_when_backlog_has_room(call, address, length);
  }
  return -1;
}

int accept_in_coroutine(int fd, sockaddr* address, socklen_t* length, int flags, bool plain_accept) {
  BlockingCall call(fd, Direction::kRead, plain_accept ? "accept" : "accept4");
  for (;;) {
    int new_fd;
    bool user_nonblocking;
    {
      NonblockingWindow window(fd);
      user_nonblocking = window.user_nonblocking();
      window.open();
      new_fd = plain_accept ? real_functions.accept(fd, address, length)
                            : real_functions.accept4(fd, address, length, flags);
    }
    if (new_fd >= 0) return new_fd;
    if (!cohook::hook::would_block(errno) || user_nonblocking) return -1;
    if (!cohook::hook::wait_in_coroutine(call)) return -1;
  }
}

// A new connection's fd number: drop what pollers and the table knew of the number's old file.
int adopt_accepted(int new_fd) {
  if (new_fd >= 0) {
    cohook::poller::Poller::forget_fd(new_fd);
    // Private (fd_table.h): even a listener's SO_RCVTIMEO, which the new socket inherits, is
    // read from the kernel at its first park.
    FdTable::instance().adopt_private_socket(new_fd, cohook::hook::cooperating_coroutine() != nullptr);
  }
  return new_fd;
}

}  // namespace

COHOOK_TRACED_HOOK(int, connect, (int fd, const sockaddr* address, socklen_t length), (fd, address, length), cohook::trace::trace_connect) {
  if (cooperating_coroutine() == nullptr) [[likely]] return real_functions.connect(fd, address, length);
  return connect_in_coroutine(fd, address, length);
}

COHOOK_TRACED_HOOK(int, accept, (int fd, sockaddr* address, socklen_t* length), (fd, address, length), cohook::trace::trace_accept) {
  if (cooperating_coroutine() == nullptr) return adopt_accepted(real_functions.accept(fd, address, length));
  return adopt_accepted(accept_in_coroutine(fd, address, length, 0, true));
}

COHOOK_TRACED_HOOK(int, accept4, (int fd, sockaddr* address, socklen_t* length, int flags), (fd, address, length, flags), cohook::trace::trace_accept4) {
  if (cooperating_coroutine() == nullptr) return adopt_accepted(real_functions.accept4(fd, address, length, flags));
  return adopt_accepted(accept_in_coroutine(fd, address, length, flags, false));
}

const char cohook::hook::link_anchor::connection_hooks = 0;
