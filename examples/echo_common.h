/* Helpers shared by the echo servers in examples/. Plain POSIX on purpose, with no cohook include,
 * and written in the common subset of C and C++: echo_threads_plain.c, the legacy C server the
 * demo runs natively and under corun, includes it as C; echo_coroutines.cc and echo_epoll.cc
 * include it as C++. Header-only (static inline), because every example is a program of its own. */
#ifndef COHOOK_EXAMPLES_ECHO_COMMON_H_
#define COHOOK_EXAMPLES_ECHO_COMMON_H_

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

/* Echoes until the peer closes or the connection fails, then closes the descriptor.
 * Ordinary blocking read/write: echo_threads_plain runs it on an OS thread (or, under corun, a
 * green thread) and echo_coroutines runs this very function unchanged in a coroutine, where
 * cohook's hooks park the coroutine instead of blocking the thread. That they share it is the
 * point of the demo. */
static inline void serve_echo_connection(int fd) {
  char buffer[4096];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    ssize_t sent = 0;
    while (sent < n) {
      ssize_t w = write(fd, buffer + sent, (size_t)(n - sent));
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

/* A TCP listener on 127.0.0.1 only (the demos must never be reachable from outside); port 0 lets
 * the kernel pick a free port, which bound_port() then reports. socket_flags are or-ed into the
 * socket type (echo_epoll passes SOCK_NONBLOCK). reuse_port sets SO_REUSEPORT, so that several
 * listeners share one port and the kernel spreads connections over them (echo_epoll: one per
 * thread). The backlog asks for 65535; the kernel caps it at net.core.somaxconn.
 * Returns -1 with errno set. */
static inline int listen_on_loopback(int port, int socket_flags, int reuse_port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | socket_flags, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* quick restarts on a fixed --port */
  if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  struct sockaddr_in address;
  memset(&address, 0, sizeof address);
  address.sin_family = AF_INET;
  address.sin_port = htons((uint16_t)port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr*)&address, sizeof address) != 0 || listen(fd, 65535) != 0) {
    int saved = errno; /* close() may clobber the errno the caller reports */
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

/* The port a listener is bound to (what --port 0 chose), or -1. The servers print it as
 * "port N", which scripts/demo.sh waits for. */
static inline int bound_port(int fd) {
  struct sockaddr_in address;
  memset(&address, 0, sizeof address);
  socklen_t length = sizeof address;
  if (getsockname(fd, (struct sockaddr*)&address, &length) != 0) return -1;
  return ntohs(address.sin_port);
}

#endif /* COHOOK_EXAMPLES_ECHO_COMMON_H_ */
