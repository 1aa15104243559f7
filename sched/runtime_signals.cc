#include "sched/runtime_signals.h"

#include <atomic>

namespace cohook {
namespace {

constexpr int kMaxHandlers = 8;
std::atomic<void*> g_handlers[kMaxHandlers] = {};

}  // namespace

void register_runtime_signal_handler(void* handler) {
  for (auto& slot : g_handlers) {
    void* expected = nullptr;
    if (slot.load(std::memory_order_acquire) == handler) return;
    if (slot.compare_exchange_strong(expected, handler, std::memory_order_acq_rel)) return;
    if (expected == handler) return;
  }
}

bool is_runtime_signal_handler(const void* handler) {
  if (handler == nullptr) return false;
  for (auto& slot : g_handlers)
    if (slot.load(std::memory_order_acquire) == handler) return true;
  return false;
}

}  // namespace cohook
