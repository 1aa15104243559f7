#include "sched/global_deadlock.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <vector>

#include "cohook/debug.hpp"
#include "sched/diag_registry.h"
#include "sched/diag_thread.h"
#include "sched/dump.h"

namespace cohook::diag {
namespace {

std::atomic<int> g_period_ms{-1};
std::atomic<bool (*)()> g_outside_work{nullptr};
// The previous check's view (diagnostics thread only). Never destroyed: the thread outlives
// static destructors at exit.
std::vector<SchedulerState>& g_previous = *new std::vector<SchedulerState>;

bool all_asleep(const Collection& c) {
  if (!c.silent.empty() || c.states.empty()) return false;
  std::size_t live = 0;
  bool any_runtime = false;
  for (const SchedulerState& s : c.states) {
    if (!s.idle) return false;
    live += s.live;
    any_runtime = any_runtime || s.in_runtime;
  }
  return any_runtime && live > 0;
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

}  // namespace

int global_deadlock_period_ms() { return g_period_ms.load(std::memory_order_relaxed); }

void set_outside_work_probe(bool (*busy)()) { g_outside_work.store(busy, std::memory_order_relaxed); }

void check_global_deadlock() {
  Collection probe = collect(nullptr, std::chrono::milliseconds(500), /*describe=*/false);
  bool (*outside)() = g_outside_work.load(std::memory_order_relaxed);
  bool asleep = all_asleep(probe) && (outside == nullptr || !outside());
  bool deadlocked = asleep && unchanged_since_previous(probe);
  g_previous = asleep ? probe.states : std::vector<SchedulerState>{};
  if (!deadlocked) return;
  Collection everything = collect(nullptr, std::chrono::seconds(1));
  std::string text = format_dump(everything, "global deadlock");
  text += "\nall coroutines are asleep - deadlock!\n";
  write_stderr(text);
  ::_exit(2);
}

}  // namespace cohook::diag

namespace cohook {

void set_exit_on_global_deadlock(bool enabled, std::chrono::milliseconds check_period) {
  int ms = static_cast<int>(std::max<long long>(10, check_period.count()));
  diag::g_period_ms.store(enabled ? ms : -1, std::memory_order_relaxed);
  diag::post_to_diag_thread([] {});  // wakes it to take up the new period
}

}  // namespace cohook
