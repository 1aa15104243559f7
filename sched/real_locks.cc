#include "sched/real_locks.h"

#include <atomic>
#include <cstdio>

#include "sched/coroutine.h"

namespace cohook {
namespace {

std::atomic<bool> g_reported{false};

}  // namespace

constinit thread_local int t_real_locks_held __attribute__((tls_model("initial-exec"))) = 0;

void report_park_with_real_lock(const char* what) {
  if (g_reported.exchange(true, std::memory_order_relaxed)) return;
  Coroutine* self = Coroutine::current();
  std::fprintf(stderr,
               "cohook: coroutine #%llu '%s' parks (%s) while its thread holds %d real pthread lock(s): a coroutine "
               "of this thread that needs the lock can never run, so the thread may hang. Release the lock before "
               "the call, or use cohook::Mutex. (Reported once.)\n",
               static_cast<unsigned long long>(self != nullptr ? self->id() : 0),
               self != nullptr ? self->name() : "", what != nullptr ? what : "wait", t_real_locks_held);
  std::fflush(stderr);
}

}  // namespace cohook
