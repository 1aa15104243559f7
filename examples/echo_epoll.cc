// The baseline a C programmer would write by hand: non-blocking sockets and a level-triggered
// epoll loop per thread. With --threads N, each of the N threads has a listener of its own on the
// same port (SO_REUSEPORT: the kernel spreads new connections over them) and its own epoll set,
// so the threads share nothing. Bytes that cannot be written at once are kept per connection and
// sent when the socket is writable again; meanwhile that connection is not read.
//
//   echo_epoll --port 0 --threads 2 --max_seconds 60     # prints "port N" once it is listening
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
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "echo_common.h"

ABSL_FLAG(int, port, 0, "TCP port on 127.0.0.1 (0: any free port; the chosen one is printed as 'port N')");
ABSL_FLAG(int, max_seconds, 300, "safety limit: exit after this many seconds");
ABSL_FLAG(int, threads, 1, "event-loop threads, each with its own listener and epoll set (1 to 64)");

namespace {

// One thread's event loop: its listener, its epoll set and the bytes its connections still owe.
class EventLoop {
 public:
  explicit EventLoop(int listener) : listener_(listener), epoll_fd_(epoll_create1(EPOLL_CLOEXEC)) {}

  bool ok() const { return epoll_fd_ >= 0; }

  // Serves until the deadline. If epoll itself fails the whole server exits with status 1: a
  // loop that stopped would silently strand its connections.
  void run(std::chrono::steady_clock::time_point deadline) {
    watch(listener_, EPOLLIN, EPOLL_CTL_ADD);
    std::vector<epoll_event> events(1024);
    while (std::chrono::steady_clock::now() < deadline) {
      int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), 500);
      if (n < 0 && errno != EINTR) {
        perror("echo_epoll: epoll_wait");
        fflush(nullptr);
        _exit(1);
      }
      for (int i = 0; i < n; ++i) {
        int fd = events[i].data.fd;
        uint32_t what = events[i].events;
        if (fd == listener_) {
          accept_all();
        } else if (what & EPOLLOUT) {
          on_writable(fd);
        } else if (what & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
          on_readable(fd);  // errors and hang-ups surface as a failed or empty read
        }
      }
    }
  }

 private:
  void close_connection(int fd) {
    if (static_cast<size_t>(fd) < pending_.size()) pending_[fd].clear();
    close(fd);  // also removes it from the epoll set
  }

  void watch(int fd, uint32_t events, int op) {
    epoll_event event{};
    event.events = events;
    event.data.fd = fd;
    if (epoll_ctl(epoll_fd_, op, fd, &event) != 0) perror("echo_epoll: epoll_ctl");
  }

  // Writes out what is pending; false if the connection failed.
  bool flush_pending(int fd) {
    std::string& out = pending_[fd];
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
    pending_[fd].assign(buffer + w, static_cast<size_t>(n - w));
    watch(fd, EPOLLOUT, EPOLL_CTL_MOD);  // stop reading until the backlog is written
  }

  void on_writable(int fd) {
    if (!flush_pending(fd)) {
      close_connection(fd);
      return;
    }
    if (pending_[fd].empty()) watch(fd, EPOLLIN, EPOLL_CTL_MOD);
  }

  void accept_all() {
    for (;;) {
      int fd = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) perror("echo_epoll: accept");
        return;  // EMFILE and friends: the listener stays readable, we try again next round
      }
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (static_cast<size_t>(fd) >= pending_.size()) pending_.resize(static_cast<size_t>(fd) * 2 + 16);
      watch(fd, EPOLLIN, EPOLL_CTL_ADD);
    }
  }

  const int listener_;
  const int epoll_fd_;
  std::vector<std::string> pending_;  // by fd: bytes read but not yet written back
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  signal(SIGPIPE, SIG_IGN);  // a peer that resets must not kill the server
  int threads = absl::GetFlag(FLAGS_threads);
  if (threads < 1 || threads > 64) {
    fprintf(stderr, "echo_epoll: --threads=%d is out of range: expected 1 to 64\n", threads);
    return 2;
  }

  // The first listener picks the port (--port 0); the others join it.
  std::vector<int> listeners;
  int port = absl::GetFlag(FLAGS_port);
  for (int i = 0; i < threads; ++i) {
    int fd = listen_on_loopback(port, SOCK_NONBLOCK, /*reuse_port=*/threads > 1);
    if (fd < 0) {
      perror("echo_epoll: listen on 127.0.0.1");
      return 1;
    }
    listeners.push_back(fd);
    port = bound_port(fd);
  }
  std::vector<EventLoop> loops;
  loops.reserve(listeners.size());
  for (int fd : listeners) {
    loops.emplace_back(fd);
    if (!loops.back().ok()) {
      perror("echo_epoll: epoll_create1");
      return 1;
    }
  }
  printf("port %d\n", port);
  fflush(stdout);

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(absl::GetFlag(FLAGS_max_seconds));
  std::vector<std::thread> others;
  for (size_t i = 1; i < loops.size(); ++i) others.emplace_back([&loops, i, deadline] { loops[i].run(deadline); });
  loops[0].run(deadline);
  fprintf(stderr, "echo_epoll: --max_seconds reached, exiting\n");
  fflush(nullptr);
  _exit(0);  // the other loops go with the process
}
