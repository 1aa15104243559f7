// Green mode's part in the diagnostics. The global deadlock exit: when every green thread is
// parked and nothing can wake one (no fd, no timer, no pending wake-up, no offloaded call, no
// plain thread of the program that could post to an emulated lock or condition), the dump and
// "all coroutines are asleep - deadlock!" go to stderr and the process exits with 2
// (sched/global_deadlock.h). And the names in dumps and reports: a green thread's is the one the
// program gave it (pthread_setname_np), as ps and gdb would show.
#pragma once

namespace cohook::green {

// Turns both on; green_main calls it once, before main runs.
void start_green_diagnostics();
// A plain thread of the program took a foreign identity (thread_identity.cc): while it lives it
// may wake a green thread, so no deadlock is declared. Async-signal-safe, allocates nothing.
void note_foreign_thread();

}  // namespace cohook::green
