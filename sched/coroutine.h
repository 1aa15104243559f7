// Coroutine: a function running on its own fiber, homed on one scheduler thread for life.
//
// Running is always a resume by some fiber on the home thread (the scheduler loop, or for
// libco-style use the main stack or another coroutine): that fiber becomes the resumer, and
// every way out (park, yield, suspend, finish) switches back to it. Nesting has no limit.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <new>
#include <string>

#include "coctx/fiber.h"
#include "cohook/detail/wait_list.hpp"
#include "poller/poller.h"
#include "sched/diag.h"
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
// The timer's context is the coroutine, and the ticket it fires with is the coroutine's latest
// (Coroutine::park_ticket): timers fire on the home thread, where a new park can only begin
// after this one's timer is cancelled. The fd parker keeps its ticket, since a close on another
// thread may fire it; its context is the coroutine.
struct ParkTimer : Timer {};
struct FdParker : poller::FdWaiter {
  std::uint64_t ticket = 0;
  Coroutine* coroutine() const { return static_cast<Coroutine*>(context); }
};

// What a coroutine runs: a function of one pointer, in 16 bytes rather than std::function's 32.
// `call(data, kRun)` runs the body; `call(data, kDrop)` frees what `data` owns (captures), once,
// whether or not the body ran. A std::function body lives in the Coroutine's own heap block.
enum class BodyOp : std::uint8_t { kRun, kDrop };
struct CoroutineBody {
  void (*call)(void* data, BodyOp op) = nullptr;
  void* data = nullptr;
};

// The running coroutine of this thread. initial-exec: every hooked call reads it, and the
// general-dynamic model would cost a __tls_get_addr call in the shared library. constinit: no
// dynamic initialisation, so no TLS wrapper call either.
extern constinit thread_local Coroutine* t_current_coroutine __attribute__((tls_model("initial-exec")));
// errno's address on this thread, for the switch path (see Coroutine::resume): set when the
// thread's first coroutine starts, before its first switch. glibc's __errno_location() is
// constant per thread, but a call to it (through the PLT in the shared library) costs more than
// the rest of a switch's bookkeeping.
extern constinit thread_local int* t_errno_location __attribute__((tls_model("initial-exec")));

class Coroutine {
 public:
  // The coroutine running on the calling thread, or nullptr on a plain thread stack.
  static Coroutine* current() { return t_current_coroutine; }

  // One heap block each: the object, and a std::function body right after it (none for a
  // CoroutineBody). The result holds one reference.
  static Coroutine* make(Scheduler* home, std::function<void()> fn, std::size_t stack_size, const std::string& name,
                         coctx::SharedStack* shared_stack = nullptr);
  static Coroutine* make(Scheduler* home, CoroutineBody body, std::size_t stack_size, const std::string& name,
                         coctx::SharedStack* shared_stack = nullptr);
  Coroutine(const Coroutine&) = delete;
  Coroutine& operator=(const Coroutine&) = delete;

  std::uint64_t id() const { return id_; }
  // "" when it was given none.
  const char* name() const {
    Extras* extras = extras_.load(std::memory_order_acquire);
    return extras != nullptr && extras->name != nullptr ? extras->name : "";
  }
  Scheduler* home() const { return home_; }
  CoroutineState state() const { return state_.load(std::memory_order_acquire); }
  bool finished() const { return state() == CoroutineState::kFinished; }

  // Runs this coroutine until it parks, yields, suspends or finishes; the calling fiber is its
  // resumer meanwhile. Only on the home thread, and not on a running or finished coroutine.
  //
  // Each side of a switch does the bookkeeping for both before it jumps (the running coroutine,
  // errno, the hog watchdog's witness), so nothing is left to do when a switch returns. That lets
  // resume_as_last_act() and suspend() end in a jump rather than a call: see there.
  void resume() {
    enter();
    resumer_->switch_to(fiber_);
    if (__builtin_expect(state_.load(std::memory_order_acquire) == CoroutineState::kFinished, 0)) on_finished();
  }
  // Called for the next coroutine in line while the current one runs (Fiber::prefetch_resume).
  void prefetch_resume() const { fiber_.prefetch_resume(); }
  // resume() for a caller with nothing left to do after it (libco's co_resume). The switch is
  // its last act, so the compiler turns it into a jump: when the coroutine switches back, the
  // switch's final jump lands straight in our caller. No `ret` is left on either side of a
  // co_resume/co_yield_ct ping-pong, and a `ret` there always missed the return-stack predictor
  // (it held the other side's call). A coroutine resumed this way ends through the thread's
  // reaper fiber, which runs on_finished before coming back here.
  // Precondition: started (start_now()).
  void resume_as_last_act() {
    enter_started();
    resumed_as_last_act_ = true;
    resumer_->switch_to(fiber_);
  }
  // From inside this coroutine: back to the resumer until somebody calls resume() again. The
  // switch is the last act here too.
  void suspend() {
    state_.store(CoroutineState::kSuspended, std::memory_order_relaxed);
    switch_to_resumer();
  }

  // Takes the stack now rather than at the first resume (for resume_as_last_act). Home thread.
  void start_now() {
    if (!started_) start();
  }

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

  // Real (pthread) locks this coroutine has taken and not released, as the interposers count
  // them (sched/real_locks.h). Never below zero: a lock taken elsewhere may be released here.
  int real_locks_held() const { return real_locks_held_; }
  void count_real_locks(int delta) {
    real_locks_held_ += delta;
    if (real_locks_held_ < 0) real_locks_held_ = 0;
  }
  // True the first time only: a coroutine that parks holding a real lock is named once
  // (sched/real_locks.h).
  bool take_real_lock_report() {
    bool first = !real_lock_reported_;
    real_lock_reported_ = true;
    return first;
  }

  // What it is parked on, for dumps and traces ("read", "mutex", "sleep"), and the fd if any.
  const char* wait_what() const { return wait_what_; }
  int wait_fd() const { return wait_fd_; }
  void set_waiting_on(const char* what, int fd = -1) {
    wait_what_ = what;
    wait_fd_ = fd;
  }

  // Coroutine-local slots (cohook::CoroutineLocal, co_getspecific, green-mode pthread keys).
  void* local(std::size_t key) const {
    Extras* extras = extras_.load(std::memory_order_acquire);  // a joiner on another thread may have made it
    LocalTable* locals = extras != nullptr ? extras->locals : nullptr;
    return locals != nullptr && key < locals->count ? locals->slots[key].value : nullptr;
  }
  void set_local(std::size_t key, void* value, void (*destroy)(void*));

  // A pointer the layer above may attach (libco's stCoRoutine_t).
  void* user_data() const { return user_data_; }
  void set_user_data(void* data) { user_data_ = data; }

  const coctx::Fiber* fiber() const { return started_ ? &fiber_ : nullptr; }

  // The node for this coroutine's next wait on a sync primitive, reset (see ParkTimer for why
  // it is not in the frame). A coroutine waits on one thing at a time.
  detail::WaitNode& fresh_wait_node();
  // The ticket of its latest park. Home thread only.
  std::uint64_t park_ticket() const { return last_ticket_; }
  // The record for this coroutine's next fd wait, reset. It shares storage with the wait node:
  // a coroutine waits on one thing at a time, and each wait takes its record afresh.
  FdParker& fresh_fd_parker();
  // The same storage for one wait record of a layer above (libco's co_cond waiter), made afresh:
  // the record must not live in the waiting frame either, and a coroutine waits on one thing at
  // a time. It stays valid until this coroutine's next wait of any kind.
  template <class Record>
  Record& fresh_wait_record() {
    static_assert(sizeof(Record) <= sizeof(wait_record_) && alignof(Record) <= alignof(FdParker),
                  "the record must fit the coroutine's wait storage");
    return *new (wait_record_) Record();
  }
  // The record the last fresh_wait_record<Record>() made.
  template <class Record>
  Record& wait_record() {
    return *std::launder(reinterpret_cast<Record*>(wait_record_));
  }
  std::size_t stack_size() const { return stack_size_; }
  // Whether this coroutine has made its block of rarely used state (a name, coroutine-locals,
  // an interruptible call, a joiner). For tests of the memory layout's promise: a coroutine that
  // uses none of them never pays for the block.
  bool has_extras() const { return extras_.load(std::memory_order_acquire) != nullptr; }

 private:
  friend class Scheduler;
  Coroutine(Scheduler* home, CoroutineBody body, std::size_t stack_size, const std::string& name,
            coctx::SharedStack* shared_stack);
  friend class DiagAccess;
  friend class InterruptibleCall;
  ~Coroutine();

  static void entry(void* self, void* transfer);
  [[noreturn]] void finish();
  void wake_joiners();
  void release_stack();
  void start();
  void on_finished();
  struct Reaper;
  static coctx::Fiber& reaper();
  static void reaper_loop(void* data, void* transfer);
  void run_local_destructors();
  [[noreturn]] void report_overflow();
  [[noreturn]] void die_of_uncaught_exception();
  [[gnu::noinline, gnu::cold]] void check_canary_at_switch_out();

  // The resumer's half of a switch in: the caller's fiber becomes the resumer, and errno and the
  // running coroutine become ours. errno's address is constant per thread, read once when the
  // thread's first coroutine starts: no call to __errno_location per switch.
  void enter() {
    if (__builtin_expect(!started_, 0)) start();
    enter_started();
  }
  void enter_started() {
    coctx::Fiber& from = coctx::Fiber::running();
    resumer_ = &from;
    previous_ = t_current_coroutine;
    t_current_coroutine = this;
    resumed_as_last_act_ = false;
    state_.store(CoroutineState::kRunning, std::memory_order_relaxed);
    int* err = t_errno_location;
    resumer_errno_ = *err;
    *err = own_errno_;
    diag::note_switch(true);  // the hog watchdog's witness: two relaxed stores per switch
  }
  // Our half of a switch out: the resumer gets its errno and running coroutine back.
  void leave() {
    int* err = t_errno_location;
    own_errno_ = *err;
    *err = resumer_errno_;
    Coroutine* previous = previous_;
    t_current_coroutine = previous;
    diag::note_switch(previous != nullptr);
  }

  // Back to the resumer; for every way out but finishing.
  void switch_to_resumer() {
    // Unguarded stacks (past the mapping budget) have no guard page to fault on; their canary is
    // the next best witness. It is looked at when a switch-out finds the stack pointer in the
    // lowest page, and when the coroutine finishes (reading it at every switch would cost a
    // resident page per stack). Guarded and shared stacks skip the check.
    if (__builtin_expect(check_canary_, 0)) check_canary_at_switch_out();
    leave();
    fiber_.switch_to(*resumer_);
  }

  // switch_to_resumer() out of line, for parks and yields (sched/scheduler.cc): the switch is
  // its tail call, so its frame is only a return address, and the parking frame keeps nothing
  // but the coroutine's address across the switch. On a shared stack, every byte of the parked
  // frames is copied away and back at each park, and kept on the heap meanwhile.
  [[gnu::noinline]] void switch_to_resumer_out_of_line();

  struct LocalTable;
  // What few coroutines use, in a block of its own made on first use, so that a million parked
  // coroutines that use none of it carry one pointer instead. It is made by the creator (a
  // name), by the coroutine itself (coroutine-locals, an interruptible call) or by a joiner on
  // any thread: installed with one compare-and-swap (the loser frees its copy), freed with the
  // coroutine, never moved. Readers on other threads (signal handlers among them) load the
  // pointer with acquire.
  struct Extras {
    char* name = nullptr;  // a heap copy, only when named
    LocalTable* locals = nullptr;  // grown at set_local
    // Interruptions (sched/interrupt.h). The call fields are written by the coroutine itself and
    // read on its home thread; the posted words are or-ed in from any thread or signal handler.
    bool call_restartable = false;
    std::uint64_t call_accepts = 0;
    std::atomic<std::uint64_t> posted_restart{0};     // sources posted as InterruptKind::kRestart
    std::atomic<std::uint64_t> posted_no_restart{0};  // sources posted as InterruptKind::kNoRestart
    // Joining.
    detail::SpinLock join_lock;
    detail::WaitList joiners;
  };
  // The extras, made now if need be. Aborts with a message if memory is exhausted: its callers
  // (a hooked call opening an interruptible scope among them) have no way to report it.
  Extras& extras();

  struct LocalSlot {
    void* value = nullptr;
    void (*destroy)(void*) = nullptr;
  };
  // Allocated at the first set_local: most coroutines use no coroutine-local slots.
  struct LocalTable {
    std::size_t count;
    LocalSlot slots[1];  // really `count` of them
  };

  // After an interruption was taken (or cut a park short): what was posted is spent.
  void clear_posted_interrupts() {
    if (Extras* extras = extras_.load(std::memory_order_acquire)) {
      extras->posted_restart.store(0, std::memory_order_relaxed);
      extras->posted_no_restart.store(0, std::memory_order_relaxed);
    }
  }

  // Laid out small (a million parked libco coroutines each hold one), the hot fields first.
  coctx::Fiber* resumer_ = nullptr;
  Coroutine* previous_ = nullptr;  // the coroutine running when we were resumed (nullptr: none)
  int resumer_errno_ = 0;          // the resumer's errno while we run
  int own_errno_ = 0;              // ours while we are switched out
  union {
    coctx::SharedStack* shared_stack_;  // until the first resume: where the fiber will run (nullptr: private)
    coctx::Fiber fiber_;  // made at the first resume, on the home thread (started_)
  };
  Scheduler* home_;  // changes only before the first run, when an idle scheduler steals it
  CoroutineBody body_;
  std::atomic<CoroutineState> state_{CoroutineState::kCreated};
  WakeReason wake_reason_ = WakeReason::kNone;
  bool started_ = false;
  bool check_canary_ = false;  // an unguarded private stack: check its canary at switch-outs
  bool hooks_enabled_ = true;
  bool real_lock_reported_ = false;
  bool resumed_as_last_act_ = false;  // our end goes through the reaper (resume_as_last_act)
  bool in_interruptible_call_ = false;  // sched/interrupt.h; the call's settings are in the extras
  std::atomic<int> refs_{1};
  const std::uint32_t stack_size_;  // private stacks (<= 1 GiB, see COHOOK_STACK_SIZE)
  int wait_fd_ = -1;
  int real_locks_held_ = 0;
  const std::uint64_t id_;
  const char* wait_what_ = nullptr;
  std::int64_t parked_since_ms_ = 0;  // diag::coarse_now_ms() at the last park, for dumps
  void* user_data_ = nullptr;
  std::atomic<Extras*> extras_{nullptr};

  // Parking: armed_ticket_ holds the ticket of the park in progress (0 when none); the one
  // unpark that swaps it out wins and queues the coroutine, carrying wake_reason_.
  std::uint64_t last_ticket_ = 0;
  std::atomic<std::uint64_t> armed_ticket_{0};
  Coroutine* next_ready_ = nullptr;  // intrusive ready / remote queue link
  Coroutine* prev_started_ = nullptr;  // the home scheduler's list of started coroutines
  Coroutine* next_started_ = nullptr;
  ParkTimer park_timer_;
  union {  // one wait at a time: fresh_fd_parker() / fresh_wait_node() / fresh_wait_record() construct the one in use
    FdParker fd_parker_;
    detail::WaitNode wait_node_;
    alignas(FdParker) unsigned char wait_record_[sizeof(FdParker)];
  };
};

}  // namespace cohook
