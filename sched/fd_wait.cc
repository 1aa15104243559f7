// Waiting for fds from a coroutine: the bridge between the poller's callbacks and parking.
#include <poll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "sched/scheduler.h"

namespace cohook {
namespace {

void on_fd_event(poller::FdWaiter* waiter, std::uint32_t revents) {
  auto* parker = static_cast<FdParker*>(waiter);
  Scheduler::unpark(parker->coroutine, parker->ticket,
                    (revents & poller::kClosed) ? WakeReason::kFdClosed : WakeReason::kFdReady);
}

// poll(2) without waiting, straight to the kernel (aarch64 has only ppoll).
int poll_now(pollfd* fds, unsigned long nfds) {
  timespec zero{0, 0};
  return static_cast<int>(::syscall(SYS_ppoll, fds, nfds, &zero, nullptr, 8));
}

std::uint32_t interest_of(short events) {
  std::uint32_t interest = 0;
  if (events & (POLLIN | POLLPRI | POLLRDHUP | POLLRDNORM | POLLRDBAND)) interest |= poller::kReadable;
  if (events & (POLLOUT | POLLWRNORM | POLLWRBAND)) interest |= poller::kWritable;
  // Even with no events asked for, poll reports errors and hang-ups; a read edge covers them.
  return interest != 0 ? interest : poller::kReadable;
}

}  // namespace

WakeReason Scheduler::wait_fd(int fd, std::uint32_t interest, TimePoint deadline, const char* what) {
  Coroutine* self = Coroutine::current();
  Scheduler* home = self->home();
  FdParker& parker = self->fd_parker_;
  parker = FdParker{};
  parker.interest = interest;
  parker.on_event = &on_fd_event;
  parker.coroutine = self;
  parker.ticket = prepare_park();
  if (int error = home->poller_.add_waiter(fd, &parker); error != 0) {
    cancel_park(parker.ticket);
    errno = error;
    return WakeReason::kNone;
  }
  self->set_waiting_on(what, fd);
  ++home->fd_waiters_;
  WakeReason reason = park_until(parker.ticket, deadline, what);
  --home->fd_waiters_;
  home->poller_.remove_waiter(&parker);
  return reason;
}

int Scheduler::poll_fds(pollfd* fds, unsigned long nfds, TimePoint deadline) {
  Coroutine* self = Coroutine::current();
  Scheduler* home = self->home();
  std::vector<FdParker> parkers;  // on the heap: the frame may be on a shared stack
  for (;;) {
    int ready = poll_now(fds, nfds);
    if (ready != 0) return ready;  // ready fds, or an error with errno set, as poll(2)
    if (Clock::now() >= deadline) return 0;

    // Nothing ready: an edge from here on wakes us (see poller.h), then we look again.
    parkers.assign(nfds, FdParker{});
    std::uint64_t ticket = prepare_park();
    for (unsigned long i = 0; i < nfds; ++i) {
      if (fds[i].fd < 0) continue;  // poll(2) ignores negative fds
      FdParker& parker = parkers[i];
      parker.interest = interest_of(fds[i].events);
      parker.on_event = &on_fd_event;
      parker.coroutine = self;
      parker.ticket = ticket;
      // An fd epoll refuses (a regular file) would have been reported ready by poll_now.
      // (With nothing registered and no deadline we park for good, as poll(2) sleeps for good.)
      home->poller_.add_waiter(fds[i].fd, &parker);
    }
    self->set_waiting_on("poll", nfds == 1 ? fds[0].fd : -1);
    ++home->fd_waiters_;
    WakeReason reason = park_until(ticket, deadline, "poll");
    --home->fd_waiters_;
    for (FdParker& parker : parkers) home->poller_.remove_waiter(&parker);
    if (reason == WakeReason::kTimeout) return poll_now(fds, nfds);
    if (reason == WakeReason::kInterrupted) {
      errno = EINTR;  // poll(2) is never restarted after a handler (signal(7))
      return -1;
    }
  }
}

}  // namespace cohook
