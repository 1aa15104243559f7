#include "sched/scheduler.h"

#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <new>
#include <thread>

#include "sched/real_locks.h"
#include "sched/config.h"
#include "sched/diag.h"
#include "sched/runtime_state.h"
#include "sched/spin_wait.h"
#include "sched/stack_overflow.h"

namespace cohook {

namespace {

// initial-exec: a signal handler reads it (Scheduler::current_for_signal_handler).
constinit thread_local Scheduler* t_scheduler __attribute__((tls_model("initial-exec"))) = nullptr;

void on_park_timeout(Timer* timer) {
  auto* coroutine = static_cast<Coroutine*>(timer->context);
  Scheduler::unpark(coroutine, coroutine->park_ticket(), WakeReason::kTimeout);
}

Coroutine* running_coroutine(const char* operation) {
  Coroutine* coroutine = Coroutine::current();
  if (coroutine == nullptr) {
    std::fprintf(stderr, "cohook: %s called outside a coroutine\n", operation);
    std::abort();
  }
  return coroutine;
}

}  // namespace

Scheduler* Scheduler::current() { return t_scheduler; }
Scheduler* Scheduler::current_for_signal_handler() { return t_scheduler; }

Scheduler& Scheduler::this_thread() {
  if (t_scheduler == nullptr) {
    static thread_local std::unique_ptr<Scheduler> owned;
    owned = std::make_unique<Scheduler>();
  }
  return *t_scheduler;
}

Scheduler::Scheduler() {
  if (t_scheduler == nullptr) t_scheduler = this;
  install_stack_overflow_handler();
  diag::register_scheduler(this);
  static std::once_flag atfork_once;
  std::call_once(atfork_once, [] { ::pthread_atfork(nullptr, nullptr, &Scheduler::rebuild_after_fork); });
}

void Scheduler::rebuild_after_fork() {
  poller::Poller::rebuild_after_fork();
  Scheduler* self = t_scheduler;
  if (self == nullptr) return;
  // A waker on a thread that did not survive the fork may have been counted in flight, or have
  // held the fresh queue's lock. Peers are gone: nothing is stolen from them (their locks may be
  // held forever), and what waits in their queues never runs, as for their other coroutines.
  self->remote_wakers_.store(0, std::memory_order_relaxed);
  new (&self->fresh_lock_) detail::SpinLock();
  self->stealing_disabled_ = true;
  self->sleeping_.store(false, std::memory_order_relaxed);
}

Scheduler::~Scheduler() {
  diag::unregister_scheduler(this);
  if (t_scheduler == this) t_scheduler = nullptr;
  int spins = 0;
  while (remote_wakers_.load(std::memory_order_acquire) != 0) spin_then_yield(spins);
}

Coroutine* Scheduler::create(std::function<void()> fn, const SpawnOptions& options,
                             coctx::SharedStack* shared_stack) {
  return adopt(Coroutine::make(this, std::move(fn), options.stack_size, options.name, shared_stack));
}

Coroutine* Scheduler::create(CoroutineBody body, const SpawnOptions& options, coctx::SharedStack* shared_stack) {
  return adopt(Coroutine::make(this, body, options.stack_size, options.name, shared_stack));
}

Coroutine* Scheduler::adopt(Coroutine* coroutine) {
  coroutine->add_ref();  // one for the caller, one held here until it finishes
  live_.fetch_add(1, std::memory_order_acq_rel);
  if (runtime_ != nullptr) runtime_->live.fetch_add(1, std::memory_order_acq_rel);
  return coroutine;
}

Coroutine* Scheduler::spawn(std::function<void()> fn, const SpawnOptions& options) {
  Coroutine* coroutine = create(std::move(fn), options);
  if (runtime_ != nullptr && runtime_->schedulers.size() > 1) push_fresh(coroutine);
  else if (t_scheduler == this) make_ready(coroutine);
  else make_ready_remote(coroutine);
  return coroutine;
}

void Scheduler::on_finished(Coroutine* coroutine) {
  unregister(coroutine);
  coroutine->release_stack();
  live_.fetch_sub(1, std::memory_order_acq_rel);
  Runtime::State* runtime = runtime_;
  coroutine->release();
  if (runtime != nullptr) runtime->coroutine_finished();
}

std::uint64_t Scheduler::prepare_park() {
  Coroutine* self = running_coroutine("prepare_park");
  std::uint64_t ticket = ++self->last_ticket_;
  self->wake_reason_ = WakeReason::kNone;
  self->armed_ticket_.store(ticket, std::memory_order_release);
  return ticket;
}

bool Scheduler::cancel_park(std::uint64_t ticket) {
  Coroutine* self = running_coroutine("cancel_park");
  std::uint64_t expected = ticket;
  return self->armed_ticket_.compare_exchange_strong(expected, 0, std::memory_order_acq_rel);
}

namespace {
const Scheduler::ParkObserver* g_park_observer = nullptr;

// Out of line: its token would otherwise take a register, and so stack room, in every parked
// frame (see park_until).
[[gnu::noinline]] void switch_out_with_observer(Coroutine* self, const Scheduler::ParkObserver* observer,
                                                void (*switch_out)(Coroutine*)) {
  void* token = observer->before();
  switch_out(self);
  observer->after(token);
}

// Switches the running coroutine out, telling the observer (if any) on both sides.
inline void switch_out_observed(Coroutine* self, void (*switch_out)(Coroutine*)) {
  const Scheduler::ParkObserver* observer = g_park_observer;
  if (observer == nullptr) [[likely]] {
    switch_out(self);
    return;
  }
  switch_out_with_observer(self, observer, switch_out);
}
}  // namespace

void Scheduler::set_park_observer(const ParkObserver* observer) { g_park_observer = observer; }

WakeReason Scheduler::park_until(std::uint64_t ticket, TimePoint deadline, const char* what) {
  // This frame stays on the parked coroutine's stack, and a shared stack's parks copy it away
  // and back: everything but the switch is out of line, so that only `self` lives across it.
  // False: an interruption arrived during the call before this park; do not sleep at all.
  auto arm = [](Coroutine* self, std::uint64_t ticket, TimePoint deadline, const char* what)
                 __attribute__((noinline)) {
    check_no_real_lock_held(what);
    if (self->in_interruptible_call_ && interrupt_matches(self) && cancel_park(ticket)) {
      self->clear_posted_interrupts();
      self->wait_what_ = nullptr;
      self->wait_fd_ = -1;
      return false;
    }
    if (deadline != kNoDeadline) {
      ParkTimer& timer = self->park_timer_;
      timer.deadline = deadline;
      timer.fire = &on_park_timeout;
      timer.context = self;  // fires with park_ticket(), which is `ticket` until we run again
      self->home_->timers_.add(&timer);
    }
    self->wait_what_ = what;
    self->parked_since_ms_ = diag::park_clock_ms();
    if (self->armed_ticket_.load(std::memory_order_acquire) == ticket)
      self->state_.store(CoroutineState::kParked, std::memory_order_relaxed);
    return true;
  };
  Coroutine* self = running_coroutine("park_until");
  if (!arm(self, ticket, deadline, what)) return WakeReason::kInterrupted;
  switch_out_observed(self, [](Coroutine* c) { c->switch_to_resumer_out_of_line(); });
  if (self->park_timer_.queued()) self->home_->timers_.cancel(&self->park_timer_);
  self->wait_what_ = nullptr;
  self->wait_fd_ = -1;
  return self->wake_reason_;
}

bool Scheduler::unpark(Coroutine* coroutine, std::uint64_t ticket, WakeReason reason) {
  std::uint64_t expected = ticket;
  if (!coroutine->armed_ticket_.compare_exchange_strong(expected, 0, std::memory_order_acq_rel)) return false;
  coroutine->wake_reason_ = reason;  // the winner alone writes it, before queueing publishes it
  Scheduler* home = coroutine->home_;
  if (t_scheduler == home) home->make_ready(coroutine);
  else home->make_ready_remote(coroutine);
  return true;
}

void Scheduler::yield() {
  Coroutine* self = Coroutine::current();
  if (self == nullptr) {
    std::this_thread::yield();
    return;
  }
  self->home_->make_ready(self);
  switch_out_observed(self, [](Coroutine* c) { c->switch_to_resumer_out_of_line(); });
}

WakeReason Scheduler::sleep_until(TimePoint deadline) {
  if (Coroutine::current() == nullptr) {
    std::this_thread::sleep_until(deadline);
    return WakeReason::kTimeout;
  }
  // Nobody else is given this ticket, so only the timer ends the park.
  return park_until(prepare_park(), deadline, "sleep");
}

void Scheduler::make_ready(Coroutine* coroutine) {
  coroutine->next_ready_ = nullptr;
  if (ready_tail_ != nullptr) ready_tail_->next_ready_ = coroutine;
  else ready_head_ = coroutine;
  ready_tail_ = coroutine;
  ++ready_count_;
  coroutine->state_.store(CoroutineState::kReady, std::memory_order_relaxed);
}

void Scheduler::make_ready_remote(Coroutine* coroutine) {
  enqueue_remote(coroutine);
  signal_remote();
}

void Scheduler::enqueue_remote(Coroutine* coroutine) {
  // Counted before the coroutine becomes visible: once it is, its home may run it, finish every
  // coroutine and exit; the destructor waits until signal_remote is done with *this.
  remote_wakers_.fetch_add(1, std::memory_order_seq_cst);
  Coroutine* head = remote_head_.load(std::memory_order_relaxed);
  do {
    coroutine->next_ready_ = head;
  } while (!remote_head_.compare_exchange_weak(head, coroutine, std::memory_order_seq_cst, std::memory_order_relaxed));
}

void Scheduler::signal_remote() {
  // Dekker pairing with run_round: we publish work then look for a sleeper; it publishes that
  // it sleeps then looks for work. With both seq_cst, at least one of us sees the other. Only
  // a scheduler that is (about to be) in epoll_wait needs the eventfd, and only once: the first
  // waker to clear the flag writes it; later ones see the wake-up under way. A scheduler that
  // is running or spinning (spin_before_sleep) has not set the flag: no system call at all.
  if (sleeping_.load(std::memory_order_seq_cst) && sleeping_.exchange(false, std::memory_order_seq_cst))
    poller_.wake();
  remote_wakers_.fetch_sub(1, std::memory_order_release);
}

Scheduler* Scheduler::unpark_deferred(Coroutine* coroutine, std::uint64_t ticket, WakeReason reason) {
  std::uint64_t expected = ticket;
  if (!coroutine->armed_ticket_.compare_exchange_strong(expected, 0, std::memory_order_acq_rel)) return nullptr;
  coroutine->wake_reason_ = reason;
  Scheduler* home = coroutine->home_;
  if (t_scheduler == home) {
    home->make_ready(coroutine);
    return nullptr;
  }
  home->enqueue_remote(coroutine);
  return home;
}

bool Scheduler::should_spin() {
  if (spin_credit_ > 0) return true;
  if (++spin_skipped_ < kSpinProbeEvery) return false;
  spin_skipped_ = 0;
  return true;
}

bool Scheduler::spin_before_sleep() {
  // Bounded by time, read every few pauses (the vDSO clock costs tens of ns, a pause about as
  // much). Anything a sleep would be woken for ends the spin: queued coroutines, interruptions,
  // new coroutines, stop(). fd events and timers wait at most the spin's length, and only
  // while cross-thread hand-offs are under way.
  static const auto spin = std::chrono::microseconds(config().spin_us);
  if (spin.count() == 0 || !should_spin()) return false;
  TimePoint until = Clock::now() + spin;
  for (;;) {
    for (int i = 0; i < 16; ++i) {
      if (remote_head_.load(std::memory_order_relaxed) != nullptr ||
          interrupts_posted_.load(std::memory_order_relaxed) || fresh_count_.load(std::memory_order_relaxed) != 0 ||
          stop_requested_.load(std::memory_order_relaxed)) {
        spin_credit_ = std::min(spin_credit_ + 1, kSpinCreditMax);
        return true;
      }
      spin_pause();
    }
    if (Clock::now() >= until) {
      spin_credit_ = std::max(spin_credit_ - kSpinFailureCost, 0);
      return false;
    }
  }
}

bool Scheduler::may_spin_for_post() {
  static const int spin_us = config().spin_us;
  Scheduler* self = t_scheduler;
  Coroutine* running = Coroutine::current();
  // A coroutine resumed by another one (libco's co_resume) hands its resumer the thread when it
  // parks: it must not keep it.
  if (spin_us == 0 || self == nullptr || running == nullptr || running->previous_ != nullptr || running->home_ != self)
    return false;
  if (!self->remote_recent_ && !self->post_spin_won_) return false;
  if (self->post_spins_this_round_ >= kPostSpinsPerRound ||
      diag::g_safe_point_requested.load(std::memory_order_relaxed))
    return false;
  if (self->ready_count_ != 0 || self->remote_head_.load(std::memory_order_relaxed) != nullptr ||
      self->fresh_count_.load(std::memory_order_relaxed) != 0 ||
      self->interrupts_posted_.load(std::memory_order_relaxed) || self->stop_requested_.load(std::memory_order_relaxed))
    return false;
  if (self->post_spin_credit_ > 0) return true;
  if (++self->post_spin_skipped_ < kSpinProbeEvery) return false;
  self->post_spin_skipped_ = 0;
  return true;
}

bool Scheduler::spin_for_post(const std::atomic<bool>& done, TimePoint deadline) {
  static const auto spin = std::chrono::microseconds(config().spin_us);
  Scheduler* self = t_scheduler;
  TimePoint full = Clock::now() + spin;
  TimePoint until = std::min({full, deadline, self->timers_.next_deadline()});
  for (;;) {
    // The flag every pause (its line is the only one a poster writes to end the spin), the rest
    // and the clock every few.
    for (int i = 0; i < 16; ++i) {
      if (done.load(std::memory_order_acquire)) {
        self->post_spin_credit_ = std::min(self->post_spin_credit_ + 1, kSpinCreditMax);
        self->post_spin_won_ = true;
        ++self->post_spins_this_round_;
        // For the hog watchdog the coroutine waited, as a park and resume would have shown.
        diag::note_switch(true);
        return true;
      }
      spin_pause();
    }
    if (self->remote_head_.load(std::memory_order_relaxed) != nullptr ||
        self->interrupts_posted_.load(std::memory_order_relaxed) ||
        self->fresh_count_.load(std::memory_order_relaxed) != 0 ||
        self->stop_requested_.load(std::memory_order_relaxed) ||
        diag::g_safe_point_requested.load(std::memory_order_relaxed))
      return false;  // not the spin's failure: this thread has other work
    if (Clock::now() >= until) {
      if (until == full) {  // a deadline or a timer that cut it short says nothing of the spin
        self->post_spin_credit_ = std::max(self->post_spin_credit_ - kSpinFailureCost, 0);
        self->post_spin_won_ = false;
      }
      return false;
    }
  }
}

void Scheduler::drain_remote() {
  if (remote_head_.load(std::memory_order_relaxed) == nullptr) return;
  Coroutine* stack = remote_head_.exchange(nullptr, std::memory_order_acquire);
  if (stack == nullptr) return;
  remote_recent_ = true;
  Coroutine* chain = nullptr;  // reversed: first queued first
  while (stack != nullptr) {
    Coroutine* next = stack->next_ready_;
    stack->next_ready_ = chain;
    chain = stack;
    stack = next;
  }
  while (chain != nullptr) {
    Coroutine* next = chain->next_ready_;
    make_ready(chain);
    chain = next;
  }
}

void Scheduler::run_ready() {
  // Only what is ready now: a coroutine that yields in a loop must not starve I/O and timers.
  std::size_t budget = ready_count_;
  bool fresh = fresh_count_.load(std::memory_order_relaxed) != 0;
  if (budget > 0 || fresh) {
    progress_.store(progress_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (stalled_) note_progress();
  }
  while (budget-- > 0 && ready_head_ != nullptr) {
    Coroutine* coroutine = ready_head_;
    ready_head_ = coroutine->next_ready_;
    if (ready_head_ == nullptr) ready_tail_ = nullptr;
    --ready_count_;
    coroutine->next_ready_ = nullptr;
    if (ready_head_ != nullptr) ready_head_->prefetch_resume();
    coroutine->resume();
  }
  // Then a few not-started ones, each taken from the fresh queue only as it starts: while it
  // waits there, an idle peer may still take it (sched/work_stealing.cc).
  for (std::size_t n = 0; fresh && n < kFreshPerRound; ++n) {
    Coroutine* coroutine = take_fresh();
    if (coroutine == nullptr) break;
    coroutine->resume();
  }
}

int Scheduler::poll_timeout(int max_wait_ms) const {
  if (ready_count_ > 0 || fresh_count_.load(std::memory_order_relaxed) > 0 ||
      stop_requested_.load(std::memory_order_relaxed))
    return 0;
  TimePoint next = timers_.next_deadline();
  if (next == kNoDeadline) return max_wait_ms;
  auto until = next - Clock::now();
  if (until <= Clock::duration::zero()) return 0;
  // Round up: waking before the deadline would only spin.
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(until).count();
  if (ms > 24 * 3600 * 1000) ms = 24 * 3600 * 1000;
  int timer_ms = static_cast<int>(ms);
  return max_wait_ms < 0 ? timer_ms : std::min(timer_ms, max_wait_ms);
}

void Scheduler::run_once(int max_wait_ms) { run_round(max_wait_ms, false); }

void Scheduler::run_round(int max_wait_ms, bool until_idle) {
  diag::safe_point(this);
  if (interrupts_posted_.load(std::memory_order_relaxed)) deliver_interrupts();
  remote_recent_ = false;
  post_spins_this_round_ = 0;
  drain_remote();
  ready_published_.store(ready_count_, std::memory_order_relaxed);
  run_ready();
  if (!timers_.empty()) timers_.fire_expired(Clock::now());
  int timeout = poll_timeout(max_wait_ms);
  if (timeout != 0 && runtime_ != nullptr && runtime_->schedulers.size() > 1) {
    // Idle: take not-started coroutines from a scheduler that has not looked at them for a
    // while; if one has some that are younger, look again once they are old enough.
    if (try_steal()) timeout = 0;
    else if (peer_has_fresh_work() && (timeout < 0 || timeout > kStealAfter.count()))
      timeout = static_cast<int>(kStealAfter.count());
  }
  // The last coroutine may have just finished: nothing is left that could end a long sleep.
  if (until_idle && live_.load(std::memory_order_acquire) == 0) timeout = 0;
  // Cross-thread hand-offs under way: stay awake a moment for the partner's next one.
  if (timeout != 0 && remote_recent_ && spin_before_sleep()) timeout = 0;
  // An unbounded sleep is cut into stall periods, so that a deadlock gets reported.
  int stall_period = stall_period_ms();
  bool unbounded = timeout < 0 && stall_period > 0;
  std::uint64_t progress_before = 0;
  TimePoint slept_since{};
  if (unbounded) {
    timeout = stall_period;
    progress_before = runtime_progress();
    slept_since = Clock::now();
  }
  if (timeout != 0) {
    sleeping_.store(true, std::memory_order_seq_cst);
    if (remote_head_.load(std::memory_order_seq_cst) != nullptr) timeout = 0;
    busy_rounds_ = 0;
  } else if (++busy_rounds_ % kBusyRoundsPerPoll != 0) {
    // Coroutines are ready: a non-blocking epoll_wait every round would cost a system call per
    // round; one every few rounds still lets fd events in promptly.
    if (!timers_.empty()) timers_.fire_expired(Clock::now());
    return;
  }
  int woken = poller_.poll(timeout);
  sleeping_.store(false, std::memory_order_relaxed);
  // A handler that ran inside epoll_wait posted for coroutines that would otherwise wait on.
  if (interrupts_posted_.load(std::memory_order_relaxed)) deliver_interrupts();
  if (!timers_.empty()) timers_.fire_expired(Clock::now());
  if (unbounded && woken == 0) note_idle_period(progress_before, slept_since);
}

void Scheduler::run_until_idle() {
  while (live_.load(std::memory_order_acquire) > 0 && !stop_requested_.load(std::memory_order_acquire))
    run_round(-1, true);
  stop_requested_.store(false, std::memory_order_relaxed);
}

void Scheduler::stop() {
  stop_requested_.store(true, std::memory_order_seq_cst);
  if (t_scheduler != this) wake();
}

}  // namespace cohook
