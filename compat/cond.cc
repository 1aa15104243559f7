// libco's co_cond_*: a FIFO of waiting coroutines, built on cohook's parking protocol.
//
// A signal pops waiters until one of them is actually woken: a waiter whose timeout already won
// its ticket stays parked no longer and must not swallow the signal. Waiter records live in the
// waiting coroutines' wait storage (see CondWaiter), so nothing here allocates per wait.
#include <cerrno>
#include <chrono>
#include <mutex>

#include "cohook/detail/wait_list.hpp"
#include "compat/routine.h"
#include "sched/scheduler.h"

using cohook::libco::CondWaiter;

struct stCoCond_t {
  cohook::detail::SpinLock lock;  // a cond may be signalled from another thread
  CondWaiter* head = nullptr;
  CondWaiter* tail = nullptr;
};

namespace cohook::libco {
namespace {

void push_back(stCoCond_t* cond, CondWaiter* waiter) {
  waiter->owner = cond;
  waiter->next = nullptr;
  waiter->prev = cond->tail;
  if (cond->tail != nullptr) cond->tail->next = waiter;
  else cond->head = waiter;
  cond->tail = waiter;
}

void unlink(stCoCond_t* cond, CondWaiter* waiter) {
  if (waiter->prev != nullptr) waiter->prev->next = waiter->next;
  else cond->head = waiter->next;
  if (waiter->next != nullptr) waiter->next->prev = waiter->prev;
  else cond->tail = waiter->prev;
  waiter->prev = waiter->next = nullptr;
  waiter->owner = nullptr;
}

// Wakes up to `count` waiters (each one that a timeout has not already claimed).
void wake(stCoCond_t* cond, std::size_t count) {
  std::lock_guard<detail::SpinLock> guard(cond->lock);
  while (count > 0 && cond->head != nullptr) {
    CondWaiter* waiter = cond->head;
    // Read before the unlink: once unlinked, a waiter whose timeout fired may return and reuse
    // its record for its next wait.
    Coroutine* coroutine = waiter->coroutine;
    std::uint64_t ticket = waiter->ticket;
    unlink(cond, waiter);
    if (Scheduler::unpark(coroutine, ticket)) --count;
  }
}

// The steps before and after co_cond_timedwait's park, out of line: the waiting frame stays on
// the coroutine's stack, which a shared stack copies away and back at every park, so only the
// coroutine's address should live across the park (its waiter record is found from it).
// Queues the coroutine's fresh waiter record; returns the park's deadline.
[[gnu::noinline]] TimePoint enqueue(stCoCond_t* cond, Coroutine* self, int timeout_ms) {
  CondWaiter* waiter = &self->fresh_wait_record<CondWaiter>();
  waiter->coroutine = self;
  waiter->ticket = Scheduler::prepare_park();
  {
    std::lock_guard<detail::SpinLock> guard(cond->lock);
    push_back(cond, waiter);
  }
  // libco: a timeout of 0 or less means no timeout. park_until's timer is the coroutine's own
  // (never in the parked frame, which a shared stack copies away).
  return timeout_ms > 0 ? deadline_after(std::chrono::milliseconds(timeout_ms)) : kNoDeadline;
}

// Timed out (or woken by co_cond_free): still queued, unless a signaller has just popped us.
[[gnu::noinline]] void dequeue(Coroutine* self) {
  CondWaiter* waiter = &self->wait_record<CondWaiter>();
  if (stCoCond_t* owner = waiter->owner) {
    std::lock_guard<detail::SpinLock> guard(owner->lock);
    if (waiter->owner == owner) unlink(owner, waiter);
  }
}

}  // namespace
}  // namespace cohook::libco

extern "C" {

stCoCond_t* co_cond_alloc() { return new stCoCond_t; }

int co_cond_free(stCoCond_t* cond) {
  if (cond == nullptr) return 0;
  cohook::libco::wake(cond, ~std::size_t{0});  // nobody may stay parked on freed memory
  delete cond;
  return 0;
}

int co_cond_signal(stCoCond_t* cond) {
  if (cond != nullptr) cohook::libco::wake(cond, 1);
  return 0;
}

int co_cond_broadcast(stCoCond_t* cond) {
  if (cond != nullptr) cohook::libco::wake(cond, ~std::size_t{0});
  return 0;
}

int co_cond_timedwait(stCoCond_t* cond, int timeout_ms) {
  cohook::Coroutine* self = cohook::Coroutine::current();
  if (cond == nullptr || self == nullptr) {
    errno = EPERM;
    return -1;
  }
  cohook::TimePoint deadline = cohook::libco::enqueue(cond, self, timeout_ms);
  cohook::Scheduler::park_until(self->wait_record<CondWaiter>().ticket, deadline, "co_cond");
  cohook::libco::dequeue(self);
  return 0;  // libco returns 0 whether signalled or timed out
}

}  // extern "C"
