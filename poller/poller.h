// Poller: one epoll instance per scheduler thread, waking parties that wait for an fd to become
// readable or writable. Knows nothing of coroutines: a waiter is a callback.
//
// Registrations are edge-triggered and persistent (one epoll_ctl per fd and thread, not per
// wait), so a waiter must have seen EAGAIN from the fd before it waits; an edge that arrives
// while nobody waits is dropped, and the next EAGAIN plus wait picks up the next edge. Every
// waiter of an fd is woken by an edge (not one), so no waiter is left behind by it.
//
// Close and reuse: whoever closes an fd, or is handed a new one, calls forget_fd(fd) first. That
// removes the fd from every poller's epoll set and wakes its waiters with kClosed, on whatever
// thread they wait; registrations carry an epoch, so an event from a file that used to have the
// same number can never wake a waiter of the new one.
#pragma once

#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

namespace cohook::poller {

enum Interest : std::uint32_t {
  kReadable = 1u << 0,
  kWritable = 1u << 1,
};
// Reported to a waiter (beside EPOLLIN/EPOLLOUT/EPOLLERR/EPOLLHUP/EPOLLRDHUP bits) when its fd
// was closed or replaced while it waited.
inline constexpr std::uint32_t kClosed = 1u << 31;

struct FdWaiter {
  std::uint32_t interest = 0;  // kReadable and/or kWritable
  int fd = -1;                 // owned by the poller while linked (beside `interest`: no padding)
  // Called on the poller's thread, once; the waiter is already unlinked.
  void (*on_event)(FdWaiter* self, std::uint32_t revents) = nullptr;
  void* context = nullptr;

  // Owned by the poller while linked.
  FdWaiter* prev = nullptr;
  FdWaiter* next = nullptr;
};

struct FdState;  // process-wide registration state of one fd number (poller.cc)

class Poller {
 public:
  Poller();
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;
  ~Poller();

  // Starts watching fd for waiter->interest. Returns 0, or an errno value with nothing
  // registered: EPERM for a file epoll cannot watch (regular file, directory), EBADF, ENOMEM.
  int add_waiter(int fd, FdWaiter* waiter);
  // Unlinks a waiter that has not been woken (safe to call if it was).
  void remove_waiter(FdWaiter* waiter);

  // Waits up to timeout_ms (-1: no limit) for readiness or wake(), then calls the woken
  // waiters' on_event. Returns how many waiters were woken.
  int poll(int timeout_ms);
  // Interrupts a poll() in progress or the next one. Any thread.
  void wake();

  // The fd number is being closed or handed to a new file: drop its registrations in every
  // poller and wake their waiters with kClosed. Any thread; cheap when nobody ever watched fd.
  static void forget_fd(int fd);

  int epoll_fd() const { return epoll_fd_; }

  // Read-readiness hint, for a reader on this poller's own thread (the reasoning is in poller.cc,
  // above read_known_empty). note_read_empty(fd): the caller has just seen fd's receive queue
  // empty, through a system call that returned a moment ago on this thread. read_known_empty(fd):
  // true only if that was noted for the file fd names now, while it was registered here, and no
  // readable or unusual event for it has been harvested since. Then a read would fail with
  // EAGAIN, or the data that makes it succeed has already queued an event that this poller will
  // deliver. Both false/no-op for an fd that is not registered here.
  bool read_known_empty(int fd) const;
  void note_read_empty(int fd);

  // In a forked child (call from a pthread_atfork child handler): gives the calling thread's
  // poller an epoll set of its own (the parent's would deliver events to either process),
  // registers again the fds its waiters wait on, and forgets the pollers of threads that did not
  // survive the fork.
  static void rebuild_after_fork();
  // In a forked child whose scheduler keeps only the running coroutine: forgets every waiter.
  void drop_waiters_after_fork();

 private:
  struct FdRecord {
    FdWaiter* head = nullptr;
    std::uint32_t epoch = 0;
    bool in_epoll = false;
    bool read_empty = false;  // see read_known_empty; false on every (re)registration
    bool unusual = false;     // an urgent, error or hang-up event was seen: no hint for this file
  };

  const FdRecord* current_record(int fd) const;

  void open_epoll_set();
  int register_fd(int fd, FdRecord& rec, FdState& state, std::uint32_t epoch);
  FdRecord* record(int fd);
  void wake_all(FdRecord& rec, std::uint32_t revents);
  void drop_fd(int fd, std::uint32_t closed_epoch);
  void post_closed(int fd, std::uint32_t epoch);
  void drain_closed();

  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  unsigned index_ = 0;  // slot in the global registry, for forget_fd
  std::vector<FdRecord> records_;
  std::mutex closed_mutex_;
  std::vector<std::pair<int, std::uint32_t>> closed_;  // posted by other threads' forget_fd
};

}  // namespace cohook::poller
