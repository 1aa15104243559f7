// cohook's own calls to the functions green mode interposes always mean the real ones: its
// locks (std::mutex in the scheduler, poller and offload pool), its once flags, its threads.
// libcohook.so is linked with -Wl,--wrap=NAME for each name below (see COHOOK_WRAPPED in the
// Makefile), which points every reference from cohook's own objects at __wrap_NAME here. Without
// it, a scheduler lock taken by a green thread would be an emulated lock and could park in the
// middle of the scheduler's own bookkeeping.
#include <pthread.h>
#include <errno.h>
#include <sched.h>

#include "green/real_pthread.h"
#include "green/signal_state.h"

using cohook::green::real_pthread;

extern "C" {
int __wrap_pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*start)(void*), void* arg) {
  return real_pthread.pthread_create(thread, attr, start, arg);
}
int __wrap_pthread_getattr_np(pthread_t thread, pthread_attr_t* attr) { return real_pthread.pthread_getattr_np(thread, attr); }
void* __wrap_pthread_getspecific(pthread_key_t key) { return real_pthread.pthread_getspecific(key); }
int __wrap_pthread_setspecific(pthread_key_t key, const void* value) { return real_pthread.pthread_setspecific(key, value); }
int __wrap_pthread_mutex_lock(pthread_mutex_t* mutex) { return real_pthread.pthread_mutex_lock(mutex); }
int __wrap_pthread_mutex_unlock(pthread_mutex_t* mutex) { return real_pthread.pthread_mutex_unlock(mutex); }
int __wrap_pthread_once(pthread_once_t* control, void (*init)()) { return real_pthread.pthread_once(control, init); }
pthread_t __wrap_pthread_self() { return real_pthread.pthread_self(); }
int __wrap_sched_yield() { return real_pthread.sched_yield(); }
int __wrap_pthread_sigmask(int how, const sigset_t* set, sigset_t* old) { return cohook::green::real_thread_sigmask(how, set, old); }
int __wrap_sigprocmask(int how, const sigset_t* set, sigset_t* old) {
  int error = cohook::green::real_thread_sigmask(how, set, old);
  if (error == 0) return 0;
  errno = error;
  return -1;
}
}
