#include "sched/baton.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "sched/coroutine.h"
#include "sched/scheduler.h"
#include "sched/spin_wait.h"

namespace cohook {
namespace {

// Raw futex: the runtime never goes through interposed wrappers for its own waits.
void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected, TimePoint deadline) {
  timespec absolute{};
  timespec* timeout = nullptr;
  if (deadline != kNoDeadline) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count();
    absolute.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    absolute.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    timeout = &absolute;  // steady_clock is CLOCK_MONOTONIC, which FUTEX_WAIT_BITSET uses
  }
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, expected,
            timeout, nullptr, FUTEX_BITSET_MATCH_ANY);
}

void futex_wake_one(std::atomic<std::uint32_t>* word) {
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, nullptr, nullptr,
            0);
}

}  // namespace

bool Baton::wait_until(TimePoint deadline, const char* what) {
  Coroutine* self = Coroutine::current();
  if (self == nullptr) return wait_thread(deadline);

  std::uint32_t from = kIdle;
  if (Scheduler::may_spin_for_post()) {
    if (!state_.compare_exchange_strong(from, kSpinning, std::memory_order_acq_rel)) {
      await_post();  // posted before we got here
      return true;
    }
    // On post_done_ rather than state_: the poster writes both on one line, and the flag comes
    // last, so the one transfer that ends the spin also ends await_post's wait.
    if (Scheduler::spin_for_post(post_done_, deadline)) return true;
    from = kSpinning;
  }
  std::uint64_t ticket = Scheduler::prepare_park();
  coroutine_.store(self, std::memory_order_relaxed);
  ticket_.store(ticket, std::memory_order_relaxed);
  std::uint32_t expected = from;
  if (!state_.compare_exchange_strong(expected, kWaitingCoroutine, std::memory_order_acq_rel)) {
    // Posted before we got here; nobody has our ticket, so disarming cannot fail.
    Scheduler::cancel_park(ticket);
    await_post();
    return true;
  }
  WakeReason reason = Scheduler::park_until(ticket, deadline, what);
  if (reason == WakeReason::kTimeout) {
    expected = kWaitingCoroutine;
    if (state_.compare_exchange_strong(expected, kTimedOut, std::memory_order_acq_rel)) return false;
    // A post raced our timer and lost the unpark to it, but the post did happen.
  }
  await_post();
  return true;
}

bool Baton::wait_thread(TimePoint deadline) {
  std::uint32_t expected = kIdle;
  if (state_.compare_exchange_strong(expected, kWaitingThread, std::memory_order_acq_rel)) {
    for (;;) {
      std::uint32_t now_state = state_.load(std::memory_order_acquire);
      if (now_state == kPosted) break;
      if (deadline != kNoDeadline && Clock::now() >= deadline) {
        expected = kWaitingThread;
        if (state_.compare_exchange_strong(expected, kTimedOut, std::memory_order_acq_rel)) return false;
        break;  // posted meanwhile
      }
      futex_wait(&state_, kWaitingThread, deadline);
    }
  }
  await_post();
  return true;
}

constinit std::atomic<std::uint32_t> Baton::s_generation{0};

void Baton::post() {
  if (waiter_vanished()) return;  // its thread is gone with the fork: it must not run here
  // The waiter's identity is read only after the exchange has shown that a coroutine waits: the
  // exchange acquires the waiter's release CAS, which published coroutine_ and ticket_. Read
  // before it, they may predate the wait (a null coroutine: a crash; an old ticket: a lost
  // wake-up). The waiter cannot free this baton meanwhile: it waits for post_done_ (below).
  std::uint32_t previous = state_.exchange(kPosted, std::memory_order_acq_rel);
  if (previous == kWaitingCoroutine) {
    // The waiter may run on its thread as soon as it is queued, and it spins on post_done_:
    // the eventfd write that may still be owed to its scheduler comes after post_done_.
    Scheduler* owed = Scheduler::unpark_deferred(coroutine_.load(std::memory_order_relaxed),
                                                 ticket_.load(std::memory_order_relaxed), WakeReason::kUnparked);
    post_done_.store(true, std::memory_order_release);
    if (owed != nullptr) owed->signal_remote();
    return;
  }
  if (previous == kWaitingThread) futex_wake_one(&state_);
  post_done_.store(true, std::memory_order_release);
}

void Baton::await_post() {
  int spins = 0;
  while (!post_done_.load(std::memory_order_acquire)) spin_then_yield(spins);
}

}  // namespace cohook
