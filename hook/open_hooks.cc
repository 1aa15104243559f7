// open, open64, openat, openat64 and their fortified forms (__open_2...). Outside a coroutine
// they are the real calls. Inside one, only the opens that libc would block in are changed: a
// FIFO opened for reading only or writing only, without O_NONBLOCK, waits for the other side.
// Every other open (regular files above all) costs one fstatat more in a coroutine.
//  - O_WRONLY: the non-blocking open fails with ENXIO while there is no reader, and succeeds once
//    there is one; it is retried after short sleeps (1 ms, doubling to 16 ms) and, once it
//    succeeds, O_NONBLOCK is cleared, which leaves exactly the file a blocking open returns. A
//    reader that comes and goes between two tries is missed (the blocking open would have seen it).
//  - O_RDONLY: a reader's non-blocking open succeeds at once whether or not a writer exists,
//    and nothing shows a writer that opens and writes nothing, so the blocking open runs on the
//    offload pool (offload_pool.h) while the coroutine parks. It holds one pool thread until a
//    writer comes.
// The path is looked at before the open: if it is replaced by a FIFO in between, that open
// blocks the thread.
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>

#include "hook/fd_table.h"
#include "hook/interpose.h"
#include "hook/trace.h"
#include "hook/trace_points.h"
#include "hook/link_anchors.h"
#include "hook/offload_pool.h"
#include "hook/real_functions.h"
#include "poller/poller.h"
#include "sched/scheduler.h"

using cohook::hook::cooperating_coroutine;
using cohook::hook::FdKind;
using cohook::hook::FdTable;
using cohook::hook::real_functions;

namespace {

// The number now names a new file: what was known of the old one goes.
int adopt_opened(int fd) {
  if (fd >= 0) {
    cohook::poller::Poller::forget_fd(fd);
    FdTable::instance().forget(fd);
  }
  return fd;
}

bool needs_mode(int flags) { return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE; }

bool may_block_on_fifo(int directory, const char* path, int flags) {
  int access = flags & O_ACCMODE;
  if ((flags & (O_NONBLOCK | O_PATH)) != 0 || (access != O_RDONLY && access != O_WRONLY) || path == nullptr) {
    return false;
  }
  int saved_errno = errno;
  struct stat status {};
  bool fifo = ::fstatat(directory, path, &status, (flags & O_NOFOLLOW) ? AT_SYMLINK_NOFOLLOW : 0) == 0 &&
              S_ISFIFO(status.st_mode);
  errno = saved_errno;
  return fifo;
}

int open_fifo_for_writing(int directory, const char* path, int flags, mode_t mode) {
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    int fd = real_functions.openat(directory, path, flags | O_NONBLOCK, mode);
    if (fd >= 0) {
      int status = real_functions.fcntl(fd, F_GETFL);
      if (status >= 0) real_functions.fcntl(fd, F_SETFL, status & ~O_NONBLOCK);
      return fd;
    }
    if (errno != ENXIO) return -1;
    cohook::Scheduler::sleep_until(cohook::deadline_after(pause));
    pause = std::min(pause * 2, decltype(pause)(16));
  }
}

struct OpenJob {
  int directory;
  const char* path;
  int flags;
  mode_t mode;
  int result;
};

int open_fifo_for_reading(int directory, const char* path, int flags, mode_t mode) {
  OpenJob job{directory, path, flags, mode, -1};
  cohook::hook::OffloadPool::instance().run(
      [](void* context) {
        auto* open = static_cast<OpenJob*>(context);
        open->result = real_functions.openat(open->directory, open->path, open->flags, open->mode);
      },
      &job, "open");
  return job.result;
}

int open_untraced(int directory, const char* path, int flags, mode_t mode) {
  if (cooperating_coroutine() == nullptr || !may_block_on_fifo(directory, path, flags)) [[likely]] {
    return adopt_opened(real_functions.openat(directory, path, flags, mode));
  }
  if ((flags & O_ACCMODE) == O_WRONLY) return adopt_opened(open_fifo_for_writing(directory, path, flags, mode));
  return adopt_opened(open_fifo_for_reading(directory, path, flags, mode));
}

// Every open form is traced as the openat system call glibc makes for it.
int open_hooked(int directory, const char* path, int flags, mode_t mode) {
  if (cohook::trace::tracing()) [[unlikely]] return cohook::trace::trace_openat(open_untraced, directory, path, flags, mode);
  return open_untraced(directory, path, flags, mode);
}

// glibc's own fortified open, for the calls it fails (it prints its message and aborts).
template <class... Args>
int fortified_failure(const char* name, Args... args) {
  auto* real = reinterpret_cast<int (*)(Args...)>(cohook::hook::find_next_symbol(name));
  if (real != nullptr) return real(args...);
  ::abort();
}

mode_t mode_argument(int flags, va_list arguments) {
  return needs_mode(flags) ? static_cast<mode_t>(va_arg(arguments, int)) : 0;
}

}  // namespace

COHOOK_INTERPOSE int open(const char* path, int flags, ...) {
  va_list arguments;
  va_start(arguments, flags);
  mode_t mode = mode_argument(flags, arguments);
  va_end(arguments);
  return open_hooked(AT_FDCWD, path, flags, mode);
}

// On 64-bit targets open64 is open (O_LARGEFILE is implied).
COHOOK_INTERPOSE int open64(const char* path, int flags, ...) {
  va_list arguments;
  va_start(arguments, flags);
  mode_t mode = mode_argument(flags, arguments);
  va_end(arguments);
  return open_hooked(AT_FDCWD, path, flags, mode);
}

COHOOK_INTERPOSE int openat(int directory, const char* path, int flags, ...) {
  va_list arguments;
  va_start(arguments, flags);
  mode_t mode = mode_argument(flags, arguments);
  va_end(arguments);
  return open_hooked(directory, path, flags, mode);
}

COHOOK_INTERPOSE int openat64(int directory, const char* path, int flags, ...) {
  va_list arguments;
  va_start(arguments, flags);
  mode_t mode = mode_argument(flags, arguments);
  va_end(arguments);
  return open_hooked(directory, path, flags, mode);
}

// _FORTIFY_SOURCE's forms for opens whose flags are not known at compile time. A call that would
// create a file without a mode is glibc's to fail.
COHOOK_INTERPOSE int __open_2(const char* path, int flags) {
  if (needs_mode(flags)) return fortified_failure("__open_2", path, flags);
  return open_hooked(AT_FDCWD, path, flags, 0);
}

COHOOK_INTERPOSE int __open64_2(const char* path, int flags) {
  if (needs_mode(flags)) return fortified_failure("__open64_2", path, flags);
  return open_hooked(AT_FDCWD, path, flags, 0);
}

COHOOK_INTERPOSE int __openat_2(int directory, const char* path, int flags) {
  if (needs_mode(flags)) return fortified_failure("__openat_2", directory, path, flags);
  return open_hooked(directory, path, flags, 0);
}

COHOOK_INTERPOSE int __openat64_2(int directory, const char* path, int flags) {
  if (needs_mode(flags)) return fortified_failure("__openat64_2", directory, path, flags);
  return open_hooked(directory, path, flags, 0);
}

const char cohook::hook::link_anchor::open_hooks = 0;
