// Green threads' life: pthread_create, the join family, detach and pthread_exit.
//
// pthread_exit unwinds the green thread's frames as glibc does for a real thread: a forced
// unwind (_Unwind_ForcedUnwind), so destructors run and catch (...) / catch
// (abi::__forced_unwind&) blocks see it and must rethrow, and a stop function that, on reaching
// the green thread's first frame, jumps back there (__builtin_longjmp) to finish the thread.
// C code's pthread_cleanup_push (without -fexceptions) registers a jump buffer per handler
// (__pthread_register_cancel); the stop function jumps into the innermost one as the unwind
// reaches its frame, the handler runs, and __pthread_unwind_next starts the unwind again from
// there: glibc's own scheme, with the chain kept per green thread instead of per OS thread.
#include <setjmp.h>
#include <unwind.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "green/green_thread.h"
#include "green/real_pthread.h"
#include "hook/interpose.h"
#include "sched/scheduler.h"
#include "sched/wait_list.h"

namespace cohook::green {
namespace {

// "COHKEXIT": an exception class no C++ runtime claims, so handlers see a forced unwind.
constexpr _Unwind_Exception_Class kExitClass = 0x434f484b45584954ull;

_Unwind_Reason_Code stop_at_thread_start(int, _Unwind_Action actions, _Unwind_Exception_Class, _Unwind_Exception*,
                                         _Unwind_Context* context, void* parameter) {
  auto* thread = static_cast<GreenThread*>(parameter);
  _Unwind_Word cfa = _Unwind_GetCFA(context);
  bool past_start = (actions & _UA_END_OF_STACK) != 0 || cfa > reinterpret_cast<_Unwind_Word>(thread->exit_frame);
  auto* cleanup = static_cast<__pthread_unwind_buf_t*>(thread->cleanup_chain);
  if (cleanup != nullptr && (past_start || reinterpret_cast<_Unwind_Word>(cleanup) < cfa)) {
    // The handler's frame is being unwound: run it (pthread_cleanup_push's setjmp returns 1).
    ::siglongjmp(reinterpret_cast<__jmp_buf_tag*>(cleanup->__cancel_jmp_buf), 1);
  }
  if (past_start) __builtin_longjmp(thread->exit_jump, 1);
  return _URC_NO_REASON;
}

[[noreturn]] void unwind_green_thread(GreenThread* thread) {
  // Per green thread, not thread_local: destructors run by the unwind may park, and another
  // green thread of this scheduler thread may exit meanwhile.
  delete static_cast<_Unwind_Exception*>(thread->exit_exception);
  auto* exception = new _Unwind_Exception();
  std::memset(exception, 0, sizeof *exception);
  exception->exception_class = kExitClass;
  exception->exception_cleanup = [](_Unwind_Reason_Code, _Unwind_Exception*) {};
  thread->exit_exception = exception;
  _Unwind_ForcedUnwind(exception, &stop_at_thread_start, thread);
  // Only if the unwinder could not even start: finish without unwinding.
  __builtin_longjmp(thread->exit_jump, 1);
}

void finish(GreenThread* thread) {
  run_key_destructors(thread);
  signals_thread_finished(thread);
  thread->join_lock.lock();
  unsigned previous = thread->flags.fetch_or(GreenThread::kFinished, std::memory_order_acq_rel);
  detail::WaitNode* joiners = detail::take_all(thread->joiners);
  thread->join_lock.unlock();
  detail::post_all(joiners);
  if ((previous & GreenThread::kDetached) != 0) {
    Coroutine::current()->set_user_data(nullptr);
    delete thread;
  }
  green_thread_finished();
}

// Waits for `thread` to finish (until `deadline`); 0, ETIMEDOUT or EBUSY (try only).
int wait_finished(GreenThread* thread, TimePoint deadline, bool try_only) {
  thread->join_lock.lock();
  if ((thread->flags.load(std::memory_order_acquire) & GreenThread::kFinished) != 0) {
    thread->join_lock.unlock();
    return 0;
  }
  if (try_only) {
    thread->join_lock.unlock();
    return EBUSY;
  }
  detail::WaitNodeFor node;
  detail::push_back(thread->joiners, node.get());
  thread->join_lock.unlock();
  if (node->baton.wait_until(deadline, "pthread_join")) return 0;
  thread->join_lock.lock();
  bool still_queued = detail::remove(thread->joiners, node.get());
  thread->join_lock.unlock();
  if (still_queued) return ETIMEDOUT;
  node->baton.await_post();  // finished just as we timed out
  return 0;
}

int join_green(GreenThread* thread, void** result, TimePoint deadline, bool try_only) {
  if (thread == current_green()) return EDEADLK;
  if ((thread->flags.load(std::memory_order_acquire) & GreenThread::kDetached) != 0) return EINVAL;
  int error = wait_finished(thread, deadline, try_only);
  if (error != 0) return error;
  if (result != nullptr) *result = thread->result;
  // The coroutine may still be switching out for the last time; it no longer reads *thread.
  delete thread;
  return 0;
}

}  // namespace

void run_green_thread(GreenThread* thread) {
  Coroutine* self = Coroutine::current();
  self->set_user_data(thread);
  thread->coroutine = self;
  thread->exit_frame = __builtin_frame_address(0);
  signals_thread_started(thread);
  if (__builtin_setjmp(thread->exit_jump) == 0) {
    thread->result = thread->start(thread->argument);
  }
  // Here either start returned, or pthread_exit unwound to here (result already set). Locals
  // kept in registers are not restored by the jump: find the thread again.
  GreenThread* finishing = green_thread_of(Coroutine::current());
  delete static_cast<_Unwind_Exception*>(finishing->exit_exception);
  finishing->exit_exception = nullptr;
  finish(finishing);
}

}  // namespace cohook::green

using namespace cohook;
using namespace cohook::green;

COHOOK_INTERPOSE int pthread_create(pthread_t* out, const pthread_attr_t* attr, void* (*start)(void*), void* arg) {
  GreenThread* creator = current_green_thread();
  if (creator == nullptr) return real_pthread.pthread_create(out, attr, start, arg);
  auto* thread = new (std::nothrow) GreenThread();
  if (thread == nullptr) return EAGAIN;
  thread->start = start;
  thread->argument = arg;
  thread->stack_size = default_green_stack_size();
  thread->guard_size = coctx::page_size();
  if (attr != nullptr) {
    std::size_t size = 0, guard = 0;
    int detach = PTHREAD_CREATE_JOINABLE;
    if (::pthread_attr_getstacksize(attr, &size) == 0 && size != 0) thread->stack_size = coctx::round_stack_size(size);
    if (::pthread_attr_getguardsize(attr, &guard) == 0) thread->guard_size = guard;
    if (::pthread_attr_getdetachstate(attr, &detach) == 0 && detach == PTHREAD_CREATE_DETACHED)
      thread->flags.store(GreenThread::kDetached, std::memory_order_relaxed);
  }
  // A new thread starts with its creator's name, as the kernel copies comm.
  std::memcpy(thread->name, creator->name, sizeof thread->name);
  *out = reinterpret_cast<pthread_t>(thread);  // before it can run: it may read *out at once
  signals_thread_created(creator, thread);     // its creator's mask, as pthread_create gives
  spawn_green(thread);
  return 0;
}

COHOOK_INTERPOSE int pthread_join(pthread_t target, void** result) {
  GreenThread* thread = as_green(target);
  if (thread == nullptr) return real_pthread.pthread_join(target, result);
  return join_green(thread, result, kNoDeadline, false);
}

COHOOK_INTERPOSE int pthread_tryjoin_np(pthread_t target, void** result) {
  GreenThread* thread = as_green(target);
  if (thread == nullptr) return real_pthread.pthread_tryjoin_np(target, result);
  return join_green(thread, result, kNoDeadline, true);
}

COHOOK_INTERPOSE int pthread_clockjoin_np(pthread_t target, void** result, clockid_t clock, const timespec* abstime) {
  GreenThread* thread = as_green(target);
  if (thread == nullptr) return real_pthread.pthread_clockjoin_np(target, result, clock, abstime);
  if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) return EINVAL;
  TimePoint deadline = kNoDeadline;
  if (abstime != nullptr && !deadline_from(clock, abstime, &deadline)) return EINVAL;
  return join_green(thread, result, deadline, false);
}

COHOOK_INTERPOSE int pthread_timedjoin_np(pthread_t target, void** result, const timespec* abstime) {
  GreenThread* thread = as_green(target);
  if (thread == nullptr) return real_pthread.pthread_timedjoin_np(target, result, abstime);
  return pthread_clockjoin_np(target, result, CLOCK_REALTIME, abstime);
}

COHOOK_INTERPOSE int pthread_detach(pthread_t target) {
  GreenThread* thread = as_green(target);
  if (thread == nullptr) return real_pthread.pthread_detach(target);
  thread->join_lock.lock();
  unsigned previous = thread->flags.fetch_or(GreenThread::kDetached, std::memory_order_acq_rel);
  thread->join_lock.unlock();
  if ((previous & GreenThread::kDetached) != 0) return EINVAL;
  if ((previous & GreenThread::kFinished) != 0) delete thread;
  return 0;
}

COHOOK_INTERPOSE void pthread_exit(void* result) {
  static auto real_exit = reinterpret_cast<void (*)(void*)>(find_real_symbol("pthread_exit"));
  GreenThread* thread = current_green_thread();
  if (thread == nullptr || Coroutine::current() == nullptr) real_exit(result);
  thread->result = result;
  unwind_green_thread(thread);
}

// ---- C pthread_cleanup_push/pop (glibc's macros call these) ----

namespace {
GreenThread* cleanup_owner() {
  GreenThread* thread = current_green_thread();
  return thread != nullptr && Coroutine::current() != nullptr ? thread : nullptr;
}
}  // namespace

COHOOK_INTERPOSE void __pthread_register_cancel(__pthread_unwind_buf_t* buffer) {
  static auto real = reinterpret_cast<void (*)(__pthread_unwind_buf_t*)>(find_real_symbol("__pthread_register_cancel"));
  GreenThread* thread = cleanup_owner();
  if (thread == nullptr) return real(buffer);
  buffer->__pad[0] = thread->cleanup_chain;
  thread->cleanup_chain = buffer;
}

COHOOK_INTERPOSE void __pthread_unregister_cancel(__pthread_unwind_buf_t* buffer) {
  static auto real = reinterpret_cast<void (*)(__pthread_unwind_buf_t*)>(find_real_symbol("__pthread_unregister_cancel"));
  GreenThread* thread = cleanup_owner();
  if (thread == nullptr) return real(buffer);
  thread->cleanup_chain = buffer->__pad[0];
}

COHOOK_INTERPOSE void __pthread_unwind_next(__pthread_unwind_buf_t* buffer) {
  static auto real = reinterpret_cast<void (*)(__pthread_unwind_buf_t*)>(find_real_symbol("__pthread_unwind_next"));
  GreenThread* thread = cleanup_owner();
  if (thread == nullptr) {
    real(buffer);
    __builtin_unreachable();
  }
  thread->cleanup_chain = buffer->__pad[0];
  unwind_green_thread(thread);  // on to the next handler, or to the thread's start
}
