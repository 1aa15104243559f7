// Interruptions: how a parked wait is cut short the way a signal cuts a system call short
// (signal(7)), without sched/ knowing anything about signals or hooks.
//
// THE CONTRACT (the hook layer and green threads build on it):
//
// * An interruptible call is a span of a coroutine's life, opened and closed by the coroutine
//   itself with an InterruptibleCall scope, around a wait that may end early (an fd wait, a
//   timed sleep, a poll). Every park made inside the scope is interruptible: open one only
//   around parks whose waker tolerates losing the race (fd and timer waits do; an offload job or
//   a mutex hand-off does not). Scopes nest; the inner one rules until it closes.
//
// * An interruption carries a source, a number 1..64 (the hook layer uses the signal number),
//   and a kind:
//     kNoRestart: cuts short every interruptible call that accepts the source
//                 (a handler without SA_RESTART);
//     kRestart:   cuts short only calls opened with restartable == false (a handler with
//                 SA_RESTART: poll, sleep and timed socket calls still fail with EINTR, a plain
//                 read keeps waiting).
//   A call accepts the sources in its `accepts` set (a bit per source, bit n-1 for source n):
//   a ppoll whose mask blocks a signal does not accept it.
//
// * Posting never loses an interruption that arrives during the call: if the coroutine is inside
//   a matching call but not parked at that moment (it is between attempts, or queued to run),
//   the interruption stays pending in the coroutine, and its next park within the call returns
//   WakeReason::kInterrupted at once. An interruption posted while the coroutine is outside any
//   interruptible call is dropped when the next call opens, as a signal that arrives while a
//   thread runs user code interrupts no system call.
//
// * A park that was cut short returns WakeReason::kInterrupted; only one waker wins a ticket, so
//   an interruption racing an fd event or a timeout yields exactly one of them. The caller then
//   either fails with EINTR or waits again (restart), as libc would.
//
// * Posting is async-signal-safe: Scheduler::interrupt and Scheduler::interrupt_thread touch
//   only atomics and write the target scheduler's wake-up eventfd (one write(2)), so they may be
//   called from a signal handler that runs on a scheduler thread inside epoll_wait, inside a
//   coroutine, or on a plain thread. The target scheduler's loop does the rest on its own thread
//   at the start of its next round: it walks its started coroutines (cost: one pass over them
//   per round that has interruptions; signals are rare) and unparks the matching ones with
//   kInterrupted, oldest first.
//
// Which coroutine a signal interrupts is the hook layer's policy (hook/signal_hooks.cc):
// interrupt_thread() reaches every coroutine of that scheduler inside a matching call;
// interrupt() reaches exactly one (green threads direct a pthread_kill at one green thread).
#pragma once

#include <cstdint>

namespace cohook {

class Coroutine;
class Scheduler;

enum class InterruptKind : std::uint8_t {
  kRestart,    // interrupts only calls opened with restartable == false
  kNoRestart,  // interrupts every call that accepts the source
};

inline constexpr std::uint64_t kAllInterruptSources = ~std::uint64_t{0};
inline constexpr std::uint64_t interrupt_source_bit(int source) {
  return (source >= 1 && source <= 64) ? std::uint64_t{1} << (source - 1) : 0;
}

// Marks the running coroutine as inside an interruptible call for the scope's lifetime (a no-op
// outside a coroutine). Interruptions pending from before the scope opened are dropped.
class InterruptibleCall {
 public:
  // restartable: a kRestart interruption leaves this call waiting (read, accept, connect...).
  // accepts: the sources that may interrupt it (default: all).
  explicit InterruptibleCall(bool restartable, std::uint64_t accepts = kAllInterruptSources);
  InterruptibleCall(const InterruptibleCall&) = delete;
  InterruptibleCall& operator=(const InterruptibleCall&) = delete;
  ~InterruptibleCall();

  // True if an interruption for this call is pending (it arrived while the coroutine was not
  // parked); consumes it. For calls that want to check between attempts without parking.
  bool take_pending();

 private:
  Coroutine* coroutine_;
  bool outer_active_ = false;
  bool outer_restartable_ = false;
  std::uint64_t outer_accepts_ = 0;
};

}  // namespace cohook
