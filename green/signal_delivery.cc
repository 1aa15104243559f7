// Whom a signal is for, in green mode: the policy the hook layer's trampoline consults
// (hook/signal_hooks.h, GreenSignalPolicy), the signals kept pending for the whole process, and
// pthread_kill, pthread_sigqueue and raise aimed at green threads.
//
// A process-directed signal (kill, Ctrl-C, a timer) goes where the kernel would send it among
// threads (complete_signal() in Linux): to a thread waiting for it in sigwait, else to the main
// thread if it does not block it, else to the thread that is running if it does not, else to
// any thread that does not. A signal every green thread blocks stays pending for the process
// until one unblocks it or a sigwait takes it. The handler runs on the OS thread that took the
// signal; what follows the green-thread model is which parked call it cuts short: the chosen
// green thread's (EINTR as signal(7) says), and nobody's if that green thread was running.
#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "green/green_thread.h"
#include "green/real_pthread.h"
#include "green/signal_state.h"
#include "hook/interpose.h"
#include "hook/signal_hooks.h"
#include "sched/scheduler.h"

namespace cohook::green {
namespace {

// A delivery cohook raises for one green thread carries the target's id in bytes of the
// siginfo that the kill, tkill and queue layouts leave unused (the kernel copies its 48-byte
// siginfo through, from the last word of _sigchld's times; signal(7) senders leave it zero).
// The trampoline reads it and clears it before the user's handler sees the siginfo.
constexpr std::size_t kMarkerOffset = 40;
constexpr std::uint64_t kMarkerTag = 0xc0c0516700000000ull;

void put_marker(siginfo_t* info, std::uint32_t id) {
  std::uint64_t word = kMarkerTag | id;
  std::memcpy(reinterpret_cast<char*>(info) + kMarkerOffset, &word, sizeof word);
}

std::uint32_t take_marker(siginfo_t* info) {
  if (info == nullptr) return 0;
  std::uint64_t word;
  std::memcpy(&word, reinterpret_cast<char*>(info) + kMarkerOffset, sizeof word);
  if ((word & 0xffffffff00000000ull) != kMarkerTag) return 0;
  std::uint64_t zero = 0;
  std::memcpy(reinterpret_cast<char*>(info) + kMarkerOffset, &zero, sizeof zero);
  return static_cast<std::uint32_t>(word);
}

// Process-wide pending signals (under SignalLock). A standard signal is pending once however
// often it arrives; a real-time one is queued (counted), each delivery with the first one's
// siginfo.
std::atomic<std::uint64_t> g_pending{0};  // written under SignalLock; read without it too
siginfo_t g_pending_info[65];
unsigned g_pending_count[65];

void add_process_pending(int signal, const siginfo_t* info) {
  std::uint64_t bit = signal_bit(signal);
  if ((g_pending.load(std::memory_order_relaxed) & bit) == 0) {
    g_pending.fetch_or(bit, std::memory_order_seq_cst);
    g_pending_info[signal] = *info;
    g_pending_count[signal] = 1;
  } else if (signal >= SIGRTMIN) {
    ++g_pending_count[signal];
  }
}

bool is_fault(int signal) {
  return signal == SIGSEGV || signal == SIGBUS || signal == SIGFPE || signal == SIGILL || signal == SIGTRAP ||
         signal == SIGSYS;
}

// Hands `signal` to `thread` if it is in a sigwait for it. Under SignalLock.
bool hand_to_waiter(GreenThread* thread, int signal, const siginfo_t* info) {
  // seq_cst, like the waiter's publish and its look at the pending sets: one of the two sees
  // the other (the signal is handed over, or the waiter finds it pending).
  SignalWaitSlot* slot = thread->signals.wait_slot.load(std::memory_order_seq_cst);
  if (slot == nullptr || (slot->set & signal_bit(signal)) == 0) return false;
  if (!thread->signals.wait_slot.compare_exchange_strong(slot, nullptr, std::memory_order_acq_rel)) return false;
  slot->info = *info;
  slot->info.si_signo = signal;
  // Wake it before publishing the signal: once published, the waiter may return and open
  // another call, which this interruption must not reach (a new call drops older ones).
  if (Coroutine* coroutine = thread->signals.coroutine.load(std::memory_order_acquire))
    Scheduler::interrupt(coroutine, signal, InterruptKind::kNoRestart);
  slot->signal.store(signal, std::memory_order_release);
  return true;
}

// GreenSignalPolicy::route: in the trampoline, on whatever thread took the signal.
std::uint32_t route(int signal, siginfo_t* info, void* context) {
  std::uint64_t bit = signal_bit(signal);
  if (bit == 0 || info == nullptr) return hook::kNoTarget;
  GreenThread* running = running_green_thread();
  if (info->si_code > 0 && is_fault(signal)) {
    // A fault (SIGSEGV from a bad access...) belongs to the code that caused it.
    take_marker(info);
    return running != nullptr ? running->id : hook::kNoTarget;
  }
  if (signal_lock_held_by_this_thread()) {
    defer_signal(signal, info, context);  // routed once this thread lets the lock go
    return hook::kWithheld;
  }
  std::uint32_t directed = take_marker(info);
  HandlerSignalLock lock;
  if (directed != 0) {
    GreenThread* target = registered_thread(directed);
    if (target == nullptr) return hook::kWithheld;  // it has ended: its pending signals end with it
    if (hand_to_waiter(target, signal, info)) return hook::kWithheld;
    if (target->signals.blocked.load(std::memory_order_acquire) & bit) {
      target->signals.pending.fetch_or(bit, std::memory_order_seq_cst);
      return hook::kWithheld;
    }
    return directed;
  }
  for (GreenThread* t = registry_first(); t != nullptr; t = registry_next(t))
    if (hand_to_waiter(t, signal, info)) return hook::kWithheld;
  GreenThread* main = registered_main();
  if (main != nullptr && (main->signals.blocked.load(std::memory_order_acquire) & bit) == 0) return main->id;
  if (running != nullptr && running->signals.registered &&
      (running->signals.blocked.load(std::memory_order_acquire) & bit) == 0)
    return running->id;
  for (GreenThread* t = registry_first(); t != nullptr; t = registry_next(t))
    if ((t->signals.blocked.load(std::memory_order_acquire) & bit) == 0) return t->id;
  add_process_pending(signal, info);
  return hook::kWithheld;
}

// GreenSignalPolicy::interrupt: after the handler ran for `target`.
void interrupt_target(std::uint32_t target, int signal, InterruptKind kind) {
  // route() found this thread outside the lock, and the handler has taken and released it
  // whole if at all; a nested signal that interrupted a holder here was deferred.
  if (signal_lock_held_by_this_thread()) return;
  HandlerSignalLock lock;
  GreenThread* thread = registered_thread(target);
  if (thread == nullptr) return;
  if (Coroutine* coroutine = thread->signals.coroutine.load(std::memory_order_acquire))
    Scheduler::interrupt(coroutine, signal, kind);
}

constinit const hook::GreenSignalPolicy kPolicy{&route, &interrupt_target, &green_wants_catcher,
                                                &green_begin_masked_wait, &green_end_masked_wait,
                                                &green_thread_sigmask};

// pthread_kill/pthread_sigqueue on a green thread: 0 or an error number, as glibc returns.
int send_to_green(GreenThread* thread, int signal, const siginfo_t* info) {
  // glibc refuses its own SIGCANCEL and SIGSETXID.
  if (signal < 0 || signal > 64 || signal == 32 || signal == 33) return EINVAL;
  bool alive;
  {
    SignalLock lock;
    alive = thread->signals.registered;
  }
  // glibc 2.34+: a thread that has exited (not yet joined) takes any signal silently.
  if (!alive || signal == 0) return 0;
  raise_for(thread, signal, info);
  return 0;
}

}  // namespace

void raise_for(GreenThread* target, int signal, const siginfo_t* info) {
  siginfo_t sent;
  if (info != nullptr) {
    sent = *info;
  } else {
    std::memset(&sent, 0, sizeof sent);
    sent.si_code = SI_TKILL;  // what the kernel gives a tgkill
    sent.si_pid = ::getpid();
    sent.si_uid = ::getuid();
  }
  sent.si_signo = signal;
  put_marker(&sent, target->id);
  // On this OS thread: the kernel delivers it before the call returns unless this thread blocks
  // it (inside a handler), and then when the handler returns; the marker says whom it is for.
  ::syscall(SYS_rt_tgsigqueueinfo, ::getpid(), ::gettid(), signal, &sent);
}

std::uint64_t process_pending() {
  return g_pending.load(std::memory_order_seq_cst);
}

void forget_process_pending() {
  g_pending.store(0, std::memory_order_relaxed);
}

bool take_process_pending(std::uint64_t among, int* signal, siginfo_t* info) {
  std::uint64_t candidates = g_pending.load(std::memory_order_relaxed) & among;
  if (candidates == 0) return false;
  int lowest = __builtin_ctzll(candidates) + 1;  // the kernel dequeues the lowest number first
  *signal = lowest;
  *info = g_pending_info[lowest];
  if (--g_pending_count[lowest] == 0) g_pending.fetch_and(~signal_bit(lowest), std::memory_order_release);
  return true;
}

void install_signal_policy() {
  hook::set_green_signal_policy(&kPolicy);
}

}  // namespace cohook::green

using namespace cohook::green;

namespace {
cohook::green::RealSymbol<int (*)(int)> real_raise{"raise"};
}

COHOOK_INTERPOSE int pthread_kill(pthread_t target, int signal) {
  GreenThread* thread = as_green(target);
  if (thread == nullptr) return real_pthread.pthread_kill(target, signal);
  return send_to_green(thread, signal, nullptr);
}

COHOOK_INTERPOSE int pthread_sigqueue(pthread_t target, int signal, const union sigval value) {
  GreenThread* thread = as_green(target);
  if (thread == nullptr) return real_pthread.pthread_sigqueue(target, signal, value);
  siginfo_t info;
  std::memset(&info, 0, sizeof info);
  info.si_code = SI_QUEUE;
  info.si_pid = ::getpid();
  info.si_uid = ::getuid();
  info.si_value = value;
  return send_to_green(thread, signal, &info);
}

// raise() is pthread_kill(pthread_self()): the handler has run when it returns.
COHOOK_INTERPOSE int raise(int signal) {
  GreenThread* self = green_caller();
  if (self == nullptr) return real_raise(signal);
  int error = send_to_green(self, signal, nullptr);
  if (error == 0) return 0;
  errno = error;
  return -1;
}
