// The per-thread scheduler: lifecycle, parking, timers, errno, placement, failures.
#include <cerrno>
#include <algorithm>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cohook/cohook.hpp"
#include "coctx/sanitizers.h"
#include "coctx/stack.h"
#include "sched/scheduler.h"
#include "sched/timer_heap.h"

namespace cohook {
namespace {

using namespace std::chrono_literals;

TEST(SchedulerTest, YieldInterleavesCoroutinesInFifoOrder) {
  Scheduler& s = Scheduler::this_thread();
  std::vector<int> trace;
  for (int id = 0; id < 3; ++id) {
    s.spawn([&trace, id] {
      for (int round = 0; round < 3; ++round) {
        trace.push_back(id * 10 + round);
        Scheduler::yield();
      }
    }, {})->release();
  }
  s.run_until_idle();
  EXPECT_THAT(trace, ::testing::ElementsAre(0, 10, 20, 1, 11, 21, 2, 12, 22));
  EXPECT_EQ(s.live_coroutines(), 0u);
}

TEST(SchedulerTest, HundredThousandCoroutinesFinishAndReturnTheirStacks) {
  Scheduler& s = Scheduler::this_thread();
  auto& pool = coctx::StackPool::this_thread();
  std::size_t in_use_before = pool.stats().in_use;
  // ThreadSanitizer maps a trace buffer per fiber, and 100,000 of them exceed vm.max_map_count;
  // it checks the same code paths with fewer.
  constexpr int kCoroutines = COHOOK_TSAN ? 5'000 : 100'000;
  constexpr int kYields = 5;
  long steps = 0;
  std::size_t most_in_use = 0;
  for (int i = 0; i < kCoroutines; ++i) {
    s.spawn([&] {
      for (int y = 0; y < kYields; ++y) {
        ++steps;
        most_in_use = std::max(most_in_use, pool.stats().in_use);
        Scheduler::yield();
      }
    }, {})->release();
  }
  s.run_until_idle();
  EXPECT_EQ(steps, long{kCoroutines} * kYields);
  // All were alive at once (each yields before any finishes)...
  EXPECT_EQ(most_in_use, in_use_before + kCoroutines);
  // ...and every stack went back.
  EXPECT_EQ(pool.stats().in_use, in_use_before);
  EXPECT_EQ(s.live_coroutines(), 0u);
}

TEST(SchedulerTest, ParkedCoroutineWakesOnlyForItsCurrentTicket) {
  Scheduler& s = Scheduler::this_thread();
  Coroutine* sleeper = nullptr;
  std::uint64_t first_ticket = 0;
  std::vector<WakeReason> reasons;
  s.spawn([&] {
    sleeper = Coroutine::current();
    first_ticket = Scheduler::prepare_park();
    reasons.push_back(Scheduler::park_until(first_ticket, kNoDeadline, "test"));
    std::uint64_t second = Scheduler::prepare_park();
    reasons.push_back(Scheduler::park_until(second, deadline_after(20ms), "test"));
  }, {})->release();
  s.run_once(0);  // runs until the first park
  EXPECT_TRUE(Scheduler::unpark(sleeper, first_ticket));
  EXPECT_FALSE(Scheduler::unpark(sleeper, first_ticket)) << "a ticket wakes once";
  s.run_once(0);  // resumes it; it parks again with a new ticket
  EXPECT_FALSE(Scheduler::unpark(sleeper, first_ticket)) << "a stale ticket must not wake a later park";
  s.run_until_idle();
  EXPECT_THAT(reasons, ::testing::ElementsAre(WakeReason::kUnparked, WakeReason::kTimeout));
}

TEST(SchedulerTest, SleepersWakeInDeadlineOrder) {
  Scheduler& s = Scheduler::this_thread();
  std::vector<int> order;
  TimePoint start = Clock::now();
  for (int ms : {30, 10, 20, 0, 5}) {
    s.spawn([&order, ms, start] {
      this_coroutine::sleep_until(start + std::chrono::milliseconds(ms));
      EXPECT_GE(Clock::now(), start + std::chrono::milliseconds(ms));  // never early
      order.push_back(ms);
    }, {})->release();
  }
  s.run_until_idle();
  EXPECT_THAT(order, ::testing::ElementsAre(0, 5, 10, 20, 30));
}

TEST(TimerHeapTest, FiresInDeadlineOrderAndNeverFiresCancelled) {
  TimerHeap heap;
  std::vector<int> fired;
  std::vector<Timer> timers(200);
  TimePoint base = Clock::now();
  for (int i = 0; i < 200; ++i) {
    timers[i].deadline = base + std::chrono::microseconds((i * 7919) % 200);  // a permutation
    timers[i].context = &fired;
    timers[i].fire = [](Timer* t) {
      auto* out = static_cast<std::vector<int>*>(t->context);
      out->push_back(static_cast<int>((t->deadline.time_since_epoch().count())));
    };
    heap.add(&timers[i]);
  }
  for (int i = 0; i < 200; i += 3) EXPECT_TRUE(heap.cancel(&timers[i]));
  EXPECT_FALSE(heap.cancel(&timers[0])) << "cancelling twice";
  heap.fire_expired(base + 1s);
  EXPECT_TRUE(heap.empty());
  EXPECT_EQ(fired.size(), 200u - 67u);
  EXPECT_TRUE(std::is_sorted(fired.begin(), fired.end()));
  for (int i = 0; i < 200; i += 3)
    EXPECT_EQ(std::count(fired.begin(), fired.end(), static_cast<int>(timers[i].deadline.time_since_epoch().count())), 0);
}

TEST(TimerHeapTest, EqualDeadlinesFireInInsertionOrder) {
  TimerHeap heap;
  std::vector<int> fired;
  Timer timers[5];
  TimePoint when = Clock::now();
  for (int i = 0; i < 5; ++i) {
    timers[i].deadline = when;
    timers[i].context = &fired;
    timers[i].fire = [](Timer* t) {
      static_cast<std::vector<int>*>(t->context)->push_back(static_cast<int>(t->sequence));
    };
    heap.add(&timers[i]);
  }
  heap.fire_expired(when);
  EXPECT_TRUE(std::is_sorted(fired.begin(), fired.end()));
  EXPECT_EQ(fired.size(), 5u);
}

TEST(SchedulerTest, ErrnoIsPerCoroutine) {
  Scheduler& s = Scheduler::this_thread();
  int seen_a = 0, seen_b = 0;
  s.spawn([&] {
    errno = EAGAIN;
    Scheduler::yield();
    seen_a = errno;
  }, {})->release();
  s.spawn([&] {
    errno = ECONNRESET;
    Scheduler::yield();
    seen_b = errno;
  }, {})->release();
  errno = EDOM;
  s.run_until_idle();
  EXPECT_EQ(seen_a, EAGAIN);
  EXPECT_EQ(seen_b, ECONNRESET);
  EXPECT_EQ(errno, EDOM);
}

TEST(SchedulerTest, CoroutineLocalsArePerCoroutineAndDestroyed) {
  static int destroyed = 0;
  struct Counted {
    int value = 0;
    ~Counted() { ++destroyed; }
  };
  CoroutineLocal<Counted> local;
  Scheduler& s = Scheduler::this_thread();
  std::vector<int> seen;
  for (int i = 1; i <= 3; ++i) {
    s.spawn([&, i] {
      local->value = i;
      Scheduler::yield();
      seen.push_back(local->value);
    }, {})->release();
  }
  s.run_until_idle();
  EXPECT_THAT(seen, ::testing::ElementsAre(1, 2, 3));
  EXPECT_EQ(destroyed, 3);
}

TEST(SchedulerTest, NestedResumeReturnsToTheResumer) {
  Scheduler& s = Scheduler::this_thread();
  std::vector<int> trace;
  Coroutine* inner = s.create([&] {
    trace.push_back(2);
    Coroutine::current()->suspend();
    trace.push_back(4);
  }, {});
  Coroutine* outer = s.create([&] {
    trace.push_back(1);
    inner->resume();
    trace.push_back(3);
    inner->resume();
    trace.push_back(5);
  }, {});
  outer->resume();
  EXPECT_THAT(trace, ::testing::ElementsAre(1, 2, 3, 4, 5));
  EXPECT_TRUE(inner->finished());
  EXPECT_TRUE(outer->finished());
  inner->release();
  outer->release();
}

TEST(SchedulerTest, DeepNestingHasNoFixedLimit) {
  Scheduler& s = Scheduler::this_thread();
  constexpr int kDepth = 1000;  // libco stops at 128
  int deepest = 0;
  std::function<void(int)> nest = [&](int depth) {
    deepest = std::max(deepest, depth);
    if (depth == kDepth) return;
    Coroutine* child = s.create([&nest, depth] { nest(depth + 1); }, {coctx::kMinStackSize, ""});
    child->resume();
    EXPECT_TRUE(child->finished());
    child->release();
  };
  Coroutine* root = s.create([&] { nest(1); }, {});
  root->resume();
  root->release();
  EXPECT_EQ(deepest, kDepth);
}

TEST(RuntimeTest, CoroutinesStayOnTheirThreadAndSpreadOverThreads) {
  Runtime runtime(2);
  std::mutex m;
  std::set<std::thread::id> threads;
  std::atomic<int> moved{0};
  runtime.run([&] {
    std::vector<JoinHandle> handles;
    for (int i = 0; i < 8; ++i) {
      handles.push_back(go([&] {
        auto home = std::this_thread::get_id();
        // Busy without parking for a while: the others wait behind it, and the idle thread
        // takes them (go() places on the caller's thread first).
        auto busy_until = std::chrono::steady_clock::now() + 20ms;
        while (std::chrono::steady_clock::now() < busy_until) {
        }
        for (int k = 0; k < 5; ++k) {
          this_coroutine::sleep_for(1ms);
          if (std::this_thread::get_id() != home) ++moved;
        }
        std::lock_guard<std::mutex> lock(m);
        threads.insert(home);
      }));
    }
    for (auto& h : handles) h.join();
  });
  EXPECT_EQ(moved.load(), 0);
  EXPECT_EQ(threads.size(), 2u);
}

TEST(RuntimeTest, RunReturnsOnlyWhenEveryCoroutineHasFinished) {
  Runtime runtime(2);
  std::atomic<int> finished{0};
  runtime.run([&] {
    for (int i = 0; i < 100; ++i) {
      go([&finished, i] {
        this_coroutine::sleep_for(std::chrono::milliseconds(i % 7));
        go([&] { ++finished; });  // grandchildren count too
        ++finished;
      });
    }
  });
  EXPECT_EQ(finished.load(), 200);
}

TEST(RuntimeTest, GoOnAThreadWithoutSchedulerExplains) {
  bool threw = false;
  std::thread plain([&] {
    try {
      go([] {});
    } catch (const std::logic_error& e) {
      threw = std::string(e.what()).find("Runtime") != std::string::npos;
    }
  });
  plain.join();
  EXPECT_TRUE(threw);
}

TEST(SchedulerDeathTest, UncaughtExceptionNamesTheCoroutine) {
  EXPECT_DEATH(
      {
        Scheduler& s = Scheduler::this_thread();
        s.spawn([] { throw std::runtime_error("disk on fire"); }, {0, "fire-starter"})->release();
        s.run_until_idle();
      },
      "coroutine #[0-9]+ 'fire-starter' ended with an uncaught exception.*disk on fire");
}

// Recurses until the stack runs out (the limit only keeps the compiler from calling it infinite).
int recurse_deeply(int depth, int limit) {
  volatile char frame[512];
  frame[0] = static_cast<char>(depth);
  if (depth == limit) return frame[0];
  return recurse_deeply(depth + 1, limit) + frame[0];
}

TEST(SchedulerDeathTest, StackOverflowNamesTheCoroutine) {
  EXPECT_DEATH(
      {
        Scheduler& s = Scheduler::this_thread();
        s.spawn([] { recurse_deeply(0, 1 << 30); }, {coctx::kMinStackSize, "deep-thinker"})->release();
        s.run_until_idle();
      },
      "stack overflow in coroutine #[0-9]+ 'deep-thinker'");
}

}  // namespace
}  // namespace cohook
