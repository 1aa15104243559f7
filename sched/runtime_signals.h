// Signal handlers that belong to cohook itself (stack-overflow report, coroutine dump, hog
// capture). The hook layer's sigaction interposer passes them to the kernel unwrapped: they must
// never interrupt a parked call (a dump or a hog report is not a signal the program sent), and
// they run no user code.
#pragma once

namespace cohook {

// Call before installing the handler. Up to 8 handlers; async-signal-safe to query.
void register_runtime_signal_handler(void* handler);
bool is_runtime_signal_handler(const void* handler);

}  // namespace cohook
