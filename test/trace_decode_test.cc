// strace's argument decoders (hook/trace_decode*.cc) and TraceLine on the edge cases strace's format
// defines, checked without strace (test/trace_decode_strace_test.cc compares with strace itself).
#include "hook/trace_decode.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace {

using cohook::trace::TraceLine;
namespace trace = cohook::trace;
using trace::put_string;

constexpr std::size_t kStrsize = 32;  // strace's default -s

std::string decoded(const std::function<void(TraceLine&)>& decoder) {
  static TraceLine line;  // 3 KB: kept off the test's stack
  line.clear();
  decoder(line);
  return std::string(line.view());
}

// Edge cases of strace's formats, checked without strace.

TEST(TraceDecode, StringsAreQuotedCutAtStrsizeAndEscapedAsStraceDoes) {
  auto quoted = [](std::string_view s, std::size_t max = kStrsize) {
    return decoded([&](TraceLine& l) { put_string(l, s.data(), s.size(), max); });
  };
  EXPECT_EQ(quoted(""), "\"\"");
  EXPECT_EQ(quoted(std::string(32, 'a')), "\"" + std::string(32, 'a') + "\"");
  EXPECT_EQ(quoted(std::string(33, 'a')), "\"" + std::string(32, 'a') + "\"...");
  // NUL alone is \0, before a digit \000; the lookahead stops at the cut.
  EXPECT_EQ(quoted(std::string_view("\0a\0"
                                    "1",
                                    4)),
            R"("\0a\0001")");
  EXPECT_EQ(quoted(std::string_view("ab\0"
                                    "1",
                                    4),
                   3),
            R"("ab\0"...)");
  EXPECT_EQ(quoted("\x7f\x80\xff\x1b"), R"("\177\200\377\33")");
  EXPECT_EQ(quoted("\"\\\n\t\r\f\v"), R"("\"\\\n\t\r\f\v")");
  EXPECT_EQ(quoted("abc", 0), "\"\"...");
  EXPECT_EQ(decoded([](TraceLine& l) { put_string(l, nullptr, 5, kStrsize); }), "NULL");
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_c_string(l, nullptr, kStrsize); }), "NULL");
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_c_string(l, "/etc/hosts", kStrsize); }), "\"/etc/hosts\"");
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_c_string(l, "abcdef", 3); }), "\"abc\"...");
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_c_string(l, "abc", 3); }), "\"abc\"");
}

TEST(TraceDecode, IovecsShowTheTransferAndAtMostStrsizeElements) {
  char a[] = "abcdef", b[] = "ghij";
  iovec two[2] = {{a, 6}, {b, 4}};
  EXPECT_EQ(decoded([&](TraceLine& l) { trace::put_iovec(l, two, 2, 7, kStrsize); }),
            R"([{iov_base="abcdef", iov_len=6}, {iov_base="g", iov_len=4}])");
  EXPECT_EQ(decoded([&](TraceLine& l) { trace::put_iovec(l, two, 2, 0, kStrsize); }),
            R"([{iov_base="", iov_len=6}, {iov_base="", iov_len=4}])");
  std::vector<iovec> many(40, iovec{a, 1});
  std::string text = decoded([&](TraceLine& l) { trace::put_iovec(l, many.data(), 40, 40, kStrsize); });
  std::string element = R"({iov_base="a", iov_len=1})";
  std::string expected = "[";
  for (int i = 0; i < 32; ++i) expected += element + ", ";
  EXPECT_EQ(text, expected + "...]");
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_iovec(l, nullptr, 0, 0, kStrsize); }), "NULL");
  std::vector<pollfd> fds(40, pollfd{5, POLLOUT, POLLOUT});
  std::string events, revents;
  for (int i = 0; i < 3; ++i) {
    events += "{fd=5, events=POLLOUT}, ";
    revents += "{fd=5, revents=POLLOUT}, ";
  }
  EXPECT_EQ(decoded([&](TraceLine& l) { trace::put_pollfds(l, fds.data(), 40, false, 3); }), "[" + events + "...]");
  EXPECT_EQ(decoded([&](TraceLine& l) { trace::put_pollfds(l, fds.data(), 40, true, 3); }), "[" + revents + "...]");
  EXPECT_EQ(decoded([&](TraceLine& l) { trace::put_pollfds(l, fds.data(), 3, true, 3); }),
            "[" + revents.substr(0, revents.size() - 2) + "]");
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_msghdr(l, nullptr, 0, kStrsize); }), "NULL");
}

TEST(TraceDecode, UnknownBitsAndValuesPrintInHexWithStracesComment) {
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_msg_flags(l, 0); }), "0");
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_msg_flags(l, 0x800000); }), "0x800000 /* MSG_??? */");
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_msg_flags(l, MSG_PEEK | 0x800000); }), "MSG_PEEK|0x800000");
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_poll_events(l, 0x4000); }), "0x4000 /* POLL??? */");
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_epoll_events(l, 0x1000000); }), "0x1000000 /* EPOLL??? */");
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_wait_options(l, 0x100000); }), "0x100000 /* W??? */");
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_accept_flags(l, 1); }), "0x1 /* SOCK_??? */");
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_open_flags(l, O_RDWR | O_SYNC); }), "O_RDWR|O_SYNC");
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_pipe_flags(l, 0); }), "0");
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_pipe_flags(l, O_CLOEXEC | O_NONBLOCK); }), "O_NONBLOCK|O_CLOEXEC");
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_eventfd_flags(l, 02000000 | 04000); }), "EFD_CLOEXEC|EFD_NONBLOCK");
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_fcntl_command(l, 1234); }), "0x4d2 /* F_??? */");
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_clock_id(l, -1000); }), "0xfffffc18 /* CLOCK_??? */");
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_socket_level(l, 999); }), "0x3e7 /* SOL_?? */");
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_socket_option(l, 999, 7); }), "7");
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_epoll_op(l, 9); }), "0x9 /* EPOLL_CTL_??? */");
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_signal(l, 0); }), "0");
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_signal(l, 32); }), "SIGRTMIN");
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_sigset(l, nullptr); }), "NULL");
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_timespec(l, nullptr); }), "NULL");
  timeval tv = {1, 500000};
  EXPECT_EQ(decoded([&](TraceLine& l) { trace::put_timeval(l, &tv); }), "{tv_sec=1, tv_usec=500000}");
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_sockaddr(l, nullptr, 0); }), "NULL");
}

// Every errno the table names has glibc's strerror text (the C locale's, which strace prints).
TEST(TraceDecode, ErrnoTableMatchesStrerror) {
  int named = 0;
  for (int error = 1; error < 200; ++error) {
    const char* name = trace::errno_name(error);
    if (name == nullptr) {
      EXPECT_EQ(trace::errno_text(error), nullptr);
      continue;
    }
    ++named;
    EXPECT_STREQ(trace::errno_text(error), std::strerror(error)) << name;
  }
  EXPECT_EQ(named, 131);  // every Linux errno, 1 to 133 but 41 and 58
  EXPECT_STREQ(trace::errno_name(EWOULDBLOCK), "EAGAIN");
  EXPECT_STREQ(trace::errno_name(ENOTSUP), "EOPNOTSUPP");
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_result(l, -1, 200); }), " = -1 (errno 200)");
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_result(l, -1, ECONNRESET); }),
            " = -1 ECONNRESET (Connection reset by peer)");
  EXPECT_EQ(decoded([](TraceLine& l) { trace::put_result(l, 78, 0); }), " = 78");
}

// IPv6 text as inet_ntop writes it (strace calls it), for the forms RFC 5952 distinguishes.
TEST(TraceDecode, Ipv6AddressesReadAsInetNtop) {
  for (const char* address : {"::", "::1", "1::", "2001:db8::1", "2001:db8:0:0:1:0:0:1", "2001:0:0:1::1",
                              "fe80::1:2:3:4", "::ffff:10.0.0.1", "::10.0.0.1", "1:2:3:4:5:6:7:8", "1:0:3:4:5:6:7:8",
                              "0:0:1::", "abcd:ef01:2345:6789:abcd:ef01:2345:6789", "::ffff:0:1"}) {
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(443);
    in6.sin6_flowinfo = htonl(7);
    in6.sin6_scope_id = 2;
    ASSERT_EQ(inet_pton(AF_INET6, address, &in6.sin6_addr), 1) << address;
    char text[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof text);
    EXPECT_EQ(decoded([&](TraceLine& l) { trace::put_sockaddr(l, reinterpret_cast<sockaddr*>(&in6), sizeof in6); }),
              std::string("{sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(7), inet_pton(AF_INET6, \"") +
                  text + "\", &sin6_addr), sin6_scope_id=2}");
  }
}

TEST(TraceLine, NumbersAndTruncationAtCapacity) {
  static TraceLine line;
  line.clear();
  line.put_int(-9223372036854775807LL - 1);
  line.put_char(' ');
  line.put_uint(18446744073709551615ULL);
  line.put_char(' ');
  line.put_hex(0);
  line.put_char(' ');
  line.put_hex(0xdeadbeef);
  line.put_char(' ');
  line.put_int(0);
  EXPECT_EQ(line.view(), "-9223372036854775808 18446744073709551615 0x0 0xdeadbeef 0");
  EXPECT_FALSE(line.truncated());
  line.drop_back(2);
  EXPECT_EQ(line.view().substr(line.size() - 3), "eef");
  line.clear();
  line.put(std::string(TraceLine::kCapacity - 2, 'x'));
  EXPECT_FALSE(line.truncated());
  line.put("abc");  // one character too many: "ab" fits
  EXPECT_TRUE(line.truncated());
  EXPECT_EQ(line.size(), TraceLine::kCapacity);
  EXPECT_EQ(line.view().substr(TraceLine::kCapacity - 2), "ab");
  line.put_char('z');
  line.put_uint(12345);
  EXPECT_EQ(line.size(), TraceLine::kCapacity);
  // A decoder at capacity stops cleanly too: a long string into a nearly full line.
  line.clear();
  line.put(std::string(TraceLine::kCapacity - 5, 'x'));
  std::string big(4096, '\1');
  put_string(line, big.data(), big.size(), big.size());
  EXPECT_TRUE(line.truncated());
  EXPECT_EQ(line.view().substr(TraceLine::kCapacity - 5), "\"\\1\\1");
  line.clear();
  EXPECT_EQ(line.size(), 0u);
  EXPECT_FALSE(line.truncated());
}

}  // namespace
