// FdTable: the one fact about an fd number that cohook keeps, because it cannot be asked of the
// kernel for free on every call: what kind of file the number names.
//
// The user's settings (O_NONBLOCK with F_GETFL, SO_RCVTIMEO/SO_SNDTIMEO with getsockopt) are read
// from the kernel on the path that is about to park, so a setting made through a dup'ed or
// inherited descriptor is always honoured. The one exception is a private socket (below), whose
// plain settings may be remembered because no other descriptor of it exists to change them.
// The kind itself is a property of the file, shared by every
// descriptor of it and by forked children; it only changes when the NUMBER is handed to another
// file, which the hooked close, dup2, dup3 and fd-creating calls report (forget/set_kind).
// A number closed and reused behind cohook's back (fclose, close_range, a raw syscall) keeps a
// stale kind until it is next reported; see the README for what that can cost.
//
// Per kind (socket, pipe, FIFO) the table also learns, once per process, whether the kernel
// supports RWF_NOWAIT for reads and for writes; anonymous-inode files (eventfd, timerfd, ...)
// differ from each other, so for them it is learned once per fd.
//
// A private socket is one this process made with a hooked socket, socketpair, accept or accept4,
// whose open file description no other fd and no other process has had since: it stops being
// private, for good, when it is dup'ed, sent away with SCM_RIGHTS, when any child process is made
// (every fd at once: the child shares them), and when a hooked call is about to change its
// O_NONBLOCK (fcntl F_SETFL, ioctl FIONBIO) or its timeouts (setsockopt) -- before the change, so
// that a coroutine learning the settings at that moment cannot store a stale answer. Once a park
// has read from the kernel that a private socket is blocking with neither timeout, later parks
// skip both questions (blocking_call.h). What no hook sees (a raw system call, another process
// taking the fd with pidfd_getfd) is a limit stated in the README.
//
// Reads are lock-free. Storage grows on demand in chunks, so there is no fixed ceiling below the
// kernel's own limit on fd numbers; a process that never uses coroutines never allocates.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace cohook::hook {

enum class FdKind : std::uint8_t {
  kUnknown = 0,  // not looked at since it was opened (or not open)
  kSocket,
  kPipe,         // anonymous pipe (pipefs)
  kFifo,         // named pipe
  kAnonymous,    // eventfd, timerfd, signalfd, epoll, inotify, pidfd: pollable
  kNotPollable,  // regular file, directory, block or character device (tty, /dev/null)
};

enum class Direction : std::uint8_t { kRead, kWrite };

inline bool is_pollable(FdKind kind) { return kind != FdKind::kUnknown && kind != FdKind::kNotPollable; }

class FdTable {
 public:
  // The one table of the process; constant-initialised, usable from any constructor.
  static FdTable& instance();

  constexpr FdTable() = default;
  FdTable(const FdTable&) = delete;
  FdTable& operator=(const FdTable&) = delete;

  // The kind of file fd names; classified with fstat on first use (that may allocate storage).
  // kUnknown if fd is not open: the real call then fails with libc's errno.
  FdKind kind(int fd);
  // Forgets whatever was cached for fd, kind included, so that a stale answer can be replaced.
  void reclassify(int fd, FdKind kind);

  // Whether a read or write with RWF_NOWAIT is known to fail with EOPNOTSUPP on fd (of `kind`).
  bool nowait_unsupported(int fd, FdKind kind, Direction direction) const;
  void mark_nowait_unsupported(int fd, FdKind kind, Direction direction);

  // Whether fd (of kind kSocket) is a TCP socket: asked of the kernel once (SO_PROTOCOL) and kept
  // with the kind, since a socket's protocol never changes. io_hooks.cc says why it matters.
  bool is_tcp(int fd);

  // fd now names a new file of a known kind (socket, accept, pipe, eventfd). Only recorded if
  // the table already has storage for fd; otherwise it is classified on first use.
  void set_kind(int fd, FdKind kind);
  // fd is being closed or handed to another file. Never allocates.
  void forget(int fd);
  // One past the highest fd number the table has storage for: numbers from here on have no entry.
  std::size_t number_end() const { return chunk_end_.load(std::memory_order_acquire) << kChunkBits; }
  // new_fd is a duplicate of fd (dup, dup2, dup3, F_DUPFD): same file, same kind, and neither
  // number is private any more.
  void copy(int fd, int new_fd);

  // fd was just made by a hooked socket, socketpair, accept or accept4: a socket, private (see
  // above). Recorded even where the table has no storage yet when `allocate` (the caller is a
  // coroutine, which will use it); otherwise only if it has.
  void adopt_private_socket(int fd, bool allocate);
  // Whether fd is a private socket whose settings were learned to be plain: blocking, no
  // SO_RCVTIMEO and no SO_SNDTIMEO.
  bool settings_known_plain(int fd) const;
  // Taken before asking the kernel for fd's settings: nonzero while fd is private.
  using PrivateToken = std::uint16_t;
  PrivateToken private_token(int fd) const;
  // The kernel said fd's settings are plain: remembered only if nothing touched fd's entry since
  // `token` was taken (a change about to be made un-shares it first, and that wins).
  void remember_plain_settings(int fd, PrivateToken token);
  // fd may be reached by another descriptor or process, or its settings are about to change.
  void share(int fd);
  // A child process is being made: it shares every fd.
  void share_all();

 private:
  using Entry = std::atomic<std::uint16_t>;

  static constexpr int kChunkBits = 12;
  static constexpr std::size_t kChunkSize = std::size_t{1} << kChunkBits;
  // fd numbers are ints: 2^31 of them at most.
  static constexpr std::size_t kMaxChunks = std::size_t{1} << (31 - kChunkBits);

  Entry* find(int fd) const;
  Entry* find_or_create(int fd);

  std::atomic<Entry*> chunks_[kMaxChunks] = {};
  // One past the highest chunk ever made: how far share_all walks.
  std::atomic<std::size_t> chunk_end_{0};
  // Per kind (indexed by FdKind), bit 0: reads, bit 1: writes lack RWF_NOWAIT support.
  std::atomic<std::uint8_t> kind_nowait_unsupported_[8] = {};
};

}  // namespace cohook::hook
