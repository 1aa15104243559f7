#include "hook/fd_table.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <cerrno>
#include <chrono>

#include "hook/link_anchors.h"
#include "hook/real_functions.h"

namespace cohook::hook {
namespace {

constexpr std::uint32_t kKindMask = 0x7;
constexpr std::uint32_t kUserNonblocking = 1u << 3;
constexpr std::uint32_t kCohookNonblocking = 1u << 4;

FdState decode(std::uint32_t bits) {
  FdState state;
  state.kind = static_cast<FdKind>(bits & kKindMask);
  state.user_nonblocking = (bits & kUserNonblocking) != 0;
  state.cohook_nonblocking = (bits & kCohookNonblocking) != 0;
  return state;
}

std::uint32_t encode(FdKind kind, bool user_nonblocking) {
  return static_cast<std::uint32_t>(kind) | (user_nonblocking ? kUserNonblocking : 0);
}

FdKind kind_of(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFSOCK: return FdKind::kSocket;
    case S_IFIFO: return FdKind::kPipe;
    // Anonymous inodes (eventfd, timerfd, signalfd, epoll, inotify, pidfd) have no file type.
    case 0: return FdKind::kAnonymous;
    default: return FdKind::kNotPollable;
  }
}

std::int64_t socket_timeout_ns(int fd, int option) {
  timeval value{};
  socklen_t length = sizeof value;
  if (real_functions.getsockopt(fd, SOL_SOCKET, option, &value, &length) != 0) return 0;
  return std::int64_t{value.tv_sec} * 1000000000 + std::int64_t{value.tv_usec} * 1000;
}

constinit FdTable g_table;

// See link_anchors.h: referring to every hook file's anchor links them all.
[[gnu::used]] const char* const kEveryHookFile[] = {
    &link_anchor::io_hooks,   &link_anchor::fd_hooks,    &link_anchor::connection_hooks,
    &link_anchor::poll_hooks, &link_anchor::sleep_hooks, &link_anchor::dns_hooks,
};

}  // namespace

FdTable& FdTable::instance() { return g_table; }

FdTable::Entry* FdTable::find(int fd) const {
  if (fd < 0) return nullptr;
  Entry* chunk = chunks_[static_cast<std::size_t>(fd) >> kChunkBits].load(std::memory_order_acquire);
  if (chunk == nullptr) return nullptr;
  return &chunk[static_cast<std::size_t>(fd) & (kChunkSize - 1)];
}

FdTable::Entry* FdTable::find_or_create(int fd) {
  if (fd < 0) return nullptr;
  std::atomic<Entry*>& slot = chunks_[static_cast<std::size_t>(fd) >> kChunkBits];
  Entry* chunk = slot.load(std::memory_order_acquire);
  if (chunk == nullptr) {
    auto* fresh = new Entry[kChunkSize];
    if (slot.compare_exchange_strong(chunk, fresh, std::memory_order_acq_rel)) {
      chunk = fresh;
    } else {
      delete[] fresh;  // another thread installed one first; `chunk` holds it now
    }
  }
  return &chunk[static_cast<std::size_t>(fd) & (kChunkSize - 1)];
}

FdState FdTable::state(int fd) const {
  const Entry* entry = find(fd);
  if (entry == nullptr) return FdState{};
  return decode(entry->bits.load(std::memory_order_acquire));
}

FdState FdTable::prepare_for_coroutine(int fd) {
  Entry* entry = find_or_create(fd);
  if (entry == nullptr) return FdState{};
  FdState state = decode(entry->bits.load(std::memory_order_acquire));
  if (state.kind == FdKind::kUnknown) {
    state = classify(fd, *entry);
    if (state.kind == FdKind::kUnknown) return state;
  }
  if (!state.pollable() || state.user_nonblocking || state.cohook_nonblocking) return state;

  // Publish our flag before the kernel's changes: a plain thread that meets EAGAIN from now on
  // finds it and waits as the blocking call would, instead of returning EAGAIN to its user.
  entry->bits.fetch_or(kCohookNonblocking, std::memory_order_acq_rel);
  int flags = real_functions.fcntl(fd, F_GETFL);
  if (flags < 0 || real_functions.fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    entry->bits.fetch_and(~kCohookNonblocking, std::memory_order_acq_rel);
    return decode(entry->bits.load(std::memory_order_acquire));
  }
  state.cohook_nonblocking = true;
  return state;
}

FdState FdTable::classify(int fd, Entry& entry) {
  int saved_errno = errno;
  struct stat status {};
  if (::fstat(fd, &status) != 0) {
    errno = saved_errno;
    return FdState{};
  }
  FdKind kind = kind_of(status.st_mode);
  int flags = real_functions.fcntl(fd, F_GETFL);
  bool user_nonblocking = flags >= 0 && (flags & O_NONBLOCK) != 0;
  if (kind == FdKind::kSocket) {
    entry.receive_timeout_ns.store(socket_timeout_ns(fd, SO_RCVTIMEO), std::memory_order_relaxed);
    entry.send_timeout_ns.store(socket_timeout_ns(fd, SO_SNDTIMEO), std::memory_order_relaxed);
  }
  errno = saved_errno;
  std::uint32_t bits = encode(kind, user_nonblocking);
  std::uint32_t current = entry.bits.load(std::memory_order_acquire);
  // Another thread may have classified it meanwhile; its answer is as good as ours.
  while ((current & kKindMask) == 0) {
    if (entry.bits.compare_exchange_weak(current, bits, std::memory_order_acq_rel)) return decode(bits);
  }
  return decode(current);
}

void FdTable::record_new(int fd, FdKind kind, bool user_nonblocking, bool cohook_nonblocking) {
  Entry* entry = cohook_nonblocking ? find_or_create(fd) : find(fd);
  if (entry == nullptr) return;  // classified lazily on first use inside a coroutine
  if (kind == FdKind::kUnknown) {
    reset(fd);
    return;
  }
  entry->receive_timeout_ns.store(0, std::memory_order_relaxed);
  entry->send_timeout_ns.store(0, std::memory_order_relaxed);
  std::uint32_t bits = encode(kind, user_nonblocking) | (cohook_nonblocking ? kCohookNonblocking : 0);
  entry->bits.store(bits, std::memory_order_release);
}

void FdTable::copy_timeouts(int listener_fd, int fd) {
  Entry* from = find(listener_fd);
  Entry* to = find(fd);
  if (from == nullptr || to == nullptr) return;
  to->receive_timeout_ns.store(from->receive_timeout_ns.load(std::memory_order_relaxed), std::memory_order_relaxed);
  to->send_timeout_ns.store(from->send_timeout_ns.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

void FdTable::reset(int fd) {
  Entry* entry = find(fd);
  if (entry == nullptr) return;
  entry->bits.store(0, std::memory_order_release);
  entry->receive_timeout_ns.store(0, std::memory_order_relaxed);
  entry->send_timeout_ns.store(0, std::memory_order_relaxed);
}

void FdTable::copy(int fd, int new_fd) {
  Entry* from = find(fd);
  if (from == nullptr) {
    reset(new_fd);
    return;
  }
  Entry* to = find_or_create(new_fd);
  if (to == nullptr) return;
  to->receive_timeout_ns.store(from->receive_timeout_ns.load(std::memory_order_relaxed), std::memory_order_relaxed);
  to->send_timeout_ns.store(from->send_timeout_ns.load(std::memory_order_relaxed), std::memory_order_relaxed);
  to->bits.store(from->bits.load(std::memory_order_acquire), std::memory_order_release);
}

void FdTable::set_user_nonblocking(int fd, bool nonblocking) {
  Entry* entry = find(fd);
  if (entry == nullptr) return;
  if (nonblocking) entry->bits.fetch_or(kUserNonblocking, std::memory_order_acq_rel);
  else entry->bits.fetch_and(~kUserNonblocking, std::memory_order_acq_rel);
}

void FdTable::set_timeout(int fd, Direction direction, Clock::duration timeout) {
  Entry* entry = find(fd);
  if (entry == nullptr) return;
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count();
  (direction == Direction::kRead ? entry->receive_timeout_ns : entry->send_timeout_ns)
      .store(ns, std::memory_order_relaxed);
}

TimePoint FdTable::deadline_from_now(int fd, Direction direction) const {
  const Entry* entry = find(fd);
  if (entry == nullptr) return kNoDeadline;
  std::int64_t ns = (direction == Direction::kRead ? entry->receive_timeout_ns : entry->send_timeout_ns)
                        .load(std::memory_order_relaxed);
  if (ns <= 0) return kNoDeadline;
  return deadline_after(std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(ns)));
}

}  // namespace cohook::hook
