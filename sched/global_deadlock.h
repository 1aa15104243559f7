// Global deadlock: every scheduler idle with nothing that could wake it, twice in a row with no
// switch in between. Checked on the diagnostics thread when enabled (cohook/debug.hpp).
#pragma once

namespace cohook::diag {

// Milliseconds between checks; -1 when the check is off.
int global_deadlock_period_ms();
// One check; on a deadlock writes the dump and the verdict, and exits the process with 2.
void check_global_deadlock();
// For green mode: a probe that says whether something outside the schedulers (a plain thread,
// the DNS offload pool) is still at work and may wake a coroutine. Null: nothing is.
void set_outside_work_probe(bool (*busy)());

}  // namespace cohook::diag
