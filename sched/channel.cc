// Channel operations and select, after Go's runtime (chan.go, select.go): a party that cannot
// proceed queues one waiter per case on the channels concerned and parks; whoever later finds a
// waiter claims its owner (one compare-and-swap decides between the cases, a timeout and a
// close), moves the value itself under the channel's lock, and then wakes the owner. So an
// operation is either complete or not started when its owner wakes: never half done.
#include "cohook/channel.hpp"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "sched/coroutine.h"
#include "sched/wait_list.h"

namespace cohook::detail {

// One select (or single operation) that waits: which case won, and how to wake it.
struct SelectWaiter {
  static constexpr int kPending = 0;
  static constexpr int kGaveUp = -1;  // timed out: no case may complete any more
  std::atomic<int> state{kPending};   // else the index of the case that completed, plus one
  WaitNode* node = nullptr;
  bool claim(int index) {
    int expected = kPending;
    return state.compare_exchange_strong(expected, index + 1, std::memory_order_acq_rel);
  }
};

// One case of a waiting select, queued on its channel.
struct ChannelWaiter {
  SelectWaiter* owner = nullptr;
  int index = 0;
  void* value = nullptr;  // as in ChannelBase::Case
  bool ok = false;        // written by whoever completes this case
  bool queued = false;
  ChannelWaiter* prev = nullptr;
  ChannelWaiter* next = nullptr;
};

// The operations on a ChannelBase's private state (a friend, so the class stays opaque).
struct ChannelCore {
  static void enqueue(ChannelWaiter*& head, ChannelWaiter*& tail, ChannelWaiter* w) {
    w->next = nullptr;
    w->prev = tail;
    if (tail != nullptr)
      tail->next = w;
    else
      head = w;
    tail = w;
    w->queued = true;
  }

  static void unlink(ChannelWaiter*& head, ChannelWaiter*& tail, ChannelWaiter* w) {
    if (!w->queued) return;
    if (w->prev != nullptr)
      w->prev->next = w->next;
    else
      head = w->next;
    if (w->next != nullptr)
      w->next->prev = w->prev;
    else
      tail = w->prev;
    w->prev = w->next = nullptr;
    w->queued = false;
  }

  // The first queued waiter whose owner we manage to claim for it. Waiters of owners that are
  // already decided (another case won, or they gave up) are dropped on the way.
  static ChannelWaiter* claim_first(ChannelWaiter*& head, ChannelWaiter*& tail) {
    while (ChannelWaiter* w = head) {
      unlink(head, tail, w);
      if (w->owner->claim(w->index)) return w;
    }
    return nullptr;
  }

  // With the lock held: completes `c` if it can be done now. *partner: a waiter completed on the
  // way, to be woken once the lock is released.
  static bool try_case(const ChannelBase::Case& c, bool* ok, ChannelWaiter** partner) {
    ChannelBase& ch = *c.channel;
    if (c.op == ChannelBase::Op::kSend) {
      if (ch.closed_) {
        *ok = false;
        return true;
      }
      if (ChannelWaiter* r = claim_first(ch.receivers_head_, ch.receivers_tail_)) {
        ch.hand_over(c.value, r->value);
        r->ok = true;
        *partner = r;
      } else if (ch.buffered_ < ch.capacity_) {
        ch.buffer_push(c.value);
        ++ch.buffered_;
      } else {
        return false;
      }
      *ok = true;
      return true;
    }
    if (ch.buffered_ > 0) {
      ch.buffer_pop(c.value);
      // A sender waiting for room gets it now: its value joins the back of the buffer.
      if (ChannelWaiter* s = claim_first(ch.senders_head_, ch.senders_tail_)) {
        ch.buffer_push(s->value);
        s->ok = true;
        *partner = s;
      } else {
        --ch.buffered_;
      }
      *ok = true;
      return true;
    }
    if (ChannelWaiter* s = claim_first(ch.senders_head_, ch.senders_tail_)) {  // unbuffered
      ch.hand_over(s->value, c.value);
      s->ok = true;
      *partner = s;
      *ok = true;
      return true;
    }
    if (ch.closed_) {
      *ok = false;
      return true;
    }
    return false;
  }

  static void queue(ChannelWaiter* w, const ChannelBase::Case& c) {
    ChannelBase& ch = *c.channel;
    if (c.op == ChannelBase::Op::kSend)
      enqueue(ch.senders_head_, ch.senders_tail_, w);
    else
      enqueue(ch.receivers_head_, ch.receivers_tail_, w);
  }

  static void dequeue(ChannelWaiter* w, const ChannelBase::Case& c) {
    ChannelBase& ch = *c.channel;
    ch.lock_.lock();
    if (c.op == ChannelBase::Op::kSend)
      unlink(ch.senders_head_, ch.senders_tail_, w);
    else
      unlink(ch.receivers_head_, ch.receivers_tail_, w);
    ch.lock_.unlock();
  }

  static void wake(ChannelWaiter* w) { w->owner->node->baton.post(); }
  static SpinLock& lock_of(ChannelBase* ch) { return ch->lock_; }
};

namespace {

// Where a select starts trying its cases: random, so that with several always-ready cases each
// is taken about equally often (Go shuffles its poll order for the same reason).
std::size_t random_start(std::size_t count) {
  thread_local std::uint64_t state = reinterpret_cast<std::uintptr_t>(&state) ^ 0x9e3779b97f4a7c15ull;
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return static_cast<std::size_t>(state % count);
}

// Locks every distinct channel of the cases in address order (so that two selects over the
// same channels cannot deadlock), and unlocks them again. A few cases need no allocation.
class LockAll {
 public:
  LockAll(ChannelBase::Case* cases, std::size_t count) {
    channels_ = inline_;
    if (count > kInline) {
      heap_.resize(count);
      channels_ = heap_.data();
    }
    for (std::size_t i = 0; i < count; ++i) channels_[i] = cases[i].channel;
    std::sort(channels_, channels_ + count);
    count_ = static_cast<std::size_t>(std::unique(channels_, channels_ + count) - channels_);
    for (std::size_t i = 0; i < count_; ++i) ChannelCore::lock_of(channels_[i]).lock();
  }
  void unlock_all() {
    for (std::size_t i = 0; i < count_; ++i) ChannelCore::lock_of(channels_[i]).unlock();
    count_ = 0;
  }
  ~LockAll() { unlock_all(); }
  LockAll(const LockAll&) = delete;
  LockAll& operator=(const LockAll&) = delete;

 private:
  static constexpr std::size_t kInline = 4;
  ChannelBase* inline_[kInline];
  std::vector<ChannelBase*> heap_;
  ChannelBase** channels_;
  std::size_t count_ = 0;
};

}  // namespace

int ChannelBase::select(Case* cases, std::size_t count, bool may_wait, std::chrono::steady_clock::time_point deadline,
                        bool* ok) {
  if (count == 0 && !may_wait) return kNotReady;
  std::size_t start = count > 1 ? random_start(count) : 0;
  ChannelWaiter* partner = nullptr;

  // A single case locks its one channel without the vector (the common channel operation).
  if (count == 1 && !may_wait) {
    SpinLock& lock = ChannelCore::lock_of(cases[0].channel);
    lock.lock();
    bool done = ChannelCore::try_case(cases[0], ok, &partner);
    lock.unlock();
    if (partner != nullptr) ChannelCore::wake(partner);
    return done ? 0 : kNotReady;
  }

  // Made before locking: on a coroutine it is the coroutine's own node (see WaitNodeFor).
  std::optional<WaitNodeFor> node;
  if (may_wait) node.emplace();
  // The parties that complete a case write into the waiter records. A plain send or recv (one
  // case) keeps them in this frame when it stays put; otherwise (a coroutine on a shared stack,
  // whose frames are copied away while it waits, or a select of several cases) on the heap.
  SelectWaiter owner_here;
  ChannelWaiter waiter_here;
  std::unique_ptr<ChannelWaiter[]> waiters_boxed;
  std::unique_ptr<SelectWaiter> owner_boxed;
  SelectWaiter* owner = nullptr;
  ChannelWaiter* waiters = nullptr;
  {
    LockAll locked(cases, count);
    for (std::size_t k = 0; k < count; ++k) {
      std::size_t i = (start + k) % count;
      if (ChannelCore::try_case(cases[i], ok, &partner)) {
        locked.unlock_all();
        if (partner != nullptr) ChannelCore::wake(partner);
        return static_cast<int>(i);
      }
    }
    if (!may_wait) return kNotReady;
    if (deadline != std::chrono::steady_clock::time_point::max() && std::chrono::steady_clock::now() >= deadline)
      return kTimedOut;
    if (count == 1 && frames_stay_put()) {
      owner = &owner_here;
      waiters = &waiter_here;
    } else {
      owner_boxed = std::make_unique<SelectWaiter>();
      waiters_boxed.reset(new ChannelWaiter[count]);
      owner = owner_boxed.get();
      waiters = waiters_boxed.get();
    }
    owner->node = node->get();
    for (std::size_t i = 0; i < count; ++i) {
      waiters[i].owner = owner;
      waiters[i].index = static_cast<int>(i);
      waiters[i].value = cases[i].value;
      ChannelCore::queue(&waiters[i], cases[i]);
    }
  }

  WaitNode* wait_node = node->get();
  if (!wait_node->baton.wait_until(deadline, "channel")) {
    int expected = SelectWaiter::kPending;
    if (!owner->state.compare_exchange_strong(expected, SelectWaiter::kGaveUp, std::memory_order_acq_rel))
      wait_node->baton.await_post();  // a case completed as we timed out: it counts, and its post is on the way
  }
  int won = owner->state.load(std::memory_order_acquire);
  // The party that completed the winning case unlinked its waiter under the channel's lock
  // before claiming (claim_first), and our acquire of the claim makes that visible: a single
  // case that won has nothing left to dequeue, and skips the lock its partner may be taking.
  if (count != 1 || won == SelectWaiter::kGaveUp)
    for (std::size_t i = 0; i < count; ++i) ChannelCore::dequeue(&waiters[i], cases[i]);
  if (won == SelectWaiter::kGaveUp) return kTimedOut;
  *ok = waiters[won - 1].ok;
  return won - 1;
}

bool ChannelBase::frames_stay_put() {
  Coroutine* self = Coroutine::current();
  return self == nullptr || self->fiber() == nullptr || !self->fiber()->on_shared_stack();
}

void ChannelBase::close() {
  lock_.lock();
  closed_ = true;
  // Waiting receivers find nothing (a buffered value would have been taken already); waiting
  // senders fail. Each claimed waiter keeps ok = false.
  ChannelWaiter* woken = nullptr;
  auto take = [&woken](ChannelWaiter*& head, ChannelWaiter*& tail) {
    while (ChannelWaiter* w = ChannelCore::claim_first(head, tail)) {
      w->ok = false;
      w->next = woken;  // unlinked: the link is free to chain the ones to wake
      woken = w;
    }
  };
  take(receivers_head_, receivers_tail_);
  take(senders_head_, senders_tail_);
  lock_.unlock();
  while (woken != nullptr) {
    ChannelWaiter* next = woken->next;
    ChannelCore::wake(woken);
    woken = next;
  }
}

bool ChannelBase::closed() const {
  lock_.lock();
  bool c = closed_;
  lock_.unlock();
  return c;
}

}  // namespace cohook::detail
