// The libco layer's own view of its objects: what stCoRoutine_t and friends hold, and the few
// calls its files share. Internal to compat/; libco programs see only opaque pointers.
//
// An stCoRoutine_t outlives the cohook::Coroutine runs it makes: co_create allocates only the
// wrapper, the first co_resume creates the Coroutine, and co_reset drops a finished or abandoned
// run so that the next co_resume starts a fresh one. At most one run is alive at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "coctx/fiber.h"
#include "cohook/compat/co_routine.h"
#include "sched/coroutine.h"
#include "sched/timer_heap.h"

namespace cohook::libco {

struct EnvValues;  // compat/env_hook.cc
void free_env_values(EnvValues* values);

// A co_cond_timedwait in progress. It lives in the waiting Coroutine's wait storage
// (Coroutine::fresh_wait_record), never on its stack: on a shared stack, the waiter's frames are
// copied away while it waits, and the signaller may be running at those very addresses.
// (Its timeout is the coroutine's own park timer: Scheduler::park_until's deadline.)
struct CondWaiter {
  stCoCond_t* owner = nullptr;  // the cond it is queued on; nullptr once dequeued
  CondWaiter* prev = nullptr;
  CondWaiter* next = nullptr;
  Coroutine* coroutine = nullptr;
  std::uint64_t ticket = 0;
};

struct Specific {
  void* value = nullptr;
  void (*destroy)(void*) = nullptr;  // set by co_setspecific_owned only
};

// What few routines use, allocated on first use: a million routines that use neither carry one
// pointer instead of both.
struct RoutineExtras {
  std::vector<Specific> specifics;  // indexed by pthread_key_t
  EnvValues* env = nullptr;
};

}  // namespace cohook::libco

// Laid out small: a million parked libco coroutines each hold one.
struct stCoRoutine_t {
  pfn_co_routine_t routine = nullptr;
  void* arg = nullptr;
  cohook::coctx::SharedStack* shared_stack = nullptr;  // nullptr: a private stack
  cohook::Coroutine* run = nullptr;  // the current run (we hold one reference), or nullptr
  std::uint32_t stack_size = 0;      // private stacks; 0: cohook's default
  bool release_at_end = false;   // co_release came while the run was busy: free it when it ends
  bool is_main = false;   // a thread's own stack (co_self() outside coroutines)
  bool adopted = false;   // stands for a coroutine that cohook, not co_create, made

  cohook::libco::RoutineExtras* extras = nullptr;

  // The extras, made on first use.
  cohook::libco::RoutineExtras& more() {
    if (extras == nullptr) extras = new cohook::libco::RoutineExtras;
    return *extras;
  }
  ~stCoRoutine_t();
};

struct stShareStack_t {
  std::vector<std::unique_ptr<cohook::coctx::SharedStack>> stacks;
  std::size_t next = 0;  // round-robin cursor
};

namespace cohook::libco {

// The stCoRoutine_t of the running coroutine: its own (co_create), one adopted for a coroutine
// cohook made (freed when that ends), or the thread's main one outside coroutines.
stCoRoutine_t* current_routine();
// As current_routine(), but nullptr outside coroutines (no main stand-in).
stCoRoutine_t* current_coroutine_routine();
// The calling thread's main coroutine: its own stack, never a cohook Coroutine.
stCoRoutine_t* main_routine();

}  // namespace cohook::libco
