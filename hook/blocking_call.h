// How a hooked call that libc would block in is made cooperative, without ever leaving an
// O_NONBLOCK of cohook's own on the file.
//
// Outside a coroutine every hook is the real call and nothing here runs. Inside one, each attempt
// is made non-blocking by itself: MSG_DONTWAIT for the socket calls, preadv2/pwritev2 with
// RWF_NOWAIT for read/write and their vectored forms (io_hooks.cc says what happens where the
// kernel lacks it), and a window of one system call for accept, connect and sendfile
// (nonblocking_window.h). When an attempt fails with EAGAIN the call is about to park, and only
// then asks the kernel what the user asked for, so a setting made through any descriptor of the
// same file counts:
//  - O_NONBLOCK (F_GETFL): the user wants EAGAIN, which is returned;
//  - SO_RCVTIMEO / SO_SNDTIMEO (getsockopt): the deadline of the whole call, after which it
//    fails with EAGAIN as socket(7) says (a transfer that had started returns its count).
// Otherwise the coroutine parks until the fd is ready and tries again. A private socket
// (fd_table.h) whose settings a park has found plain skips both questions from then on: on a
// request/response connection they were two of every request's four system calls.
//
// Signals (signal(7), hook/signal_hooks.h): a handled signal ends a coroutine's wait with EINTR
// unless the handler has SA_RESTART and the socket has no timeout (wait_in_coroutine).
#pragma once

#include <sys/types.h>

#include <cerrno>
#include <cstddef>

#include "hook/fd_table.h"
#include "hook/interpose.h"
#include "sched/time.h"

namespace cohook::hook {

inline bool would_block(int error) { return error == EAGAIN || error == EWOULDBLOCK; }

// One blocking call in progress. What it learns from the kernel (the user's O_NONBLOCK, the
// socket timeout) is asked once, when it first has to park, so a call made of several attempts
// (a write that goes out in pieces) honours one timeout in all.
struct BlockingCall {
  BlockingCall(int fd, Direction direction, const char* what) : fd(fd), direction(direction), what(what) {}

  const int fd;
  const Direction direction;
  const char* const what;  // shown in dumps and traces: "read", "accept"...
  // epoll refused the file (a number reused behind cohook's back for a regular file): attempts
  // that can should make the plain blocking call from now on.
  bool blocking_fallback = false;

  // The deadline from SO_RCVTIMEO (reads) or SO_SNDTIMEO (writes, connect); kNoDeadline for
  // none or for a file that is not a socket.
  TimePoint wait_deadline();
  // Whether the file is non-blocking by the user's choice (F_GETFL, read once).
  bool user_wants_eagain();
  // The file is known not to be a socket: no timeout to ask for.
  void not_a_socket() { deadline_known_ = true; }

 private:
  // Whether the table knows fd's settings are plain; if so, both are known now.
  bool known_plain();
  // After a park read the deadline of a private socket: remember the settings if plain.
  void learn_plain(FdTable::PrivateToken token);

  bool deadline_known_ = false;
  bool flags_known_ = false;
  bool user_nonblocking_ = false;
  TimePoint deadline_ = kNoDeadline;
};

// Wait until the fd may be ready for call.direction. True: try again. False: give up, errno set
// (EAGAIN: the deadline passed; EBADF: the fd was closed while we waited).
bool wait_in_coroutine(BlockingCall& call);
// The same in the real poll(), blocking the thread: for a file epoll cannot watch.
bool wait_on_plain_thread(BlockingCall& call);

// Repeats a non-blocking attempt until it does not fail with EAGAIN, parking in between, unless
// the user made the file non-blocking (then the EAGAIN is theirs). With `first_failed`, the
// caller's own first attempt has just failed with EAGAIN, and the loop starts by parking.
template <class Attempt>
auto park_between_attempts(BlockingCall& call, Attempt&& attempt, bool first_failed = false) -> decltype(attempt()) {
  for (;;) {
    decltype(attempt()) result = -1;
    if (first_failed) {
      first_failed = false;
    } else {
      result = attempt();
      if (result >= 0 || !would_block(errno)) return result;
    }
    if (call.user_wants_eagain()) {
      errno = EAGAIN;
      return result;
    }
    if (!wait_in_coroutine(call)) return -1;
  }
}

// A write that libc completes in full on a blocking file (stream socket, pipe): write, writev,
// send, sendto, sendmsg, sendfile. attempt_from(offset) sends, without blocking, what is left
// from byte `offset`. On an error after some bytes went out, the count is returned and errno left
// alone, as the kernel does; on the user's non-blocking file a short write is final.
template <class AttemptFrom>
ssize_t write_all_in_coroutine(BlockingCall& call, std::size_t total, AttemptFrom&& attempt_from) {
  int saved_errno = errno;
  std::size_t done = 0;
  for (;;) {
    ssize_t result = park_between_attempts(call, [&] { return attempt_from(done); });
    if (result < 0) {
      if (done == 0) return result;
      break;
    }
    done += static_cast<std::size_t>(result);
    if (result == 0 || done >= total || call.user_wants_eagain()) break;
  }
  errno = saved_errno;
  return static_cast<ssize_t>(done);
}

}  // namespace cohook::hook
