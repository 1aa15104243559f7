#include "green/green_diag.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>

#include "green/green_thread.h"
#include "green/signal_state.h"
#include "hook/offload_pool.h"
#include "sched/diag_registry.h"
#include "sched/global_deadlock.h"

namespace cohook::green {
namespace {

// Kernel thread ids of the plain threads that ever used an emulated lock, condition, semaphore...
// There is no hook at their end (foreign identities register no TLS destructor), so liveness is
// asked of the kernel at each check. A reused id only makes a thread look alive: the check then
// stays quiet, never wrong.
constexpr int kTrackedForeign = 256;
std::atomic<pid_t> g_foreign_tids[kTrackedForeign];
std::atomic<bool> g_too_many_foreign{false};  // untracked ones exist: assume one is alive

bool foreign_thread_alive() {
  if (g_too_many_foreign.load(std::memory_order_relaxed)) return true;
  pid_t self = ::getpid();
  bool alive = false;
  for (auto& slot : g_foreign_tids) {
    pid_t tid = slot.load(std::memory_order_acquire);
    if (tid == 0) continue;
    if (::syscall(SYS_tgkill, self, tid, 0) == 0 || errno != ESRCH) {
      alive = true;
      continue;
    }
    slot.compare_exchange_strong(tid, 0, std::memory_order_acq_rel);  // it has ended: free the slot
  }
  return alive;
}

// A green thread in sigwait, sigsuspend or pause waits for what another process may still send.
bool outside_work_pending() {
  return hook::OffloadPool::instance().pending() > 0 || green_threads_wait_for_signals() || foreign_thread_alive();
}

const char* green_thread_name(const Coroutine& c) {
  GreenThread* thread = green_thread_of(const_cast<Coroutine*>(&c));
  return thread != nullptr && thread->name[0] != '\0' ? thread->name : nullptr;
}

}  // namespace

void start_green_diagnostics() {
  diag::set_name_provider(&green_thread_name);
  // Four checks a second: a deadlock is declared after two idle views in a row, well within
  // the "a second or two" a person waits before suspecting a hang.
  diag::enable_global_deadlock_for_every_scheduler(&outside_work_pending, std::chrono::milliseconds(250));
}

void note_foreign_thread() {
  auto tid = static_cast<pid_t>(::syscall(SYS_gettid));
  for (auto& slot : g_foreign_tids) {
    pid_t expected = 0;
    if (slot.compare_exchange_strong(expected, tid, std::memory_order_acq_rel)) return;
  }
  g_too_many_foreign.store(true, std::memory_order_relaxed);
}

}  // namespace cohook::green
