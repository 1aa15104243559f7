// Barriers, spin locks and unnamed semaphores for green threads.
//
// Barrier: pthread_barrier_init is interposed and writes its own layout with a mark, so that
// pthread_barrier_wait knows an emulated barrier whoever calls it (process-shared barriers are
// left to glibc, which never sets the mark).
// Spin lock: glibc's own format and acquire (its trylock; x86_64 counts 1 as free); only the waiting differs: a green thread that
// finds it held spins briefly, then yields, so that a holder parked on the same scheduler
// thread can run and release it.
// Semaphore: the count stays where glibc keeps it (the low 32 bits of the first word), so
// sem_getvalue needs no emulation; waiters queue in bytes glibc leaves unused. sem_init is
// interposed only to clear those bytes: glibc does not, and a sem_t in malloc'd memory (Python
// allocates its locks so) holds garbage there.
// Process-shared and named (sem_open) semaphores are glibc's (their `private` field holds
// FUTEX_SHARED, 128; a process-private one holds 0).
#include <semaphore.h>

#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstring>

#include "green/green_thread.h"
#include "green/real_pthread.h"
#include "hook/interpose.h"
#include "sched/scheduler.h"
#include "sched/wait_list.h"

namespace cohook::green {
namespace {

struct GreenBarrier {
  detail::SpinLock queue_lock;
  std::uint8_t mark;
  std::uint8_t unused[2];
  std::uint32_t count;
  std::uint32_t arrived;
  std::uint32_t unused2;
  detail::WaitList waiters;
};
static_assert(sizeof(GreenBarrier) <= sizeof(pthread_barrier_t));
constexpr std::uint8_t kBarrierMark = 0xb5;

GreenBarrier* as_green_barrier(pthread_barrier_t* barrier) {
  auto* b = reinterpret_cast<GreenBarrier*>(barrier);
  return b->mark == kBarrierMark ? b : nullptr;
}

struct GreenSemaphore {
  std::atomic<std::uint32_t> value;  // glibc: low half of `data`
  std::uint32_t glibc_nwaiters;      // glibc: high half; always 0 here
  std::int32_t glibc_private;        // glibc's futex flag: 0 process-private, 128 shared
  detail::SpinLock queue_lock;
  std::uint8_t unused[3];
  detail::WaitList waiters;
};
static_assert(sizeof(GreenSemaphore) <= sizeof(sem_t));

GreenSemaphore* emulated_semaphore(sem_t* sem) {
  if (current_green() == nullptr) return nullptr;
  auto* s = reinterpret_cast<GreenSemaphore*>(sem);
  return s->glibc_private == 0 ? s : nullptr;
}

int fail(int error) {
  errno = error;
  return -1;
}

int semaphore_wait(GreenSemaphore* s, const TimePoint* deadline) {
  s->queue_lock.lock();
  std::uint32_t value = s->value.load(std::memory_order_relaxed);
  if (value > 0) {
    s->value.store(value - 1, std::memory_order_release);
    s->queue_lock.unlock();
    return 0;
  }
  if (deadline == nullptr) {
    s->queue_lock.unlock();
    return fail(EINVAL);
  }
  detail::WaitNodeFor node;
  detail::push_back(s->waiters, node.get());
  s->queue_lock.unlock();
  if (node->baton.wait_until(*deadline, "sem_wait")) return 0;  // a post handed us its unit
  s->queue_lock.lock();
  bool still_queued = detail::remove(s->waiters, node.get());
  s->queue_lock.unlock();
  if (still_queued) return fail(ETIMEDOUT);
  node->baton.await_post();
  return 0;
}

}  // namespace
}  // namespace cohook::green

using namespace cohook;
using namespace cohook::green;

COHOOK_INTERPOSE int pthread_barrier_init(pthread_barrier_t* barrier, const pthread_barrierattr_t* attr,
                                          unsigned count) {
  int shared = PTHREAD_PROCESS_PRIVATE;
  if (attr != nullptr) ::pthread_barrierattr_getpshared(attr, &shared);
  if (!g_green_active.load(std::memory_order_relaxed) || shared != PTHREAD_PROCESS_PRIVATE)
    return real_pthread.pthread_barrier_init(barrier, attr, count);
  if (count == 0) return EINVAL;
  std::memset(barrier, 0, sizeof *barrier);
  auto* b = reinterpret_cast<GreenBarrier*>(barrier);
  b->count = count;
  b->mark = kBarrierMark;
  return 0;
}

COHOOK_INTERPOSE int pthread_barrier_destroy(pthread_barrier_t* barrier) {
  GreenBarrier* b = as_green_barrier(barrier);
  if (b == nullptr) return real_pthread.pthread_barrier_destroy(barrier);
  b->queue_lock.lock();
  bool busy = b->waiters.head != nullptr;
  if (!busy) b->mark = 0;
  b->queue_lock.unlock();
  return busy ? EBUSY : 0;
}

COHOOK_INTERPOSE int pthread_barrier_wait(pthread_barrier_t* barrier) {
  GreenBarrier* b = as_green_barrier(barrier);
  if (b == nullptr) return real_pthread.pthread_barrier_wait(barrier);
  b->queue_lock.lock();
  if (++b->arrived == b->count) {
    b->arrived = 0;
    detail::WaitNode* all = detail::take_all(b->waiters);
    b->queue_lock.unlock();
    detail::post_all(all);
    return PTHREAD_BARRIER_SERIAL_THREAD;
  }
  detail::WaitNodeFor node;
  detail::push_back(b->waiters, node.get());
  b->queue_lock.unlock();
  node->baton.wait("pthread_barrier_wait");
  return 0;
}

COHOOK_INTERPOSE int pthread_spin_lock(pthread_spinlock_t* lock) {
  if (current_green() == nullptr) return real_pthread.pthread_spin_lock(lock);
  for (int spins = 0;; ++spins) {
    if (real_pthread.pthread_spin_trylock(lock) == 0) return 0;
    if (spins < 100) {
#if defined(__x86_64__)
      __builtin_ia32_pause();
#elif defined(__aarch64__)
      asm volatile("yield");
#endif
    } else {
      Scheduler::yield();  // the holder may be a parked green thread of this scheduler thread
    }
  }
}

COHOOK_INTERPOSE int sem_init(sem_t* sem, int shared, unsigned value) {
  int result = real_pthread.sem_init(sem, shared, value);
  if (result == 0) {
    auto* s = reinterpret_cast<GreenSemaphore*>(sem);
    std::memset(static_cast<void*>(&s->queue_lock), 0, sizeof *s - offsetof(GreenSemaphore, queue_lock));
  }
  return result;
}

COHOOK_INTERPOSE int sem_wait(sem_t* sem) {
  GreenSemaphore* s = emulated_semaphore(sem);
  if (s == nullptr) return real_pthread.sem_wait(sem);
  TimePoint forever = kNoDeadline;
  return semaphore_wait(s, &forever);
}

COHOOK_INTERPOSE int sem_trywait(sem_t* sem) {
  GreenSemaphore* s = emulated_semaphore(sem);
  if (s == nullptr) return real_pthread.sem_trywait(sem);
  s->queue_lock.lock();
  std::uint32_t value = s->value.load(std::memory_order_relaxed);
  if (value > 0) s->value.store(value - 1, std::memory_order_release);
  s->queue_lock.unlock();
  return value > 0 ? 0 : fail(EAGAIN);
}

COHOOK_INTERPOSE int sem_clockwait(sem_t* sem, clockid_t clock, const timespec* abstime) {
  GreenSemaphore* s = emulated_semaphore(sem);
  if (s == nullptr) return real_pthread.sem_clockwait(sem, clock, abstime);
  TimePoint deadline;
  bool valid = (clock == CLOCK_REALTIME || clock == CLOCK_MONOTONIC) && deadline_from(clock, abstime, &deadline);
  return semaphore_wait(s, valid ? &deadline : nullptr);
}

COHOOK_INTERPOSE int sem_timedwait(sem_t* sem, const timespec* abstime) {
  if (emulated_semaphore(sem) == nullptr) return real_pthread.sem_timedwait(sem, abstime);
  return sem_clockwait(sem, CLOCK_REALTIME, abstime);
}

COHOOK_INTERPOSE int sem_post(sem_t* sem) {
  GreenSemaphore* s = emulated_semaphore(sem);
  if (s == nullptr) return real_pthread.sem_post(sem);
  s->queue_lock.lock();
  detail::WaitNode* next = detail::pop_front(s->waiters);
  if (next == nullptr) {
    std::uint32_t value = s->value.load(std::memory_order_relaxed);
    if (value >= SEM_VALUE_MAX) {
      s->queue_lock.unlock();
      return fail(EOVERFLOW);
    }
    s->value.store(value + 1, std::memory_order_release);
  }
  s->queue_lock.unlock();
  if (next != nullptr) next->baton.post();  // the unit goes straight to the waiter
  return 0;
}
