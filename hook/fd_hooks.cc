// Calls that create, duplicate or close fds. They keep one rule: an fd number that is closed or
// handed to a new file has poller::Poller::forget_fd called on it, so a coroutine waiting on the
// old file wakes (with EBADF) and a stale epoll registration can never wake a waiter of the new
// file; the FdTable's kind of the number is dropped or set at the same moment.
//
// Nothing here touches file status flags: O_NONBLOCK, SOCK_NONBLOCK, FIONBIO, F_GETFL/F_SETFL,
// SO_RCVTIMEO and SO_SNDTIMEO are the user's and go straight to the kernel; the hooks read them
// from the kernel when they need them (blocking_call.h). The one thing kept is whether a socket
// is private (fd_table.h): made here, and no longer once dup'ed or before an F_SETFL.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdint>

#include "hook/fd_table.h"
#include "hook/interpose.h"
#include "hook/link_anchors.h"
#include "hook/real_functions.h"
#include "hook/trace.h"
#include "hook/trace_points.h"
#include "poller/poller.h"

using cohook::hook::FdKind;
using cohook::hook::FdTable;
using cohook::hook::real_functions;

namespace {

// fd now names a new file.
void adopt_new_fd(int fd, FdKind kind) {
  cohook::poller::Poller::forget_fd(fd);
  FdTable::instance().set_kind(fd, kind);
}

// fd now names a socket this process just made, which nothing else shares yet.
void adopt_new_socket(int fd) {
  cohook::poller::Poller::forget_fd(fd);
  FdTable::instance().adopt_private_socket(fd, cohook::hook::cooperating_coroutine() != nullptr);
}

// new_fd now names the same open file description as fd.
void adopt_duplicate(int fd, int new_fd) {
  cohook::poller::Poller::forget_fd(new_fd);
  FdTable::instance().copy(fd, new_fd);
}

int fcntl_untraced(int fd, int command, void* argument) {
  if (command == F_DUPFD || command == F_DUPFD_CLOEXEC) {
    int new_fd = real_functions.fcntl(fd, command, static_cast<int>(reinterpret_cast<std::intptr_t>(argument)));
    if (new_fd >= 0) adopt_duplicate(fd, new_fd);
    return new_fd;
  }
  // Before the change: a coroutine learning fd's settings right now must not keep the old ones.
  if (command == F_SETFL) FdTable::instance().share(fd);
  // Every other command takes an int, a pointer or nothing; passing the argument on as a
  // pointer is what glibc's own fcntl does.
  return real_functions.fcntl(fd, command, argument);
}

int fcntl_hooked(int fd, int command, void* argument) {
  if (cohook::trace::tracing()) [[unlikely]] return cohook::trace::trace_fcntl(fcntl_untraced, fd, command, argument);
  return fcntl_untraced(fd, command, argument);
}

}  // namespace

COHOOK_TRACED_HOOK(int, socket, (int domain, int type, int protocol), (domain, type, protocol), cohook::trace::trace_socket) {
  int fd = real_functions.socket(domain, type, protocol);
  if (fd >= 0) adopt_new_socket(fd);
  return fd;
}

COHOOK_TRACED_HOOK(int, socketpair, (int domain, int type, int protocol, int* fds), (domain, type, protocol, fds), cohook::trace::trace_socketpair) {
  int result = real_functions.socketpair(domain, type, protocol, fds);
  if (result == 0) {
    adopt_new_socket(fds[0]);
    adopt_new_socket(fds[1]);
  }
  return result;
}

COHOOK_TRACED_HOOK(int, pipe2, (int* fds, int flags), (fds, flags), cohook::trace::trace_pipe2) {
  int result = real_functions.pipe2(fds, flags);
  if (result == 0) {
    adopt_new_fd(fds[0], FdKind::kPipe);
    adopt_new_fd(fds[1], FdKind::kPipe);
  }
  return result;
}

COHOOK_TRACED_HOOK(int, pipe, (int* fds), (fds), cohook::trace::trace_pipe) {
  int result = real_functions.pipe(fds);
  if (result == 0) {
    adopt_new_fd(fds[0], FdKind::kPipe);
    adopt_new_fd(fds[1], FdKind::kPipe);
  }
  return result;
}

COHOOK_TRACED_HOOK(int, eventfd, (unsigned initial_value, int flags), (initial_value, flags), cohook::trace::trace_eventfd) {
  int fd = real_functions.eventfd(initial_value, flags);
  // Anonymous files differ in what they support; classified (fresh) on first use.
  if (fd >= 0) adopt_new_fd(fd, FdKind::kUnknown);
  return fd;
}

COHOOK_TRACED_HOOK(int, dup, (int fd), (fd), cohook::trace::trace_dup) {
  int new_fd = real_functions.dup(fd);
  if (new_fd >= 0) adopt_duplicate(fd, new_fd);
  return new_fd;
}

COHOOK_TRACED_HOOK(int, dup2, (int fd, int new_fd), (fd, new_fd), cohook::trace::trace_dup2) {
  int result = real_functions.dup2(fd, new_fd);
  // dup2(fd, fd) changes nothing; otherwise new_fd's old file was closed and replaced.
  if (result >= 0 && fd != new_fd) adopt_duplicate(fd, result);
  return result;
}

COHOOK_TRACED_HOOK(int, dup3, (int fd, int new_fd, int flags), (fd, new_fd, flags), cohook::trace::trace_dup3) {
  int result = real_functions.dup3(fd, new_fd, flags);
  if (result >= 0) adopt_duplicate(fd, result);
  return result;
}

COHOOK_TRACED_HOOK(int, close, (int fd), (fd), cohook::trace::trace_close) {
  // Before the real close, while the number still names this file: once closed, another thread
  // may get the same number for a new file at any moment.
  cohook::poller::Poller::forget_fd(fd);
  FdTable::instance().forget(fd);
  return real_functions.close(fd);
}

COHOOK_INTERPOSE int fclose(FILE* stream) {
  // stdio closes through an internal call no hook sees; drop the number's kind here so that the
  // next file to get it is classified afresh.
  if (stream != nullptr) {
    int fd = ::fileno(stream);
    if (fd >= 0) {
      cohook::poller::Poller::forget_fd(fd);
      FdTable::instance().forget(fd);
    }
  }
  return real_functions.fclose(stream);
}

namespace {

// close_range and closefrom close numbers that glibc's close never sees: the same rule as the
// close hook, for each number the table knows in the range (a number it has no entry for was
// never waited on, nor made private).
void forget_range(unsigned first, unsigned last) {
  std::size_t end = FdTable::instance().number_end();
  for (std::size_t fd = first; fd < end && fd <= last; ++fd) {
    cohook::poller::Poller::forget_fd(static_cast<int>(fd));
    FdTable::instance().forget(static_cast<int>(fd));
  }
}

using CloseRangeFn = int (*)(unsigned, unsigned, int);
constinit cohook::hook::RealFunction<CloseRangeFn> real_close_range{
    "close_range", [](unsigned first, unsigned last, int flags) {
      return static_cast<int>(::syscall(SYS_close_range, first, last, flags));
    }};
using ClosefromFn = void (*)(int);
constinit cohook::hook::RealFunction<ClosefromFn> real_closefrom{
    "closefrom", [](int lowest) { ::syscall(SYS_close_range, static_cast<unsigned>(lowest), ~0u, 0); }};

}  // namespace

COHOOK_INTERPOSE int close_range(unsigned first, unsigned last, int flags) {
  // With CLOSE_RANGE_CLOEXEC nothing is closed now: the numbers only get close-on-exec.
  if (!(flags & CLOSE_RANGE_CLOEXEC) && first <= last) forget_range(first, last);
  return real_close_range(first, last, flags);
}

COHOOK_INTERPOSE void closefrom(int lowest) {
  if (lowest >= 0) forget_range(static_cast<unsigned>(lowest), ~0u);
  real_closefrom(lowest);
}

COHOOK_TRACED_HOOK(int, shutdown, (int fd, int how), (fd, how), cohook::trace::trace_shutdown) {
  // Waiters need no help: shutdown makes the socket readable/writable (EOF, EPIPE), which wakes
  // them through epoll.
  return real_functions.shutdown(fd, how);
}

COHOOK_INTERPOSE int fcntl(int fd, int command, ...) {
  va_list arguments;
  va_start(arguments, command);
  void* argument = va_arg(arguments, void*);
  va_end(arguments);
  return fcntl_hooked(fd, command, argument);
}

// Programs built with _FILE_OFFSET_BITS=64 (or _TIME_BITS=64) may call fcntl64; on 64-bit targets
// it is the same function.
COHOOK_INTERPOSE int fcntl64(int fd, int command, ...) {
  va_list arguments;
  va_start(arguments, command);
  void* argument = va_arg(arguments, void*);
  va_end(arguments);
  return fcntl_hooked(fd, command, argument);
}

const char cohook::hook::link_anchor::fd_hooks = 0;
