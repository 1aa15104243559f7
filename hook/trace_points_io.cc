// Trace points of the data calls: read, write, their vectored forms, sendfile and the socket
// send/receive family, printed as strace prints the system calls.
#include <limits.h>

#include <cstddef>
#include <cstdint>

#include "hook/trace.h"
#include "hook/trace_decode.h"
#include "hook/trace_points.h"

namespace cohook::trace {
namespace {

void put_fd_open(TraceLine& line, const char* name, int fd) {
  line.put(name);
  line.put_char('(');
  line.put_int(fd);
  line.put(", ");
}

// What a receive filled in: the bytes it returned, or the buffer's address when it failed.
void put_received(TraceLine& line, const void* buffer, long long result) {
  if (result >= 0) put_string(line, buffer, static_cast<std::size_t>(result), string_limit());
  else line.put_hex(reinterpret_cast<std::uintptr_t>(buffer));
}

void put_address_out(TraceLine& line, const sockaddr* address, const socklen_t* length, bool filled) {
  if (address == nullptr) line.put("NULL");
  else if (filled && length != nullptr) put_sockaddr(line, address, *length);
  else line.put_hex(reinterpret_cast<std::uintptr_t>(address));
  line.put(", ");
  if (length == nullptr) {
    line.put("NULL");
  } else {
    line.put_char('[');
    line.put_uint(*length);
    line.put_char(']');
  }
}

std::size_t total_length(const iovec* iov, int count) {
  std::size_t total = 0;
  for (int i = 0; i < count; ++i) total += iov[i].iov_len;
  return total;
}

}  // namespace

ssize_t trace_read(ssize_t (*body)(int, void*, size_t), int fd, void* buffer, size_t size) {
  return traced_call(
      TracedCall::read, [&](TraceLine& line) { put_fd_open(line, "read", fd); },
      [&] { return body(fd, buffer, size); },
      [&](TraceLine& line, ssize_t result) {
        put_received(line, buffer, result);
        line.put(", ");
        line.put_uint(size);
        line.put_char(')');
      });
}

ssize_t trace_write(ssize_t (*body)(int, const void*, size_t), int fd, const void* buffer, size_t size) {
  return traced_call(
      TracedCall::write,
      [&](TraceLine& line) {
        put_fd_open(line, "write", fd);
        put_string(line, buffer, size, string_limit());
        line.put(", ");
        line.put_uint(size);
      },
      [&] { return body(fd, buffer, size); }, [&](TraceLine& line, ssize_t) { line.put_char(')'); });
}

ssize_t trace_readv(ssize_t (*body)(int, const iovec*, int), int fd, const iovec* iov, int count) {
  return traced_call(
      TracedCall::readv, [&](TraceLine& line) { put_fd_open(line, "readv", fd); },
      [&] { return body(fd, iov, count); },
      [&](TraceLine& line, ssize_t result) {
        if (result >= 0) put_iovec(line, iov, count, static_cast<std::size_t>(result), string_limit());
        else line.put_hex(reinterpret_cast<std::uintptr_t>(iov));
        line.put(", ");
        line.put_int(count);
        line.put_char(')');
      });
}

ssize_t trace_writev(ssize_t (*body)(int, const iovec*, int), int fd, const iovec* iov, int count) {
  return traced_call(
      TracedCall::writev,
      [&](TraceLine& line) {
        put_fd_open(line, "writev", fd);
        if (count > 0 && count <= IOV_MAX) put_iovec(line, iov, count, total_length(iov, count), string_limit());
        else line.put_hex(reinterpret_cast<std::uintptr_t>(iov));
        line.put(", ");
        line.put_int(count);
      },
      [&] { return body(fd, iov, count); }, [&](TraceLine& line, ssize_t) { line.put_char(')'); });
}

ssize_t trace_sendfile(ssize_t (*body)(int, int, off_t*, size_t), int out_fd, int in_fd, off_t* offset, size_t count) {
  return traced_call(
      TracedCall::sendfile,
      [&](TraceLine& line) {
        put_fd_open(line, "sendfile", out_fd);
        line.put_int(in_fd);
        line.put(", ");
        if (offset == nullptr) {
          line.put("NULL");
        } else {
          line.put_char('[');
          line.put_int(*offset);
          line.put_char(']');
        }
        line.put(", ");
        line.put_uint(count);
      },
      [&] { return body(out_fd, in_fd, offset, count); },
      [&](TraceLine& line, ssize_t) {
        if (offset != nullptr) {
          line.put(" => [");
          line.put_int(*offset);
          line.put_char(']');
        }
        line.put_char(')');
      });
}

ssize_t trace_recv(ssize_t (*body)(int, void*, size_t, int), int fd, void* buffer, size_t size, int flags) {
  // glibc's recv is recvfrom(fd, buffer, size, flags, NULL, NULL), as strace shows it.
  return traced_call(
      TracedCall::recvfrom, [&](TraceLine& line) { put_fd_open(line, "recvfrom", fd); },
      [&] { return body(fd, buffer, size, flags); },
      [&](TraceLine& line, ssize_t result) {
        put_received(line, buffer, result);
        line.put(", ");
        line.put_uint(size);
        line.put(", ");
        put_msg_flags(line, flags);
        line.put(", NULL, NULL)");
      });
}

ssize_t trace_recvfrom(ssize_t (*body)(int, void*, size_t, int, sockaddr*, socklen_t*), int fd, void* buffer,
                       size_t size, int flags, sockaddr* address, socklen_t* length) {
  return traced_call(
      TracedCall::recvfrom, [&](TraceLine& line) { put_fd_open(line, "recvfrom", fd); },
      [&] { return body(fd, buffer, size, flags, address, length); },
      [&](TraceLine& line, ssize_t result) {
        put_received(line, buffer, result);
        line.put(", ");
        line.put_uint(size);
        line.put(", ");
        put_msg_flags(line, flags);
        line.put(", ");
        put_address_out(line, address, length, result >= 0);
        line.put_char(')');
      });
}

ssize_t trace_recvmsg(ssize_t (*body)(int, msghdr*, int), int fd, msghdr* message, int flags) {
  return traced_call(
      TracedCall::recvmsg, [&](TraceLine& line) { put_fd_open(line, "recvmsg", fd); },
      [&] { return body(fd, message, flags); },
      [&](TraceLine& line, ssize_t result) {
        if (result >= 0 && message != nullptr)
          put_msghdr(line, message, static_cast<std::size_t>(result), string_limit());
        else line.put_hex(reinterpret_cast<std::uintptr_t>(message));
        line.put(", ");
        put_msg_flags(line, flags);
        line.put_char(')');
      });
}

int trace_recvmmsg(int (*body)(int, mmsghdr*, unsigned, int, timespec*), int fd, mmsghdr* vector, unsigned length,
                   int flags, timespec* timeout) {
  return traced_call(
      TracedCall::recvmmsg, [&](TraceLine& line) { put_fd_open(line, "recvmmsg", fd); },
      [&] { return body(fd, vector, length, flags, timeout); },
      [&](TraceLine& line, int) {
        line.put_hex(reinterpret_cast<std::uintptr_t>(vector));
        line.put(", ");
        line.put_uint(length);
        line.put(", ");
        put_msg_flags(line, flags);
        line.put(", ");
        if (timeout == nullptr) line.put("NULL");
        else put_timespec(line, timeout);
        line.put_char(')');
      });
}

ssize_t trace_send(ssize_t (*body)(int, const void*, size_t, int), int fd, const void* buffer, size_t size, int flags) {
  // glibc's send is sendto(fd, buffer, size, flags, NULL, 0).
  return traced_call(
      TracedCall::sendto,
      [&](TraceLine& line) {
        put_fd_open(line, "sendto", fd);
        put_string(line, buffer, size, string_limit());
        line.put(", ");
        line.put_uint(size);
        line.put(", ");
        put_msg_flags(line, flags);
        line.put(", NULL, 0");
      },
      [&] { return body(fd, buffer, size, flags); }, [&](TraceLine& line, ssize_t) { line.put_char(')'); });
}

ssize_t trace_sendto(ssize_t (*body)(int, const void*, size_t, int, const sockaddr*, socklen_t), int fd,
                     const void* buffer, size_t size, int flags, const sockaddr* address, socklen_t length) {
  return traced_call(
      TracedCall::sendto,
      [&](TraceLine& line) {
        put_fd_open(line, "sendto", fd);
        put_string(line, buffer, size, string_limit());
        line.put(", ");
        line.put_uint(size);
        line.put(", ");
        put_msg_flags(line, flags);
        line.put(", ");
        if (address == nullptr) line.put("NULL");
        else put_sockaddr(line, address, length);
        line.put(", ");
        line.put_uint(length);
      },
      [&] { return body(fd, buffer, size, flags, address, length); },
      [&](TraceLine& line, ssize_t) { line.put_char(')'); });
}

ssize_t trace_sendmsg(ssize_t (*body)(int, const msghdr*, int), int fd, const msghdr* message, int flags) {
  return traced_call(
      TracedCall::sendmsg,
      [&](TraceLine& line) {
        put_fd_open(line, "sendmsg", fd);
        if (message != nullptr && message->msg_iovlen <= IOV_MAX) {
          put_msghdr(line, message, total_length(message->msg_iov, static_cast<int>(message->msg_iovlen)),
                     string_limit());
        } else {
          line.put_hex(reinterpret_cast<std::uintptr_t>(message));
        }
        line.put(", ");
        put_msg_flags(line, flags);
      },
      [&] { return body(fd, message, flags); }, [&](TraceLine& line, ssize_t) { line.put_char(')'); });
}

int trace_sendmmsg(int (*body)(int, mmsghdr*, unsigned, int), int fd, mmsghdr* vector, unsigned length, int flags) {
  return traced_call(
      TracedCall::sendmmsg,
      [&](TraceLine& line) {
        put_fd_open(line, "sendmmsg", fd);
        line.put_hex(reinterpret_cast<std::uintptr_t>(vector));
        line.put(", ");
        line.put_uint(length);
        line.put(", ");
        put_msg_flags(line, flags);
      },
      [&] { return body(fd, vector, length, flags); }, [&](TraceLine& line, int) { line.put_char(')'); });
}

}  // namespace cohook::trace
