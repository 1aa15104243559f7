// Stack-overflow reports that name the coroutine. A guarded stack faults in its guard page; the
// SIGSEGV handler (on an alternate signal stack, since the faulting stack is full) recognises
// the fault and says which coroutine overflowed before the process dies. Other faults go to
// whatever handler was installed before ours, or to the default action.
#pragma once

namespace cohook {

class Coroutine;

// Installs the process-wide handler (once) and this thread's alternate signal stack.
void install_stack_overflow_handler();
// Writes the report for `coroutine` to stderr and aborts.
[[noreturn]] void report_stack_overflow_and_die(const Coroutine* coroutine);

}  // namespace cohook
