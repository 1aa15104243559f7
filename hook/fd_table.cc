#include "hook/fd_table.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>

#include "hook/link_anchors.h"
#include "hook/real_functions.h"

namespace cohook::hook {
namespace {

using Bits = std::uint16_t;
constexpr Bits kKindMask = 0x7;
constexpr Bits kReadNowaitUnsupported = 1u << 3;
constexpr Bits kWriteNowaitUnsupported = 1u << 4;
constexpr Bits kProtocolKnown = 1u << 5;
constexpr Bits kTcp = 1u << 6;
constexpr Bits kPrivate = 1u << 7;
constexpr Bits kPlainSettings = 1u << 8;  // only ever set together with kPrivate
// The rest counts the private sockets the number has named, so that a PrivateToken taken for
// one can never match the next (closed and reused while a park was learning the settings).
constexpr Bits kGenerationStep = 1u << 9;
constexpr Bits kGenerationMask = static_cast<Bits>(~(kGenerationStep - 1));

// Sets an entry to `bits`, keeping its generation.
void replace(std::atomic<Bits>& entry, Bits bits) {
  Bits old = entry.load(std::memory_order_relaxed);
  while (!entry.compare_exchange_weak(old, static_cast<Bits>((old & kGenerationMask) | (bits & ~kGenerationMask)),
                                      std::memory_order_relaxed)) {
  }
}

Bits nowait_bit(Direction direction) {
  return direction == Direction::kRead ? kReadNowaitUnsupported : kWriteNowaitUnsupported;
}

// Anonymous pipes and FIFOs both have S_IFIFO; only anonymous pipes live on pipefs, whose device
// number is learned once from a pipe of our own. The kernel treats the two differently (6.x sets
// FMODE_NOWAIT on anonymous pipes only), so they are separate kinds.
dev_t pipefs_device() {
  static std::atomic<dev_t> device{0};
  static std::atomic<bool> known{false};
  if (known.load(std::memory_order_acquire)) return device.load(std::memory_order_relaxed);
  int fds[2];
  dev_t found = 0;
  if (real_functions.pipe2(fds, O_CLOEXEC) == 0) {
    struct stat status {};
    if (::fstat(fds[0], &status) == 0) found = status.st_dev;
    real_functions.close(fds[0]);
    real_functions.close(fds[1]);
  }
  device.store(found, std::memory_order_relaxed);
  known.store(true, std::memory_order_release);
  return found;
}

FdKind kind_of(const struct stat& status) {
  switch (status.st_mode & S_IFMT) {
    case S_IFSOCK: return FdKind::kSocket;
    case S_IFIFO: return status.st_dev == pipefs_device() ? FdKind::kPipe : FdKind::kFifo;
    // Anonymous inodes (eventfd, timerfd, signalfd, epoll, inotify, pidfd) have no file type.
    case 0: return FdKind::kAnonymous;
    default: return FdKind::kNotPollable;
  }
}

constinit FdTable g_table;

// See link_anchors.h: referring to every hook file's anchor links them all.
[[gnu::used]] const char* const kEveryHookFile[] = {
    &link_anchor::io_hooks,       &link_anchor::socket_io_hooks,     &link_anchor::fd_hooks,
    &link_anchor::open_hooks,     &link_anchor::connection_hooks,    &link_anchor::poll_hooks,
    &link_anchor::sleep_hooks,    &link_anchor::dns_hooks,           &link_anchor::fortify_hooks,
    &link_anchor::socket_privacy, &link_anchor::child_process_hooks,
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
    auto* fresh = new Entry[kChunkSize]();
    if (slot.compare_exchange_strong(chunk, fresh, std::memory_order_acq_rel)) {
      chunk = fresh;
      std::size_t end = (static_cast<std::size_t>(fd) >> kChunkBits) + 1;
      std::size_t seen = chunk_end_.load(std::memory_order_relaxed);
      while (seen < end && !chunk_end_.compare_exchange_weak(seen, end, std::memory_order_acq_rel)) {
      }
    } else {
      delete[] fresh;  // another thread installed one first; `chunk` holds it now
    }
  }
  return &chunk[static_cast<std::size_t>(fd) & (kChunkSize - 1)];
}

FdKind FdTable::kind(int fd) {
  if (Entry* entry = find(fd)) {
    auto kind = static_cast<FdKind>(entry->load(std::memory_order_relaxed) & kKindMask);
    if (kind != FdKind::kUnknown) [[likely]] return kind;
  }
  int saved_errno = errno;
  struct stat status {};
  if (::fstat(fd, &status) != 0) {
    errno = saved_errno;
    return FdKind::kUnknown;
  }
  errno = saved_errno;
  FdKind kind = kind_of(status);
  if (Entry* entry = find_or_create(fd)) replace(*entry, static_cast<Bits>(kind));
  return kind;
}

void FdTable::reclassify(int fd, FdKind kind) {
  if (Entry* entry = find_or_create(fd)) replace(*entry, static_cast<Bits>(kind));
}

bool FdTable::nowait_unsupported(int fd, FdKind kind, Direction direction) const {
  std::uint8_t bit = nowait_bit(direction);
  if (kind != FdKind::kAnonymous) {
    return (kind_nowait_unsupported_[static_cast<int>(kind)].load(std::memory_order_relaxed) & bit) != 0;
  }
  const Entry* entry = find(fd);
  return entry != nullptr && (entry->load(std::memory_order_relaxed) & bit) != 0;
}

void FdTable::mark_nowait_unsupported(int fd, FdKind kind, Direction direction) {
  std::uint8_t bit = nowait_bit(direction);
  if (kind != FdKind::kAnonymous) {
    kind_nowait_unsupported_[static_cast<int>(kind)].fetch_or(bit, std::memory_order_relaxed);
    return;
  }
  if (Entry* entry = find(fd)) entry->fetch_or(bit, std::memory_order_relaxed);
}

bool FdTable::is_tcp(int fd) {
  Entry* entry = find(fd);
  if (entry == nullptr) return false;
  Bits bits = entry->load(std::memory_order_relaxed);
  if (bits & kProtocolKnown) [[likely]] return (bits & kTcp) != 0;
  int saved_errno = errno;
  int protocol = 0;
  socklen_t length = sizeof protocol;
  bool tcp = real_functions.getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &length) == 0 && protocol == IPPROTO_TCP;
  errno = saved_errno;
  // Only if the entry still holds what we asked about (a concurrent close or reclassify wins).
  Bits learned = static_cast<Bits>(bits | kProtocolKnown | (tcp ? kTcp : 0));
  entry->compare_exchange_strong(bits, learned, std::memory_order_relaxed);
  return tcp;
}

void FdTable::set_kind(int fd, FdKind kind) {
  if (Entry* entry = find(fd)) replace(*entry, static_cast<Bits>(kind));
}

void FdTable::forget(int fd) {
  if (Entry* entry = find(fd)) replace(*entry, 0);
}

void FdTable::copy(int fd, int new_fd) {
  const Entry* from = find(fd);
  Bits bits = from != nullptr ? from->load(std::memory_order_relaxed) : 0;
  if (bits & kPrivate) share(fd);
  bits &= static_cast<Bits>(~(kPrivate | kPlainSettings | kGenerationMask));
  if (bits == 0) {
    forget(new_fd);
    return;
  }
  if (Entry* to = find_or_create(new_fd)) replace(*to, bits);
}

void FdTable::adopt_private_socket(int fd, bool allocate) {
  Entry* entry = allocate ? find_or_create(fd) : find(fd);
  if (entry == nullptr) return;
  Bits old = entry->load(std::memory_order_relaxed);
  while (!entry->compare_exchange_weak(
      old,
      static_cast<Bits>(((old + kGenerationStep) & kGenerationMask) | static_cast<Bits>(FdKind::kSocket) | kPrivate),
      std::memory_order_relaxed)) {
  }
}

bool FdTable::settings_known_plain(int fd) const {
  const Entry* entry = find(fd);
  return entry != nullptr && (entry->load(std::memory_order_relaxed) & kPlainSettings) != 0;
}

FdTable::PrivateToken FdTable::private_token(int fd) const {
  const Entry* entry = find(fd);
  if (entry == nullptr) return 0;
  Bits bits = entry->load(std::memory_order_relaxed);
  return (bits & kPrivate) ? bits : 0;
}

void FdTable::remember_plain_settings(int fd, PrivateToken token) {
  if (token == 0) return;
  if (Entry* entry = find(fd)) {
    entry->compare_exchange_strong(token, static_cast<Bits>(token | kPlainSettings), std::memory_order_relaxed);
  }
}

void FdTable::share(int fd) {
  if (Entry* entry = find(fd))
    entry->fetch_and(static_cast<Bits>(~(kPrivate | kPlainSettings)), std::memory_order_relaxed);
}

void FdTable::share_all() {
  std::size_t end = chunk_end_.load(std::memory_order_acquire);
  for (std::size_t c = 0; c < end; ++c) {
    Entry* chunk = chunks_[c].load(std::memory_order_acquire);
    if (chunk == nullptr) continue;
    for (std::size_t i = 0; i < kChunkSize; ++i) {
      if (chunk[i].load(std::memory_order_relaxed) & kPrivate) {
        chunk[i].fetch_and(static_cast<Bits>(~(kPrivate | kPlainSettings)), std::memory_order_relaxed);
      }
    }
  }
}

}  // namespace cohook::hook
