// fork() in green mode. POSIX: "the child has a single thread, a replica of the calling thread";
// the other threads vanish, and whatever they held (a mutex, a FILE) stays held. Under corun
// the calling thread is a green thread on one of K scheduler threads, so the child keeps that
// green thread alone: the other green threads of its scheduler thread are forgotten unrun (no
// wake-up reaches them, and no mutex or semaphore count is handed to them), the other
// scheduler threads are gone as the kernel made them, and the first pthread_create in the
// child starts K-1 new ones. A child that execs at once (the common case) never starts any;
// the exec'd program inherits LD_PRELOAD and COHOOK_*, so it runs under corun too.
//
// The runtime state this touches (the scheduler list, the restart lock) is rebuilt whole in the
// child, so no lock is held across the fork: a prepare handler that took a spin lock could not
// park afterwards, and other prepare handlers (hook/process_hooks.cc) park on their mutexes.
#include <pthread.h>

#include <mutex>

#include "green/green_thread.h"
#include "green/signal_state.h"
#include "sched/coroutine.h"

namespace cohook::green {
namespace {

void in_child() {
  Coroutine* running = Coroutine::current();
  GreenThread* thread = current_green_thread();
  bool green_caller = thread != nullptr && running != nullptr && green_thread_of(running) == thread;
  reset_runtime_in_child(green_caller ? running : nullptr);
  signals_after_fork(green_caller ? thread : nullptr);
}

}  // namespace

void install_fork_handlers() {
  static std::once_flag once;
  std::call_once(once, [] { ::pthread_atfork(nullptr, nullptr, &in_child); });
}

}  // namespace cohook::green
