// -c: counts per traced call, kept per OS thread without a lock, summed into one kSummary
// record per process when it exits (a destructor of libcohook.so).
#pragma once

#include <cstdint>

#include "hook/trace_calls.h"

namespace cohook::trace {

void count_call(TracedCall call, bool failed, std::int64_t duration_ns, std::int64_t parked_ns);
// Sums every thread's counters and sends them as one kSummary record, then zeroes them (so a
// later summary from the same process, after a failed exec say, counts only what came after).
void send_summary();
// A fork child starts from zero (pthread_atfork child handler; only one thread runs).
void reset_summary_after_fork();

}  // namespace cohook::trace
