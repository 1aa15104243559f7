// strace's argument decoders (hook/trace_decode*.cc): the text they produce is compared with what
// strace itself prints for the same calls (test/programs/trace_decode_probe.cc run under
// `strace -f -s 32`), then edge cases strace's format defines, without strace.
#include "hook/trace_decode.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "test/trace_decode_cases.h"

namespace {

using cohook::trace::TraceLine;
namespace trace = cohook::trace;
using namespace trace_cases;

constexpr std::size_t kStrsize = 32;  // strace's default -s

std::string decoded(const std::function<void(TraceLine&)>& decoder) {
  static TraceLine line;  // 3 KB: kept off the test's stack
  line.clear();
  decoder(line);
  return std::string(line.view());
}

std::string regex_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (std::strchr("\\^$.|?*+()[]{}", c) != nullptr) out += '\\';
    out += c;
  }
  return out;
}

// One expected strace line: literal text (from the decoders) and patterns for what varies (fds,
// addresses), with the call's result as the probe reported it.
class Expected {
 public:
  Expected(std::vector<std::pair<long, int>>& results, std::size_t& next) : results_(results), next_(next) {}
  Expected& text(std::string_view s) {
    regex_ += regex_escape(s);
    shown_ += s;
    return *this;
  }
  Expected& fd() { return pattern("-?[0-9]+", "<fd>"); }
  Expected& pointer() { return pattern("0x[0-9a-f]+", "<pointer>"); }
  Expected& word() { return pattern("[A-Z_0-9]+", "<name>"); }
  Expected& put(const std::function<void(TraceLine&)>& decoder) { return text(decoded(decoder)); }
  Expected& result() {
    auto [value, error] = results_.at(next_++);
    return put([&](TraceLine& line) { trace::put_result(line, value, error); });
  }
  long last_result() const { return results_.at(next_ - 1).first; }
  const std::string& regex() const { return regex_; }
  const std::string& shown() const { return shown_; }

 private:
  Expected& pattern(const char* regex, const char* shown) {
    regex_ += regex;
    shown_ += shown;
    return *this;
  }
  std::vector<std::pair<long, int>>& results_;
  std::size_t& next_;
  std::string regex_, shown_;
};

class StraceComparison : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("command -v strace >/dev/null 2>&1") != 0) GTEST_SKIP() << "no strace (scripts/install-deps.sh)";
    // The probe sits beside the test binary's own build tree: build/<flavour>/test/programs/.
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    ASSERT_GT(n, 0);
    self[n] = '\0';
    std::string dir(self);
    std::string probe = dir.substr(0, dir.rfind('/')) + "/programs/trace_decode_probe";
    ASSERT_EQ(access(probe.c_str(), X_OK), 0) << probe << " not built (make build-tests)";
    std::string base = "/tmp/cohook_trace_decode_" + std::to_string(getpid());
    std::string strace_out = base + ".strace", results_out = base + ".results";
    std::string command = "timeout 60 strace -f -s 32 -o " + strace_out + " " + probe + " " + results_out;
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    std::ifstream lines(strace_out);
    for (std::string line; std::getline(lines, line);) {
      // "1234 read(...)    = 6": drop the pid and strace's column padding before " = ".
      line = std::regex_replace(line, std::regex("^[0-9]+ +"), "");
      line = std::regex_replace(line, std::regex("\\) +="), ") =");
      strace_lines_.push_back(line);
    }
    std::ifstream results(results_out);
    for (long value; results >> value;) {
      int error = 0;
      results >> error;
      results_.emplace_back(value, error);
    }
    unlink(strace_out.c_str());
    unlink(results_out.c_str());
    ASSERT_FALSE(results_.empty());
  }

  Expected expect() { return Expected(results_, next_result_); }
  void skip_result() { ++next_result_; }

  // The next strace line (at or after the previous match) that matches `expected` entirely.
  void match(const Expected& expected) {
    std::regex pattern(expected.regex());
    for (std::size_t i = next_line_; i < strace_lines_.size(); ++i) {
      if (std::regex_match(strace_lines_[i], pattern)) {
        next_line_ = i + 1;
        ++matched_;
        return;
      }
    }
    std::string context;
    for (std::size_t i = next_line_; i < strace_lines_.size() && i < next_line_ + 3; ++i)
      context += "  " + strace_lines_[i] + "\n";
    ADD_FAILURE() << "no strace line matches\n  " << expected.shown() << "\nnext strace lines:\n" << context;
  }

  std::vector<std::string> strace_lines_;
  std::vector<std::pair<long, int>> results_;
  std::size_t next_result_ = 0, next_line_ = 0;
  int matched_ = 0;
};

using trace::put_string;

TEST_F(StraceComparison, EveryDecodedArgumentReadsAsStracePrintsIt) {
  auto string_of = [](std::string_view s, std::size_t length) {
    return [s, length](TraceLine& line) { put_string(line, s.data(), length, kStrsize); };
  };
  match(expect()
            .text("pipe2([")
            .fd()
            .text(", ")
            .fd()
            .text("], ")
            .put([](TraceLine& l) { trace::put_pipe_flags(l, O_CLOEXEC); })
            .text(")")
            .result());
  for (std::string_view payload : kPayloads) {
    match(expect()
              .text("write(")
              .fd()
              .text(", ")
              .put(string_of(payload, payload.size()))
              .text(", ")
              .text(std::to_string(payload.size()))
              .text(")")
              .result());
    match(expect().text("read(").fd().text(", ").put(string_of(payload, payload.size())).text(", 64)").result());
  }
  match(expect().text("write(").fd().text(", ").put(string_of("", 0)).text(", 0)").result());

  iovec out[3];
  for (int i = 0; i < 3; ++i) out[i] = {const_cast<char*>(kIovParts[i].data()), kIovParts[i].size()};
  match(expect()
            .text("writev(")
            .fd()
            .text(", ")
            .put([&](TraceLine& l) { trace::put_iovec(l, out, 3, 6, kStrsize); })
            .text(", 3)")
            .result());
  char part1[kReadvSizes[0]], part2[kReadvSizes[1]];
  std::memcpy(part1, "ab", 2);
  std::memcpy(part2, "cde\n", 4);
  iovec in[2] = {{part1, sizeof part1}, {part2, sizeof part2}};
  {
    Expected readv_line = expect().text("readv(").fd().text(", ");
    readv_line.put([&](TraceLine& l) {
      trace::put_iovec(l, in, 2, static_cast<std::size_t>(results_.at(next_result_).first), kStrsize);
    });
    match(readv_line.text(", 2)").result());
  }

  match(expect()
            .text("socketpair(")
            .put([](TraceLine& l) { trace::put_address_family(l, AF_UNIX); })
            .text(", ")
            .put([](TraceLine& l) { trace::put_socket_type(l, SOCK_STREAM | SOCK_CLOEXEC); })
            .text(", 0, [")
            .fd()
            .text(", ")
            .fd()
            .text("])")
            .result());
  iovec parts[2];
  for (int i = 0; i < 2; ++i) parts[i] = {const_cast<char*>(kMsgParts[i].data()), kMsgParts[i].size()};
  msghdr message{};
  message.msg_iov = parts;
  message.msg_iovlen = 2;
  match(expect()
            .text("sendmsg(")
            .fd()
            .text(", ")
            .put([&](TraceLine& l) { trace::put_msghdr(l, &message, 11, kStrsize); })
            .text(", ")
            .put([](TraceLine& l) { trace::put_msg_flags(l, MSG_DONTWAIT | MSG_NOSIGNAL); })
            .text(")")
            .result());
  char received_bytes[64] = "hello world";
  iovec whole = {received_bytes, sizeof received_bytes};
  msghdr received{};
  received.msg_iov = &whole;
  received.msg_iovlen = 1;
  match(expect()
            .text("recvmsg(")
            .fd()
            .text(", ")
            .put([&](TraceLine& l) { trace::put_msghdr(l, &received, 11, kStrsize); })
            .text(", ")
            .put([](TraceLine& l) { trace::put_msg_flags(l, 0); })
            .text(")")
            .result());
  match(expect()
            .text("sendto(")
            .fd()
            .text(", ")
            .put(string_of("ping", 4))
            .text(", 4, ")
            .put([](TraceLine& l) { trace::put_msg_flags(l, MSG_NOSIGNAL); })
            .text(", NULL, 0)")
            .result());
  match(expect()
            .text("recvfrom(")
            .fd()
            .text(", ")
            .put(string_of("ping", 4))
            .text(", 64, ")
            .put([](TraceLine& l) { trace::put_msg_flags(l, MSG_DONTWAIT); })
            .text(", NULL, NULL)")
            .result());
  match(expect()
            .text("recvfrom(")
            .fd()
            .text(", ")
            .pointer()
            .text(", 64, ")
            .put([](TraceLine& l) { trace::put_msg_flags(l, MSG_DONTWAIT); })
            .text(", NULL, NULL)")
            .result());

  // The probe's fds are not known here: decode with placeholders and let the pattern take any fd.
  pollfd fds[4] = {{1000, POLLIN, 0},
                   {1001, POLLOUT, POLLOUT},
                   {-1, POLLIN, 0},
                   {1002, POLLIN | POLLOUT | POLLPRI | POLLRDHUP, POLLOUT}};
  auto poll_text = [&](bool revents) {
    std::string text = decoded([&](TraceLine& l) { trace::put_pollfds(l, fds, 4, revents); });
    return std::regex_replace(regex_escape(text), std::regex("fd=100[0-9]"), "fd=[0-9]+");
  };
  {
    Expected poll_line = expect().text("poll(");
    std::string args = poll_text(false), result = poll_text(true);
    poll_line.result();
    std::string expected =
        "poll\\(" + args + ", 4, 0\\)" +
        regex_escape(decoded([&](TraceLine& l) { trace::put_result(l, poll_line.last_result(), 0); })) + " \\(" +
        result + "\\)";
    bool found = false;
    for (const std::string& line : strace_lines_) found = found || std::regex_match(line, std::regex(expected));
    EXPECT_TRUE(found) << expected;
  }

  auto socket_line = [&](int family, int type) {
    match(expect()
              .text("socket(")
              .put([&](TraceLine& l) { trace::put_address_family(l, family); })
              .text(", ")
              .put([&](TraceLine& l) { trace::put_socket_type(l, type); })
              .text(", ")
              .word()
              .text(")")
              .result());
  };
  auto connect_line = [&](const char* call, const void* address, socklen_t length) {
    match(expect()
              .text(call)
              .text("(")
              .fd()
              .text(", ")
              .put([&](TraceLine& l) { trace::put_sockaddr(l, static_cast<const sockaddr*>(address), length); })
              .text(", ")
              .text(std::to_string(length))
              .text(")")
              .result());
  };
  sockaddr_in closed{};
  closed.sin_family = AF_INET;
  closed.sin_port = htons(kClosedPort);
  inet_pton(AF_INET, "127.0.0.1", &closed.sin_addr);
  socket_line(AF_INET, SOCK_STREAM);
  connect_line("connect", &closed, sizeof closed);
  sockaddr_in6 loop6{};
  loop6.sin6_family = AF_INET6;
  loop6.sin6_port = htons(kClosedPort);
  inet_pton(AF_INET6, "::1", &loop6.sin6_addr);
  socket_line(AF_INET6, SOCK_STREAM);
  connect_line("connect", &loop6, sizeof loop6);
  sockaddr_in6 mapped = loop6;
  inet_pton(AF_INET6, "::ffff:127.0.0.1", &mapped.sin6_addr);
  socket_line(AF_INET6, SOCK_STREAM);
  connect_line("connect", &mapped, sizeof mapped);
  sockaddr_un path{};
  path.sun_family = AF_UNIX;
  std::strcpy(path.sun_path, kUnixPath);
  socket_line(AF_UNIX, SOCK_STREAM);
  connect_line("connect", &path, sizeof path);
  sockaddr_un abstract{};
  abstract.sun_family = AF_UNIX;
  std::memcpy(abstract.sun_path, kAbstractName.data(), kAbstractName.size());
  connect_line("connect", &abstract, static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + kAbstractName.size()));
  sockaddr_un unnamed{};
  unnamed.sun_family = AF_UNIX;
  socket_line(AF_UNIX, SOCK_DGRAM);
  connect_line("bind", &unnamed, sizeof(sa_family_t));
  sockaddr_in any = closed;
  any.sin_port = 0;
  socket_line(AF_INET, SOCK_DGRAM);
  connect_line("bind", &any, sizeof any);
  sockaddr unspec{};
  unspec.sa_family = AF_UNSPEC;
  connect_line("connect", &unspec, sizeof unspec);

  for (const OpenCase& open_case : kOpenCases) {
    Expected line = expect()
                        .text("openat(AT_FDCWD, ")
                        .put([](TraceLine& l) { trace::put_c_string(l, kMissingPath, 4096); })
                        .text(", ")
                        .put([&](TraceLine& l) { trace::put_open_flags(l, open_case.flags); });
    if ((open_case.flags & O_CREAT) != 0 || (open_case.flags & O_TMPFILE) == O_TMPFILE) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%#o", open_case.mode);
      line.text(", ").text(mode);
    }
    match(line.text(")").result());
  }
  for (int type : kSocketTypes) socket_line(AF_INET, type);
  socket_line(kUnknownFamily, SOCK_STREAM);

  match(expect().text("close(-1)").result());
  match(expect().text("read(-1, ").pointer().text(", 8)").result());
  for (int how : {int{SHUT_WR}, int{SHUT_WR}, 7})
    match(expect()
              .text("shutdown(")
              .fd()
              .text(", ")
              .put([&](TraceLine& l) { trace::put_shutdown_how(l, how); })
              .text(")")
              .result());
  connect_line("connect", &closed, sizeof closed);
  match(expect()
            .text("accept4(")
            .fd()
            .text(", NULL, NULL, ")
            .put([](TraceLine& l) { trace::put_accept_flags(l, SOCK_CLOEXEC | SOCK_NONBLOCK); })
            .text(")")
            .result());

  auto sockopt = [&](int level, int name) {
    return expect()
        .text("setsockopt(")
        .fd()
        .text(", ")
        .put([&](TraceLine& l) { trace::put_socket_level(l, level); })
        .text(", ")
        .put([&](TraceLine& l) { trace::put_socket_option(l, level, name); })
        .text(", ");
  };
  match(sockopt(SOL_SOCKET, SO_REUSEADDR).text("[1], 4)").result());
  match(sockopt(IPPROTO_TCP, 1 /* TCP_NODELAY */).text("[1], 4)").result());
  timeval timeout = {1, 500000};
  match(sockopt(SOL_SOCKET, SO_RCVTIMEO)
            .put(string_of({reinterpret_cast<char*>(&timeout), sizeof timeout}, sizeof timeout))
            .text(", 16)")
            .result());
  match(sockopt(IPPROTO_IPV6, IPV6_V6ONLY).text("[1], 4)").result());

  match(expect()
            .text("fcntl(")
            .fd()
            .text(", ")
            .put([](TraceLine& l) { trace::put_fcntl_command(l, F_SETFL); })
            .text(", ")
            .put([](TraceLine& l) { trace::put_open_flags(l, O_NONBLOCK); })
            .text(")")
            .result());
  match(expect()
            .text("fcntl(")
            .fd()
            .text(", ")
            .put([](TraceLine& l) { trace::put_fcntl_command(l, F_DUPFD_CLOEXEC); })
            .text(", 100)")
            .result());

  skip_result();  // epoll_create1
  for (int op : {EPOLL_CTL_ADD, 9})
    match(expect()
              .text("epoll_ctl(")
              .fd()
              .text(", ")
              .put([&](TraceLine& l) { trace::put_epoll_op(l, op); })
              .text(", ")
              .fd()
              .text(", {events=")
              .put([](TraceLine& l) { trace::put_epoll_events(l, EPOLLIN | EPOLLET); })
              .text(", data={u32=42, u64=42}})")
              .result());
  skip_result();  // write "!"
  match(expect()
            .text("epoll_wait(")
            .fd()
            .text(", [{events=")
            .put([](TraceLine& l) { trace::put_epoll_events(l, EPOLLIN); })
            .text(", data={u32=42, u64=42}}], 8, 0)")
            .result());

  match(expect()
            .text("wait4(-1, NULL, ")
            .put([](TraceLine& l) { trace::put_wait_options(l, kWaitOptions); })
            .text(", NULL)")
            .result());
  match(expect()
            .text("waitid(P_ALL, 0, NULL, ")
            .put([](TraceLine& l) { trace::put_wait_options(l, kWaitidOptions); })
            .text(", NULL)")
            .result());

  timespec nap = {0, kSleepNs}, bad = {1, 1000000000};
  for (auto [clock, time] : {std::pair{CLOCK_MONOTONIC, &nap}, {CLOCK_BOOTTIME, &nap}, {CLOCK_REALTIME, &bad}})
    match(expect()
              .text("clock_nanosleep(")
              .put([&](TraceLine& l) { trace::put_clock_id(l, clock); })
              .text(", 0, ")
              .put([&](TraceLine& l) { trace::put_timespec(l, time); })
              .text(", NULL)")
              .result());

  sigset_t set;
  sigemptyset(&set);
  for (int s : kBlockedSignals) sigaddset(&set, s);
  sigset_t full;
  std::memset(&full, 0xff, sizeof full);
  for (int s : kUnblockedSignals) sigdelset(&full, s);
  sigset_t empty;
  sigemptyset(&empty);
  for (auto [how, mask] : {std::pair{"SIG_BLOCK", &set}, {"SIG_BLOCK", &full}, {"SIG_SETMASK", &empty}})
    match(expect()
              .text("rt_sigprocmask(")
              .text(how)
              .text(", ")
              .put([&](TraceLine& l) { trace::put_sigset(l, mask); })
              .text(", NULL, 8)")
              .result());
  for (int s : kSigactionSignals)
    match(expect()
              .text("rt_sigaction(")
              .put([&](TraceLine& l) { trace::put_signal(l, s); })
              .text(", {sa_handler=SIG_IGN, sa_mask=")
              .put([&](TraceLine& l) { trace::put_sigset(l, &empty); })
              .text(", sa_flags=SA_RESTORER, sa_restorer=")
              .pointer()
              .text("}, NULL, 8)")
              .result());
  for (int s : kRawSigactionSignals)
    match(expect()
              .text("rt_sigaction(")
              .put([&](TraceLine& l) { trace::put_signal(l, s); })
              .text(", NULL, NULL, 8)")
              .result());

  EXPECT_EQ(next_result_, results_.size()) << "the probe made calls this test did not check";
  EXPECT_GE(matched_, 80);
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
