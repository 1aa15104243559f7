// Global deadlock: every scheduler idle with nothing that could wake it, twice in a row with no
// switch in between. Checked on the diagnostics thread when enabled (cohook/debug.hpp for
// linked programs; green mode turns it on for the whole process).
#pragma once

#include <chrono>

namespace cohook::diag {

// Milliseconds between checks; -1 when the check is off.
int global_deadlock_period_ms();
// One check; on a deadlock writes the dump and the verdict, and exits the process with 2.
void check_global_deadlock();

// Green mode: every scheduler of the process runs green threads (none belongs to a Runtime), so
// all of them count. `outside_work` says whether something outside the schedulers (a plain
// thread, the offload pool) is still at work and may wake a green thread; null: nothing is.
void enable_global_deadlock_for_every_scheduler(bool (*outside_work)(), std::chrono::milliseconds period);

// Around a park that only something outside the process can end (a green thread waiting for a
// signal in sigwait, pause or sigsuspend): while one is in progress no deadlock is declared, as a
// `kill` may still come. Any thread; nests.
void begin_outside_wait();
void end_outside_wait();

}  // namespace cohook::diag
