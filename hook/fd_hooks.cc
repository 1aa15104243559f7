// Calls that create, duplicate, reconfigure or close fds: they keep the FdTable and the pollers
// true. Two rules hold for every one of them:
//  - an fd number that is closed or handed to a new file has poller::Poller::forget_fd called on
//    it, so a coroutine waiting on the old file wakes (with EBADF) and a stale epoll registration
//    can never wake a waiter of the new file;
//  - the user sees the O_NONBLOCK it set, never the one cohook set for itself.
#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdint>

#include "hook/fd_table.h"
#include "hook/interpose.h"
#include "hook/link_anchors.h"
#include "hook/real_functions.h"
#include "poller/poller.h"

using cohook::hook::cooperating_coroutine;
using cohook::hook::Direction;
using cohook::hook::FdKind;
using cohook::hook::FdTable;
using cohook::hook::real_functions;

namespace {

// fd now names a new file.
void adopt_new_fd(int fd, FdKind kind, bool user_nonblocking, bool cohook_nonblocking) {
  cohook::poller::Poller::forget_fd(fd);
  FdTable::instance().record_new(fd, kind, user_nonblocking, cohook_nonblocking);
}

// new_fd now names the same open file description as fd.
void adopt_duplicate(int fd, int new_fd) {
  cohook::poller::Poller::forget_fd(new_fd);
  FdTable::instance().copy(fd, new_fd);
}

// Inside a coroutine, new pollable fds are created non-blocking straight away (one system call
// fewer than switching them later); the table remembers that the user did not ask for it.
bool create_nonblocking_for_cohook(int user_flags, int nonblock_flag) {
  return cooperating_coroutine() != nullptr && (user_flags & nonblock_flag) == 0;
}

int fcntl_hooked(int fd, int command, void* argument) {
  FdTable& table = FdTable::instance();
  switch (command) {
    case F_GETFL: {
      int flags = real_functions.fcntl(fd, F_GETFL);
      if (flags >= 0) {
        cohook::hook::FdState state = table.state(fd);
        if (state.cohook_nonblocking && !state.user_nonblocking) flags &= ~O_NONBLOCK;
      }
      return flags;
    }
    case F_SETFL: {
      int flags = static_cast<int>(reinterpret_cast<std::intptr_t>(argument));
      // Keep the file non-blocking if cohook relies on it; remember what the user wants.
      int kernel_flags = table.state(fd).cohook_nonblocking ? (flags | O_NONBLOCK) : flags;
      int result = real_functions.fcntl(fd, F_SETFL, kernel_flags);
      if (result == 0) table.set_user_nonblocking(fd, (flags & O_NONBLOCK) != 0);
      return result;
    }
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
      int new_fd = real_functions.fcntl(fd, command, static_cast<int>(reinterpret_cast<std::intptr_t>(argument)));
      if (new_fd >= 0) adopt_duplicate(fd, new_fd);
      return new_fd;
    }
    default:
      // Every other command takes an int, a pointer or nothing; passing the argument on as a
      // pointer is what glibc's own fcntl does.
      return real_functions.fcntl(fd, command, argument);
  }
}

}  // namespace

COHOOK_INTERPOSE int socket(int domain, int type, int protocol) {
  bool for_cohook = create_nonblocking_for_cohook(type, SOCK_NONBLOCK);
  int fd = real_functions.socket(domain, for_cohook ? (type | SOCK_NONBLOCK) : type, protocol);
  if (fd >= 0) adopt_new_fd(fd, FdKind::kSocket, (type & SOCK_NONBLOCK) != 0, for_cohook);
  return fd;
}

COHOOK_INTERPOSE int socketpair(int domain, int type, int protocol, int fds[2]) {
  bool for_cohook = create_nonblocking_for_cohook(type, SOCK_NONBLOCK);
  int result = real_functions.socketpair(domain, for_cohook ? (type | SOCK_NONBLOCK) : type, protocol, fds);
  if (result == 0) {
    adopt_new_fd(fds[0], FdKind::kSocket, (type & SOCK_NONBLOCK) != 0, for_cohook);
    adopt_new_fd(fds[1], FdKind::kSocket, (type & SOCK_NONBLOCK) != 0, for_cohook);
  }
  return result;
}

COHOOK_INTERPOSE int pipe2(int fds[2], int flags) {
  bool for_cohook = create_nonblocking_for_cohook(flags, O_NONBLOCK);
  int result = real_functions.pipe2(fds, for_cohook ? (flags | O_NONBLOCK) : flags);
  if (result == 0) {
    adopt_new_fd(fds[0], FdKind::kPipe, (flags & O_NONBLOCK) != 0, for_cohook);
    adopt_new_fd(fds[1], FdKind::kPipe, (flags & O_NONBLOCK) != 0, for_cohook);
  }
  return result;
}

COHOOK_INTERPOSE int pipe(int fds[2]) {
  if (cooperating_coroutine() != nullptr) return pipe2(fds, 0);
  int result = real_functions.pipe(fds);
  if (result == 0) {
    adopt_new_fd(fds[0], FdKind::kPipe, false, false);
    adopt_new_fd(fds[1], FdKind::kPipe, false, false);
  }
  return result;
}

COHOOK_INTERPOSE int eventfd(unsigned initial_value, int flags) {
  bool for_cohook = create_nonblocking_for_cohook(flags, EFD_NONBLOCK);
  int fd = real_functions.eventfd(initial_value, for_cohook ? (flags | EFD_NONBLOCK) : flags);
  if (fd >= 0) adopt_new_fd(fd, FdKind::kAnonymous, (flags & EFD_NONBLOCK) != 0, for_cohook);
  return fd;
}

COHOOK_INTERPOSE int dup(int fd) {
  int new_fd = real_functions.dup(fd);
  if (new_fd >= 0) adopt_duplicate(fd, new_fd);
  return new_fd;
}

COHOOK_INTERPOSE int dup2(int fd, int new_fd) {
  int result = real_functions.dup2(fd, new_fd);
  // dup2(fd, fd) changes nothing; otherwise new_fd's old file was closed and replaced.
  if (result >= 0 && fd != new_fd) adopt_duplicate(fd, result);
  return result;
}

COHOOK_INTERPOSE int dup3(int fd, int new_fd, int flags) {
  int result = real_functions.dup3(fd, new_fd, flags);
  if (result >= 0) adopt_duplicate(fd, result);
  return result;
}

COHOOK_INTERPOSE int close(int fd) {
  // Before the real close, while the number still names this file: once closed, another thread
  // may get the same number for a new file at any moment.
  cohook::poller::Poller::forget_fd(fd);
  FdTable::instance().reset(fd);
  return real_functions.close(fd);
}

COHOOK_INTERPOSE int shutdown(int fd, int how) {
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

COHOOK_INTERPOSE int ioctl(int fd, unsigned long request, ...) {
  va_list arguments;
  va_start(arguments, request);
  void* argument = va_arg(arguments, void*);
  va_end(arguments);
  if (request != FIONBIO || argument == nullptr) return real_functions.ioctl(fd, request, argument);
  // FIONBIO is O_NONBLOCK by another name: the user's choice is recorded, the file stays
  // non-blocking while cohook relies on that.
  bool user_nonblocking = *static_cast<int*>(argument) != 0;
  int kernel_value = (user_nonblocking || FdTable::instance().state(fd).cohook_nonblocking) ? 1 : 0;
  int result = real_functions.ioctl(fd, request, &kernel_value);
  if (result == 0) FdTable::instance().set_user_nonblocking(fd, user_nonblocking);
  return result;
}

COHOOK_INTERPOSE int setsockopt(int fd, int level, int name, const void* value, socklen_t length) {
  int result = real_functions.setsockopt(fd, level, name, value, length);
  if (result == 0 && level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO) &&
      length >= sizeof(timeval)) {
    // The kernel treats {0, 0} as "wait forever"; so does the table.
    const auto* timeout = static_cast<const timeval*>(value);
    auto duration = std::chrono::seconds(timeout->tv_sec) + std::chrono::microseconds(timeout->tv_usec);
    if (duration < decltype(duration)::zero()) duration = decltype(duration)::zero();
    FdTable::instance().set_timeout(fd, name == SO_RCVTIMEO ? Direction::kRead : Direction::kWrite,
                                    std::chrono::duration_cast<cohook::Clock::duration>(duration));
  }
  return result;
}

COHOOK_INTERPOSE int getsockopt(int fd, int level, int name, void* value, socklen_t* length) {
  // Nothing cohook changes is visible through getsockopt (O_NONBLOCK is not a socket option).
  return real_functions.getsockopt(fd, level, name, value, length);
}

const char cohook::hook::link_anchor::fd_hooks = 0;
