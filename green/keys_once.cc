// pthread keys and pthread_once for green threads.
//
// Keys: numbers come from the real pthread_key_create, so keys made before green mode (library
// constructors) and after it never collide. Each green thread keeps its own values, tagged
// with the key's sequence number so that a deleted and re-created key reads NULL, as in glibc.
// The main green thread always runs on the process's first thread, so it uses that thread's real
// values: what constructors stored for main stays visible to main.
//
// Once: the control word uses glibc's encoding (0: not run, bit 0: running, bit 1: done), so a
// pthread_once_t run before green mode started is seen as done.
#include <cerrno>
#include <cstdint>

#include "green/green_thread.h"
#include "green/real_pthread.h"
#include "hook/interpose.h"
#include "sched/scheduler.h"

namespace cohook::green {
namespace {

struct KeySlot {
  std::atomic<std::uintptr_t> sequence{0};  // odd: in use
  std::atomic<void (*)(void*)> destructor{nullptr};
};
KeySlot g_keys[PTHREAD_KEYS_MAX];

constexpr int kDestructorRounds = PTHREAD_DESTRUCTOR_ITERATIONS;

}  // namespace

void run_key_destructors(GreenThread* thread) {
  for (int round = 0; round < kDestructorRounds; ++round) {
    bool any = false;
    for (std::size_t key = 0; key < thread->keys.size(); ++key) {
      KeyValue& slot = thread->keys[key];
      if (slot.value == nullptr) continue;
      void* value = slot.value;
      slot.value = nullptr;
      if (slot.sequence != g_keys[key].sequence.load(std::memory_order_acquire)) continue;  // deleted
      void (*destructor)(void*) = g_keys[key].destructor.load(std::memory_order_acquire);
      if (destructor != nullptr) {
        destructor(value);
        any = true;
      }
    }
    if (!any) break;
  }
}

}  // namespace cohook::green

using namespace cohook;
using namespace cohook::green;

// Always interposed (green mode or not, green caller or not): the destructor must be known for
// keys made before green mode, which green threads use too.
COHOOK_INTERPOSE int pthread_key_create(pthread_key_t* key, void (*destructor)(void*)) {
  int error = real_pthread.pthread_key_create(key, destructor);
  if (error == 0 && *key < PTHREAD_KEYS_MAX) {
    KeySlot& slot = g_keys[*key];
    slot.destructor.store(destructor, std::memory_order_relaxed);
    std::uintptr_t sequence = slot.sequence.load(std::memory_order_relaxed);
    slot.sequence.store(sequence | 1, std::memory_order_release);
  }
  return error;
}

COHOOK_INTERPOSE int pthread_key_delete(pthread_key_t key) {
  int error = real_pthread.pthread_key_delete(key);
  if (error == 0 && key < PTHREAD_KEYS_MAX) g_keys[key].sequence.fetch_add(1, std::memory_order_acq_rel);
  return error;
}

COHOOK_INTERPOSE void* pthread_getspecific(pthread_key_t key) {
  GreenThread* self = current_green();
  if (self == nullptr || self->is_main || self->foreign) return real_pthread.pthread_getspecific(key);
  if (key >= self->keys.size()) return nullptr;
  const KeyValue& slot = self->keys[key];
  return slot.sequence == g_keys[key].sequence.load(std::memory_order_acquire) ? slot.value : nullptr;
}

COHOOK_INTERPOSE int pthread_setspecific(pthread_key_t key, const void* value) {
  GreenThread* self = current_green();
  if (self == nullptr || self->is_main || self->foreign) return real_pthread.pthread_setspecific(key, value);
  if (key >= PTHREAD_KEYS_MAX) return EINVAL;
  std::uintptr_t sequence = g_keys[key].sequence.load(std::memory_order_acquire);
  if ((sequence & 1) == 0) return EINVAL;  // not a live key
  if (key >= self->keys.size()) {
    try {
      self->keys.resize(key + 1);
    } catch (const std::bad_alloc&) {
      return ENOMEM;
    }
  }
  self->keys[key] = KeyValue{sequence, const_cast<void*>(value)};
  return 0;
}

COHOOK_INTERPOSE int pthread_once(pthread_once_t* control, void (*init)()) {
  if (current_green() == nullptr) return real_pthread.pthread_once(control, init);
  auto* word = reinterpret_cast<std::atomic<int>*>(control);
  constexpr int kRunning = 1, kDone = 2;
  for (;;) {
    int state = word->load(std::memory_order_acquire);
    if ((state & kDone) != 0) return 0;
    if (state == 0 && word->compare_exchange_strong(state, kRunning, std::memory_order_acq_rel)) break;
    // Another green thread runs init, perhaps parked inside it: let it go on.
    Scheduler::yield();
  }
  try {
    init();
  } catch (...) {
    word->store(0, std::memory_order_release);  // as glibc: an exception leaves it not run
    throw;
  }
  word->store(kDone, std::memory_order_release);
  return 0;
}
