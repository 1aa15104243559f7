// Stall reports: a runtime whose coroutines all wait on each other would otherwise hang without a
// word. A scheduler that slept a whole stall period of wall-clock time, during which no coroutine
// ran on any scheduler of its runtime, and that has no fd wait and no timer, marks itself
// stalled; once every scheduler of its runtime is stalled, each one lists its parked coroutines
// on stderr, once per stall. A poll that merely returned early (a wake-up eventfd with no work
// left by the time it is read, a signal) proves nothing and is not counted: counting it let two
// such blips on two busy threads report a deadlock 0.02 s into a pipeline. "Possible": a coroutine may be waiting for a
// plain thread or a DNS lookup that is merely slow.
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstdio>

#include "sched/config.h"
#include "sched/runtime_state.h"
#include "sched/scheduler.h"

namespace cohook {
namespace {

std::atomic<long long> g_stall_period_ms{-1};  // -1: not yet read from the environment

}  // namespace

int Scheduler::stall_period_ms() {
  long long ms = g_stall_period_ms.load(std::memory_order_relaxed);
  if (ms < 0) {
    ms = static_cast<long long>(config().stall_report_seconds) * 1000;
    g_stall_period_ms.store(ms, std::memory_order_relaxed);
  }
  return static_cast<int>(ms);
}

void Scheduler::set_stall_report_period(std::chrono::milliseconds period) {
  g_stall_period_ms.store(period.count() > 0 ? period.count() : 0, std::memory_order_relaxed);
}

void Scheduler::register_started(Coroutine* coroutine) {
  coroutine->prev_started_ = nullptr;
  coroutine->next_started_ = started_head_;
  if (started_head_ != nullptr) started_head_->prev_started_ = coroutine;
  started_head_ = coroutine;
}

void Scheduler::unregister(Coroutine* coroutine) {
  if (coroutine->prev_started_ != nullptr) coroutine->prev_started_->next_started_ = coroutine->next_started_;
  else if (started_head_ == coroutine) started_head_ = coroutine->next_started_;
  else return;  // never started
  if (coroutine->next_started_ != nullptr) coroutine->next_started_->prev_started_ = coroutine->prev_started_;
  coroutine->prev_started_ = coroutine->next_started_ = nullptr;
}

void Scheduler::note_progress() {
  if (!stalled_) return;
  stalled_ = false;
  stall_reported_ = false;
  if (runtime_ != nullptr) runtime_->stalled.fetch_sub(1, std::memory_order_acq_rel);
}

std::uint64_t Scheduler::runtime_progress() const {
  if (runtime_ == nullptr) return progress_.load(std::memory_order_relaxed);
  std::uint64_t sum = 0;
  for (const Scheduler* s : runtime_->schedulers) sum += s->progress_.load(std::memory_order_relaxed);
  return sum;
}

void Scheduler::note_idle_period(std::uint64_t progress_before, TimePoint slept_since) {
  if (Clock::now() - slept_since < std::chrono::milliseconds(stall_period_ms())) return;
  if (runtime_progress() != progress_before) return;
  bool nothing_can_wake_us = ready_count_ == 0 && timers_.empty() && fd_waiters_ == 0 &&
                             !remote_pending();
  if (!nothing_can_wake_us) return;
  if (!stalled_) {
    stalled_ = true;
    if (runtime_ != nullptr) runtime_->stalled.fetch_add(1, std::memory_order_acq_rel);
  }
  if (stall_reported_) return;
  if (runtime_ != nullptr) {
    bool all_stalled = runtime_->stalled.load(std::memory_order_acquire) == static_cast<int>(runtime_->schedulers.size());
    if (!all_stalled || runtime_->live.load(std::memory_order_acquire) == 0) return;
  }
  stall_reported_ = true;
  if (live_coroutines() > 0) report_parked_coroutines();
}

void Scheduler::report_parked_coroutines() {
  std::fprintf(stderr,
               "cohook: possible deadlock: for %d ms no coroutine has run and none waits for an fd or a timer "
               "(COHOOK_STALL_REPORT=0 turns this report off). Coroutines on thread %lu:\n",
               stall_period_ms(), static_cast<unsigned long>(pthread_self()));
  for (Coroutine* c = started_head_; c != nullptr; c = c->next_started_) {
    const char* what = c->wait_what();
    std::fprintf(stderr, "  #%llu '%s' %s%s%s\n", static_cast<unsigned long long>(c->id()), c->name(),
                 to_string(c->state()), what != nullptr ? " on " : "", what != nullptr ? what : "");
  }
  std::fflush(stderr);
}

}  // namespace cohook
