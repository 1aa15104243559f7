// cohook::Channel<T>: Go's chan T for coroutines and plain threads.
//
// capacity 0 is unbuffered: a send completes only when a receiver takes the value, hand to
// hand. After close(), send returns false (Go panics; here the caller learns it and goes on),
// and recv drains what is buffered, then returns nullopt. Timed and non-blocking variants, and
// cohook::Select (cohook/select.hpp) over several channels, share one wait machinery: a waiter
// queued on a channel is completed by the party that finds it (the value moves straight from
// sender to receiver), so no operation is half done when a timeout or a close races it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <utility>

#include "cohook/detail/config.hpp"
#include "cohook/detail/wait_list.hpp"

namespace cohook {
namespace detail {

struct ChannelWaiter;  // sched/channel.cc

// now + timeout, saturating at time_point::max() (no deadline) instead of overflowing.
template <class Rep, class Period>
std::chrono::steady_clock::time_point deadline_in(std::chrono::duration<Rep, Period> timeout) {
  using Clock = std::chrono::steady_clock;
  auto now = Clock::now();
  if (timeout >= std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(Clock::time_point::max() - now))
    return Clock::time_point::max();
  return now + std::chrono::ceil<Clock::duration>(timeout);
}

// The type-independent half of a channel: its lock, its queues of waiting senders and
// receivers, closing, and select. Channel<T> supplies the moves of T.
class COHOOK_API ChannelBase {
 public:
  enum class Op : std::uint8_t { kSend, kRecv };
  // One operation of a select. value: for kSend a T* whose object is moved from if the send
  // happens; for kRecv a std::optional<T>* that receives the value.
  struct Case {
    ChannelBase* channel;
    Op op;
    void* value;
  };
  static constexpr int kNotReady = -1;  // nothing was ready and waiting was not allowed
  static constexpr int kTimedOut = -2;  // the deadline passed first

  // Completes exactly one of the cases and returns its index, with *ok telling whether a value
  // moved (false: the channel was closed). The cases are tried from a random starting point, so
  // none starves. Without may_wait it returns kNotReady at once if none is ready; with it, it
  // waits (parks, or blocks a plain thread) until one is, or until the deadline (kTimedOut).
  static int select(Case* cases, std::size_t count, bool may_wait, std::chrono::steady_clock::time_point deadline,
                    bool* ok);
  // Whether the caller's frames stay where they are while it waits: true on a plain thread and
  // in a coroutine with a stack of its own; false on a shared stack, whose frames are copied
  // away while the coroutine is switched out (a value that a partner writes must not live there).
  static bool frames_stay_put();

  void close();
  bool closed() const;

 protected:
  explicit ChannelBase(std::size_t capacity) : capacity_(capacity) {}
  ~ChannelBase() = default;
  ChannelBase(const ChannelBase&) = delete;
  ChannelBase& operator=(const ChannelBase&) = delete;

  // Called with the channel's lock held.
  virtual void buffer_push(void* value) = 0;         // moves *(T*)value to the back
  virtual void buffer_pop(void* slot) = 0;           // moves the front into *(optional<T>*)slot
  virtual void hand_over(void* from, void* to) = 0;  // *(optional<T>*)to = move(*(T*)from)

 private:
  friend struct ChannelCore;  // sched/channel.cc

  const std::size_t capacity_;
  std::size_t buffered_ = 0;
  bool closed_ = false;
  mutable SpinLock lock_;
  ChannelWaiter* senders_head_ = nullptr;
  ChannelWaiter* senders_tail_ = nullptr;
  ChannelWaiter* receivers_head_ = nullptr;
  ChannelWaiter* receivers_tail_ = nullptr;
};

}  // namespace detail

template <class T>
class Channel : public detail::ChannelBase {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Channel(std::size_t capacity = 0) : ChannelBase(capacity) {}

  // Waits for room (or a receiver, unbuffered). False if the channel is or gets closed.
  bool send(T value) { return send_until(std::move(value), Clock::time_point::max()); }
  // False on timeout or close; closed() tells which.
  bool send_until(T value, Clock::time_point deadline) {
    Case c{this, Op::kSend, &value};
    bool ok = false;
    if (select(&c, 1, false, deadline, &ok) == 0) return ok;
    if (frames_stay_put()) return select(&c, 1, true, deadline, &ok) == 0 && ok;
    // Waiting on a shared stack: the value moves to the heap, where a receiver can reach it even
    // while this coroutine's stack is copied away.
    auto boxed = std::make_unique<T>(std::move(value));
    c.value = boxed.get();
    return select(&c, 1, true, deadline, &ok) == 0 && ok;
  }
  template <class Rep, class Period>
  bool send_for(T value, std::chrono::duration<Rep, Period> timeout) {
    return send_until(std::move(value), detail::deadline_in(timeout));
  }
  // Sends only if that needs no wait (room in the buffer, or a receiver already waiting).
  bool try_send(T value) {
    Case c{this, Op::kSend, &value};
    bool ok = false;
    return select(&c, 1, false, Clock::time_point::max(), &ok) == 0 && ok;
  }

  // The next value; nullopt once the channel is closed and drained.
  std::optional<T> recv() { return recv_until(Clock::time_point::max()); }
  // nullopt on timeout, or closed and drained; closed() tells which.
  std::optional<T> recv_until(Clock::time_point deadline) {
    std::optional<T> value;
    Case c{this, Op::kRecv, &value};
    bool ok = false;
    if (select(&c, 1, false, deadline, &ok) == 0) return value;
    if (frames_stay_put()) {
      if (select(&c, 1, true, deadline, &ok) == 0) return value;
      return std::nullopt;
    }
    auto boxed = std::make_unique<std::optional<T>>();
    c.value = boxed.get();
    if (select(&c, 1, true, deadline, &ok) == 0) return std::move(*boxed);
    return std::nullopt;
  }
  template <class Rep, class Period>
  std::optional<T> recv_for(std::chrono::duration<Rep, Period> timeout) {
    return recv_until(detail::deadline_in(timeout));
  }
  // A value if one can be had without waiting.
  std::optional<T> try_recv() {
    std::optional<T> value;
    Case c{this, Op::kRecv, &value};
    bool ok = false;
    select(&c, 1, false, Clock::time_point::max(), &ok);
    return value;
  }

  ~Channel() = default;

 private:
  void buffer_push(void* value) override { items_.push_back(std::move(*static_cast<T*>(value))); }
  void buffer_pop(void* slot) override {
    static_cast<std::optional<T>*>(slot)->emplace(std::move(items_.front()));
    items_.pop_front();
  }
  void hand_over(void* from, void* to) override {
    static_cast<std::optional<T>*>(to)->emplace(std::move(*static_cast<T*>(from)));
  }

  std::deque<T> items_;
};

}  // namespace cohook
