#include "sched/real_locks.h"

#include <atomic>
#include <cstdio>

#include "sched/coroutine.h"

namespace cohook {
namespace {

std::atomic<int> g_reports{0};

}  // namespace

constinit thread_local int t_real_locks_held __attribute__((tls_model("initial-exec"))) = 0;

void report_park_with_real_lock(const char* what) {
  Coroutine* self = Coroutine::current();
  if (self == nullptr || !self->take_real_lock_report()) return;
  int report = g_reports.fetch_add(1, std::memory_order_relaxed) + 1;
  if (report > kMaxRealLockReports) return;
  std::fprintf(stderr,
               "cohook: coroutine #%llu '%s' parks in %s while its thread holds %d real pthread lock(s) "
               "(std::mutex or pthread_mutex_t): a coroutine of this thread that needs the lock can never run, so "
               "the thread can deadlock. Release the lock before the call, or use cohook::Mutex.%s\n",
               static_cast<unsigned long long>(self->id()), self->name(), what != nullptr ? what : "a wait",
               t_real_locks_held,
               report == kMaxRealLockReports ? " (Further reports of this kind are suppressed.)" : "");
  std::fflush(stderr);
}

}  // namespace cohook
