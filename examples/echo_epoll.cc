// The baseline a C programmer would write by hand: one thread, non-blocking sockets, one epoll
// loop (level-triggered). Bytes that cannot be written at once are kept per connection and sent
// when the socket is writable again; meanwhile that connection is not read.
//
//   echo_epoll --port 0 --max_seconds 60     # prints "port N" once it is listening
//
// It listens on 127.0.0.1 only and exits by itself after --max_seconds.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "echo_common.h"

ABSL_FLAG(int, port, 0, "TCP port on 127.0.0.1 (0: any free port; the chosen one is printed as 'port N')");
ABSL_FLAG(int, max_seconds, 300, "safety limit: exit after this many seconds");

namespace {

int epoll_fd = -1;
std::vector<std::string> pending;  // by fd: bytes read but not yet written back

void close_connection(int fd) {
  if (static_cast<size_t>(fd) < pending.size()) pending[fd].clear();
  close(fd);  // also removes it from the epoll set
}

void watch(int fd, uint32_t events, int op) {
  epoll_event event{};
  event.events = events;
  event.data.fd = fd;
  if (epoll_ctl(epoll_fd, op, fd, &event) != 0) perror("echo_epoll: epoll_ctl");
}

// Writes out what is pending; false if the connection failed.
bool flush_pending(int fd) {
  std::string& out = pending[fd];
  size_t done = 0;
  while (done < out.size()) {
    ssize_t w = write(fd, out.data() + done, out.size() - done);
    if (w > 0) {
      done += static_cast<size_t>(w);
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else {
      return false;
    }
  }
  out.erase(0, done);
  return true;
}

void on_readable(int fd) {
  char buffer[4096];
  ssize_t n = read(fd, buffer, sizeof buffer);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) {
    close_connection(fd);
    return;
  }
  ssize_t w = write(fd, buffer, static_cast<size_t>(n));
  if (w == n) return;  // the usual case
  if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    close_connection(fd);
    return;
  }
  if (w < 0) w = 0;
  pending[fd].assign(buffer + w, static_cast<size_t>(n - w));
  watch(fd, EPOLLOUT, EPOLL_CTL_MOD);  // stop reading until the backlog is written
}

void on_writable(int fd) {
  if (!flush_pending(fd)) {
    close_connection(fd);
    return;
  }
  if (pending[fd].empty()) watch(fd, EPOLLIN, EPOLL_CTL_MOD);
}

void accept_all(int listener) {
  for (;;) {
    int fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) perror("echo_epoll: accept");
      return;  // EMFILE and friends: the listener stays readable, we try again next round
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (static_cast<size_t>(fd) >= pending.size()) pending.resize(static_cast<size_t>(fd) * 2 + 16);
    watch(fd, EPOLLIN, EPOLL_CTL_ADD);
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  signal(SIGPIPE, SIG_IGN);  // a peer that resets must not kill the server

  int listener = listen_on_loopback(absl::GetFlag(FLAGS_port), SOCK_NONBLOCK);
  epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (listener < 0 || epoll_fd < 0) {
    perror("echo_epoll: listen on 127.0.0.1");
    return 1;
  }
  watch(listener, EPOLLIN, EPOLL_CTL_ADD);
  printf("port %d\n", bound_port(listener));
  fflush(stdout);

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(absl::GetFlag(FLAGS_max_seconds));
  std::vector<epoll_event> events(1024);
  for (;;) {
    int n = epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), 500);
    if (n < 0 && errno != EINTR) {
      perror("echo_epoll: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      uint32_t what = events[i].events;
      if (fd == listener) {
        accept_all(listener);
      } else if (what & EPOLLOUT) {
        on_writable(fd);
      } else if (what & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        on_readable(fd);  // errors and hang-ups surface as a failed or empty read
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      fprintf(stderr, "echo_epoll: --max_seconds reached, exiting\n");
      return 0;
    }
  }
}
