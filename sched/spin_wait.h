// Waiting for another thread to finish a few instructions' worth of work (a spin lock holder,
// a post in progress): spin politely, then give the CPU to that thread.
#pragma once

#include <sched.h>

namespace cohook {

// One busy-wait step: tells the core we spin (saves power, frees the sibling hyperthread).
inline void spin_pause() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

inline void spin_then_yield(int& spins) {
  if (++spins < 64) {
    spin_pause();
  } else {
    ::sched_yield();  // the other thread may be preempted: let it run
  }
}

}  // namespace cohook
