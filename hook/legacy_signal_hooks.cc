// The old BSD and System V signal calls: sigblock, sigsetmask, siggetmask, sighold, sigrelse,
// sigignore, sigset, sigpause (both of them). glibc builds each on its internal __sigprocmask,
// __sigaction and __sigsuspend, which no interposer sees: under corun they would change the
// scheduler thread's mask (shared by all its green threads) instead of the green thread's, a
// handler set by sigset() or sigignore() would bypass the sigaction hook's table (so a signal
// could not interrupt a parked call), and sigpause would block the whole scheduler thread.
// Here each is rebuilt the way glibc 2.36 builds it, on sigprocmask as the program sees it
// (hook::program_sigprocmask: the green thread's mask under corun) and the hooked sigaction
// and sigsuspend (hook/signal_hooks.cc, green/signal_wait.cc). Outside green mode those reach
// the real calls, so the result is glibc's own.
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "hook/interpose.h"
#include "hook/link_anchors.h"
#include "hook/signal_hooks.h"

namespace {

// glibc's conversion between the old int masks and sigset_t (sigset-cvt-mask.h): the int is the
// low 32 bits of the first word, signal n being bit n-1; the rest of the set is empty.
sigset_t set_of_old_mask(int mask) {
  sigset_t set;
  sigemptyset(&set);
  unsigned long word = static_cast<unsigned int>(mask);
  memcpy(&set, &word, sizeof word);
  return set;
}

int old_mask_of(const sigset_t& set) {
  unsigned long word = 0;
  memcpy(&word, &set, sizeof word);
  return static_cast<int>(static_cast<unsigned int>(word));
}

int change_old_mask(int how, int mask) {
  sigset_t set = set_of_old_mask(mask);
  sigset_t old;
  if (cohook::hook::program_sigprocmask(how, &set, &old) < 0) return -1;
  return old_mask_of(old);
}

// sighold/sigrelse: sigaddset refuses a signal out of range or one of glibc's own (EINVAL).
int change_one(int how, int signal) {
  sigset_t set;
  sigemptyset(&set);
  if (sigaddset(&set, signal) < 0) return -1;
  return cohook::hook::program_sigprocmask(how, &set, nullptr);
}

// glibc's __sigpause: the X/Open form (is_sig) waits with `signal` taken out of the current
// mask; the BSD form waits with the old int mask in place of the whole mask.
int pause_with(int signal_or_mask, bool is_signal) {
  sigset_t set;
  if (is_signal) {
    if (cohook::hook::program_sigprocmask(SIG_BLOCK, nullptr, &set) < 0 || sigdelset(&set, signal_or_mask) < 0)
      return -1;
  } else {
    set = set_of_old_mask(signal_or_mask);
  }
  return ::sigsuspend(&set);
}

}  // namespace

COHOOK_INTERPOSE int sigblock(int mask) {
  return change_old_mask(SIG_BLOCK, mask);
}

COHOOK_INTERPOSE int sigsetmask(int mask) {
  return change_old_mask(SIG_SETMASK, mask);
}

COHOOK_INTERPOSE int siggetmask(void) {
  return change_old_mask(SIG_BLOCK, 0);
}

COHOOK_INTERPOSE int sighold(int signal) {
  return change_one(SIG_BLOCK, signal);
}

COHOOK_INTERPOSE int sigrelse(int signal) {
  return change_one(SIG_UNBLOCK, signal);
}

COHOOK_INTERPOSE int sigignore(int signal) {
  struct sigaction action {};
  action.sa_handler = SIG_IGN;
  sigemptyset(&action.sa_mask);
  return ::sigaction(signal, &action, nullptr);
}

// System V sigset: SIG_HOLD blocks the signal and leaves its action; anything else installs
// the action (no flags: no SA_RESTART) and unblocks it. Either way the result is SIG_HOLD if it
// was blocked before, else the previous action.
COHOOK_INTERPOSE sighandler_t sigset(int signal, sighandler_t disposition) {
  sigset_t set;
  sigemptyset(&set);
  if (sigaddset(&set, signal) < 0) return SIG_ERR;
  sigset_t old_set;
  struct sigaction old_action {};
  if (disposition == SIG_HOLD) {
    if (cohook::hook::program_sigprocmask(SIG_BLOCK, &set, &old_set) < 0) return SIG_ERR;
    if (sigismember(&old_set, signal)) return SIG_HOLD;
    if (::sigaction(signal, nullptr, &old_action) < 0) return SIG_ERR;
    return old_action.sa_handler;
  }
  struct sigaction action {};
  action.sa_handler = disposition;
  sigemptyset(&action.sa_mask);
  if (::sigaction(signal, &action, &old_action) < 0) return SIG_ERR;
  if (cohook::hook::program_sigprocmask(SIG_UNBLOCK, &set, &old_set) < 0) return SIG_ERR;
  return sigismember(&old_set, signal) ? SIG_HOLD : old_action.sa_handler;
}

// <signal.h> binds `sigpause` to __xpg_sigpause (X/Open: a signal) unless the program asks for
// the BSD one; the plain `sigpause` symbol is the BSD form (a mask), and __sigpause takes both.
COHOOK_INTERPOSE int __sigpause(int signal_or_mask, int is_signal) {
  return pause_with(signal_or_mask, is_signal != 0);
}

COHOOK_INTERPOSE int __xpg_sigpause(int signal) {
  return pause_with(signal, true);
}

// Under its own name: the header's `sigpause` is the X/Open one.
extern "C" __attribute__((visibility("default"))) int bsd_sigpause(int mask) __asm__("sigpause");
int bsd_sigpause(int mask) {
  return pause_with(mask, false);
}

const char cohook::hook::link_anchor::legacy_signal_hooks = 0;
