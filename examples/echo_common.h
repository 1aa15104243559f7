// Helpers shared by the echo servers in examples/. Plain POSIX on purpose, with no cohook include:
// echo_threads.cc is also built without cohook (bin/echo_threads_plain) so that the demo can
// preload libcohook.so into it. Header-only and inline, because the Makefile turns every
// examples/*.cc into a program of its own.
#ifndef COHOOK_EXAMPLES_ECHO_COMMON_H_
#define COHOOK_EXAMPLES_ECHO_COMMON_H_

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

// Echoes until the peer closes or the connection fails, then closes the descriptor.
// Ordinary blocking read/write: echo_threads runs it on an OS thread and echo_coroutines runs
// this very function unchanged in a coroutine, where cohook's hooks park the coroutine instead
// of blocking the thread. That both servers share it is the point of the demo.
inline void serve_echo_connection(int fd) {
  char buffer[4096];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    ssize_t sent = 0;
    while (sent < n) {
      ssize_t w = write(fd, buffer + sent, static_cast<size_t>(n - sent));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        sent = -1;
        break;
      }
      sent += w;
    }
    if (sent < 0) break;
  }
  close(fd);
}

// A TCP listener on 127.0.0.1 only (the demos must never be reachable from outside); port 0 lets
// the kernel pick a free port, which bound_port() then reports. socket_flags are or-ed into the
// socket type: echo_epoll passes SOCK_NONBLOCK for its event loop. Returns -1 with errno set.
inline int listen_on_loopback(int port, int socket_flags = 0) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | socket_flags, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // quick restarts on a fixed --port
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || listen(fd, 4096) != 0) {
    int saved = errno;  // close() may clobber the errno the caller reports
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

// The port a listener is bound to (what --port 0 chose), or -1. The servers print it as
// "port N", which scripts/demo.sh waits for.
inline int bound_port(int fd) {
  sockaddr_in address{};
  socklen_t length = sizeof address;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return -1;
  return ntohs(address.sin_port);
}

#endif  // COHOOK_EXAMPLES_ECHO_COMMON_H_
