// The parked-coroutine memory layout's promises (sched/coroutine.h): rarely used state (a name,
// coroutine-locals, interruptible calls, joiners) lives in an extras block that a coroutine makes
// only on first use, and every feature keeps working through it; a libco co_cond waiter lives in
// the waiting coroutine's wait storage, which other waits reuse in between.
#include <atomic>
#include <chrono>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "cohook/cohook.hpp"
#include "cohook/compat/co_routine.h"
#include "cohook/debug.hpp"
#include "sched/coroutine.h"
#include "sched/scheduler.h"

namespace cohook {
namespace {

using namespace std::chrono_literals;

struct Parked {
  Coroutine* coroutine = nullptr;
  std::uint64_t ticket = 0;
};

// Parks the running coroutine until unpark(parked.coroutine, parked.ticket).
void park_here(Parked& parked) {
  parked.coroutine = Coroutine::current();
  parked.ticket = Scheduler::prepare_park();
  Scheduler::park_until(parked.ticket, kNoDeadline, "test");
}

TEST(CoroutineExtrasTest, UnnamedCoroutineMakesItsExtrasAtItsFirstLocalAndRunsItsDestructor) {
  Scheduler& s = Scheduler::this_thread();
  const std::size_t key = detail::allocate_local_key();
  static std::atomic<int> destroyed{0};
  destroyed = 0;
  Parked parked;
  bool extras_before = true, extras_after = false;
  void* seen = nullptr;
  int value = 42;
  Coroutine* c = s.spawn([&] {
    park_here(parked);
    Coroutine* self = Coroutine::current();
    extras_before = self->has_extras();
    self->set_local(key, &value, [](void*) { destroyed.fetch_add(1); });
    extras_after = self->has_extras();
    seen = self->local(key);
  }, {});
  s.run_once(0);  // runs until it parks
  ASSERT_NE(parked.coroutine, nullptr);
  EXPECT_FALSE(c->has_extras()) << "a parked coroutine that used nothing rare carries no extras";
  EXPECT_STREQ(c->name(), "");
  EXPECT_TRUE(Scheduler::unpark(parked.coroutine, parked.ticket));
  s.run_until_idle();
  EXPECT_FALSE(extras_before);
  EXPECT_TRUE(extras_after);
  EXPECT_EQ(seen, &value);
  EXPECT_EQ(destroyed.load(), 1) << "the local's destructor runs when the coroutine ends";
  EXPECT_TRUE(c->finished());
  c->release();  // frees the block with the coroutine (LeakSanitizer sees a leak: ASAN_OPTIONS=detect_leaks=1)
}

TEST(CoroutineExtrasTest, NamedCoroutineKeepsItsNameInTheExtrasAndDumpsShowIt) {
  std::string text;
  bool named_has_extras = false;
  std::string name_seen;
  Runtime runtime(1);
  runtime.run([&] {
    WaitGroup gate;
    gate.add(1);
    JoinHandle named = go([&] {
      named_has_extras = Coroutine::current()->has_extras();
      name_seen = Coroutine::current()->name();
      gate.wait();
    }, {0, "extras-named-waiter"});
    JoinHandle unnamed = go([&] { gate.wait(); });
    this_coroutine::yield();  // both run once and park on the gate
    std::ostringstream out;
    dump(out);
    text = out.str();
    gate.done();
  });
  EXPECT_TRUE(named_has_extras);
  EXPECT_EQ(name_seen, "extras-named-waiter");
  EXPECT_NE(text.find("extras-named-waiter"), std::string::npos) << text;
}

TEST(CoroutineExtrasTest, JoinerOnAnotherThreadMakesTheExtrasAndIsWoken) {
  // The joiner installs the extras while the coroutine is parked (or finds it finished): either
  // way it must return, never wait forever for a wake-up that went to a block it did not see.
  for (int round = 0; round < 20; ++round) {
    Scheduler& s = Scheduler::this_thread();
    Parked parked;
    Coroutine* c = s.spawn([&] { park_here(parked); }, {});
    s.run_once(0);
    ASSERT_FALSE(c->has_extras());
    std::atomic<bool> joined{false};
    std::thread joiner([&] {
      c->join();
      joined = true;
    });
    if (round % 2 == 0) std::this_thread::sleep_for(1ms);  // often queued first, sometimes not
    EXPECT_TRUE(Scheduler::unpark(parked.coroutine, parked.ticket));
    s.run_until_idle();
    joiner.join();
    EXPECT_TRUE(joined.load());
    EXPECT_TRUE(c->finished());
    c->release();
  }
}

// ---------------------------------------------------------------- libco co_cond

struct CondCase {
  stCoCond_t* cond = nullptr;
  stCoCond_t* other = nullptr;
  int timed_out = 0;             // past the first (timed) wait
  int arrived = 0;               // past the second wait, about to wait on `cond`
  int signalled = 0;             // co_cond_signal calls on `cond` so far
  std::vector<int> arrivals;     // the order they queued on `cond`
  std::vector<int> woken;        // the order `cond`'s signals woke them
};

struct Waiter {
  CondCase* c;
  int id;
};

void* wait_three_times(void* p) {
  auto* w = static_cast<Waiter*>(p);
  // A wait that times out, then a wait on another cond that is signalled: both reuse the
  // coroutine's wait storage before the wait whose order is checked.
  co_cond_timedwait(w->c->other, 1);
  ++w->c->timed_out;
  co_cond_timedwait(w->c->other, -1);
  ++w->c->arrived;
  w->c->arrivals.push_back(w->id);
  co_cond_timedwait(w->c->cond, -1);
  w->c->woken.push_back(w->id);
  return nullptr;
}

TEST(CoroutineExtrasTest, CondWaitersOnASharedStackWakeInQueueOrderAfterReusingTheirWaitStorage) {
  CondCase c;
  c.cond = co_cond_alloc();
  c.other = co_cond_alloc();
  stShareStack_t* share = co_alloc_sharestack(1, 128 * 1024);  // all on one stack: every park copies
  stCoRoutineAttr_t attr;
  attr.share_stack = share;
  constexpr int kWaiters = 4;
  std::vector<Waiter> waiters;
  for (int i = 0; i < kWaiters; ++i) waiters.push_back(Waiter{&c, i});
  std::vector<stCoRoutine_t*> cos(kWaiters);
  for (int i = 0; i < kWaiters; ++i) {
    co_create(&cos[i], &attr, &wait_three_times, &waiters[i]);
    co_resume(cos[i]);  // parks in its first (timed) wait
  }
  co_eventloop(co_get_epoll_ct(), [](void* p) -> int {
    return static_cast<CondCase*>(p)->timed_out == kWaiters ? -1 : 0;
  }, &c);
  co_cond_broadcast(c.other);  // every one moves on to `cond`
  co_eventloop(co_get_epoll_ct(), [](void* p) -> int {
    return static_cast<CondCase*>(p)->arrived == kWaiters ? -1 : 0;
  }, &c);
  for (int i = 0; i < kWaiters; ++i) {
    co_cond_signal(c.cond);  // one at a time
    c.signalled = i + 1;
    co_eventloop(co_get_epoll_ct(), [](void* p) -> int {
      auto* cc = static_cast<CondCase*>(p);
      return static_cast<int>(cc->woken.size()) >= cc->signalled ? -1 : 0;
    }, &c);
  }
  EXPECT_EQ(c.woken.size(), static_cast<std::size_t>(kWaiters));
  EXPECT_EQ(c.woken, c.arrivals) << "co_cond_signal wakes the longest waiter first";
  for (stCoRoutine_t* co : cos) co_release(co);
  co_cond_free(c.cond);
  co_cond_free(c.other);
  co_free_sharestack(share);
}

}  // namespace
}  // namespace cohook
