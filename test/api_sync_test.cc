// Semaphore, SharedMutex, Once and Barrier: coroutines on two scheduler threads and plain
// threads contending for the same object.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "cohook/cohook.hpp"

namespace cohook {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Runs `body(i)` in `coroutines` coroutines of a two-thread Runtime and `threads` plain threads
// at the same time; returns when all have finished.
template <class Body>
void contend(int coroutines, int threads, Body body) {
  Runtime runtime(2);
  runtime.run([&] {
    TaskGroup group;
    for (int i = 0; i < coroutines; ++i) group.spawn([&, i] { body(i); });
    WaitGroup plain_done;
    plain_done.add(threads);
    std::vector<std::thread> plain;
    for (int i = 0; i < threads; ++i)
      plain.emplace_back([&, i] {
        body(coroutines + i);
        plain_done.done();
      });
    group.wait();
    plain_done.wait();  // parks: joining first would block this scheduler thread
    for (auto& t : plain) t.join();
  });
}

TEST(SemaphoreTest, NeverMoreHoldersThanPermits) {
  Semaphore slots(3);
  std::atomic<int> inside{0}, most{0};
  contend(12, 3, [&](int) {
    for (int round = 0; round < 50; ++round) {
      slots.acquire();
      int now = inside.fetch_add(1) + 1;
      for (int seen = most.load(); now > seen && !most.compare_exchange_weak(seen, now);) {
      }
      if (this_coroutine::inside())
        this_coroutine::yield();
      else
        std::this_thread::yield();
      inside.fetch_sub(1);
      slots.release();
    }
  });
  EXPECT_LE(most.load(), 3);
  EXPECT_GE(most.load(), 1);
  EXPECT_EQ(slots.available(), 3);
}

TEST(SemaphoreTest, TryAcquireForTimesOutThenReleaseHandsThePermitOver) {
  Runtime runtime(2);
  runtime.run([] {
    Semaphore sem(0);
    EXPECT_FALSE(sem.try_acquire());
    auto start = Clock::now();
    EXPECT_FALSE(sem.try_acquire_for(100ms));
    EXPECT_GE(Clock::now() - start, 100ms);
    auto waiter = go([&] { return sem.try_acquire_for(30s); });
    std::thread releaser([&] {
      std::this_thread::sleep_for(20ms);
      sem.release();
    });
    EXPECT_TRUE(waiter.join());
    releaser.join();
    EXPECT_EQ(sem.available(), 0);
  });
  EXPECT_THROW(Semaphore(-1), std::invalid_argument);
}

TEST(SharedMutexTest, ReadersShareWritersExclude) {
  SharedMutex mutex;
  std::atomic<int> readers{0}, writers{0}, most_readers{0};
  std::atomic<bool> broken{false};
  long value = 0;
  contend(10, 2, [&](int i) {
    for (int round = 0; round < 100; ++round) {
      if ((i + round) % 4 == 0) {
        std::unique_lock<SharedMutex> lock(mutex);
        if (writers.fetch_add(1) != 0 || readers.load() != 0) broken = true;
        ++value;
        if (this_coroutine::inside()) this_coroutine::yield();
        writers.fetch_sub(1);
      } else {
        std::shared_lock<SharedMutex> lock(mutex);
        int now = readers.fetch_add(1) + 1;
        if (writers.load() != 0) broken = true;
        for (int seen = most_readers.load(); now > seen && !most_readers.compare_exchange_weak(seen, now);) {
        }
        if (this_coroutine::inside()) this_coroutine::yield();
        readers.fetch_sub(1);
      }
    }
  });
  EXPECT_FALSE(broken.load());
  EXPECT_EQ(value, 12 * 100 / 4);
}

TEST(SharedMutexTest, AWaitingWriterHoldsBackNewReaders) {
  Runtime runtime(2);
  runtime.run([] {
    SharedMutex mutex;
    mutex.lock_shared();
    std::atomic<bool> writer_in{false};
    auto writer = go([&] {
      std::lock_guard<SharedMutex> lock(mutex);
      writer_in = true;
    });
    // Once the writer queues, a new reader must not get in ahead of it.
    bool blocked = false;
    for (auto give_up = Clock::now() + 10s; !blocked && Clock::now() < give_up;) {
      if (mutex.try_lock_shared()) {
        mutex.unlock_shared();
        this_coroutine::sleep_for(1ms);
      } else {
        blocked = true;
      }
    }
    EXPECT_TRUE(blocked);
    EXPECT_FALSE(writer_in.load());
    EXPECT_FALSE(mutex.try_lock_shared_for(20ms));
    mutex.unlock_shared();
    writer.join();
    EXPECT_TRUE(writer_in.load());
    EXPECT_TRUE(mutex.try_lock_shared());
    EXPECT_FALSE(mutex.try_lock_for(20ms));
    mutex.unlock_shared();
    EXPECT_TRUE(mutex.try_lock());
    mutex.unlock();
  });
}

TEST(SharedMutexTest, AWriterTimingOutLetsTheReadersQueuedBehindItIn) {
  Runtime runtime(2);
  runtime.run([] {
    SharedMutex mutex;
    mutex.lock_shared();
    auto writer = go([&] { return mutex.try_lock_for(200ms); });
    this_coroutine::sleep_for(50ms);  // the writer queues (a wrong guess only weakens the test)
    auto reader = go([&] {
      std::shared_lock<SharedMutex> lock(mutex);  // queues behind the writer, gets in when it gives up
      return true;
    });
    EXPECT_FALSE(writer.join());
    EXPECT_TRUE(reader.join());
    mutex.unlock_shared();
  });
}

TEST(OnceTest, RunsOnceForEveryCallerAndEveryCallerSeesItDone) {
  Once once;
  std::atomic<int> runs{0}, saw_undone{0};
  std::atomic<bool> finished{false};
  contend(16, 4, [&](int) {
    call_once(once, [&] {
      runs.fetch_add(1);
      if (this_coroutine::inside())
        this_coroutine::sleep_for(20ms);
      else
        std::this_thread::sleep_for(20ms);
      finished = true;
    });
    if (!finished.load()) saw_undone.fetch_add(1);
  });
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(saw_undone.load(), 0);
  EXPECT_TRUE(once.done());
}

TEST(OnceTest, AnExceptionLeavesItUnusedAndTheNextCallerRetries) {
  Once once;
  std::atomic<int> attempts{0}, threw{0};
  contend(6, 2, [&](int) {
    try {
      call_once(once, [&] {
        if (attempts.fetch_add(1) < 2) throw std::runtime_error("not yet");
      });
    } catch (const std::runtime_error&) {
      threw.fetch_add(1);
    }
  });
  EXPECT_EQ(attempts.load(), 3);  // two failures, then one success; nobody runs it after that
  EXPECT_EQ(threw.load(), 2);
  EXPECT_TRUE(once.done());
}

TEST(BarrierTest, PhasesKeepEveryPartyInStepAndOneIsTheLast) {
  constexpr int kParties = 6, kPhases = 100;
  Barrier barrier(kParties);
  std::atomic<int> phase_counter[kPhases] = {};
  std::atomic<int> lasts{0};
  std::atomic<bool> out_of_step{false};
  contend(4, 2, [&](int) {
    for (int phase = 0; phase < kPhases; ++phase) {
      phase_counter[phase].fetch_add(1);
      if (barrier.arrive_and_wait()) lasts.fetch_add(1);
      // Everybody arrived for this phase before anybody left it.
      if (phase_counter[phase].load() != kParties) out_of_step = true;
    }
  });
  EXPECT_FALSE(out_of_step.load());
  EXPECT_EQ(lasts.load(), kPhases);
  EXPECT_THROW(Barrier(0), std::invalid_argument);
}

}  // namespace
}  // namespace cohook
