// Who a green thread is: pthread_self/equal, its stack (pthread_getattr_np), its name, and the
// thread calls that make no sense for a green thread, which are refused with a message.
#include <sched.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "green/green_diag.h"
#include "green/green_thread.h"
#include "green/real_pthread.h"
#include "hook/interpose.h"
#include "sched/scheduler.h"

namespace cohook::green {

void report_unsupported(const char* name, const char* what_happens) {
  // Once per call site name is enough to explain; a busy program would flood stderr otherwise.
  static std::atomic<unsigned> reported{0};
  unsigned bit = 1u << (std::hash<std::string_view>{}(name) % 32);
  if ((reported.fetch_or(bit, std::memory_order_relaxed) & bit) != 0) return;
  std::fprintf(stderr, "cohook: %s is not supported for green threads (corun): %s\n", name, what_happens);
}

GreenThread* foreign_thread() {
  // In the thread's own TLS, built in place: no allocation (malloc itself takes mutexes, so
  // jemalloc's first lock on a new thread arrives here), and no TLS destructor to register.
  // Locks remember owners by id only, so nothing points here after the thread ends.
  alignas(GreenThread) static constinit thread_local unsigned char storage[sizeof(GreenThread)] = {};
  static constinit thread_local GreenThread* identity = nullptr;
  if (identity == nullptr) {
    auto* made = new (storage) GreenThread();
    made->foreign = true;
    made->id = next_green_id();
    identity = made;
    note_foreign_thread();  // it may wake a green thread: no deadlock while it lives
  }
  return identity;
}

bool deadline_from(clockid_t clock, const timespec* absolute, TimePoint* deadline) {
  if (absolute->tv_nsec < 0 || absolute->tv_nsec >= 1'000'000'000) return false;
  timespec now{};
  ::clock_gettime(clock, &now);
  long long ns = (static_cast<long long>(absolute->tv_sec) - now.tv_sec) * 1'000'000'000LL +
                 (absolute->tv_nsec - now.tv_nsec);
  if (ns <= 0) {
    *deadline = Clock::now();  // already passed: one last try, then ETIMEDOUT
    return true;
  }
  *deadline = deadline_after(std::chrono::nanoseconds(ns));
  return true;
}

}  // namespace cohook::green

using namespace cohook;
using namespace cohook::green;

COHOOK_INTERPOSE pthread_t pthread_self() {
  if (GreenThread* self = current_green_thread()) return reinterpret_cast<pthread_t>(self);
  return real_pthread.pthread_self();
}

COHOOK_INTERPOSE int pthread_equal(pthread_t a, pthread_t b) { return a == b; }

COHOOK_INTERPOSE int pthread_getattr_np(pthread_t target, pthread_attr_t* attr) {
  GreenThread* thread = as_green(target);
  if (thread == nullptr) return real_pthread.pthread_getattr_np(target, attr);
  int error = ::pthread_attr_init(attr);
  if (error != 0) return error;
  // Runtimes (GCs, overflow checks) read their stack bounds here: give the coroutine's stack.
  const coctx::Fiber* fiber = thread->coroutine != nullptr ? thread->coroutine->fiber() : nullptr;
  if (fiber != nullptr) ::pthread_attr_setstack(attr, fiber->stack().low, fiber->stack().size);
  else ::pthread_attr_setstacksize(attr, thread->stack_size);
  ::pthread_attr_setguardsize(attr, thread->guard_size);
  if ((thread->flags.load(std::memory_order_acquire) & GreenThread::kDetached) != 0)
    ::pthread_attr_setdetachstate(attr, PTHREAD_CREATE_DETACHED);
  return 0;
}

COHOOK_INTERPOSE int pthread_setname_np(pthread_t target, const char* name) {
  GreenThread* thread = as_green(target);
  if (thread == nullptr) return real_pthread.pthread_setname_np(target, name);
  std::size_t length = std::strlen(name);
  if (length >= sizeof thread->name) return ERANGE;
  std::memcpy(thread->name, name, length + 1);
  return 0;
}

COHOOK_INTERPOSE int pthread_getname_np(pthread_t target, char* buffer, size_t size) {
  GreenThread* thread = as_green(target);
  if (thread == nullptr) return real_pthread.pthread_getname_np(target, buffer, size);
  std::size_t length = ::strnlen(thread->name, sizeof thread->name);
  if (size <= length) return ERANGE;
  std::memcpy(buffer, thread->name, length);
  buffer[length] = '\0';
  return 0;
}

COHOOK_INTERPOSE int sched_yield() {
  if (current_green() != nullptr && Coroutine::current() != nullptr) {
    Scheduler::yield();
    return 0;
  }
  return real_pthread.sched_yield();
}

// ---- refused: these act on a kernel thread, and a green thread has none of its own ----

COHOOK_INTERPOSE int pthread_cancel(pthread_t target) {
  if (as_green(target) == nullptr) return real_pthread.pthread_cancel(target);
  report_unsupported("pthread_cancel", "the call fails with ENOTSUP and the thread keeps running");
  return ENOTSUP;
}

COHOOK_INTERPOSE int pthread_getschedparam(pthread_t target, int* policy, sched_param* param) {
  if (as_green(target) == nullptr) return real_pthread.pthread_getschedparam(target, policy, param);
  *policy = SCHED_OTHER;  // what every green thread runs under: its scheduler thread's policy
  param->sched_priority = 0;
  return 0;
}

COHOOK_INTERPOSE int pthread_setschedparam(pthread_t target, int policy, const sched_param* param) {
  if (as_green(target) == nullptr) return real_pthread.pthread_setschedparam(target, policy, param);
  report_unsupported("pthread_setschedparam", "the policy is unchanged and the call fails with ENOTSUP");
  return ENOTSUP;
}

COHOOK_INTERPOSE int pthread_setschedprio(pthread_t target, int priority) {
  if (as_green(target) == nullptr) return real_pthread.pthread_setschedprio(target, priority);
  report_unsupported("pthread_setschedprio", "the priority is unchanged and the call fails with ENOTSUP");
  return ENOTSUP;
}

COHOOK_INTERPOSE int pthread_setaffinity_np(pthread_t target, size_t size, const cpu_set_t* set) {
  if (as_green(target) == nullptr) return real_pthread.pthread_setaffinity_np(target, size, set);
  report_unsupported("pthread_setaffinity_np", "the affinity is unchanged and the call fails with ENOTSUP");
  return ENOTSUP;
}

COHOOK_INTERPOSE int pthread_getaffinity_np(pthread_t target, size_t size, cpu_set_t* set) {
  if (as_green(target) == nullptr) return real_pthread.pthread_getaffinity_np(target, size, set);
  // A green thread may run wherever the process may.
  return ::sched_getaffinity(0, size, set) == 0 ? 0 : errno;
}

COHOOK_INTERPOSE int pthread_getcpuclockid(pthread_t target, clockid_t* clock) {
  if (as_green(target) == nullptr) return real_pthread.pthread_getcpuclockid(target, clock);
  report_unsupported("pthread_getcpuclockid", "green threads have no CPU clock of their own; the call fails with ENOTSUP");
  return ENOTSUP;
}
