// Calls that make a child process or run a new program, interposed only to report it before it
// happens (socket_privacy.h: the child, or the new program, shares every fd). Otherwise each is
// the real call, unchanged.
//
// fork reports through atfork handlers. _Fork (glibc 2.34+) runs none, so it is interposed.
// posix_spawn, posix_spawnp and the exec family are weak here: libcohook.so's green layer
// defines strong ones (green/child_mask.cc) that also give the child the green thread's signal
// mask, and report as well. The weak ones serve programs linked with libcohook.a, which has no
// green layer. The exec family is here for vfork: its child runs in the parent's memory until
// it execs, and the report made there reaches the parent's table.
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <unistd.h>

#include "hook/exec_argument_list.h"
#include "hook/interpose.h"
#include "hook/link_anchors.h"
#include "hook/real_functions.h"
#include "hook/socket_privacy.h"

namespace cohook::hook {
namespace {

// Before fork, in the parent; after it on both sides too, for fds other threads made meanwhile.
[[maybe_unused]] const bool kReportFork =
    (::pthread_atfork(note_child_process, note_child_process, note_child_process), true);

template <class Result, class... Args>
Result unavailable(Args...) {
  errno = ENOSYS;
  return -1;
}

using SpawnFn = int (*)(pid_t*, const char*, const posix_spawn_file_actions_t*, const posix_spawnattr_t*, char* const[],
                        char* const[]);
int spawn_unavailable(pid_t*, const char*, const posix_spawn_file_actions_t*, const posix_spawnattr_t*, char* const[],
                      char* const[]) {
  return ENOSYS;  // posix_spawn returns its error
}
using ForkFn = pid_t (*)();
using ExecveFn = int (*)(const char*, char* const[], char* const[]);
using ExecvFn = int (*)(const char*, char* const[]);
using FexecveFn = int (*)(int, char* const[], char* const[]);
using ExecveatFn = int (*)(int, const char*, char* const[], char* const[], int);

constinit RealFunction<SpawnFn> real_posix_spawn{"posix_spawn", spawn_unavailable};
constinit RealFunction<SpawnFn> real_posix_spawnp{"posix_spawnp", spawn_unavailable};
constinit RealFunction<ForkFn> real_underscore_fork{"_Fork", unavailable<pid_t>};
constinit RealFunction<ExecveFn> real_execve{"execve", unavailable<int, const char*, char* const*, char* const*>};
constinit RealFunction<ExecveFn> real_execvpe{"execvpe", unavailable<int, const char*, char* const*, char* const*>};
constinit RealFunction<ExecvFn> real_execv{"execv", unavailable<int, const char*, char* const*>};
constinit RealFunction<ExecvFn> real_execvp{"execvp", unavailable<int, const char*, char* const*>};
constinit RealFunction<FexecveFn> real_fexecve{"fexecve", unavailable<int, int, char* const*, char* const*>};
constinit RealFunction<ExecveatFn> real_execveat{"execveat",
                                                 unavailable<int, int, const char*, char* const*, char* const*, int>};

}  // namespace
}  // namespace cohook::hook

using namespace cohook::hook;

COHOOK_INTERPOSE pid_t _Fork() {
  note_child_process();
  pid_t pid = real_underscore_fork();
  note_child_process();  // fds other threads made meanwhile
  return pid;
}

#define COHOOK_WEAK_HOOK COHOOK_INTERPOSE __attribute__((weak))

COHOOK_WEAK_HOOK int posix_spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions,
                                 const posix_spawnattr_t* attributes, char* const argv[], char* const envp[]) {
  note_child_process();
  return real_posix_spawn(pid, path, actions, attributes, argv, envp);
}

COHOOK_WEAK_HOOK int posix_spawnp(pid_t* pid, const char* file, const posix_spawn_file_actions_t* actions,
                                  const posix_spawnattr_t* attributes, char* const argv[], char* const envp[]) {
  note_child_process();
  return real_posix_spawnp(pid, file, actions, attributes, argv, envp);
}

COHOOK_WEAK_HOOK int execve(const char* path, char* const argv[], char* const envp[]) {
  note_child_process();
  return real_execve(path, argv, envp);
}

COHOOK_WEAK_HOOK int execvpe(const char* file, char* const argv[], char* const envp[]) {
  note_child_process();
  return real_execvpe(file, argv, envp);
}

COHOOK_WEAK_HOOK int execv(const char* path, char* const argv[]) {
  note_child_process();
  return real_execv(path, argv);
}

COHOOK_WEAK_HOOK int execvp(const char* file, char* const argv[]) {
  note_child_process();
  return real_execvp(file, argv);
}

COHOOK_WEAK_HOOK int fexecve(int fd, char* const argv[], char* const envp[]) {
  note_child_process();
  return real_fexecve(fd, argv, envp);
}

COHOOK_WEAK_HOOK int execveat(int dirfd, const char* path, char* const argv[], char* const envp[], int flags) {
  note_child_process();
  return real_execveat(dirfd, path, argv, envp, flags);
}

// glibc's execl, execle and execlp call its internal execve, which no hook sees.
COHOOK_WEAK_HOOK int execl(const char* path, const char* arg, ...) {
  va_list arguments;
  va_start(arguments, arg);
  int result = exec_with_list(arg, &arguments, false, [&](char** argv, char**) { return execv(path, argv); });
  va_end(arguments);
  return result;
}

COHOOK_WEAK_HOOK int execlp(const char* file, const char* arg, ...) {
  va_list arguments;
  va_start(arguments, arg);
  int result = exec_with_list(arg, &arguments, false, [&](char** argv, char**) { return execvp(file, argv); });
  va_end(arguments);
  return result;
}

COHOOK_WEAK_HOOK int execle(const char* path, const char* arg, ...) {
  va_list arguments;
  va_start(arguments, arg);
  int result =
      exec_with_list(arg, &arguments, true, [&](char** argv, char** envp) { return execve(path, argv, envp); });
  va_end(arguments);
  return result;
}

const char cohook::hook::link_anchor::child_process_hooks = 0;
