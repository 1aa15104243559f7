// Shared (copy) stacks through co_routine.h only: 1,000 coroutines on 4 stacks, each keeping data
// in its own frames and checking it after many switches, and co_cond waits with timeouts on
// shared stacks (waiting state must live off the stack that gets copied away).
#include <gtest/gtest.h>

#include <poll.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <cstring>
#include <set>
#include <vector>

#include "cohook/compat/co_routine.h"

namespace {

constexpr int kRoutines = 1000;
constexpr int kStacks = 4;
constexpr int kRounds = 40;

struct Slot {
  int id = 0;
  int rounds_ok = 0;
  int errors = 0;
  std::uintptr_t frame_address = 0;
};

void* stack_data_routine(void* arg) {
  auto* slot = static_cast<Slot*>(arg);
  // Data that exists only in this coroutine's frames: a buffer and a few scalars.
  unsigned char buffer[512];
  for (std::size_t i = 0; i < sizeof buffer; ++i) buffer[i] = static_cast<unsigned char>(slot->id * 31 + i);
  volatile int id_copy = slot->id;
  std::uint64_t checksum = 0;
  for (unsigned char b : buffer) checksum = checksum * 131 + b;
  slot->frame_address = reinterpret_cast<std::uintptr_t>(buffer);
  for (int round = 0; round < kRounds; ++round) {
    co_yield_ct();
    std::uint64_t now = 0;
    for (unsigned char b : buffer) now = now * 131 + b;
    bool ok = now == checksum && id_copy == slot->id;
    for (std::size_t i = 0; ok && i < sizeof buffer; ++i)
      ok = buffer[i] == static_cast<unsigned char>(slot->id * 31 + i);
    if (ok) ++slot->rounds_ok;
    else ++slot->errors;
    buffer[round % sizeof buffer] ^= 0;  // touch it, so the compiler keeps it in memory
  }
  return nullptr;
}

TEST(LibcoShareStack, ThousandCoroutinesOnFourStacksKeepTheirFrames) {
  stShareStack_t* share = co_alloc_sharestack(kStacks, 128 * 1024);
  ASSERT_NE(share, nullptr);
  stCoRoutineAttr_t attr;
  attr.share_stack = share;
  std::vector<Slot> slots(kRoutines);
  std::vector<stCoRoutine_t*> routines(kRoutines);
  for (int i = 0; i < kRoutines; ++i) {
    slots[i].id = i;
    ASSERT_EQ(co_create(&routines[i], &attr, stack_data_routine, &slots[i]), 0);
  }
  for (int round = 0; round <= kRounds; ++round) {
    // Vary the order so that every switch copies a different neighbour out.
    for (int k = 0; k < kRoutines; ++k) co_resume(routines[(k * 7 + round * 13) % kRoutines]);
  }
  std::set<std::uintptr_t> frames;
  for (const Slot& slot : slots) {
    EXPECT_EQ(slot.errors, 0) << "coroutine " << slot.id;
    EXPECT_EQ(slot.rounds_ok, kRounds) << "coroutine " << slot.id;
    frames.insert(slot.frame_address);
  }
  // Same frame layout on each of the 4 stacks: the buffers really shared 4 addresses.
  EXPECT_EQ(frames.size(), static_cast<std::size_t>(kStacks));
  for (stCoRoutine_t* co : routines) co_release(co);
  co_free_sharestack(share);
}

// Producer/consumer on one shared stack, consumers waiting with a timeout (which arms a timer
// while the waiter's frames are copied out).
struct Queue {
  stCoCond_t* cond = nullptr;
  std::vector<int> items;
  int produced = 0;
  int consumed_sum = 0;
  int consumers_done = 0;
  bool producer_done = false;
};

struct Role {
  Queue* queue;
  int count;
};

void* shared_consumer(void* arg) {
  auto* role = static_cast<Role*>(arg);
  Queue* q = role->queue;
  int got = 0;
  char pad[256];
  std::memset(pad, got, sizeof pad);
  while (got < role->count) {
    while (q->items.empty()) co_cond_timedwait(q->cond, 50);
    q->consumed_sum += q->items.back();
    q->items.pop_back();
    ++got;
  }
  if (pad[0] == 0) ++q->consumers_done;
  return nullptr;
}

void* shared_producer(void* arg) {
  auto* role = static_cast<Role*>(arg);
  Queue* q = role->queue;
  for (int i = 1; i <= role->count; ++i) {
    q->items.push_back(i);
    ++q->produced;
    co_cond_signal(q->cond);
    struct pollfd none = {-1, 0, 0};
    co_poll(co_get_epoll_ct(), &none, 1, 1);  // let the others run (1 ms, private timer path)
  }
  q->producer_done = true;
  return nullptr;
}

int until_consumed(void* arg) {
  auto* q = static_cast<Queue*>(arg);
  return q->consumers_done == 4 && q->producer_done ? -1 : 0;  // nobody outlives the test
}

TEST(LibcoShareStack, CondWaitWithTimeoutOnSharedStack) {
  stShareStack_t* share = co_alloc_sharestack(1, 64 * 1024);
  stCoRoutineAttr_t shared;
  shared.share_stack = share;
  Queue q;
  q.cond = co_cond_alloc();
  Role consumer{&q, 25};
  Role producer{&q, 100};
  std::vector<stCoRoutine_t*> routines(5);
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(co_create(&routines[i], &shared, shared_consumer, &consumer), 0);
    co_resume(routines[i]);
  }
  ASSERT_EQ(co_create(&routines[4], nullptr, shared_producer, &producer), 0);  // private stack
  co_resume(routines[4]);
  co_eventloop(co_get_epoll_ct(), until_consumed, &q);
  EXPECT_EQ(q.produced, 100);
  EXPECT_EQ(q.consumed_sum, 100 * 101 / 2);
  for (stCoRoutine_t* co : routines) co_release(co);
  co_cond_free(q.cond);
  co_free_sharestack(share);
}

// Timed co_poll and hooked blocking reads on shared stacks: the timer and the fd registration
// of a waiting coroutine must survive its frames being copied away by the others.
struct PollerSlot {
  int id = 0;
  int pipe_read = -1;
  int timeouts = 0;
  int bytes = 0;
  bool data_ok = false;
  bool done = false;
};

void* timed_poll_then_read(void* arg) {
  auto* slot = static_cast<PollerSlot*>(arg);
  co_enable_hook_sys();
  char local_tag[64];
  std::snprintf(local_tag, sizeof local_tag, "slot-%d", slot->id);
  for (int i = 0; i < 3; ++i) {
    pollfd pfd{slot->pipe_read, POLLIN, 0};
    if (co_poll(co_get_epoll_ct(), &pfd, 1, 2 + slot->id % 3) == 0) ++slot->timeouts;
  }
  char buf[32] = {};
  ssize_t n = read(slot->pipe_read, buf, sizeof buf - 1);  // hooked: parks until main writes
  slot->bytes = static_cast<int>(n);
  char expected[32];
  std::snprintf(expected, sizeof expected, "data-%d", slot->id);
  slot->data_ok = n > 0 && std::strcmp(buf, expected) == 0 &&
                  std::strcmp(local_tag, ("slot-" + std::to_string(slot->id)).c_str()) == 0;
  slot->done = true;
  return nullptr;
}

struct Feeder {
  std::vector<PollerSlot>* slots;
  std::vector<int>* write_ends;
  int rounds = 0;
  bool written = false;
};

int feed_then_stop(void* arg) {
  auto* f = static_cast<Feeder*>(arg);
  bool all_timed_out = true;
  for (auto& s : *f->slots) all_timed_out = all_timed_out && s.timeouts == 3;
  if (all_timed_out && !f->written) {
    for (std::size_t i = 0; i < f->write_ends->size(); ++i) {
      std::string msg = "data-" + std::to_string(i);
      EXPECT_EQ(write((*f->write_ends)[i], msg.c_str(), msg.size() + 1), static_cast<ssize_t>(msg.size() + 1));
    }
    f->written = true;
  }
  bool all_done = true;
  for (auto& s : *f->slots) all_done = all_done && s.done;
  return all_done || ++f->rounds > 20000 ? -1 : 0;
}

TEST(LibcoShareStack, TimedPollAndHookedReadOnSharedStacks) {
  constexpr int kRoutines = 8;
  stShareStack_t* share = co_alloc_sharestack(2, 64 * 1024);
  stCoRoutineAttr_t attr;
  attr.share_stack = share;
  std::vector<PollerSlot> slots(kRoutines);
  std::vector<int> write_ends(kRoutines);
  std::vector<stCoRoutine_t*> routines(kRoutines);
  for (int i = 0; i < kRoutines; ++i) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    slots[i].id = i;
    slots[i].pipe_read = fds[0];
    write_ends[i] = fds[1];
    ASSERT_EQ(co_create(&routines[i], &attr, timed_poll_then_read, &slots[i]), 0);
    co_resume(routines[i]);
  }
  Feeder feeder{&slots, &write_ends};
  co_eventloop(co_get_epoll_ct(), feed_then_stop, &feeder);
  for (const PollerSlot& s : slots) {
    EXPECT_EQ(s.timeouts, 3) << "slot " << s.id;
    EXPECT_TRUE(s.done) << "slot " << s.id;
    EXPECT_TRUE(s.data_ok) << "slot " << s.id << " read " << s.bytes;
  }
  for (int i = 0; i < kRoutines; ++i) {
    co_release(routines[i]);
    close(slots[i].pipe_read);
    close(write_ends[i]);
  }
  co_free_sharestack(share);
}

}  // namespace
