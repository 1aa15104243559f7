// libco's coroutine life cycle: co_create, co_resume, co_yield*, co_release, co_reset, co_self.
//
// Each is a cohook::Coroutine made by Scheduler::create, so it runs only when resumed, and its
// resumer (main stack or another coroutine) gets control back at every yield or wait. libco kept
// the resumers in a 128-entry array; cohook keeps them in the coroutines, so nesting is unbounded.
//
// Ending a run that is suspended in co_yield (co_release or co_reset of a live coroutine): libco
// freed its stack and moved on; Coroutine::abandon does the same properly (stack back to the
// pool, the scheduler's reference dropped). As in libco, objects on the abandoned stack are not
// destroyed. A run that is waiting or running cannot be ended from outside: co_release then
// frees the coroutine when its run returns, and co_reset leaves it alone.

#include "compat/routine.h"
#include "sched/scheduler.h"

using cohook::Coroutine;
using cohook::CoroutineState;

namespace cohook::libco {
namespace {

stCoRoutine_t* routine_of(Coroutine* coroutine) { return static_cast<stCoRoutine_t*>(coroutine->user_data()); }

// The entry of every run.
void run_routine(stCoRoutine_t* done) {
  done->routine(done->arg);
  if (done->release_at_end) {
    // co_release came while we were busy; the scheduler's reference keeps the Coroutine alive
    // until its last switch out, so dropping ours here is safe.
    Coroutine* run = done->run;
    done->run = nullptr;
    run->set_user_data(nullptr);
    run->release();
    delete done;
  }
}

void routine_body(void* data, BodyOp op) {
  if (op == BodyOp::kRun) run_routine(static_cast<stCoRoutine_t*>(data));
}

// Out of line: the first resume's setup must leave co_resume's hot path without a stack frame,
// so that its switch can be a jump (Coroutine::resume_as_last_act).
[[gnu::noinline]] Coroutine* start_run(stCoRoutine_t* routine) {
  SpawnOptions options;
  options.stack_size = routine->stack_size;
  Coroutine* run =
      Scheduler::this_thread().create(CoroutineBody{&routine_body, routine}, options, routine->shared_stack);
  run->set_hooks_enabled(false);  // libco: hooks stay off until the routine asks for them
  run->set_user_data(routine);
  run->start_now();  // co_resume switches with resume_as_last_act, which wants a started coroutine
  routine->release_at_end = false;
  routine->run = run;
  return run;
}

void drop_run(stCoRoutine_t* routine) {
  Coroutine* run = routine->run;
  routine->run = nullptr;
  run->set_user_data(nullptr);
  run->release();
}

bool can_be_resumed(CoroutineState state) {
  return state == CoroutineState::kCreated || state == CoroutineState::kSuspended;
}

// Which key holds an adopted stCoRoutine_t, so that it is freed when its coroutine ends.
std::size_t adopted_key() {
  static const std::size_t key = detail::allocate_local_key();
  return key;
}

}  // namespace

stCoRoutine_t* current_coroutine_routine() {
  Coroutine* coroutine = Coroutine::current();
  if (coroutine == nullptr) return nullptr;
  if (stCoRoutine_t* routine = routine_of(coroutine)) return routine;
  // A coroutine that cohook made (cohook::go, green-mode threads) calls into the libco API.
  auto* routine = new stCoRoutine_t;
  routine->adopted = true;
  routine->run = coroutine;  // no reference: the coroutine owns us, not the other way round
  coroutine->set_user_data(routine);
  coroutine->set_local(adopted_key(), routine, [](void* p) {
    auto* adopted = static_cast<stCoRoutine_t*>(p);
    adopted->run->set_user_data(nullptr);
    delete adopted;
  });
  return routine;
}

stCoRoutine_t* current_routine() {
  stCoRoutine_t* routine = current_coroutine_routine();
  return routine != nullptr ? routine : main_routine();
}

}  // namespace cohook::libco

using cohook::libco::current_routine;

stCoRoutine_t::~stCoRoutine_t() {
  if (extras == nullptr) return;
  for (cohook::libco::Specific& specific : extras->specifics)
    if (specific.destroy != nullptr && specific.value != nullptr) specific.destroy(specific.value);
  cohook::libco::free_env_values(extras->env);
  delete extras;
}

extern "C" {

int co_create(stCoRoutine_t** co, const stCoRoutineAttr_t* attr, pfn_co_routine_t routine, void* arg) {
  if (co == nullptr) return -1;
  auto* created = new stCoRoutine_t;
  created->routine = routine;
  created->arg = arg;
  if (attr != nullptr) {
    int stack_size = attr->stack_size;  // packed: copy out before use
    stShareStack_t* share = attr->share_stack;
    if (share != nullptr && !share->stacks.empty()) {
      created->shared_stack = share->stacks[share->next++ % share->stacks.size()].get();
    } else if (stack_size > 0) {
      created->stack_size = static_cast<std::uint32_t>(stack_size);
    }
  }
  *co = created;
  return 0;
}

void co_resume(stCoRoutine_t* co) {
  if (co == nullptr || co->is_main) return;
  Coroutine* run = co->run;
  if (__builtin_expect(run == nullptr, 0)) {
    if (co->adopted) return;
    run = cohook::libco::start_run(co);
  }
  // Waiting, queued, running (somewhere up our own resume chain) or finished: leave it be.
  // libco would switch into it anyway and corrupt its wait or its caller.
  if (!cohook::libco::can_be_resumed(run->state())) return;
  run->resume_as_last_act();
}

void co_yield_ct() {
  Coroutine* self = Coroutine::current();
  if (self == nullptr) return;  // the main stack has nobody to yield to
  self->suspend();
}

void co_yield_env(stCoRoutineEnv_t*) { co_yield_ct(); }

// Declared in co_routine.h under this name with the assembler name co_yield (a C++20 keyword).
void co_yield_routine(stCoRoutine_t*) { co_yield_ct(); }

void co_release(stCoRoutine_t* co) {
  if (co == nullptr || co->is_main || co->adopted) return;
  if (co->run != nullptr) {
    CoroutineState state = co->run->state();
    if (state != CoroutineState::kFinished) {
      if (!cohook::libco::can_be_resumed(state)) {
        co->release_at_end = true;  // busy: its run frees it when it ends
        return;
      }
      co->run->abandon();
    }
    cohook::libco::drop_run(co);
  }
  delete co;
}

void co_reset(stCoRoutine_t* co) {
  if (co == nullptr || co->is_main || co->adopted || co->run == nullptr) return;
  CoroutineState state = co->run->state();
  if (state != CoroutineState::kFinished) {
    // A run that is waiting or running cannot be stopped from outside; it keeps going.
    if (!cohook::libco::can_be_resumed(state)) return;
    co->run->abandon();
  }
  cohook::libco::drop_run(co);
}

stCoRoutine_t* co_self() { return current_routine(); }
stCoRoutine_t* co_get_current() { return current_routine(); }
bool co_is_main() { return current_routine()->is_main; }

}  // extern "C"
