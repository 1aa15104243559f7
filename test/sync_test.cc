// Mutex, CondVar, WaitGroup and Channel: on one thread, across two scheduler threads, and with
// plain OS threads on the other side.
#include <atomic>
#include <chrono>
#include <numeric>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cohook/cohook.hpp"
#include "sched/scheduler.h"

namespace cohook {
namespace {

using namespace std::chrono_literals;

TEST(MutexTest, ExcludesAcrossTwoSchedulerThreadsWhileHoldersPark) {
  Runtime runtime(2);
  Mutex mutex;
  long counter = 0;
  int inside = 0, overlaps = 0;
  runtime.run([&] {
    WaitGroup done;
    for (int c = 0; c < 16; ++c) {
      done.add();
      go([&] {
        for (int i = 0; i < 200; ++i) {
          std::lock_guard<Mutex> lock(mutex);
          if (++inside != 1) ++overlaps;
          long seen = counter;
          if (i % 10 == 0) this_coroutine::yield();  // park while holding it
          counter = seen + 1;
          --inside;
        }
        done.done();
      });
    }
    done.wait();
  });
  EXPECT_EQ(counter, 16 * 200);
  EXPECT_EQ(overlaps, 0);
}

TEST(MutexTest, WaitersGetTheLockInArrivalOrder) {
  Scheduler& s = Scheduler::this_thread();
  Mutex mutex;
  std::vector<int> order;
  mutex.lock();
  for (int i = 0; i < 5; ++i) {
    s.spawn([&, i] {
      std::lock_guard<Mutex> lock(mutex);
      order.push_back(i);
    }, {})->release();
  }
  s.run_once(0);  // all five queue up
  mutex.unlock();
  s.run_until_idle();
  EXPECT_THAT(order, ::testing::ElementsAre(0, 1, 2, 3, 4));
}

TEST(MutexTest, TryLockForTimesOutAndLeavesTheQueue) {
  Scheduler& s = Scheduler::this_thread();
  Mutex mutex;
  bool got = true, got_later = false;
  s.spawn([&] {
    mutex.lock();
    this_coroutine::sleep_for(30ms);
    mutex.unlock();
  }, {})->release();
  s.spawn([&] {
    got = mutex.try_lock_for(5ms);
    got_later = mutex.try_lock_for(5s);
    if (got_later) mutex.unlock();
  }, {})->release();
  s.run_until_idle();
  EXPECT_FALSE(got);
  EXPECT_TRUE(got_later);
  EXPECT_TRUE(mutex.try_lock());
  mutex.unlock();
}

TEST(CondVarTest, NotifyOneWakesOneAndNotifyAllWakesTheRest) {
  Scheduler& s = Scheduler::this_thread();
  Mutex mutex;
  CondVar cv;
  int tokens = 0, woken = 0;
  for (int i = 0; i < 4; ++i) {
    s.spawn([&] {
      std::unique_lock<Mutex> lock(mutex);
      cv.wait(lock, [&] { return tokens > 0; });
      --tokens;
      ++woken;
    }, {})->release();
  }
  s.run_once(0);
  {
    std::lock_guard<Mutex> lock(mutex);
    tokens = 1;
  }
  cv.notify_one();
  s.run_once(0);
  s.run_once(0);
  EXPECT_EQ(woken, 1);
  {
    std::lock_guard<Mutex> lock(mutex);
    tokens = 3;
  }
  cv.notify_all();
  s.run_until_idle();
  EXPECT_EQ(woken, 4);
}

TEST(CondVarTest, WaitUntilReportsTimeoutWithTheLockHeld) {
  Scheduler& s = Scheduler::this_thread();
  Mutex mutex;
  CondVar cv;
  std::cv_status status = std::cv_status::no_timeout;
  bool held_after = false;
  s.spawn([&] {
    std::unique_lock<Mutex> lock(mutex);
    auto start = std::chrono::steady_clock::now();
    status = cv.wait_until(lock, start + 10ms);
    EXPECT_GE(std::chrono::steady_clock::now(), start + 10ms);
    held_after = !mutex.try_lock();
  }, {})->release();
  s.run_until_idle();
  EXPECT_EQ(status, std::cv_status::timeout);
  EXPECT_TRUE(held_after);
}

TEST(WaitGroupTest, PlainThreadWaitsForCoroutines) {
  WaitGroup group;
  std::atomic<int> done{0};
  group.add(50);
  std::thread runner([&] {
    Runtime runtime(2);
    runtime.run([&] {
      for (int i = 0; i < 50; ++i)
        go([&, i] {
          this_coroutine::sleep_for(std::chrono::milliseconds(i % 5));
          ++done;
          group.done();
        });
    });
  });
  group.wait();  // blocks this OS thread on a futex, not a coroutine
  EXPECT_EQ(done.load(), 50);
  runner.join();
}

TEST(WaitGroupDeathTest, NegativeCounterIsReported) {
  EXPECT_DEATH(
      {
        WaitGroup g;
        g.done();
      },
      "WaitGroup counter went negative");
}

TEST(ChannelTest, BufferedChannelAcrossThreadsDeliversEverythingInOrderPerSender) {
  Runtime runtime(2);
  Channel<int> channel(8);
  std::vector<int> received;
  runtime.run([&] {
    WaitGroup senders;
    for (int s = 0; s < 4; ++s) {
      senders.add();
      go([&, s] {
        for (int i = 0; i < 250; ++i) EXPECT_TRUE(channel.send(s * 1000 + i));
        senders.done();
      });
    }
    go([&] {
      senders.wait();
      channel.close();
    });
    while (auto v = channel.recv()) received.push_back(*v);
  });
  ASSERT_EQ(received.size(), 1000u);
  std::vector<int> last(4, -1);
  for (int v : received) {
    EXPECT_GT(v % 1000, last[v / 1000]) << "per-sender order";
    last[v / 1000] = v % 1000;
  }
}

TEST(ChannelTest, UnbufferedSendWaitsForAReceiver) {
  Scheduler& s = Scheduler::this_thread();
  Channel<std::string> channel;
  std::vector<std::string> trace;
  s.spawn([&] {
    trace.push_back("send start");
    EXPECT_TRUE(channel.send("hello"));
    trace.push_back("send done");
  }, {})->release();
  s.spawn([&] {
    trace.push_back("recv start");
    this_coroutine::yield();
    this_coroutine::yield();
    auto v = channel.recv();
    trace.push_back("got " + v.value_or("nothing"));
  }, {})->release();
  s.run_until_idle();
  EXPECT_THAT(trace, ::testing::ElementsAre("send start", "recv start", "got hello", "send done"));
}

TEST(ChannelTest, CloseWakesBlockedSendersAndReceivers) {
  Scheduler& s = Scheduler::this_thread();
  Channel<int> unbuffered, full(1);
  bool send_result = true, full_send_result = true;
  std::optional<int> recv_result = 42;
  ASSERT_TRUE(full.send(1));  // fills it: the next send blocks
  s.spawn([&] { send_result = unbuffered.send(7); }, {})->release();
  s.spawn([&] { full_send_result = full.send(2); }, {})->release();
  Channel<int> empty;
  s.spawn([&] { recv_result = empty.recv(); }, {})->release();
  s.run_once(0);
  unbuffered.close();
  full.close();
  empty.close();
  s.run_until_idle();
  EXPECT_FALSE(send_result) << "closed before anyone took it: not delivered";
  EXPECT_FALSE(full_send_result);
  EXPECT_EQ(recv_result, std::nullopt);
  EXPECT_EQ(full.recv(), 1) << "what was buffered before close still drains";
  EXPECT_EQ(full.recv(), std::nullopt);
  EXPECT_FALSE(full.send(3));
}

TEST(JoinTest, JoinFromAnotherThreadsCoroutineAndFromAPlainThread) {
  Runtime runtime(2);
  std::atomic<int> order{0};
  int child_done_at = -1, joined_at = -1;
  runtime.run([&] {
    JoinHandle child = go([&] {
      this_coroutine::sleep_for(10ms);
      child_done_at = order++;
    });
    child.join();
    joined_at = order++;
    EXPECT_FALSE(child.joinable());
  });
  EXPECT_EQ(child_done_at, 0);
  EXPECT_EQ(joined_at, 1);
}

}  // namespace
}  // namespace cohook
