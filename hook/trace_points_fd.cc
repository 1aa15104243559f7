// Trace points of the calls that make, copy or close fds, and of connect/accept.
#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>

#include "hook/trace.h"
#include "hook/trace_decode.h"
#include "hook/trace_points.h"

namespace cohook::trace {
namespace {

void put_fd_pair(TraceLine& line, const int* fds, bool filled) {
  if (!filled) {
    line.put_hex(reinterpret_cast<std::uintptr_t>(fds));
    return;
  }
  line.put_char('[');
  line.put_int(fds[0]);
  line.put(", ");
  line.put_int(fds[1]);
  line.put_char(']');
}

void put_protocol(TraceLine& line, int domain, int protocol) {
  // strace names the default protocol of the IP families IPPROTO_IP, and shows 0 elsewhere.
  if (protocol == 0 && (domain == AF_INET || domain == AF_INET6)) line.put("IPPROTO_IP");
  else line.put_int(protocol);
}

auto close_paren = [](TraceLine& line, int) { line.put_char(')'); };

}  // namespace

int trace_socket(int (*body)(int, int, int), int domain, int type, int protocol) {
  return traced_call(
      TracedCall::socket,
      [&](TraceLine& line) {
        line.put("socket(");
        put_address_family(line, domain);
        line.put(", ");
        put_socket_type(line, type);
        line.put(", ");
        put_protocol(line, domain, protocol);
      },
      [&] { return body(domain, type, protocol); }, close_paren);
}

int trace_socketpair(int (*body)(int, int, int, int*), int domain, int type, int protocol, int* fds) {
  return traced_call(
      TracedCall::socketpair,
      [&](TraceLine& line) {
        line.put("socketpair(");
        put_address_family(line, domain);
        line.put(", ");
        put_socket_type(line, type);
        line.put(", ");
        put_protocol(line, domain, protocol);
        line.put(", ");
      },
      [&] { return body(domain, type, protocol, fds); },
      [&](TraceLine& line, int result) {
        put_fd_pair(line, fds, result == 0);
        line.put_char(')');
      });
}

int trace_pipe(int (*body)(int*), int* fds) {
  // glibc's pipe is pipe2(fds, 0).
  return traced_call(
      TracedCall::pipe2, [&](TraceLine& line) { line.put("pipe2("); }, [&] { return body(fds); },
      [&](TraceLine& line, int result) {
        put_fd_pair(line, fds, result == 0);
        line.put(", 0)");
      });
}

int trace_pipe2(int (*body)(int*, int), int* fds, int flags) {
  return traced_call(
      TracedCall::pipe2, [&](TraceLine& line) { line.put("pipe2("); }, [&] { return body(fds, flags); },
      [&](TraceLine& line, int result) {
        put_fd_pair(line, fds, result == 0);
        line.put(", ");
        put_pipe_flags(line, flags);
        line.put_char(')');
      });
}

int trace_eventfd(int (*body)(unsigned, int), unsigned initial_value, int flags) {
  return traced_call(
      TracedCall::eventfd2,
      [&](TraceLine& line) {
        line.put("eventfd2(");
        line.put_uint(initial_value);
        line.put(", ");
        put_eventfd_flags(line, flags);
      },
      [&] { return body(initial_value, flags); }, close_paren);
}

int trace_dup(int (*body)(int), int fd) {
  return traced_call(
      TracedCall::dup,
      [&](TraceLine& line) {
        line.put("dup(");
        line.put_int(fd);
      },
      [&] { return body(fd); }, close_paren);
}

int trace_dup2(int (*body)(int, int), int fd, int new_fd) {
  return traced_call(
      TracedCall::dup2,
      [&](TraceLine& line) {
        line.put("dup2(");
        line.put_int(fd);
        line.put(", ");
        line.put_int(new_fd);
      },
      [&] {
        if (!is_trace_fd(new_fd)) return body(fd, new_fd);
        errno = EBUSY;
        return -1;
      }, close_paren);
}

int trace_dup3(int (*body)(int, int, int), int fd, int new_fd, int flags) {
  return traced_call(
      TracedCall::dup3,
      [&](TraceLine& line) {
        line.put("dup3(");
        line.put_int(fd);
        line.put(", ");
        line.put_int(new_fd);
        line.put(", ");
        put_pipe_flags(line, flags);
      },
      [&] {
        if (!is_trace_fd(new_fd)) return body(fd, new_fd, flags);
        errno = EBUSY;
        return -1;
      }, close_paren);
}

// The trace fd is costrace's, not the program's: closing it or duplicating onto it is refused as
// for an fd the program never opened (close: EBADF) or one the kernel is busy with (dup2/dup3:
// EBUSY), so a program that closes every fd it does not know keeps running, traced.
int trace_close(int (*body)(int), int fd) {
  return traced_call(
      TracedCall::close,
      [&](TraceLine& line) {
        line.put("close(");
        line.put_int(fd);
      },
      [&] {
        if (!is_trace_fd(fd)) return body(fd);
        errno = EBADF;
        return -1;
      }, close_paren);
}

int trace_shutdown(int (*body)(int, int), int fd, int how) {
  return traced_call(
      TracedCall::shutdown,
      [&](TraceLine& line) {
        line.put("shutdown(");
        line.put_int(fd);
        line.put(", ");
        put_shutdown_how(line, how);
      },
      [&] { return body(fd, how); }, close_paren);
}

int trace_fcntl(int (*body)(int, int, void*), int fd, int command, void* argument) {
  return traced_call(
      TracedCall::fcntl,
      [&](TraceLine& line) {
        line.put("fcntl(");
        line.put_int(fd);
        line.put(", ");
        put_fcntl_command(line, command);
        int value = static_cast<int>(reinterpret_cast<std::intptr_t>(argument));
        switch (command) {
          case F_GETFD:
          case F_GETFL:
          case F_GETOWN:
          case F_GETSIG:
          case F_GETPIPE_SZ:
            break;
          case F_SETFL:
            line.put(", ");
            put_open_flags(line, value);
            break;
          case F_SETFD:
            line.put(", ");
            if (value == FD_CLOEXEC) line.put("FD_CLOEXEC");
            else line.put_int(value);
            break;
          case F_DUPFD:
          case F_DUPFD_CLOEXEC:
          case F_SETOWN:
          case F_SETSIG:
          case F_SETPIPE_SZ:
            line.put(", ");
            line.put_int(value);
            break;
          default:
            line.put(", ");
            line.put_hex(reinterpret_cast<std::uintptr_t>(argument));
        }
      },
      [&] { return body(fd, command, argument); }, close_paren);
}

int trace_openat(int (*body)(int, const char*, int, mode_t), int directory, const char* path, int flags, mode_t mode) {
  return traced_call(
      TracedCall::openat,
      [&](TraceLine& line) {
        line.put("openat(");
        if (directory == AT_FDCWD) line.put("AT_FDCWD");
        else line.put_int(directory);
        line.put(", ");
        put_c_string(line, path, string_limit());
        line.put(", ");
        put_open_flags(line, flags);
        if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
          // strace prints the mode in octal: 0644.
          line.put(", 0");
          char digits[12];
          int n = 0;
          unsigned value = mode;
          do {
            digits[n++] = static_cast<char>('0' + (value & 7));
            value >>= 3;
          } while (value != 0);
          while (n > 0) line.put_char(digits[--n]);
        }
      },
      [&] { return body(directory, path, flags, mode); }, close_paren);
}

int trace_connect(int (*body)(int, const sockaddr*, socklen_t), int fd, const sockaddr* address, socklen_t length) {
  return traced_call(
      TracedCall::connect,
      [&](TraceLine& line) {
        line.put("connect(");
        line.put_int(fd);
        line.put(", ");
        put_sockaddr(line, address, length);
        line.put(", ");
        line.put_uint(length);
      },
      [&] { return body(fd, address, length); }, close_paren);
}

namespace {
void put_accepted(TraceLine& line, sockaddr* address, socklen_t* length, int result) {
  if (address == nullptr) line.put("NULL");
  else if (result >= 0 && length != nullptr) put_sockaddr(line, address, *length);
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
}  // namespace

int trace_accept(int (*body)(int, sockaddr*, socklen_t*), int fd, sockaddr* address, socklen_t* length) {
  return traced_call(
      TracedCall::accept,
      [&](TraceLine& line) {
        line.put("accept(");
        line.put_int(fd);
        line.put(", ");
      },
      [&] { return body(fd, address, length); },
      [&](TraceLine& line, int result) {
        put_accepted(line, address, length, result);
        line.put_char(')');
      });
}

int trace_accept4(int (*body)(int, sockaddr*, socklen_t*, int), int fd, sockaddr* address, socklen_t* length,
                  int flags) {
  return traced_call(
      TracedCall::accept4,
      [&](TraceLine& line) {
        line.put("accept4(");
        line.put_int(fd);
        line.put(", ");
      },
      [&] { return body(fd, address, length, flags); },
      [&](TraceLine& line, int result) {
        put_accepted(line, address, length, result);
        line.put(", ");
        put_accept_flags(line, flags);
        line.put_char(')');
      });
}

}  // namespace cohook::trace
