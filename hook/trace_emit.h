// Sending records to costrace (hook/trace_record.h): one writev(2) of at most PIPE_BUF bytes each,
// atomic on a pipe, so senders on any thread or process never need a lock.
#pragma once

#include <cstdint>
#include <string_view>

#include "hook/trace_line.h"
#include "hook/trace_record.h"

namespace cohook::trace {

// Fills in size, pid and tid, cuts text to fit (setting kTruncated) and writes the record. If
// the trace fd is gone (costrace ended, or the program closed it behind the hooks), tracing is
// turned off for good rather than failing every call. errno is left as it was.
void send_record(RecordHeader& header, std::string_view text);
// kCoroutineName for coroutine `id` (the running one), once per coroutine.
void announce_coroutine(std::uint64_t id);
// -k: the running coroutine's (or thread's) stack, one " > frame" line each.
void append_stack(TraceLine& line);
// Registers the tracer's Scheduler::ParkObserver (hook/trace.cc).
void install_park_observer();
// The fork child's identity is new: forget the cached pid and tids (pthread_atfork child).
void reset_identity_after_fork();

}  // namespace cohook::trace
