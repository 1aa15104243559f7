// Thread-per-connection servers nobody wrote for coroutines (test/programs/green_echo_server.c
// and green_relay.c, legacy C), under corun at 1,000 connections each: every byte comes back,
// and the server runs on its scheduler threads only.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test/green_test_util.h"

namespace {

using green_test::Connection;
using green_test::corun;
using green_test::Server;
using green_test::program;

constexpr int kConnections = 1000;
constexpr std::size_t kBytesPerConnection = 16 * 1024;


std::string pattern(int index) {
  std::string s(kBytesPerConnection, '\0');
  unsigned x = 2166136261u ^ static_cast<unsigned>(index);
  for (char& c : s) {
    x = x * 16777619u + 12345u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

// Opens kConnections to port, all at once, sends each its own bytes, half-closes, and reads
// until EOF. Returns how many connections got back exactly what they sent; calls `while_open`
// once every connection is established and has had a first echo.
template <class WhileOpen>
int echo_through(int port, WhileOpen while_open) {
  std::vector<Connection> connections(kConnections);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<unsigned short>(port));
  for (int i = 0; i < kConnections; ++i) {
    Connection& c = connections[i];
    c.fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(c.fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return -1;
    ::fcntl(c.fd, F_SETFL, O_NONBLOCK);
    c.sent = pattern(i);
  }
  // First a small part on every connection, so that all are served at once.
  for (Connection& c : connections) c.written = static_cast<std::size_t>(::write(c.fd, c.sent.data(), 100));
  bool reported = false;
  return green_test::echo_until_closed(connections, std::chrono::seconds(120), [&] {
    if (reported) return;
    for (const Connection& c : connections)
      if (!c.eof && c.received.size() < 100) return;
    while_open();
    reported = true;
  });
}

class GreenServersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (green_test::sanitizer_build())
      GTEST_SKIP() << "a sanitizer build of libcohook.so cannot be preloaded into uninstrumented programs";
    // Client sockets here, 1,000 in the echo server and 2,000 in the relay; children inherit it.
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, 8192);
    ::setrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < 4 * kConnections) GTEST_SKIP() << "RLIMIT_NOFILE hard limit too low: " << limit.rlim_max;
  }
};

TEST_F(GreenServersTest, ThreadPerConnectionEchoServerAtAThousandConnections) {
  Server server({corun(), "--threads", "2", program("green_echo_server")});
  ASSERT_GT(server.port, 0);
  int threads_while_open = -1;
  int exact = echo_through(server.port, [&] { threads_while_open = server.os_threads(); });
  EXPECT_EQ(exact, kConnections);
  // 1,000 connection threads, yet only the 2 scheduler threads and cohook's diagnostics thread
  // (the COHOOK_HOG_REPORT watchdog).
  EXPECT_EQ(threads_while_open, 3);
}

TEST_F(GreenServersTest, BlockingRelayAtAThousandConnections) {
  Server echo({corun(), "--threads", "2", program("green_echo_server")});
  ASSERT_GT(echo.port, 0);
  Server relay({corun(), "--threads", "2", program("green_relay"), std::to_string(echo.port)});
  ASSERT_GT(relay.port, 0);
  int relay_threads = -1;
  int exact = echo_through(relay.port, [&] { relay_threads = relay.os_threads(); });
  EXPECT_EQ(exact, kConnections);
  EXPECT_EQ(relay_threads, 3);  // 2,000 copying threads on 2 scheduler threads (+ diagnostics)
}

}  // namespace
