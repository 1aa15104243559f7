// The few system calls the runtime itself makes, issued with syscall(2) so that they never
// reach an interposed libc wrapper (the hook layer interposes epoll_wait, read, write, close).
#pragma once

#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>

namespace cohook::sys {

inline int epoll_wait(int epfd, epoll_event* events, int max, int timeout_ms) {
  // epoll_pwait with no mask is epoll_wait, and exists on every architecture (aarch64 has no
  // plain epoll_wait).
  return static_cast<int>(::syscall(SYS_epoll_pwait, epfd, events, max, timeout_ms, nullptr, 8));
}
inline int epoll_ctl(int epfd, int op, int fd, epoll_event* event) {
  return static_cast<int>(::syscall(SYS_epoll_ctl, epfd, op, fd, event));
}
inline ssize_t read(int fd, void* buf, std::size_t n) { return ::syscall(SYS_read, fd, buf, n); }
inline ssize_t write(int fd, const void* buf, std::size_t n) { return ::syscall(SYS_write, fd, buf, n); }
inline int close(int fd) { return static_cast<int>(::syscall(SYS_close, fd)); }

}  // namespace cohook::sys
