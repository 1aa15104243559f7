// Per-green-thread signal masks: pthread_sigmask, sigprocmask and sigpending in a green thread
// act on its own mask (green/signal_state.h has the model), the registry of live green threads
// that delivery picks from, and the count of green threads blocking each signal, which decides
// where the hook layer's catcher must stand in for SIG_DFL/SIG_IGN.
#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "green/green_thread.h"
#include "green/real_pthread.h"
#include "green/signal_state.h"
#include "hook/interpose.h"
#include "hook/signal_hooks.h"
#include "sched/coroutine.h"

namespace cohook::green {
namespace {

using SigmaskFn = int (*)(int, const sigset_t*, sigset_t*);
RealSymbol<SigmaskFn> real_pthread_sigmask{"pthread_sigmask"};
RealSymbol<SigmaskFn> real_sigprocmask{"sigprocmask"};
RealSymbol<int (*)(sigset_t*)> real_sigpending{"sigpending"};

std::atomic_flag g_signal_lock = ATOMIC_FLAG_INIT;
GreenThread* g_first = nullptr;  // oldest
GreenThread* g_last = nullptr;
GreenThread* g_main = nullptr;

// How many green threads block (or sigwait for) each signal; changed in normal context only.
std::atomic_flag g_interest_lock = ATOMIC_FLAG_INIT;
int g_interest[65];
std::atomic<std::uint64_t> g_catching{0};  // signals with interest > 0
std::uint64_t g_initial_mask = 0;

void change_interest(std::uint64_t set, int delta) {
  set &= ~kNeverBlocked;
  if (set == 0) return;
  // With every signal blocked: a handler that calls pthread_sigmask on this thread must not
  // find the lock held under it.
  sigset_t all, saved;
  sigfillset(&all);
  real_thread_sigmask(SIG_SETMASK, &all, &saved);
  while (g_interest_lock.test_and_set(std::memory_order_acquire)) {
  }
  for (int signal = 1; signal <= 64; ++signal) {
    if ((set & signal_bit(signal)) == 0) continue;
    int before = g_interest[signal];
    g_interest[signal] += delta;
    if ((before == 0) != (g_interest[signal] == 0)) {
      if (g_interest[signal] != 0)
        g_catching.fetch_or(signal_bit(signal), std::memory_order_acq_rel);
      else
        g_catching.fetch_and(~signal_bit(signal), std::memory_order_acq_rel);
      hook::refresh_kernel_disposition(signal);
    }
  }
  g_interest_lock.clear(std::memory_order_release);
  real_thread_sigmask(SIG_SETMASK, &saved, nullptr);
}

int lowest(std::uint64_t bits) {
  return __builtin_ctzll(bits) + 1;
}

// The mask a green thread asks for, applied to `current` as rt_sigprocmask would; EINVAL for
// a bad `how`.
int apply_how(int how, const sigset_t* set, std::uint64_t current, std::uint64_t* result) {
  std::uint64_t bits = bits_of(set) & ~kNeverBlocked;
  switch (how) {
    case SIG_BLOCK:
      *result = current | bits;
      return 0;
    case SIG_UNBLOCK:
      *result = current & ~bits;
      return 0;
    case SIG_SETMASK:
      *result = bits;
      return 0;
    default:
      return EINVAL;
  }
}

int green_sigmask(GreenThread* self, int how, const sigset_t* set, sigset_t* old) {
  std::uint64_t before = self->signals.blocked.load(std::memory_order_relaxed);
  std::uint64_t after = before;
  if (set != nullptr) {
    int error = apply_how(how, set, before, &after);  // reads *set before *old is written: they may alias
    if (error != 0) return error;
  }
  if (old != nullptr) store_bits(before, old);
  if (set != nullptr) set_green_mask(self, after);
  return 0;
}

}  // namespace

namespace {
constinit thread_local int t_lock_depth __attribute__((tls_model("initial-exec"))) = 0;
constinit thread_local std::uint64_t t_deferred __attribute__((tls_model("initial-exec"))) = 0;
}  // namespace

SignalLock::SignalLock() {
  t_lock_depth = 1;
  std::atomic_signal_fence(std::memory_order_seq_cst);  // a handler here sees the flag
  while (g_signal_lock.test_and_set(std::memory_order_acquire)) {
  }
}

SignalLock::~SignalLock() {
  g_signal_lock.clear(std::memory_order_release);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t_lock_depth = 0;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  std::uint64_t deferred = t_deferred;
  if (deferred != 0) {
    // Signals that arrived while we held the lock: let them in now.
    t_deferred = 0;
    sigset_t set;
    sigemptyset(&set);
    store_bits(deferred, &set);
    real_thread_sigmask(SIG_UNBLOCK, &set, nullptr);
  }
}

HandlerSignalLock::HandlerSignalLock() {
  sigset_t all;
  sigfillset(&all);
  real_thread_sigmask(SIG_SETMASK, &all, &saved_);
  while (g_signal_lock.test_and_set(std::memory_order_acquire)) {
  }
}

HandlerSignalLock::~HandlerSignalLock() {
  g_signal_lock.clear(std::memory_order_release);
  real_thread_sigmask(SIG_SETMASK, &saved_, nullptr);
}

bool signal_lock_held_by_this_thread() {
  return t_lock_depth != 0;
}

void defer_signal(int signal, const siginfo_t* info, void* context) {
  if (context != nullptr) sigaddset(&static_cast<ucontext_t*>(context)->uc_sigmask, signal);
  t_deferred |= signal_bit(signal);
  siginfo_t again = *info;  // with its marker, if it was aimed at one green thread
  ::syscall(SYS_rt_tgsigqueueinfo, ::getpid(), ::gettid(), signal, &again);
}

std::uint64_t bits_of(const sigset_t* set) {
  std::uint64_t bits = 0;
  std::memcpy(&bits, set, sizeof bits);  // glibc's sigset_t: signal n is bit n-1 of word 0
  return bits;
}

void store_bits(std::uint64_t bits, sigset_t* set) {
  std::memcpy(set, &bits, sizeof bits);
}

int real_thread_sigmask(int how, const sigset_t* set, sigset_t* old) {
  return real_pthread_sigmask(how, set, old);
}

GreenThread* green_caller() {
  if (!g_green_active.load(std::memory_order_relaxed) || Coroutine::current() == nullptr) return nullptr;
  return current_green_thread();
}

GreenThread* registry_first() {
  return g_first;
}
GreenThread* registry_next(GreenThread* thread) {
  return thread->signals.next;
}
GreenThread* registered_main() {
  return g_main;
}

GreenThread* registered_thread(std::uint32_t id) {
  for (GreenThread* t = g_first; t != nullptr; t = t->signals.next)
    if (t->id == id) return t;
  return nullptr;
}

GreenThread* running_green_thread() {
  Coroutine* coroutine = Coroutine::current();
  return coroutine != nullptr ? green_thread_of(coroutine) : nullptr;
}

void set_green_mask(GreenThread* self, std::uint64_t mask) {
  mask &= ~kNeverBlocked;
  std::uint64_t before = self->signals.blocked.load(std::memory_order_relaxed);
  // The catcher goes in before the mask blocks, and comes out after it unblocks: the kernel
  // never acts on SIG_DFL for a signal every green thread blocks.
  change_interest(mask & ~before, +1);
  self->signals.blocked.store(mask, std::memory_order_seq_cst);
  change_interest(before & ~mask, -1);
  deliver_unblocked_pending(self);
}

void deliver_unblocked_pending(GreenThread* self) {
  for (;;) {
    std::uint64_t open = ~self->signals.blocked.load(std::memory_order_relaxed);
    std::uint64_t mine = self->signals.pending.load(std::memory_order_acquire) & open;
    if (mine != 0) {
      int signal = lowest(mine);
      if (self->signals.pending.fetch_and(~signal_bit(signal), std::memory_order_acq_rel) & signal_bit(signal))
        raise_for(self, signal, nullptr);
      continue;
    }
    int signal = 0;
    siginfo_t info;
    bool taken = false;
    if ((process_pending() & open) != 0) {
      SignalLock lock;
      taken = take_process_pending(open, &signal, &info);
    }
    if (!taken) return;
    raise_for(self, signal, &info);  // with the sender's siginfo, as if it arrived now
  }
}

void add_interest(std::uint64_t set) {
  change_interest(set, +1);
}
void remove_interest(std::uint64_t set) {
  change_interest(set, -1);
}

bool green_wants_catcher(int signal) {
  return (g_catching.load(std::memory_order_acquire) & signal_bit(signal)) != 0;
}

void begin_green_signals() {
  // main's mask is the one the process started with; the scheduler threads (made after this,
  // inheriting it) block nothing.
  sigset_t initial, none;
  sigemptyset(&none);
  real_thread_sigmask(SIG_SETMASK, &none, &initial);
  g_initial_mask = bits_of(&initial) & ~kNeverBlocked;
  install_signal_policy();
}

void signals_thread_created(GreenThread* creator, GreenThread* thread) {
  std::uint64_t mask = creator != nullptr ? creator->signals.blocked.load(std::memory_order_relaxed) : g_initial_mask;
  if (thread->id == 0) thread->id = next_green_id();  // the registry finds it by id
  change_interest(mask, +1);
  thread->signals.blocked.store(mask, std::memory_order_relaxed);
  SignalLock lock;
  thread->signals.previous = g_last;
  if (g_last != nullptr)
    g_last->signals.next = thread;
  else
    g_first = thread;
  g_last = thread;
  thread->signals.registered = true;
  if (thread->is_main) g_main = thread;
}

void signals_thread_started(GreenThread* thread) {
  thread->signals.coroutine.store(Coroutine::current(), std::memory_order_release);
  // A signal every green thread blocked may be for this one (pthread_create does the same).
  std::uint64_t open = ~thread->signals.blocked.load(std::memory_order_relaxed);
  std::uint64_t waiting = thread->signals.pending.load(std::memory_order_relaxed) | process_pending();
  if ((waiting & open) != 0) deliver_unblocked_pending(thread);
}

void signals_thread_finished(GreenThread* thread) {
  {
    SignalLock lock;
    if (!thread->signals.registered) return;
    GreenThread* previous = thread->signals.previous;
    GreenThread* next = thread->signals.next;
    if (previous != nullptr)
      previous->signals.next = next;
    else
      g_first = next;
    if (next != nullptr)
      next->signals.previous = previous;
    else
      g_last = previous;
    thread->signals.registered = false;
    if (g_main == thread) g_main = nullptr;
  }
  change_interest(thread->signals.blocked.load(std::memory_order_relaxed), -1);
}

void signals_after_fork(GreenThread* survivor) {
  g_signal_lock.clear(std::memory_order_relaxed);
  g_interest_lock.clear(std::memory_order_relaxed);
  forget_process_pending();
  g_first = g_last = survivor;
  g_main = survivor != nullptr && survivor->is_main ? survivor : nullptr;
  std::uint64_t was_catching = g_catching.exchange(0, std::memory_order_relaxed);
  std::memset(g_interest, 0, sizeof g_interest);
  if (survivor != nullptr) {
    survivor->signals.previous = survivor->signals.next = nullptr;
    survivor->signals.pending.store(0, std::memory_order_relaxed);
    change_interest(survivor->signals.blocked.load(std::memory_order_relaxed), +1);
  }
  std::uint64_t released = was_catching & ~g_catching.load(std::memory_order_relaxed);
  for (int signal = 1; signal <= 64; ++signal)
    if ((released & signal_bit(signal)) != 0) hook::refresh_kernel_disposition(signal);
}

bool green_begin_masked_wait(const sigset_t* mask, std::uint64_t* saved) {
  GreenThread* self = green_caller();
  if (self == nullptr) return false;
  *saved = self->signals.blocked.load(std::memory_order_relaxed);
  set_green_mask(self, bits_of(mask));
  return true;
}

void green_end_masked_wait(std::uint64_t saved) {
  if (GreenThread* self = green_caller()) set_green_mask(self, saved);
}

int green_thread_sigmask(int how, const sigset_t* set, sigset_t* old) {
  GreenThread* self = green_caller();
  if (self == nullptr) return real_pthread_sigmask(how, set, old);
  return green_sigmask(self, how, set, old);
}

}  // namespace cohook::green

using namespace cohook::green;

COHOOK_INTERPOSE int pthread_sigmask(int how, const sigset_t* set, sigset_t* old) {
  return green_thread_sigmask(how, set, old);
}

COHOOK_INTERPOSE int sigprocmask(int how, const sigset_t* set, sigset_t* old) {
  GreenThread* self = green_caller();
  if (self == nullptr) return real_sigprocmask(how, set, old);
  int error = green_sigmask(self, how, set, old);
  if (error == 0) return 0;
  errno = error;
  return -1;
}

COHOOK_INTERPOSE int sigpending(sigset_t* set) {
  GreenThread* self = green_caller();
  if (self == nullptr) return real_sigpending(set);
  // Pending for the thread or the process, and blocked (anything else was delivered).
  std::uint64_t bits = self->signals.pending.load(std::memory_order_acquire) | process_pending();
  sigemptyset(set);
  store_bits(bits & self->signals.blocked.load(std::memory_order_relaxed), set);
  return 0;
}
