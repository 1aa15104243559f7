// The calls that wait for a signal park the green thread, not the OS thread: sigwait,
// sigwaitinfo and sigtimedwait take a signal of their set that is pending for the green thread
// or the process, or the next one that arrives (a handler that picks this waiter hands it over
// instead of running); sigsuspend and pause return -1/EINTR once a handler has run for this
// green thread. As in the kernel, a sigwait for a signal the thread does not block also gets it
// (Linux unblocks the set for the wait); POSIX asks programs to block the set first.
#include <errno.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "green/green_thread.h"
#include "green/real_pthread.h"
#include "green/signal_state.h"
#include "hook/interpose.h"
#include "sched/interrupt.h"
#include "sched/scheduler.h"

namespace cohook::green {
namespace {

constexpr std::uint64_t kNeverWaited = signal_bit(SIGKILL) | signal_bit(SIGSTOP);

RealSymbol<int (*)(const sigset_t*, int*)> real_sigwait{"sigwait"};
RealSymbol<int (*)(const sigset_t*, siginfo_t*)> real_sigwaitinfo{"sigwaitinfo"};
RealSymbol<int (*)(const sigset_t*, siginfo_t*, const timespec*)> real_sigtimedwait{"sigtimedwait"};
RealSymbol<int (*)(const sigset_t*)> real_sigsuspend{"sigsuspend"};
RealSymbol<int (*)()> real_pause{"pause"};

std::atomic<int> g_signal_waiters{0};

// Counts a green thread parked until a signal comes (for green_threads_wait_for_signals).
class CountedWaiter {
 public:
  CountedWaiter() { g_signal_waiters.fetch_add(1, std::memory_order_relaxed); }
  ~CountedWaiter() { g_signal_waiters.fetch_sub(1, std::memory_order_relaxed); }
  CountedWaiter(const CountedWaiter&) = delete;
  CountedWaiter& operator=(const CountedWaiter&) = delete;
};

// A signal taken from the green thread's own pending set came from pthread_kill.
void tkill_info(int signal, siginfo_t* info) {
  std::memset(info, 0, sizeof *info);
  info->si_signo = signal;
  info->si_code = SI_TKILL;
  info->si_pid = ::getpid();
  info->si_uid = ::getuid();
}

class SigWait {
 public:
  SigWait(GreenThread* self, std::uint64_t set) : self_(self) {
    slot_.set = set;
    add_interest(set);  // the catcher stands in for SIG_DFL/SIG_IGN while we wait
    publish();
  }
  ~SigWait() {
    retract();
    remove_interest(slot_.set);
  }
  SigWait(const SigWait&) = delete;
  SigWait& operator=(const SigWait&) = delete;

  void publish() { self_->signals.wait_slot.store(&slot_, std::memory_order_seq_cst); }

  // Withdraws the slot; true if a handler took it first, and then the signal it handed over
  // is in *signal and *info.
  bool retract(int* signal = nullptr, siginfo_t* info = nullptr) {
    if (retracted_) return false;
    retracted_ = true;
    SignalWaitSlot* mine = &slot_;
    if (self_->signals.wait_slot.compare_exchange_strong(mine, nullptr, std::memory_order_acq_rel)) return false;
    int handed;
    while ((handed = slot_.signal.load(std::memory_order_acquire)) == 0) {
      // The handler that took the slot is filling it on another thread.
    }
    if (signal != nullptr) *signal = handed;
    if (info != nullptr) *info = slot_.info;
    return true;
  }
  bool taken() const { return self_->signals.wait_slot.load(std::memory_order_acquire) != &slot_; }
  void republish() {
    retracted_ = false;
    publish();
  }

  // A pending signal of the set, the green thread's own first; false if none.
  bool take_pending(int* signal, siginfo_t* info) {
    std::uint64_t mine = self_->signals.pending.load(std::memory_order_acquire) & slot_.set;
    while (mine != 0) {
      int lowest = __builtin_ctzll(mine) + 1;
      if (self_->signals.pending.fetch_and(~signal_bit(lowest), std::memory_order_acq_rel) & signal_bit(lowest)) {
        *signal = lowest;
        tkill_info(lowest, info);
        return true;
      }
      mine &= ~signal_bit(lowest);
    }
    SignalLock lock;
    return take_process_pending(slot_.set, signal, info);
  }
  bool any_pending() {
    std::uint64_t bits = self_->signals.pending.load(std::memory_order_seq_cst);
    return ((bits | process_pending()) & slot_.set) != 0;
  }

 private:
  GreenThread* self_;
  SignalWaitSlot slot_;
  bool retracted_ = false;
};

// sigtimedwait for a green thread: the signal number, or -1 with errno (EAGAIN at the timeout,
// EINTR after a handler for another signal ran for this thread, EINVAL for a bad timeout).
int wait_for_signal(GreenThread* self, const sigset_t* set, siginfo_t* info, const timespec* timeout) {
  if (timeout != nullptr && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1'000'000'000)) {
    errno = EINVAL;
    return -1;
  }
  TimePoint deadline = kNoDeadline;
  if (timeout != nullptr)
    deadline = deadline_after(std::chrono::seconds(timeout->tv_sec) + std::chrono::nanoseconds(timeout->tv_nsec));
  InterruptibleCall call(/*restartable=*/false);  // signal(7): never restarted
  CountedWaiter counted;
  SigWait wait(self, bits_of(set) & ~kNeverWaited);
  int signal = 0;
  siginfo_t got;
  for (;;) {
    if (wait.any_pending()) {
      if (wait.retract(&signal, &got)) break;       // handed over meanwhile
      if (wait.take_pending(&signal, &got)) break;  // else another waiter took it: wait on
      wait.republish();
      continue;
    }
    if (deadline != kNoDeadline && Clock::now() >= deadline) {
      if (wait.retract(&signal, &got)) break;
      errno = EAGAIN;
      return -1;
    }
    WakeReason why = Scheduler::sleep_until(deadline);
    if (wait.taken()) {
      wait.retract(&signal, &got);
      break;
    }
    if (why == WakeReason::kInterrupted) {
      if (wait.retract(&signal, &got)) break;
      errno = EINTR;  // a handler ran for this green thread
      return -1;
    }
  }
  // glibc folds the kernel's SI_TKILL (raise, pthread_kill) into SI_USER here, for POSIX.
  if (got.si_code == SI_TKILL) got.si_code = SI_USER;
  if (info != nullptr) *info = got;
  return signal;
}

// sigsuspend for a green thread: waits with `mask` until a handler has run for it.
int suspend_with(GreenThread* self, std::uint64_t mask) {
  std::uint64_t saved = self->signals.blocked.load(std::memory_order_relaxed);
  {
    // Open first: a handler run for this green thread from here on (even one for a pending
    // signal the new mask lets through, delivered inside set_green_mask) ends the wait.
    InterruptibleCall call(/*restartable=*/false);
    CountedWaiter counted;
    set_green_mask(self, mask);
    while (Scheduler::sleep_until(kNoDeadline) != WakeReason::kInterrupted) {
    }
  }
  // Signals the temporary mask held back arrive now, as the kernel delivers them on return.
  set_green_mask(self, saved);
  errno = EINTR;
  return -1;
}

}  // namespace

bool green_threads_wait_for_signals() {
  return g_signal_waiters.load(std::memory_order_relaxed) > 0;
}

}  // namespace cohook::green

using namespace cohook::green;

COHOOK_INTERPOSE int sigwait(const sigset_t* set, int* signal) {
  GreenThread* self = green_caller();
  if (self == nullptr) return real_sigwait(set, signal);
  for (;;) {  // glibc's sigwait retries after a handler for another signal
    int saved_errno = errno;
    int got = wait_for_signal(self, set, nullptr, nullptr);
    int error = errno;
    errno = saved_errno;
    if (got > 0) {
      *signal = got;
      return 0;
    }
    if (error != EINTR) return error;
  }
}

COHOOK_INTERPOSE int sigwaitinfo(const sigset_t* set, siginfo_t* info) {
  GreenThread* self = green_caller();
  if (self == nullptr) return real_sigwaitinfo(set, info);
  return wait_for_signal(self, set, info, nullptr);
}

COHOOK_INTERPOSE int sigtimedwait(const sigset_t* set, siginfo_t* info, const struct timespec* timeout) {
  GreenThread* self = green_caller();
  if (self == nullptr) return real_sigtimedwait(set, info, timeout);
  return wait_for_signal(self, set, info, timeout);
}

COHOOK_INTERPOSE int sigsuspend(const sigset_t* mask) {
  GreenThread* self = green_caller();
  if (self == nullptr) return real_sigsuspend(mask);
  return suspend_with(self, bits_of(mask));
}

COHOOK_INTERPOSE int pause() {
  GreenThread* self = green_caller();
  if (self == nullptr) return real_pause();
  return suspend_with(self, self->signals.blocked.load(std::memory_order_relaxed));
}
