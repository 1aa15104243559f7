// Interruptions (contract in sched/interrupt.h): posting from signal handlers, delivery by the
// scheduler loop, and the InterruptibleCall scope.
#include "sched/interrupt.h"

#include "sched/coroutine.h"
#include "sched/scheduler.h"

namespace cohook {

InterruptibleCall::InterruptibleCall(bool restartable, std::uint64_t accepts) : coroutine_(Coroutine::current()) {
  if (coroutine_ == nullptr) return;
  // The call's state lives in the coroutine's extras, made at its first interruptible call:
  // until then a post finds no block and is dropped, as it would be cleared here anyway.
  Coroutine::Extras& extras = coroutine_->extras();
  outer_active_ = coroutine_->in_interruptible_call_;
  outer_restartable_ = extras.call_restartable;
  outer_accepts_ = extras.call_accepts;
  if (!outer_active_) {
    // Whatever was posted while no call was open interrupted nothing.
    extras.posted_restart.store(0, std::memory_order_relaxed);
    extras.posted_no_restart.store(0, std::memory_order_relaxed);
  }
  extras.call_restartable = restartable;
  extras.call_accepts = accepts;
  // Last: a handler on this thread that sees the flag sees the call's settings too.
  std::atomic_signal_fence(std::memory_order_seq_cst);
  coroutine_->in_interruptible_call_ = true;
}

InterruptibleCall::~InterruptibleCall() {
  if (coroutine_ == nullptr) return;
  coroutine_->in_interruptible_call_ = outer_active_;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  Coroutine::Extras& extras = coroutine_->extras();  // made by the constructor
  extras.call_restartable = outer_restartable_;
  extras.call_accepts = outer_accepts_;
}

bool InterruptibleCall::take_pending() {
  if (coroutine_ == nullptr || !Scheduler::interrupt_matches(coroutine_)) return false;
  coroutine_->clear_posted_interrupts();
  return true;
}

bool Scheduler::interrupt_matches(const Coroutine* coroutine) {
  const Coroutine::Extras* extras = coroutine->extras_.load(std::memory_order_acquire);
  if (extras == nullptr) return false;  // never in an interruptible call
  std::uint64_t sources = extras->posted_no_restart.load(std::memory_order_acquire);
  if (!extras->call_restartable) sources |= extras->posted_restart.load(std::memory_order_acquire);
  return (sources & extras->call_accepts) != 0;
}

void Scheduler::interrupt(Coroutine* coroutine, int source, InterruptKind kind) {
  std::uint64_t bit = interrupt_source_bit(source);
  if (bit == 0 || coroutine == nullptr) return;
  // No extras: it has never opened an interruptible call, so there is nothing to interrupt.
  Coroutine::Extras* extras = coroutine->extras_.load(std::memory_order_acquire);
  if (extras == nullptr) return;
  auto& word = kind == InterruptKind::kRestart ? extras->posted_restart : extras->posted_no_restart;
  word.fetch_or(bit, std::memory_order_acq_rel);
  Scheduler* home = coroutine->home_;
  home->interrupts_posted_.store(true, std::memory_order_seq_cst);
  home->poller_.wake();  // one write(2) to an eventfd: async-signal-safe
}

void Scheduler::interrupt_thread(Scheduler* scheduler, int source, InterruptKind kind) {
  std::uint64_t bit = interrupt_source_bit(source);
  if (bit == 0 || scheduler == nullptr) return;
  auto& word = kind == InterruptKind::kRestart ? scheduler->thread_restart_ : scheduler->thread_no_restart_;
  word.fetch_or(bit, std::memory_order_acq_rel);
  scheduler->interrupts_posted_.store(true, std::memory_order_seq_cst);
  scheduler->poller_.wake();
}

void Scheduler::deliver_interrupts() {
  interrupts_posted_.store(false, std::memory_order_seq_cst);
  std::uint64_t restart = thread_restart_.exchange(0, std::memory_order_acq_rel);
  std::uint64_t no_restart = thread_no_restart_.exchange(0, std::memory_order_acq_rel);
  // Oldest first: the started list is newest first, so walk it from its tail.
  Coroutine* oldest = started_head_;
  while (oldest != nullptr && oldest->next_started_ != nullptr) oldest = oldest->next_started_;
  for (Coroutine* c = oldest; c != nullptr; c = c->prev_started_) {
    if (!c->in_interruptible_call_) continue;
    Coroutine::Extras& extras = c->extras();  // made when the call opened
    if (restart != 0) extras.posted_restart.fetch_or(restart, std::memory_order_acq_rel);
    if (no_restart != 0) extras.posted_no_restart.fetch_or(no_restart, std::memory_order_acq_rel);
    if (c->state() != CoroutineState::kParked || !interrupt_matches(c)) continue;  // pending until it parks
    std::uint64_t ticket = c->armed_ticket_.load(std::memory_order_acquire);
    if (ticket != 0 && unpark(c, ticket, WakeReason::kInterrupted)) c->clear_posted_interrupts();
  }
}

}  // namespace cohook
