// TaskGroup, Future<T>, Runtime::spawn from plain threads, exceptions leaving run(), the
// SpawnOptions check and this_coroutine::name.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cohook/cohook.hpp"

namespace cohook {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

TEST(TaskGroupTest, WaitRethrowsTheFailingMembersExceptionAndMembersSeeTheCancellation) {
  Runtime runtime(2);
  std::atomic<int> stopped_early{0}, finished{0};
  runtime.run([&] {
    TaskGroup group;
    for (int i = 0; i < 8; ++i) {
      group.spawn([&, i] {
        if (i == 3) {
          this_coroutine::sleep_for(20ms);
          throw std::runtime_error("member 3 failed");
        }
        // The others work until cancelled (bounded, so a broken flag fails instead of hanging).
        for (int step = 0; step < 3000; ++step) {
          if (group.cancelled()) {
            stopped_early.fetch_add(1);
            return;
          }
          this_coroutine::sleep_for(1ms);
        }
        finished.fetch_add(1);
      });
    }
    try {
      group.wait();
      ADD_FAILURE() << "wait() did not rethrow";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "member 3 failed");
    }
    EXPECT_TRUE(group.cancelled());
    group.wait();  // rethrown once: the group is clean again
  });
  EXPECT_EQ(stopped_early.load(), 7);
  EXPECT_EQ(finished.load(), 0);
}

TEST(TaskGroupTest, DestructorWaitsSoMembersMayUseTheBlocksLocals) {
  Runtime runtime(2);
  std::vector<int> results;
  runtime.run([&] {
    std::vector<int> local(16, 0);  // dies at the end of this lambda
    {
      TaskGroup group;
      for (int i = 0; i < 16; ++i)
        group.spawn([&local, i] {
          this_coroutine::sleep_for(std::chrono::milliseconds(i % 4));
          local[i] = i * i;
        });
    }  // ~TaskGroup waits here
    results = local;
  });
  for (int i = 0; i < 16; ++i) EXPECT_EQ(results[i], i * i);
}

TEST(TaskGroupTest, APlainThreadRunsAGroupOnARuntime) {
  Runtime runtime(2);
  std::atomic<long> sum{0};
  std::exception_ptr error;
  runtime.run([&] {
    WaitGroup done;
    done.add(1);
    std::thread plain([&] {
      try {
        TaskGroup group(runtime);
        for (int i = 1; i <= 100; ++i) group.spawn([&, i] { sum += i; });
        group.spawn([] { throw std::out_of_range("from a member"); });
        group.wait();
      } catch (...) {
        error = std::current_exception();
      }
      done.done();
    });
    done.wait();
    plain.join();
  });
  EXPECT_EQ(sum.load(), 5050);
  ASSERT_TRUE(error);
  EXPECT_THROW(std::rethrow_exception(error), std::out_of_range);
}

TEST(FutureTest, JoinReturnsTheValueOrRethrows) {
  Runtime runtime(2);
  runtime.run([] {
    auto answer = go([] { return 42; });
    auto text = go([] { return std::string("forty-two"); });
    auto failing = go([]() -> int { throw std::invalid_argument("no value"); });
    EXPECT_EQ(answer.join(), 42);
    EXPECT_EQ(text.join(), "forty-two");
    EXPECT_THROW(failing.join(), std::invalid_argument);
    EXPECT_FALSE(answer.joinable());
    EXPECT_THROW(answer.join(), std::logic_error);
  });
}

TEST(RuntimeSpawnTest, EightPlainThreadsSpawnAndJoin) {
  Runtime runtime(2);
  constexpr int kThreads = 8, kEach = 50;
  std::atomic<int> ran{0}, on_scheduler{0};
  std::vector<long> sums(kThreads, 0);
  std::vector<std::thread> threads;
  runtime.run([&] {
    WaitGroup done;
    done.add(kThreads);
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        std::vector<Future<int>> futures;
        std::vector<JoinHandle> handles;
        for (int i = 0; i < kEach; ++i) {
          futures.push_back(runtime.spawn([i] { return i; }));
          handles.push_back(runtime.spawn([&] {
            ran.fetch_add(1);
            if (this_coroutine::inside()) on_scheduler.fetch_add(1);
          }));
        }
        for (auto& f : futures) sums[t] += f.join();
        for (auto& h : handles) h.join();
        done.done();
      });
    done.wait();
  });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ran.load(), kThreads * kEach);
  EXPECT_EQ(on_scheduler.load(), kThreads * kEach);
  for (long s : sums) EXPECT_EQ(s, kEach * (kEach - 1) / 2);
}

TEST(RuntimeSpawnTest, RunWaitsForCoroutinesSpawnedFromOutside) {
  Runtime runtime(2);
  std::atomic<bool> late_ran{false};
  std::thread outsider;
  Channel<int> spawned(1);
  runtime.run([&] {
    go([&] { spawned.recv(); });  // keeps the runtime running until the outsider has spawned
    outsider = std::thread([&] {
      runtime.spawn([&] {
        this_coroutine::sleep_for(50ms);
        late_ran = true;
      });
      spawned.send(1);  // from here on only the outsider's coroutine keeps run() going
    });
  });
  outsider.join();
  EXPECT_TRUE(late_ran.load());
  try {
    runtime.spawn([] {});
    ADD_FAILURE() << "spawn on a runtime that is not running must throw";
  } catch (const std::logic_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("not running"));
  }
}

TEST(RuntimeTest, GoFromAPlainThreadThrowsAClearError) {
  std::thread plain([] {
    try {
      go([] {});
      ADD_FAILURE() << "go() outside any coroutine must throw";
    } catch (const std::logic_error& e) {
      EXPECT_THAT(e.what(), HasSubstr("Runtime::spawn"));
    }
  });
  plain.join();
}

TEST(RuntimeTest, AnExceptionEscapingMainLeavesRunAfterTheOthersFinish) {
  Runtime runtime(2);
  std::atomic<bool> other_finished{false};
  try {
    runtime.run([&] {
      go([&] {
        this_coroutine::sleep_for(50ms);
        other_finished = true;
      });
      throw std::domain_error("main failed");
    });
    ADD_FAILURE() << "run() did not rethrow";
  } catch (const std::domain_error& e) {
    EXPECT_STREQ(e.what(), "main failed");
    EXPECT_TRUE(other_finished.load());
  }
  // The runtime can run again.
  int value = 0;
  runtime.run([&] { value = go([] { return 7; }).join(); });
  EXPECT_EQ(value, 7);
}

TEST(RuntimeTest, SpawnOptionsOutsideTheStackRangeAreRejected) {
  Runtime runtime(2);
  runtime.run([] {
    for (std::size_t bad :
         {std::size_t{1}, std::size_t{16 * 1024 - 1}, (std::size_t{1} << 30) + 1, std::size_t{2} << 30}) {
      try {
        go([] {}, SpawnOptions{bad, "bad"});
        ADD_FAILURE() << bad << " accepted";
      } catch (const std::invalid_argument& e) {
        EXPECT_THAT(e.what(), HasSubstr("SpawnOptions::stack_size=" + std::to_string(bad)));
        EXPECT_THAT(e.what(), HasSubstr("16K to 1G"));
      }
    }
    go([] {}, SpawnOptions{16 * 1024, "smallest"}).join();
    go([] {}, SpawnOptions{0, "default"}).join();
  });
}

TEST(RuntimeTest, ThisCoroutineNameIsTheSpawnName) {
  Runtime runtime(2);
  std::string main_name, worker_name;
  runtime.run([&] {
    main_name = this_coroutine::name();
    go([&] { worker_name = this_coroutine::name(); }, SpawnOptions{0, "worker"}).join();
  });
  EXPECT_EQ(main_name, "main");
  EXPECT_EQ(worker_name, "worker");
  EXPECT_EQ(this_coroutine::name(), "");
}

TEST(RuntimeDeathTest, UncaughtExceptionNamesTheDemangledType) {
  EXPECT_DEATH(
      {
        Runtime runtime(1);
        runtime.run([] { go([] { throw std::length_error("too long"); }, SpawnOptions{0, "thrower"}); });
      },
      "coroutine #[0-9]+ 'thrower' ended with an uncaught exception std::length_error: too long");
}

TEST(RuntimeDeathTest, AFutureDroppedWithAnExceptionIsReported) {
  EXPECT_DEATH(
      {
        Runtime runtime(1);
        runtime.run([] { go([]() -> int { throw std::runtime_error("lost"); }); });
      },
      "ended with an exception that nobody joined: std::runtime_error: lost");
}

}  // namespace
}  // namespace cohook
