// Seeing inside a running program: coroutine dumps and the runtime's own reports.
//
// Besides cohook::dump, the runtime reports on stderr, unasked:
//  - COHOOK_DUMP_SIGNAL (default SIGUSR2; 0: none): `kill -USR2 <pid>` prints the dump below.
//  - a coroutine that runs COHOOK_HOG_REPORT ms (default 100; 0: off) without parking or
//    yielding, once per stretch, with its stack;
//  - a cycle of cohook::Mutex waits (A holds m1 and waits for m2, B holds m2 and waits for m1)
//    the moment it closes, with both coroutines, both mutexes and their stacks;
//  - a stack overflow, with the coroutine's stack, before the process aborts.
#pragma once

#include <chrono>
#include <iosfwd>

#include "cohook/detail/config.hpp"

namespace cohook {

// Writes every coroutine of the process: id, name, state (running, ready, parked on what: an fd
// and its direction, sleep, mutex, condvar, join, channel...), how long it has been parked, and
// its symbolized stack. Coroutines with the same state and stack are grouped with a count, so
// 10,000 connection handlers take a few lines. Each scheduler thread describes its own
// coroutines at its next safe point (between two runs of coroutines); a thread that does not
// get there within a second (a coroutine that never parks) is named instead.
// Any thread or coroutine; not from a signal handler.
COHOOK_API void dump(std::ostream& out);

// Global deadlock detection for runtimes whose coroutines nothing outside could wake (green
// threads: every thread of the program is a coroutine). When every scheduler of a Runtime has
// been idle for `check_period` with no coroutine ready, none waiting for an fd or a timer and no
// wake-up pending, the dump and "all coroutines are asleep - deadlock!" go to stderr and the
// process exits with status 2. Off by default: in a linked program a plain thread may still
// wake a coroutine, and the "possible deadlock" stall report applies instead.
COHOOK_API void set_exit_on_global_deadlock(bool enabled,
                                            std::chrono::milliseconds check_period = std::chrono::milliseconds(250));

}  // namespace cohook
