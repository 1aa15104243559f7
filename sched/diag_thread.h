// cohook's diagnostics thread: a plain OS thread that turns the dump signal into a dump, watches
// for coroutines that hog their thread, and writes the reports other parts hand it (lock
// cycles, global deadlock), so that none of that work runs in a signal handler or on a
// scheduler thread that should be running coroutines.
#pragma once

#include <functional>
#include <string>

namespace cohook::diag {

// Runs `job` on the diagnostics thread (starting it if needed). Any thread; not a handler.
void post_to_diag_thread(std::function<void()> job);
// Writes all of `text` to stderr, bypassing stdio and the hook layer.
void write_stderr(const std::string& text);

}  // namespace cohook::diag
