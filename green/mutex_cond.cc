// pthread mutexes and condition variables for green threads, emulated together because
// glibc's pthread_cond_wait unlocks and relocks its mutex internally (it would never reach an
// emulated unlock). A waiter parks (or, on a plain thread, blocks on a futex) in FIFO order;
// unlock hands the mutex straight to the first waiter.
//
// The condition variable keeps its waiters in bytes glibc's layout leaves free once the real
// pthread_cond_init (not interposed) or PTHREAD_COND_INITIALIZER has zeroed them, and reads the
// clock and process-shared bits where glibc stores them (__wrefs), so condattr settings work:
//   bytes 0-1: queue spin lock   8-23: waiters   36: __wrefs (bit 0 shared, bit 1 monotonic)
#include <cerrno>
#include <climits>
#include <cstring>

#include "green/green_mutex.h"
#include "green/green_thread.h"
#include "green/real_pthread.h"
#include "hook/interpose.h"
#include "sched/lock_graph.h"
#include "sched/real_locks.h"
#include "sched/wait_list.h"

namespace cohook::green {
namespace {

constexpr std::uint32_t kHandedOver = 0;  // owner while ownership passes to a woken waiter

int mutex_type(const GreenMutex* m) { return m->kind & 3; }  // adaptive (3) behaves as normal

bool try_acquire(GreenMutex* m, std::uint32_t self_id) {
  std::uint32_t expected = 0;
  if (!m->state.compare_exchange_strong(expected, 1, std::memory_order_acquire)) return false;
  m->owner.store(self_id, std::memory_order_relaxed);
  m->count = 1;
  return true;
}

int acquire(GreenMutex* m, std::uint32_t self_id, TimePoint deadline) {
  if (try_acquire(m, self_id)) return 0;
  detail::WaitNodeFor node;
  m->queue_lock.lock();
  if (try_acquire(m, self_id)) {
    m->queue_lock.unlock();
    return 0;
  }
  detail::push_back(m->waiters, node.get());
  m->queue_lock.unlock();
  // An untimed wait can close a lock cycle (sched/lock_graph.h): AB/BA is reported as it closes.
  // Green threads only: a foreign id stands for every coroutine of a plain thread.
  bool in_graph = deadline == kNoDeadline && current_green_thread() != nullptr;
  if (in_graph) diag::note_waiting_for_lock(m, &m->owner, self_id, "pthread mutex");
  bool handed = node->baton.wait_until(deadline, "pthread_mutex_lock");
  if (in_graph) diag::note_done_waiting_for_lock();
  if (!handed) {
    m->queue_lock.lock();
    bool still_queued = detail::remove(m->waiters, node.get());
    m->queue_lock.unlock();
    if (still_queued) return ETIMEDOUT;
    node->baton.await_post();  // handed to us just as we timed out
  }
  m->owner.store(self_id, std::memory_order_relaxed);
  m->count = 1;
  return 0;
}

void release(GreenMutex* m) {
  m->owner.store(kHandedOver, std::memory_order_relaxed);
  m->count = 0;
  m->queue_lock.lock();
  detail::WaitNode* next = detail::pop_front(m->waiters);
  if (next == nullptr) m->state.store(0, std::memory_order_release);
  m->queue_lock.unlock();
  if (next != nullptr) next->baton.post();  // state stays 1: the mutex is now next's
}

bool is_owner(const GreenMutex* m, std::uint32_t self_id) {
  return m->state.load(std::memory_order_relaxed) != 0 && m->owner.load(std::memory_order_relaxed) == self_id;
}

}  // namespace

int lock_green_mutex(GreenMutex* m, std::uint32_t self_id, TimePoint deadline) {
  if (is_owner(m, self_id)) {
    if (mutex_type(m) == PTHREAD_MUTEX_RECURSIVE) {
      if (m->count == UINT32_MAX) return EAGAIN;
      ++m->count;
      return 0;
    }
    if (mutex_type(m) == PTHREAD_MUTEX_ERRORCHECK) return EDEADLK;
    // A normal mutex locked twice deadlocks, as in glibc (the stall report will show it); a
    // timed lock times out.
  }
  return acquire(m, self_id, deadline);
}

int unlock_green_mutex(GreenMutex* m, std::uint32_t self_id) {
  int type = mutex_type(m);
  if (type == PTHREAD_MUTEX_RECURSIVE || type == PTHREAD_MUTEX_ERRORCHECK) {
    if (!is_owner(m, self_id)) return EPERM;
    if (type == PTHREAD_MUTEX_RECURSIVE && --m->count > 0) return 0;
  }
  release(m);
  return 0;
}

std::uint32_t release_for_wait(GreenMutex* m) {
  std::uint32_t depth = m->count;
  release(m);
  return depth;
}

void reacquire_after_wait(GreenMutex* m, std::uint32_t self_id, std::uint32_t depth) {
  acquire(m, self_id, kNoDeadline);
  m->count = depth > 0 ? depth : 1;
}

namespace {

struct GreenCond {
  detail::SpinLock queue_lock;
  std::uint8_t unused[7];
  detail::WaitList waiters;
};
static_assert(sizeof(GreenCond) <= offsetof(pthread_cond_t, __data.__wrefs), "must leave glibc's __wrefs alone");
static_assert(offsetof(pthread_cond_t, __data.__wrefs) == 36);

constexpr unsigned kCondShared = 1, kCondMonotonic = 2;

unsigned cond_flags(const pthread_cond_t* cond) {
  return __atomic_load_n(&cond->__data.__wrefs, __ATOMIC_RELAXED);
}
clockid_t cond_clock(const pthread_cond_t* cond) {
  return (cond_flags(cond) & kCondMonotonic) != 0 ? CLOCK_MONOTONIC : CLOCK_REALTIME;
}

// Null when the real functions apply (no green caller, or a process-shared object).
GreenThread* emulating(pthread_cond_t* cond, pthread_mutex_t* mutex) {
  GreenThread* self = current_green();
  if (self == nullptr || (cond_flags(cond) & kCondShared) != 0) return nullptr;
  if (mutex != nullptr && needs_real_mutex(as_green_mutex(mutex))) return nullptr;
  return self;
}

int cond_wait(GreenThread* self, pthread_cond_t* cond, pthread_mutex_t* mutex, TimePoint deadline) {
  auto* c = reinterpret_cast<GreenCond*>(cond);
  GreenMutex* m = as_green_mutex(mutex);
  if (mutex_type(m) == PTHREAD_MUTEX_ERRORCHECK && !is_owner(m, self->id)) return EPERM;
  detail::WaitNodeFor node;
  // Queued before the mutex is released: a signal sent after that cannot be missed.
  c->queue_lock.lock();
  detail::push_back(c->waiters, node.get());
  c->queue_lock.unlock();
  std::uint32_t depth = release_for_wait(m);
  bool signalled = node->baton.wait_until(deadline, "pthread_cond_wait");
  if (!signalled) {
    c->queue_lock.lock();
    bool still_queued = detail::remove(c->waiters, node.get());
    c->queue_lock.unlock();
    if (!still_queued) {
      node->baton.await_post();
      signalled = true;
    }
  }
  reacquire_after_wait(m, self->id, depth);
  return signalled ? 0 : ETIMEDOUT;
}

}  // namespace
}  // namespace cohook::green

using namespace cohook;
using namespace cohook::green;

namespace {
// The green caller, or null if the real function applies to this mutex.
GreenThread* emulating_mutex(pthread_mutex_t* mutex) {
  GreenThread* self = current_green();
  if (self == nullptr || needs_real_mutex(as_green_mutex(mutex))) return nullptr;
  return self;
}
}  // namespace

COHOOK_INTERPOSE int pthread_mutex_lock(pthread_mutex_t* mutex) {
  GreenThread* self = emulating_mutex(mutex);
  if (self == nullptr) return count_real_lock(real_pthread.pthread_mutex_lock(mutex));
  return lock_green_mutex(as_green_mutex(mutex), self->id, kNoDeadline);
}

COHOOK_INTERPOSE int pthread_mutex_trylock(pthread_mutex_t* mutex) {
  GreenThread* self = emulating_mutex(mutex);
  if (self == nullptr) return count_real_lock(real_pthread.pthread_mutex_trylock(mutex));
  GreenMutex* m = as_green_mutex(mutex);
  if (mutex_type(m) == PTHREAD_MUTEX_RECURSIVE && is_owner(m, self->id)) return lock_green_mutex(m, self->id, kNoDeadline);
  return try_acquire(m, self->id) ? 0 : EBUSY;
}

COHOOK_INTERPOSE int pthread_mutex_clocklock(pthread_mutex_t* mutex, clockid_t clock, const timespec* abstime) {
  GreenThread* self = emulating_mutex(mutex);
  if (self == nullptr) return count_real_lock(real_pthread.pthread_mutex_clocklock(mutex, clock, abstime));
  if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) return EINVAL;
  GreenMutex* m = as_green_mutex(mutex);
  // Like glibc, the time is checked only when the call would wait.
  if (!is_owner(m, self->id) && try_acquire(m, self->id)) return 0;
  TimePoint deadline;
  if (!deadline_from(clock, abstime, &deadline)) return EINVAL;
  return lock_green_mutex(m, self->id, deadline);
}

COHOOK_INTERPOSE int pthread_mutex_timedlock(pthread_mutex_t* mutex, const timespec* abstime) {
  if (emulating_mutex(mutex) == nullptr) return count_real_lock(real_pthread.pthread_mutex_timedlock(mutex, abstime));
  return pthread_mutex_clocklock(mutex, CLOCK_REALTIME, abstime);
}

COHOOK_INTERPOSE int pthread_mutex_unlock(pthread_mutex_t* mutex) {
  GreenThread* self = emulating_mutex(mutex);
  if (self == nullptr) return count_real_unlock(real_pthread.pthread_mutex_unlock(mutex));
  return unlock_green_mutex(as_green_mutex(mutex), self->id);
}

COHOOK_INTERPOSE int pthread_cond_wait(pthread_cond_t* cond, pthread_mutex_t* mutex) {
  GreenThread* self = emulating(cond, mutex);
  if (self == nullptr) return real_pthread.pthread_cond_wait(cond, mutex);
  return cond_wait(self, cond, mutex, kNoDeadline);
}

COHOOK_INTERPOSE int pthread_cond_clockwait(pthread_cond_t* cond, pthread_mutex_t* mutex, clockid_t clock,
                                            const timespec* abstime) {
  GreenThread* self = emulating(cond, mutex);
  if (self == nullptr) return real_pthread.pthread_cond_clockwait(cond, mutex, clock, abstime);
  if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) return EINVAL;
  TimePoint deadline;
  if (!deadline_from(clock, abstime, &deadline)) return EINVAL;
  return cond_wait(self, cond, mutex, deadline);
}

COHOOK_INTERPOSE int pthread_cond_timedwait(pthread_cond_t* cond, pthread_mutex_t* mutex, const timespec* abstime) {
  GreenThread* self = emulating(cond, mutex);
  if (self == nullptr) return real_pthread.pthread_cond_timedwait(cond, mutex, abstime);
  TimePoint deadline;
  if (!deadline_from(cond_clock(cond), abstime, &deadline)) return EINVAL;
  return cond_wait(self, cond, mutex, deadline);
}

COHOOK_INTERPOSE int pthread_cond_signal(pthread_cond_t* cond) {
  if (emulating(cond, nullptr) == nullptr) return real_pthread.pthread_cond_signal(cond);
  auto* c = reinterpret_cast<GreenCond*>(cond);
  c->queue_lock.lock();
  detail::WaitNode* next = detail::pop_front(c->waiters);
  c->queue_lock.unlock();
  if (next != nullptr) next->baton.post();
  return 0;
}

COHOOK_INTERPOSE int pthread_cond_broadcast(pthread_cond_t* cond) {
  if (emulating(cond, nullptr) == nullptr) return real_pthread.pthread_cond_broadcast(cond);
  auto* c = reinterpret_cast<GreenCond*>(cond);
  c->queue_lock.lock();
  detail::WaitNode* all = detail::take_all(c->waiters);
  c->queue_lock.unlock();
  detail::post_all(all);
  return 0;
}
