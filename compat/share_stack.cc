// libco's shared ("copy") stacks: co_alloc_sharestack hands out a set of stacks, and coroutines
// created with it take them round-robin. The copying itself is coctx::SharedStack's job.
//
// Hazard (inherent, as in libco): while a coroutine is switched out, its frames live in a heap
// copy, so a pointer into its stack that another coroutine follows reads whatever the stack's
// current occupant has there. Share data through the heap, never through a suspended stack.
#include "compat/routine.h"

extern "C" {

stShareStack_t* co_alloc_sharestack(int count, int stack_size) {
  if (count <= 0) return nullptr;
  auto* share = new stShareStack_t;
  std::size_t size = stack_size > 0 ? static_cast<std::size_t>(stack_size) : cohook::coctx::kDefaultStackSize;
  share->stacks.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) share->stacks.push_back(std::make_unique<cohook::coctx::SharedStack>(size));
  return share;
}

void co_free_sharestack(stShareStack_t* share) { delete share; }

}  // extern "C"
