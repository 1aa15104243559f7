// How a hooked call that libc would block in is made cooperative.
//
// The real call is always tried first. If it fails with EAGAIN only because cohook made the fd
// non-blocking (the user did not ask for O_NONBLOCK), the call waits for readiness and tries
// again, until it succeeds, fails otherwise, or the socket's SO_RCVTIMEO/SO_SNDTIMEO passes
// (then -1/EAGAIN, as socket(7) specifies). Inside a coroutine the wait parks the coroutine; on
// a plain thread (an fd that a coroutine used before) it blocks in the real poll(), which is what
// the blocking libc call would have done.
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

// One blocking call in progress: its deadline is computed once, on the first wait, so that a
// call made of several attempts (a write that goes out in pieces) honours one timeout in all.
struct BlockingCall {
  BlockingCall(int fd, Direction direction, const char* what) : fd(fd), direction(direction), what(what) {}

  const int fd;
  const Direction direction;
  const char* const what;  // shown in dumps and traces: "read", "accept"...
  bool deadline_known = false;
  TimePoint deadline = kNoDeadline;

  TimePoint wait_deadline() {
    if (!deadline_known) {
      deadline = FdTable::instance().deadline_from_now(fd, direction);
      deadline_known = true;
    }
    return deadline;
  }
};

// Wait until the fd may be ready for call.direction. True: try again. False: give up, errno set
// (EAGAIN: the deadline passed; EBADF: the fd was closed while we waited).
bool wait_in_coroutine(BlockingCall& call);
bool wait_on_plain_thread(BlockingCall& call);

// Whether EAGAIN (or a short transfer) on this fd should be waited out, in the current context.
// Inside a coroutine this prepares the fd (classifies it, makes it non-blocking for cohook).
inline bool should_wait(int fd, bool in_coroutine) {
  if (in_coroutine) return FdTable::instance().prepare_for_coroutine(fd).waits_for_readiness();
  return FdTable::instance().state(fd).waits_for_readiness();
}

// Attempts until the attempt does not fail with EAGAIN, waiting in between. The first attempt has
// been made already when `already_failed` is true.
template <class Attempt>
auto retry_until_ready(BlockingCall& call, bool in_coroutine, bool already_failed, Attempt& attempt)
    -> decltype(attempt()) {
  if (!already_failed) {
    auto result = attempt();
    if (result >= 0 || !would_block(errno)) return result;
  }
  for (;;) {
    bool retry = in_coroutine ? wait_in_coroutine(call) : wait_on_plain_thread(call);
    if (!retry) return -1;
    auto result = attempt();
    if (result >= 0 || !would_block(errno)) return result;
  }
}

// The slow paths, kept out of line so that the pass-through stays a handful of instructions.
template <class Attempt>
[[gnu::noinline]] auto blocking_call_after_failure(BlockingCall call, Attempt& attempt, decltype(attempt()) result)
    -> decltype(attempt()) {
  if (!would_block(errno) || !should_wait(call.fd, false)) return result;
  return retry_until_ready(call, false, true, attempt);
}

template <class Attempt>
[[gnu::noinline]] auto blocking_call_in_coroutine(BlockingCall& call, Attempt& attempt) -> decltype(attempt()) {
  if (!should_wait(call.fd, true)) return attempt();
  return retry_until_ready(call, true, false, attempt);
}

// A call that libc would block in until fd is ready: read, accept, recv, send...
template <class Attempt>
inline auto blocking_call(int fd, Direction direction, const char* what, Attempt attempt) -> decltype(attempt()) {
  if (cooperating_coroutine() == nullptr) {
    auto result = attempt();
    if (result < 0) [[unlikely]] return blocking_call_after_failure(BlockingCall(fd, direction, what), attempt, result);
    return result;
  }
  BlockingCall call(fd, direction, what);
  return blocking_call_in_coroutine(call, attempt);
}

template <class Attempt>
auto blocking_call(BlockingCall& call, Attempt attempt) -> decltype(attempt()) {
  if (cooperating_coroutine() == nullptr) {
    auto result = attempt();
    if (result < 0 && would_block(errno) && should_wait(call.fd, false)) return retry_until_ready(call, false, true, attempt);
    return result;
  }
  return blocking_call_in_coroutine(call, attempt);
}

// The rest of a write that went out in part (see write_all).
template <class AttemptFrom>
[[gnu::noinline]] ssize_t write_rest(int fd, const char* what, std::size_t total, ssize_t first, AttemptFrom& attempt_from) {
  BlockingCall call(fd, Direction::kWrite, what);
  if (first < 0) {
    auto attempt = [&] { return attempt_from(0); };
    first = blocking_call_after_failure(call, attempt, first);
    if (first < 0 || static_cast<std::size_t>(first) >= total) return first;
  }
  // A short write is final for the user's non-blocking fd (and for anything cohook left alone).
  bool in_coroutine = cooperating_coroutine() != nullptr;
  if (!should_wait(fd, in_coroutine)) return first;
  std::size_t done = static_cast<std::size_t>(first);
  int saved_errno = errno;
  while (done < total) {
    auto rest = [&] { return attempt_from(done); };
    ssize_t result = retry_until_ready(call, in_coroutine, false, rest);
    if (result <= 0) break;
    done += static_cast<std::size_t>(result);
  }
  errno = saved_errno;
  return static_cast<ssize_t>(done);
}

// A write that libc completes in full on a blocking fd (stream socket, pipe): write, writev,
// send, sendto, sendmsg. attempt_from(offset) sends what is left from byte `offset`. On an error
// after some bytes went out, the count is returned and errno left alone, as the kernel does.
template <class AttemptFrom>
inline ssize_t write_all(int fd, const char* what, std::size_t total, AttemptFrom attempt_from) {
  if (cooperating_coroutine() == nullptr) {
    ssize_t first = attempt_from(0);
    if (first >= 0 && static_cast<std::size_t>(first) >= total) [[likely]] return first;
    return write_rest(fd, what, total, first, attempt_from);
  }
  BlockingCall call(fd, Direction::kWrite, what);
  auto attempt = [&] { return attempt_from(0); };
  ssize_t first = blocking_call_in_coroutine(call, attempt);
  if (first < 0 || static_cast<std::size_t>(first) >= total) return first;
  return write_rest(fd, what, total, first, attempt_from);
}

}  // namespace cohook::hook
