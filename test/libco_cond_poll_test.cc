// co_cond and co_poll through co_routine.h only: a producer/consumer driven by co_eventloop,
// broadcast, a timed wait nobody signals, co_release of a coroutine while it waits, and co_poll
// over several fds (one becomes ready; then a timeout with nothing ready).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <deque>
#include <vector>

#include "cohook/compat/co_routine.h"

namespace {

struct Channel {
  stCoCond_t* not_empty = nullptr;
  std::deque<int> items;
  long received_sum = 0;
  int received = 0;
  int expected = 0;
  bool producer_done = false;
  int exited = 0;  // routines that returned: the loop runs until all did, so none outlives `ch`
};

void* producer(void* arg) {
  auto* ch = static_cast<Channel*>(arg);
  for (int i = 1; i <= ch->expected; ++i) {
    ch->items.push_back(i);
    co_cond_signal(ch->not_empty);
    if (i % 10 == 0) {
      struct pollfd none = {-1, 0, 0};
      co_poll(co_get_epoll_ct(), &none, 1, 1);  // give the consumers a turn
    }
  }
  ch->producer_done = true;
  co_cond_broadcast(ch->not_empty);
  ++ch->exited;
  return nullptr;
}

void* consumer(void* arg) {
  auto* ch = static_cast<Channel*>(arg);
  for (;;) {
    while (ch->items.empty() && !ch->producer_done) co_cond_timedwait(ch->not_empty, -1);
    if (ch->items.empty()) {
      ++ch->exited;
      return nullptr;
    }
    ch->received_sum += ch->items.front();
    ch->items.pop_front();
    ++ch->received;
  }
}

int until_all_exited(void* arg) {
  auto* ch = static_cast<Channel*>(arg);
  return ch->exited == 4 ? -1 : 0;
}

TEST(LibcoCond, ProducerConsumerUnderEventLoop) {
  Channel ch;
  ch.expected = 1000;
  ch.not_empty = co_cond_alloc();
  std::vector<stCoRoutine_t*> routines(4);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(co_create(&routines[i], nullptr, consumer, &ch), 0);
    co_resume(routines[i]);  // each parks on the empty channel
  }
  EXPECT_EQ(ch.received, 0);
  ASSERT_EQ(co_create(&routines[3], nullptr, producer, &ch), 0);
  co_resume(routines[3]);
  co_eventloop(co_get_epoll_ct(), until_all_exited, &ch);
  EXPECT_EQ(ch.received, 1000);
  EXPECT_EQ(ch.received_sum, 1000L * 1001 / 2);
  for (stCoRoutine_t* co : routines) co_release(co);
  co_cond_free(ch.not_empty);
}

struct Waiters {
  stCoCond_t* cond = nullptr;
  int woken = 0;
  int returned_zero = 0;
};

void* wait_once(void* arg) {
  auto* w = static_cast<Waiters*>(arg);
  if (co_cond_timedwait(w->cond, -1) == 0) ++w->returned_zero;
  ++w->woken;
  return nullptr;
}

void* wait_with_timeout(void* arg) {
  auto* w = static_cast<Waiters*>(arg);
  if (co_cond_timedwait(w->cond, 20) == 0) ++w->returned_zero;  // nobody signals
  ++w->woken;
  return nullptr;
}

int until_woken(void* arg) {
  auto* w = static_cast<Waiters*>(arg);
  return w->woken == 5 ? -1 : 0;
}

TEST(LibcoCond, BroadcastWakesEveryWaiterAndSignalOne) {
  Waiters w;
  w.cond = co_cond_alloc();
  std::vector<stCoRoutine_t*> routines(5);
  for (auto& co : routines) {
    ASSERT_EQ(co_create(&co, nullptr, wait_once, &w), 0);
    co_resume(co);
  }
  co_cond_signal(w.cond);
  // One round runs what is ready: exactly the one signalled waiter.
  int rounds = 0;
  co_eventloop(co_get_epoll_ct(), [](void* r) { return ++*static_cast<int*>(r) >= 2 ? -1 : 0; }, &rounds);
  EXPECT_EQ(w.woken, 1);
  co_cond_broadcast(w.cond);
  co_eventloop(co_get_epoll_ct(), until_woken, &w);
  EXPECT_EQ(w.woken, 5);
  EXPECT_EQ(w.returned_zero, 5);
  for (stCoRoutine_t* co : routines) co_release(co);
  co_cond_free(w.cond);
}

TEST(LibcoCond, TimedWaitReturnsWhenNobodySignals) {
  Waiters w;
  w.cond = co_cond_alloc();
  stCoRoutine_t* co = nullptr;
  ASSERT_EQ(co_create(&co, nullptr, wait_with_timeout, &w), 0);
  co_resume(co);
  EXPECT_EQ(w.woken, 0);
  co_eventloop(co_get_epoll_ct(), [](void* p) { return static_cast<Waiters*>(p)->woken == 1 ? -1 : 0; }, &w);
  EXPECT_EQ(w.returned_zero, 1);  // libco returns 0 on timeout as well
  co_release(co);
  co_cond_free(w.cond);
}

TEST(LibcoCond, ReleaseWhileWaitingFreesWhenItEnds) {
  Waiters w;
  w.cond = co_cond_alloc();
  stCoRoutine_t* co = nullptr;
  ASSERT_EQ(co_create(&co, nullptr, wait_once, &w), 0);
  co_resume(co);
  co_release(co);  // it is parked: freed when its routine returns, not now
  co_cond_signal(w.cond);
  co_eventloop(co_get_epoll_ct(), [](void* p) { return static_cast<Waiters*>(p)->woken == 1 ? -1 : 0; }, &w);
  EXPECT_EQ(w.woken, 1);
  EXPECT_EQ(co_cond_timedwait(w.cond, 1), -1) << "outside a coroutine there is nothing to park";
  co_cond_free(w.cond);
}

struct PollCase {
  int fds[3][2];  // three socket pairs; the coroutine polls the [i][0] ends
  int result = -2;
  short revents[3] = {0, 0, 0};
  int timeout_result = -2;
  bool done = false;
};

void* poll_routine(void* arg) {
  auto* pc = static_cast<PollCase*>(arg);
  struct pollfd fds[4];
  for (int i = 0; i < 3; ++i) fds[i] = {pc->fds[i][0], POLLIN, 0};
  fds[3] = {-1, POLLIN, 0};  // ignored, as by poll(2)
  pc->result = co_poll(co_get_epoll_ct(), fds, 4, 10000);
  for (int i = 0; i < 3; ++i) pc->revents[i] = fds[i].revents;
  char byte = 0;
  (void)read(pc->fds[1][0], &byte, 1);
  for (int i = 0; i < 3; ++i) fds[i] = {pc->fds[i][0], POLLIN, 0};
  pc->timeout_result = co_poll(co_get_epoll_ct(), fds, 3, 30);  // nothing ready now
  pc->done = true;
  return nullptr;
}

void* writer_routine(void* arg) {
  auto* pc = static_cast<PollCase*>(arg);
  char byte = 'x';
  EXPECT_EQ(write(pc->fds[1][1], &byte, 1), 1);
  return nullptr;
}

TEST(LibcoPoll, SeveralFdsOneReadyThenTimeout) {
  PollCase pc;
  for (auto& pair : pc.fds) ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  stCoRoutine_t* poller = nullptr;
  stCoRoutine_t* writer = nullptr;
  ASSERT_EQ(co_create(&poller, nullptr, poll_routine, &pc), 0);
  ASSERT_EQ(co_create(&writer, nullptr, writer_routine, &pc), 0);
  co_resume(poller);
  EXPECT_EQ(pc.result, -2);  // parked in co_poll
  co_resume(writer);
  co_eventloop(co_get_epoll_ct(), [](void* p) { return static_cast<PollCase*>(p)->done ? -1 : 0; }, &pc);
  EXPECT_EQ(pc.result, 1);
  EXPECT_EQ(pc.revents[0], 0);
  EXPECT_TRUE(pc.revents[1] & POLLIN);
  EXPECT_EQ(pc.revents[2], 0);
  EXPECT_EQ(pc.timeout_result, 0);
  co_release(poller);
  co_release(writer);
  for (auto& pair : pc.fds) {
    close(pair[0]);
    close(pair[1]);
  }
}

TEST(LibcoPoll, OutsideCoroutinesIsPlainPoll) {
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  struct pollfd fd = {pair[0], POLLIN, 0};
  EXPECT_EQ(co_poll(co_get_epoll_ct(), &fd, 1, 0), 0);
  ASSERT_EQ(write(pair[1], "y", 1), 1);
  EXPECT_EQ(co_poll(co_get_epoll_ct(), &fd, 1, -1), 1);
  EXPECT_TRUE(fd.revents & POLLIN);
  close(pair[0]);
  close(pair[1]);
}

}  // namespace
