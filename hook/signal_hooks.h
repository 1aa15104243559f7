// What the other hooks need from hook/signal_hooks.cc: which signals have a handler cohook
// knows about, and the per-call signal masks of ppoll, pselect and epoll_pwait.
//
// The policy (README, "Signals"): a signal whose handler was installed through sigaction,
// signal, bsd_signal, sysv_signal or siginterrupt runs the user's handler as usual, and then
// interrupts every coroutine of the thread it was delivered to that is inside an interruptible
// call (Scheduler::interrupt_thread): EINTR unless the handler has SA_RESTART; poll, select,
// epoll_wait, the sleep family and socket calls with a timeout fail with EINTR either way.
// In green mode (corun) a signal is for one green thread instead: see GreenSignalPolicy.
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
  bool green_ = false;           // green mode: the green thread's mask was swapped instead
  std::uint64_t green_saved_ = 0;
};

// Green mode's signal policy (green/signal_delivery.cc), which replaces "interrupt every
// coroutine of the thread" with "deliver to one green thread, as the kernel picks a thread".
// The hook layer keeps the user's dispositions and the trampoline; green/ decides whom a signal
// is for. Every function here may be called from a signal handler unless said otherwise.
struct GreenSignalPolicy {
  // Before the user's disposition is acted on. Returns kNoTarget (deliver, interrupt nothing),
  // kWithheld (not delivered now: kept pending for a green thread that blocks it, or handed to
  // a sigwait; the handler must not run), or the id of the green thread it is for.
  std::uint32_t (*route)(int signal, siginfo_t* info, void* context);
  // After a handler ran for `target`: cut its parked call short (EINTR per SA_RESTART).
  void (*interrupt)(std::uint32_t target, int signal, InterruptKind kind);
  // True while some green thread blocks or waits for `signal`: the kernel must then not act on
  // SIG_DFL/SIG_IGN itself, so the trampoline stands in as the kernel's handler (the "catcher").
  bool (*wants_catcher)(int signal);
  // ppoll/pselect/epoll_pwait in a green thread (not async-signal-safe): swap the green
  // thread's mask for the call's; false outside a green thread.
  bool (*begin_masked_wait)(const sigset_t* mask, std::uint64_t* saved);
  void (*end_masked_wait)(std::uint64_t saved);
};
inline constexpr std::uint32_t kNoTarget = 0;
inline constexpr std::uint32_t kWithheld = ~std::uint32_t{0};

// Set once when green mode starts (never reset).
void set_green_signal_policy(const GreenSignalPolicy* policy);

// Reinstalls `signal`'s kernel disposition from the user's (not async-signal-safe): the
// catcher when the policy wants one and the user's disposition is SIG_DFL or SIG_IGN, else the
// user's own. A handler not installed through these hooks (cohook's own, one installed before
// libcohook.so was loaded) is left alone.
void refresh_kernel_disposition(int signal);

}  // namespace cohook::hook
