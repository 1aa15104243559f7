#include "sched/timer_heap.h"

namespace cohook {

void TimerHeap::add(Timer* timer) {
  if (timer->queued()) cancel(timer);
  timer->sequence = next_sequence_++;
  heap_.push_back(timer);
  timer->heap_index = heap_.size() - 1;
  sift_up(heap_.size() - 1);
}

bool TimerHeap::cancel(Timer* timer) {
  if (!timer->queued() || timer->heap_index >= heap_.size() || heap_[timer->heap_index] != timer) return false;
  remove_at(timer->heap_index);
  return true;
}

std::size_t TimerHeap::fire_expired(TimePoint now) {
  std::size_t fired = 0;
  while (!heap_.empty() && heap_.front()->deadline <= now) {
    Timer* timer = heap_.front();
    remove_at(0);
    ++fired;
    timer->fire(timer);
  }
  return fired;
}

void TimerHeap::remove_at(std::size_t index) {
  Timer* removed = heap_[index];
  removed->heap_index = Timer::kNotQueued;
  Timer* last = heap_.back();
  heap_.pop_back();
  if (index == heap_.size()) return;
  place(index, last);
  // The moved timer may belong above or below its new place.
  if (index > 0 && earlier(last, heap_[(index - 1) / 2])) sift_up(index);
  else sift_down(index);
}

void TimerHeap::sift_up(std::size_t index) {
  Timer* timer = heap_[index];
  while (index > 0) {
    std::size_t parent = (index - 1) / 2;
    if (!earlier(timer, heap_[parent])) break;
    place(index, heap_[parent]);
    index = parent;
  }
  place(index, timer);
}

void TimerHeap::sift_down(std::size_t index) {
  Timer* timer = heap_[index];
  std::size_t size = heap_.size();
  for (;;) {
    std::size_t child = 2 * index + 1;
    if (child >= size) break;
    if (child + 1 < size && earlier(heap_[child + 1], heap_[child])) ++child;
    if (!earlier(heap_[child], timer)) break;
    place(index, heap_[child]);
    index = child;
  }
  place(index, timer);
}

}  // namespace cohook
