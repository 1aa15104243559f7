// Scheduler: one per OS thread that runs coroutines. It owns the thread's ready queue, timer
// heap and poller, and its loop is: run what is ready, fire due timers, then sleep in
// epoll_wait until the next timer, an fd event or a wake-up from another thread.
//
// Parking protocol (how every wait in cohook is built):
//   uint64_t ticket = Scheduler::prepare_park();       // arm: one unpark may now win
//   ... publish (current coroutine, ticket) where a waker will find it ...
//   WakeReason why = Scheduler::park_until(ticket, deadline, "what");
// A waker calls Scheduler::unpark(co, ticket, reason) from any thread; only the first unpark of a
// ticket wins, so a timeout racing an event, or a stale waker from an earlier wait, can never
// wake a coroutine twice or wake a later wait. Having armed, a coroutine must either park or
// win cancel_park().
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

struct pollfd;

#include "cohook/cohook.hpp"
#include "cohook/detail/wait_list.hpp"
#include "poller/poller.h"
#include "sched/coroutine.h"
#include "sched/interrupt.h"
#include "sched/time.h"
#include "sched/timer_heap.h"

namespace cohook {

// Default stack size for new coroutines: COHOOK_STACK_SIZE if set (validated at start-up),
// else coctx::kDefaultStackSize.
std::size_t default_stack_size();

class Scheduler {
 public:
  // This thread's scheduler, or nullptr if it has none yet.
  static Scheduler* current();
  // This thread's scheduler, made on first use (destroyed when the thread exits).
  static Scheduler& this_thread();

  Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;
  ~Scheduler();

  // A new coroutine homed here, queued to run. Any thread may call. The result carries one
  // reference for the caller (release() it, or hand it to a JoinHandle).
  Coroutine* spawn(std::function<void()> fn, const SpawnOptions& options);
  // A new coroutine homed here that runs only when resume()d (libco's co_create). On this thread.
  Coroutine* create(std::function<void()> fn, const SpawnOptions& options, coctx::SharedStack* shared_stack = nullptr);
  // The same for a body without std::function (libco's routines): no allocation but the object.
  Coroutine* create(CoroutineBody body, const SpawnOptions& options, coctx::SharedStack* shared_stack = nullptr);

  // ---- for the running coroutine ----
  static std::uint64_t prepare_park();
  static WakeReason park_until(std::uint64_t ticket, TimePoint deadline, const char* what);
  static bool cancel_park(std::uint64_t ticket);
  // Any thread. True if this call woke the coroutine.
  static bool unpark(Coroutine* coroutine, std::uint64_t ticket, WakeReason reason = WakeReason::kUnparked);
  // unpark in two halves, for a waker that must finish its own bookkeeping before the (possibly
  // slow) eventfd write, since the woken coroutine may already be running on its thread and
  // waiting for that bookkeeping (Baton::post). Returns the scheduler still owed a signal, on
  // which the caller must then call signal_remote(); nullptr if nothing is owed (the unpark lost,
  // or it queued locally).
  static Scheduler* unpark_deferred(Coroutine* coroutine, std::uint64_t ticket, WakeReason reason);
  void signal_remote();
  // A coroutine's short spin on a wait word before it parks (Baton::wait_until). May the
  // running coroutine spin? Only when nothing else could run on its scheduler meanwhile, while
  // cross-thread hand-offs are under way (the last round took coroutines woken by other threads,
  // or the last such spin was posted), while spinning pays (the credit below) and COHOOK_SPIN_US
  // is not 0. A post that lands during the spin costs the poster one store and the waiter no
  // switch, no remote-queue push and no scheduler round.
  static bool may_spin_for_post();
  // Spins until `done` is true: true then (read with acquire). False when the spin ends first:
  // COHOOK_SPIN_US passed, or the deadline, or this scheduler's next timer, or work arrived for
  // it (queued coroutines, interruptions, new coroutines, stop(), a diagnostics safe point).
  static bool spin_for_post(const std::atomic<bool>& done, TimePoint deadline);
  // To the back of the ready queue (a no-op outside a coroutine).
  static void yield();
  // Who wants to know when the running coroutine switches out in park_until or yield (the hook
  // layer's tracer, to time parked calls; sched knows nothing of it): before() runs just before
  // the switch, on the coroutine's stack, and what it returns is handed to after() when the
  // coroutine runs again. Set once, before any coroutine parks; nullptr (the default): none.
  struct ParkObserver {
    void* (*before)();
    void (*after)(void* token);
  };
  static void set_park_observer(const ParkObserver* observer);
  // Parks until the deadline (blocks the thread outside a coroutine). Returns kTimeout.
  static WakeReason sleep_until(TimePoint deadline);
  // Parks until fd is ready for `interest` (poller::kReadable/kWritable), an error or hang-up
  // is reported, it is closed (kFdClosed), or the deadline passes (kTimeout). kNone means it
  // cannot be waited on; errno says why (EPERM: epoll cannot watch this kind of file).
  // kInterrupted inside an InterruptibleCall (sched/interrupt.h). Only inside a coroutine.
  static WakeReason wait_fd(int fd, std::uint32_t interest, TimePoint deadline, const char* what);
  // poll(2) for a coroutine: same arguments, results and errno as the real poll, but waiting
  // parks the coroutine (until an fd is ready, the deadline, or an fd is closed under it).
  // Files epoll cannot watch count as ready, as poll(2) reports them. Only inside a coroutine.
  // Inside an InterruptibleCall, an interruption ends it with -1/EINTR.
  static int poll_fds(struct pollfd* fds, unsigned long nfds, TimePoint deadline);

  // ---- interruptions (contract in sched/interrupt.h; sched/interrupt.cc) ----
  // Both are async-signal-safe and may be called from any thread. source: 1..64.
  // One coroutine: it gets the interruption if it is inside a call that accepts it (now, or
  // later in the same call if it is not parked yet). Green threads use this for pthread_kill.
  static void interrupt(Coroutine* coroutine, int source, InterruptKind kind);
  // Every coroutine homed on `scheduler` that is inside a call accepting the source when the
  // scheduler's loop next runs. The hook layer's policy for a signal handled on that thread.
  static void interrupt_thread(Scheduler* scheduler, int source, InterruptKind kind);
  // The calling thread's scheduler without a TLS wrapper call (initial-exec TLS): usable in a
  // signal handler. nullptr on a thread without one.
  static Scheduler* current_for_signal_handler();

  // ---- the loop (on this scheduler's thread, outside any coroutine) ----
  // One round: run what is ready, fire due timers, then poll for at most max_wait_ms
  // (-1: until something happens; less if a timer is due sooner).
  void run_once(int max_wait_ms);
  // Rounds until every coroutine homed here has finished, or stop() is called.
  void run_until_idle();
  // Makes run_until_idle return after the current round. Any thread.
  void stop();
  // Ends the current or next poll early. Any thread.
  void wake() { poller_.wake(); }

  // Stall reports: when no coroutine has run for this long, none waits for an fd or a timer,
  // and (in a Runtime) every scheduler thread is in the same state, each scheduler lists its
  // parked coroutines on stderr once: a deadlock is reported, never silent. Zero turns it off.
  // Default: COHOOK_STALL_REPORT seconds (10).
  static void set_stall_report_period(std::chrono::milliseconds period);

  // In a forked child, from the running coroutine `survivor` of this thread's scheduler (green
  // mode, sched/fork_child.cc): forgets every other coroutine homed here, as POSIX fork keeps
  // only the calling thread. Their queues, timers and fd waits are dropped unrun (their memory
  // stays, as a vanished thread's stack does), and wake-ups meant for them do nothing.
  void keep_only_after_fork(Coroutine* survivor);

  poller::Poller& poller() { return poller_; }
  TimerHeap& timers() { return timers_; }
  // Coroutines homed here and not yet finished.
  std::size_t live_coroutines() const { return live_.load(std::memory_order_acquire); }
  std::size_t ready_count() const { return ready_count_; }
  // Coroutines waiting to run here, as other threads can see it (placement).
  std::size_t backlog() const {
    return fresh_count_.load(std::memory_order_relaxed) + ready_published_.load(std::memory_order_relaxed);
  }

  // The Runtime this scheduler belongs to, if any (set by Runtime).
  Runtime::State* runtime() const { return runtime_; }
  void set_runtime(Runtime::State* runtime) { runtime_ = runtime; }

 private:
  friend class Coroutine;
  friend class DiagAccess;
  friend class InterruptibleCall;

  // pthread_atfork child handler: only the forking thread lives on; its scheduler keeps its
  // coroutines, with a poller of its own. Coroutines homed on other threads never run again.
  static void rebuild_after_fork();
  // Not-started coroutines spawned in a runtime of several threads wait in a queue of their
  // own, which idle schedulers may steal from (sched/work_stealing.cc).
  void push_fresh(Coroutine* coroutine);  // any thread
  Coroutine* take_fresh();                // home thread: the oldest, or nullptr
  bool try_steal();                       // an idle scheduler: true if it adopted some
  bool peer_has_fresh_work() const;
  void wake_if_sleeping();                // any thread
  Coroutine* adopt(Coroutine* coroutine);  // counts a new coroutine in (create's second half)
  void make_ready(Coroutine* coroutine);       // home thread
  void make_ready_remote(Coroutine* coroutine);  // any other thread: enqueue_remote + signal_remote
  void enqueue_remote(Coroutine* coroutine);     // counts the waker in flight; signal_remote ends it
  // Before sleeping, after a round that took work from other threads: poll the remote queue for
  // a few microseconds, so that a hand-off partner's next wake-up finds us awake (no eventfd
  // write, no epoll round trip). True if work arrived meanwhile.
  bool spin_before_sleep();
  void drain_remote();
  void run_ready();
  void on_finished(Coroutine* coroutine);  // home thread, after its last switch out
  int poll_timeout(int max_wait_ms) const;
  void run_round(int max_wait_ms, bool until_idle);
  void deliver_interrupts();  // sched/interrupt.cc
  static bool interrupt_matches(const Coroutine* coroutine);
  // Stall reports (sched/stall_report.cc).
  static int stall_period_ms();  // 0: off
  void register_started(Coroutine* coroutine);
  void unregister(Coroutine* coroutine);
  void note_progress();
  // Coroutine runs so far on every scheduler of this one's runtime (on this one alone outside a
  // runtime): unchanged over a period means no coroutine ran anywhere during it.
  std::uint64_t runtime_progress() const;
  void note_idle_period(std::uint64_t progress_before, TimePoint slept_since);
  void report_parked_coroutines();

  poller::Poller poller_;
  TimerHeap timers_;
  Coroutine* ready_head_ = nullptr;
  Coroutine* ready_tail_ = nullptr;
  std::size_t ready_count_ = 0;
  // Rounds that ran a coroutine. Written by this thread only; read by others for stall reports.
  std::atomic<std::uint64_t> progress_{0};
  std::atomic<std::size_t> live_{0};

  // Coroutines queued here by other threads: a lock-free LIFO stack (push: one CAS), which
  // drain_remote takes whole and reverses into arrival order. A waker that queued a coroutine
  // may still be reading sleeping_ when that coroutine has run and its scheduler is exiting:
  // remote_wakers_ counts wakers in flight, and the destructor waits for them.
  // remote_head_ and sleeping_ share a line that nothing else writes: a spinning scheduler or
  // coroutine polls it, and a waker's push is then one transfer of it. remote_wakers_, which
  // every waker changes twice, and the fields this thread writes every round live elsewhere.
  alignas(64) std::atomic<Coroutine*> remote_head_{nullptr};
  std::atomic<bool> sleeping_{false};
  alignas(64) std::atomic<int> remote_wakers_{0};
  bool remote_pending() const { return remote_head_.load(std::memory_order_acquire) != nullptr; }
  // Whether the last round took coroutines from the remote queue (or a spin caught some): only
  // then may the scheduler spin before it sleeps, so an idle one never spins.
  bool remote_recent_ = false;
  // The spin lasts COHOOK_SPIN_US (50): longer than the partner's own wake-up from epoll_wait
  // takes on a VM (about 30 us here: the host must reschedule a halted vCPU), so that one side's
  // sleep does not make the other's spin fail and both fall back to eventfd wake-ups.
  // Spinning pays only while the hand-off partner runs at the same time as we do; on a machine
  // with more runnable threads than cores it mostly fails and takes the partner's CPU. Each
  // success adds credit, each failure takes more away; at zero the scheduler stops spinning and
  // tries again only every kSpinProbeEvery eligible sleeps.
  alignas(64) int spin_credit_ = kSpinCreditMax;
  unsigned spin_skipped_ = 0;
  // The same for coroutines spinning on a wait word (spin_for_post), kept apart: a spin that a
  // post ends says hand-offs are under way even when no coroutine came through the remote queue.
  int post_spin_credit_ = kSpinCreditMax;
  unsigned post_spin_skipped_ = 0;
  bool post_spin_won_ = false;  // the last spin_for_post was ended by the post
  // Posted spins since this thread's loop last ran a round: a coroutine whose waits all end in
  // the spin never goes back to the loop, and fd events, timers and diagnostics' safe points
  // are served only there, so after kPostSpinsPerRound of them its next wait parks.
  unsigned post_spins_this_round_ = 0;
  static constexpr unsigned kPostSpinsPerRound = 32;
  static constexpr int kSpinCreditMax = 16;
  static constexpr int kSpinFailureCost = 4;
  static constexpr unsigned kSpinProbeEvery = 64;
  bool should_spin();
  // Read by spinners, written rarely.
  alignas(64) std::atomic<bool> stop_requested_{false};
  // Posted by interrupt()/interrupt_thread() (async-signal-safe), taken by deliver_interrupts().
  std::atomic<bool> interrupts_posted_{false};
  std::atomic<std::uint64_t> thread_restart_{0};
  std::atomic<std::uint64_t> thread_no_restart_{0};

  // Fresh (not started) coroutines: guarded by fresh_lock_, linked through next_ready_.
  alignas(64) detail::SpinLock fresh_lock_;
  Coroutine* fresh_head_ = nullptr;
  Coroutine* fresh_tail_ = nullptr;
  std::atomic<std::size_t> fresh_count_{0};
  // When this scheduler last took from its fresh queue, or the queue last became non-empty: a
  // queue that its owner has not touched for kStealAfter means the owner is busy (a coroutine
  // that runs without parking), and idle schedulers take half of it.
  std::atomic<std::int64_t> fresh_touched_ns_{0};
  std::atomic<std::size_t> ready_published_{0};  // ready_count_ as of the last round, for placement
  bool stealing_disabled_ = false;  // in a forked child
  static constexpr std::chrono::milliseconds kStealAfter{1};
  static constexpr std::size_t kFreshPerRound = 32;

  alignas(64) Runtime::State* runtime_ = nullptr;
  std::size_t fd_waiters_ = 0;        // coroutines in wait_fd / poll_fds
  Coroutine* started_head_ = nullptr;  // started, unfinished coroutines homed here
  bool stalled_ = false;
  bool stall_reported_ = false;
  static constexpr unsigned kBusyRoundsPerPoll = 8;
  unsigned busy_rounds_ = 0;  // rounds in a row that found coroutines ready
};

}  // namespace cohook
