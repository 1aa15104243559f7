// What the scheduler tells the diagnostics (dumps, hog reports, lock cycles, deadlock exit), and
// the few calls it makes into them. Each is a load or a store on the hot path; the work happens
// on cohook's diagnostics thread or at a scheduler's safe point (between rounds, where none of
// its coroutines is half-way through a switch).
#pragma once

#include <time.h>

#include <atomic>
#include <cstdint>

namespace cohook {
class Scheduler;
}

namespace cohook::diag {

// Coarse monotonic milliseconds (CLOCK_MONOTONIC_COARSE: a vDSO read, a few ns, tick-sized
// resolution), for "parked for how long".
inline std::int64_t coarse_now_ms() {
  timespec now;
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1'000'000;
}

// The diagnostics thread's clock, refreshed at each of its rounds (every COHOOK_HOG_REPORT/4
// ms) while the hog watchdog runs; 0 when it does not.
extern std::atomic<std::int64_t> g_tick_ms;
// "Now" for the park path: a load when the watchdog ticks (a clock read measured 15 ns on the
// development VM, a park a few hundred), else the coarse clock.
inline std::int64_t park_clock_ms() {
  std::int64_t tick = g_tick_ms.load(std::memory_order_relaxed);
  return tick != 0 ? tick : coarse_now_ms();
}

// Per-thread switch count for the hog watchdog: bumped by 2 at every switch, low bit set while a
// coroutine runs. Read by the watchdog thread, written only by its own thread.
extern constinit thread_local std::atomic<std::uint64_t> t_switch_epoch __attribute__((tls_model("initial-exec")));
inline void note_switch(bool coroutine_runs_now) {
  std::uint64_t next = ((t_switch_epoch.load(std::memory_order_relaxed) + 2) & ~std::uint64_t{1}) | coroutine_runs_now;
  t_switch_epoch.store(next, std::memory_order_relaxed);
}

// Set while some scheduler is asked to do diagnostics work at its next safe point.
extern std::atomic<bool> g_safe_point_requested;
void serve_safe_point(Scheduler* scheduler);
// Called by the scheduler loop once per round.
inline void safe_point(Scheduler* scheduler) {
  if (g_safe_point_requested.load(std::memory_order_relaxed)) serve_safe_point(scheduler);
}

// Scheduler construction and destruction, on the scheduler's own thread.
void register_scheduler(Scheduler* scheduler);
void unregister_scheduler(Scheduler* scheduler);

}  // namespace cohook::diag
