#include "hook/nonblocking_window.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <cerrno>
#include <cstddef>

#include "hook/real_functions.h"

namespace cohook::hook {
namespace {

// Striped by fd number: windows on different fds rarely share a lock, and the table stays small.
// A spin lock, not a mutex: it is held for two or three system calls that never park, and a
// mutex would be a pthread call that green threads may replace.
constexpr std::size_t kStripes = 64;
constinit std::atomic<bool> g_stripes[kStripes] = {};

std::atomic<bool>& stripe_of(int fd) { return g_stripes[static_cast<unsigned>(fd) % kStripes]; }

void lock(std::atomic<bool>& stripe) {
  for (int spins = 0; stripe.exchange(true, std::memory_order_acquire); ++spins) {
    if (spins > 64) ::sched_yield();
  }
}

void unlock(std::atomic<bool>& stripe) { stripe.store(false, std::memory_order_release); }

// In a forked child only the forking thread exists; a window another thread had locked never
// closes there.
[[maybe_unused]] const bool kResetInChild = (::pthread_atfork(nullptr, nullptr, [] {
                                              for (auto& stripe : g_stripes) stripe.store(false);
                                            }),
                                            true);

}  // namespace

NonblockingWindow::NonblockingWindow(int fd) : fd_(fd) {
  if (fd < 0) {
    user_nonblocking_ = true;
    return;
  }
  lock(stripe_of(fd));
  locked_ = true;
  int saved_errno = errno;
  flags_ = real_functions.fcntl(fd, F_GETFL);
  errno = saved_errno;
  user_nonblocking_ = flags_ < 0 || (flags_ & O_NONBLOCK) != 0;
}

bool NonblockingWindow::open() {
  if (user_nonblocking_ || set_) return true;
  int saved_errno = errno;
  set_ = real_functions.fcntl(fd_, F_SETFL, flags_ | O_NONBLOCK) == 0;
  errno = saved_errno;
  return set_;
}

void NonblockingWindow::close() {
  if (set_) {
    int saved_errno = errno;
    real_functions.fcntl(fd_, F_SETFL, flags_);
    errno = saved_errno;
    set_ = false;
  }
  if (locked_) {
    unlock(stripe_of(fd_));
    locked_ = false;
  }
}

int file_status_flags(int fd) {
  if (fd < 0) return real_functions.fcntl(fd, F_GETFL);
  std::atomic<bool>& stripe = stripe_of(fd);
  lock(stripe);
  int flags = real_functions.fcntl(fd, F_GETFL);
  unlock(stripe);
  return flags;
}

}  // namespace cohook::hook
