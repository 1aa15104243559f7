// strace's argument decoders (hook/trace_decode*.cc) against strace itself: the text they produce
// is compared with what strace prints for the same calls (test/programs/trace_decode_probe.cc run
// under `strace -f -s 32`). test/trace_decode_test.cc has the edge cases, without strace.
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

#include "hook/trace_decode.h"
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
  // SCM_RIGHTS carries one of the probe's fds: decoded with a stand-in number the pattern widens.
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  cmsghdr* rights = CMSG_FIRSTHDR(&message);
  rights->cmsg_level = SOL_SOCKET;
  rights->cmsg_type = SCM_RIGHTS;
  rights->cmsg_len = CMSG_LEN(sizeof(int));
  int stand_in = 1000;
  std::memcpy(CMSG_DATA(rights), &stand_in, sizeof(int));
  {
    std::string text = regex_escape(decoded([&](TraceLine& l) { trace::put_msghdr(l, &message, 11, kStrsize); }));
    const std::string stand_in_text = R"(cmsg_data=\[1000\])";  // as regex_escape wrote it
    std::size_t at = text.find(stand_in_text);
    ASSERT_NE(at, std::string::npos) << text;
    text.replace(at, stand_in_text.size(), R"(cmsg_data=\[[0-9]+\])");
    Expected line = expect();
    line.result();
    std::string pattern = R"(sendmsg\([0-9]+, )" + text + R"(, 0\))" +
                          regex_escape(decoded([&](TraceLine& l) { trace::put_result(l, line.last_result(), 0); }));
    bool found = false;
    for (const std::string& strace_line : strace_lines_)
      found = found || std::regex_match(strace_line, std::regex(pattern));
    EXPECT_TRUE(found) << pattern;
  }
  skip_result();  // the second recvmsg
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

}  // namespace
