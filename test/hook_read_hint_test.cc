// The read hint (hook/read_hint.h): after a short read of a TCP socket a coroutine's next read
// parks without trying, unless the poller harvested a readable event since. Each scenario makes
// the hint "empty" and then lets data arrive where a wrong hint would park for good: a forked
// child writing into the shared socket, a dup'ed fd read by another coroutine, data that arrives
// (and whose event is harvested) between the short read and the next read, and a number closed
// and reused while a coroutine was parked on it. A watchdog writes "!late" after 3 s, so a read
// that parked for good shows up in the transcript (with "slow") instead of hanging the suite.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "hook_test_util.h"
#include "sched/coroutine.h"

namespace {

using hook_test::Mode;
using hook_test::sleep_ms;
using hook_test::timed_read;

struct TcpPair {
  int server = -1;  // the accepted end: the one read through the hint
  int client = -1;
};

TcpPair tcp_pair() {
  int port = 0;
  int listener = hook_test::listen_loopback(&port);
  TcpPair pair;
  pair.client = hook_test::connect_loopback(port);
  pair.server = ::accept(listener, nullptr, nullptr);
  ::close(listener);
  int one = 1;
  ::setsockopt(pair.client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return pair;
}

// Writes "!late" into fd every 3 s until destroyed.
class Watchdog : public hook_test::Watchdog {
 public:
  explicit Watchdog(int fd) : hook_test::Watchdog([fd] { (void)!::write(fd, "!late", 5); }) {}
};

// The first read parks (so the poller registers the socket), then returns "ab", a short read:
// from here on the hint says "empty".
std::string short_read_after_parking(Mode mode, const TcpPair& pair) {
  hook_test::Peer peer(mode);
  peer.start([&] {
    sleep_ms(50);
    (void)!::write(pair.client, "ab", 2);
  });
  std::string out = timed_read(pair.server);
  peer.join();
  return out;
}

std::string forked_child_writes(Mode mode) {
  TcpPair pair = tcp_pair();
  Watchdog watchdog(pair.client);
  std::string out = short_read_after_parking(mode, pair);
  pid_t child = ::fork();
  if (child == 0) {
    // Raw system calls only: the child is not what is tested.
    timespec pause{0, 100 * 1000 * 1000};
    ::syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &pause, nullptr);
    ::syscall(SYS_write, pair.client, "child", 5);
    ::_exit(0);
  }
  // The child writes while we sleep: its event is harvested before we read again.
  sleep_ms(300);
  out += "; " + timed_read(pair.server);
  int status = 0;
  ::waitpid(child, &status, 0);
  out += "; exit " + std::to_string(WEXITSTATUS(status));
  watchdog.stop();
  ::close(pair.server);
  ::close(pair.client);
  return out;
}

std::string dup_read_by_another_coroutine(Mode mode) {
  TcpPair pair = tcp_pair();
  Watchdog watchdog(pair.client);
  std::string out = short_read_after_parking(mode, pair);
  int dup_fd = ::dup(pair.server);
  (void)!::write(pair.client, "cdef", 4);
  std::string other;
  {
    hook_test::Peer peer(mode);  // another coroutine (hooked) or thread (raw) takes "cd"
    peer.start([&] { other = timed_read(dup_fd, 2); });
    peer.join();
  }
  sleep_ms(50);  // the scheduler polls meanwhile
  out += "; dup " + other + "; " + timed_read(pair.server);
  watchdog.stop();
  ::close(dup_fd);
  ::close(pair.server);
  ::close(pair.client);
  return out;
}

std::string data_between_short_read_and_park(Mode mode) {
  TcpPair pair = tcp_pair();
  Watchdog watchdog(pair.client);
  std::string out = short_read_after_parking(mode, pair);
  // Arrives after the short read, its event harvested before the next read.
  (void)!::write(pair.client, "cd", 2);
  sleep_ms(50);
  out += "; " + timed_read(pair.server);
  // Arrives after the short read, its event still queued when the next read parks.
  (void)!::write(pair.client, "ef", 2);
  out += "; " + timed_read(pair.server);
  // Arrives while the read is parked.
  hook_test::Peer peer(mode);
  peer.start([&] {
    sleep_ms(50);
    (void)!::write(pair.client, "gh", 2);
  });
  out += "; " + timed_read(pair.server);
  peer.join();
  watchdog.stop();
  ::close(pair.server);
  ::close(pair.client);
  return out;
}

const hook_test::Scenario kScenarios[] = {
    {"forked_child_writes", forked_child_writes, "2 'ab'; 5 'child'; exit 0"},
    {"dup_read_by_another_coroutine", dup_read_by_another_coroutine, "2 'ab'; dup 2 'cd'; 2 'ef'"},
    {"data_between_short_read_and_park", data_between_short_read_and_park, "2 'ab'; 2 'cd'; 2 'ef'; 2 'gh'"},
};

class ReadHintTest : public ::testing::TestWithParam<hook_test::Scenario> {};

TEST_P(ReadHintTest, RawAndHookedAgree) { hook_test::check_raw_and_hooked(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Scenarios, ReadHintTest, ::testing::ValuesIn(kScenarios), hook_test::scenario_name);

// Closed while a coroutine is parked on it (after a short read made the hint "empty"), from
// another thread, and the number reused by a new connection whose data is already queued: the
// parked reader gets EBADF (cohook's documented answer; a thread blocked in read(2) would stay on
// the old file), and a read of the new socket returns its data at once. Coroutines only, as in
// hook_close_test.
TEST(ReadHint, NumberClosedAndReusedWhileParked) {
  std::string parked;
  std::string fresh;
  cohook::Runtime runtime(1);
  runtime.run([&] {
    int port = 0;
    int listener = hook_test::listen_loopback(&port);
    int client = hook_test::connect_loopback(port);
    int number = ::accept(listener, nullptr, nullptr);
    TcpPair pair{number, client};
    Watchdog watchdog(client);
    parked = short_read_after_parking(Mode::kHooked, pair);
    // The next connection is made now, so that its client socket does not take the number.
    int client2 = hook_test::connect_loopback(port);
    Watchdog watchdog2(client2);
    (void)!::write(client2, "fresh", 5);
    std::atomic<cohook::Coroutine*> reader_coroutine{nullptr};
    cohook::JoinHandle reader = cohook::go([&] {
      reader_coroutine = cohook::Coroutine::current();
      parked += "; " + timed_read(number);
    });
    std::thread closer([&] {
      while (reader_coroutine.load() == nullptr || reader_coroutine.load()->state() != cohook::CoroutineState::kParked)
        std::this_thread::yield();
      ::close(number);
    });
    reader.join();
    closer.join();

    int reused = ::accept(listener, nullptr, nullptr);
    EXPECT_EQ(reused, number) << "the lowest free number is reused";
    sleep_ms(50);
    fresh = timed_read(reused, 16);
    watchdog.stop();
    watchdog2.stop();
    for (int fd : {reused, client, client2, listener}) ::close(fd);
  });
  EXPECT_EQ(parked, "2 'ab'; -1 EBADF");
  EXPECT_EQ(fresh, "5 'fresh'");
}

}  // namespace
