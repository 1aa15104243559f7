// A load generator for the echo servers, with its own epoll loop in one thread (it does not use
// cohook). It opens --connections connections to 127.0.0.1:--port and sends one unmeasured
// warm-up request on each, with at most --connect_batch connections between connecting and their
// first echo (so that the server has accepted and served every connection before the clock
// starts, and its accept queue never overflows). Then for --duration_ms each
// connection in turn sends --pipeline messages of --message_size bytes, waits for all of them to
// come back, checks every byte, and repeats. Latency is measured per request.
//
// Any mismatch, reset, early close, failed connection or unanswered request is an error.
// Besides a readable summary on stderr it prints one line for scripts on stdout:
//   result rps=... p50_us=... p99_us=... p999_us=... max_us=... errors=... connections=... requests=...
// Exit status: 0 if every connection was made and there was no error, 1 otherwise, 2 bad flags.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"

ABSL_FLAG(int, port, 0, "server port on 127.0.0.1 (required)");
ABSL_FLAG(int, connections, 100, "concurrent connections (1 to 20000)");
ABSL_FLAG(int, duration_ms, 3000, "how long to send requests (100 to 60000)");
ABSL_FLAG(int, message_size, 64, "bytes per message (1 to 65536)");
ABSL_FLAG(int, pipeline, 1, "messages sent together before waiting for their echo (1 to 64)");
ABSL_FLAG(int, connect_batch, 128, "connections being set up (connected and warmed up) at any one time (1 to 4096)");
ABSL_FLAG(int, connect_timeout_ms, 20000, "time allowed to set up (connect and warm up) every connection");
ABSL_FLAG(int, drain_ms, 5000, "after the run, time allowed for answers still in flight");

namespace {

int64_t now_ns() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

enum class State { kUnused, kConnecting, kWaiting, kDone, kFailed };

struct Connection {
  int fd = -1;
  State state = State::kUnused;
  uint64_t sequence = 0;        // requests (batches) sent so far
  std::vector<unsigned char> out;  // the current batch, which is also what must come back
  size_t sent = 0;              // bytes of the batch written
  size_t received = 0;          // bytes of the batch echoed and checked
  int64_t sent_at_ns = 0;
  bool wants_writable = false;  // EPOLLOUT asked for, after a partial write
};

struct Errors {
  long connect = 0;   // refused, unreachable, out of ports...
  long connect_timeout = 0;
  long reset = 0;     // ECONNRESET, EPIPE or another socket error
  long closed = 0;    // the server closed the connection
  long mismatch = 0;  // echoed bytes differ from those sent
  long timeout = 0;   // no full answer by the end of the drain
  long total() const { return connect + connect_timeout + reset + closed + mismatch + timeout; }
};

class LoadGenerator {
 public:
  LoadGenerator(int port, int connections, int message_size, int pipeline)
      : port_(port), message_size_(message_size), pipeline_(pipeline), connections_(connections) {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    scratch_.resize(65536);
  }

  bool ok() const { return epoll_fd_ >= 0; }

  // Phase 1: set up every connection and warm it up with one unmeasured request, with at most
  // `batch` connections between starting to connect and getting that first echo back.
  //
  // The kernel completes a handshake before the server accepts, so "connected" says nothing about
  // the server: counting a connection as set up only once it has been echoed keeps the number the
  // server has not accepted yet below `batch`. Without that, a server that accepts slower than the
  // kernel completes handshakes overflows its accept queue (net.core.somaxconn, often 4096): the
  // kernel then drops the handshake's last ACK, the client believes it is connected, and the
  // server sees the connection only after seconds of SYN-ACK retransmission backoff. It also
  // means every server has accepted and served every connection before the clock starts.
  void connect_all(int batch, int64_t deadline_ns) {
    recording_ = false;
    end_ns_ = 0;  // each connection sends its one warm-up request and nothing after it
    size_t next = 0;
    std::vector<epoll_event> events(1024);
    for (;;) {
      while (connecting_ + in_flight_ < batch && next < connections_.size()) start_connect(next++);
      if (connecting_ + in_flight_ == 0 && next == connections_.size()) break;
      int64_t now = now_ns();
      if (now >= deadline_ns) break;
      int timeout_ms = static_cast<int>(std::min<int64_t>((deadline_ns - now) / 1000000 + 1, 100));
      int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), timeout_ms);
      for (int i = 0; i < n; ++i) {
        uint32_t index = events[i].data.u32;
        Connection& c = connections_[index];
        if (c.state == State::kConnecting) {
          finish_connect(index);
        } else if (c.state == State::kWaiting) {
          if (events[i].events & EPOLLOUT) write_more(index);
          if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) read_more(index);
        }
      }
    }
    for (Connection& c : connections_) {
      if (c.state == State::kConnecting) fail(c, errors_.connect_timeout, ETIMEDOUT, "connect");
      if (c.state == State::kWaiting) fail(c, errors_.timeout, ETIMEDOUT, "warm-up answer");
      if (c.state == State::kUnused) ++errors_.connect_timeout;  // never even started
    }
    recording_ = true;
  }

  // Phase 2: request, wait for the echo, check it, repeat, until end_ns; then let what is in
  // flight come back until drain_end_ns.
  void run(int64_t end_ns, int64_t drain_end_ns) {
    start_ns_ = now_ns();
    end_ns_ = end_ns;
    latencies_ns_.reserve(1 << 20);
    exchange(drain_end_ns);
    for (Connection& c : connections_) {
      if (c.fd >= 0) close(c.fd);
      c.fd = -1;
    }
  }

  void report(int requested_connections, int duration_ms) {
    std::vector<uint32_t> sorted = latencies_ns_;
    std::sort(sorted.begin(), sorted.end());
    auto percentile_us = [&](double p) -> double {
      if (sorted.empty()) return 0;
      size_t rank = static_cast<size_t>(p * static_cast<double>(sorted.size()));
      if (rank >= sorted.size()) rank = sorted.size() - 1;
      return sorted[rank] / 1000.0;
    };
    double seconds = (end_ns_ - start_ns_) / 1e9;
    double rps = seconds > 0 ? completed_in_window_ / seconds : 0;
    fprintf(stderr, "loadgen: 127.0.0.1:%d, %d of %d connections, %d ms, %d-byte messages, pipeline %d\n", port_,
            established_, requested_connections, duration_ms, message_size_, pipeline_);
    fprintf(stderr, "loadgen: %ld requests answered in the run, %.0f req/s; latency p50 %.0f us, p99 %.0f us, "
            "p99.9 %.0f us, max %.0f us\n", completed_in_window_, rps, percentile_us(0.50), percentile_us(0.99),
            percentile_us(0.999), sorted.empty() ? 0.0 : sorted.back() / 1000.0);
    fprintf(stderr, "loadgen: errors %ld (connect %ld, connect timeout %ld, reset %ld, closed by server %ld, "
            "mismatch %ld, unanswered %ld)\n", errors_.total(), errors_.connect, errors_.connect_timeout,
            errors_.reset, errors_.closed, errors_.mismatch, errors_.timeout);
    printf("result rps=%.0f p50_us=%.0f p99_us=%.0f p999_us=%.0f max_us=%.0f errors=%ld connections=%d "
           "requests=%ld\n", rps, percentile_us(0.50), percentile_us(0.99), percentile_us(0.999),
           sorted.empty() ? 0.0 : sorted.back() / 1000.0, errors_.total(), established_, completed_in_window_);
    fflush(stdout);
  }

  bool clean(int requested_connections) const {
    return errors_.total() == 0 && established_ == requested_connections;
  }

 private:
  // Sends a batch on every idle connection, then answers echoes with new batches until end_ns_,
  // then waits for those still in flight until drain_end_ns (what has not come back by then is
  // an error).
  void exchange(int64_t drain_end_ns) {
    for (size_t i = 0; i < connections_.size(); ++i) {
      if (connections_[i].state == State::kDone) send_request(i);
    }
    std::vector<epoll_event> events(1024);
    for (;;) {
      int64_t now = now_ns();
      if (now >= end_ns_ && in_flight_ == 0) break;
      if (now >= drain_end_ns) break;
      int64_t until = now < end_ns_ ? end_ns_ : drain_end_ns;
      int timeout_ms = static_cast<int>(std::min<int64_t>((until - now) / 1000000 + 1, 100));
      int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), timeout_ms);
      for (int i = 0; i < n; ++i) {
        uint32_t index = events[i].data.u32;
        Connection& c = connections_[index];
        if (c.state != State::kWaiting && c.state != State::kDone) continue;
        if (events[i].events & EPOLLOUT) write_more(index);
        if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) read_more(index);
      }
    }
    for (Connection& c : connections_) {
      if (c.state == State::kWaiting) fail(c, errors_.timeout, ETIMEDOUT, "answer");
    }
  }

  void start_connect(size_t index) {
    Connection& c = connections_[index];
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
      fail(c, errors_.connect, errno, "socket");
      return;
    }
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port_));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // only ever the local machine
    int r = connect(c.fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    if (r == 0) {
      ++established_;
      watch(static_cast<uint32_t>(index), EPOLLIN, EPOLL_CTL_ADD);
      send_request(index);  // the warm-up request
      return;
    }
    if (errno != EINPROGRESS) {
      fail(c, errors_.connect, errno, "connect");
      return;
    }
    c.state = State::kConnecting;
    ++connecting_;
    watch(static_cast<uint32_t>(index), EPOLLOUT, EPOLL_CTL_ADD);
  }

  // A non-blocking connect has finished, one way or the other.
  void finish_connect(uint32_t index) {
    Connection& c = connections_[index];
    int error = 0;
    socklen_t length = sizeof error;
    if (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
    if (error != 0) {
      fail(c, errors_.connect, error, "connect");
      return;
    }
    --connecting_;
    ++established_;
    watch(index, EPOLLIN, EPOLL_CTL_MOD);
    send_request(index);  // the warm-up request
  }

  void watch(uint32_t index, uint32_t events, int op) {
    epoll_event event{};
    event.events = events;
    event.data.u32 = index;
    if (epoll_ctl(epoll_fd_, op, connections_[index].fd, &event) != 0) {
      perror("loadgen: epoll_ctl");
      exit(1);
    }
  }

  // Each batch has its own bytes, so an answer meant for another connection or request shows.
  void fill_batch(size_t index, Connection& c) {
    size_t total = static_cast<size_t>(message_size_) * static_cast<size_t>(pipeline_);
    c.out.resize(total);
    uint32_t x = static_cast<uint32_t>(index) * 2654435761u ^ static_cast<uint32_t>(c.sequence) * 40503u;
    for (size_t i = 0; i < total; ++i) {
      x = x * 1103515245u + 12345u;
      c.out[i] = static_cast<unsigned char>(x >> 24);
    }
  }

  void send_request(size_t index) {
    Connection& c = connections_[index];
    fill_batch(index, c);
    c.sent = 0;
    c.received = 0;
    ++c.sequence;
    c.state = State::kWaiting;
    ++in_flight_;
    c.sent_at_ns = now_ns();
    write_more(index);
  }

  void write_more(size_t index) {
    Connection& c = connections_[index];
    if (c.state != State::kWaiting || c.sent == c.out.size()) return;
    for (;;) {
      ssize_t w = send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
      if (w > 0) {
        c.sent += static_cast<size_t>(w);
        if (c.sent == c.out.size()) break;
        continue;
      }
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!c.wants_writable) watch(static_cast<uint32_t>(index), EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
        c.wants_writable = true;  // finish it when the socket is writable
        return;
      }
      fail(c, errors_.reset, errno, "send");
      return;
    }
    if (c.wants_writable) {
      c.wants_writable = false;
      watch(static_cast<uint32_t>(index), EPOLLIN, EPOLL_CTL_MOD);
    }
  }

  void read_more(size_t index) {
    Connection& c = connections_[index];
    ssize_t n = recv(c.fd, scratch_.data(), scratch_.size(), 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (n < 0) {
      fail(c, errors_.reset, errno, "recv");
      return;
    }
    if (n == 0) {
      fail(c, errors_.closed, 0, "recv");
      return;
    }
    size_t got = static_cast<size_t>(n);
    if (c.state != State::kWaiting || c.received + got > c.sent ||
        memcmp(scratch_.data(), c.out.data() + c.received, got) != 0) {
      fail(c, errors_.mismatch, 0, "check");
      return;
    }
    int64_t now = now_ns();
    size_t message = static_cast<size_t>(message_size_);
    size_t before = c.received / message;
    c.received += got;
    for (size_t m = before; m < c.received / message; ++m) {
      if (!recording_) break;
      int64_t latency = now - c.sent_at_ns;
      latencies_ns_.push_back(static_cast<uint32_t>(std::min<int64_t>(latency, UINT32_MAX)));
      if (now <= end_ns_) ++completed_in_window_;
    }
    if (c.received < c.out.size()) return;
    c.state = State::kDone;
    --in_flight_;
    if (now < end_ns_) send_request(index);
  }

  void fail(Connection& c, long& counter, int error, const char* what) {
    ++counter;
    // Say what happened the first few times; the counts tell the rest.
    if (errors_.total() <= 5) {
      fprintf(stderr, "loadgen: connection error in %s: %s\n", what,
              error != 0 ? strerror(error) : (&counter == &errors_.closed ? "closed by the server"
                                                                           : "echo differs from what was sent"));
    }
    if (c.state == State::kWaiting) --in_flight_;
    if (c.state == State::kConnecting) --connecting_;
    if (c.fd >= 0) close(c.fd);  // also leaves the epoll set
    c.fd = -1;
    c.state = State::kFailed;
  }

  const int port_;
  const int message_size_;
  const int pipeline_;
  int epoll_fd_ = -1;
  std::vector<Connection> connections_;
  std::vector<unsigned char> scratch_;
  std::vector<uint32_t> latencies_ns_;
  Errors errors_;
  int established_ = 0;
  long in_flight_ = 0;   // connections waiting for an echo
  int connecting_ = 0;   // connections whose handshake has not finished
  long completed_in_window_ = 0;
  int64_t start_ns_ = 0;
  int64_t end_ns_ = 0;
  bool recording_ = true;  // false while warming up
};

bool in_range(const char* name, int value, int low, int high) {
  if (value >= low && value <= high) return true;
  fprintf(stderr, "loadgen: --%s=%d is out of range: expected %d to %d\n", name, value, low, high);
  return false;
}

// Enough descriptors for every connection: raise the soft limit up to the hard one if needed.
bool ensure_fd_limit(int connections) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return true;
  rlim_t needed = static_cast<rlim_t>(connections) + 64;
  if (limit.rlim_cur >= needed) return true;
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < needed) {
    fprintf(stderr, "loadgen: %d connections need %lu file descriptors; the hard limit (ulimit -Hn) is %lu\n",
            connections, static_cast<unsigned long>(needed), static_cast<unsigned long>(limit.rlim_max));
    return false;
  }
  limit.rlim_cur = needed;
  return setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  int port = absl::GetFlag(FLAGS_port);
  int connections = absl::GetFlag(FLAGS_connections);
  int duration_ms = absl::GetFlag(FLAGS_duration_ms);
  int message_size = absl::GetFlag(FLAGS_message_size);
  int pipeline = absl::GetFlag(FLAGS_pipeline);
  int batch = absl::GetFlag(FLAGS_connect_batch);
  int connect_timeout_ms = absl::GetFlag(FLAGS_connect_timeout_ms);
  int drain_ms = absl::GetFlag(FLAGS_drain_ms);
  if (!in_range("port", port, 1, 65535) || !in_range("connections", connections, 1, 20000) ||
      !in_range("duration_ms", duration_ms, 100, 60000) || !in_range("message_size", message_size, 1, 65536) ||
      !in_range("pipeline", pipeline, 1, 64) || !in_range("connect_batch", batch, 1, 4096) ||
      !in_range("connect_timeout_ms", connect_timeout_ms, 100, 60000) || !in_range("drain_ms", drain_ms, 0, 60000)) {
    return 2;
  }
  if (!ensure_fd_limit(connections)) return 2;
  signal(SIGPIPE, SIG_IGN);

  LoadGenerator load(port, connections, message_size, pipeline);
  if (!load.ok()) {
    perror("loadgen: epoll_create1");
    return 1;
  }
  load.connect_all(batch, now_ns() + int64_t{connect_timeout_ms} * 1000000);
  // Scripts that watch the server (scripts/lib/echo-runs.sh) read its CPU time from here on.
  fprintf(stderr, "loadgen: warmed up, measuring for %d ms\n", duration_ms);
  int64_t start = now_ns();
  int64_t end = start + int64_t{duration_ms} * 1000000;
  load.run(end, end + int64_t{drain_ms} * 1000000);
  load.report(connections, duration_ms);
  return load.clean(connections) ? 0 : 1;
}
