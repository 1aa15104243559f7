// sigaction, signal, bsd_signal, sysv_signal, siginterrupt: cohook learns each handled signal's
// SA_RESTART and puts a trampoline in front of the user's handler, so that a parked call can be
// interrupted the way the kernel interrupts a blocked system call (signal(7)).
//
// The kernel holds the trampoline; the user's handler and flags live in a table here. What the
// program reads back (sigaction's old action) is what it installed: the trampoline and the
// SA_SIGINFO it needs are never shown. Handlers installed around these functions (a raw
// rt_sigaction system call, or before libcohook.so was loaded) run, but interrupt nothing.
//
// The trampoline runs the user's handler and then posts an interruption to the scheduler of the
// thread the signal was delivered to (Scheduler::interrupt_thread): atomics and one eventfd
// write, so it is safe wherever the signal lands (in epoll_wait, in a coroutine, in cohook's
// own code). On a thread without a scheduler the kernel has already interrupted that thread's
// blocking call, if any, by itself. In green mode, green/signal_delivery.cc decides instead
// (GreenSignalPolicy): the trampoline asks it whom the signal is for before running the handler,
// and also stands in for SIG_DFL/SIG_IGN (the "catcher") while green threads block a signal.
#include "hook/signal_hooks.h"
#include "sched/runtime_signals.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

#include "hook/interpose.h"
#include "hook/trace.h"
#include "hook/trace_points.h"
#include "hook/link_anchors.h"
#include "hook/real_functions.h"
#include "sched/scheduler.h"

using cohook::InterruptKind;
using cohook::Scheduler;

namespace cohook::hook {
namespace {

using SigactionFn = int (*)(int, const struct sigaction*, struct sigaction*);
int fallback_sigaction(int, const struct sigaction*, struct sigaction*) {
  errno = ENOSYS;  // only reachable from inside dlsym itself
  return -1;
}
constinit RealFunction<SigactionFn> real_sigaction{"sigaction", fallback_sigaction};

constexpr int kMaxSignal = 64;

// The user's disposition of one signal, as installed through the hooks. Written under
// InstallLock by installers, read lock-free by the trampoline (a seqlock: the trampoline
// retries if an installer changed the entry while it read).
struct Entry {
  std::atomic<unsigned> sequence{0};    // odd while being written
  std::atomic<void*> handler{nullptr};  // sa_handler or sa_sigaction
  std::atomic<int> flags{0};            // the user's sa_flags
};
Entry g_entries[kMaxSignal + 1];

void store_entry(int signal, void* handler, int flags) {
  Entry& entry = g_entries[signal];
  entry.sequence.fetch_add(1, std::memory_order_acq_rel);
  entry.handler.store(handler, std::memory_order_relaxed);
  entry.flags.store(flags, std::memory_order_relaxed);
  entry.sequence.fetch_add(1, std::memory_order_acq_rel);
}

void load_entry(int signal, void** handler, int* flags) {
  Entry& entry = g_entries[signal];
  for (;;) {
    unsigned before = entry.sequence.load(std::memory_order_acquire);
    *handler = entry.handler.load(std::memory_order_relaxed);
    *flags = entry.flags.load(std::memory_order_relaxed);
    if ((before & 1) == 0 && entry.sequence.load(std::memory_order_acquire) == before) return;
  }
}

std::atomic<const GreenSignalPolicy*> g_policy{nullptr};

bool is_function(void* handler);
void install_catcher(int signal);

// SIG_DFL's action (signal(7)) done by the catcher, which stands in for it while green threads
// block the signal: nothing for the signals ignored by default; for the others, the kernel's
// own default action, by raising the signal again on this thread with SIG_DFL in place.
void default_action(int signal, siginfo_t* info) {
  if (signal == SIGCHLD || signal == SIGCONT || signal == SIGURG || signal == SIGWINCH) return;
  struct sigaction default_disposition {};
  default_disposition.sa_handler = SIG_DFL;
  real_sigaction(signal, &default_disposition, nullptr);
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, signal);
  ::pthread_sigmask(SIG_UNBLOCK, &only, nullptr);  // blocked while its handler runs
  siginfo_t again = *info;  // the same sender and code: a core dump or a waiter sees the original
  if (::syscall(SYS_rt_tgsigqueueinfo, ::getpid(), ::gettid(), signal, &again) != 0)
    ::syscall(SYS_tgkill, ::getpid(), ::gettid(), signal);
  // Still here: a stop signal, and the process was continued. Catch it again.
  install_catcher(signal);
}

void trampoline(int signal, siginfo_t* info, void* context) {
  int saved_errno = errno;
  void* handler = nullptr;
  int flags = 0;
  if (signal > 0 && signal <= kMaxSignal) load_entry(signal, &handler, &flags);
  const GreenSignalPolicy* policy = g_policy.load(std::memory_order_acquire);
  std::uint32_t target = kNoTarget;
  if (policy != nullptr) {
    target = policy->route(signal, info, context);
    if (target == kWithheld) {
      errno = saved_errno;
      return;
    }
  }
  if (flags & SA_RESETHAND) {
    store_entry(signal, reinterpret_cast<void*>(SIG_DFL), 0);  // the kernel reset it
    if (policy != nullptr && policy->wants_catcher(signal)) install_catcher(signal);
  }
  if (!is_function(handler)) {
    // The catcher: the user's disposition is SIG_DFL or SIG_IGN. Nothing ran, nothing is cut short.
    if (handler != reinterpret_cast<void*>(SIG_IGN)) default_action(signal, info);
    errno = saved_errno;
    return;
  }
  errno = saved_errno;
  if (flags & SA_SIGINFO)
    reinterpret_cast<void (*)(int, siginfo_t*, void*)>(handler)(signal, info, context);
  else
    reinterpret_cast<void (*)(int)>(handler)(signal);
  saved_errno = errno;
  InterruptKind kind = (flags & SA_RESTART) ? InterruptKind::kRestart : InterruptKind::kNoRestart;
  if (policy != nullptr) {
    if (target != kNoTarget) policy->interrupt(target, signal, kind);
  } else {
    Scheduler::interrupt_thread(Scheduler::current_for_signal_handler(), signal, kind);
  }
  errno = saved_errno;
}

void install_catcher(int signal) {
  struct sigaction catcher {};
  catcher.sa_sigaction = &trampoline;
  catcher.sa_flags = SA_SIGINFO | SA_RESTART;  // unhooked system calls restart, as with no handler
  sigemptyset(&catcher.sa_mask);
  real_sigaction(signal, &catcher, nullptr);
}

bool is_function(void* handler) {
  return handler != reinterpret_cast<void*>(SIG_DFL) && handler != reinterpret_cast<void*>(SIG_IGN) &&
         handler != reinterpret_cast<void*>(SIG_ERR);
}

void* handler_of(const struct sigaction& action) {
  return (action.sa_flags & SA_SIGINFO) ? reinterpret_cast<void*>(action.sa_sigaction)
                                        : reinterpret_cast<void*>(action.sa_handler);
}

// Installers serialise on a spin lock. sigaction is async-signal-safe, and old code re-arms
// its handler from inside it (signal(SIGALRM, handler) in the handler): a handler that
// interrupts an install on its own thread goes ahead without the lock instead of spinning on it.
std::atomic_flag g_install_lock = ATOMIC_FLAG_INIT;
thread_local bool t_installing = false;

// fork: a thread that does not survive may be inside an install at that instant.
[[maybe_unused]] const bool kInstallLockForkSafe =
    (::pthread_atfork(nullptr, nullptr, [] { g_install_lock.clear(std::memory_order_relaxed); }), true);

class InstallLock {
 public:
  InstallLock() : owner_(!t_installing) {
    if (!owner_) return;
    t_installing = true;
    while (g_install_lock.test_and_set(std::memory_order_acquire)) {
    }
  }
  ~InstallLock() {
    if (!owner_) return;
    g_install_lock.clear(std::memory_order_release);
    t_installing = false;
  }

 private:
  bool owner_;
};

int install(int signal, const struct sigaction* action, struct sigaction* old_action) {
  if (signal <= 0 || signal > kMaxSignal) return real_sigaction(signal, action, old_action);
  // cohook's own handlers (dump, hog capture, overflow report) go to the kernel as they are: a
  // dump or a hog report must never interrupt the program's parked calls.
  if (action != nullptr && cohook::is_runtime_signal_handler(handler_of(*action)))
    return real_sigaction(signal, action, old_action);
  InstallLock lock;
  void* old_handler = nullptr;
  int old_flags = 0;
  load_entry(signal, &old_handler, &old_flags);
  struct sigaction wrapped {};
  const struct sigaction* to_kernel = action;
  if (action != nullptr) {
    // The table first: a signal arriving right after the kernel has the trampoline finds it.
    store_entry(signal, handler_of(*action), action->sa_flags);
    const GreenSignalPolicy* policy = g_policy.load(std::memory_order_acquire);
    if (is_function(handler_of(*action)) || (policy != nullptr && policy->wants_catcher(signal))) {
      wrapped = *action;
      if (!is_function(handler_of(*action))) wrapped.sa_flags |= SA_RESTART;  // the catcher
      wrapped.sa_flags |= SA_SIGINFO;
      wrapped.sa_sigaction = &trampoline;
      to_kernel = &wrapped;
    }
  }
  int result = real_sigaction(signal, to_kernel, old_action);
  if (result != 0) {
    if (action != nullptr) store_entry(signal, old_handler, old_flags);
    return result;
  }
  // The kernel's view translated back to the user's: the trampoline becomes their handler.
  if (old_action != nullptr && (old_action->sa_flags & SA_SIGINFO) && old_action->sa_sigaction == &trampoline) {
    constexpr int kFromUser = SA_SIGINFO | SA_RESTART | SA_RESETHAND | SA_NODEFER | SA_ONSTACK;
    old_action->sa_flags = (old_flags & kFromUser) | (old_action->sa_flags & ~kFromUser);
    if (old_flags & SA_SIGINFO)
      old_action->sa_sigaction = reinterpret_cast<void (*)(int, siginfo_t*, void*)>(old_handler);
    else
      old_action->sa_handler = reinterpret_cast<void (*)(int)>(old_handler);
  }
  return 0;
}

// glibc's signal()/bsd_signal(): BSD semantics, SA_RESTART unless siginterrupt() said otherwise.
std::atomic<std::uint64_t> g_interrupting{0};  // signals siginterrupt(sig, 1) was called for

sighandler_t install_simple(int signal, sighandler_t handler, int flags, bool add_self_to_mask) {
  if (handler == SIG_ERR || signal <= 0 || signal > kMaxSignal) {
    errno = EINVAL;
    return SIG_ERR;
  }
  struct sigaction action {};
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  if (add_self_to_mask) sigaddset(&action.sa_mask, signal);
  action.sa_flags = flags;
  struct sigaction old {};
  if (install(signal, &action, &old) < 0) return SIG_ERR;
  return old.sa_handler;
}

}  // namespace

void set_green_signal_policy(const GreenSignalPolicy* policy) {
  g_policy.store(policy, std::memory_order_release);
}

void refresh_kernel_disposition(int signal) {
  const GreenSignalPolicy* policy = g_policy.load(std::memory_order_acquire);
  if (policy == nullptr || signal <= 0 || signal > kMaxSignal || signal == SIGKILL || signal == SIGSTOP) return;
  InstallLock lock;
  void* handler = nullptr;
  int flags = 0;
  load_entry(signal, &handler, &flags);
  if (is_function(handler)) return;  // the trampoline is in place already
  struct sigaction current {};
  if (real_sigaction(signal, nullptr, &current) != 0) return;
  bool caught = (current.sa_flags & SA_SIGINFO) && current.sa_sigaction == &trampoline;
  if (policy->wants_catcher(signal)) {
    if (caught) return;
    void* kernel_handler = reinterpret_cast<void*>(current.sa_handler);
    if (is_function(kernel_handler)) return;  // not installed through us: leave it alone
    // SIG_DFL or SIG_IGN, possibly from before libcohook.so was loaded (nohup's SIGHUP): the
    // kernel's is the user's disposition.
    store_entry(signal, kernel_handler, current.sa_flags);
    install_catcher(signal);
  } else if (caught) {
    struct sigaction own {};
    own.sa_handler = reinterpret_cast<void (*)(int)>(handler);
    own.sa_flags = flags;
    sigemptyset(&own.sa_mask);
    real_sigaction(signal, &own, nullptr);
  }
}

bool green_signal_policy_active() {
  return g_policy.load(std::memory_order_acquire) != nullptr;
}

int program_pthread_sigmask(int how, const sigset_t* set, sigset_t* old) {
  if (const GreenSignalPolicy* policy = g_policy.load(std::memory_order_acquire))
    return policy->thread_sigmask(how, set, old);
  return ::pthread_sigmask(how, set, old);
}

int program_sigprocmask(int how, const sigset_t* set, sigset_t* old) {
  int error = program_pthread_sigmask(how, set, old);
  if (error == 0) return 0;
  errno = error;
  return -1;
}

std::uint64_t ignore_caught_ignored_signals() {
  if (!green_signal_policy_active()) return 0;
  InstallLock lock;
  std::uint64_t changed = 0;
  for (int signal = 1; signal <= kMaxSignal; ++signal) {
    void* handler = nullptr;
    int flags = 0;
    load_entry(signal, &handler, &flags);
    if (handler != reinterpret_cast<void*>(SIG_IGN)) continue;
    struct sigaction current {};
    if (real_sigaction(signal, nullptr, &current) != 0) continue;
    if (!(current.sa_flags & SA_SIGINFO) || current.sa_sigaction != &trampoline) continue;
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    if (real_sigaction(signal, &ignore, nullptr) == 0) changed |= std::uint64_t{1} << (signal - 1);
  }
  return changed;
}

void catch_ignored_signals_again(std::uint64_t signals) {
  if (signals == 0) return;
  const GreenSignalPolicy* policy = g_policy.load(std::memory_order_acquire);
  InstallLock lock;
  for (int signal = 1; signal <= kMaxSignal; ++signal) {
    if ((signals & (std::uint64_t{1} << (signal - 1))) == 0) continue;
    // Unless the program changed the disposition meanwhile (its install already decided).
    void* handler = nullptr;
    int flags = 0;
    load_entry(signal, &handler, &flags);
    struct sigaction current {};
    if (handler != reinterpret_cast<void*>(SIG_IGN) || real_sigaction(signal, nullptr, &current) != 0) continue;
    if (current.sa_handler == SIG_IGN && !(current.sa_flags & SA_SIGINFO) && policy->wants_catcher(signal))
      install_catcher(signal);
  }
}

std::uint64_t sources_not_blocked_by(const sigset_t* mask) {
  if (mask == nullptr) return kAllInterruptSources;
  std::uint64_t sources = 0;
  for (int signal = 1; signal <= kMaxSignal; ++signal) {
    if (sigismember(mask, signal) != 1) sources |= interrupt_source_bit(signal);
  }
  return sources;
}

namespace {
// Per thread: how many masked waits currently unblock each signal.
thread_local unsigned short t_unblock_count[kMaxSignal + 1];
}  // namespace

MaskedWait::MaskedWait(const sigset_t* mask) : call_(/*restartable=*/false, sources_not_blocked_by(mask)) {
  if (mask == nullptr) return;
  if (const GreenSignalPolicy* policy = g_policy.load(std::memory_order_acquire)) {
    green_ = policy->begin_masked_wait(mask, &green_saved_);
    if (green_) return;
  }
  sigset_t current;
  if (::pthread_sigmask(SIG_BLOCK, nullptr, &current) != 0) return;
  sigset_t to_unblock;
  sigemptyset(&to_unblock);
  bool any = false;
  for (int signal = 1; signal <= kMaxSignal; ++signal) {
    if (signal == SIGKILL || signal == SIGSTOP) continue;
    bool blocked_now = sigismember(&current, signal) == 1 || t_unblock_count[signal] > 0;
    if (!blocked_now || sigismember(mask, signal) == 1) continue;
    unblocked_ |= interrupt_source_bit(signal);
    if (t_unblock_count[signal]++ == 0) {
      sigaddset(&to_unblock, signal);
      any = true;
    }
  }
  // A signal pending and now unblocked is delivered inside this call; its interruption finds
  // this call open and cuts the park short, as a pending signal makes ppoll return at once.
  if (any) ::pthread_sigmask(SIG_UNBLOCK, &to_unblock, nullptr);
}

MaskedWait::~MaskedWait() {
  if (green_) g_policy.load(std::memory_order_acquire)->end_masked_wait(green_saved_);
  if (unblocked_ == 0) return;
  sigset_t to_block;
  sigemptyset(&to_block);
  for (int signal = 1; signal <= kMaxSignal; ++signal) {
    if ((unblocked_ & interrupt_source_bit(signal)) && --t_unblock_count[signal] == 0) sigaddset(&to_block, signal);
  }
  ::pthread_sigmask(SIG_BLOCK, &to_block, nullptr);
}

}  // namespace cohook::hook

using cohook::hook::g_interrupting;
using cohook::hook::install;
using cohook::hook::install_simple;

COHOOK_TRACED_HOOK(int, sigaction, (int signal, const struct sigaction* action, struct sigaction* old_action), (signal, action, old_action), cohook::trace::trace_sigaction) {
  return install(signal, action, old_action);
}

COHOOK_INTERPOSE sighandler_t signal(int signal, sighandler_t handler) {
  bool interrupting = (g_interrupting.load(std::memory_order_relaxed) & cohook::interrupt_source_bit(signal)) != 0;
  return install_simple(signal, handler, interrupting ? 0 : SA_RESTART, true);
}

COHOOK_INTERPOSE sighandler_t bsd_signal(int signal, sighandler_t handler) {
  return ::signal(signal, handler);
}

// System V semantics: one-shot, not blocked in its own handler, not restarted.
COHOOK_INTERPOSE sighandler_t sysv_signal(int signal, sighandler_t handler) {
  return install_simple(signal, handler, SA_RESETHAND | SA_NODEFER, false);
}

// glibc implements siginterrupt with an internal sigaction call that no hook sees: redo it here.
COHOOK_INTERPOSE int siginterrupt(int signal, int interrupt) {
  if (signal <= 0 || signal > 64) {
    errno = EINVAL;
    return -1;
  }
  struct sigaction action {};
  if (install(signal, nullptr, &action) < 0) return -1;
  std::uint64_t bit = cohook::interrupt_source_bit(signal);
  if (interrupt) {
    g_interrupting.fetch_or(bit, std::memory_order_relaxed);
    action.sa_flags &= ~SA_RESTART;
  } else {
    g_interrupting.fetch_and(~bit, std::memory_order_relaxed);
    action.sa_flags |= SA_RESTART;
  }
  return install(signal, &action, nullptr);
}

const char cohook::hook::link_anchor::signal_hooks = 0;
