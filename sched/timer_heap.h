// TimerHeap: a binary min-heap of intrusive timers; O(log n) insert and cancel, O(1) peek.
// Timers with equal deadlines fire in insertion order. One heap per scheduler thread; not
// thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "sched/time.h"

namespace cohook {

struct Timer {
  static constexpr std::size_t kNotQueued = ~std::size_t{0};

  TimePoint deadline = kNoDeadline;
  void (*fire)(Timer* self) = nullptr;  // runs on the scheduler thread; may re-add the timer
  void* context = nullptr;

  // Owned by the heap.
  std::size_t heap_index = kNotQueued;
  std::uint64_t sequence = 0;

  bool queued() const { return heap_index != kNotQueued; }
};

class TimerHeap {
 public:
  void add(Timer* timer);
  // Returns false if the timer was not queued (fired already, or never added).
  bool cancel(Timer* timer);
  // Earliest deadline, or kNoDeadline when empty.
  TimePoint next_deadline() const { return heap_.empty() ? kNoDeadline : heap_.front()->deadline; }
  // Unqueues and fires, in deadline order, every timer due at `now`. Returns how many fired.
  std::size_t fire_expired(TimePoint now);
  std::size_t size() const { return heap_.size(); }
  bool empty() const { return heap_.empty(); }

 private:
  bool earlier(const Timer* a, const Timer* b) const {
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->sequence < b->sequence);
  }
  void place(std::size_t index, Timer* timer) {
    heap_[index] = timer;
    timer->heap_index = index;
  }
  void sift_up(std::size_t index);
  void sift_down(std::size_t index);
  void remove_at(std::size_t index);

  std::vector<Timer*> heap_;
  std::uint64_t next_sequence_ = 0;
};

}  // namespace cohook
