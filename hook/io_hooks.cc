// read, readv, write, writev and sendfile. Outside a coroutine they are the real calls. Inside
// one, what an attempt looks like depends on the file (FdTable::kind):
//  - sockets and anonymous pipes (and eventfd/timerfd reads): preadv2/pwritev2 with offset -1
//    (the file position, as read/write use) and RWF_NOWAIT, which the kernel runs exactly as
//    read/write on a non-blocking file, for this one call only (a read of one buffer from a
//    socket, and a write of one to a TCP socket, are recv/send with MSG_DONTWAIT instead: the
//    same thing, without an iovec to import);
//  - where the kernel answers RWF_NOWAIT with EOPNOTSUPP (on Linux 6.18: FIFOs, eventfd writes,
//    inotify; learned at run time, once per kind or per anonymous fd), readiness first: poll with
//    a zero timeout, park until ready, then the real blocking call. A read after POLLIN returns
//    what is there and a write of at most PIPE_BUF bytes after POLLOUT fits, so neither blocks,
//    unless another reader or writer of the same file takes the data or the room in between: then
//    that one call blocks the thread until the file is ready again. Writes are split in pieces
//    of PIPE_BUF for this reason (POSIX allows a blocking write of more than PIPE_BUF to
//    interleave with other writers' anyway);
//  - files epoll cannot watch (regular files, directories, ttys and other character devices):
//    the real call, which blocks the thread as libc's does.
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <vector>

#include "hook/blocking_call.h"
#include "hook/interpose.h"
#include "hook/trace.h"
#include "hook/trace_points.h"
#include "hook/link_anchors.h"
#include "hook/nonblocking_window.h"
#include "hook/read_hint.h"
#include "hook/real_functions.h"

using cohook::hook::BlockingCall;
using cohook::hook::cooperating_coroutine;
using cohook::hook::Direction;
using cohook::hook::FdKind;
using cohook::hook::FdTable;
using cohook::hook::real_functions;

namespace {

std::size_t total_length(const iovec* iov, int count) {
  std::size_t total = 0;
  for (int i = 0; i < count; ++i) total += iov[i].iov_len;
  return total;
}

// The part of an iovec array that starts `offset` bytes in, at most `limit` bytes long.
std::vector<iovec> iovec_rest(const iovec* iov, int count, std::size_t offset, std::size_t limit) {
  std::vector<iovec> rest;
  for (int i = 0; i < count && limit > 0; ++i) {
    if (offset >= iov[i].iov_len) {
      offset -= iov[i].iov_len;
      continue;
    }
    std::size_t length = std::min(iov[i].iov_len - offset, limit);
    rest.push_back({static_cast<char*>(iov[i].iov_base) + offset, length});
    limit -= length;
    offset = 0;
  }
  return rest;
}

bool nowait_not_supported(int error) { return error == EOPNOTSUPP || error == ENOSYS; }

// Without RWF_NOWAIT: not ready -> EAGAIN (the caller parks); ready -> the real call.
template <class RealCall>
ssize_t when_ready(BlockingCall& call, RealCall&& real_call) {
  pollfd entry{call.fd, static_cast<short>(call.direction == Direction::kRead ? POLLIN : POLLOUT), 0};
  int saved_errno = errno;
  if (real_functions.poll(&entry, 1, 0) == 0) {
    errno = EAGAIN;
    return -1;
  }
  errno = saved_errno;
  return real_call();
}

// A socket read: for one buffer, an attempt is recv with MSG_DONTWAIT, which the kernel runs as
// read on a non-blocking socket, for this call only (sock_read_iter is recvmsg with the file's
// O_NONBLOCK as MSG_DONTWAIT), and more cheaply than preadv2: no iovec to import. Several buffers
// keep preadv2 with RWF_NOWAIT (readv's own EINVAL cases). Empty reads do not come here: recv of
// 0 bytes would consume a datagram. Skips the first attempt when the read hint
// (read_hint.h) says it would fail with EAGAIN.
template <class RealCall>
ssize_t read_socket_in_coroutine(BlockingCall& call, const iovec* iov, int count, std::size_t requested,
                                 RealCall& real_call) {
  int fd = call.fd;
  bool socket = true;
  auto attempt = [&]() -> ssize_t {
    if (call.blocking_fallback) return real_call();
    if (!socket) return real_functions.preadv2(fd, iov, count, -1, RWF_NOWAIT);
    if (count != 1) {
      ssize_t result = real_functions.preadv2(fd, iov, count, -1, RWF_NOWAIT);
      cohook::hook::note_socket_read(fd, result, requested);
      return result;
    }
    ssize_t result = real_functions.recvfrom(fd, iov[0].iov_base, iov[0].iov_len, MSG_DONTWAIT, nullptr, nullptr);
    if (result < 0 && errno == ENOTSOCK) {
      // The number was reused behind cohook's back for a pipe or FIFO (see the README): read it
      // as one from now on.
      FdTable::instance().reclassify(fd, FdKind::kUnknown);
      socket = false;
      return real_functions.preadv2(fd, iov, count, -1, RWF_NOWAIT);
    }
    cohook::hook::note_socket_read(fd, result, requested);
    return result;
  };
  bool skip_first = cohook::hook::read_known_empty(fd) && !call.user_wants_eagain();
  return cohook::hook::park_between_attempts(call, attempt, skip_first);
}

// read or readv inside a coroutine; real_call() is the plain (blocking) call.
template <class RealCall>
[[gnu::noinline]] ssize_t read_in_coroutine(int fd, const iovec* iov, int count, const char* what,
                                            RealCall real_call) {
  FdTable& table = FdTable::instance();
  FdKind kind = table.kind(fd);
  if (!cohook::hook::is_pollable(kind)) return real_call();
  BlockingCall call(fd, Direction::kRead, what);
  if (kind == FdKind::kSocket) {
    std::size_t requested = total_length(iov, count);
    if (requested > 0) return read_socket_in_coroutine(call, iov, count, requested, real_call);
  } else {
    call.not_a_socket();
  }
  if (!table.nowait_unsupported(fd, kind, Direction::kRead)) {
    ssize_t result = real_functions.preadv2(fd, iov, count, -1, RWF_NOWAIT);
    if (result >= 0 || !nowait_not_supported(errno)) {
      if (result >= 0 || !cohook::hook::would_block(errno)) return result;
      return cohook::hook::park_between_attempts(
          call,
          [&] {
            if (call.blocking_fallback) return real_call();
            return real_functions.preadv2(fd, iov, count, -1, RWF_NOWAIT);
          },
          true);
    }
    table.mark_nowait_unsupported(fd, kind, Direction::kRead);
  }
  // The user's non-blocking file needs no help (and a FIFO without a writer answers 0 at once,
  // which poll would not show).
  if (call.user_wants_eagain()) return real_call();
  return cohook::hook::park_between_attempts(call, [&] {
    if (call.blocking_fallback) return real_call();
    return when_ready(call, real_call);
  });
}

// write or writev inside a coroutine, the whole of it as a blocking write would.
[[gnu::noinline]] ssize_t write_in_coroutine(int fd, const iovec* iov, int count, const char* what) {
  FdTable& table = FdTable::instance();
  FdKind kind = table.kind(fd);
  if (!cohook::hook::is_pollable(kind)) return real_functions.writev(fd, iov, count);
  std::size_t total = total_length(iov, count);
  BlockingCall call(fd, Direction::kWrite, what);
  if (kind != FdKind::kSocket) call.not_a_socket();
  bool nowait = !table.nowait_unsupported(fd, kind, Direction::kWrite);
  if (!nowait && call.user_wants_eagain()) return real_functions.writev(fd, iov, count);
  // Pieces of at most PIPE_BUF for pipes without RWF_NOWAIT: see the top of the file.
  std::size_t piece = (!nowait && kind != FdKind::kAnonymous) ? PIPE_BUF : total;
  bool one_tcp_buffer = count == 1 && kind == FdKind::kSocket && table.is_tcp(fd);
  return cohook::hook::write_all_in_coroutine(call, total, [&](std::size_t done) -> ssize_t {
    std::vector<iovec> rest;
    const iovec* part = iov;
    int part_count = count;
    if (done > 0 || piece < total) {
      rest = iovec_rest(iov, count, done, piece);
      part = rest.data();
      part_count = static_cast<int>(rest.size());
    }
    if (call.blocking_fallback) return real_functions.writev(fd, part, part_count);
    if (one_tcp_buffer) {
      // As for reads: write on a socket is sendmsg with the file's O_NONBLOCK as MSG_DONTWAIT
      // (sock_write_iter), and send skips the iovec import. TCP only: write on a SEQPACKET
      // socket adds MSG_EOR, and a datagram socket is not worth a second path.
      ssize_t result = real_functions.send(fd, part[0].iov_base, part[0].iov_len, MSG_DONTWAIT);
      if (result >= 0 || errno != ENOTSOCK) return result;
      one_tcp_buffer = false;  // the number was reused behind cohook's back; see read_socket_in_coroutine
      FdTable::instance().reclassify(fd, FdKind::kUnknown);
    }
    if (nowait) {
      ssize_t result = real_functions.pwritev2(fd, part, part_count, -1, RWF_NOWAIT);
      if (result >= 0 || !nowait_not_supported(errno)) return result;
      table.mark_nowait_unsupported(fd, kind, Direction::kWrite);
      nowait = false;
      if (call.user_wants_eagain()) return real_functions.writev(fd, part, part_count);
      if (kind != FdKind::kAnonymous) piece = PIPE_BUF;
      if (part_count > 0 && total - done > piece) {
        rest = iovec_rest(iov, count, done, piece);
        part = rest.data();
        part_count = static_cast<int>(rest.size());
      }
    }
    return when_ready(call, [&] { return real_functions.writev(fd, part, part_count); });
  });
}

}  // namespace

COHOOK_TRACED_HOOK(ssize_t, read, (int fd, void* buffer, size_t size), (fd, buffer, size), cohook::trace::trace_read) {
  if (cooperating_coroutine() == nullptr || size > SSIZE_MAX) [[likely]] return real_functions.read(fd, buffer, size);
  iovec io{buffer, size};
  return read_in_coroutine(fd, &io, 1, "read", [=] { return real_functions.read(fd, buffer, size); });
}

COHOOK_TRACED_HOOK(ssize_t, readv, (int fd, const iovec* iov, int count), (fd, iov, count), cohook::trace::trace_readv) {
  if (cooperating_coroutine() == nullptr) [[likely]] return real_functions.readv(fd, iov, count);
  return read_in_coroutine(fd, iov, count, "readv", [=] { return real_functions.readv(fd, iov, count); });
}

COHOOK_TRACED_HOOK(ssize_t, write, (int fd, const void* buffer, size_t size), (fd, buffer, size), cohook::trace::trace_write) {
  if (cooperating_coroutine() == nullptr || size > SSIZE_MAX) [[likely]] return real_functions.write(fd, buffer, size);
  iovec io{const_cast<void*>(buffer), size};
  return write_in_coroutine(fd, &io, 1, "write");
}

COHOOK_TRACED_HOOK(ssize_t, writev, (int fd, const iovec* iov, int count), (fd, iov, count), cohook::trace::trace_writev) {
  // count <= 0 and oversized arrays: the kernel's EINVAL (or 0), unchanged.
  if (cooperating_coroutine() == nullptr || count <= 0 || count > IOV_MAX) [[likely]] {
    return real_functions.writev(fd, iov, count);
  }
  return write_in_coroutine(fd, iov, count, "writev");
}

COHOOK_TRACED_HOOK(ssize_t, sendfile, (int out_fd, int in_fd, off_t* offset, size_t count), (out_fd, in_fd, offset, count), cohook::trace::trace_sendfile) {
  if (cooperating_coroutine() == nullptr) [[likely]] return real_functions.sendfile(out_fd, in_fd, offset, count);
  if (!cohook::hook::is_pollable(FdTable::instance().kind(out_fd))) {
    return real_functions.sendfile(out_fd, in_fd, offset, count);
  }
  // sendfile has no per-call non-blocking flag: each attempt runs in a one-call window of
  // O_NONBLOCK (nonblocking_window.h). With offset == nullptr the kernel advances in_fd's
  // position, otherwise *offset; either way a retry continues where the last part ended.
  BlockingCall call(out_fd, Direction::kWrite, "sendfile");
  return cohook::hook::write_all_in_coroutine(call, count, [&](std::size_t done) {
    cohook::hook::NonblockingWindow window(out_fd);
    window.open();
    return real_functions.sendfile(out_fd, in_fd, offset, count - done);
  });
}

const char cohook::hook::link_anchor::io_hooks = 0;
