// Signals for green threads: what each green thread keeps (its mask, the signals directed at it
// while blocked, a sigwait in progress) and what the three signal files share.
//
// The model (README, "Signals under corun"): the scheduler threads block no signal, so the
// kernel may hand any signal to any of them; cohook then decides, as the kernel decides among a
// process's threads, which green thread it is for (green/signal_delivery.cc). A signal every
// green thread blocks is kept pending by cohook, process-wide, until one unblocks it or a
// sigwait takes it. While some green thread blocks (or waits for) a signal whose disposition is
// SIG_DFL or SIG_IGN, the hook layer's trampoline stands in as its kernel handler (the
// "catcher"), so that the kernel never acts on a signal that every green thread blocks.
//
// Every delivery to a chosen green thread (pthread_kill, raise, a pending signal it unblocks)
// is a real signal raised on the calling OS thread, carrying the target's id in the siginfo:
// the kernel then runs the user's disposition with its own mask, flags and siginfo, and the
// trampoline knows whom it was for.
#pragma once

#include <signal.h>

#include <atomic>
#include <cstdint>

namespace cohook {
class Coroutine;
}

namespace cohook::green {

struct GreenThread;

inline constexpr std::uint64_t signal_bit(int signal) {
  return (signal >= 1 && signal <= 64) ? std::uint64_t{1} << (signal - 1) : 0;
}
// SIGKILL and SIGSTOP cannot be blocked; glibc keeps its own SIGCANCEL (32) and SIGSETXID (33)
// out of every mask a program sets.
inline constexpr std::uint64_t kNeverBlocked =
    signal_bit(SIGKILL) | signal_bit(SIGSTOP) | signal_bit(32) | signal_bit(33);

// A sigwait/sigwaitinfo/sigtimedwait in progress, on the waiter's stack. A signal handler that
// picks this waiter takes the slot (GreenSignals::wait_slot becomes null), fills it and sets
// `signal` last.
struct SignalWaitSlot {
  std::uint64_t set = 0;
  std::atomic<int> signal{0};
  siginfo_t info{};
};

struct GreenSignals {
  std::atomic<std::uint64_t> blocked{0};  // the green thread's mask
  std::atomic<std::uint64_t> pending{0};  // directed at it (pthread_kill) while it blocked them
  std::atomic<SignalWaitSlot*> wait_slot{nullptr};
  std::atomic<Coroutine*> coroutine{nullptr};  // once it runs
  // The registry of live green threads (under SignalLock).
  GreenThread* previous = nullptr;
  GreenThread* next = nullptr;
  bool registered = false;
};

// The one lock of signal state (the registry, the process-wide pending signals), in normal
// context: no system call (thread creation and exit take it). A handler that interrupts its
// holder on the same OS thread must not wait for it: it defers the signal (defer_signal).
class SignalLock {
 public:
  SignalLock();
  ~SignalLock();
  SignalLock(const SignalLock&) = delete;
  SignalLock& operator=(const SignalLock&) = delete;
};

// The same lock in a signal handler: every signal blocked on this OS thread while held. Only
// if held_by_this_thread() is false.
class HandlerSignalLock {
 public:
  HandlerSignalLock();
  ~HandlerSignalLock();
  HandlerSignalLock(const HandlerSignalLock&) = delete;
  HandlerSignalLock& operator=(const HandlerSignalLock&) = delete;

 private:
  sigset_t saved_;
};

// True in a handler that interrupted this OS thread while it held SignalLock.
bool signal_lock_held_by_this_thread();
// From such a handler: queues the signal again on this thread, blocked until the holder lets
// the lock go (the handler's `context` mask is changed so that it stays blocked on return).
void defer_signal(int signal, const siginfo_t* info, void* context);

std::uint64_t bits_of(const sigset_t* set);
// Writes the first 8 bytes only, as the kernel does for rt_sigprocmask's old set.
void store_bits(std::uint64_t bits, sigset_t* set);
int real_thread_sigmask(int how, const sigset_t* set, sigset_t* old);

// ---- green/signal_mask.cc ----
// The caller, if it is a green thread on its coroutine (the signal calls are emulated for it);
// nullptr: the real functions apply.
GreenThread* green_caller();
// Under SignalLock: the registry, oldest first, and lookup by id.
GreenThread* registry_first();
GreenThread* registry_next(GreenThread* thread);
GreenThread* registered_thread(std::uint32_t id);
GreenThread* registered_main();
// The running green thread (a coroutine that runs a GreenThread), or nullptr.
GreenThread* running_green_thread();
// Sets the running green thread's mask, then delivers what it no longer blocks.
void set_green_mask(GreenThread* self, std::uint64_t mask);
// Delivers to the running green thread the pending signals it does not block.
void deliver_unblocked_pending(GreenThread* self);
// A sigwait for `set` starts or ends: the catcher is kept for those signals meanwhile.
void add_interest(std::uint64_t set);
void remove_interest(std::uint64_t set);
// For the hook layer's GreenSignalPolicy.
bool green_wants_catcher(int signal);
bool green_begin_masked_wait(const sigset_t* mask, std::uint64_t* saved);
void green_end_masked_wait(std::uint64_t saved);
// pthread_sigmask as the program sees it: the green thread's mask, or the real one elsewhere.
int green_thread_sigmask(int how, const sigset_t* set, sigset_t* old);

// ---- green/signal_delivery.cc ----
// Raises `signal` on this OS thread for `target` (synchronous when this thread does not block
// it); `info` nullptr means pthread_kill's (SI_TKILL from this process).
void raise_for(GreenThread* target, int signal, const siginfo_t* info);
// Process-wide pending signals (blocked by every green thread). process_pending() may be read
// without SignalLock as a hint (a signal may arrive right after); taking needs the lock.
std::uint64_t process_pending();
bool take_process_pending(std::uint64_t among, int* signal, siginfo_t* info);
void install_signal_policy();

// ---- green/signal_wait.cc ----
// True while a green thread is parked in sigwait, sigsuspend or pause: a signal from outside
// may wake it, so a check for a global deadlock must not count it as stuck.
bool green_threads_wait_for_signals();

// ---- lifecycle (green_runtime.cc, thread_lifecycle.cc) ----
// Once, at the start of green mode on the first thread: takes the process's signal mask for
// main and unblocks everything on the scheduler threads.
void begin_green_signals();
// A new green thread (main: creator nullptr) gets its mask (the creator's, or the initial
// one) and joins the registry.
void signals_thread_created(GreenThread* creator, GreenThread* thread);
// On its own coroutine, before its start routine.
void signals_thread_started(GreenThread* thread);
// Leaves the registry: a signal directed at it from now on is lost with it.
void signals_thread_finished(GreenThread* thread);
// In a forked child (green/fork_child.cc): fork(2) gives the child an empty set of pending
// signals and one thread, so the registry holds the survivor alone (none if fork was called off
// a green thread), the locks are free, and the catchers stand only where the survivor's mask
// needs them.
void signals_after_fork(GreenThread* survivor);
void forget_process_pending();

}  // namespace cohook::green
