// The socket send/receive family: recv, recvfrom, recvmsg, recvmmsg, send, sendto, sendmsg,
// sendmmsg. Outside a coroutine they are the real calls. Inside one, every attempt carries
// MSG_DONTWAIT (blocking_call.h), so no file status flag is ever touched; a call the user made
// with MSG_DONTWAIT is passed through as it is.
//
// MSG_WAITALL: the kernel ignores it for a non-blocking attempt, so on a stream socket the rest
// is gathered here, as the blocking call would: until the buffer is full, EOF, an error or the
// SO_RCVTIMEO deadline (then the count so far). MSG_PEEK | MSG_WAITALL is not gathered (each
// attempt would peek from the start): it returns what is there.
#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <vector>

#include "hook/blocking_call.h"
#include "hook/interpose.h"
#include "hook/link_anchors.h"
#include "hook/real_functions.h"
#include "hook/socket_privacy.h"
#include "hook/trace.h"
#include "hook/trace_points.h"
#include "sched/scheduler.h"

using cohook::hook::BlockingCall;
using cohook::hook::cooperating_coroutine;
using cohook::hook::Direction;
using cohook::hook::park_between_attempts;
using cohook::hook::real_functions;
using cohook::hook::write_all_in_coroutine;

namespace {

std::size_t total_length(const iovec* iov, std::size_t count) {
  std::size_t total = 0;
  for (std::size_t i = 0; i < count; ++i) total += iov[i].iov_len;
  return total;
}

// The part of an iovec array that starts `offset` bytes in; only built after a short transfer.
std::vector<iovec> iovec_rest(const iovec* iov, std::size_t count, std::size_t offset) {
  std::vector<iovec> rest;
  for (std::size_t i = 0; i < count; ++i) {
    if (offset >= iov[i].iov_len) {
      offset -= iov[i].iov_len;
      continue;
    }
    rest.push_back({static_cast<char*>(iov[i].iov_base) + offset, iov[i].iov_len - offset});
    offset = 0;
  }
  return rest;
}

bool is_stream_socket(int fd) {
  int type = 0;
  socklen_t length = sizeof type;
  int saved_errno = errno;
  bool stream = real_functions.getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0 && type == SOCK_STREAM;
  errno = saved_errno;
  return stream;
}

bool gathers(int flags) { return (flags & MSG_WAITALL) != 0 && (flags & MSG_PEEK) == 0; }

// A receive inside a coroutine. attempt_from(offset) receives into the buffer from byte `offset`
// with MSG_DONTWAIT; with MSG_WAITALL the rest is gathered (see the top of the file).
template <class AttemptFrom>
ssize_t receive(int fd, const char* what, int flags, std::size_t total, AttemptFrom&& attempt_from) {
  BlockingCall call(fd, Direction::kRead, what);
  ssize_t first = park_between_attempts(call, [&] { return attempt_from(0); });
  if (!gathers(flags) || first <= 0 || static_cast<std::size_t>(first) >= total) return first;
  if (call.user_wants_eagain() || !is_stream_socket(fd)) return first;
  int saved_errno = errno;
  std::size_t done = static_cast<std::size_t>(first);
  while (done < total) {
    ssize_t result = park_between_attempts(call, [&] { return attempt_from(done); });
    if (result <= 0) break;  // EOF, an error or the timeout: the count so far, as the kernel
    done += static_cast<std::size_t>(result);
  }
  errno = saved_errno;
  return static_cast<ssize_t>(done);
}

ssize_t send_message_in_coroutine(int fd, const msghdr* message, int flags, const char* what) {
  std::size_t count = message->msg_iovlen;
  BlockingCall call(fd, Direction::kWrite, what);
  return write_all_in_coroutine(call, total_length(message->msg_iov, count), [=](std::size_t offset) -> ssize_t {
    if (offset == 0) return real_functions.sendmsg(fd, message, flags | MSG_DONTWAIT);
    // The rest of a stream: ancillary data (SCM_RIGHTS...) went with the first part.
    std::vector<iovec> rest = iovec_rest(message->msg_iov, count, offset);
    msghdr rest_message = *message;
    rest_message.msg_iov = rest.data();
    rest_message.msg_iovlen = rest.size();
    rest_message.msg_control = nullptr;
    rest_message.msg_controllen = 0;
    return real_functions.sendmsg(fd, &rest_message, flags | MSG_DONTWAIT);
  });
}

}  // namespace

COHOOK_TRACED_HOOK(ssize_t, recv, (int fd, void* buffer, size_t size, int flags), (fd, buffer, size, flags), cohook::trace::trace_recv) {
  if (cooperating_coroutine() == nullptr || (flags & MSG_DONTWAIT)) [[likely]] {
    return real_functions.recv(fd, buffer, size, flags);
  }
  return receive(fd, "recv", flags, size, [=](std::size_t offset) {
    return real_functions.recv(fd, static_cast<char*>(buffer) + offset, size - offset, flags | MSG_DONTWAIT);
  });
}

COHOOK_TRACED_HOOK(ssize_t, recvfrom, (int fd, void* buffer, size_t size, int flags, sockaddr* address, socklen_t* length), (fd, buffer, size, flags, address, length), cohook::trace::trace_recvfrom) {
  if (cooperating_coroutine() == nullptr || (flags & MSG_DONTWAIT)) [[likely]] {
    return real_functions.recvfrom(fd, buffer, size, flags, address, length);
  }
  return receive(fd, "recvfrom", flags, size, [=](std::size_t offset) {
    return real_functions.recvfrom(fd, static_cast<char*>(buffer) + offset, size - offset, flags | MSG_DONTWAIT,
                                   address, length);
  });
}

COHOOK_TRACED_HOOK(ssize_t, recvmsg, (int fd, msghdr* message, int flags), (fd, message, flags), cohook::trace::trace_recvmsg) {
  if (cooperating_coroutine() == nullptr || (flags & MSG_DONTWAIT) || message == nullptr) [[likely]] {
    return real_functions.recvmsg(fd, message, flags);
  }
  std::size_t count = message->msg_iovlen;
  return receive(fd, "recvmsg", flags, total_length(message->msg_iov, count), [=](std::size_t offset) -> ssize_t {
    if (offset == 0) return real_functions.recvmsg(fd, message, flags | MSG_DONTWAIT);
    // The rest of the stream: the address and ancillary data came with the first part and stay
    // in *message; the first part's msg_flags stand.
    std::vector<iovec> rest = iovec_rest(message->msg_iov, count, offset);
    msghdr rest_message{};
    rest_message.msg_iov = rest.data();
    rest_message.msg_iovlen = rest.size();
    return real_functions.recvmsg(fd, &rest_message, flags | MSG_DONTWAIT);
  });
}

COHOOK_TRACED_HOOK(int, recvmmsg, (int fd, mmsghdr* vector, unsigned int length, int flags, timespec* timeout), (fd, vector, length, flags, timeout), cohook::trace::trace_recvmmsg) {
  if (cooperating_coroutine() == nullptr || (flags & MSG_DONTWAIT) || length == 0) [[likely]] {
    return real_functions.recvmmsg(fd, vector, length, flags, timeout);
  }
  // The blocking call waits for the first message, then (without MSG_WAITFORONE) for every
  // further one until `length` have come; `timeout` is looked at only after a message arrived.
  cohook::TimePoint deadline = cohook::kNoDeadline;
  if (timeout != nullptr) {
    if (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000) {
      return real_functions.recvmmsg(fd, vector, length, flags, timeout);  // the kernel's EINVAL
    }
    deadline = cohook::deadline_after(std::chrono::duration_cast<cohook::Clock::duration>(
        std::chrono::seconds(timeout->tv_sec) + std::chrono::nanoseconds(timeout->tv_nsec)));
  }
  BlockingCall call(fd, Direction::kRead, "recvmmsg");
  int saved_errno = errno;
  unsigned int done = 0;
  while (done < length) {
    int result = park_between_attempts(call, [&] {
      return real_functions.recvmmsg(fd, vector + done, length - done, (flags & ~MSG_WAITFORONE) | MSG_DONTWAIT,
                                     nullptr);
    });
    if (result <= 0) {
      if (done == 0) return result;
      errno = saved_errno;
      break;
    }
    done += static_cast<unsigned int>(result);
    if ((flags & MSG_WAITFORONE) || call.user_wants_eagain() || cohook::Clock::now() >= deadline) break;
  }
  if (timeout != nullptr) {
    // The kernel leaves the time left in *timeout.
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - cohook::Clock::now()).count();
    if (left < 0) left = 0;
    timeout->tv_sec = static_cast<time_t>(left / 1000000000);
    timeout->tv_nsec = static_cast<long>(left % 1000000000);
  }
  return static_cast<int>(done);
}

COHOOK_TRACED_HOOK(ssize_t, send, (int fd, const void* buffer, size_t size, int flags), (fd, buffer, size, flags), cohook::trace::trace_send) {
  if (cooperating_coroutine() == nullptr || (flags & MSG_DONTWAIT)) [[likely]] {
    return real_functions.send(fd, buffer, size, flags);
  }
  BlockingCall call(fd, Direction::kWrite, "send");
  return write_all_in_coroutine(call, size, [=](std::size_t offset) {
    return real_functions.send(fd, static_cast<const char*>(buffer) + offset, size - offset, flags | MSG_DONTWAIT);
  });
}

COHOOK_TRACED_HOOK(ssize_t, sendto, (int fd, const void* buffer, size_t size, int flags, const sockaddr* address, socklen_t length), (fd, buffer, size, flags, address, length), cohook::trace::trace_sendto) {
  if (cooperating_coroutine() == nullptr || (flags & MSG_DONTWAIT)) [[likely]] {
    return real_functions.sendto(fd, buffer, size, flags, address, length);
  }
  BlockingCall call(fd, Direction::kWrite, "sendto");
  return write_all_in_coroutine(call, size, [=](std::size_t offset) {
    return real_functions.sendto(fd, static_cast<const char*>(buffer) + offset, size - offset, flags | MSG_DONTWAIT,
                                 address, length);
  });
}

COHOOK_TRACED_HOOK(ssize_t, sendmsg, (int fd, const msghdr* message, int flags), (fd, message, flags), cohook::trace::trace_sendmsg) {
  cohook::hook::note_fds_sent(message);
  if (cooperating_coroutine() == nullptr || (flags & MSG_DONTWAIT) || message == nullptr ||
      message->msg_iovlen == 0) [[likely]] {
    return real_functions.sendmsg(fd, message, flags);
  }
  return send_message_in_coroutine(fd, message, flags, "sendmsg");
}

COHOOK_TRACED_HOOK(int, sendmmsg, (int fd, mmsghdr* vector, unsigned int length, int flags), (fd, vector, length, flags), cohook::trace::trace_sendmmsg) {
  if (vector != nullptr) {
    // The kernel looks at no more than UIO_MAXIOV (1024) messages.
    for (unsigned int i = 0; i < length && i < 1024; ++i) cohook::hook::note_fds_sent(&vector[i].msg_hdr);
  }
  if (cooperating_coroutine() == nullptr || (flags & MSG_DONTWAIT) || length == 0) [[likely]] {
    return real_functions.sendmmsg(fd, vector, length, flags);
  }
  // One message at a time, each sent whole as the blocking sendmmsg sends it; an error after
  // some messages went out ends the call with their count, as in the kernel.
  int saved_errno = errno;
  for (unsigned int i = 0; i < length; ++i) {
    msghdr* message = &vector[i].msg_hdr;
    ssize_t sent = message->msg_iovlen == 0 ? real_functions.sendmsg(fd, message, flags)
                                            : send_message_in_coroutine(fd, message, flags, "sendmmsg");
    if (sent < 0) {
      if (i == 0) return -1;
      errno = saved_errno;
      return static_cast<int>(i);
    }
    vector[i].msg_len = static_cast<unsigned int>(sent);
  }
  return static_cast<int>(length);
}

const char cohook::hook::link_anchor::socket_io_hooks = 0;
