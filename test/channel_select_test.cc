// Channel's timed and non-blocking operations, and Select: from coroutines on two scheduler
// threads and from plain threads. Timing checks are one-sided and generous (the machine is
// shared): a timeout must not return early, and must return at all.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "cohook/cohook.hpp"

namespace cohook {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Runs body once in a coroutine of a two-thread Runtime and once on a plain thread.
template <class Body>
void in_coroutine_and_in_plain_thread(Body body) {
  Runtime runtime(2);
  runtime.run([&] { body(); });
  std::thread plain([&] { body(); });
  plain.join();
}

TEST(ChannelTimedTest, RecvForTimesOutOnAnEmptyChannelWithoutClosingIt) {
  in_coroutine_and_in_plain_thread([] {
    Channel<int> channel(1);
    auto start = Clock::now();
    EXPECT_EQ(channel.recv_for(100ms), std::nullopt);
    EXPECT_GE(Clock::now() - start, 100ms);
    EXPECT_FALSE(channel.closed());
    ASSERT_TRUE(channel.try_send(7));
    EXPECT_EQ(channel.recv_for(10s), 7);
  });
}

TEST(ChannelTimedTest, SendForTimesOutAndTheValueIsNotDelivered) {
  in_coroutine_and_in_plain_thread([] {
    Channel<int> unbuffered;
    auto start = Clock::now();
    EXPECT_FALSE(unbuffered.send_for(1, 100ms));  // nobody receives
    EXPECT_GE(Clock::now() - start, 100ms);
    EXPECT_EQ(unbuffered.try_recv(), std::nullopt) << "a timed-out send must not leave its value behind";

    Channel<int> full(1);
    ASSERT_TRUE(full.try_send(1));
    EXPECT_FALSE(full.try_send(2));
    EXPECT_FALSE(full.send_until(3, Clock::now() + 50ms));
    EXPECT_EQ(full.try_recv(), 1);
    EXPECT_EQ(full.try_recv(), std::nullopt);
  });
}

TEST(ChannelTimedTest, TrySendOnUnbufferedSucceedsOnlyWithAWaitingReceiver) {
  Runtime runtime(2);
  runtime.run([] {
    Channel<std::string> channel;
    EXPECT_FALSE(channel.try_send("nobody"));
    auto receiver = go([&] { return channel.recv(); });
    // The receiver parks on the other thread at some point; until then try_send finds nobody.
    bool sent = false;
    for (auto give_up = Clock::now() + 10s; !sent && Clock::now() < give_up;) {
      sent = channel.try_send("hello");
      if (!sent) this_coroutine::sleep_for(1ms);
    }
    ASSERT_TRUE(sent);
    EXPECT_EQ(receiver.join(), "hello");
  });
}

TEST(ChannelTimedTest, TimeoutsRacingSendsLoseAndDuplicateNothing) {
  // Receivers with 1 ms timeouts against steady senders: each value arrives exactly once.
  Runtime runtime(2);
  constexpr int kValues = 4000;
  std::vector<std::atomic<int>> seen(kValues);
  runtime.run([&] {
    Channel<int> channel;  // unbuffered: every send is a hand-over that a timeout may race
    TaskGroup senders, receivers;
    for (int s = 0; s < 4; ++s)
      senders.spawn([&, s] {
        for (int v = s; v < kValues; v += 4) ASSERT_TRUE(channel.send(v));
      });
    for (int r = 0; r < 4; ++r)
      receivers.spawn([&] {
        for (;;) {
          if (auto v = channel.recv_for(1ms))
            seen[*v].fetch_add(1);
          else if (channel.closed())
            return;
        }
      });
    std::thread plain([&] {  // a plain thread receives too
      while (auto v = channel.recv()) seen[*v].fetch_add(1);
    });
    senders.wait();
    channel.close();
    receivers.wait();
    plain.join();
  });
  for (int v = 0; v < kValues; ++v) ASSERT_EQ(seen[v].load(), 1) << "value " << v;
}

TEST(SelectTest, NoCaseStarvesWhenTwoAreAlwaysReady) {
  in_coroutine_and_in_plain_thread([] {
    constexpr int kSelects = 10'000;
    Channel<int> a(kSelects), b(kSelects);
    for (int i = 0; i < kSelects; ++i) {
      ASSERT_TRUE(a.try_send(i));
      ASSERT_TRUE(b.try_send(i));
    }
    int from_a = 0, from_b = 0;
    for (int i = 0; i < kSelects; ++i) {
      int index =
          Select().recv(a, [&](std::optional<int>) { ++from_a; }).recv(b, [&](std::optional<int>) { ++from_b; }).run();
      ASSERT_TRUE(index == 0 || index == 1);
    }
    EXPECT_EQ(from_a + from_b, kSelects);
    // A fair choice gives each about 5,000 (standard deviation 50); 4,000 is 20 deviations off.
    EXPECT_GT(from_a, 4000);
    EXPECT_GT(from_b, 4000);
  });
}

TEST(SelectTest, DefaultAndDeadline) {
  in_coroutine_and_in_plain_thread([] {
    Channel<int> a, b(1);
    bool ran = false;
    EXPECT_EQ(Select().recv(a, [&](std::optional<int>) { ran = true; }).recv(b).poll(), Select::kDefault);
    auto start = Clock::now();
    EXPECT_EQ(Select().recv(a, [&](std::optional<int>) { ran = true; }).recv(b).run_for(100ms), Select::kTimeout);
    EXPECT_GE(Clock::now() - start, 100ms);
    EXPECT_FALSE(ran);
    ASSERT_TRUE(b.try_send(5));
    std::optional<int> got;
    EXPECT_EQ(Select().recv(a).recv(b, [&](std::optional<int> v) { got = v; }).run_for(10s), 1);
    EXPECT_EQ(got, 5);
  });
}

TEST(SelectTest, CloseDuringSelectWakesItWithNullopt) {
  in_coroutine_and_in_plain_thread([] {
    Channel<int> quiet, closing;
    std::thread closer([&] {
      std::this_thread::sleep_for(50ms);
      closing.close();
    });
    std::optional<int> got = 99;
    int index = Select().recv(quiet).recv(closing, [&](std::optional<int> v) { got = v; }).run_for(30s);
    closer.join();
    EXPECT_EQ(index, 1);
    EXPECT_EQ(got, std::nullopt);
  });
}

TEST(SelectTest, OnlyTheChosenSendHappens) {
  Runtime runtime(2);
  runtime.run([] {
    Channel<int> left, right;  // unbuffered: a send completes only with a receiver
    auto receiver = go([&] { return right.recv(); });
    bool left_sent = false, right_sent = false;
    int index = Select()
                    .send(left, 1, [&] { left_sent = true; })
                    .send(right, 2, [&](bool ok) { right_sent = ok; })
                    .run_for(30s);
    EXPECT_EQ(index, 1);
    EXPECT_TRUE(right_sent);
    EXPECT_FALSE(left_sent);
    EXPECT_EQ(receiver.join(), 2);
    EXPECT_EQ(left.try_recv(), std::nullopt);
    EXPECT_FALSE(left.send_for(3, 20ms)) << "the send not chosen must not stay queued";
  });
}

TEST(SelectTest, SendCaseOnAClosedChannelReportsFalse) {
  in_coroutine_and_in_plain_thread([] {
    Channel<int> closed(4);
    closed.close();
    bool result = true;
    EXPECT_EQ(Select().send(closed, 1, [&](bool ok) { result = ok; }).run(), 0);
    EXPECT_FALSE(result);
  });
}

TEST(SelectTest, ManySelectorsAcrossThreadsDeliverEveryValueOnce) {
  // Selectors that both send and receive over shared channels, on two scheduler threads and a
  // plain thread: the total arriving equals the total sent.
  Runtime runtime(2);
  constexpr int kPerProducer = 2000;
  std::atomic<long> received_sum{0}, received_count{0};
  runtime.run([&] {
    Channel<int> in_a, in_b(8), out(4);
    TaskGroup producers, movers;
    for (int p = 0; p < 2; ++p)
      producers.spawn([&, p] {
        for (int i = 1; i <= kPerProducer; ++i) Select().send(in_a, i).send(in_b, i).run();
        (void)p;
      });
    for (int m = 0; m < 3; ++m)
      movers.spawn([&] {
        bool a_open = true, b_open = true;
        while (a_open || b_open) {
          std::optional<int> v;
          Select sel;
          if (a_open)
            sel.recv(in_a, [&](std::optional<int> x) {
              v = x;
              if (!x) a_open = false;
            });
          if (b_open)
            sel.recv(in_b, [&](std::optional<int> x) {
              v = x;
              if (!x) b_open = false;
            });
          sel.run();
          if (v) {
            ASSERT_TRUE(out.send(*v));
          }
        }
      });
    std::thread consumer([&] {
      while (auto v = out.recv()) {
        received_sum += *v;
        ++received_count;
      }
    });
    producers.wait();
    in_a.close();
    in_b.close();
    movers.wait();
    out.close();
    consumer.join();
  });
  EXPECT_EQ(received_count.load(), 2L * kPerProducer);
  EXPECT_EQ(received_sum.load(), 2L * kPerProducer * (kPerProducer + 1) / 2);
}

}  // namespace
}  // namespace cohook
