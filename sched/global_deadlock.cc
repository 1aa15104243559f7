#include "sched/global_deadlock.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <utility>
#include <vector>

#include "cohook/debug.hpp"
#include "sched/diag_registry.h"
#include "sched/diag_thread.h"
#include "sched/dump.h"

namespace cohook::diag {
namespace {

std::atomic<int> g_period_ms{-1};
std::atomic<bool (*)()> g_outside_work{nullptr};
std::atomic<bool> g_every_scheduler{false};
std::atomic<int> g_outside_waits{0};
// The previous check's view and the switch counts seen then (diagnostics thread only). Never
// destroyed: the thread outlives static destructors at exit.
std::vector<SchedulerState>& g_previous = *new std::vector<SchedulerState>;
std::vector<std::pair<int, std::uint64_t>>& g_previous_epochs = *new std::vector<std::pair<int, std::uint64_t>>;

bool all_asleep(const Collection& c) {
  if (!c.silent.empty() || c.states.empty()) return false;
  std::size_t live = 0;
  bool counted = g_every_scheduler.load(std::memory_order_relaxed);
  for (const SchedulerState& s : c.states) {
    if (!s.idle) return false;
    live += s.live;
    counted = counted || s.in_runtime;
  }
  return counted && live > 0;
}

// No scheduler switched between the two views: nothing ran in between.
bool unchanged_since_previous(const Collection& c) {
  if (g_previous.size() != c.states.size()) return false;
  for (const SchedulerState& now : c.states) {
    bool matched = false;
    for (const SchedulerState& before : g_previous)
      if (before.index == now.index) matched = before.switch_epoch == now.switch_epoch && before.idle;
    if (!matched) return false;
  }
  return true;
}

// A first look that wakes nobody: a scheduler that switched coroutines since the last check is
// busy, and a busy program pays nothing more for the check.
bool some_scheduler_switched() {
  std::vector<std::pair<int, std::uint64_t>> epochs;
  for_each_slot([&](SchedulerSlot& s) { epochs.emplace_back(s.index, s.switch_epoch->load(std::memory_order_relaxed)); });
  bool switched = epochs != g_previous_epochs;
  g_previous_epochs = std::move(epochs);
  return switched;
}

bool outside_may_wake() {
  if (g_outside_waits.load(std::memory_order_acquire) > 0) return true;
  bool (*outside)() = g_outside_work.load(std::memory_order_acquire);
  return outside != nullptr && outside();
}

}  // namespace

int global_deadlock_period_ms() { return g_period_ms.load(std::memory_order_relaxed); }

void check_global_deadlock() {
  if (some_scheduler_switched()) {
    g_previous.clear();
    return;
  }
  Collection probe = collect(nullptr, std::chrono::milliseconds(500), /*describe=*/false);
  bool asleep = all_asleep(probe) && !outside_may_wake();
  bool deadlocked = asleep && unchanged_since_previous(probe);
  g_previous = asleep ? probe.states : std::vector<SchedulerState>{};
  if (!deadlocked) return;
  Collection everything = collect(nullptr, std::chrono::seconds(1));
  // Looked at again after the stacks were taken: a signal or a plain thread may have come in
  // meanwhile, and a false verdict would kill a healthy program.
  if (!all_asleep(everything) || outside_may_wake() || !unchanged_since_previous(everything)) return;
  std::string text = format_dump(everything, "global deadlock");
  text += "\nall coroutines are asleep - deadlock!\n";
  write_stderr(text);
  ::_exit(2);
}

void enable_global_deadlock_for_every_scheduler(bool (*outside_work)(), std::chrono::milliseconds period) {
  g_outside_work.store(outside_work, std::memory_order_release);
  g_every_scheduler.store(true, std::memory_order_relaxed);
  set_exit_on_global_deadlock(true, period);
}

void begin_outside_wait() { g_outside_waits.fetch_add(1, std::memory_order_acq_rel); }
void end_outside_wait() { g_outside_waits.fetch_sub(1, std::memory_order_acq_rel); }

}  // namespace cohook::diag

namespace cohook {

void set_exit_on_global_deadlock(bool enabled, std::chrono::milliseconds check_period) {
  int ms = static_cast<int>(std::max<long long>(10, check_period.count()));
  diag::g_period_ms.store(enabled ? ms : -1, std::memory_order_relaxed);
  diag::post_to_diag_thread([] {});  // wakes it to take up the new period
}

}  // namespace cohook
