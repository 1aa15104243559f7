#include "hook/trace_emit.h"

#include <errno.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>

#include "hook/trace.h"

namespace cohook::trace {
namespace {

// getpid/gettid are system calls; a record needs both, so they are kept until a fork changes them.
std::atomic<int> g_pid{0};
constinit thread_local int t_tid __attribute__((tls_model("initial-exec"))) = 0;
// Bumped in a fork child: the forking thread's cached tid (its only survivor) is stale there.
std::atomic<int> g_identity_generation{0};
constinit thread_local int t_tid_generation __attribute__((tls_model("initial-exec"))) = 0;

int this_pid() {
  int pid = g_pid.load(std::memory_order_relaxed);
  if (pid == 0) {
    pid = static_cast<int>(::syscall(SYS_getpid));
    g_pid.store(pid, std::memory_order_relaxed);  // every thread finds the same value
  }
  return pid;
}

int this_tid() {
  int generation = g_identity_generation.load(std::memory_order_relaxed);
  if (t_tid == 0 || t_tid_generation != generation) {
    t_tid = static_cast<int>(::syscall(SYS_gettid));
    t_tid_generation = generation;
  }
  return t_tid;
}

}  // namespace

void reset_identity_after_fork() {
  g_pid.store(0, std::memory_order_relaxed);
  g_identity_generation.fetch_add(1, std::memory_order_relaxed);
}

void send_record(RecordHeader& header, std::string_view text) {
  int fd = settings().fd;
  if (!tracing() || fd < 0) return;
  int saved_errno = errno;
  constexpr std::size_t kMaxText = kMaxRecordSize - sizeof(RecordHeader);
  if (text.size() > kMaxText) {
    text = text.substr(0, kMaxText);
    header.flags |= kTruncated;
  }
  header.size = static_cast<std::uint16_t>(sizeof(RecordHeader) + text.size());
  header.pid = this_pid();
  header.tid = this_tid();
  iovec parts[2] = {{&header, sizeof header}, {const_cast<char*>(text.data()), text.size()}};
  // The raw system call: the hooked writev would trace itself, and a coroutine must not park
  // here (a full pipe is costrace's back-pressure, as a stopped tracee is strace's).
  for (;;) {
    long written = ::syscall(SYS_writev, fd, parts, text.empty() ? 1 : 2);
    if (written >= 0) break;
    if (errno == EINTR) continue;
    g_tracing.store(false, std::memory_order_relaxed);  // EBADF, EPIPE: nobody is listening any more
    break;
  }
  errno = saved_errno;
}

}  // namespace cohook::trace
