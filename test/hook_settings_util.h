// What the settings-cache suites share (hook_settings_cache_test, hook_settings_shared_test): a
// private socket and its peer, the step that makes the cache learn it, reads that show in their
// transcript whether they waited where libc would not, and the settings the scenarios change.
//
// The cache (hook/fd_table.h): a socket made by a hooked socket, socketpair, accept or accept4 is
// referenced by one fd number of this process only, so once a park has read from the kernel that
// it is blocking with no SO_RCVTIMEO/SO_SNDTIMEO, later parks may skip asking. Every scenario first
// makes the cache learn (two reads of a private socket that park until the peer writes), then
// changes a setting along one path the cache must notice, and checks that the next call honours
// it. A stale cache parks where libc returns: a watchdog ends the wait after 3 s (data "!late", or
// a shutdown for a write), so a missed path shows as "slow" or "after 3000 ms" in the transcript.
#pragma once

#include <fcntl.h>
#include <linux/time_types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>

#include "hook_test_util.h"

namespace settings_test {

using hook_test::Mode;
using hook_test::ms_since;
using hook_test::Peer;
using hook_test::result;
using hook_test::sleep_ms;
using hook_test::timed_read;
using Clock = std::chrono::steady_clock;

// Ends a read of the other end that waits for good: "!late" arrives.
inline void send_late(int fd) {
  (void)!::send(fd, "!late", 5, MSG_DONTWAIT | MSG_NOSIGNAL);
}

struct Pair {
  int fd = -1;     // the end whose settings are learned and changed
  int other = -1;  // the peer's end
};

// Which private socket is learned: the accepted end of a TCP connection made with the hooked
// socket, connect and accept (in hooked mode), its connected end, or one end of a socketpair.
enum class Ends { kAccepted, kConnected, kSocketpair };

inline Pair make_pair(Ends ends = Ends::kAccepted) {
  if (ends == Ends::kSocketpair) {
    int sv[2];
    ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    return {sv[0], sv[1]};
  }
  int port = 0;
  int listener = hook_test::listen_loopback(&port);
  int connected = hook_test::connect_loopback(port);
  int accepted = ::accept(listener, nullptr, nullptr);
  ::close(listener);
  return ends == Ends::kAccepted ? Pair{accepted, connected} : Pair{connected, accepted};
}

inline void close_pair(const Pair& pair) {
  ::close(pair.fd);
  ::close(pair.other);
}

// " after the timeout" for a wait that a 100 ms socket timeout ended, else how long it took.
inline std::string waited_for_timeout(Clock::time_point start) {
  long waited = ms_since(start);
  return waited >= 90 && waited < 1500 ? " after the timeout" : " after " + std::to_string(waited) + " ms";
}

// A read that should end with a 100 ms socket timeout.
inline std::string read_until_timeout(int fd) {
  char buffer[16];
  auto start = Clock::now();
  ssize_t n = ::read(fd, buffer, sizeof buffer);
  return result(n, buffer) + waited_for_timeout(start);
}

// A read of `reader` that parks: the peer (a coroutine when hooked) writes `data` 50 ms later.
inline std::string parked_read(Mode mode, int reader, int writer, const char* data) {
  Peer peer(mode);
  peer.start([=] {
    sleep_ms(50);
    (void)!::write(writer, data, ::strlen(data));
  });
  std::string out = timed_read(reader);
  peer.join();
  return out;
}

// The cache learns: the second park of the private socket uses what the first read.
inline std::string learn(Mode mode, const Pair& pair) {
  return "learn " + parked_read(mode, pair.fd, pair.other, "a") + " " + parked_read(mode, pair.fd, pair.other, "b");
}
inline constexpr const char* kLearned = "learn 1 'a' 1 'b'";
inline std::string expect_after_learning(const char* rest) {
  return std::string(kLearned) + "; " + rest;
}

inline void set_nonblocking_fcntl(int fd, bool on) {
  int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK);
}

// For children: only the parent's hooks are under test, and a child of _Fork has nothing of
// cohook's reset for it.
inline void set_nonblocking_raw(int fd) {
  long flags = ::syscall(SYS_fcntl, fd, F_GETFL);
  ::syscall(SYS_fcntl, fd, F_SETFL, flags | O_NONBLOCK);
}

inline void set_nonblocking_ioctl(int fd, bool on) {
  int value = on ? 1 : 0;
  ::ioctl(fd, FIONBIO, &value);
}

// SO_RCVTIMEO / SO_SNDTIMEO of 100 ms, or none, as glibc's constant (the _OLD option on 64-bit
// Linux) or as the _NEW option with the kernel's 64-bit timeval.
inline void set_timeout(int fd, int option, bool on) {
  if (option == SO_RCVTIMEO_NEW || option == SO_SNDTIMEO_NEW) {
    __kernel_sock_timeval value{0, on ? 100000 : 0};
    ::setsockopt(fd, SOL_SOCKET, option, &value, sizeof value);
  } else {
    timeval value{0, on ? 100000 : 0};
    ::setsockopt(fd, SOL_SOCKET, option, &value, sizeof value);
  }
}

// One byte with room for one fd of SCM_RIGHTS (not copyable: it points into itself).
struct FdMessage {
  char byte = 'f';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr message{nullptr, 0, &iov, 1, control, sizeof control, 0};
  FdMessage() = default;
  FdMessage(const FdMessage&) = delete;
};

// Sends fd over `channel` with sendmsg, or with sendmmsg as a batch of one.
inline ssize_t send_fd(int channel, int fd, bool batch) {
  FdMessage m;
  cmsghdr* header = CMSG_FIRSTHDR(&m.message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int));
  ::memcpy(CMSG_DATA(header), &fd, sizeof fd);
  if (!batch) return ::sendmsg(channel, &m.message, 0);
  mmsghdr batch_message{m.message, 0};
  int sent = ::sendmmsg(channel, &batch_message, 1, 0);
  return sent == 1 ? static_cast<ssize_t>(batch_message.msg_len) : sent;
}

// The received fd, or -1.
inline int receive_fd(int channel) {
  FdMessage m;
  if (::recvmsg(channel, &m.message, 0) != 1) return -1;
  cmsghdr* header = CMSG_FIRSTHDR(&m.message);
  if (header == nullptr || header->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  ::memcpy(&fd, CMSG_DATA(header), sizeof fd);
  return fd;
}

}  // namespace settings_test
