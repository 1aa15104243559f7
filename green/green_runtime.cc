// Green mode's start and end: __libc_start_main is interposed so that, with COHOOK_MODE=green,
// main() runs as a green thread on scheduler 0 (the process's first thread) after the program's
// constructors, with COHOOK_THREADS-1 more scheduler threads beside it. Threads the program
// creates are spread over them round robin.
//
// exit(): as without corun, it runs the atexit handlers and stdio flush, then ends the process
// while other threads may still run. A green thread that calls exit() (or returns from main)
// parks for good, and its scheduler thread's loop calls the real exit() on the thread's own
// stack: exit() destroys the calling thread's thread_locals first (__call_tls_dtors), cohook's
// stack pool among them, which must not happen under a running coroutine. The handlers run with
// that green thread's identity (t_exiting_green), so their pthread calls stay emulated (waits
// block the thread). Other green threads of that scheduler thread no longer run meanwhile.
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "green/green_diag.h"
#include "green/green_thread.h"
#include "green/real_pthread.h"
#include "hook/interpose.h"
#include "sched/baton.h"
#include "sched/config.h"
#include "sched/scheduler.h"

namespace cohook::green {

std::atomic<bool> g_green_active{false};
constinit thread_local GreenThread* t_exiting_green __attribute__((tls_model("initial-exec"))) = nullptr;

namespace {

using MainFn = int (*)(int, char**, char**);
using StartMainFn = int (*)(MainFn, int, char**, void (*)(), void (*)(), void (*)(), void*);

MainFn g_user_main = nullptr;
std::vector<Scheduler*> g_schedulers;
// The scheduler whose thread is the process's first: it ends the process when the last green
// thread is gone. In a forked child, the forking thread's scheduler (the child's only thread).
std::atomic<Scheduler*> g_primary{nullptr};
// Forked child: the other scheduler threads are gone; the first pthread_create starts them again
// (lazily: most children exec at once), under g_restart_lock.
std::atomic<bool> g_restart_pending{false};
detail::SpinLock g_restart_lock;
std::atomic<unsigned> g_next_placement{0};
std::atomic<long> g_live_green{0};
std::atomic<bool> g_all_finished{false};

struct ExitRequest {
  bool pending = false;
  int status = 0;
  GreenThread* thread = nullptr;
};
constinit thread_local ExitRequest t_exit_request;

const char* environment_value(char** envp, const char* name) {
  std::size_t length = std::strlen(name);
  for (char** e = envp; e != nullptr && *e != nullptr; ++e)
    if (std::strncmp(*e, name, length) == 0 && (*e)[length] == '=') return *e + length + 1;
  return nullptr;
}

std::size_t rlimit_stack_size() {
  rlimit limit{};
  constexpr std::size_t kPthreadDefault = 8u << 20;  // glibc's choice when RLIMIT_STACK is unlimited
  if (::getrlimit(RLIMIT_STACK, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return kPthreadDefault;
  return std::max<std::size_t>(limit.rlim_cur, 16u << 10);
}

// The loop every scheduler thread runs until the process exits.
[[noreturn]] void scheduler_loop(Scheduler& scheduler) {
  for (;;) {
    scheduler.run_once(-1);
    if (t_exit_request.pending) {
      t_exiting_green = t_exit_request.thread;
      real_pthread.exit(t_exit_request.status);
    }
    if (g_all_finished.load(std::memory_order_acquire) && &scheduler == g_primary.load(std::memory_order_acquire)) {
      // main called pthread_exit and the last thread has ended: glibc then exits with status 0.
      real_pthread.exit(0);
    }
  }
}

void* scheduler_thread(void* slot) {
  t_cohook_thread = true;
  auto* scheduler = new Scheduler();  // never destroyed: the process ends with it running
  *static_cast<Scheduler**>(slot) = scheduler;
  scheduler_loop(*scheduler);
}

// Starts scheduler threads for slots `first`..end of g_schedulers and waits for their schedulers.
void start_scheduler_threads(std::size_t first) {
  for (std::size_t i = first; i < g_schedulers.size(); ++i) {
    __atomic_store_n(&g_schedulers[i], nullptr, __ATOMIC_RELEASE);
    pthread_t thread;
    int error = real_pthread.pthread_create(&thread, nullptr, &scheduler_thread, &g_schedulers[i]);
    if (error != 0) {
      std::fprintf(stderr, "cohook: cannot start scheduler thread %zu of %zu: %s\n", i + 1, g_schedulers.size(),
                   std::strerror(error));
      std::exit(2);
    }
  }
  for (std::size_t i = first; i < g_schedulers.size(); ++i)
    while (__atomic_load_n(&g_schedulers[i], __ATOMIC_ACQUIRE) == nullptr) std::this_thread::yield();
}

void restart_schedulers_after_fork() {
  std::lock_guard<detail::SpinLock> lock(g_restart_lock);
  if (!g_restart_pending.load(std::memory_order_acquire)) return;
  start_scheduler_threads(1);
  g_restart_pending.store(false, std::memory_order_release);
}


// Starts a green thread's coroutine on `home`. The coroutine attaches itself to its GreenThread
// when it first runs, so nothing races with a scheduler thread that starts it at once.
void launch(GreenThread* thread, Scheduler* home) {
  if (thread->id == 0) thread->id = next_green_id();  // signals_thread_created names it first
  green_thread_started();
  home->spawn([thread] { run_green_thread(thread); }, SpawnOptions{thread->stack_size, thread->name})->release();
}

int green_main(int argc, char** argv, char** envp) {
  int threads = config().threads;
  if (threads <= 0) {
    unsigned cores = std::thread::hardware_concurrency();
    threads = cores > 0 ? static_cast<int>(cores) : 1;
  }
  g_schedulers.assign(static_cast<std::size_t>(threads), nullptr);
  begin_green_signals();  // before the scheduler threads start: they inherit an empty mask
  t_cohook_thread = true;  // this thread's own stack runs scheduler 0's loop from now on
  g_schedulers[0] = new Scheduler();
  g_primary.store(g_schedulers[0], std::memory_order_release);
  install_fork_handlers();  // after the first Scheduler's: child handlers run in that order
  start_scheduler_threads(1);

  auto* main_thread = new GreenThread();
  main_thread->is_main = true;
  main_thread->stack_size = default_green_stack_size();
  std::strncpy(main_thread->name, program_invocation_short_name, sizeof main_thread->name - 1);
  static int s_argc = argc;
  static char** s_argv = argv;
  static char** s_envp = envp;
  main_thread->start = [](void*) -> void* { request_exit(g_user_main(s_argc, s_argv, s_envp)); };
  signals_thread_created(nullptr, main_thread);
  g_green_active.store(true, std::memory_order_seq_cst);
  start_green_diagnostics();  // every thread is green now: "all asleep" is a deadlock
  launch(main_thread, g_schedulers[0]);
  scheduler_loop(*g_schedulers[0]);
}

}  // namespace

std::uint32_t next_green_id() {
  static std::atomic<std::uint32_t> next{1};
  std::uint32_t id;
  do id = next.fetch_add(1, std::memory_order_relaxed);
  while (id == 0 || id == 0xffffffffu);  // 0 and ~0 mean "nobody" and "being handed over"
  return id;
}

std::size_t default_green_stack_size() {
  static const std::size_t size = [] {
    // COHOOK_STACK_SIZE (corun --stack-size) if set, else what pthread_create would give.
    if (std::getenv("COHOOK_STACK_SIZE") != nullptr) return default_stack_size();
    return coctx::round_stack_size(rlimit_stack_size());
  }();
  return size;
}

void spawn_green(GreenThread* thread) {
  if (g_restart_pending.load(std::memory_order_acquire)) [[unlikely]] restart_schedulers_after_fork();
  unsigned n = g_next_placement.fetch_add(1, std::memory_order_relaxed);
  launch(thread, g_schedulers[n % g_schedulers.size()]);
}

void green_thread_started() { g_live_green.fetch_add(1, std::memory_order_relaxed); }

void green_thread_finished() {
  if (g_live_green.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  g_all_finished.store(true, std::memory_order_release);
  g_primary.load(std::memory_order_acquire)->stop();  // its loop then polls without sleeping, and exits
}

void reset_runtime_in_child(Coroutine* survivor) {
  new (&g_restart_lock) detail::SpinLock();
  Scheduler* mine = survivor != nullptr ? survivor->home() : nullptr;
  // The other scheduler threads are gone, with every green thread they ran.
  for (Scheduler*& slot : g_schedulers) slot = nullptr;
  if (mine == nullptr) {  // forked from a thread that is not a green thread: none is left
    Baton::forget_waiters_before_fork();
    g_live_green.store(0, std::memory_order_relaxed);
    g_primary.store(nullptr, std::memory_order_relaxed);
    return;
  }
  mine->keep_only_after_fork(survivor);
  g_schedulers[0] = mine;
  g_primary.store(mine, std::memory_order_release);
  g_live_green.store(1, std::memory_order_relaxed);
  g_all_finished.store(false, std::memory_order_relaxed);
  t_exit_request = ExitRequest{};
  g_restart_pending.store(g_schedulers.size() > 1, std::memory_order_release);
}

[[noreturn]] void request_exit(int status) {
  Coroutine* self = Coroutine::current();
  t_exit_request = ExitRequest{true, status, green_thread_of(self)};
  // Park for good: nobody is given the ticket. The loop sees the request after this round
  // (stop() keeps that round from sleeping).
  std::uint64_t ticket = Scheduler::prepare_park();
  Scheduler::current()->stop();
  Scheduler::park_until(ticket, kNoDeadline, "exit");
  std::abort();  // unreachable: the process exits first
}

}  // namespace cohook::green

using namespace cohook::green;

// Both symbol versions (GLIBC_2.2.5 for old binaries, GLIBC_2.34 for new ones) bind to this
// unversioned definition.
COHOOK_INTERPOSE int __libc_start_main(MainFn main, int argc, char** argv, void (*init)(), void (*fini)(),
                                       void (*rtld_fini)(), void* stack_end) {
  static StartMainFn real = reinterpret_cast<StartMainFn>(find_real_symbol("__libc_start_main", "GLIBC_2.34"));
  char** envp = argv + argc + 1;
  const char* mode = environment_value(envp, "COHOOK_MODE");
  if (mode != nullptr && std::strcmp(mode, "green") == 0) {
    g_user_main = main;
    main = &green_main;
  } else if (mode != nullptr && *mode != '\0' && std::strcmp(mode, "native") != 0) {
    std::fprintf(stderr, "cohook: COHOOK_MODE=%s is not valid: use green or native\n", mode);
    std::_Exit(2);
  }
  return real(main, argc, argv, init, fini, rtld_fini, stack_end);
}

COHOOK_INTERPOSE void exit(int status) {
  if (current_green_thread() != nullptr && cohook::Coroutine::current() != nullptr) request_exit(status);
  real_pthread.exit(status);
  __builtin_unreachable();  // the noreturn attribute does not survive into the pointer type
}
