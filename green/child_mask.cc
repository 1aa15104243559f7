// A new program inherits the signal mask of the thread that started it: execve keeps the
// calling thread's mask, and posix_spawn's child starts with it unless the caller set
// POSIX_SPAWN_SETSIGMASK (system() and popen() are built on posix_spawn). Under corun the
// calling OS thread is a scheduler thread, which blocks nothing; the mask that counts is the
// green thread's. So, for a green thread:
// - the exec family sets the OS thread's mask to the green thread's just before the real call
//   and puts it back if the call fails. A signal that arrives meanwhile and the green thread
//   blocks is not lost: the kernel keeps it pending on this thread (delivered once the mask is
//   back) or gives it to another thread, and a successful exec keeps it pending, as natively.
// - posix_spawn and posix_spawnp without POSIX_SPAWN_SETSIGMASK get a copy of the attributes
//   that sets the green thread's mask.
// Both also keep SIG_IGN for the ignored signals whose kernel disposition is cohook's catcher
// (hook/signal_hooks.h), since exec would reset a handler to SIG_DFL.
//
// Every one also reports the child process (hook/socket_privacy.h): these strong definitions
// replace hook/'s weak ones (hook/child_process_hooks.cc).
//
// glibc's execl, execle, execlp, execv and execvp call its internal execve, which no hook sees,
// so each is interposed here. Outside a green thread every one is the real call unchanged.
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <unistd.h>

#include <cstdint>

#include "green/green_thread.h"
#include "green/real_pthread.h"
#include "green/signal_state.h"
#include "hook/exec_argument_list.h"
#include "hook/interpose.h"
#include "hook/signal_hooks.h"
#include "hook/socket_privacy.h"

namespace cohook::green {
namespace {

using ExecveFn = int (*)(const char*, char* const[], char* const[]);
using ExecvFn = int (*)(const char*, char* const[]);
using FexecveFn = int (*)(int, char* const[], char* const[]);
using ExecveatFn = int (*)(int, const char*, char* const[], char* const[], int);
using SpawnFn = int (*)(pid_t*, const char*, const posix_spawn_file_actions_t*, const posix_spawnattr_t*, char* const[],
                        char* const[]);
RealSymbol<ExecveFn> real_execve{"execve"};
RealSymbol<ExecveFn> real_execvpe{"execvpe"};
RealSymbol<ExecvFn> real_execv{"execv"};
RealSymbol<ExecvFn> real_execvp{"execvp"};
RealSymbol<FexecveFn> real_fexecve{"fexecve"};
RealSymbol<ExecveatFn> real_execveat{"execveat"};
RealSymbol<SpawnFn> real_posix_spawn{"posix_spawn"};
RealSymbol<SpawnFn> real_posix_spawnp{"posix_spawnp"};

// For the length of an exec: the green thread's mask on the OS thread, SIG_IGN where the
// catcher stands in for it. Undone by the destructor, which runs only if the exec failed.
class ExecScope {
 public:
  ExecScope() {
    // In a vfork child this runs in the parent's memory: the parent's sockets are shared now.
    hook::note_child_process();
    GreenThread* self = green_caller();
    if (self == nullptr) return;
    active_ = true;
    sigset_t mask;
    sigemptyset(&mask);
    store_bits(self->signals.blocked.load(std::memory_order_relaxed), &mask);
    real_thread_sigmask(SIG_SETMASK, &mask, &saved_);
    // After the mask: what this thread blocks stays pending under SIG_IGN instead of vanishing.
    ignored_ = hook::ignore_caught_ignored_signals();
  }
  ~ExecScope() {
    if (!active_) return;
    int error = errno;
    hook::catch_ignored_signals_again(ignored_);
    real_thread_sigmask(SIG_SETMASK, &saved_, nullptr);  // what arrived meanwhile is delivered now
    errno = error;
  }
  ExecScope(const ExecScope&) = delete;
  ExecScope& operator=(const ExecScope&) = delete;

 private:
  bool active_ = false;
  std::uint64_t ignored_ = 0;
  sigset_t saved_;
};

// posix_spawn's attributes with the green thread's mask, unless the caller chose the child's
// mask itself: `attributes` as it is outside a green thread or with POSIX_SPAWN_SETSIGMASK.
const posix_spawnattr_t* with_green_mask(const posix_spawnattr_t* attributes, posix_spawnattr_t* copy) {
  GreenThread* self = green_caller();
  if (self == nullptr) return attributes;
  short flags = 0;
  if (attributes != nullptr) {
    ::posix_spawnattr_getflags(attributes, &flags);
    if (flags & POSIX_SPAWN_SETSIGMASK) return attributes;
    *copy = *attributes;  // a plain struct in glibc (no pointers): destroy is a no-op
  } else {
    ::posix_spawnattr_init(copy);
  }
  sigset_t mask;
  sigemptyset(&mask);
  store_bits(self->signals.blocked.load(std::memory_order_relaxed), &mask);
  ::posix_spawnattr_setsigmask(copy, &mask);
  ::posix_spawnattr_setflags(copy, static_cast<short>(flags | POSIX_SPAWN_SETSIGMASK));
  return copy;
}

int spawn(SpawnFn real, pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions,
          const posix_spawnattr_t* attributes, char* const argv[], char* const envp[]) {
  hook::note_child_process();
  posix_spawnattr_t copy;
  const posix_spawnattr_t* chosen = with_green_mask(attributes, &copy);
  std::uint64_t ignored = green_caller() != nullptr ? hook::ignore_caught_ignored_signals() : 0;
  int result = real(pid, path, actions, chosen, argv, envp);
  hook::catch_ignored_signals_again(ignored);
  return result;
}

}  // namespace
}  // namespace cohook::green

using namespace cohook::green;

COHOOK_INTERPOSE int execve(const char* path, char* const argv[], char* const envp[]) {
  ExecScope scope;
  return real_execve(path, argv, envp);
}

COHOOK_INTERPOSE int execvpe(const char* file, char* const argv[], char* const envp[]) {
  ExecScope scope;
  return real_execvpe(file, argv, envp);
}

COHOOK_INTERPOSE int execv(const char* path, char* const argv[]) {
  ExecScope scope;
  return real_execv(path, argv);
}

COHOOK_INTERPOSE int execvp(const char* file, char* const argv[]) {
  ExecScope scope;
  return real_execvp(file, argv);
}

COHOOK_INTERPOSE int fexecve(int fd, char* const argv[], char* const envp[]) {
  ExecScope scope;
  return real_fexecve(fd, argv, envp);
}

COHOOK_INTERPOSE int execveat(int dirfd, const char* path, char* const argv[], char* const envp[], int flags) {
  ExecScope scope;
  return real_execveat(dirfd, path, argv, envp, flags);
}

COHOOK_INTERPOSE int execl(const char* path, const char* arg, ...) {
  va_list arguments;
  va_start(arguments, arg);
  int result = cohook::hook::exec_with_list(arg, &arguments, false, [&](char** argv, char**) {
    ExecScope scope;
    return real_execv.get()(path, argv);
  });
  va_end(arguments);
  return result;
}

COHOOK_INTERPOSE int execlp(const char* file, const char* arg, ...) {
  va_list arguments;
  va_start(arguments, arg);
  int result = cohook::hook::exec_with_list(arg, &arguments, false, [&](char** argv, char**) {
    ExecScope scope;
    return real_execvp.get()(file, argv);
  });
  va_end(arguments);
  return result;
}

COHOOK_INTERPOSE int execle(const char* path, const char* arg, ...) {
  va_list arguments;
  va_start(arguments, arg);
  int result = cohook::hook::exec_with_list(arg, &arguments, true, [&](char** argv, char** envp) {
    ExecScope scope;
    return real_execve.get()(path, argv, envp);
  });
  va_end(arguments);
  return result;
}

COHOOK_INTERPOSE int posix_spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions,
                                 const posix_spawnattr_t* attributes, char* const argv[], char* const envp[]) {
  return spawn(real_posix_spawn.get(), pid, path, actions, attributes, argv, envp);
}

COHOOK_INTERPOSE int posix_spawnp(pid_t* pid, const char* file, const posix_spawn_file_actions_t* actions,
                                  const posix_spawnattr_t* attributes, char* const argv[], char* const envp[]) {
  return spawn(real_posix_spawnp.get(), pid, file, actions, attributes, argv, envp);
}
