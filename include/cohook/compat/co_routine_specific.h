/* libco's CO_ROUTINE_SPECIFIC (co_routine_specific.h) on top of cohook: a per-coroutine global.
 *
 *   struct Session { int id; char user[32]; };
 *   CO_ROUTINE_SPECIFIC(Session, g_session);   // at namespace scope
 *   ... g_session->id = 7;                      // this coroutine's own Session
 *
 * Each coroutine (and, outside coroutines, each thread) gets its own zero-filled T on first use,
 * as in libco. Unlike libco, the T is freed with its coroutine (at co_release; for coroutines
 * that cohook itself made, when they end) or, outside coroutines, when the thread exits. So T must
 * be a plain type: it is calloc'd, no constructor runs, and free() releases it. C++ only. */
#pragma once

#include <pthread.h>
#include <stdlib.h>

#include "co_routine.h"

extern "C" {
/* cohook extension: co_setspecific, plus destroy(value) when the coroutine is released (outside
 * coroutines, the key's own pthread destructor applies instead). */
COHOOK_LIBCO_API int co_setspecific_owned(pthread_key_t key, const void* value, void (*destroy)(void*));
}

namespace cohook_libco {

// One key per CO_ROUTINE_SPECIFIC; created on first use so that it works from static initialisers.
template <class T, class Tag>
class RoutineSpecific {
 public:
  T* operator->() { return get(); }
  T& operator*() { return *get(); }

  T* get() {
    pthread_once(&once_, &RoutineSpecific::make_key);
    T* value = static_cast<T*>(co_getspecific(key_));
    if (value != NULL) return value;
    value = static_cast<T*>(calloc(1, sizeof(T)));
    if (value != NULL && co_setspecific_owned(key_, value, &free) != 0) {
      free(value);
      value = NULL;
    }
    return value;
  }

 private:
  static void make_key() { (void)pthread_key_create(&key_, &free); }
  static pthread_once_t once_;
  static pthread_key_t key_;
};

// Out of class, not `static inline`, so that C++11 code (libco's users) compiles too.
template <class T, class Tag>
pthread_once_t RoutineSpecific<T, Tag>::once_ = PTHREAD_ONCE_INIT;
template <class T, class Tag>
pthread_key_t RoutineSpecific<T, Tag>::key_;

}  // namespace cohook_libco

#define CO_ROUTINE_SPECIFIC(name, y)          \
  struct cohook_libco_specific_tag_##name {}; \
  static ::cohook_libco::RoutineSpecific<name, cohook_libco_specific_tag_##name> y;
