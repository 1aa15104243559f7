// Built with -D_FORTIFY_SOURCE=2 (see the Makefile), as Debian builds its packages: read, recv,
// recvfrom and poll on buffers of known size compile to __read_chk, __recv_chk, __recvfrom_chk
// and __poll_chk. Inside a coroutine they must park like the plain calls (the peer is a
// coroutine on the same thread, so a call that blocked the thread would end only at the 2 s
// receive timeout, and the transcript would show it), and they must keep libc's overflow check.
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "hook_test_util.h"

#if !defined(__USE_FORTIFY_LEVEL) || __USE_FORTIFY_LEVEL < 2
#error "hook_fortify_test must be built with -O1 or more and -D_FORTIFY_SOURCE=2"
#endif

namespace {

using hook_test::Mode;
using hook_test::Peer;

std::string result(long value, const char* buffer) {
  if (value < 0) return "-1 " + std::string(::strerrorname_np(errno));
  return std::to_string(value) + " '" + std::string(buffer, static_cast<std::size_t>(value)) + "'";
}

// A socket pair whose reading end gives up after 2 s: a call that blocked the scheduler thread
// returns EAGAIN then instead of hanging the test.
void watched_pair(int sv[2]) {
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  timeval timeout{2, 0};
  ::setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
}

std::string fortified_calls(Mode mode) {
  int sv[2];
  watched_pair(sv);
  Peer peer(mode);
  peer.start([&] {
    for (const char* part : {"read", "recv", "from", "poll"}) {
      ::usleep(20000);
      EXPECT_EQ(::write(sv[1], part, 4), 4);
    }
  });
  char buffer[8];
  std::string out = "read=" + result(::read(sv[0], buffer, sizeof buffer), buffer);
  out += "; recv=" + result(::recv(sv[0], buffer, sizeof buffer, 0), buffer);
  out += "; recvfrom=" + result(::recvfrom(sv[0], buffer, sizeof buffer, 0, nullptr, nullptr), buffer);
  pollfd entries[1] = {{sv[0], POLLIN, 0}};
  int ready = ::poll(entries, 1, 2000);
  out += "; poll=" + std::to_string(ready) + " revents=" + std::to_string(entries[0].revents);
  peer.join();
  ::close(sv[0]);
  ::close(sv[1]);
  return out;
}

TEST(HookFortify, RawAndHookedAgree) {
  const char* expected = "read=4 'read'; recv=4 'recv'; recvfrom=4 'from'; poll=1 revents=1";
  std::string raw;
  std::string hooked;
  hook_test::run_in(Mode::kRaw, [&] { raw = fortified_calls(Mode::kRaw); });
  hook_test::run_in(Mode::kHooked, [&] { hooked = fortified_calls(Mode::kHooked); });
  EXPECT_EQ(raw, expected);
  EXPECT_EQ(hooked, expected);
}

// Sizes the compiler cannot see, so that the checks happen at run time.
volatile std::size_t g_too_many = 64;
volatile nfds_t g_too_many_fds = 4;

TEST(HookFortifyDeathTest, OverflowsAreCaughtAsLibcCatchesThem) {
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  ASSERT_EQ(::write(sv[1], "xx", 2), 2);
  char small[8];
  // (Results are kept: fortified declarations warn when they are dropped.)
  ssize_t sink = 0;
  EXPECT_DEATH(sink = ::read(sv[0], small, g_too_many), "buffer overflow detected");
  EXPECT_DEATH(sink = ::recv(sv[0], small, g_too_many, 0), "buffer overflow detected");
  EXPECT_DEATH(sink = ::recvfrom(sv[0], small, g_too_many, 0, nullptr, nullptr), "buffer overflow detected");
  pollfd entries[1] = {{sv[0], POLLIN, 0}};
  EXPECT_DEATH(sink = ::poll(entries, g_too_many_fds, 0), "buffer overflow detected");
  EXPECT_EQ(sink, 0);
  // Within bounds nothing happens.
  EXPECT_EQ(::read(sv[0], small, 2), 2);
  ::close(sv[0]);
  ::close(sv[1]);
}

}  // namespace
