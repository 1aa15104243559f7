// Waiting for a child process from a coroutine, without blocking the scheduler thread.
//
// A wait is a probe, the real call with WNOHANG added, repeated until it reports something:
// results, statuses, rusage and errno are libc's own. Between probes the coroutine parks:
// - on a pidfd (pidfd_open, Linux 5.3+) when the wait names one process (or a pidfd): it turns
//   readable when that process exits;
// - otherwise (any child, a process group, a kernel without pidfd_open) on a timer that backs
//   off from 1 ms to 50 ms, so the call returns at most 50 ms after the child changes state.
// Stop and continue events (WUNTRACED, WCONTINUED, WSTOPPED) do not make a pidfd readable, so
// a wait that asks for them also re-probes on that timer.
#pragma once

#include <sys/types.h>

#include <functional>

namespace cohook::hook {

struct ChildWait {
  pid_t pid = -1;             // > 0: one process; otherwise no pidfd is opened
  int pidfd = -1;             // a caller's pidfd (waitid P_PIDFD) to park on instead
  bool stop_events = false;   // the options ask for stop/continue events
  bool interruptible = true;  // a handled signal without SA_RESTART ends it with EINTR
};

// probe() returns what the call with WNOHANG returned, or 0 when nothing is ready yet (then it
// is called again after the next park). In a coroutine only.
long wait_for_child(const ChildWait& wait, const std::function<long()>& probe);

}  // namespace cohook::hook
