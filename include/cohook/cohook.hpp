// cohook: coroutines for C++ whose blocking calls park only the calling coroutine.
//
//   cohook::Runtime runtime;          // scheduler threads: COHOOK_THREADS or one per core
//   runtime.run([] {                  // returns when this and every coroutine it spawned end
//     cohook::WaitGroup done;
//     cohook::Channel<int> numbers(16);
//     done.add(1);
//     cohook::go([&] {
//       for (int i = 0; i < 3; ++i) numbers.send(i);
//       numbers.close();
//       done.done();
//     });
//     while (auto n = numbers.recv()) std::printf("%d\n", *n);
//     done.wait();
//   });
//
// Every call here that waits (join, sleep, lock, wait, send, recv) parks the calling coroutine
// and lets others run on its thread; called from a plain thread it blocks that thread instead.
// Inside a coroutine, read/write/connect/accept/sleep and the other blocking libc calls do the
// same (the hook layer), so ordinary blocking code needs no special API.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "cohook/detail/config.hpp"
#include "cohook/detail/wait_list.hpp"

namespace cohook {

class Coroutine;

struct SpawnOptions {
  std::size_t stack_size = 0;  // bytes; 0: COHOOK_STACK_SIZE, else 128 KiB
  std::string name;            // shown in stack-overflow reports, dumps and traces
};

// Owns a reference to a coroutine so that it can be joined. Destroying or detaching a handle
// never waits and never kills the coroutine (unlike std::thread, no terminate).
class COHOOK_API JoinHandle {
 public:
  JoinHandle() = default;
  explicit JoinHandle(Coroutine* coroutine);  // takes over one reference
  JoinHandle(JoinHandle&& other) noexcept : coroutine_(std::exchange(other.coroutine_, nullptr)) {}
  JoinHandle& operator=(JoinHandle&& other) noexcept;
  JoinHandle(const JoinHandle&) = delete;
  JoinHandle& operator=(const JoinHandle&) = delete;
  ~JoinHandle() { detach(); }

  bool joinable() const { return coroutine_ != nullptr; }
  // Waits until the coroutine has finished, then detaches.
  void join();
  void detach();
  std::uint64_t id() const;

 private:
  Coroutine* coroutine_ = nullptr;
};

// Starts fn as a new coroutine. Inside a Runtime, new coroutines are spread over its threads
// (and never move once started); elsewhere it runs on the calling thread's scheduler. An
// exception escaping fn is reported on stderr with the coroutine's id and name, then
// std::terminate is called, as for a std::thread.
COHOOK_API JoinHandle go(std::function<void()> fn, SpawnOptions options = {});

namespace this_coroutine {
// Lets every other ready coroutine on this thread run once, then continues.
COHOOK_API void yield();
COHOOK_API void sleep_until(std::chrono::steady_clock::time_point deadline);
template <class Rep, class Period>
void sleep_for(std::chrono::duration<Rep, Period> duration) {
  sleep_until(std::chrono::steady_clock::now() + std::chrono::ceil<std::chrono::steady_clock::duration>(duration));
}
// 0 outside a coroutine.
COHOOK_API std::uint64_t id();
COHOOK_API bool inside();
}  // namespace this_coroutine

// Scheduler threads. run() turns the calling thread into scheduler 0 and starts threads-1
// more; it returns once main_fn and every coroutine started under it have finished.
class COHOOK_API Runtime {
 public:
  explicit Runtime(int threads = 0);  // 0: COHOOK_THREADS, else the number of cores
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;
  ~Runtime();

  void run(std::function<void()> main_fn);
  int threads() const { return threads_; }

  struct State;  // sched/runtime.cc

 private:
  int threads_;
};

class COHOOK_API Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock();
  bool try_lock();
  bool try_lock_until(std::chrono::steady_clock::time_point deadline);
  template <class Rep, class Period>
  bool try_lock_for(std::chrono::duration<Rep, Period> timeout) {
    return try_lock_until(std::chrono::steady_clock::now() + timeout);
  }
  void unlock();

 private:
  std::atomic<std::uint32_t> state_{0};  // 0 free, 1 held (ownership is handed to waiters)
  std::atomic<Coroutine*> owner_{nullptr};  // the holder, for lock-cycle reports (null: a plain thread)
  detail::SpinLock queue_lock_;
  detail::WaitList waiters_;
};

class COHOOK_API CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  void wait(std::unique_lock<Mutex>& lock);
  template <class Predicate>
  void wait(std::unique_lock<Mutex>& lock, Predicate ready) {
    while (!ready()) wait(lock);
  }
  std::cv_status wait_until(std::unique_lock<Mutex>& lock, std::chrono::steady_clock::time_point deadline);
  template <class Predicate>
  bool wait_until(std::unique_lock<Mutex>& lock, std::chrono::steady_clock::time_point deadline, Predicate ready) {
    while (!ready())
      if (wait_until(lock, deadline) == std::cv_status::timeout) return ready();
    return true;
  }
  template <class Rep, class Period>
  std::cv_status wait_for(std::unique_lock<Mutex>& lock, std::chrono::duration<Rep, Period> timeout) {
    return wait_until(lock, std::chrono::steady_clock::now() + timeout);
  }
  void notify_one();
  void notify_all();

 private:
  detail::SpinLock queue_lock_;
  detail::WaitList waiters_;
};

// Counts outstanding work; wait() returns once the count is back to zero.
class COHOOK_API WaitGroup {
 public:
  void add(int delta = 1);
  void done() { add(-1); }
  void wait();

 private:
  std::atomic<long> count_{0};
  detail::SpinLock queue_lock_;
  detail::WaitList waiters_;
};

// A typed queue between coroutines (and threads). capacity 0 is unbuffered: send() returns once
// a receiver has taken the value. After close(), send() returns false and recv() drains what is
// buffered, then returns nullopt.
template <class T>
class Channel {
 public:
  explicit Channel(std::size_t capacity = 0) : capacity_(capacity) {}
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  bool send(T value) {
    std::unique_lock<Mutex> lock(mutex_);
    if (capacity_ > 0) {
      can_send_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
      if (closed_) return false;
      items_.push_back(std::move(value));
      can_recv_.notify_one();
      return true;
    }
    // Unbuffered: one value in flight at a time; wait until a receiver takes ours.
    can_send_.wait(lock, [&] { return closed_ || items_.empty(); });
    if (closed_) return false;
    items_.push_back(std::move(value));
    std::uint64_t ticket = ++sent_;
    can_recv_.notify_one();
    taken_.wait(lock, [&] { return received_ >= ticket || closed_; });
    if (received_ >= ticket) return true;
    items_.clear();  // closed before anyone took it: the value was not delivered
    return false;
  }

  std::optional<T> recv() {
    std::unique_lock<Mutex> lock(mutex_);
    can_recv_.wait(lock, [&] { return closed_ || !items_.empty(); });
    return take(lock);
  }

  std::optional<T> try_recv() {
    std::unique_lock<Mutex> lock(mutex_);
    return take(lock);
  }

  void close() {
    std::lock_guard<Mutex> lock(mutex_);
    closed_ = true;
    can_send_.notify_all();
    can_recv_.notify_all();
    taken_.notify_all();
  }

  bool closed() const {
    std::lock_guard<Mutex> lock(mutex_);
    return closed_;
  }

 private:
  std::optional<T> take(std::unique_lock<Mutex>&) {
    if (items_.empty()) return std::nullopt;
    if (capacity_ == 0 && closed_) return std::nullopt;  // its sender already reported failure
    std::optional<T> value(std::move(items_.front()));
    items_.pop_front();
    if (capacity_ == 0) {
      ++received_;
      taken_.notify_all();
    }
    can_send_.notify_one();
    return value;
  }

  const std::size_t capacity_;
  mutable Mutex mutex_;
  CondVar can_send_;
  CondVar can_recv_;
  CondVar taken_;
  std::deque<T> items_;
  std::uint64_t sent_ = 0;
  std::uint64_t received_ = 0;
  bool closed_ = false;
};

namespace detail {
// Per-coroutine slots (per-thread outside coroutines); destroyed when the coroutine ends.
COHOOK_API std::size_t allocate_local_key();
COHOOK_API void* get_local(std::size_t key);
COHOOK_API void set_local(std::size_t key, void* value, void (*destroy)(void*));
}  // namespace detail

// One T per coroutine, made on first use by value-initialisation.
template <class T>
class CoroutineLocal {
 public:
  CoroutineLocal() : key_(detail::allocate_local_key()) {}
  T& get() {
    void* value = detail::get_local(key_);
    if (value == nullptr) {
      value = new T();
      detail::set_local(key_, value, [](void* v) { delete static_cast<T*>(v); });
    }
    return *static_cast<T*>(value);
  }
  T* operator->() { return &get(); }
  T& operator*() { return get(); }

 private:
  std::size_t key_;
};

}  // namespace cohook
