// The _FORTIFY_SOURCE entry points of the hooked calls that can block. A program built with
// -O2 -D_FORTIFY_SOURCE=2 (as Debian builds its packages) calls __read_chk instead of read
// whenever the compiler knows the buffer's size; without these, such calls would go straight to
// libc and block the scheduler thread. Each makes libc's check (__chk_fail, which reports a
// buffer overflow and aborts, when the length exceeds the buffer) and then the hooked call.
// (pread is not hooked: it is refused by every pollable file, so __pread_chk need not be either.)
// The calls below must reach the plain hooks, never the fortified inline wrappers again.
#undef _FORTIFY_SOURCE
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hook/interpose.h"
#include "hook/link_anchors.h"

extern "C" [[noreturn]] void __chk_fail(void);

COHOOK_INTERPOSE ssize_t __read_chk(int fd, void* buffer, size_t size, size_t buffer_size) {
  if (size > buffer_size) __chk_fail();
  return ::read(fd, buffer, size);
}

COHOOK_INTERPOSE ssize_t __recv_chk(int fd, void* buffer, size_t size, size_t buffer_size, int flags) {
  if (size > buffer_size) __chk_fail();
  return ::recv(fd, buffer, size, flags);
}

COHOOK_INTERPOSE ssize_t __recvfrom_chk(int fd, void* buffer, size_t size, size_t buffer_size, int flags,
                                        sockaddr* address, socklen_t* length) {
  if (size > buffer_size) __chk_fail();
  return ::recvfrom(fd, buffer, size, flags, address, length);
}

COHOOK_INTERPOSE int __poll_chk(pollfd* fds, nfds_t count, int timeout_ms, size_t fds_size) {
  if (fds_size / sizeof(*fds) < count) __chk_fail();
  return ::poll(fds, count, timeout_ms);
}

COHOOK_INTERPOSE int __ppoll_chk(pollfd* fds, nfds_t count, const timespec* timeout, const sigset_t* mask,
                                 size_t fds_size) {
  if (fds_size / sizeof(*fds) < count) __chk_fail();
  return ::ppoll(fds, count, timeout, mask);
}

const char cohook::hook::link_anchor::fortify_hooks = 0;
