// connect, accept and accept4: the calls that set up stream connections.
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include "hook/blocking_call.h"
#include "hook/fd_table.h"
#include "hook/interpose.h"
#include "hook/link_anchors.h"
#include "hook/real_functions.h"
#include "poller/poller.h"

using cohook::hook::BlockingCall;
using cohook::hook::cooperating_coroutine;
using cohook::hook::Direction;
using cohook::hook::FdKind;
using cohook::hook::FdTable;
using cohook::hook::real_functions;

namespace {

bool connect_finished(int fd) {
  pollfd entry{fd, POLLOUT, 0};
  return real_functions.poll(&entry, 1, 0) != 0;
}

// The rest of a blocking connect that the non-blocking one left in progress: wait until the
// socket is writable, then report the outcome from SO_ERROR, as the kernel does.
int finish_connect(int fd, bool in_coroutine) {
  BlockingCall call(fd, Direction::kWrite, "connect");  // SO_SNDTIMEO bounds connect on Linux
  do {
    bool ready = in_coroutine ? cohook::hook::wait_in_coroutine(call) : cohook::hook::wait_on_plain_thread(call);
    if (!ready) {
      // A blocking connect that times out leaves the connection in progress and says so.
      if (errno == EAGAIN) errno = EINPROGRESS;
      return -1;
    }
  } while (!connect_finished(fd));
  int error = 0;
  socklen_t length = sizeof error;
  if (real_functions.getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return -1;
  if (error != 0) {
    errno = error;
    return -1;
  }
  return 0;
}

int accept_hooked(int fd, sockaddr* address, socklen_t* length, int flags, bool plain_accept) {
  bool in_coroutine = cooperating_coroutine() != nullptr;
  bool user_nonblocking = (flags & SOCK_NONBLOCK) != 0;
  // In a coroutine the new socket is created non-blocking for cohook at once.
  bool for_cohook = in_coroutine && !user_nonblocking;
  int new_fd = cohook::hook::blocking_call(fd, Direction::kRead, plain_accept ? "accept" : "accept4", [&] {
    if (plain_accept && !for_cohook) return real_functions.accept(fd, address, length);
    return real_functions.accept4(fd, address, length, for_cohook ? (flags | SOCK_NONBLOCK) : flags);
  });
  if (new_fd < 0) return new_fd;
  cohook::poller::Poller::forget_fd(new_fd);
  FdTable& table = FdTable::instance();
  if (for_cohook) {
    table.record_new(new_fd, FdKind::kSocket, false, true);
    table.copy_timeouts(fd, new_fd);
  } else {
    // Lazily classified: it may have inherited timeouts the table does not know.
    table.reset(new_fd);
  }
  return new_fd;
}

}  // namespace

COHOOK_INTERPOSE int connect(int fd, const sockaddr* address, socklen_t length) {
  bool in_coroutine = cooperating_coroutine() != nullptr;
  if (in_coroutine) FdTable::instance().prepare_for_coroutine(fd);
  int result = real_functions.connect(fd, address, length);
  if (result == 0 || errno != EINPROGRESS) return result;
  if (!FdTable::instance().state(fd).waits_for_readiness()) return result;  // the user's EINPROGRESS
  return finish_connect(fd, in_coroutine);
}

COHOOK_INTERPOSE int accept(int fd, sockaddr* address, socklen_t* length) {
  return accept_hooked(fd, address, length, 0, true);
}

COHOOK_INTERPOSE int accept4(int fd, sockaddr* address, socklen_t* length, int flags) {
  return accept_hooked(fd, address, length, flags, false);
}

const char cohook::hook::link_anchor::connection_hooks = 0;
