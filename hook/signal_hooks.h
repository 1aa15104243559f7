// What the other hooks need from hook/signal_hooks.cc: which signals have a handler cohook
// knows about, and the per-call signal masks of ppoll, pselect and epoll_pwait.
//
// The policy (README, "Signals"): a signal whose handler was installed through sigaction,
// signal, bsd_signal, sysv_signal, siginterrupt, sigset or sigignore runs the user's handler as usual, and then
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
  // pthread_sigmask as the program sees it (not async-signal-safe): the calling green thread's
  // mask; the real call outside a green thread. Returns 0 or an error number.
  int (*thread_sigmask)(int how, const sigset_t* set, sigset_t* old);
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

// True once green mode's policy is set: signal masks are then per green thread.
bool green_signal_policy_active();

// pthread_sigmask and sigprocmask as the program would call them. cohook's own calls to those
// names reach the real ones (-Wl,--wrap, green/internal_calls.cc); hooks that act for the
// program (system(), the BSD and System V calls) use these instead, which act on the green
// thread's mask under corun. The first returns an error number, the second -1 and errno.
int program_pthread_sigmask(int how, const sigset_t* set, sigset_t* old);
int program_sigprocmask(int how, const sigset_t* set, sigset_t* old);

// Around an exec or a spawn in green mode (not async-signal-safe). A signal the program ignores
// but some green thread blocks has the catcher in the kernel, which exec (and posix_spawn's
// child) would reset to SIG_DFL, where natively SIG_IGN is kept: these put SIG_IGN back in the
// kernel for the call and the catcher again after it (the signals changed are returned).
std::uint64_t ignore_caught_ignored_signals();
void catch_ignored_signals_again(std::uint64_t signals);

}  // namespace cohook::hook
