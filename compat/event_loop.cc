// libco's per-thread environment and event loop: co_get_curr_thread_env, co_get_epoll_ct,
// co_poll, co_eventloop. libco ran its own epoll and timing wheel per thread; here the thread's
// cohook Scheduler is the loop, and the opaque handles only stand for it.
#include <poll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <climits>

#include "compat/routine.h"
#include "sched/scheduler.h"

struct stCoEpoll_t {
  int reserved = 0;  // an address to hand out; the loop itself is the thread's Scheduler
};

struct stCoRoutineEnv_t {
  stCoRoutine_t main_routine;
  stCoEpoll_t epoll;
  stCoRoutineEnv_t() { main_routine.is_main = true; }
};

namespace cohook::libco {
namespace {

thread_local stCoRoutineEnv_t t_env;

// poll(2) without going through any interposed poll (there is nothing to park outside a
// coroutine). ppoll, because aarch64 has no poll system call.
int plain_poll(struct pollfd* fds, nfds_t nfds, int timeout_ms) {
  timespec timeout{timeout_ms / 1000, static_cast<long>(timeout_ms % 1000) * 1000000L};
  return static_cast<int>(::syscall(SYS_ppoll, fds, nfds, timeout_ms < 0 ? nullptr : &timeout, nullptr, 8));
}

}  // namespace

stCoRoutine_t* main_routine() { return &t_env.main_routine; }

}  // namespace cohook::libco

extern "C" {

stCoRoutineEnv_t* co_get_curr_thread_env() { return &cohook::libco::t_env; }

stCoEpoll_t* co_get_epoll_ct() { return &cohook::libco::t_env.epoll; }

int co_poll(stCoEpoll_t*, struct pollfd fds[], nfds_t nfds, int timeout_ms) {
  if (cohook::Coroutine::current() == nullptr || timeout_ms == 0)
    return cohook::libco::plain_poll(fds, nfds, timeout_ms);
  cohook::TimePoint deadline =
      timeout_ms < 0 ? cohook::kNoDeadline : cohook::deadline_after(std::chrono::milliseconds(timeout_ms));
  return cohook::Scheduler::poll_fds(fds, nfds, deadline);
}

void co_eventloop(stCoEpoll_t*, pfn_co_eventloop_t pfn, void* arg) {
  // libco waited at most 1 ms per round, so callbacks that poll a flag see it soon; without a
  // callback there is nothing to check, and the loop may sleep until something happens.
  const int round_ms = pfn != nullptr ? 1 : -1;
  if (cohook::Coroutine::current() != nullptr) {
    // Called from a coroutine (a libco program under green threads, where main() is one): the
    // scheduler already runs this thread's loop, so just give it the time.
    for (;;) {
      cohook::Scheduler::sleep_until(round_ms < 0 ? cohook::kNoDeadline
                                                  : cohook::deadline_after(std::chrono::milliseconds(round_ms)));
      if (pfn != nullptr && pfn(arg) == -1) return;
    }
  }
  cohook::Scheduler& scheduler = cohook::Scheduler::this_thread();
  for (;;) {
    scheduler.run_once(round_ms);
    if (pfn != nullptr && pfn(arg) == -1) return;
  }
}

void co_log_err(const char*, ...) {}

}  // extern "C"
