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
#include <type_traits>
#include <utility>

#include "cohook/detail/config.hpp"
#include "cohook/detail/wait_list.hpp"

namespace cohook {

class Coroutine;

// Checked by go() and Runtime::spawn: a bad value throws std::invalid_argument, naming it.
struct SpawnOptions {
  std::size_t stack_size = 0;  // bytes: 0 (COHOOK_STACK_SIZE, else 128 KiB) or 16 KiB to 1 GiB
  std::string name;            // shown in stack-overflow reports, dumps and traces
};

template <class T>
class Future;  // cohook/future.hpp: the handle of a coroutine that returns a value

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

// Starts fn as a new coroutine. Call it from a coroutine: inside a Runtime, new coroutines are
// spread over its threads (and never move once started); in a coroutine of a plain thread's own
// scheduler (libco style), it runs there. From a thread that runs no coroutine it throws
// std::logic_error: use Runtime::spawn to hand work to a Runtime from outside. An exception
// escaping fn is reported on stderr with the coroutine's id, name and exception type, then
// std::terminate is called, as for a std::thread.
COHOOK_API JoinHandle go(std::function<void()> fn, SpawnOptions options = {});
// fn returns a value: the Future carries it, or the exception fn threw, to join().
template <class F>
  requires(!std::is_void_v<std::invoke_result_t<std::decay_t<F>&>>)
Future<std::invoke_result_t<std::decay_t<F>&>> go(F&& fn, SpawnOptions options = {});

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
// SpawnOptions::name ("main" for Runtime::run's main_fn); empty outside a coroutine.
COHOOK_API std::string name();
COHOOK_API bool inside();
}  // namespace this_coroutine

// Scheduler threads. run() turns the calling thread into scheduler 0 and starts threads-1
// more; it returns once main_fn and every coroutine started under it have finished. If main_fn
// throws, run() still waits for the other coroutines (as a std::jthread scope or a TaskGroup
// would), then rethrows main_fn's exception.
class COHOOK_API Runtime {
 public:
  explicit Runtime(int threads = 0);  // 0: COHOOK_THREADS, else the number of cores
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;
  ~Runtime();

  void run(std::function<void()> main_fn);
  int threads() const { return threads_; }

  // Starts fn as a coroutine of this runtime from any thread (a plain thread, a thread pool, a
  // callback of another library) while run() is active: run() then also waits for it. The
  // handle may be joined from any thread. Throws std::logic_error if run() is not active.
  JoinHandle spawn(std::function<void()> fn, SpawnOptions options = {});
  template <class F>
    requires(!std::is_void_v<std::invoke_result_t<std::decay_t<F>&>>)
  Future<std::invoke_result_t<std::decay_t<F>&>> spawn(F&& fn, SpawnOptions options = {});

  struct State;  // sched/runtime.cc

 private:
  int threads_;
  std::mutex active_mutex_;  // guards active_ against run() ending while spawn() uses it
  State* active_ = nullptr;  // while run() is active
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
  // kHeld | kQueueLocked | kHasWaiters (sched/mutex.cc). One word, so that unlock() touches the
  // mutex in one atomic step at the end: the next owner may destroy it right after.
  std::atomic<std::uint32_t> state_{0};
  std::atomic<Coroutine*> owner_{nullptr};  // the holder, for lock-cycle reports (null: a plain thread)
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

// Counts outstanding work; wait() returns once the count is back to zero. More done() (or a
// negative add()) than add() is a bug: it is reported on stderr and the program aborts, as Go
// panics. For the common "start N, wait for all" shape, TaskGroup also rethrows the first
// exception and waits in its destructor.
// As Go's sync.WaitGroup, it may be destroyed as soon as wait() returns, even while the done()
// that released the wait is still returning.
class COHOOK_API WaitGroup {
 public:
  void add(int delta = 1);
  void done() { add(-1); }
  void wait();

 private:
  // count << 32 | waiters: the add() that reaches zero knows in the same step whether anybody
  // waits, and touches the group no further if nobody does.
  std::atomic<std::uint64_t> state_{0};
  detail::SpinLock queue_lock_;
  detail::WaitList waiters_;
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

#include "cohook/barrier.hpp"
#include "cohook/channel.hpp"
#include "cohook/future.hpp"
#include "cohook/once.hpp"
#include "cohook/select.hpp"
#include "cohook/semaphore.hpp"
#include "cohook/shared_mutex.hpp"
#include "cohook/task_group.hpp"
