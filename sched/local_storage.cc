// Coroutine-local storage: slots on the running coroutine, or per OS thread outside coroutines.
#include <atomic>
#include <vector>

#include "cohook/cohook.hpp"
#include "sched/coroutine.h"

namespace cohook::detail {
namespace {

std::atomic<std::size_t> g_next_key{0};

struct ThreadSlots {
  struct Slot {
    void* value = nullptr;
    void (*destroy)(void*) = nullptr;
  };
  std::vector<Slot> slots;
  ~ThreadSlots() {
    for (Slot& s : slots)
      if (s.value != nullptr && s.destroy != nullptr) s.destroy(s.value);
  }
};

ThreadSlots& thread_slots() {
  static thread_local ThreadSlots slots;
  return slots;
}

}  // namespace

std::size_t allocate_local_key() { return g_next_key.fetch_add(1, std::memory_order_relaxed); }

void* get_local(std::size_t key) {
  if (Coroutine* c = Coroutine::current()) return c->local(key);
  auto& slots = thread_slots().slots;
  return key < slots.size() ? slots[key].value : nullptr;
}

void set_local(std::size_t key, void* value, void (*destroy)(void*)) {
  if (Coroutine* c = Coroutine::current()) {
    c->set_local(key, value, destroy);
    return;
  }
  auto& slots = thread_slots().slots;
  if (key >= slots.size()) slots.resize(key + 1);
  slots[key] = {value, destroy};
}

}  // namespace cohook::detail
