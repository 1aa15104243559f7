#include "sched/real_locks.h"

#include <atomic>
#include <cstdio>

namespace cohook {
namespace {

std::atomic<int> g_reports{0};

}  // namespace

void report_park_with_real_lock(Coroutine* self, const char* what) {
  if (!self->take_real_lock_report()) return;
  int report = g_reports.fetch_add(1, std::memory_order_relaxed) + 1;
  if (report > kMaxRealLockReports) return;
  std::fprintf(stderr,
               "cohook: coroutine #%llu '%s' parks in %s while holding %d real pthread lock(s) (std::mutex or "
               "pthread_mutex_t): a coroutine of this thread that needs the lock can never run, so the thread can "
               "deadlock. Release the lock before the call, or use cohook::Mutex.%s\n",
               static_cast<unsigned long long>(self->id()), self->name(), what != nullptr ? what : "a wait",
               self->real_locks_held(),
               report == kMaxRealLockReports ? " (Further reports of this kind are suppressed.)" : "");
  std::fflush(stderr);
}

}  // namespace cohook
