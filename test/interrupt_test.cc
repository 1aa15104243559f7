// sched/interrupt.h: interruptions of parked coroutines, without any hook in the way.
#include "sched/interrupt.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "sched/scheduler.h"

namespace {

using cohook::Coroutine;
using cohook::InterruptibleCall;
using cohook::InterruptKind;
using cohook::Scheduler;
using cohook::WakeReason;
using std::chrono::milliseconds;

constexpr int kSource = 10;

// Parks for up to `ms` inside an interruptible call.
WakeReason park_interruptibly(bool restartable, std::uint64_t accepts, int ms) {
  InterruptibleCall call(restartable, accepts);
  return Scheduler::sleep_until(cohook::deadline_after(milliseconds(ms)));
}

struct Fixture {
  Scheduler scheduler;
  template <class Fn>
  Coroutine* spawn(Fn fn) {
    return scheduler.spawn(std::move(fn), cohook::SpawnOptions{});
  }
};

TEST(Interrupt, ParkedCoroutineIsWokenWithInterrupted) {
  Fixture f;
  WakeReason reason = WakeReason::kNone;
  Coroutine* target = f.spawn([&] { reason = park_interruptibly(false, cohook::kAllInterruptSources, 5000); });
  f.spawn([&] {
    cohook::Scheduler::sleep_until(cohook::deadline_after(milliseconds(20)));
    Scheduler::interrupt(target, kSource, InterruptKind::kNoRestart);
  });
  auto start = std::chrono::steady_clock::now();
  f.scheduler.run_until_idle();
  EXPECT_EQ(reason, WakeReason::kInterrupted);
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(2000));
  target->release();
}

TEST(Interrupt, PendingInterruptionEndsTheNextParkOfTheCall) {
  Fixture f;
  WakeReason reason = WakeReason::kNone;
  Coroutine* target = f.spawn([&] {
    InterruptibleCall call(false);
    // Posted while running inside the call, before it parks: not lost.
    Scheduler::interrupt(Coroutine::current(), kSource, InterruptKind::kNoRestart);
    reason = Scheduler::sleep_until(cohook::deadline_after(milliseconds(5000)));
  });
  f.scheduler.run_until_idle();
  EXPECT_EQ(reason, WakeReason::kInterrupted);
  target->release();
}

TEST(Interrupt, InterruptionOutsideACallIsDropped) {
  Fixture f;
  WakeReason reason = WakeReason::kNone;
  Coroutine* target = f.spawn([&] {
    Scheduler::interrupt(Coroutine::current(), kSource, InterruptKind::kNoRestart);  // no call open
    reason = park_interruptibly(false, cohook::kAllInterruptSources, 50);
  });
  f.scheduler.run_until_idle();
  EXPECT_EQ(reason, WakeReason::kTimeout);
  target->release();
}

TEST(Interrupt, RestartKindLeavesRestartableCallsWaiting) {
  Fixture f;
  WakeReason restartable = WakeReason::kNone, not_restartable = WakeReason::kNone, filtered = WakeReason::kNone;
  WakeReason plain_park = WakeReason::kNone;
  Coroutine* a = f.spawn([&] { restartable = park_interruptibly(true, cohook::kAllInterruptSources, 300); });
  Coroutine* b = f.spawn([&] { not_restartable = park_interruptibly(false, cohook::kAllInterruptSources, 5000); });
  Coroutine* c = f.spawn([&] {
    filtered = park_interruptibly(false, ~cohook::interrupt_source_bit(kSource), 300);  // does not accept it
  });
  Coroutine* d = f.spawn([&] { plain_park = Scheduler::sleep_until(cohook::deadline_after(milliseconds(300))); });
  Coroutine* sender = f.spawn([&] {
    Scheduler::sleep_until(cohook::deadline_after(milliseconds(20)));
    Scheduler::interrupt_thread(Scheduler::current(), kSource, InterruptKind::kRestart);
  });
  f.scheduler.run_until_idle();
  EXPECT_EQ(restartable, WakeReason::kTimeout);
  EXPECT_EQ(not_restartable, WakeReason::kInterrupted);
  EXPECT_EQ(filtered, WakeReason::kTimeout);
  EXPECT_EQ(plain_park, WakeReason::kTimeout);
  for (Coroutine* co : {a, b, c, d, sender}) co->release();
}

// From a signal handler on a plain thread, and from a signal handler that runs on the
// scheduler thread while it sleeps in epoll_wait.
std::atomic<Coroutine*> g_target{nullptr};
std::atomic<Scheduler*> g_scheduler{nullptr};
void interrupt_target(int) {
  Scheduler::interrupt(g_target.load(), kSource, InterruptKind::kNoRestart);
}
void interrupt_this_thread(int) {
  Scheduler::interrupt_thread(Scheduler::current_for_signal_handler(), kSource, InterruptKind::kNoRestart);
}

TEST(Interrupt, PostedFromSignalHandlers) {
  struct sigaction action {
  }, old{};
  sigemptyset(&action.sa_mask);
  action.sa_handler = interrupt_target;
  ::sigaction(SIGUSR1, &action, &old);
  action.sa_handler = interrupt_this_thread;
  struct sigaction old2 {};
  ::sigaction(SIGUSR2, &action, &old2);

  Fixture f;
  WakeReason first = WakeReason::kNone, second = WakeReason::kNone;
  pthread_t scheduler_thread = ::pthread_self();
  Coroutine* target = f.spawn([&] {
    first = park_interruptibly(false, cohook::kAllInterruptSources, 5000);
    second = park_interruptibly(false, cohook::kAllInterruptSources, 5000);
  });
  g_target = target;
  std::thread plain([&] {
    std::this_thread::sleep_for(milliseconds(50));
    ::raise(SIGUSR1);  // handled on this plain thread: targets the coroutine
    std::this_thread::sleep_for(milliseconds(100));
    ::pthread_kill(scheduler_thread, SIGUSR2);  // handled on the scheduler thread, in epoll_wait
  });
  auto start = std::chrono::steady_clock::now();
  f.scheduler.run_until_idle();
  plain.join();
  EXPECT_EQ(first, WakeReason::kInterrupted);
  EXPECT_EQ(second, WakeReason::kInterrupted);
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(3000));
  target->release();
  ::sigaction(SIGUSR1, &old, nullptr);
  ::sigaction(SIGUSR2, &old2, nullptr);
}

// An interruption racing the other wakers of the same park: exactly one wins, every time.
TEST(Interrupt, RacesWithTimeoutsAndWakersWakeOnce) {
  Fixture f;
  constexpr int kRounds = 300;
  std::atomic<int> woken{0};
  Coroutine* target = f.spawn([&] {
    for (int i = 0; i < kRounds; ++i) {
      park_interruptibly(false, cohook::kAllInterruptSources, 1);
      woken.fetch_add(1);
    }
  });
  std::atomic<bool> done{false};
  std::thread interrupter([&] {
    while (!done.load()) {
      Scheduler::interrupt(target, kSource, InterruptKind::kNoRestart);
      std::this_thread::yield();
    }
  });
  f.scheduler.run_until_idle();
  done = true;
  interrupter.join();
  EXPECT_EQ(woken.load(), kRounds);
  target->release();
}

}  // namespace
