// Makes calls with the arguments in test/trace_decode_cases.h, for test/trace_decode_test.cc to run
// under strace and compare strace's text with cohook's decoders. Each call's result and errno go to
// the file argv[1] ("<result> <errno>" a line, in call order), written once at the end so that the
// trace holds only the calls under test before it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

#include "test/trace_decode_cases.h"

namespace {

using namespace trace_cases;

std::string results;

long note(long result) {
  results += std::to_string(result) + " " + std::to_string(result == -1 ? errno : 0) + "\n";
  return result;
}

sockaddr_in inet4(const char* address, unsigned short port) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(port);
  inet_pton(AF_INET, address, &in.sin_addr);
  return in;
}

sockaddr_in6 inet6(const char* address, unsigned short port) {
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(port);
  inet_pton(AF_INET6, address, &in6.sin6_addr);
  return in6;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  signal(SIGPIPE, SIG_IGN);
  char buffer[64];
  int p[2];
  note(pipe2(p, O_CLOEXEC));
  for (std::string_view payload : kPayloads) {
    note(write(p[1], payload.data(), payload.size()));
    note(read(p[0], buffer, sizeof buffer));
  }
  note(write(p[1], "", 0));

  iovec out[3];
  for (int i = 0; i < 3; ++i) out[i] = {const_cast<char*>(kIovParts[i].data()), kIovParts[i].size()};
  note(writev(p[1], out, 3));
  char part1[kReadvSizes[0]], part2[kReadvSizes[1]];
  iovec in[2] = {{part1, sizeof part1}, {part2, sizeof part2}};
  note(readv(p[0], in, 2));

  int sv[2];
  note(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
  iovec parts[2];
  for (int i = 0; i < 2; ++i) parts[i] = {const_cast<char*>(kMsgParts[i].data()), kMsgParts[i].size()};
  msghdr message{};
  message.msg_iov = parts;
  message.msg_iovlen = 2;
  note(sendmsg(sv[0], &message, MSG_DONTWAIT | MSG_NOSIGNAL));
  iovec whole = {buffer, sizeof buffer};
  msghdr received{};
  received.msg_iov = &whole;
  received.msg_iovlen = 1;
  note(recvmsg(sv[1], &received, 0));
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  cmsghdr* rights = CMSG_FIRSTHDR(&message);
  rights->cmsg_level = SOL_SOCKET;
  rights->cmsg_type = SCM_RIGHTS;
  rights->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(rights), &p[0], sizeof(int));
  note(sendmsg(sv[0], &message, 0));
  note(recvmsg(sv[1], &received, MSG_DONTWAIT));  // takes the data; the fd is dropped with no room for it
  note(sendto(sv[0], "ping", 4, MSG_NOSIGNAL, nullptr, 0));
  note(recvfrom(sv[1], buffer, sizeof buffer, MSG_DONTWAIT, nullptr, nullptr));
  note(recvfrom(sv[1], buffer, sizeof buffer, MSG_DONTWAIT, nullptr, nullptr));  // EAGAIN

  pollfd fds[4] = {
      {p[0], POLLIN, 0}, {p[1], POLLOUT, 0}, {-1, POLLIN, 0}, {sv[0], POLLIN | POLLOUT | POLLPRI | POLLRDHUP, 0}};
  note(poll(fds, 4, 0));

  int tcp = static_cast<int>(note(socket(AF_INET, SOCK_STREAM, 0)));
  sockaddr_in closed = inet4("127.0.0.1", kClosedPort);
  note(connect(tcp, reinterpret_cast<sockaddr*>(&closed), sizeof closed));
  int tcp6 = static_cast<int>(note(socket(AF_INET6, SOCK_STREAM, 0)));
  sockaddr_in6 loop6 = inet6("::1", kClosedPort);
  note(connect(tcp6, reinterpret_cast<sockaddr*>(&loop6), sizeof loop6));
  int mapped_socket = static_cast<int>(note(socket(AF_INET6, SOCK_STREAM, 0)));
  sockaddr_in6 mapped = inet6("::ffff:127.0.0.1", kClosedPort);
  note(connect(mapped_socket, reinterpret_cast<sockaddr*>(&mapped), sizeof mapped));
  int unix_socket = static_cast<int>(note(socket(AF_UNIX, SOCK_STREAM, 0)));
  sockaddr_un path{};
  path.sun_family = AF_UNIX;
  std::strcpy(path.sun_path, kUnixPath);
  note(connect(unix_socket, reinterpret_cast<sockaddr*>(&path), sizeof path));
  sockaddr_un abstract{};
  abstract.sun_family = AF_UNIX;
  std::memcpy(abstract.sun_path, kAbstractName.data(), kAbstractName.size());
  note(connect(unix_socket, reinterpret_cast<sockaddr*>(&abstract),
               static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + kAbstractName.size())));
  int autobound = static_cast<int>(note(socket(AF_UNIX, SOCK_DGRAM, 0)));
  sockaddr_un unnamed{};
  unnamed.sun_family = AF_UNIX;
  note(bind(autobound, reinterpret_cast<sockaddr*>(&unnamed), sizeof(sa_family_t)));
  int udp = static_cast<int>(note(socket(AF_INET, SOCK_DGRAM, 0)));
  sockaddr_in any = inet4("127.0.0.1", 0);
  note(bind(udp, reinterpret_cast<sockaddr*>(&any), sizeof any));
  sockaddr unspec{};
  unspec.sa_family = AF_UNSPEC;
  note(connect(udp, &unspec, sizeof unspec));

  for (const OpenCase& open_case : kOpenCases) note(openat(AT_FDCWD, kMissingPath, open_case.flags, open_case.mode));

  for (int type : kSocketTypes) {
    int fd = static_cast<int>(note(socket(AF_INET, type, 0)));
    if (fd >= 0) close(fd);
  }
  note(socket(kUnknownFamily, SOCK_STREAM, 0));

  note(close(-1));
  note(read(-1, buffer, 8));
  note(shutdown(tcp, SHUT_WR));  // not connected
  note(shutdown(sv[0], SHUT_WR));
  note(shutdown(sv[0], 7));
  note(connect(p[0], reinterpret_cast<sockaddr*>(&closed), sizeof closed));  // not a socket
  note(accept4(tcp, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));        // not listening

  int one = 1;
  note(setsockopt(tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
  note(setsockopt(tcp, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
  timeval timeout = {1, 500000};
  note(setsockopt(tcp, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout));
  note(setsockopt(tcp6, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one));

  note(fcntl(p[0], F_SETFL, O_NONBLOCK));
  note(fcntl(p[0], F_DUPFD_CLOEXEC, 100));

  int epoll_fd = static_cast<int>(note(epoll_create1(EPOLL_CLOEXEC)));
  epoll_event event{};
  event.events = EPOLLIN | EPOLLET;
  event.data.u64 = 42;
  note(epoll_ctl(epoll_fd, EPOLL_CTL_ADD, p[0], &event));
  note(epoll_ctl(epoll_fd, 9, p[0], &event));
  note(write(p[1], "!", 1));
  epoll_event ready[8];
  note(epoll_wait(epoll_fd, ready, 8, 0));

  note(wait4(-1, nullptr, kWaitOptions, nullptr));
  note(waitid(P_ALL, 0, nullptr, kWaitidOptions));

  timespec nap = {0, kSleepNs};
  note(clock_nanosleep(CLOCK_MONOTONIC, 0, &nap, nullptr));
  note(clock_nanosleep(CLOCK_BOOTTIME, 0, &nap, nullptr));
  timespec bad = {1, 1000000000};
  note(syscall(SYS_clock_nanosleep, CLOCK_REALTIME, 0, &bad, nullptr));

  // Raw sets: glibc's sigprocmask would drop the signals it reserves (32 and 33).
  sigset_t set;
  sigemptyset(&set);
  for (int s : kBlockedSignals) sigaddset(&set, s);
  note(syscall(SYS_rt_sigprocmask, SIG_BLOCK, &set, nullptr, 8));
  std::memset(&set, 0xff, sizeof set);
  for (int s : kUnblockedSignals) sigdelset(&set, s);
  note(syscall(SYS_rt_sigprocmask, SIG_BLOCK, &set, nullptr, 8));
  sigemptyset(&set);
  note(syscall(SYS_rt_sigprocmask, SIG_SETMASK, &set, nullptr, 8));
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  for (int s : kSigactionSignals) note(sigaction(s, &ignore, nullptr));
  for (int s : kRawSigactionSignals) note(syscall(SYS_rt_sigaction, s, nullptr, nullptr, 8));

  FILE* file = std::fopen(argv[1], "w");
  if (file == nullptr) return 1;
  std::fputs(results.c_str(), file);
  return std::fclose(file) == 0 ? 0 : 1;
}
