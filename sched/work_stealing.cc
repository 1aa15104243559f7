// Work stealing of coroutines that have not started yet. In a runtime of several threads a new
// coroutine waits in its scheduler's fresh queue; the owner takes them one at a time, as each
// starts, after the ready ones of the round. A scheduler with nothing to do takes half of a peer's fresh queue once the peer has not
// touched it for kStealAfter: the peer is busy (a coroutine running without parking, a long
// ready queue) and the new coroutines would otherwise wait behind it while this thread idles.
// Started coroutines never move: the compiler caches TLS addresses (errno's among them) across
// calls, so a coroutine must stay on the thread it first ran on.
#include <chrono>

#include "sched/runtime_state.h"
#include "sched/scheduler.h"

namespace cohook {
namespace {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

}  // namespace

void Scheduler::wake_if_sleeping() {
  // Only the first waker of a sleep writes the eventfd (see make_ready_remote).
  if (sleeping_.load(std::memory_order_seq_cst) && sleeping_.exchange(false, std::memory_order_seq_cst))
    poller_.wake();
}

void Scheduler::push_fresh(Coroutine* coroutine) {
  // Counted in flight like a remote wake-up: once queued, the coroutine may run and the runtime
  // end before we are done with *this.
  remote_wakers_.fetch_add(1, std::memory_order_seq_cst);
  coroutine->next_ready_ = nullptr;
  fresh_lock_.lock();
  bool was_empty = fresh_head_ == nullptr;
  if (fresh_tail_ != nullptr) fresh_tail_->next_ready_ = coroutine;
  else fresh_head_ = coroutine;
  fresh_tail_ = coroutine;
  if (was_empty) fresh_touched_ns_.store(now_ns(), std::memory_order_relaxed);
  fresh_count_.fetch_add(1, std::memory_order_seq_cst);
  fresh_lock_.unlock();
  if (Scheduler::current() == this) {
    // Our own thread runs it once the caller parks. If that takes long (the caller computes),
    // an idle peer should notice: wake one, once per burst; it steals only if we stay busy.
    if (was_empty) {
      for (Scheduler* peer : runtime_->schedulers) {
        if (peer == this || !peer->sleeping_.load(std::memory_order_seq_cst)) continue;
        peer->wake_if_sleeping();
        break;
      }
    }
  } else {
    wake_if_sleeping();
  }
  remote_wakers_.fetch_sub(1, std::memory_order_release);
}

Coroutine* Scheduler::take_fresh() {
  fresh_lock_.lock();
  Coroutine* coroutine = fresh_head_;
  if (coroutine != nullptr) {
    fresh_head_ = coroutine->next_ready_;
    if (fresh_head_ == nullptr) fresh_tail_ = nullptr;
    fresh_count_.fetch_sub(1, std::memory_order_relaxed);
    coroutine->next_ready_ = nullptr;
  }
  fresh_touched_ns_.store(now_ns(), std::memory_order_relaxed);
  fresh_lock_.unlock();
  return coroutine;
}

bool Scheduler::peer_has_fresh_work() const {
  if (stealing_disabled_) return false;
  for (const Scheduler* peer : runtime_->schedulers)
    if (peer != this && peer->fresh_count_.load(std::memory_order_relaxed) != 0) return true;
  return false;
}

bool Scheduler::try_steal() {
  if (stealing_disabled_) return false;
  std::int64_t old_enough = now_ns() - std::chrono::nanoseconds(kStealAfter).count();
  for (Scheduler* peer : runtime_->schedulers) {
    if (peer == this || peer->fresh_count_.load(std::memory_order_relaxed) == 0) continue;
    if (peer->fresh_touched_ns_.load(std::memory_order_relaxed) > old_enough) continue;
    Coroutine* taken = nullptr;
    Coroutine* last = nullptr;
    std::size_t count = 0;
    peer->fresh_lock_.lock();
    std::size_t half = (peer->fresh_count_.load(std::memory_order_relaxed) + 1) / 2;
    Coroutine** tail = &taken;
    while (count < half && peer->fresh_head_ != nullptr) {
      Coroutine* coroutine = peer->fresh_head_;
      peer->fresh_head_ = coroutine->next_ready_;
      if (peer->fresh_head_ == nullptr) peer->fresh_tail_ = nullptr;
      *tail = coroutine;
      tail = &coroutine->next_ready_;
      last = coroutine;
      ++count;
    }
    *tail = nullptr;
    peer->fresh_count_.fetch_sub(count, std::memory_order_relaxed);
    // Counted here before the peer stops counting them: its live count must not reach zero
    // while they are in neither (Runtime::run ends on the runtime's count, not on these).
    live_.fetch_add(count, std::memory_order_acq_rel);
    peer->live_.fetch_sub(count, std::memory_order_acq_rel);
    peer->fresh_lock_.unlock();
    if (count == 0) continue;
    // Into our own fresh queue, not the ready queue: if one of them turns out to be the busy
    // one, the others can still be taken from behind it by whoever is idle next.
    for (Coroutine* c = taken; c != nullptr; c = c->next_ready_)
      c->home_ = this;  // not started: it has no stack, no TLS view, no registrations yet
    fresh_lock_.lock();
    if (fresh_tail_ != nullptr) fresh_tail_->next_ready_ = taken;
    else fresh_head_ = taken;
    fresh_tail_ = last;
    fresh_count_.fetch_add(count, std::memory_order_relaxed);
    fresh_touched_ns_.store(now_ns(), std::memory_order_relaxed);
    fresh_lock_.unlock();
    return true;
  }
  return false;
}

}  // namespace cohook
