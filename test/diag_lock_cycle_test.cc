// An AB/BA cycle among cohook::Mutex waits is reported the moment it closes, while other
// coroutines keep running: both coroutines, the mutex each holds and waits for, their stacks.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "cohook/cohook.hpp"
#include "diag_test_util.h"

namespace cohook {
namespace {

using namespace std::chrono_literals;

std::atomic<int> g_sink{0};

[[gnu::noinline]] void take_second_lock(Mutex& m) {
  m.lock();
  g_sink.fetch_add(1);
  m.unlock();
}

std::string address_of(const void* p) {
  char text[32];
  std::snprintf(text, sizeof text, "%p", p);
  return text;
}

TEST(DiagLockCycleTest, CycleIsReportedAtOnceWithHoldersWaitsAndStacks) {
  Mutex a, b;
  test::CapturedStderr err;
  bool reported = false;
  std::atomic<bool> stop_heartbeat{false};
  std::thread watcher;
  auto started = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration latency{};
  Runtime runtime(2);
  runtime.run([&] {
    // Keeps the runtime busy: the stall report never fires, the cycle report must.
    JoinHandle heartbeat = go([&] {
      while (!stop_heartbeat.load()) this_coroutine::sleep_for(5ms);
    }, {0, "heartbeat"});
    WaitGroup both_hold;
    both_hold.add(2);
    JoinHandle first = go([&] {
      a.lock();
      both_hold.done();
      both_hold.wait();
      take_second_lock(b);
      a.unlock();
    }, {0, "first"});
    JoinHandle second = go([&] {
      b.lock();
      both_hold.done();
      both_hold.wait();
      take_second_lock(a);
      b.unlock();
    }, {0, "second"});
    started = std::chrono::steady_clock::now();
    watcher = std::thread([&] {
      reported = err.read_until({"lock cycle", "take_second_lock(cohook::Mutex&)", "'first' [parked on mutex]",
                                 "'second' [parked on mutex]"},
                                10s);
      latency = std::chrono::steady_clock::now() - started;
      // Break the cycle from outside: a plain thread may unlock (cohook::Mutex, like a
      // semaphore, does not check the owner), which hands `a` to `second`.
      a.unlock();
    });
    first.join();
    second.join();
    stop_heartbeat = true;
    heartbeat.join();
  });
  watcher.join();
  ASSERT_TRUE(reported) << err.text;
  std::string pa = address_of(&a), pb = address_of(&b);
  EXPECT_TRUE(std::regex_search(err.text, std::regex("#[0-9]+ 'first' holds mutex " + pa + " and waits for mutex " + pb +
                                                     ", held by #[0-9]+ 'second'")))
      << err.text;
  EXPECT_TRUE(std::regex_search(err.text, std::regex("#[0-9]+ 'second' holds mutex " + pb + " and waits for mutex " + pa +
                                                     ", held by #[0-9]+ 'first'")))
      << err.text;
  // Once, not once per member.
  EXPECT_EQ(err.text.find("lock cycle"), err.text.rfind("lock cycle")) << err.text;
  // At once: far sooner than the 10 s stall period, which the heartbeat prevents anyway.
  EXPECT_LT(latency, 5s);
  EXPECT_EQ(err.text.find("possible deadlock"), std::string::npos) << err.text;
}

TEST(DiagLockCycleTest, WaitingInAChainWithoutCycleIsNotReported) {
  Mutex a, b;
  test::CapturedStderr err;
  Runtime runtime(2);
  runtime.run([&] {
    WaitGroup holding;
    holding.add(1);
    JoinHandle holder = go([&] {
      a.lock();
      holding.done();
      this_coroutine::sleep_for(200ms);
      a.unlock();
    }, {0, "holder"});
    holding.wait();
    JoinHandle chain = go([&] {
      b.lock();
      take_second_lock(a);  // waits for `holder`, which waits for nobody
      b.unlock();
    }, {0, "chain"});
    JoinHandle tail = go([&] { take_second_lock(b); }, {0, "tail"});
    holder.join();
    chain.join();
    tail.join();
  });
  err.read_until({"(never there)"}, 300ms);
  EXPECT_EQ(err.text.find("lock cycle"), std::string::npos) << err.text;
}

}  // namespace
}  // namespace cohook
