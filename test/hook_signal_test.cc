// signal(7) for hooked calls: every scenario runs raw (plain libc on this thread) and hooked (as
// the main coroutine of a one-thread Runtime, with a sibling coroutine that must keep running
// while the scenario waits), and both transcripts must equal the expected one. A plain thread
// sends the signal to the scenario's thread after a delay, as another thread or a timer would.
#include <errno.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "hook_test_util.h"

namespace {

using hook_test::Mode;
using hook_test::result;
using hook_test::Scenario;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::atomic<int> g_handled{0};
void count_signal(int) {
  g_handled.fetch_add(1);
}

// Installs count_signal for `signal` with or without SA_RESTART; restores the default at the end.
class Handler {
 public:
  Handler(int signal, bool restart) : signal_(signal) {
    struct sigaction action {};
    action.sa_handler = count_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = restart ? SA_RESTART : 0;
    ::sigaction(signal, &action, &old_);
  }
  ~Handler() { ::sigaction(signal_, &old_, nullptr); }

 private:
  int signal_;
  struct sigaction old_ {};
};

// Sends `signal` to `target` after `delay`, from a plain thread.
class DelayedSignal {
 public:
  DelayedSignal(pthread_t target, int signal, milliseconds delay)
      : thread_([=] {
          std::this_thread::sleep_for(delay);
          ::pthread_kill(target, signal);
        }) {}
  ~DelayedSignal() { thread_.join(); }

 private:
  std::thread thread_;
};

long elapsed_ms(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
}

// "early" if the call returned within the window the signal (at 200 ms) explains, "late" if it
// waited out its own timeout or the peer (at 700 ms or more).
std::string when(long ms) {
  return ms < 150 ? "too-early" : ms < 600 ? "early" : "late";
}

// Runs the scenario; in hooked mode a ticker coroutine proves the thread stayed free (every
// scenario waits 200 ms or more).
std::string run_checked(const Scenario& scenario, Mode mode) {
  g_handled = 0;
  std::string out = hook_test::run_checking_thread_free(mode, scenario.name, [&] { return scenario.run(mode); });
  return out + " handled=" + std::to_string(g_handled.load());
}

// ---- scenarios ----

// A read on a socketpair nobody writes to, with SIGUSR1 sent to this thread 200 ms in: what it
// returned, and when.
std::string read_with_signal_at_200ms() {
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  auto start = Clock::now();
  char buffer[16];
  long n;
  {
    DelayedSignal signal(::pthread_self(), SIGUSR1, milliseconds(200));
    n = ::read(sv[0], buffer, sizeof buffer);
  }
  std::string out = result(n) + " " + when(elapsed_ms(start));
  ::close(sv[0]);
  ::close(sv[1]);
  return out;
}

std::string read_interrupted(Mode) {
  Handler handler(SIGUSR1, false);
  return read_with_signal_at_200ms();
}

// System V sigset installs its handler with no flags (no SA_RESTART). glibc does it through an
// internal sigaction call; cohook's sigset goes through the hook, so the read is cut short.
std::string read_interrupted_by_sigset_handler(Mode) {
  struct sigaction old {};
  ::sigaction(SIGUSR1, nullptr, &old);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"  // sigset is what is tested
  sighandler_t previous = ::sigset(SIGUSR1, count_signal);
#pragma GCC diagnostic pop
  std::string out = read_with_signal_at_200ms() + (previous == SIG_ERR ? " sigset failed" : "");
  ::sigaction(SIGUSR1, &old, nullptr);
  return out;
}

std::string read_restarted(Mode mode) {
  Handler handler(SIGUSR1, true);
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  hook_test::Peer peer(mode);
  peer.start([&] {
    if (mode == Mode::kHooked)
      cohook::this_coroutine::sleep_for(milliseconds(700));
    else
      std::this_thread::sleep_for(milliseconds(700));
    ::write(sv[1], "late", 4);
  });
  auto start = Clock::now();
  char buffer[16];
  long n;
  {
    DelayedSignal signal(::pthread_self(), SIGUSR1, milliseconds(200));
    n = ::read(sv[0], buffer, sizeof buffer);
  }
  std::string out = result(n) + (n > 0 ? " '" + std::string(buffer, n) + "'" : "") + " " + when(elapsed_ms(start));
  peer.join();
  ::close(sv[0]);
  ::close(sv[1]);
  return out;
}

std::string read_with_timeout_restart_handler(Mode) {
  // signal(7): a socket call with SO_RCVTIMEO fails with EINTR even after an SA_RESTART handler.
  Handler handler(SIGUSR1, true);
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  timeval timeout{2, 0};
  ::setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  auto start = Clock::now();
  char buffer[16];
  long n;
  {
    DelayedSignal signal(::pthread_self(), SIGUSR1, milliseconds(200));
    n = ::recv(sv[0], buffer, sizeof buffer, 0);
  }
  std::string out = result(n) + " " + when(elapsed_ms(start));
  ::close(sv[0]);
  ::close(sv[1]);
  return out;
}

std::string accept_interrupted(Mode) {
  Handler handler(SIGUSR1, false);
  int port = 0;
  int listener = hook_test::listen_loopback(&port);
  auto start = Clock::now();
  long fd;
  {
    DelayedSignal signal(::pthread_self(), SIGUSR1, milliseconds(200));
    fd = ::accept(listener, nullptr, nullptr);
  }
  std::string out = result(fd) + " " + when(elapsed_ms(start));
  ::close(listener);
  return out;
}

std::atomic<bool> g_stop{false};
void request_stop(int) {
  g_stop = true;
  g_handled.fetch_add(1);
}

std::string sigterm_ends_accept_loop(Mode mode) {
  struct sigaction action {
  }, old{};
  action.sa_handler = request_stop;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGTERM, &action, &old);
  g_stop = false;
  int port = 0;
  int listener = hook_test::listen_loopback(&port);
  hook_test::Peer client(mode);
  client.start([&] {
    for (int i = 0; i < 3; ++i) {
      int fd = hook_test::connect_loopback(port);
      ::write(fd, "x", 1);
      ::close(fd);
    }
  });
  int accepted = 0, interrupted = 0;
  {
    DelayedSignal signal(::pthread_self(), SIGTERM, milliseconds(300));
    while (!g_stop) {
      int fd = ::accept(listener, nullptr, nullptr);
      if (fd < 0) {
        if (errno == EINTR) ++interrupted;
        continue;
      }
      char byte;
      if (::read(fd, &byte, 1) == 1) ++accepted;
      ::close(fd);
    }
  }
  client.join();
  ::close(listener);
  ::sigaction(SIGTERM, &old, nullptr);
  return "accepted " + std::to_string(accepted) + ", EINTR " + std::to_string(interrupted);
}

std::string alarm_timeout_on_read(Mode) {
  Handler handler(SIGALRM, false);
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  auto start = Clock::now();
  char buffer[16];
  ::alarm(1);
  long n = ::read(sv[0], buffer, sizeof buffer);
  ::alarm(0);
  long ms = elapsed_ms(start);
  ::close(sv[0]);
  ::close(sv[1]);
  return result(n) + (ms >= 700 && ms < 3000 ? " after ~1 s" : " after " + std::to_string(ms) + " ms");
}

std::string poll_interrupted_despite_restart(Mode) {
  Handler handler(SIGUSR1, true);
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  pollfd entry{sv[0], POLLIN, 0};
  auto start = Clock::now();
  long n;
  {
    DelayedSignal signal(::pthread_self(), SIGUSR1, milliseconds(200));
    n = ::poll(&entry, 1, 2000);
  }
  std::string out = result(n) + " " + when(elapsed_ms(start));
  ::close(sv[0]);
  ::close(sv[1]);
  return out;
}

std::string select_interrupted_reports_time_left(Mode) {
  Handler handler(SIGUSR1, true);
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  fd_set readable;
  FD_ZERO(&readable);
  FD_SET(sv[0], &readable);
  timeval timeout{2, 0};
  long n;
  {
    DelayedSignal signal(::pthread_self(), SIGUSR1, milliseconds(200));
    n = ::select(sv[0] + 1, &readable, nullptr, nullptr, &timeout);
  }
  long left_ms = timeout.tv_sec * 1000 + timeout.tv_usec / 1000;
  ::close(sv[0]);
  ::close(sv[1]);
  return result(n) + (left_ms > 1300 && left_ms < 1900 ? " left ~1.8 s" : " left " + std::to_string(left_ms));
}

std::string epoll_wait_interrupted(Mode) {
  Handler handler(SIGUSR1, true);
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  int epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event event{};
  event.events = EPOLLIN;
  ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, sv[0], &event);
  auto start = Clock::now();
  long n;
  {
    DelayedSignal signal(::pthread_self(), SIGUSR1, milliseconds(200));
    n = ::epoll_wait(epoll_fd, &event, 1, 2000);
  }
  std::string out = result(n) + " " + when(elapsed_ms(start));
  ::close(epoll_fd);
  ::close(sv[0]);
  ::close(sv[1]);
  return out;
}

std::string nanosleep_reports_remaining(Mode) {
  Handler handler(SIGUSR1, true);
  timespec request{1, 0}, remaining{-1, -1};
  long n;
  {
    DelayedSignal signal(::pthread_self(), SIGUSR1, milliseconds(200));
    n = ::nanosleep(&request, &remaining);
  }
  long left_ms = remaining.tv_sec * 1000 + remaining.tv_nsec / 1000000;
  return result(n) +
         (left_ms > 300 && left_ms < 900 ? " remaining ~0.8 s" : " remaining " + std::to_string(left_ms));
}

std::string sleep_returns_seconds_left(Mode) {
  Handler handler(SIGUSR1, true);
  unsigned left;
  {
    DelayedSignal signal(::pthread_self(), SIGUSR1, milliseconds(200));
    left = ::sleep(3);  // 2.8 s left: glibc truncates to 2
  }
  return "sleep " + std::to_string(left) + " " + ::strerrorname_np(errno);
}

std::string usleep_interrupted(Mode) {
  Handler handler(SIGUSR1, false);
  long n;
  {
    DelayedSignal signal(::pthread_self(), SIGUSR1, milliseconds(200));
    n = ::usleep(1500000);
  }
  return result(n);
}

std::string clock_nanosleep_returns_eintr(Mode) {
  Handler handler(SIGUSR1, true);
  timespec request{1, 0}, remaining{-1, -1};
  int relative, absolute;
  {
    DelayedSignal signal(::pthread_self(), SIGUSR1, milliseconds(200));
    errno = 0;
    relative = ::clock_nanosleep(CLOCK_MONOTONIC, 0, &request, &remaining);
  }
  long left_ms = remaining.tv_sec * 1000 + remaining.tv_nsec / 1000000;
  std::string out = "relative " + std::string(::strerrorname_np(relative)) + " errno " +
                    (errno == 0 ? "0" : ::strerrorname_np(errno)) +
                    (left_ms > 300 && left_ms < 900 ? " remaining ~0.8 s" : " remaining " + std::to_string(left_ms));
  timespec until{};
  ::clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += 1;
  timespec untouched{-1, -1};
  {
    DelayedSignal signal(::pthread_self(), SIGUSR1, milliseconds(200));
    absolute = ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, &untouched);
  }
  return out + "; absolute " + ::strerrorname_np(absolute) +
         (untouched.tv_sec == -1 ? " remaining untouched" : " remaining written");
}

// ppoll's mask: a signal it blocks does not interrupt it (the wait runs to its timeout); a signal
// the thread blocks and the mask unblocks does.
std::string ppoll_mask_honoured(Mode) {
  Handler usr1(SIGUSR1, false);
  Handler usr2(SIGUSR2, false);
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  pollfd entry{sv[0], POLLIN, 0};
  sigset_t blocks_usr1;
  sigemptyset(&blocks_usr1);
  sigaddset(&blocks_usr1, SIGUSR1);
  timespec timeout{0, 700 * 1000000L};
  auto start = Clock::now();
  long first;
  {
    DelayedSignal signal(::pthread_self(), SIGUSR1, milliseconds(200));
    first = ::ppoll(&entry, 1, &timeout, &blocks_usr1);
  }
  std::string out = "masked: " + result(first) + " " + when(elapsed_ms(start));

  sigset_t usr2_only, before;
  sigemptyset(&usr2_only);
  sigaddset(&usr2_only, SIGUSR2);
  ::pthread_sigmask(SIG_BLOCK, &usr2_only, &before);  // the thread blocks SIGUSR2...
  sigset_t unblocks_all;
  sigemptyset(&unblocks_all);  // ...and ppoll's mask lets it in
  start = Clock::now();
  long second;
  {
    DelayedSignal signal(::pthread_self(), SIGUSR2, milliseconds(200));
    second = ::ppoll(&entry, 1, &timeout, &unblocks_all);
  }
  out += "; unmasked: " + result(second) + " " + when(elapsed_ms(start));
  sigset_t now;
  ::pthread_sigmask(SIG_SETMASK, &before, &now);
  out += sigismember(&now, SIGUSR2) == 1 ? ", thread mask restored" : ", thread mask lost SIGUSR2";
  ::close(sv[0]);
  ::close(sv[1]);
  return out;
}

const Scenario kScenarios[] = {
    {"ReadInterrupted", read_interrupted, "-1 EINTR early handled=1"},
    {"ReadRestarted", read_restarted, "4 'late' late handled=1"},
    {"ReadInterruptedBySigsetHandler", read_interrupted_by_sigset_handler, "-1 EINTR early handled=1"},
    {"RecvWithTimeoutInterruptedDespiteRestart", read_with_timeout_restart_handler, "-1 EINTR early handled=1"},
    {"AcceptInterrupted", accept_interrupted, "-1 EINTR early handled=1"},
    {"SigtermEndsAcceptLoop", sigterm_ends_accept_loop, "accepted 3, EINTR 1 handled=1"},
    {"AlarmTimeoutOnRead", alarm_timeout_on_read, "-1 EINTR after ~1 s handled=1"},
    {"PollInterruptedDespiteRestart", poll_interrupted_despite_restart, "-1 EINTR early handled=1"},
    {"SelectReportsTimeLeft", select_interrupted_reports_time_left, "-1 EINTR left ~1.8 s handled=1"},
    {"EpollWaitInterrupted", epoll_wait_interrupted, "-1 EINTR early handled=1"},
    {"NanosleepReportsRemaining", nanosleep_reports_remaining, "-1 EINTR remaining ~0.8 s handled=1"},
    {"SleepReturnsSecondsLeft", sleep_returns_seconds_left, "sleep 2 EINTR handled=1"},
    {"UsleepInterrupted", usleep_interrupted, "-1 EINTR handled=1"},
    {"ClockNanosleepReturnsEintr", clock_nanosleep_returns_eintr,
     "relative EINTR errno 0 remaining ~0.8 s; absolute EINTR remaining untouched handled=2"},
    {"PpollMaskHonoured", ppoll_mask_honoured,
     "masked: 0 late; unmasked: -1 EINTR early, thread mask restored handled=2"},
};

class SignalScenarioTest : public ::testing::TestWithParam<Scenario> {};

TEST_P(SignalScenarioTest, RawAndHookedAgree) {
  const Scenario& scenario = GetParam();
  hook_test::expect_raw_and_hooked_agree(scenario, run_checked(scenario, Mode::kRaw), run_checked(scenario, Mode::kHooked));
}

INSTANTIATE_TEST_SUITE_P(Scenarios, SignalScenarioTest, ::testing::ValuesIn(kScenarios),
                         hook_test::scenario_name);

// What sigaction reports back is what the program installed, not cohook's trampoline.
TEST(SignalHooks, SigactionReportsTheUsersHandler) {
  struct sigaction action {
  }, seen{}, old{};
  action.sa_handler = count_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  ASSERT_EQ(::sigaction(SIGUSR1, &action, &old), 0);
  ASSERT_EQ(::sigaction(SIGUSR1, nullptr, &seen), 0);
  EXPECT_EQ(seen.sa_handler, &count_signal);
  EXPECT_EQ(seen.sa_flags & (SA_SIGINFO | SA_RESTART), SA_RESTART);
  EXPECT_EQ(::signal(SIGUSR1, SIG_DFL), &count_signal);
  ::sigaction(SIGUSR1, &old, nullptr);
}

}  // namespace
