// Coroutine: a function running on its own fiber, homed on one scheduler thread for life.
//
// Running is always a resume by some fiber on the home thread (the scheduler loop, or for
// libco-style use the main stack or another coroutine): that fiber becomes the resumer, and
// every way out (park, yield, suspend, finish) switches back to it. Nesting has no limit.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coctx/fiber.h"
#include "cohook/detail/wait_list.hpp"
#include "poller/poller.h"
#include "sched/time.h"
#include "sched/timer_heap.h"
#include "sched/wait_list.h"

namespace cohook {

class Scheduler;

enum class CoroutineState : std::uint8_t {
  kCreated,    // not yet run; has no stack yet
  kReady,      // in its scheduler's ready queue
  kRunning,
  kParked,     // waiting for an unpark (fd, timer, sync primitive)
  kSuspended,  // switched out by suspend(); only an explicit resume() continues it
  kFinished,
};

enum class WakeReason : std::uint8_t {
  kNone,
  kUnparked,  // by unpark(): a sync primitive, a yield, a remote wake-up
  kTimeout,   // the deadline passed
  kFdReady,   // the fd it waited on is ready (or reports an error/hang-up)
  kFdClosed,  // the fd it waited on was closed or replaced
  kInterrupted,  // an interruption (a signal, see sched/interrupt.h) cut an interruptible park short
};

const char* to_string(CoroutineState state);

// A park's timeout and fd registration. They live in the Coroutine, not in its frame: a
// coroutine on a shared stack has its frames copied away while it waits, and the timer heap and
// the poller hold pointers to these meanwhile.
struct ParkTimer : Timer {
  Coroutine* coroutine = nullptr;
  std::uint64_t ticket = 0;
};
struct FdParker : poller::FdWaiter {
  Coroutine* coroutine = nullptr;
  std::uint64_t ticket = 0;
};

// The running coroutine of this thread. initial-exec: every hooked call reads it, and the
// general-dynamic model would cost a __tls_get_addr call in the shared library. constinit: no
// dynamic initialisation, so no TLS wrapper call either.
extern constinit thread_local Coroutine* t_current_coroutine __attribute__((tls_model("initial-exec")));

class Coroutine {
 public:
  // The coroutine running on the calling thread, or nullptr on a plain thread stack.
  static Coroutine* current() { return t_current_coroutine; }

  Coroutine(Scheduler* home, std::function<void()> fn, std::size_t stack_size, std::string name,
            coctx::SharedStack* shared_stack = nullptr);
  Coroutine(const Coroutine&) = delete;
  Coroutine& operator=(const Coroutine&) = delete;

  std::uint64_t id() const { return id_; }
  const std::string& name() const { return name_; }
  Scheduler* home() const { return home_; }
  CoroutineState state() const { return state_.load(std::memory_order_acquire); }
  bool finished() const { return state() == CoroutineState::kFinished; }

  // Runs this coroutine until it parks, yields, suspends or finishes; the calling fiber is its
  // resumer meanwhile. Only on the home thread, and not on a running or finished coroutine.
  void resume();
  // From inside this coroutine: back to the resumer until somebody calls resume() again.
  void suspend();

  // Waits (parks or blocks) until finished. Any thread; not from inside itself.
  void join();
  // Ends a coroutine that is created or suspended, never parked or running, without running
  // the rest of it: its stack goes back to the pool and objects on it are NOT destroyed
  // (libco's co_release/co_reset of an unfinished coroutine). Home thread only.
  void abandon();

  // Reference counting: the scheduler holds one until the coroutine finishes, each JoinHandle
  // one. The last release frees the object.
  void add_ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release();

  // libco's co_enable_hook_sys: when false, hooked calls made here go straight to libc.
  bool hooks_enabled() const { return hooks_enabled_; }
  void set_hooks_enabled(bool enabled) { hooks_enabled_ = enabled; }

  // What it is parked on, for dumps and traces ("read", "mutex", "sleep"), and the fd if any.
  const char* wait_what() const { return wait_what_; }
  int wait_fd() const { return wait_fd_; }
  void set_waiting_on(const char* what, int fd = -1) {
    wait_what_ = what;
    wait_fd_ = fd;
  }

  // Coroutine-local slots (cohook::CoroutineLocal, co_getspecific, green-mode pthread keys).
  void* local(std::size_t key) const { return key < locals_.size() ? locals_[key].value : nullptr; }
  void set_local(std::size_t key, void* value, void (*destroy)(void*));

  // A pointer the layer above may attach (libco's stCoRoutine_t).
  void* user_data() const { return user_data_; }
  void set_user_data(void* data) { user_data_ = data; }

  const coctx::Fiber* fiber() const { return fiber_ ? &*fiber_ : nullptr; }

  // The node for this coroutine's next wait on a sync primitive, reset (see ParkTimer for why
  // it is not in the frame). A coroutine waits on one thing at a time.
  detail::WaitNode& fresh_wait_node();
  std::size_t stack_size() const { return stack_size_; }

 private:
  friend class Scheduler;
  friend class DiagAccess;
  friend class InterruptibleCall;
  ~Coroutine();

  static void entry(void* self, void* transfer);
  [[noreturn]] void finish();
  void wake_joiners();
  void release_stack();
  void switch_to_resumer();
  void start_fiber();
  void run_local_destructors();
  void check_stack_canary();

  struct LocalSlot {
    void* value = nullptr;
    void (*destroy)(void*) = nullptr;
  };

  const std::uint64_t id_;
  const std::string name_;
  Scheduler* const home_;
  std::function<void()> fn_;
  const std::size_t stack_size_;
  coctx::SharedStack* const shared_stack_;
  coctx::StackSpan stack_;
  std::optional<coctx::Fiber> fiber_;  // made at the first resume, on the home thread
  coctx::Fiber* resumer_ = nullptr;

  std::atomic<CoroutineState> state_{CoroutineState::kCreated};
  std::atomic<int> refs_{1};
  bool hooks_enabled_ = true;
  const char* wait_what_ = nullptr;
  int wait_fd_ = -1;
  std::int64_t parked_since_ms_ = 0;  // diag::coarse_now_ms() at the last park, for dumps
  void* user_data_ = nullptr;
  std::vector<LocalSlot> locals_;

  // Parking: armed_ticket_ holds the ticket of the park in progress (0 when none); the one
  // unpark that swaps it out wins and queues the coroutine, carrying wake_reason_.
  std::uint64_t last_ticket_ = 0;
  std::atomic<std::uint64_t> armed_ticket_{0};
  WakeReason wake_reason_ = WakeReason::kNone;
  Coroutine* next_ready_ = nullptr;  // intrusive ready / remote queue link
  Coroutine* prev_started_ = nullptr;  // the home scheduler's list of started coroutines
  Coroutine* next_started_ = nullptr;
  ParkTimer park_timer_;
  FdParker fd_parker_;
  detail::WaitNode wait_node_;

  // Interruptions (sched/interrupt.h). The call fields are written by the coroutine itself and
  // read on its home thread; the posted words are or-ed in from any thread or signal handler.
  bool in_interruptible_call_ = false;
  bool call_restartable_ = false;
  std::uint64_t call_accepts_ = 0;
  std::atomic<std::uint64_t> posted_restart_{0};    // sources posted as InterruptKind::kRestart
  std::atomic<std::uint64_t> posted_no_restart_{0}; // sources posted as InterruptKind::kNoRestart

  // Joining.
  detail::SpinLock join_lock_;
  detail::WaitList joiners_;
};

}  // namespace cohook
