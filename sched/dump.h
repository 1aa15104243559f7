// The goroutine-style text of a coroutine dump: coroutines grouped by identical state and stack.
#pragma once

#include <string>

#include "sched/diag_registry.h"

namespace cohook::diag {

// `why` heads the text ("coroutine dump (signal 12)").
std::string format_dump(Collection& collection, const char* why);
// A coroutine's state as the dump says it: "parked on read fd 5", "running", "ready".
std::string describe_state(const CoroutineRecord& record, bool with_fd);
std::string format_duration_ms(std::int64_t ms);

}  // namespace cohook::diag
