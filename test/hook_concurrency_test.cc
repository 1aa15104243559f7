// Many coroutines on one scheduler thread doing blocking-style I/O through the hooks.
#include <netdb.h>
#include <poll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "hook_test_util.h"

namespace {

// Reads exactly size bytes (blocking style); false on EOF or error.
bool read_exactly(int fd, char* buffer, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::read(fd, buffer + done, size - done);
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

TEST(HookConcurrency, ThousandEchoClientsOnOneThread) {
  constexpr int kClients = 1000;
  constexpr std::size_t kPayload = 3000;
  std::atomic<int> verified{0};
  std::atomic<int> served{0};
  cohook::Runtime runtime(1);
  runtime.run([&] {
    int port = 0;
    int listener = hook_test::listen_loopback(&port, kClients);
    ASSERT_GE(listener, 0);
    cohook::JoinHandle acceptor = cohook::go([&] {
      for (int i = 0; i < kClients; ++i) {
        int connection = ::accept(listener, nullptr, nullptr);
        ASSERT_GE(connection, 0) << strerror(errno);
        cohook::go([&, connection] {
          // Echo until the client shuts down its side.
          char buffer[1024];
          ssize_t n;
          while ((n = ::read(connection, buffer, sizeof buffer)) > 0) {
            if (::write(connection, buffer, static_cast<std::size_t>(n)) != n) break;
          }
          ::close(connection);
          ++served;
        });
      }
    });
    for (int i = 0; i < kClients; ++i) {
      cohook::go([&, i] {
        int fd = hook_test::connect_loopback(port);
        ASSERT_GE(fd, 0) << strerror(errno);
        std::string payload = hook_test::pattern(kPayload, static_cast<unsigned>(i));
        ASSERT_EQ(::write(fd, payload.data(), payload.size()), static_cast<ssize_t>(payload.size()));
        std::string echoed(kPayload, '\0');
        ASSERT_TRUE(read_exactly(fd, echoed.data(), echoed.size()));
        ::shutdown(fd, SHUT_WR);
        char extra;
        EXPECT_EQ(::read(fd, &extra, 1), 0);  // EOF once the server closed
        ::close(fd);
        if (echoed == payload) ++verified;
      });
    }
    acceptor.join();
    ::close(listener);
  });
  EXPECT_EQ(verified.load(), kClients);
  EXPECT_EQ(served.load(), kClients);
}

TEST(HookConcurrency, PollAndSelectOverManyFds) {
  constexpr int kPairs = 200;
  int poll_ready = -1;
  int select_ready = -1;
  std::vector<int> poll_hits;
  cohook::Runtime runtime(1);
  runtime.run([&] {
    std::vector<int> readers, writers;
    for (int i = 0; i < kPairs; ++i) {
      int sv[2];
      ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
      readers.push_back(sv[0]);
      writers.push_back(sv[1]);
    }
    cohook::JoinHandle poller = cohook::go([&] {
      std::vector<pollfd> fds;
      for (int fd : readers) fds.push_back({fd, POLLIN, 0});
      poll_ready = ::poll(fds.data(), fds.size(), -1);
      for (int i = 0; i < kPairs; ++i)
        if (fds[static_cast<std::size_t>(i)].revents & POLLIN) poll_hits.push_back(i);
    });
    // select watches the first 100 (fd_set holds numbers below FD_SETSIZE).
    cohook::JoinHandle selector = cohook::go([&] {
      fd_set set;
      FD_ZERO(&set);
      int highest = 0;
      for (int i = 0; i < 100; ++i) {
        FD_SET(readers[static_cast<std::size_t>(i)], &set);
        highest = std::max(highest, readers[static_cast<std::size_t>(i)]);
      }
      select_ready = ::select(highest + 1, &set, nullptr, nullptr, nullptr);
    });
    cohook::this_coroutine::yield();  // both are parked now
    EXPECT_EQ(poll_ready, -1);
    // Every 7th pair gets data, all before anyone else runs.
    for (int i = 0; i < kPairs; i += 7) ASSERT_EQ(::write(writers[static_cast<std::size_t>(i)], "x", 1), 1);
    poller.join();
    selector.join();
    for (int fd : readers) ::close(fd);
    for (int fd : writers) ::close(fd);
  });
  std::vector<int> expected;
  for (int i = 0; i < kPairs; i += 7) expected.push_back(i);
  EXPECT_EQ(poll_ready, static_cast<int>(expected.size()));
  EXPECT_EQ(poll_hits, expected);
  EXPECT_EQ(select_ready, 15);  // 0, 7, ..., 98
}

TEST(HookConcurrency, HundredConcurrentLookupsDoNotBlockTheScheduler) {
  constexpr int kLookups = 100;
  std::atomic<int> started{0};
  std::atomic<int> succeeded{0};
  int started_when_first_finished = -1;
  cohook::Runtime runtime(1);
  runtime.run([&] {
    for (int i = 0; i < kLookups; ++i) {
      cohook::go([&] {
        ++started;
        addrinfo hints{};
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* list = nullptr;
        int status = ::getaddrinfo("localhost", "80", &hints, &list);
        // Offloaded lookups let every coroutine start its own before the first one returns; a
        // lookup that blocked the thread would finish before the second coroutine even ran.
        if (started_when_first_finished < 0) started_when_first_finished = started.load();
        if (status == 0 && list != nullptr) {
          ++succeeded;
          ::freeaddrinfo(list);
        }
      });
    }
  });
  EXPECT_EQ(succeeded.load(), kLookups);
  EXPECT_EQ(started_when_first_finished, kLookups);
}

}  // namespace
