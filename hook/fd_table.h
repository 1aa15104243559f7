// FdTable: what cohook knows about each fd number, shared by every thread.
//
// Per fd: its kind (socket, pipe or FIFO, anonymous-inode file such as eventfd/timerfd/epoll,
// or something epoll cannot usefully watch), the O_NONBLOCK the USER asked for, whether cohook
// itself switched the file to non-blocking mode (lazily, on the first hooked call inside a
// coroutine), and the socket's SO_RCVTIMEO/SO_SNDTIMEO. The user's O_NONBLOCK and cohook's are
// kept apart because they mean different things: the user's asks for EAGAIN, cohook's only lets
// a coroutine park instead of blocking its thread.
//
// Files that epoll cannot watch (regular files, directories, block devices) and character devices
// (ttys, /dev/null, /dev/urandom: a tty is often shared with a shell that would see O_NONBLOCK
// too) are never switched to non-blocking mode; hooked calls on them are passed through and
// block the thread, as libc does.
//
// Reads are lock-free. Storage grows on demand in chunks, so there is no fixed ceiling below the
// kernel's own limit on fd numbers; a process that never uses coroutines never allocates.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "sched/time.h"

namespace cohook::hook {

enum class FdKind : std::uint8_t {
  kUnknown = 0,    // not looked at since it was opened (or not open)
  kSocket,
  kPipe,           // pipe or FIFO
  kAnonymous,      // eventfd, timerfd, signalfd, epoll, inotify, pidfd: pollable
  kNotPollable,    // regular file, directory, block or character device
};

enum class Direction : std::uint8_t { kRead, kWrite };

// A consistent snapshot of one fd's entry.
struct FdState {
  FdKind kind = FdKind::kUnknown;
  bool user_nonblocking = false;   // the user set O_NONBLOCK (or SOCK_NONBLOCK, FIONBIO)
  bool cohook_nonblocking = false;  // cohook set O_NONBLOCK so that coroutines can park

  bool pollable() const { return kind == FdKind::kSocket || kind == FdKind::kPipe || kind == FdKind::kAnonymous; }
  // A hooked call that meets EAGAIN should wait for readiness and retry, as the blocking libc
  // call would: the user did not ask for EAGAIN, cohook caused it.
  bool waits_for_readiness() const { return cohook_nonblocking && !user_nonblocking; }
};

class FdTable {
 public:
  // The one table of the process; constant-initialised, usable from any constructor.
  static FdTable& instance();

  constexpr FdTable() = default;
  FdTable(const FdTable&) = delete;
  FdTable& operator=(const FdTable&) = delete;

  // What is known of fd (kind kUnknown if nothing). Lock-free; never allocates.
  FdState state(int fd) const;

  // For a hooked call inside a coroutine: classifies fd on first use (fstat, F_GETFL, the
  // socket timeouts) and, if it is pollable and the user did not ask for O_NONBLOCK, switches
  // it to non-blocking mode. An fd that is not open stays kUnknown (the real call then fails
  // with libc's errno).
  FdState prepare_for_coroutine(int fd);

  // A new fd number now names a fresh file (socket, accept, pipe, eventfd...), created with
  // O_NONBLOCK as the user asked (user_nonblocking) or, inside a coroutine, by cohook
  // (cohook_nonblocking). Only the latter must be recorded (and may allocate); otherwise the
  // entry is updated if it exists, else classified lazily on first use.
  void record_new(int fd, FdKind kind, bool user_nonblocking, bool cohook_nonblocking);
  // An accepted socket inherits the listener's SO_RCVTIMEO/SO_SNDTIMEO (the kernel clones it).
  void copy_timeouts(int listener_fd, int fd);
  // fd is being closed or replaced: drop what we knew. Never allocates.
  void reset(int fd);
  // new_fd is a duplicate of fd (dup, dup2, dup3, F_DUPFD): same open file description, so the
  // same kind, O_NONBLOCK and socket options.
  void copy(int fd, int new_fd);

  // fcntl(F_SETFL)/ioctl(FIONBIO) by the user.
  void set_user_nonblocking(int fd, bool nonblocking);
  // setsockopt(SO_RCVTIMEO/SO_SNDTIMEO) by the user; zero means no timeout, as in socket(7).
  void set_timeout(int fd, Direction direction, Clock::duration timeout);
  // The deadline a blocking call starting now must honour: kNoDeadline without a timeout.
  TimePoint deadline_from_now(int fd, Direction direction) const;

 private:
  struct Entry {
    std::atomic<std::uint32_t> bits{0};
    std::atomic<std::int64_t> receive_timeout_ns{0};
    std::atomic<std::int64_t> send_timeout_ns{0};
  };

  static constexpr int kChunkBits = 12;
  static constexpr std::size_t kChunkSize = std::size_t{1} << kChunkBits;
  // fd numbers are ints: 2^31 of them at most.
  static constexpr std::size_t kMaxChunks = std::size_t{1} << (31 - kChunkBits);

  Entry* find(int fd) const;
  Entry* find_or_create(int fd);
  FdState classify(int fd, Entry& entry);

  std::atomic<Entry*> chunks_[kMaxChunks] = {};
};

}  // namespace cohook::hook
