// Cross-thread hand-offs hammered until a lost wake-up or a use-after-free has nowhere to hide:
// Mutex, CondVar, Channel (capacities 0, 1 and 64), WaitGroup and Baton between coroutines on
// the two threads of a Runtime(2) and plain threads, with timeouts racing posts, each case once
// alone and once with CPU hogs (plain threads spinning) competing for the cores.
//
// Each case runs until it has done its operations or spent its time budget, whichever comes
// first, so `make test` stays bounded on a slow machine; `make stress` raises both.
//   COHOOK_STRESS_SCALE    multiplies the operation counts (default 1; 0.05 under sanitizers)
//   COHOOK_STRESS_SECONDS  time budget per case (default 2.5; 1 under sanitizers)
// A case that has not finished its budget plus a minute later is a hang: the watchdog names it
// and aborts, so a lost wake-up fails the run instead of stalling it.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "cohook/cohook.hpp"
#include "sched/baton.h"
#include "sched/runtime_state.h"
#include "sched/scheduler.h"

namespace cohook {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr double kDefaultScale = 0.05;
constexpr double kDefaultSeconds = 1;
#else
constexpr double kDefaultScale = 1;
constexpr double kDefaultSeconds = 2.5;
#endif

double env_number(const char* name, double fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  double value = std::strtod(text, &end);
  if (end == text || *end != '\0' || value <= 0) {
    std::fprintf(stderr, "%s=%s: expected a positive number\n", name, text);
    std::exit(2);
  }
  return value;
}

long scaled(long operations) {
  static const double scale = env_number("COHOOK_STRESS_SCALE", kDefaultScale);
  return std::max(1L, static_cast<long>(static_cast<double>(operations) * scale));
}

Clock::duration budget() {
  static const double seconds = env_number("COHOOK_STRESS_SECONDS", kDefaultSeconds);
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

// Aborts the process, naming the case, if the case outlives its budget by a minute.
class Watchdog {
 public:
  explicit Watchdog(std::string name) : name_(std::move(name)) {
    thread_ = std::thread([this] {
      std::unique_lock<std::mutex> lock(mutex_);
      if (!cv_.wait_for(lock, budget() + 60s, [this] { return done_; })) {
        std::fprintf(stderr, "stress: %s hung (lost wake-up?)\n", name_.c_str());
        std::abort();
      }
    });
  }
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

 private:
  std::string name_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// Plain threads that only spin, so the scheduler threads are preempted at random points.
class CpuHogs {
 public:
  explicit CpuHogs(int count) {
    for (int i = 0; i < count; ++i)
      threads_.emplace_back([this] {
        while (!stop_.load(std::memory_order_relaxed)) {
        }
      });
  }
  ~CpuHogs() {
    stop_.store(true);
    for (auto& t : threads_) t.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

// When a case must stop: its operations done (checked by the caller) or its budget spent.
class Deadline {
 public:
  Deadline() : end_(Clock::now() + budget()) {}
  bool passed() const { return Clock::now() >= end_; }

 private:
  Clock::time_point end_;
};

// A plain OS thread whose join() parks the calling coroutine instead of blocking its scheduler
// thread (std::thread::join would: coroutines on that thread could never run meanwhile).
class PlainThread {
 public:
  explicit PlainThread(std::function<void()> fn) {
    finished_.add(1);
    thread_ = std::thread([this, fn = std::move(fn)] {
      fn();
      finished_.done();
    });
  }
  ~PlainThread() {
    if (thread_.joinable()) join();
  }
  void join() {
    finished_.wait();
    thread_.join();
  }

 private:
  WaitGroup finished_;
  std::thread thread_;
};

// A coroutine on scheduler thread `thread` of the running Runtime (go() may place anywhere).
JoinHandle go_on(int thread, std::function<void()> fn) {
  Runtime::State* runtime = Scheduler::current()->runtime();
  Scheduler* target = runtime->schedulers[static_cast<std::size_t>(thread) % runtime->schedulers.size()];
  return JoinHandle(target->spawn(std::move(fn), SpawnOptions{}));
}

class StressTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    watchdog_ = std::make_unique<Watchdog>(std::string(info->test_suite_name()) + "." + info->name());
    hogs_ = std::make_unique<CpuHogs>(GetParam());
  }
  void TearDown() override {
    hogs_.reset();
    watchdog_.reset();
  }
  static void report(const char* what, long operations) {
    std::printf("  %s: %ld operations\n", what, operations);
  }

 private:
  std::unique_ptr<Watchdog> watchdog_;
  std::unique_ptr<CpuHogs> hogs_;
};

// Lock hand-offs between coroutines on both threads and a plain thread; some waits are
// try_lock_for with timeouts short enough to race the unlock that hands them the lock.
TEST_P(StressTest, MutexExcludesAndHandsOffAcrossThreads) {
  constexpr int kCoroutines = 6;
  const long per_worker = scaled(150'000);
  Mutex mutex;
  long counter = 0;  // guarded by mutex; a lost exclusion shows as a wrong total
  int inside = 0, overlaps = 0;
  std::atomic<long> acquired{0}, timeouts{0};
  Deadline deadline;
  auto worker = [&](unsigned seed) {
    std::minstd_rand random(seed);
    for (long i = 0; i < per_worker && (i % 64 != 0 || !deadline.passed()); ++i) {
      bool timed = random() % 4 == 0;
      if (timed) {
        if (!mutex.try_lock_for(std::chrono::microseconds(random() % 50))) {
          timeouts.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
      } else {
        mutex.lock();
      }
      if (++inside != 1) ++overlaps;
      ++counter;
      if (random() % 16 == 0) this_coroutine::yield();  // park while holding it
      --inside;
      mutex.unlock();
      acquired.fetch_add(1, std::memory_order_relaxed);
    }
  };
  Runtime runtime(2);
  runtime.run([&] {
    std::vector<JoinHandle> handles;
    for (int c = 0; c < kCoroutines; ++c) handles.push_back(go_on(c, [&, c] { worker(c + 1); }));
    PlainThread plain([&] { worker(99); });
    for (auto& h : handles) h.join();
    plain.join();
  });
  EXPECT_EQ(overlaps, 0);
  EXPECT_EQ(counter, acquired.load());
  report("locks", acquired.load() + timeouts.load());
}

// A queue guarded by Mutex + CondVar: consumers wait with timeouts that race the producers'
// notify_one; every item must arrive exactly once.
TEST_P(StressTest, CondVarDeliversEveryItemDespiteRacingTimeouts) {
  const long items = scaled(300'000);
  Mutex mutex;
  CondVar ready;
  std::deque<long> queue;
  bool producers_done = false;
  std::atomic<long> received{0}, received_sum{0}, produced{0}, produced_sum{0}, timeouts{0};
  Deadline deadline;
  auto consume = [&](unsigned seed) {
    std::minstd_rand random(seed);
    std::unique_lock<Mutex> lock(mutex);
    for (;;) {
      if (!queue.empty()) {
        long v = queue.front();
        queue.pop_front();
        received.fetch_add(1, std::memory_order_relaxed);
        received_sum.fetch_add(v, std::memory_order_relaxed);
        continue;
      }
      if (producers_done) return;
      if (random() % 2 == 0) {
        if (ready.wait_for(lock, std::chrono::microseconds(random() % 100)) == std::cv_status::timeout)
          timeouts.fetch_add(1, std::memory_order_relaxed);
      } else {
        ready.wait(lock);
      }
    }
  };
  auto produce = [&](long first, long step) {
    for (long v = first; v < items && (v % 256 != first || !deadline.passed()); v += step) {
      std::lock_guard<Mutex> lock(mutex);
      queue.push_back(v);
      ready.notify_one();
      produced.fetch_add(1, std::memory_order_relaxed);
      produced_sum.fetch_add(v, std::memory_order_relaxed);
    }
  };
  Runtime runtime(2);
  runtime.run([&] {
    std::vector<JoinHandle> consumers;
    for (int c = 0; c < 4; ++c) consumers.push_back(go_on(c, [&, c] { consume(c + 7); }));
    PlainThread plain_consumer([&] { consume(3); });
    JoinHandle p0 = go_on(0, [&] { produce(0, 3); });
    JoinHandle p1 = go_on(1, [&] { produce(1, 3); });
    PlainThread plain_producer([&] { produce(2, 3); });
    p0.join();
    p1.join();
    plain_producer.join();
    {
      std::lock_guard<Mutex> lock(mutex);
      producers_done = true;
      ready.notify_all();
    }
    for (auto& c : consumers) c.join();
    plain_consumer.join();
  });
  EXPECT_EQ(received.load(), produced.load());
  EXPECT_EQ(received_sum.load(), produced_sum.load());
  report("items", produced.load());
}

// Producers and consumers of one Channel on both threads (and a plain thread on each side):
// every value arrives once, and close() ends every receiver.
void channel_case(std::size_t capacity, long items) {
  Channel<long> channel(capacity);
  std::atomic<long> sent{0}, sent_sum{0}, received{0}, received_sum{0};
  Deadline deadline;
  auto produce = [&](long first, long step) {
    for (long v = first; v < items && (v % 256 != first || !deadline.passed()); v += step) {
      ASSERT_TRUE(channel.send(v));
      sent.fetch_add(1, std::memory_order_relaxed);
      sent_sum.fetch_add(v, std::memory_order_relaxed);
    }
  };
  auto consume = [&] {
    while (auto v = channel.recv()) {
      received.fetch_add(1, std::memory_order_relaxed);
      received_sum.fetch_add(*v, std::memory_order_relaxed);
    }
  };
  Runtime runtime(2);
  runtime.run([&] {
    std::vector<JoinHandle> consumers;
    for (int c = 0; c < 3; ++c) consumers.push_back(go_on(c, consume));
    PlainThread plain_consumer(consume);
    JoinHandle p0 = go_on(1, [&] { produce(0, 3); });
    JoinHandle p1 = go_on(0, [&] { produce(1, 3); });
    PlainThread plain_producer([&] { produce(2, 3); });
    p0.join();
    p1.join();
    plain_producer.join();
    channel.close();
    for (auto& c : consumers) c.join();
    plain_consumer.join();
  });
  EXPECT_EQ(received.load(), sent.load());
  EXPECT_EQ(received_sum.load(), sent_sum.load());
  std::printf("  capacity %zu: %ld values\n", capacity, sent.load());
}

TEST_P(StressTest, UnbufferedChannelDeliversEveryValueOnce) { channel_case(0, scaled(200'000)); }
TEST_P(StressTest, ChannelOfOneDeliversEveryValueOnce) { channel_case(1, scaled(300'000)); }
TEST_P(StressTest, ChannelOf64DeliversEveryValueOnce) { channel_case(64, scaled(1'000'000)); }

// Unbuffered (and one-slot) hand-offs where either side may give up: timed sends and receives
// race the partner's arrival on the other thread, a blocked receiver (parked, or spinning on its
// baton before parking) races the close that ends each round, and a send that returned false
// must never be received. Every value that a send reported delivered arrives exactly once.
TEST_P(StressTest, ChannelHandOffsRaceTimeoutsAndClose) {
  const long rounds = scaled(20'000);
  std::atomic<long> sent{0}, sent_sum{0}, received{0}, received_sum{0}, gave_up{0};
  long round = 0;
  Deadline deadline;
  Runtime runtime(2);
  runtime.run([&] {
    for (; round < rounds && (round % 16 != 0 || !deadline.passed()); ++round) {
      Channel<long> channel(round % 4 == 3 ? 1 : 0);
      unsigned seed = static_cast<unsigned>(round) + 1;
      JoinHandle consumer = go_on(1, [&, seed] {
        std::minstd_rand random(seed * 7919);
        auto take = [&](long v) {
          received.fetch_add(1, std::memory_order_relaxed);
          received_sum.fetch_add(v, std::memory_order_relaxed);
        };
        for (;;) {
          std::optional<long> v =
              random() % 2 == 0 ? channel.recv_for(std::chrono::microseconds(random() % 40)) : channel.recv();
          if (v) {
            take(*v);
          } else if (channel.closed()) {
            while (auto rest = channel.try_recv()) take(*rest);  // what the buffer still holds
            return;
          } else {
            gave_up.fetch_add(1, std::memory_order_relaxed);
          }
        }
      });
      JoinHandle producer = go_on(0, [&, seed] {
        std::minstd_rand random(seed * 104729);
        long items = random() % 8;
        for (long i = 0; i < items; ++i) {
          long v = round * 8 + i + 1;
          bool delivered =
              random() % 2 == 0 ? channel.send_for(v, std::chrono::microseconds(random() % 40)) : channel.send(v);
          if (delivered) {
            sent.fetch_add(1, std::memory_order_relaxed);
            sent_sum.fetch_add(v, std::memory_order_relaxed);
          } else {
            gave_up.fetch_add(1, std::memory_order_relaxed);
          }
        }
        for (unsigned spin = random() % 2048; spin > 0; --spin) asm volatile("");
        channel.close();
      });
      producer.join();
      consumer.join();
    }
  });
  EXPECT_EQ(received.load(), sent.load());
  EXPECT_EQ(received_sum.load(), sent_sum.load());
  std::printf("  rounds: %ld, values: %ld, timed out: %ld\n", round, sent.load(), gave_up.load());
}

// Receivers on one shared stack: while one waits, the other occupies the stack and its frames
// are copied away, so what a sender on the other thread hands over must not land in them.
TEST_P(StressTest, ChannelReceiversOnASharedStackGetEveryValue) {
  const long items = scaled(100'000);
  Channel<long> channel(0);
  std::atomic<long> received{0}, received_sum{0}, out_of_order{0};
  long sent = 0, sent_sum = 0;
  Deadline deadline;
  Runtime runtime(2);
  runtime.run([&] {
    JoinHandle receivers = go_on(1, [&] {
      coctx::SharedStack stack(128 * 1024);
      auto consume = [&] {
        // One producer sends in order, so each receiver's values rise: `last` lives in the frame
        // that is copied away and back, a witness that it comes back intact.
        long last = 0;
        while (auto v = channel.recv()) {
          if (*v <= last) out_of_order.fetch_add(1, std::memory_order_relaxed);
          last = *v;
          received.fetch_add(1, std::memory_order_relaxed);
          received_sum.fetch_add(*v, std::memory_order_relaxed);
        }
      };
      Scheduler* here = Scheduler::current();
      Coroutine* a = here->create(consume, SpawnOptions{}, &stack);
      Coroutine* b = here->create(consume, SpawnOptions{}, &stack);
      JoinHandle ja(a), jb(b);
      a->resume();
      b->resume();
      ja.join();
      jb.join();
    });
    JoinHandle producer = go_on(0, [&] {
      for (long v = 1; v <= items && (v % 256 != 0 || !deadline.passed()); ++v) {
        ASSERT_TRUE(channel.send(v));
        ++sent;
        sent_sum += v;
      }
      channel.close();
    });
    producer.join();
    receivers.join();
  });
  EXPECT_EQ(received.load(), sent);
  EXPECT_EQ(received_sum.load(), sent_sum);
  EXPECT_EQ(out_of_order.load(), 0);
  report("values", sent);
}

// Rounds of fan-out/fan-in: a coroutine adds N, N coroutines on both threads call done(), the
// coroutine waits; a plain thread waits on the same group in parallel.
TEST_P(StressTest, WaitGroupRoundsAcrossThreads) {
  const long rounds = scaled(40'000);
  constexpr int kFanOut = 4;
  std::atomic<long> finished{0};
  long round = 0;
  Deadline deadline;
  Runtime runtime(2);
  runtime.run([&] {
    for (; round < rounds && (round % 64 != 0 || !deadline.passed()); ++round) {
      WaitGroup group;
      group.add(kFanOut);
      for (int i = 0; i < kFanOut; ++i)
        go_on(i, [&] {
          finished.fetch_add(1, std::memory_order_relaxed);
          group.done();
        }).detach();
      std::thread plain;
      if (round % 256 == 0) plain = std::thread([&] { group.wait(); });
      group.wait();
      ASSERT_EQ(finished.load(), (round + 1) * kFanOut);
      if (plain.joinable()) plain.join();
    }
  });
  EXPECT_EQ(finished.load(), round * kFanOut);
  report("rounds", round);
}

// One-shot batons posted from the other thread at random moments, waited on with deadlines that
// race the post: a wait that returns true must have been posted, a wait must always return, and
// a baton is destroyed only once its post is known to be over.
TEST_P(StressTest, BatonPostsRaceTimeouts) {
  const long rounds = scaled(300'000);
  struct Round {
    Baton baton;
    std::atomic<bool> post_started{false};
  };
  constexpr int kInFlight = 256;
  std::vector<Round> slots(kInFlight);
  std::atomic<long> next_to_post{0}, waited{0}, timed_out{0}, wrong{0};
  std::atomic<bool> stop{false};
  long done_rounds = 0;
  Deadline deadline;
  Runtime runtime(2);
  runtime.run([&] {
    // Waiter on thread 0, poster on thread 1; slot r % kInFlight is reused only after the
    // poster has moved past it (post_started) and await_post() said its post is over. A busy
    // neighbour keeps thread 0 out of epoll_wait, so that a round costs microseconds (a thread
    // woken from epoll_wait on a loaded machine takes milliseconds to get a CPU) and posts
    // land at every point of the wait, its first instructions included.
    JoinHandle neighbour = go_on(0, [&] {
      while (!stop.load(std::memory_order_acquire)) this_coroutine::yield();
    });
    JoinHandle poster = go_on(1, [&] {
      std::minstd_rand random(5);
      for (long r = 0; !stop.load(std::memory_order_acquire); ++r) {
        for (int polls = 0; next_to_post.load(std::memory_order_acquire) <= r; ++polls) {
          if (stop.load(std::memory_order_acquire)) return;
          if (polls > 1000) this_coroutine::yield();
        }
        Round& slot = slots[static_cast<std::size_t>(r % kInFlight)];
        for (unsigned spin = random() % 256; spin > 0; --spin) asm volatile("");
        if (random() % 32 == 0) this_coroutine::yield();
        slot.post_started.store(true, std::memory_order_release);
        slot.baton.post();
      }
    });
    JoinHandle waiter = go_on(0, [&] {
      std::minstd_rand random(9);
      long r = 0;
      for (; r < rounds && (r % 64 != 0 || !deadline.passed()); ++r) {
        Round& slot = slots[static_cast<std::size_t>(r % kInFlight)];
        next_to_post.store(r + 1, std::memory_order_release);
        bool posted = slot.baton.wait_until(Clock::now() + std::chrono::microseconds(random() % 30), "stress");
        if (posted && !slot.post_started.load(std::memory_order_acquire)) wrong.fetch_add(1);
        if (!posted) {
          timed_out.fetch_add(1, std::memory_order_relaxed);
          while (!slot.post_started.load(std::memory_order_acquire)) this_coroutine::yield();
        }
        slot.baton.await_post();
        // Ready for reuse: a fresh baton in place (the post above has finished with the old one).
        slot.baton.~Baton();
        new (&slot.baton) Baton();
        slot.post_started.store(false, std::memory_order_relaxed);
        waited.fetch_add(1, std::memory_order_relaxed);
      }
      done_rounds = r;
      stop.store(true, std::memory_order_release);
    });
    waiter.join();
    poster.join();
    neighbour.join();
  });
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(waited.load(), done_rounds);
  std::printf("  rounds: %ld (%ld timed out before the post)\n", done_rounds, timed_out.load());
}

// A plain thread and a coroutine ping-pong over a pair of batons per round: the thread side
// blocks in a futex, the coroutine side parks. Rounds use a ring of baton pairs; a pair is made
// afresh once both its posts are over.
TEST_P(StressTest, BatonPingPongBetweenThreadAndCoroutine) {
  const long rounds = scaled(100'000);
  struct Pair {
    Baton ping, pong;
  };
  constexpr long kRing = 64;
  std::vector<Pair> ring(kRing);
  std::atomic<long> last_round{-1};  // the thread stops after this round; -1: not known yet
  long round = 0;
  Deadline deadline;
  Runtime runtime(2);
  runtime.run([&] {
    PlainThread plain([&] {
      for (long r = 0;; ++r) {
        Pair& pair = ring[static_cast<std::size_t>(r % kRing)];
        pair.ping.wait();
        long last = last_round.load(std::memory_order_acquire);
        if (last >= 0 && r > last) return;
        pair.pong.post();
      }
    });
    for (; round < rounds && (round % 64 != 0 || !deadline.passed()); ++round) {
      Pair& pair = ring[static_cast<std::size_t>(round % kRing)];
      pair.ping.post();
      pair.pong.wait();
      pair.pong.await_post();
      // The thread's wait on ping returned before it posted pong: both batons are free.
      pair.~Pair();
      new (&pair) Pair();
    }
    last_round.store(round - 1, std::memory_order_release);
    ring[static_cast<std::size_t>(round % kRing)].ping.post();
    plain.join();
  });
  report("round trips", round);
}

INSTANTIATE_TEST_SUITE_P(Hogs, StressTest, ::testing::Values(0, 2),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return info.param == 0 ? std::string("Alone") : std::string("WithCpuHogs");
                         });

}  // namespace
}  // namespace cohook
