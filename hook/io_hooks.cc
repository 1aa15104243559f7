// read/write and the socket send/receive family. Inside a coroutine they park instead of
// blocking; outside they are the real calls (see blocking_call.h for both).
#include <errno.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstddef>
#include <vector>

#include "hook/blocking_call.h"
#include "hook/interpose.h"
#include "hook/link_anchors.h"
#include "hook/real_functions.h"

using cohook::hook::blocking_call;
using cohook::hook::Direction;
using cohook::hook::real_functions;
using cohook::hook::write_all;

namespace {

std::size_t total_length(const iovec* iov, int count) {
  std::size_t total = 0;
  for (int i = 0; i < count; ++i) total += iov[i].iov_len;
  return total;
}

// The part of an iovec array that starts `offset` bytes in; only built after a short write.
std::vector<iovec> iovec_rest(const iovec* iov, int count, std::size_t offset) {
  std::vector<iovec> rest;
  for (int i = 0; i < count; ++i) {
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

// recv(MSG_WAITALL) on a blocking stream socket returns only when the buffer is full, at EOF, on
// an error or at the timeout. The kernel ignores MSG_WAITALL on a non-blocking socket, so when
// cohook made the socket non-blocking the rest is gathered here.
template <class AttemptFrom>
ssize_t receive_all(int fd, const char* what, std::size_t total, AttemptFrom attempt_from) {
  cohook::hook::BlockingCall call(fd, Direction::kRead, what);
  ssize_t first = blocking_call(call, [&] { return attempt_from(0); });
  if (first <= 0 || static_cast<std::size_t>(first) >= total) return first;
  bool in_coroutine = cohook::hook::cooperating_coroutine() != nullptr;
  if (!cohook::hook::should_wait(fd, in_coroutine) || !is_stream_socket(fd)) return first;
  std::size_t done = static_cast<std::size_t>(first);
  int saved_errno = errno;
  while (done < total) {
    auto rest = [&] { return attempt_from(done); };
    ssize_t result = cohook::hook::retry_until_ready(call, in_coroutine, false, rest);
    if (result <= 0) break;
    done += static_cast<std::size_t>(result);
  }
  errno = saved_errno;
  return static_cast<ssize_t>(done);
}

}  // namespace

COHOOK_INTERPOSE ssize_t read(int fd, void* buffer, size_t size) {
  return blocking_call(fd, Direction::kRead, "read", [=] { return real_functions.read(fd, buffer, size); });
}

COHOOK_INTERPOSE ssize_t readv(int fd, const iovec* iov, int count) {
  return blocking_call(fd, Direction::kRead, "readv", [=] { return real_functions.readv(fd, iov, count); });
}

COHOOK_INTERPOSE ssize_t write(int fd, const void* buffer, size_t size) {
  return write_all(fd, "write", size, [=](std::size_t offset) {
    return real_functions.write(fd, static_cast<const char*>(buffer) + offset, size - offset);
  });
}

COHOOK_INTERPOSE ssize_t writev(int fd, const iovec* iov, int count) {
  if (count <= 0) return real_functions.writev(fd, iov, count);  // the kernel's EINVAL / 0
  return write_all(fd, "writev", total_length(iov, count), [=](std::size_t offset) -> ssize_t {
    if (offset == 0) return real_functions.writev(fd, iov, count);
    std::vector<iovec> rest = iovec_rest(iov, count, offset);
    return real_functions.writev(fd, rest.data(), static_cast<int>(rest.size()));
  });
}

COHOOK_INTERPOSE ssize_t recv(int fd, void* buffer, size_t size, int flags) {
  if (flags & MSG_DONTWAIT) return real_functions.recv(fd, buffer, size, flags);
  if (flags & MSG_WAITALL) {
    return receive_all(fd, "recv", size, [=](std::size_t offset) {
      return real_functions.recv(fd, static_cast<char*>(buffer) + offset, size - offset, flags);
    });
  }
  return blocking_call(fd, Direction::kRead, "recv", [=] { return real_functions.recv(fd, buffer, size, flags); });
}

COHOOK_INTERPOSE ssize_t recvfrom(int fd, void* buffer, size_t size, int flags, sockaddr* address,
                                  socklen_t* length) {
  if (flags & MSG_DONTWAIT) return real_functions.recvfrom(fd, buffer, size, flags, address, length);
  if (flags & MSG_WAITALL) {
    return receive_all(fd, "recvfrom", size, [=](std::size_t offset) {
      return real_functions.recvfrom(fd, static_cast<char*>(buffer) + offset, size - offset, flags, address, length);
    });
  }
  return blocking_call(fd, Direction::kRead, "recvfrom",
                       [=] { return real_functions.recvfrom(fd, buffer, size, flags, address, length); });
}

COHOOK_INTERPOSE ssize_t recvmsg(int fd, msghdr* message, int flags) {
  // MSG_WAITALL with recvmsg is left to the kernel: on a socket cohook made non-blocking it may
  // return early, a documented limitation.
  if (flags & MSG_DONTWAIT) return real_functions.recvmsg(fd, message, flags);
  return blocking_call(fd, Direction::kRead, "recvmsg", [=] { return real_functions.recvmsg(fd, message, flags); });
}

COHOOK_INTERPOSE ssize_t send(int fd, const void* buffer, size_t size, int flags) {
  if (flags & MSG_DONTWAIT) return real_functions.send(fd, buffer, size, flags);
  return write_all(fd, "send", size, [=](std::size_t offset) {
    return real_functions.send(fd, static_cast<const char*>(buffer) + offset, size - offset, flags);
  });
}

COHOOK_INTERPOSE ssize_t sendto(int fd, const void* buffer, size_t size, int flags, const sockaddr* address,
                                socklen_t length) {
  if (flags & MSG_DONTWAIT) return real_functions.sendto(fd, buffer, size, flags, address, length);
  return write_all(fd, "sendto", size, [=](std::size_t offset) {
    return real_functions.sendto(fd, static_cast<const char*>(buffer) + offset, size - offset, flags, address, length);
  });
}

COHOOK_INTERPOSE ssize_t sendmsg(int fd, const msghdr* message, int flags) {
  if ((flags & MSG_DONTWAIT) || message == nullptr || message->msg_iovlen == 0) {
    return real_functions.sendmsg(fd, message, flags);
  }
  int count = static_cast<int>(message->msg_iovlen);
  return write_all(fd, "sendmsg", total_length(message->msg_iov, count), [=](std::size_t offset) -> ssize_t {
    if (offset == 0) return real_functions.sendmsg(fd, message, flags);
    // The rest of a stream: ancillary data (SCM_RIGHTS...) went with the first part.
    std::vector<iovec> rest = iovec_rest(message->msg_iov, count, offset);
    msghdr rest_message = *message;
    rest_message.msg_iov = rest.data();
    rest_message.msg_iovlen = rest.size();
    rest_message.msg_control = nullptr;
    rest_message.msg_controllen = 0;
    return real_functions.sendmsg(fd, &rest_message, flags);
  });
}

COHOOK_INTERPOSE ssize_t sendfile(int out_fd, int in_fd, off_t* offset, size_t count) {
  // With offset == nullptr the kernel advances in_fd's position; otherwise *offset. Either way
  // a retry continues where the last part ended.
  return write_all(out_fd, "sendfile", count, [=](std::size_t done) {
    return real_functions.sendfile(out_fd, in_fd, offset, count - done);
  });
}

const char cohook::hook::link_anchor::io_hooks = 0;
