// Helpers shared by the hook tests: run a body raw (on this thread) or hooked (as a coroutine),
// a peer that runs beside it (a thread, or a coroutine on the same scheduler thread), sockets.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "cohook/cohook.hpp"

namespace hook_test {

// Peer resets and closed readers must show up as EPIPE, not kill the test.
inline const bool kSigpipeIgnored = (::signal(SIGPIPE, SIG_IGN), true);

enum class Mode { kRaw, kHooked };
inline const char* to_string(Mode mode) { return mode == Mode::kRaw ? "raw" : "hooked"; }

// Runs beside the scenario: the other end of a connection. In raw mode a thread; in hooked mode
// a coroutine on the same (single) scheduler thread, which can only make progress if the
// scenario's blocking call parks instead of blocking the thread.
class Peer {
 public:
  explicit Peer(Mode mode) : mode_(mode) {}
  ~Peer() { join(); }
  void start(std::function<void()> fn) {
    if (mode_ == Mode::kRaw) thread_ = std::thread(std::move(fn));
    else handle_ = cohook::go(std::move(fn));
  }
  void join() {
    if (thread_.joinable()) thread_.join();
    if (handle_.joinable()) handle_.join();
  }

 private:
  Mode mode_;
  std::thread thread_;
  cohook::JoinHandle handle_;
};

// Runs body on this thread (raw) or as the main coroutine of a one-thread Runtime (hooked).
inline void run_in(Mode mode, const std::function<void()>& body) {
  if (mode == Mode::kRaw) {
    body();
    return;
  }
  cohook::Runtime runtime(1);
  runtime.run(body);
}

// The transcript of a call in the table-driven suites: "5" for a count, "-1 EAGAIN" for a failure
// (errno by name, as libc set it).
inline std::string result(long value) {
  if (value >= 0) return std::to_string(value);
  return "-1 " + std::string(::strerrorname_np(errno));
}
// With the bytes transferred: "5 'hello'".
inline std::string result(long value, const char* buffer) {
  if (value <= 0) return result(value);
  return std::to_string(value) + " '" + std::string(buffer, static_cast<std::size_t>(value)) + "'";
}

// One row of a table-driven suite: run() makes the calls in the given mode and returns their
// transcript, which must be `expected` both raw and hooked.
struct Scenario {
  const char* name;
  std::string (*run)(Mode mode);
  const char* expected;
};
inline std::string scenario_name(const ::testing::TestParamInfo<Scenario>& info) { return info.param.name; }

// libc is the specification: the raw transcript must be the expected one, and the hooked one the
// raw one.
inline void expect_raw_and_hooked_agree(const Scenario& scenario, const std::string& raw, const std::string& hooked) {
  EXPECT_EQ(raw, scenario.expected) << "raw libc";
  EXPECT_EQ(hooked, raw) << "hooked differs from libc";
}

// The plain check of a scenario: run() raw on this thread, then hooked as a coroutine.
inline void check_raw_and_hooked(const Scenario& scenario) {
  std::string raw;
  std::string hooked;
  run_in(Mode::kRaw, [&] { raw = scenario.run(Mode::kRaw); });
  run_in(Mode::kHooked, [&] {
    ASSERT_TRUE(cohook::this_coroutine::inside());
    hooked = scenario.run(Mode::kHooked);
  });
  expect_raw_and_hooked_agree(scenario, raw, hooked);
}

// Runs body in mode. Hooked, a ticker coroutine on the same scheduler thread ticks every 10 ms
// meanwhile: a body that took 200 ms or more on a thread that stayed free saw at least 3 ticks (a
// blocked thread ticks at most once, around the blocking call; a loaded machine ticks less often,
// but never just once in 200 ms).
inline std::string run_checking_thread_free(Mode mode, const char* name, const std::function<std::string()>& body) {
  using Clock = std::chrono::steady_clock;
  std::string out;
  run_in(mode, [&] {
    std::atomic<bool> done{false};
    std::atomic<int> ticks{0};
    cohook::JoinHandle ticker;
    if (mode == Mode::kHooked) {
      ticker = cohook::go([&] {
        while (!done.load()) {
          cohook::this_coroutine::sleep_for(std::chrono::milliseconds(10));
          ticks.fetch_add(1);
        }
      });
    }
    auto start = Clock::now();
    out = body();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    done = true;
    if (mode == Mode::kHooked) {
      ticker.join();
      if (ms >= 200) {
        EXPECT_GE(ticks.load(), 3) << name << ": the thread was blocked for " << ms << " ms";
      }
    }
  });
  return out;
}

inline void sleep_ms(int ms) {
  ::usleep(static_cast<useconds_t>(ms) * 1000);
}

inline long ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
}

// One read of up to `size` bytes: "2 'ab'", with " slow" if it took a second or more (the
// scenarios that use it return in milliseconds when right; only their Watchdog makes one slow).
inline std::string timed_read(int fd, std::size_t size = 16) {
  char buffer[64];
  auto start = std::chrono::steady_clock::now();
  ssize_t n = ::read(fd, buffer, size < sizeof buffer ? size : sizeof buffer);
  std::string out = result(n, buffer);
  if (ms_since(start) >= 1000) out += " slow";
  return out;
}

// Runs `action` every 3 s until destroyed, on a plain thread in both modes (a coroutine could not
// run while a wrongly blocked call holds the scheduler thread). The suites that use it pass each
// scenario in well under 3 s, so it only fires when a call waits where libc would not: its action
// ends that wait (data written, a shutdown), and the transcript shows the lateness instead of a
// hung suite.
class Watchdog {
 public:
  explicit Watchdog(std::function<void()> action)
      : thread_([this, action = std::move(action)] {
          std::unique_lock<std::mutex> lock(mutex_);
          while (!done_cv_.wait_for(lock, std::chrono::seconds(3), [this] { return done_; })) action();
        }) {}
  ~Watchdog() { stop(); }

  // Called before the watched fds are closed: a late write must never reach a closed number, nor
  // whatever file takes it next.
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    done_cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::thread thread_;  // last: it starts running once the members above exist
};

// A listening TCP socket on 127.0.0.1 with a kernel-chosen port.
inline int listen_loopback(int* port, int backlog = 128, int type_flags = 0) {
  int fd = ::socket(AF_INET, SOCK_STREAM | type_flags, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return -1;
  if (::listen(fd, backlog) != 0) return -1;
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  *port = ntohs(address.sin_port);
  return fd;
}

inline sockaddr_in loopback_address(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  return address;
}

inline int connect_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address = loopback_address(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline std::string pattern(std::size_t size, unsigned seed) {
  std::string data(size, '\0');
  unsigned state = seed * 2654435761u + 1;
  for (char& c : data) {
    state = state * 1103515245u + 12345u;
    c = static_cast<char>(state >> 16);
  }
  return data;
}

}  // namespace hook_test
