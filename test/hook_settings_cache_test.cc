// The settings cache of private sockets (test/hook_settings_util.h says how every scenario runs):
// here a setting changed on the learned fd itself (fcntl, ioctl, setsockopt, from the coroutine or
// from a plain thread), a send timeout, and a learned number closed (by close, close_range or
// closefrom) and reused. hook_settings_shared_test covers the socket shared: dups, children, fds
// sent to another process. Raw (hooks pass through) and hooked (in a coroutine) transcripts must
// both be the expected one: libc is the specification.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "hook/fd_table.h"
#include "hook_settings_util.h"
#include "hook_test_util.h"

namespace {

using namespace settings_test;
using hook_test::Scenario;
using hook_test::Watchdog;

// ---- a setting changed on the learned fd itself ----

// Learn, switch the setting on (the next read must fail with EAGAIN, at once or after the
// timeout), switch it off (the next read must park again and get the peer's data).
std::string change_on_the_fd(Mode mode, const std::function<void(int, bool)>& set, bool timeout,
                             Ends ends = Ends::kAccepted) {
  Pair pair = make_pair(ends);
  Watchdog watchdog([&] { send_late(pair.other); });
  std::string out = learn(mode, pair);
  set(pair.fd, true);
  out += "; on " + (timeout ? read_until_timeout(pair.fd) : timed_read(pair.fd));
  set(pair.fd, false);
  out += "; off " + parked_read(mode, pair.fd, pair.other, "c");
  watchdog.stop();
  close_pair(pair);
  return out;
}

// ---- a send timeout on a socket whose peer stopped reading ----

// Set on the learned socket after a parked write, or (inherited) on the listener before the
// accept, which Linux copies to the new socket unseen: then the reads that learn find no receive
// timeout, and the send timeout must be asked for all the same.
std::string send_timeout(Mode mode, int option, bool inherited) {
  int port = 0;
  int listener = hook_test::listen_loopback(&port);
  // Small fixed buffers (no autotuning), so that 1 MiB never fits in them.
  int size = 64 * 1024;
  ::setsockopt(listener, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  if (inherited) set_timeout(listener, option, true);
  Pair pair{-1, hook_test::connect_loopback(port)};
  pair.fd = ::accept(listener, nullptr, nullptr);
  ::close(listener);
  ::setsockopt(pair.other, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  // A write that waits for good is ended by the shutdown (EPIPE, or the count sent so far).
  Watchdog watchdog([&] {
    send_late(pair.other);
    ::shutdown(pair.fd, SHUT_WR);
  });
  std::string out = learn(mode, pair);
  std::string data(1 << 20, 'x');
  if (!inherited) {
    // A write that parks too: the peer drains all of it, starting 50 ms later.
    Peer peer(mode);
    peer.start([&] {
      sleep_ms(50);
      std::size_t drained = 0;
      char buffer[65536];
      ssize_t n;
      while (drained < data.size() && (n = ::read(pair.other, buffer, sizeof buffer)) > 0) drained += n;
    });
    out += "; write " + result(::write(pair.fd, data.data(), data.size()));
    peer.join();
    set_timeout(pair.fd, option, true);
  }
  // The peer reads no more: part of the first write goes into the empty buffers, nothing of the
  // second; each waits out the timeout.
  for (int i = 0; i < 2; ++i) {
    auto start = Clock::now();
    ssize_t n = ::write(pair.fd, data.data(), data.size());
    out += n > 0 && n < static_cast<ssize_t>(data.size()) ? "; partial" : "; " + result(n);
    out += waited_for_timeout(start);
  }
  watchdog.stop();
  close_pair(pair);
  return out;
}

// ---- numbers closed and reused, settings inherited from the listener ----

// Connection A is accepted (non-blocking or not) and read, closed, and its number taken by
// connection B, accepted the other way. B's reads must follow B's own flag.
std::string number_reused(Mode mode, bool first_nonblocking) {
  int port = 0;
  int listener = hook_test::listen_loopback(&port);
  int client_a = hook_test::connect_loopback(port);
  // B's client is connected now, so that it does not take A's number once A is closed.
  int client_b = hook_test::connect_loopback(port);
  Watchdog watchdog([&] {
    send_late(client_a);
    send_late(client_b);
  });
  int a = ::accept4(listener, nullptr, nullptr, first_nonblocking ? SOCK_NONBLOCK : 0);
  std::string out = first_nonblocking
                        ? "A " + timed_read(a)
                        : "A " + parked_read(mode, a, client_a, "a") + " " + parked_read(mode, a, client_a, "b");
  ::close(a);
  int b = ::accept4(listener, nullptr, nullptr, first_nonblocking ? 0 : SOCK_NONBLOCK);
  out += b == a ? "; same number" : "; number " + std::to_string(b) + " not " + std::to_string(a);
  out += "; B " + (first_nonblocking ? parked_read(mode, b, client_b, "c") : timed_read(b));
  watchdog.stop();
  for (int fd : {b, client_a, client_b, listener}) ::close(fd);
  return out;
}

// How the learned number is closed: close sees one number, close_range and closefrom (glibc's own
// system calls, which close never sees) a range of them.
enum class Closer { kClose, kCloseRange, kClosefrom };

// The learned number closed and reused by a socket received with SCM_RIGHTS, which no hook
// adopts: the new file must not inherit what was learned about the old one.
std::string reused_by_received_fd(Mode mode, Closer closer) {
  int channel[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, channel);
  Pair sent = make_pair();  // its accepted end arrives on the learned number
  Pair pair = make_pair();
  Watchdog watchdog([&] {
    send_late(pair.other);
    send_late(sent.other);
  });
  std::string out = learn(mode, pair);
  // Every free number below the learned one is taken, so that the received fd gets it; nothing
  // above it stays open, so that closefrom closes the learned number alone.
  std::vector<int> fillers;
  int filler;
  while ((filler = ::open("/dev/null", O_RDONLY)) >= 0 && filler < pair.fd) fillers.push_back(filler);
  ::close(filler);  // the first one above
  switch (closer) {
    case Closer::kClose:
      ::close(pair.fd);
      break;
    case Closer::kCloseRange:
      out += "; close_range " + result(::close_range(pair.fd, pair.fd, 0));
      break;
    case Closer::kClosefrom:
      ::closefrom(pair.fd);
      break;
  }
  out += "; sent " + result(send_fd(channel[0], sent.fd, false));
  int received = receive_fd(channel[1]);
  out += received == pair.fd ? "; same number"
                             : "; number " + std::to_string(received) + " not " + std::to_string(pair.fd);
  set_nonblocking_fcntl(sent.fd, true);
  out += "; read " + timed_read(received);
  watchdog.stop();
  for (int fd : fillers) ::close(fd);
  for (int fd : {received, pair.other, channel[0], channel[1]}) ::close(fd);
  close_pair(sent);
  return out;
}

// Linux copies the listener's SO_RCVTIMEO to the accepted socket, which no hooked setsockopt on
// it ever saw: both reads must time out.
std::string timeout_inherited_from_listener(Mode) {
  int port = 0;
  int listener = hook_test::listen_loopback(&port);
  set_timeout(listener, SO_RCVTIMEO, true);
  int client = hook_test::connect_loopback(port);
  int server = ::accept(listener, nullptr, nullptr);
  Watchdog watchdog([&] { send_late(client); });
  std::string out = "first " + read_until_timeout(server);
  out += "; second " + read_until_timeout(server);
  watchdog.stop();
  for (int fd : {server, client, listener}) ::close(fd);
  return out;
}

const std::string kNonblockingThenBack = expect_after_learning("on -1 EAGAIN; off 1 'c'");
const std::string kTimeoutThenBack = expect_after_learning("on -1 EAGAIN after the timeout; off 1 'c'");
const std::string kSendTimeout =
    expect_after_learning("write 1048576; partial after the timeout; -1 EAGAIN after the timeout");
const std::string kInheritedSendTimeout =
    expect_after_learning("partial after the timeout; -1 EAGAIN after the timeout");
const std::string kReceivedEagain = expect_after_learning("sent 1; same number; read -1 EAGAIN");
const std::string kCloseRangeReceivedEagain =
    expect_after_learning("close_range 0; sent 1; same number; read -1 EAGAIN");

void set_receive_timeout(int fd, bool on) {
  set_timeout(fd, SO_RCVTIMEO, on);
}

const Scenario kScenarios[] = {
    // The learned fd's own settings.
    {"fcntl_setfl", [](Mode m) { return change_on_the_fd(m, set_nonblocking_fcntl, false); },
     kNonblockingThenBack.c_str()},
    {"ioctl_fionbio", [](Mode m) { return change_on_the_fd(m, set_nonblocking_ioctl, false); },
     kNonblockingThenBack.c_str()},
    {"so_rcvtimeo", [](Mode m) { return change_on_the_fd(m, set_receive_timeout, true); }, kTimeoutThenBack.c_str()},
    {"so_rcvtimeo_new",
     [](Mode m) {
       return change_on_the_fd(
           m, [](int fd, bool on) { set_timeout(fd, SO_RCVTIMEO_NEW, on); }, true);
     },
     kTimeoutThenBack.c_str()},
    // The same on the other kinds of private socket.
    {"fcntl_setfl_connected_end",
     [](Mode m) { return change_on_the_fd(m, set_nonblocking_fcntl, false, Ends::kConnected); },
     kNonblockingThenBack.c_str()},
    {"fcntl_setfl_socketpair",
     [](Mode m) { return change_on_the_fd(m, set_nonblocking_fcntl, false, Ends::kSocketpair); },
     kNonblockingThenBack.c_str()},
    {"so_rcvtimeo_socketpair", [](Mode m) { return change_on_the_fd(m, set_receive_timeout, true, Ends::kSocketpair); },
     kTimeoutThenBack.c_str()},
    // ...and from a plain thread (its hooks are the real calls) while the coroutine learned.
    {"fcntl_setfl_from_plain_thread",
     [](Mode m) {
       return change_on_the_fd(
           m, [](int fd, bool on) { std::thread(set_nonblocking_fcntl, fd, on).join(); }, false);
     },
     kNonblockingThenBack.c_str()},
    {"so_rcvtimeo_from_plain_thread",
     [](Mode m) {
       return change_on_the_fd(
           m, [](int fd, bool on) { std::thread(set_receive_timeout, fd, on).join(); }, true);
     },
     kTimeoutThenBack.c_str()},
    // The send timeout.
    {"so_sndtimeo", [](Mode m) { return send_timeout(m, SO_SNDTIMEO, false); }, kSendTimeout.c_str()},
    {"so_sndtimeo_new", [](Mode m) { return send_timeout(m, SO_SNDTIMEO_NEW, false); }, kSendTimeout.c_str()},
    {"so_sndtimeo_inherited_from_listener", [](Mode m) { return send_timeout(m, SO_SNDTIMEO, true); },
     kInheritedSendTimeout.c_str()},
    // A number closed and reused.
    {"reused_nonblocking_then_blocking", [](Mode m) { return number_reused(m, true); },
     "A -1 EAGAIN; same number; B 1 'c'"},
    {"reused_blocking_then_nonblocking", [](Mode m) { return number_reused(m, false); },
     "A 1 'a' 1 'b'; same number; B -1 EAGAIN"},
    {"reused_by_received_fd", [](Mode m) { return reused_by_received_fd(m, Closer::kClose); }, kReceivedEagain.c_str()},
    {"closed_by_close_range_reused_by_received_fd",
     [](Mode m) { return reused_by_received_fd(m, Closer::kCloseRange); }, kCloseRangeReceivedEagain.c_str()},
    {"closed_by_closefrom_reused_by_received_fd", [](Mode m) { return reused_by_received_fd(m, Closer::kClosefrom); },
     kReceivedEagain.c_str()},
    // The listener's timeout.
    {"timeout_inherited_from_listener", timeout_inherited_from_listener,
     "first -1 EAGAIN after the timeout; second -1 EAGAIN after the timeout"},
};

class SettingsCacheTest : public ::testing::TestWithParam<Scenario> {};

TEST_P(SettingsCacheTest, RawAndHookedAgree) {
  hook_test::check_raw_and_hooked(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Scenarios, SettingsCacheTest, ::testing::ValuesIn(kScenarios), hook_test::scenario_name);

// The scenarios of both suites test something only if their first step does make the cache
// learn: in a coroutine, each kind of private socket is known plain after the two parked reads
// (raw calls never learn). Not before, but for the connected end: the hooked connect parks, and
// learns.
TEST(SettingsCache, LearningStepLearns) {
  for (Ends ends : {Ends::kAccepted, Ends::kConnected, Ends::kSocketpair}) {
    hook_test::run_in(Mode::kHooked, [&] {
      Pair pair = make_pair(ends);
      Watchdog watchdog([&] { send_late(pair.other); });
      bool connected = ends == Ends::kConnected;
      EXPECT_EQ(cohook::hook::FdTable::instance().settings_known_plain(pair.fd), connected) << static_cast<int>(ends);
      EXPECT_EQ(learn(Mode::kHooked, pair), kLearned);
      EXPECT_TRUE(cohook::hook::FdTable::instance().settings_known_plain(pair.fd)) << static_cast<int>(ends);
      watchdog.stop();
      close_pair(pair);
    });
  }
}

}  // namespace
