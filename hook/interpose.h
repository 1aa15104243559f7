// What every file that interposes libc calls needs: the export attribute and the fast check
// that decides between the real call and the cooperative one.
#pragma once

#include "sched/coroutine.h"

// The library is built with -fvisibility=hidden; interposed symbols must stay visible so that
// they win symbol resolution both when libcohook.so is preloaded and when libcohook.a is
// linked into the executable.
#define COHOOK_INTERPOSE extern "C" __attribute__((visibility("default")))

namespace cohook::hook {

// The coroutine whose hooked calls should cooperate, or nullptr: outside a coroutine, or in one
// that turned hooks off (libco's co_disable_hook_sys), every hooked call is the real call.
inline Coroutine* cooperating_coroutine() {
  Coroutine* co = Coroutine::current();
  if (co == nullptr || !co->hooks_enabled()) return nullptr;
  return co;
}

}  // namespace cohook::hook
