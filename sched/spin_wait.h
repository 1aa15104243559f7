// Waiting for another thread to finish a few instructions' worth of work (a spin lock holder,
// a post in progress): spin politely, then give the CPU to that thread.
#pragma once

#include <sched.h>

namespace cohook {

inline void spin_then_yield(int& spins) {
  if (++spins < 64) {
#if defined(__x86_64__)
    __builtin_ia32_pause();  // tells the core we spin: saves power, frees the sibling hyperthread
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  } else {
    ::sched_yield();  // the other thread may be preempted: let it run
  }
}

}  // namespace cohook
