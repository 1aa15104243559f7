#include "poller/poller.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "poller/syscalls.h"

namespace cohook::poller {

// Process-wide, per fd number: bumped on every forget_fd, and which pollers may hold it.
struct FdState {
  std::atomic<std::uint32_t> epoch{0};
  std::atomic<std::uint64_t> pollers{0};  // bit min(index, 63); bit 63 stands for all above
};

namespace {

// Two levels so there is no fixed fd ceiling and untouched ranges cost nothing (the top level
// is zero-filled BSS): fd numbers up to 2^30, the kernel's own nr_open ceiling.
constexpr int kChunkBits = 12;
constexpr std::size_t kChunkSize = std::size_t{1} << kChunkBits;
constexpr std::size_t kMaxChunks = std::size_t{1} << (30 - kChunkBits);
std::atomic<FdState*> g_chunks[kMaxChunks];

FdState* fd_state(int fd, bool create) {
  if (fd < 0) return nullptr;
  std::size_t chunk_index = static_cast<std::size_t>(fd) >> kChunkBits;
  if (chunk_index >= kMaxChunks) return nullptr;
  FdState* chunk = g_chunks[chunk_index].load(std::memory_order_acquire);
  if (chunk == nullptr) {
    if (!create) return nullptr;
    auto* fresh = new FdState[kChunkSize];
    if (g_chunks[chunk_index].compare_exchange_strong(chunk, fresh, std::memory_order_acq_rel)) {
      chunk = fresh;
    } else {
      delete[] fresh;  // another thread won; `chunk` now holds its table
    }
  }
  return &chunk[static_cast<std::size_t>(fd) & (kChunkSize - 1)];
}

constexpr unsigned kMaxPollers = 4096;
std::mutex g_registry_mutex;
Poller* g_registry[kMaxPollers];
unsigned g_registry_end = 0;  // one past the highest slot in use
// The poller created last on this thread: forget_fd handles it in place, without a wake-up.
thread_local Poller* t_thread_poller = nullptr;

std::uint64_t registry_bit(unsigned index) { return std::uint64_t{1} << std::min(index, 63u); }

constexpr std::uint64_t kWakeToken = ~std::uint64_t{0};
constexpr std::uint32_t kReadableEvents = EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR;
constexpr std::uint32_t kWritableEvents = EPOLLOUT | EPOLLHUP | EPOLLERR;
// Events after which "the receive queue was empty" says nothing about what a read would return:
// urgent data (a TCP read stops short at the urgent mark), an error (a read returns the data
// before it, then the error), a hang-up (the data, then 0).
constexpr std::uint32_t kUnusualEvents = EPOLLPRI | EPOLLERR | EPOLLHUP | EPOLLRDHUP;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "cohook: poller: %s: %s\n", what, std::strerror(errno));
  std::abort();
}

bool matches(const FdWaiter* w, std::uint32_t revents) {
  if (revents & kClosed) return true;
  return ((w->interest & kReadable) && (revents & kReadableEvents)) ||
         ((w->interest & kWritable) && (revents & kWritableEvents));
}

}  // namespace

void Poller::open_epoll_set() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) die("epoll_create1");
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) die("eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeToken;
  if (sys::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) die("epoll_ctl(wake fd)");
}

Poller::Poller() {
  open_epoll_set();
  std::lock_guard<std::mutex> lock(g_registry_mutex);
  for (index_ = 0; index_ < kMaxPollers && g_registry[index_] != nullptr; ++index_) {
  }
  if (index_ == kMaxPollers) {
    errno = EMFILE;
    die("more than 4096 pollers at once");
  }
  g_registry[index_] = this;
  g_registry_end = std::max(g_registry_end, index_ + 1);
  t_thread_poller = this;
}

Poller::~Poller() {
  {
    std::lock_guard<std::mutex> lock(g_registry_mutex);
    g_registry[index_] = nullptr;
    while (g_registry_end > 0 && g_registry[g_registry_end - 1] == nullptr) --g_registry_end;
  }
  if (t_thread_poller == this) t_thread_poller = nullptr;
  sys::close(wake_fd_);
  sys::close(epoll_fd_);
}

Poller::FdRecord* Poller::record(int fd) {
  if (fd < 0) return nullptr;
  auto index = static_cast<std::size_t>(fd);
  if (index >= records_.size()) records_.resize(std::max(index + 1, records_.size() * 2));
  return &records_[index];
}

int Poller::add_waiter(int fd, FdWaiter* waiter) {
  FdState* state = fd_state(fd, true);
  if (state == nullptr) return EBADF;
  FdRecord* rec = record(fd);
  std::uint32_t epoch = state->epoch.load(std::memory_order_acquire);
  if (rec->in_epoll && rec->epoch != epoch) {
    // The number was closed or reused since we registered it; whoever waited on the old file
    // must not wait on the new one.
    rec->in_epoll = false;
    wake_all(*rec, kClosed);
  }
  if (!rec->in_epoll) {
    if (int error = register_fd(fd, *rec, *state, epoch); error != 0) return error;
  }
  waiter->fd = fd;
  waiter->prev = nullptr;
  waiter->next = rec->head;
  if (rec->head != nullptr) rec->head->prev = waiter;
  rec->head = waiter;
  return 0;
}

int Poller::register_fd(int fd, FdRecord& rec, FdState& state, std::uint32_t epoch) {
  state.pollers.fetch_or(registry_bit(index_), std::memory_order_acq_rel);
  epoll_event ev{};
  // EPOLLPRI only so that urgent data shows up as unusual (read_known_empty); waiters match it as
  // readable, as before.
  ev.events = EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = (std::uint64_t{epoch} << 32) | static_cast<std::uint32_t>(fd);
  if (sys::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    if (errno != EEXIST || sys::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) != 0) return errno;
  }
  rec.in_epoll = true;
  rec.epoch = epoch;
  rec.read_empty = false;
  rec.unusual = false;
  return 0;
}

// Why read_known_empty may be trusted (edge-triggered epoll, fs/eventpoll.c):
//  - The kernel queues an epoll item on its set's ready list from the file's wait-queue callback,
//    which a socket runs for EVERY arrival of data (sk_data_ready), every state change (FIN,
//    reset) and every error, and a pipe for every write; with EPOLLET the item is reported once
//    per queueing, computed from the file's state at epoll_wait time. The callback runs for every
//    epoll item of the file, whichever descriptor or process brought the data: a dup, a forked
//    child writing into a shared pipe or socket, another process.
//  - note_read_empty runs on this poller's thread right after a system call saw the queue empty,
//    and poll() harvests on this same thread, never in between. So data that arrives after the
//    kernel looked queues our item during or after that call, and the next poll() on this thread,
//    which comes after the note, delivers it and clears read_empty. A note can only be made stale
//    in the safe direction: data taken by another reader (a dup, a child) leaves the hint "may be
//    readable", which costs one read that fails with EAGAIN, as before.
//  - The item must stay in our set for the same file throughout. Every registration starts with
//    read_empty false; forget_fd (close, dup2, a new fd taking the number) bumps the fd's epoch
//    before it removes the item, and a record whose epoch differs is not trusted, even before
//    its thread has drained the close (drop_fd). A fork gives the child new records (false).
//  - An urgent, error or hang-up event makes the record unusual for as long as it lasts: there a
//    short read does not mean an empty queue, and no further event would follow for what is left.
// What is NOT seen: a number closed by a path that skips forget_fd (close_range, a raw close)
// and taken by a file that never passed a hooked call. Such a number is stale for add_waiter
// too (its waiters are never woken); the README lists it among the things closed behind
// cohook's back.
const Poller::FdRecord* Poller::current_record(int fd) const {
  if (fd < 0 || static_cast<std::size_t>(fd) >= records_.size()) return nullptr;
  const FdRecord& rec = records_[static_cast<std::size_t>(fd)];
  if (!rec.in_epoll) return nullptr;
  FdState* state = fd_state(fd, false);
  if (state == nullptr || state->epoch.load(std::memory_order_acquire) != rec.epoch) return nullptr;
  return &rec;
}

bool Poller::read_known_empty(int fd) const {
  const FdRecord* rec = current_record(fd);
  return rec != nullptr && rec->read_empty && !rec->unusual;
}

void Poller::note_read_empty(int fd) {
  if (const FdRecord* rec = current_record(fd)) const_cast<FdRecord*>(rec)->read_empty = true;
}

void Poller::rebuild_after_fork() {
  // Only the forking thread lives on in the child. A lock held by a thread that is gone would
  // never be released, so the locks start over, and the other threads' pollers are forgotten.
  new (&g_registry_mutex) std::mutex();
  Poller* self = t_thread_poller;
  for (unsigned i = 0; i < g_registry_end; ++i)
    if (g_registry[i] != self) g_registry[i] = nullptr;
  g_registry_end = self != nullptr ? self->index_ + 1 : 0;
  if (self == nullptr) return;
  new (&self->closed_mutex_) std::mutex();
  self->closed_.clear();
  // The epoll set and the wake-up eventfd are the parent's too: events would go to whichever
  // process waits first. Make new ones and register again what our waiters wait on.
  sys::close(self->epoll_fd_);
  sys::close(self->wake_fd_);
  self->open_epoll_set();
  for (std::size_t fd = 0; fd < self->records_.size(); ++fd) {
    FdRecord& rec = self->records_[fd];
    rec.in_epoll = false;
    if (rec.head == nullptr) continue;
    FdState* state = fd_state(static_cast<int>(fd), true);
    std::uint32_t epoch = state->epoch.load(std::memory_order_acquire);
    if (self->register_fd(static_cast<int>(fd), rec, *state, epoch) != 0) self->wake_all(rec, kClosed);
  }
}

void Poller::drop_waiters_after_fork() {
  // The fds stay in the epoll set: an event for an fd nobody waits on is ignored.
  for (FdRecord& rec : records_) rec.head = nullptr;
}

void Poller::remove_waiter(FdWaiter* waiter) {
  if (waiter->fd < 0) return;
  FdRecord* rec = record(waiter->fd);
  if (waiter->prev != nullptr) {
    waiter->prev->next = waiter->next;
  } else if (rec->head == waiter) {
    rec->head = waiter->next;
  } else {
    waiter->fd = -1;  // not linked (already woken)
    return;
  }
  if (waiter->next != nullptr) waiter->next->prev = waiter->prev;
  waiter->prev = waiter->next = nullptr;
  waiter->fd = -1;
}

void Poller::wake_all(FdRecord& rec, std::uint32_t revents) {
  // Unlink first, then call: a callback may add waiters for the same fd.
  FdWaiter* woken = nullptr;
  for (FdWaiter* w = rec.head; w != nullptr;) {
    FdWaiter* next = w->next;
    if (matches(w, revents)) {
      if (w->prev != nullptr) w->prev->next = w->next; else rec.head = w->next;
      if (w->next != nullptr) w->next->prev = w->prev;
      w->fd = -1;
      w->prev = nullptr;
      w->next = woken;
      woken = w;
    }
    w = next;
  }
  while (woken != nullptr) {
    FdWaiter* w = woken;
    woken = w->next;
    w->next = nullptr;
    w->on_event(w, revents);
  }
}

int Poller::poll(int timeout_ms) {
  epoll_event events[256];
  int n = sys::epoll_wait(epoll_fd_, events, 256, timeout_ms);
  if (n < 0) {
    if (errno == EINTR) n = 0;  // a signal handler ran; callers loop anyway
    else die("epoll_wait");
  }
  int woken = 0;
  for (int i = 0; i < n; ++i) {
    std::uint64_t data = events[i].data.u64;
    if (data == kWakeToken) {
      // One read resets an eventfd's counter (no EFD_SEMAPHORE): a second would only fail.
      std::uint64_t count;
      (void)!sys::read(wake_fd_, &count, sizeof count);
      drain_closed();
      continue;
    }
    int fd = static_cast<int>(static_cast<std::uint32_t>(data));
    auto epoch = static_cast<std::uint32_t>(data >> 32);
    if (static_cast<std::size_t>(fd) >= records_.size()) continue;
    FdRecord& rec = records_[static_cast<std::size_t>(fd)];
    if (!rec.in_epoll || rec.epoch != epoch) continue;  // from a file this number used to name
    if (events[i].events & kReadableEvents) rec.read_empty = false;
    if (events[i].events & kUnusualEvents) rec.unusual = true;
    for (FdWaiter* w = rec.head; w != nullptr; w = w->next) woken += matches(w, events[i].events) ? 1 : 0;
    wake_all(rec, events[i].events);
  }
  return woken;
}

void Poller::wake() {
  std::uint64_t one = 1;
  (void)!sys::write(wake_fd_, &one, sizeof one);
}

void Poller::post_closed(int fd, std::uint32_t epoch) {
  {
    std::lock_guard<std::mutex> lock(closed_mutex_);
    closed_.emplace_back(fd, epoch);
  }
  wake();
}

void Poller::drain_closed() {
  std::vector<std::pair<int, std::uint32_t>> closed;
  {
    std::lock_guard<std::mutex> lock(closed_mutex_);
    closed.swap(closed_);
  }
  for (auto [fd, epoch] : closed) drop_fd(fd, epoch);
}

void Poller::drop_fd(int fd, std::uint32_t closed_epoch) {
  if (static_cast<std::size_t>(fd) >= records_.size()) return;
  FdRecord& rec = records_[static_cast<std::size_t>(fd)];
  // Registered after the close that sent this? Then it names the new file: keep it.
  if (!rec.in_epoll || static_cast<std::int32_t>(rec.epoch - closed_epoch) >= 0) return;
  rec.in_epoll = false;
  wake_all(rec, kClosed);
}

void Poller::forget_fd(int fd) {
  FdState* state = fd_state(fd, false);
  if (state == nullptr || state->pollers.load(std::memory_order_acquire) == 0) {
    if (state != nullptr) state->epoch.fetch_add(1, std::memory_order_acq_rel);
    return;
  }
  std::uint32_t epoch = state->epoch.fetch_add(1, std::memory_order_acq_rel) + 1;
  std::uint64_t mask = state->pollers.exchange(0, std::memory_order_acq_rel);
  bool local = false;
  {
    std::lock_guard<std::mutex> lock(g_registry_mutex);
    for (unsigned i = 0; i < g_registry_end; ++i) {
      Poller* p = g_registry[i];
      if (p == nullptr || (mask & registry_bit(i)) == 0) continue;
      // epoll_ctl on another thread's epoll set is safe; only its records are that thread's.
      sys::epoll_ctl(p->epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
      if (p == t_thread_poller) local = true;
      else p->post_closed(fd, epoch);
    }
  }
  if (local) t_thread_poller->drop_fd(fd, epoch);
}

}  // namespace cohook::poller
