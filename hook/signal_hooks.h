// What the other hooks need from hook/signal_hooks.cc: which signals have a handler cohook
// knows about, and the per-call signal masks of ppoll, pselect and epoll_pwait.
//
// The policy (README, "Signals"): a signal whose handler was installed through sigaction,
// signal, bsd_signal, sysv_signal or siginterrupt runs the user's handler as usual, and then
// interrupts every coroutine of the thread it was delivered to that is inside an interruptible
// call (Scheduler::interrupt_thread): EINTR unless the handler has SA_RESTART; poll, select,
// epoll_wait, the sleep family and socket calls with a timeout fail with EINTR either way.
#pragma once

#include <signal.h>

#include <cstdint>

#include "sched/interrupt.h"

namespace cohook::hook {

// The interruption sources (sched/interrupt.h: bit n-1 for signal n) a call with this signal
// mask accepts: every signal the mask does not block. nullptr: all.
std::uint64_t sources_not_blocked_by(const sigset_t* mask);

// The wait of ppoll/pselect/epoll_pwait with a mask, in a coroutine. The kernel swaps the
// thread's mask for the call's during the wait; a coroutine shares the thread, so instead:
// - a signal the call's mask blocks does not interrupt this call (other coroutines' calls may
//   still be interrupted, and its handler runs when it arrives, not after the call);
// - a signal the thread blocks but the call's mask unblocks is unblocked on the thread while
//   the call waits (counted, so overlapping calls agree), and blocked again when the last such
//   call ends: a handler may then run while another coroutine of the thread runs.
// Also opens the InterruptibleCall (never restartable: signal(7) never restarts these calls).
class MaskedWait {
 public:
  explicit MaskedWait(const sigset_t* mask);
  MaskedWait(const MaskedWait&) = delete;
  MaskedWait& operator=(const MaskedWait&) = delete;
  ~MaskedWait();

 private:
  InterruptibleCall call_;
  std::uint64_t unblocked_ = 0;  // signals this call unblocked on the thread
};

}  // namespace cohook::hook
