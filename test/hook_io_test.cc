// Table-driven: every scenario runs raw (on a plain thread, where hooks pass straight through to
// libc) and hooked (inside a coroutine, where blocking calls park), and must produce the same
// transcript of return values, errno names and bytes, which must also be the expected one.
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "hook_test_util.h"

namespace {

using hook_test::Mode;
using hook_test::result;
using hook_test::Scenario;
using hook_test::Peer;



int closed_fd() {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ::close(fd);
  return fd;
}

void set_receive_timeout(int fd, long ms) {
  timeval timeout{ms / 1000, (ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
}

// ---- scenarios ----

std::string read_available(Mode) {
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  ::write(sv[1], "hello", 5);
  char buffer[16];
  std::string out = result(::read(sv[0], buffer, sizeof buffer), buffer);
  ::close(sv[0]);
  ::close(sv[1]);
  return out;
}

std::string read_waits_for_peer(Mode mode) {
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  Peer peer(mode);
  peer.start([&] { ::write(sv[1], "late data", 9); });
  char buffer[16];
  std::string out = result(::read(sv[0], buffer, sizeof buffer), buffer);
  peer.join();
  ::close(sv[0]);
  ::close(sv[1]);
  return out;
}

std::string short_buffer(Mode) {
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  ::write(sv[1], "0123456789", 10);
  char buffer[16];
  std::string out = result(::read(sv[0], buffer, 4), buffer);
  out += "; " + result(::recv(sv[0], buffer, sizeof buffer, 0), buffer);
  ::close(sv[0]);
  ::close(sv[1]);
  return out;
}

std::string eof_after_peer_close(Mode mode) {
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  Peer peer(mode);
  peer.start([&] {
    ::write(sv[1], "bye", 3);
    ::close(sv[1]);
  });
  char buffer[16];
  std::string out = result(::read(sv[0], buffer, sizeof buffer), buffer);
  out += "; " + result(::read(sv[0], buffer, sizeof buffer));
  peer.join();
  ::close(sv[0]);
  return out;
}

std::string invalid_and_closed_fd(Mode) {
  char buffer[4];
  int closed = closed_fd();
  std::string out = result(::read(-1, buffer, sizeof buffer));
  out += "; " + result(::write(closed, "x", 1));
  out += "; " + result(::recv(closed, buffer, sizeof buffer, 0));
  out += "; " + result(::accept(closed, nullptr, nullptr));
  out += "; " + result(::close(closed));
  out += "; " + result(::fcntl(closed, F_GETFL));
  return out;
}

std::string user_nonblocking(Mode) {
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  ::fcntl(sv[0], F_SETFL, ::fcntl(sv[0], F_GETFL) | O_NONBLOCK);
  char buffer[4];
  std::string out = result(::read(sv[0], buffer, sizeof buffer));
  out += "; nonblock=" + std::to_string((::fcntl(sv[0], F_GETFL) & O_NONBLOCK) != 0);
  int on = 0;
  ::ioctl(sv[0], FIONBIO, &on);  // and back to blocking: the read must wait again
  out += "; nonblock=" + std::to_string((::fcntl(sv[0], F_GETFL) & O_NONBLOCK) != 0);
  ::write(sv[1], "ok", 2);
  out += "; " + result(::read(sv[0], buffer, sizeof buffer), buffer);
  int port = 0;
  int listener = hook_test::listen_loopback(&port, 4, SOCK_NONBLOCK);
  out += "; " + result(::accept(listener, nullptr, nullptr));
  int pair[2];
  ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pair);
  out += "; " + result(::recv(pair[0], buffer, sizeof buffer, 0));
  out += "; " + result(::recv(sv[0], buffer, sizeof buffer, MSG_DONTWAIT));
  for (int fd : {sv[0], sv[1], listener, pair[0], pair[1]}) ::close(fd);
  return out;
}

std::string blocking_view_of_flags(Mode) {
  // After hooked I/O (which makes the fd non-blocking for cohook) the user still sees the
  // flags it set: no O_NONBLOCK.
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  ::write(sv[1], "x", 1);
  char buffer[4];
  std::string out = result(::read(sv[0], buffer, sizeof buffer), buffer);
  out += "; nonblock=" + std::to_string((::fcntl(sv[0], F_GETFL) & O_NONBLOCK) != 0);
  ::fcntl(sv[0], F_SETFL, ::fcntl(sv[0], F_GETFL) | O_APPEND);  // an unrelated flag change
  out += "; nonblock=" + std::to_string((::fcntl(sv[0], F_GETFL) & O_NONBLOCK) != 0);
  ::close(sv[0]);
  ::close(sv[1]);
  return out;
}

std::string receive_timeout(Mode) {
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  set_receive_timeout(sv[0], 30);
  char buffer[4];
  std::string out = result(::read(sv[0], buffer, sizeof buffer));
  out += "; " + result(::recv(sv[0], buffer, sizeof buffer, 0));
  set_receive_timeout(sv[0], 0);  // back to waiting forever
  ::write(sv[1], "in", 2);
  out += "; " + result(::read(sv[0], buffer, sizeof buffer), buffer);
  ::close(sv[0]);
  ::close(sv[1]);
  return out;
}

std::string send_timeout_on_full_buffer(Mode) {
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  timeval timeout{0, 30000};
  ::setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  std::string big(8 << 20, 'x');
  ssize_t first = ::write(sv[0], big.data(), big.size());  // fills the buffer, then times out
  std::string out = first > 0 && first < static_cast<ssize_t>(big.size()) ? "partial" : result(first);
  out += "; " + result(::write(sv[0], big.data(), big.size()));
  ::close(sv[0]);
  ::close(sv[1]);
  return out;
}

std::string peer_reset(Mode) {
  int port = 0;
  int listener = hook_test::listen_loopback(&port);
  int client = hook_test::connect_loopback(port);
  int server = ::accept(listener, nullptr, nullptr);
  linger abort_on_close{1, 0};
  ::setsockopt(server, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
  ::close(server);  // sends RST
  char buffer[4];
  std::string out = result(::read(client, buffer, sizeof buffer));
  out += "; " + result(::send(client, "x", 1, MSG_NOSIGNAL));
  ::close(client);
  ::close(listener);
  return out;
}

std::string broken_pipe(Mode) {
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  ::close(sv[1]);
  std::string out = result(::write(sv[0], "x", 1));
  out += "; " + result(::send(sv[0], "x", 1, MSG_NOSIGNAL));
  int fds[2];
  ::pipe(fds);
  ::close(fds[0]);
  out += "; " + result(::write(fds[1], "x", 1));
  ::close(fds[1]);
  ::close(sv[0]);
  return out;
}

std::string pipe_round_trip(Mode mode) {
  int fds[2];
  ::pipe(fds);
  Peer peer(mode);
  peer.start([&] {
    ::write(fds[1], "through a pipe", 14);
    ::close(fds[1]);
  });
  std::string received;
  char buffer[5];
  for (;;) {
    ssize_t n = ::read(fds[0], buffer, sizeof buffer);
    if (n <= 0) {
      received += "|" + result(n);
      break;
    }
    received.append(buffer, static_cast<std::size_t>(n));
  }
  peer.join();
  char one;
  received += "; " + result(::recv(fds[0], &one, 1, 0));  // not a socket
  ::close(fds[0]);
  return received;
}

std::string big_write_is_complete(Mode mode) {
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  std::string data = hook_test::pattern(3 << 20, 7);
  std::string received;
  Peer peer(mode);
  peer.start([&] {
    char buffer[65536];
    ssize_t n;
    while ((n = ::read(sv[1], buffer, sizeof buffer)) > 0) received.append(buffer, static_cast<std::size_t>(n));
  });
  std::string out = result(::write(sv[0], data.data(), data.size()));
  ::shutdown(sv[0], SHUT_WR);
  peer.join();
  out += received == data ? "; same bytes" : "; different bytes";
  ::close(sv[0]);
  ::close(sv[1]);
  return out;
}

std::string vectored_io(Mode mode) {
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  std::string big = hook_test::pattern(2 << 20, 3);
  Peer peer(mode);
  std::string received;
  peer.start([&] {
    char first[3];
    char second[1 << 16];
    iovec iov[2] = {{first, sizeof first}, {second, sizeof second}};
    ssize_t n;
    while ((n = ::readv(sv[1], iov, 2)) > 0) {
      std::size_t got = static_cast<std::size_t>(n);
      received.append(first, std::min(got, sizeof first));
      if (got > sizeof first) received.append(second, got - sizeof first);
    }
  });
  char head[] = "head";
  iovec out_iov[3] = {{head, 4}, {big.data(), big.size()}, {head, 4}};
  std::string out = result(::writev(sv[0], out_iov, 3));
  msghdr message{};
  message.msg_iov = out_iov;
  message.msg_iovlen = 3;
  out += "; " + result(::sendmsg(sv[0], &message, 0));
  ::shutdown(sv[0], SHUT_WR);
  peer.join();
  std::string once = "head" + big + "head";
  out += received == once + once ? "; same bytes" : "; different bytes";
  ::close(sv[0]);
  ::close(sv[1]);
  return out;
}

std::string datagrams(Mode mode) {
  int receiver = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in address = hook_test::loopback_address(0);
  ::bind(receiver, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(receiver, reinterpret_cast<sockaddr*>(&address), &length);
  int sender = ::socket(AF_INET, SOCK_DGRAM, 0);
  Peer peer(mode);
  peer.start([&] {
    ::sendto(sender, "datagram one", 12, 0, reinterpret_cast<sockaddr*>(&address), sizeof address);
    ::sendto(sender, "two", 3, 0, reinterpret_cast<sockaddr*>(&address), sizeof address);
  });
  char buffer[64];
  sockaddr_in from{};
  socklen_t from_length = sizeof from;
  std::string out = result(::recvfrom(receiver, buffer, 5, 0, reinterpret_cast<sockaddr*>(&from), &from_length), buffer);
  char data[8];
  iovec iov{data, sizeof data};
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  out += "; " + result(::recvmsg(receiver, &message, 0), data);
  peer.join();
  ::close(sender);
  ::close(receiver);
  return out;
}

std::string connect_and_accept(Mode mode) {
  int port = 0;
  int listener = hook_test::listen_loopback(&port);
  Peer peer(mode);
  int client = -1;
  peer.start([&] {
    client = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address = hook_test::loopback_address(port);
    if (::connect(client, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) ::send(client, "hi", 2, 0);
    ::shutdown(client, SHUT_WR);  // EOF ends the MSG_WAITALL receive short
  });
  int server = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  std::string out = server >= 0 ? "accepted" : result(server);
  char buffer[4];
  out += "; " + result(::recv(server, buffer, sizeof buffer, MSG_WAITALL), buffer);
  out += "; nonblock=" + std::to_string((::fcntl(server, F_GETFL) & O_NONBLOCK) != 0);
  peer.join();
  ::close(server);
  ::close(client);
  ::close(listener);
  // A port nobody listens on any more.
  int unused_port = 0;
  ::close(hook_test::listen_loopback(&unused_port));
  int refused = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address = hook_test::loopback_address(unused_port);
  out += "; " + result(::connect(refused, reinterpret_cast<sockaddr*>(&address), sizeof address));
  ::close(refused);
  int nonblocking = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int live_port = 0;
  int live = hook_test::listen_loopback(&live_port);
  address = hook_test::loopback_address(live_port);
  int status = ::connect(nonblocking, reinterpret_cast<sockaddr*>(&address), sizeof address);
  // Loopback may finish at once; either way the user's non-blocking connect never waits.
  out += (status == 0 || errno == EINPROGRESS) ? "; user nonblocking connect ok" : "; " + result(status);
  ::close(nonblocking);
  ::close(live);
  return out;
}

std::string wait_all(Mode mode) {
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  Peer peer(mode);
  peer.start([&] {
    for (const char* part : {"aaaa", "bbbb", "cccc"}) {
      ::write(sv[1], part, 4);
      ::usleep(2000);
    }
  });
  char buffer[16];
  std::string out = result(::recv(sv[0], buffer, 12, MSG_WAITALL), buffer);
  peer.join();
  ::close(sv[0]);
  ::close(sv[1]);
  return out;
}

std::string polling(Mode mode) {
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  pollfd entries[2] = {{sv[0], POLLIN, 0}, {closed_fd(), POLLIN, 0}};
  std::string out = "poll=" + result(::poll(entries, 1, 20));
  Peer peer(mode);
  peer.start([&] { ::write(sv[1], "p", 1); });
  std::string step = result(::poll(entries, 1, -1));  // each call before what it fills in is printed
  out += "; poll=" + step + " revents=" + std::to_string(entries[0].revents);
  peer.join();
  step = result(::poll(entries, 2, 10));
  out += "; poll=" + step + " nval=" + std::to_string((entries[1].revents & POLLNVAL) != 0);
  timespec short_wait{0, 5000000};
  out += "; ppoll=" + result(::ppoll(entries, 1, &short_wait, nullptr));
  fd_set readable;
  FD_ZERO(&readable);
  FD_SET(sv[0], &readable);
  timeval timeout{1, 0};
  step = result(::select(sv[0] + 1, &readable, nullptr, nullptr, &timeout));
  out += "; select=" + step + " set=" + std::to_string(FD_ISSET(sv[0], &readable) != 0);
  char drain;
  ::read(sv[0], &drain, 1);
  FD_SET(sv[0], &readable);
  timeout = {0, 10000};
  step = result(::select(sv[0] + 1, &readable, nullptr, nullptr, &timeout));
  out += "; select=" + step + " set=" + std::to_string(FD_ISSET(sv[0], &readable) != 0);
  fd_set bad;
  FD_ZERO(&bad);
  FD_SET(entries[1].fd, &bad);
  timespec pselect_wait{0, 1000000};
  out += "; pselect=" + result(::pselect(entries[1].fd + 1, &bad, nullptr, nullptr, &pselect_wait, nullptr));
  ::close(sv[0]);
  ::close(sv[1]);
  return out;
}

std::string epoll_waits(Mode mode) {
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  int epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u32 = 42;
  ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, sv[0], &event);
  epoll_event got[4];
  std::string out = "epoll=" + result(::epoll_wait(epoll_fd, got, 4, 10));
  Peer peer(mode);
  peer.start([&] { ::write(sv[1], "e", 1); });
  int n = ::epoll_wait(epoll_fd, got, 4, -1);
  std::string step = result(n);
  out += "; epoll=" + step + " data=" + std::to_string(n > 0 ? got[0].data.u32 : 0);
  peer.join();
  out += "; epoll=" + result(::epoll_pwait(epoll_fd, got, 4, 5, nullptr));
  ::close(epoll_fd);
  ::close(sv[0]);
  ::close(sv[1]);
  return out;
}

std::string sleeping(Mode) {
  std::string out = "usleep=" + result(::usleep(1000));
  timespec duration{0, 1000000};
  out += "; nanosleep=" + result(::nanosleep(&duration, nullptr));
  timespec bad{0, 2000000000};
  out += "; nanosleep=" + result(::nanosleep(&bad, nullptr));
  out += "; clock_nanosleep=" + std::to_string(::clock_nanosleep(CLOCK_MONOTONIC, 0, &duration, nullptr));
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  now.tv_nsec += 1000000;
  if (now.tv_nsec >= 1000000000) {
    now.tv_nsec -= 1000000000;
    ++now.tv_sec;
  }
  out += "; absolute=" + std::to_string(::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &now, nullptr));
  out += "; invalid=" + std::string(::strerrorname_np(::clock_nanosleep(CLOCK_MONOTONIC, 0, &bad, nullptr)));
  out += "; sleep=" + std::to_string(::sleep(0));
  return out;
}

std::string regular_file(Mode) {
  // Regular files are not pollable: passed through, same bytes, flags untouched.
  char path[] = "/tmp/cohook-hook-io-XXXXXX";
  int fd = ::mkstemp(path);
  std::string out = result(::write(fd, "file contents", 13));
  ::lseek(fd, 0, SEEK_SET);
  char buffer[32];
  out += "; " + result(::read(fd, buffer, sizeof buffer), buffer);
  out += "; " + result(::read(fd, buffer, sizeof buffer));
  out += "; nonblock=" + std::to_string((::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
  // sendfile from the file into a socket.
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  off_t offset = 5;
  std::string sent = result(::sendfile(sv[0], fd, &offset, 8));  // before offset is printed
  out += "; sendfile=" + sent + " offset=" + std::to_string(offset);
  out += "; " + result(::read(sv[1], buffer, sizeof buffer), buffer);
  ::close(sv[0]);
  ::close(sv[1]);
  ::close(fd);
  ::unlink(path);
  return out;
}

std::string eventfd_and_dup(Mode mode) {
  int counter = ::eventfd(0, EFD_CLOEXEC);
  Peer peer(mode);
  peer.start([&] {
    std::uint64_t value = 5;
    ::write(counter, &value, sizeof value);
  });
  std::uint64_t value = 0;
  std::string out = result(::read(counter, &value, sizeof value));
  out += " value=" + std::to_string(value);
  peer.join();
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  int copy = ::dup(sv[0]);
  int high = ::fcntl(sv[0], F_DUPFD_CLOEXEC, 500);
  out += "; high>=500=" + std::to_string(high >= 500);
  int third = ::dup3(sv[0], 700, O_CLOEXEC);
  out += "; dup3=" + result(third);
  ::write(sv[1], "dup", 3);
  char buffer[8];
  out += "; " + result(::read(copy, buffer, sizeof buffer), buffer);
  out += "; " + result(::dup2(-1, 701));
  ::close(counter);
  for (int fd : {copy, high, third, sv[0], sv[1]}) ::close(fd);
  return out;
}

std::string name_lookup(Mode) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  int status = ::getaddrinfo("localhost", "80", &hints, &list);
  std::string out = "getaddrinfo=" + std::to_string(status);
  if (status == 0) {
    auto* address = reinterpret_cast<sockaddr_in*>(list->ai_addr);
    out += " port=" + std::to_string(ntohs(address->sin_port));
    ::freeaddrinfo(list);
  }
  out += "; unknown=" + std::to_string(::getaddrinfo("no-such-host.invalid", nullptr, &hints, &list) != 0);
  hostent* host = ::gethostbyname("localhost");
  out += "; gethostbyname=" + std::string(host != nullptr ? host->h_name : "null");
  hostent entry{};
  char buffer[1024];
  hostent* found = nullptr;
  int error = 0;
  int r = ::gethostbyname_r("localhost", &entry, buffer, sizeof buffer, &found, &error);
  out += "; gethostbyname_r=" + std::to_string(r) + " " + (found != nullptr ? found->h_name : "null");
  return out;
}

const Scenario kScenarios[] = {
    {"read_available", read_available, "5 'hello'"},
    {"read_waits_for_peer", read_waits_for_peer, "9 'late data'"},
    {"short_buffer", short_buffer, "4 '0123'; 6 '456789'"},
    {"eof_after_peer_close", eof_after_peer_close, "3 'bye'; 0"},
    {"invalid_and_closed_fd", invalid_and_closed_fd,
     "-1 EBADF; -1 EBADF; -1 EBADF; -1 EBADF; -1 EBADF; -1 EBADF"},
    {"user_nonblocking", user_nonblocking,
     "-1 EAGAIN; nonblock=1; nonblock=0; 2 'ok'; -1 EAGAIN; -1 EAGAIN; -1 EAGAIN"},
    {"blocking_view_of_flags", blocking_view_of_flags, "1 'x'; nonblock=0; nonblock=0"},
    {"receive_timeout", receive_timeout, "-1 EAGAIN; -1 EAGAIN; 2 'in'"},
    {"send_timeout_on_full_buffer", send_timeout_on_full_buffer, "partial; -1 EAGAIN"},
    {"peer_reset", peer_reset, "-1 ECONNRESET; -1 EPIPE"},
    {"broken_pipe", broken_pipe, "-1 EPIPE; -1 EPIPE; -1 EPIPE"},
    {"pipe_round_trip", pipe_round_trip, "through a pipe|0; -1 ENOTSOCK"},
    {"big_write_is_complete", big_write_is_complete, "3145728; same bytes"},
    {"vectored_io", vectored_io, "2097160; 2097160; same bytes"},
    {"datagrams", datagrams, "5 'datag'; 3 'two'"},
    {"connect_and_accept", connect_and_accept,
     "accepted; 2 'hi'; nonblock=0; -1 ECONNREFUSED; user nonblocking connect ok"},
    {"wait_all", wait_all, "12 'aaaabbbbcccc'"},
    {"polling", polling,
     "poll=0; poll=1 revents=1; poll=2 nval=1; ppoll=1; select=1 set=1; select=0 set=0; pselect=-1 EBADF"},
    {"epoll_waits", epoll_waits, "epoll=0; epoll=1 data=42; epoll=1"},
    {"sleeping", sleeping,
     "usleep=0; nanosleep=0; nanosleep=-1 EINVAL; clock_nanosleep=0; absolute=0; invalid=EINVAL; sleep=0"},
    {"regular_file", regular_file,
     "13; 13 'file contents'; 0; nonblock=0; sendfile=8 offset=13; 8 'contents'"},
    {"eventfd_and_dup", eventfd_and_dup, "8 value=5; high>=500=1; dup3=700; 3 'dup'; -1 EBADF"},
    {"name_lookup", name_lookup,
     "getaddrinfo=0 port=80; unknown=1; gethostbyname=localhost; gethostbyname_r=0 localhost"},
};

class HookedCallTest : public ::testing::TestWithParam<Scenario> {};

TEST_P(HookedCallTest, RawAndHookedAgree) {
  hook_test::check_raw_and_hooked(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Scenarios, HookedCallTest, ::testing::ValuesIn(kScenarios),
                         hook_test::scenario_name);

}  // namespace
