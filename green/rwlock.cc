// pthread rwlocks for green threads. State lives in the bytes glibc's layout leaves free after
// the real pthread_rwlock_init (not interposed) or PTHREAD_RWLOCK_INITIALIZER zeroed them;
// glibc's own __shared and __flags (reader/writer preference) are read where glibc keeps them:
//   byte 0: queue spin lock   4: active readers   8-23: waiting readers   24: writer id
//   28: __shared   32-47: waiting writers   48: __flags
// Ownership is handed over on unlock (all waiting readers at once, or one writer), so a woken
// waiter never competes again and a timed-out waiter knows whether it got the lock.
#include <cerrno>
#include <cstddef>

#include "green/green_thread.h"
#include "green/real_pthread.h"
#include "hook/interpose.h"
#include "sched/real_locks.h"
#include "sched/wait_list.h"

namespace cohook::green {
namespace {

struct GreenRwlock {
  detail::SpinLock queue_lock;
  std::uint8_t unused0[3];
  std::uint32_t readers;
  detail::WaitList reader_waiters;
  std::uint32_t writer;  // green thread id, or kHandedToWriter, or 0
  std::int32_t glibc_shared;
  detail::WaitList writer_waiters;
  std::uint32_t glibc_flags;
};
static_assert(sizeof(GreenRwlock) <= sizeof(pthread_rwlock_t));
static_assert(offsetof(GreenRwlock, glibc_shared) == offsetof(pthread_rwlock_t, __data.__shared));
static_assert(offsetof(GreenRwlock, glibc_flags) == offsetof(pthread_rwlock_t, __data.__flags));

constexpr std::uint32_t kHandedToWriter = 0xffffffffu;

bool empty(const detail::WaitList& list) { return list.head == nullptr; }
bool prefers_writers(const GreenRwlock* l) { return l->glibc_flags != PTHREAD_RWLOCK_PREFER_READER_NP; }

GreenRwlock* as_green_rwlock(pthread_rwlock_t* lock) { return reinterpret_cast<GreenRwlock*>(lock); }

GreenThread* emulating(pthread_rwlock_t* lock) {
  GreenThread* self = current_green();
  if (self == nullptr || as_green_rwlock(lock)->glibc_shared != 0) return nullptr;
  return self;
}

// With queue_lock held.
bool reader_may_enter(const GreenRwlock* l) {
  return l->writer == 0 && (!prefers_writers(l) || empty(l->writer_waiters));
}

// Waits in `list` until handed the lock (true) or the deadline passes (false).
bool wait_for_handover(GreenRwlock* l, detail::WaitList& list, TimePoint deadline) {
  detail::WaitNodeFor node;
  detail::push_back(list, node.get());
  l->queue_lock.unlock();
  if (node->baton.wait_until(deadline, "pthread_rwlock")) return true;
  l->queue_lock.lock();
  bool still_queued = detail::remove(list, node.get());
  l->queue_lock.unlock();
  if (still_queued) return false;
  node->baton.await_post();
  return true;
}

int read_lock(GreenRwlock* l, GreenThread* self, const TimePoint* deadline, bool try_only) {
  l->queue_lock.lock();
  if (reader_may_enter(l)) {
    ++l->readers;
    l->queue_lock.unlock();
    return 0;
  }
  if (l->writer == self->id) {
    l->queue_lock.unlock();
    return EDEADLK;
  }
  if (try_only || deadline == nullptr) {
    l->queue_lock.unlock();
    return try_only ? EBUSY : EINVAL;
  }
  return wait_for_handover(l, l->reader_waiters, *deadline) ? 0 : ETIMEDOUT;
}

int write_lock(GreenRwlock* l, GreenThread* self, const TimePoint* deadline, bool try_only) {
  l->queue_lock.lock();
  if (l->writer == 0 && l->readers == 0) {
    l->writer = self->id;
    l->queue_lock.unlock();
    return 0;
  }
  if (l->writer == self->id) {
    l->queue_lock.unlock();
    return EDEADLK;
  }
  if (try_only || deadline == nullptr) {
    l->queue_lock.unlock();
    return try_only ? EBUSY : EINVAL;
  }
  if (!wait_for_handover(l, l->writer_waiters, *deadline)) return ETIMEDOUT;
  l->writer = self->id;  // handed over as kHandedToWriter
  return 0;
}

// With queue_lock held and the lock free: hands it on. Returns the chain to post.
detail::WaitNode* hand_over(GreenRwlock* l) {
  bool readers_first = !prefers_writers(l) || empty(l->writer_waiters);
  if (readers_first && !empty(l->reader_waiters)) {
    std::uint32_t count = 0;
    for (detail::WaitNode* n = l->reader_waiters.head; n != nullptr; n = n->next) ++count;
    l->readers += count;
    return detail::take_all(l->reader_waiters);
  }
  if (detail::WaitNode* writer = detail::pop_front(l->writer_waiters)) {
    l->writer = kHandedToWriter;
    return writer;
  }
  return nullptr;
}

int unlock(GreenRwlock* l, GreenThread* self) {
  l->queue_lock.lock();
  if (l->writer == self->id) {
    l->writer = 0;
  } else if (l->readers > 0) {
    if (--l->readers > 0) {
      l->queue_lock.unlock();
      return 0;
    }
  } else {
    l->queue_lock.unlock();
    return EPERM;
  }
  detail::WaitNode* chain = hand_over(l);
  l->queue_lock.unlock();
  detail::post_all(chain);
  return 0;
}

// Deadline for a timed call: null (EINVAL) when abstime is malformed.
const TimePoint* timed(clockid_t clock, const timespec* abstime, TimePoint* storage) {
  if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) return nullptr;
  return deadline_from(clock, abstime, storage) ? storage : nullptr;
}

}  // namespace
}  // namespace cohook::green

using namespace cohook;
using namespace cohook::green;

COHOOK_INTERPOSE int pthread_rwlock_rdlock(pthread_rwlock_t* lock) {
  GreenThread* self = emulating(lock);
  if (self == nullptr) return count_real_lock(real_pthread.pthread_rwlock_rdlock(lock));
  TimePoint forever = kNoDeadline;
  return read_lock(as_green_rwlock(lock), self, &forever, false);
}

COHOOK_INTERPOSE int pthread_rwlock_tryrdlock(pthread_rwlock_t* lock) {
  GreenThread* self = emulating(lock);
  if (self == nullptr) return count_real_lock(real_pthread.pthread_rwlock_tryrdlock(lock));
  int error = read_lock(as_green_rwlock(lock), self, nullptr, true);
  return error == EDEADLK ? EBUSY : error;
}

COHOOK_INTERPOSE int pthread_rwlock_clockrdlock(pthread_rwlock_t* lock, clockid_t clock, const timespec* abstime) {
  GreenThread* self = emulating(lock);
  if (self == nullptr) return count_real_lock(real_pthread.pthread_rwlock_clockrdlock(lock, clock, abstime));
  TimePoint storage;
  return read_lock(as_green_rwlock(lock), self, timed(clock, abstime, &storage), false);
}

COHOOK_INTERPOSE int pthread_rwlock_timedrdlock(pthread_rwlock_t* lock, const timespec* abstime) {
  if (emulating(lock) == nullptr) return count_real_lock(real_pthread.pthread_rwlock_timedrdlock(lock, abstime));
  return pthread_rwlock_clockrdlock(lock, CLOCK_REALTIME, abstime);
}

COHOOK_INTERPOSE int pthread_rwlock_wrlock(pthread_rwlock_t* lock) {
  GreenThread* self = emulating(lock);
  if (self == nullptr) return count_real_lock(real_pthread.pthread_rwlock_wrlock(lock));
  TimePoint forever = kNoDeadline;
  return write_lock(as_green_rwlock(lock), self, &forever, false);
}

COHOOK_INTERPOSE int pthread_rwlock_trywrlock(pthread_rwlock_t* lock) {
  GreenThread* self = emulating(lock);
  if (self == nullptr) return count_real_lock(real_pthread.pthread_rwlock_trywrlock(lock));
  int error = write_lock(as_green_rwlock(lock), self, nullptr, true);
  return error == EDEADLK ? EBUSY : error;
}

COHOOK_INTERPOSE int pthread_rwlock_clockwrlock(pthread_rwlock_t* lock, clockid_t clock, const timespec* abstime) {
  GreenThread* self = emulating(lock);
  if (self == nullptr) return count_real_lock(real_pthread.pthread_rwlock_clockwrlock(lock, clock, abstime));
  TimePoint storage;
  return write_lock(as_green_rwlock(lock), self, timed(clock, abstime, &storage), false);
}

COHOOK_INTERPOSE int pthread_rwlock_timedwrlock(pthread_rwlock_t* lock, const timespec* abstime) {
  if (emulating(lock) == nullptr) return count_real_lock(real_pthread.pthread_rwlock_timedwrlock(lock, abstime));
  return pthread_rwlock_clockwrlock(lock, CLOCK_REALTIME, abstime);
}

COHOOK_INTERPOSE int pthread_rwlock_unlock(pthread_rwlock_t* lock) {
  GreenThread* self = emulating(lock);
  if (self == nullptr) return count_real_unlock(real_pthread.pthread_rwlock_unlock(lock));
  return unlock(as_green_rwlock(lock), self);
}
