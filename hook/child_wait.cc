#include "hook/child_wait.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>

#include "poller/poller.h"
#include "sched/interrupt.h"
#include "sched/scheduler.h"

namespace cohook::hook {
namespace {

// Set once a kernel answers ENOSYS (before 5.3, or a seccomp filter): timers only from then on.
std::atomic<bool> g_pidfd_unsupported{false};

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  if (g_pidfd_unsupported.load(std::memory_order_relaxed)) return -1;
  long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0 && (errno == ENOSYS || errno == EPERM)) g_pidfd_unsupported.store(true, std::memory_order_relaxed);
  return static_cast<int>(fd);
#else
  (void)pid;
  return -1;
#endif
}

constexpr auto kFirstRecheck = std::chrono::milliseconds(1);
constexpr auto kLastRecheck = std::chrono::milliseconds(50);

}  // namespace

long wait_for_child(const ChildWait& wait, const std::function<long()>& probe) {
  int saved_errno = errno;
  long result = probe();
  if (result != 0) return result;
  int fd = wait.pidfd;
  bool own_fd = false;
  if (fd < 0 && wait.pid > 0) {
    fd = open_pidfd(wait.pid);
    own_fd = fd >= 0;
  }
  std::chrono::milliseconds recheck = kFirstRecheck;
  for (;;) {
    bool timed = fd < 0 || wait.stop_events;
    TimePoint deadline = timed ? deadline_after(recheck) : kNoDeadline;
    if (timed) recheck = std::min(recheck * 2, std::chrono::milliseconds(kLastRecheck));
    WakeReason reason;
    {
      // signal(7): the wait family is restarted after an SA_RESTART handler.
      std::optional<InterruptibleCall> interruptible;
      if (wait.interruptible) interruptible.emplace(/*restartable=*/true);
      reason =
          fd >= 0 ? Scheduler::wait_fd(fd, poller::kReadable, deadline, "waitpid") : Scheduler::sleep_until(deadline);
    }
    if (reason == WakeReason::kNone) {  // epoll refused the pidfd: fall back to the timer
      if (own_fd) ::close(fd);
      fd = -1;
      own_fd = false;
      continue;
    }
    errno = saved_errno;
    result = probe();
    // As the kernel's wait: a child that is ready wins over a signal that arrived meanwhile.
    if (result != 0) break;
    if (reason == WakeReason::kInterrupted && wait.interruptible) {
      errno = EINTR;
      result = -1;
      break;
    }
  }
  int probe_errno = errno;
  if (own_fd) ::close(fd);
  errno = probe_errno;
  return result;
}

}  // namespace cohook::hook
