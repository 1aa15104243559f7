// waitpid, wait, wait3, wait4, waitid park the calling coroutine (hook/child_wait.h); WNOHANG
// and calls outside coroutines are the real ones.
//
// system() and pclose() wait inside libc, through internal calls no hook sees, so inside a
// coroutine cohook does their work itself, as glibc 2.36 does it:
// - system(cmd) runs `/bin/sh -c cmd` with posix_spawn. SIGINT and SIGQUIT are ignored in the
//   caller while any system() runs (counted across callers) and reset to the default in the
//   child unless they were ignored before; SIGCHLD is blocked on the calling thread meanwhile
//   (counted per thread: coroutines of one thread share its mask; under corun, per green thread)
//   and the child starts with the caller's mask (the green thread's under corun). The wait
//   restarts after signals. A shell that cannot be started gives the status of _exit(127);
//   system(NULL) says whether /bin/sh can run.
// - popen() in a coroutine is cohook's (pipe2 + posix_spawn of /bin/sh -c, fdopen), so that
//   pclose knows the pid; pclose of such a stream closes it and waits, parking. A stream from
//   glibc's popen (opened outside a coroutine) goes to glibc's pclose, which blocks the thread.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mutex>
#include <new>
#include <utility>
#include <vector>

#include "hook/child_wait.h"
#include "hook/interpose.h"
#include "hook/link_anchors.h"
#include "hook/real_functions.h"
#include "hook/signal_hooks.h"
#include "hook/socket_privacy.h"
#include "hook/trace.h"
#include "hook/trace_points.h"

extern char** environ;

using cohook::hook::ChildWait;
using cohook::hook::cooperating_coroutine;
using cohook::hook::RealFunction;
using cohook::hook::wait_for_child;

namespace {

// Fallbacks (only reached from inside dlsym): the system calls behind them.
pid_t fallback_waitpid(pid_t pid, int* status, int options) {
  return static_cast<pid_t>(::syscall(SYS_wait4, pid, status, options, nullptr));
}
pid_t fallback_wait4(pid_t pid, int* status, int options, rusage* usage) {
  return static_cast<pid_t>(::syscall(SYS_wait4, pid, status, options, usage));
}
int fallback_waitid(idtype_t type, id_t id, siginfo_t* info, int options) {
  return static_cast<int>(::syscall(SYS_waitid, type, id, info, options, nullptr));
}
int fallback_system(const char*) {
  errno = ENOSYS;
  return -1;
}
int fallback_pclose(FILE*) {
  errno = ENOSYS;
  return -1;
}

constinit RealFunction<decltype(&fallback_waitpid)> real_waitpid{"waitpid", fallback_waitpid};
constinit RealFunction<decltype(&fallback_wait4)> real_wait4{"wait4", fallback_wait4};
constinit RealFunction<decltype(&fallback_waitid)> real_waitid{"waitid", fallback_waitid};
constinit RealFunction<decltype(&fallback_system)> real_system{"system", fallback_system};
constinit RealFunction<decltype(&fallback_pclose)> real_pclose{"pclose", fallback_pclose};

bool asks_stop_events(int options) {
  return (options & (WUNTRACED | WCONTINUED)) != 0;
}

pid_t wait4_in_coroutine(pid_t pid, int* status, int options, rusage* usage, bool interruptible) {
  ChildWait wait;
  wait.pid = pid;
  wait.stop_events = asks_stop_events(options);
  wait.interruptible = interruptible;
  return static_cast<pid_t>(
      wait_for_child(wait, [&]() -> long { return real_wait4(pid, status, options | WNOHANG, usage); }));
}

// waitpid(pid, &status, 0) as glibc's system() and pclose() wait: restarted after signals.
pid_t wait_uninterrupted(pid_t pid, int* status) {
  if (cooperating_coroutine() == nullptr) {
    pid_t result;
    do result = real_waitpid(pid, status, 0);
    while (result < 0 && errno == EINTR);
    return result;
  }
  return wait4_in_coroutine(pid, status, 0, nullptr, false);
}

// ---- system() ----

std::mutex g_system_lock;  // guards the three below; never held across a wait
int g_system_callers = 0;
struct sigaction g_saved_interrupt, g_saved_quit;
// Coroutines of one thread share its signal mask: the first system() of a thread blocks
// SIGCHLD, the last one restores it. Under corun each green thread has a mask of its own and
// runs one system() at a time, so it blocks and restores its own.
thread_local int t_sigchld_blockers = 0;
thread_local bool t_sigchld_blocked_before = false;

// Returns whether SIGCHLD was blocked before (by the caller, not by another system()).
bool block_sigchld() {
  bool per_green_thread = cohook::hook::green_signal_policy_active();
  if (!per_green_thread && t_sigchld_blockers++ > 0) return t_sigchld_blocked_before;
  sigset_t chld, before;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  cohook::hook::program_pthread_sigmask(SIG_BLOCK, &chld, &before);
  bool blocked_before = sigismember(&before, SIGCHLD) == 1;
  if (!per_green_thread) t_sigchld_blocked_before = blocked_before;
  return blocked_before;
}

void unblock_sigchld(bool blocked_before) {
  if (!cohook::hook::green_signal_policy_active() && --t_sigchld_blockers > 0) return;
  if (blocked_before) return;
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  cohook::hook::program_pthread_sigmask(SIG_UNBLOCK, &chld, nullptr);
}

// The mask the caller would have without system()'s own SIGCHLD block.
sigset_t callers_mask(bool sigchld_blocked_before) {
  sigset_t mask;
  cohook::hook::program_pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  if (!sigchld_blocked_before) sigdelset(&mask, SIGCHLD);
  return mask;
}

int run_shell(const char* command) {
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  {
    // Through the sigaction hook, so that its table follows (and the user's handler comes back).
    std::lock_guard<std::mutex> lock(g_system_lock);
    if (g_system_callers++ == 0) {
      ::sigaction(SIGINT, &ignore, &g_saved_interrupt);
      ::sigaction(SIGQUIT, &ignore, &g_saved_quit);
    }
  }
  bool sigchld_blocked_before = block_sigchld();

  posix_spawnattr_t attributes;
  ::posix_spawnattr_init(&attributes);
  sigset_t reset;
  sigemptyset(&reset);
  {
    std::lock_guard<std::mutex> lock(g_system_lock);
    if (g_saved_interrupt.sa_handler != SIG_IGN) sigaddset(&reset, SIGINT);
    if (g_saved_quit.sa_handler != SIG_IGN) sigaddset(&reset, SIGQUIT);
  }
  sigset_t child_mask = callers_mask(sigchld_blocked_before);
  ::posix_spawnattr_setsigdefault(&attributes, &reset);
  ::posix_spawnattr_setsigmask(&attributes, &child_mask);
  ::posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  pid_t pid = 0;
  char* argv[] = {const_cast<char*>("sh"), const_cast<char*>("-c"), const_cast<char*>(command), nullptr};
  int spawn_error = ::posix_spawn(&pid, "/bin/sh", nullptr, &attributes, argv, environ);
  ::posix_spawnattr_destroy(&attributes);

  int status = 0;
  if (spawn_error == 0) {
    if (wait_uninterrupted(pid, &status) != pid) status = -1;
  } else {
    status = W_EXITCODE(127, 0);  // POSIX: as if the shell had run _exit(127)
  }
  int saved_errno = errno;
  {
    std::lock_guard<std::mutex> lock(g_system_lock);
    if (--g_system_callers == 0) {
      ::sigaction(SIGINT, &g_saved_interrupt, nullptr);
      ::sigaction(SIGQUIT, &g_saved_quit, nullptr);
    }
  }
  unblock_sigchld(sigchld_blocked_before);
  errno = saved_errno;
  return status;
}

// ---- popen()/pclose() ----

struct OpenedStream {
  FILE* stream;
  pid_t pid;
};
std::mutex g_streams_lock;
std::vector<OpenedStream>* g_streams = new std::vector<OpenedStream>;  // never freed: used at exit

FILE* open_pipe(const char* command, const char* mode) {
  bool reading = false, writing = false, close_on_exec = false;
  for (const char* c = mode; *c != '\0'; ++c) {
    switch (*c) {
      case 'r':
        reading = true;
        break;
      case 'w':
        writing = true;
        break;
      case 'e':
        close_on_exec = true;
        break;
      default:
        errno = EINVAL;
        return nullptr;
    }
  }
  if (reading == writing) {
    errno = EINVAL;
    return nullptr;
  }
  // Straight to the kernel: the stream's fd must be a plain blocking pipe, as glibc's popen
  // gives, since stdio reads and writes it with internal calls no hook sees.
  int fds[2];
  if (::syscall(SYS_pipe2, fds, O_CLOEXEC) != 0) return nullptr;
  int parent_end = reading ? fds[0] : fds[1];
  int child_end = reading ? fds[1] : fds[0];
  int child_target = reading ? STDOUT_FILENO : STDIN_FILENO;

  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  // dup2 onto the target clears close-on-exec; onto itself glibc clears it too (2.29+).
  ::posix_spawn_file_actions_adddup2(&actions, child_end, child_target);
  {
    // POSIX: the child closes the streams of earlier popen() calls still open in the parent.
    std::lock_guard<std::mutex> lock(g_streams_lock);
    for (const OpenedStream& opened : *g_streams) {
      int fd = ::fileno(opened.stream);
      if (fd >= 0 && fd != child_target) ::posix_spawn_file_actions_addclose(&actions, fd);
    }
  }
  pid_t pid = 0;
  char* argv[] = {const_cast<char*>("sh"), const_cast<char*>("-c"), const_cast<char*>(command), nullptr};
  int spawn_error = ::posix_spawn(&pid, "/bin/sh", &actions, nullptr, argv, environ);
  ::posix_spawn_file_actions_destroy(&actions);
  ::close(child_end);
  if (spawn_error != 0) {
    ::close(parent_end);
    errno = spawn_error;
    return nullptr;
  }
  if (!close_on_exec) ::syscall(SYS_fcntl, parent_end, F_SETFD, 0);
  FILE* stream = ::fdopen(parent_end, reading ? "r" : "w");
  if (stream == nullptr) {
    int error = errno;
    ::close(parent_end);
    int status;
    wait_uninterrupted(pid, &status);
    errno = error;
    return nullptr;
  }
  std::lock_guard<std::mutex> lock(g_streams_lock);
  g_streams->push_back({stream, pid});
  return stream;
}

// fork: neither lock may stay held in the child by a thread that did not survive (the
// child's popen and system would wait forever), so the child makes them anew. They are not
// taken before the fork: glibc runs prepare handlers holding its atfork lock, and a green
// thread parked there on an emulated mutex would stop its neighbours' fork() calls.
[[maybe_unused]] const bool kForkSafe = (::pthread_atfork(nullptr, nullptr,
                                                          [] {
                                                            new (&g_streams_lock) std::mutex();
                                                            new (&g_system_lock) std::mutex();
                                                          }),
                                         true);

// The pid of a stream cohook's popen opened, taken out of the list; -1 if it is not one.
pid_t take_stream(FILE* stream) {
  std::lock_guard<std::mutex> lock(g_streams_lock);
  for (auto it = g_streams->begin(); it != g_streams->end(); ++it) {
    if (it->stream == stream) {
      pid_t pid = it->pid;
      g_streams->erase(it);
      return pid;
    }
  }
  return -1;
}

}  // namespace

COHOOK_TRACED_HOOK(pid_t, waitpid, (pid_t pid, int* status, int options), (pid, status, options), cohook::trace::trace_waitpid) {
  if ((options & WNOHANG) || cooperating_coroutine() == nullptr) return real_waitpid(pid, status, options);
  ChildWait wait;
  wait.pid = pid;
  wait.stop_events = asks_stop_events(options);
  return static_cast<pid_t>(
      wait_for_child(wait, [&]() -> long { return real_waitpid(pid, status, options | WNOHANG); }));
}

COHOOK_INTERPOSE pid_t wait(int* status) {
  return waitpid(-1, status, 0);
}

COHOOK_TRACED_HOOK(pid_t, wait4, (pid_t pid, int* status, int options, rusage* usage), (pid, status, options, usage), cohook::trace::trace_wait4) {
  if ((options & WNOHANG) || cooperating_coroutine() == nullptr) return real_wait4(pid, status, options, usage);
  return wait4_in_coroutine(pid, status, options, usage, true);
}

COHOOK_INTERPOSE pid_t wait3(int* status, int options, rusage* usage) {
  return wait4(-1, status, options, usage);
}

COHOOK_TRACED_HOOK(int, waitid, (idtype_t type, id_t id, siginfo_t* info, int options), (type, id, info, options), cohook::trace::trace_waitid) {
  if ((options & WNOHANG) || cooperating_coroutine() == nullptr) return real_waitid(type, id, info, options);
  ChildWait wait;
  if (type == P_PID) wait.pid = static_cast<pid_t>(id);
#ifdef P_PIDFD
  if (type == P_PIDFD) wait.pidfd = static_cast<int>(id);
#endif
  wait.stop_events = (options & (WSTOPPED | WCONTINUED)) != 0;
  // With WNOHANG, "nothing yet" is a return of 0 with si_pid left 0 (waitid(2)).
  siginfo_t local{};
  siginfo_t* target = info != nullptr ? info : &local;
  return static_cast<int>(wait_for_child(wait,
                                         [&]() -> long {
                                           ::memset(target, 0, sizeof *target);
                                           int result = real_waitid(type, id, target, options | WNOHANG);
                                           if (result != 0) return result;
                                           return target->si_pid != 0 ? 1 : 0;
                                         })) > 0
             ? 0
             : -1;
}

COHOOK_INTERPOSE int system(const char* command) {
  cohook::hook::note_child_process();
  if (cooperating_coroutine() == nullptr) return real_system(command);
  if (command == nullptr) return run_shell("exit 0") == 0;
  return run_shell(command);
}

COHOOK_INTERPOSE FILE* popen(const char* command, const char* mode) {
  cohook::hook::note_child_process();
  if (cooperating_coroutine() == nullptr) {
    using PopenFn = FILE* (*)(const char*, const char*);
    static constinit RealFunction<PopenFn> real_popen{"popen", [](const char*, const char*) -> FILE* {
                                                        errno = ENOSYS;
                                                        return nullptr;
                                                      }};
    return real_popen(command, mode);
  }
  return open_pipe(command, mode);
}

COHOOK_INTERPOSE int pclose(FILE* stream) {
  pid_t pid = take_stream(stream);
  if (pid < 0) return real_pclose(stream);
  ::fclose(stream);
  int status = 0;
  if (wait_uninterrupted(pid, &status) < 0) return -1;
  return status;
}

const char cohook::hook::link_anchor::process_hooks = 0;
