#include "hook/real_functions.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdint>

namespace cohook::hook {

constinit RealFunctions real_functions;

namespace {
// Set while this thread is inside dlsym: a hooked call reached from there must not look up
// again (that would recurse without end), so it gets the fallback.
thread_local bool t_inside_lookup = false;
}  // namespace

void* find_next_symbol(const char* name) {
  if (t_inside_lookup) return nullptr;
  t_inside_lookup = true;
  void* found = ::dlsym(RTLD_NEXT, name);
  t_inside_lookup = false;
  return found;
}

namespace fallback {
namespace {
// syscall(2) returns long; the libc wrappers return int for these calls.
int as_int(long result) { return static_cast<int>(result); }

// pselect6 takes its signal mask indirectly, with the kernel's sigset size beside it.
struct KernelSigmask {
  const sigset_t* mask;
  std::size_t size;
};
constexpr std::size_t kKernelSigsetBytes = 8;
}  // namespace

int socket(int domain, int type, int protocol) { return as_int(::syscall(SYS_socket, domain, type, protocol)); }
int socketpair(int domain, int type, int protocol, int fds[2]) {
  return as_int(::syscall(SYS_socketpair, domain, type, protocol, fds));
}
int connect(int fd, const sockaddr* address, socklen_t length) {
  return as_int(::syscall(SYS_connect, fd, address, length));
}
int accept(int fd, sockaddr* address, socklen_t* length) { return fallback::accept4(fd, address, length, 0); }
int accept4(int fd, sockaddr* address, socklen_t* length, int flags) {
  return as_int(::syscall(SYS_accept4, fd, address, length, flags));
}
ssize_t read(int fd, void* buffer, size_t size) { return ::syscall(SYS_read, fd, buffer, size); }
ssize_t readv(int fd, const iovec* iov, int count) { return ::syscall(SYS_readv, fd, iov, count); }
ssize_t write(int fd, const void* buffer, size_t size) { return ::syscall(SYS_write, fd, buffer, size); }
ssize_t writev(int fd, const iovec* iov, int count) { return ::syscall(SYS_writev, fd, iov, count); }
ssize_t recv(int fd, void* buffer, size_t size, int flags) { return fallback::recvfrom(fd, buffer, size, flags, nullptr, nullptr); }
ssize_t recvfrom(int fd, void* buffer, size_t size, int flags, sockaddr* address, socklen_t* length) {
  return ::syscall(SYS_recvfrom, fd, buffer, size, flags, address, length);
}
ssize_t recvmsg(int fd, msghdr* message, int flags) { return ::syscall(SYS_recvmsg, fd, message, flags); }
ssize_t send(int fd, const void* buffer, size_t size, int flags) { return fallback::sendto(fd, buffer, size, flags, nullptr, 0); }
ssize_t sendto(int fd, const void* buffer, size_t size, int flags, const sockaddr* address, socklen_t length) {
  return ::syscall(SYS_sendto, fd, buffer, size, flags, address, length);
}
ssize_t sendmsg(int fd, const msghdr* message, int flags) { return ::syscall(SYS_sendmsg, fd, message, flags); }

int poll(pollfd* fds, nfds_t count, int timeout_ms) {
  if (timeout_ms < 0) return fallback::ppoll(fds, count, nullptr, nullptr);
  timespec timeout{timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
  return fallback::ppoll(fds, count, &timeout, nullptr);
}
int ppoll(pollfd* fds, nfds_t count, const timespec* timeout, const sigset_t* mask) {
  // The kernel writes the time left back; the libc function keeps the caller's value intact.
  timespec copy{};
  timespec* timeout_copy = nullptr;
  if (timeout != nullptr) {
    copy = *timeout;
    timeout_copy = &copy;
  }
  return as_int(::syscall(SYS_ppoll, fds, count, timeout_copy, mask, kKernelSigsetBytes));
}
int pselect(int count, fd_set* readable, fd_set* writable, fd_set* exceptional, const timespec* timeout,
            const sigset_t* mask) {
  timespec copy{};
  timespec* timeout_copy = nullptr;
  if (timeout != nullptr) {
    copy = *timeout;
    timeout_copy = &copy;
  }
  KernelSigmask sigmask{mask, kKernelSigsetBytes};
  return as_int(::syscall(SYS_pselect6, count, readable, writable, exceptional, timeout_copy,
                          mask != nullptr ? &sigmask : nullptr));
}
int select(int count, fd_set* readable, fd_set* writable, fd_set* exceptional, timeval* timeout) {
  // Linux's select writes the time left back into *timeout: mirror that.
  timespec left{};
  timespec* left_pointer = nullptr;
  if (timeout != nullptr) {
    left = {timeout->tv_sec, timeout->tv_usec * 1000};
    left_pointer = &left;
  }
  int result = as_int(::syscall(SYS_pselect6, count, readable, writable, exceptional, left_pointer, nullptr));
  if (timeout != nullptr && result >= 0) *timeout = {left.tv_sec, left.tv_nsec / 1000};
  return result;
}
int epoll_wait(int epoll_fd, epoll_event* events, int max_events, int timeout_ms) {
  return fallback::epoll_pwait(epoll_fd, events, max_events, timeout_ms, nullptr);
}
int epoll_pwait(int epoll_fd, epoll_event* events, int max_events, int timeout_ms, const sigset_t* mask) {
  return as_int(::syscall(SYS_epoll_pwait, epoll_fd, events, max_events, timeout_ms, mask, kKernelSigsetBytes));
}

unsigned sleep(unsigned seconds) {
  timespec duration{static_cast<time_t>(seconds), 0};
  timespec remaining{};
  if (fallback::nanosleep(&duration, &remaining) == 0) return 0;
  return static_cast<unsigned>(remaining.tv_sec + (remaining.tv_nsec > 0 ? 1 : 0));
}
int usleep(useconds_t microseconds) {
  timespec duration{static_cast<time_t>(microseconds / 1000000), static_cast<long>(microseconds % 1000000) * 1000};
  return fallback::nanosleep(&duration, nullptr);
}
int nanosleep(const timespec* duration, timespec* remaining) {
  return as_int(::syscall(SYS_clock_nanosleep, CLOCK_REALTIME, 0, duration, remaining));
}
int clock_nanosleep(clockid_t clock, int flags, const timespec* request, timespec* remaining) {
  // Unlike most calls, clock_nanosleep reports failure as its return value, not in errno.
  int saved = errno;
  long result = ::syscall(SYS_clock_nanosleep, clock, flags, request, remaining);
  int error = result == 0 ? 0 : errno;
  errno = saved;
  return error;
}

int close(int fd) { return as_int(::syscall(SYS_close, fd)); }
int shutdown(int fd, int how) { return as_int(::syscall(SYS_shutdown, fd, how)); }
int fcntl(int fd, int command, ...) {
  va_list arguments;
  va_start(arguments, command);
  void* argument = va_arg(arguments, void*);
  va_end(arguments);
  return as_int(::syscall(SYS_fcntl, fd, command, argument));
}
int ioctl(int fd, unsigned long request, ...) {
  va_list arguments;
  va_start(arguments, request);
  void* argument = va_arg(arguments, void*);
  va_end(arguments);
  return as_int(::syscall(SYS_ioctl, fd, request, argument));
}
int setsockopt(int fd, int level, int name, const void* value, socklen_t length) {
  return as_int(::syscall(SYS_setsockopt, fd, level, name, value, length));
}
int getsockopt(int fd, int level, int name, void* value, socklen_t* length) {
  return as_int(::syscall(SYS_getsockopt, fd, level, name, value, length));
}
int dup(int fd) { return as_int(::syscall(SYS_dup, fd)); }
int dup2(int fd, int new_fd) {
  // dup3 refuses equal numbers; dup2 returns the fd if it is open.
  if (fd == new_fd) return as_int(::syscall(SYS_fcntl, fd, F_GETFD)) < 0 ? -1 : fd;
  return fallback::dup3(fd, new_fd, 0);
}
int dup3(int fd, int new_fd, int flags) { return as_int(::syscall(SYS_dup3, fd, new_fd, flags)); }
int pipe(int fds[2]) { return fallback::pipe2(fds, 0); }
int pipe2(int fds[2], int flags) { return as_int(::syscall(SYS_pipe2, fds, flags)); }
int eventfd(unsigned initial_value, int flags) { return as_int(::syscall(SYS_eventfd2, initial_value, flags)); }
ssize_t sendfile(int out_fd, int in_fd, off_t* offset, size_t count) {
  return ::syscall(SYS_sendfile, out_fd, in_fd, offset, count);
}
// offset -1 (the file position) is the only one cohook passes; on 64-bit targets the kernel takes
// it whole in the low word.
ssize_t preadv2(int fd, const iovec* iov, int count, off_t offset, int flags) {
  return ::syscall(SYS_preadv2, fd, iov, count, offset, 0, flags);
}
ssize_t pwritev2(int fd, const iovec* iov, int count, off_t offset, int flags) {
  return ::syscall(SYS_pwritev2, fd, iov, count, offset, 0, flags);
}
int recvmmsg(int fd, mmsghdr* vector, unsigned int length, int flags, timespec* timeout) {
  return as_int(::syscall(SYS_recvmmsg, fd, vector, length, flags, timeout));
}
int sendmmsg(int fd, mmsghdr* vector, unsigned int length, int flags) {
  return as_int(::syscall(SYS_sendmmsg, fd, vector, length, flags));
}
int openat(int directory, const char* path, int flags, ...) {
  va_list arguments;
  va_start(arguments, flags);
  int mode = va_arg(arguments, int);
  va_end(arguments);
  return as_int(::syscall(SYS_openat, directory, path, flags, mode));
}

// Library functions with no system call behind them: fail as their contracts allow.
int fclose(FILE*) {
  errno = ENOSYS;
  return EOF;
}
int getaddrinfo(const char*, const char*, const addrinfo*, addrinfo**) {
  errno = ENOSYS;
  return EAI_SYSTEM;
}
hostent* gethostbyname(const char*) {
  h_errno = NO_RECOVERY;
  return nullptr;
}
int gethostbyname_r(const char*, hostent*, char*, size_t, hostent** result, int* error) {
  *result = nullptr;
  *error = NO_RECOVERY;
  return ENOSYS;
}

}  // namespace fallback
}  // namespace cohook::hook
