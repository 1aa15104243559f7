// libco's co_getspecific/co_setspecific: pthread keys with one value per coroutine.
//
// Values live in the stCoRoutine_t (kept across co_reset, as in libco), indexed by the key.
// libco used a fixed 1024-slot array per coroutine (8 KiB each); this table grows to the largest
// key used, so a coroutine that uses none costs nothing. Outside coroutines: pthread_*specific.
#include <pthread.h>

#include <cerrno>

#include "cohook/compat/co_routine_specific.h"
#include "compat/routine.h"

namespace cohook::libco {
namespace {

// Keys are small in glibc (< PTHREAD_KEYS_MAX); refuse anything absurd instead of allocating it.
constexpr pthread_key_t kMaxKey = 1u << 20;

int set_specific(pthread_key_t key, const void* value, void (*destroy)(void*)) {
  stCoRoutine_t* self = current_coroutine_routine();
  if (self == nullptr) return pthread_setspecific(key, value);
  if (key >= kMaxKey) return EINVAL;
  std::vector<Specific>& specifics = self->more().specifics;
  if (key >= specifics.size()) specifics.resize(key + 1);
  Specific& slot = specifics[key];
  if (slot.destroy != nullptr && slot.value != nullptr && slot.value != value) slot.destroy(slot.value);
  slot.value = const_cast<void*>(value);
  slot.destroy = destroy;
  return 0;
}

}  // namespace
}  // namespace cohook::libco

extern "C" {

void* co_getspecific(pthread_key_t key) {
  stCoRoutine_t* self = cohook::libco::current_coroutine_routine();
  if (self == nullptr) return pthread_getspecific(key);
  if (self->extras == nullptr) return nullptr;
  const std::vector<cohook::libco::Specific>& specifics = self->extras->specifics;
  return key < specifics.size() ? specifics[key].value : nullptr;
}

int co_setspecific(pthread_key_t key, const void* value) { return cohook::libco::set_specific(key, value, nullptr); }

// For CO_ROUTINE_SPECIFIC: the value is freed with its coroutine (libco leaked it).
int co_setspecific_owned(pthread_key_t key, const void* value, void (*destroy)(void*)) {
  return cohook::libco::set_specific(key, value, destroy);
}

}  // extern "C"
