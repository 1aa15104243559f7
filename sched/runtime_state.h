// What a Runtime shares with its schedulers: who they are and how many coroutines are alive.
#pragma once

#include <atomic>
#include <mutex>
#include <vector>

#include "cohook/cohook.hpp"

namespace cohook {

class Scheduler;

struct Runtime::State {
  std::vector<Scheduler*> schedulers;
  std::atomic<long> live{0};          // coroutines started under this runtime, not finished
  std::atomic<bool> done{false};
  std::atomic<int> stalled{0};  // schedulers idle with nothing that could wake them but each other
  // Held while the last coroutine wakes every scheduler, so that no scheduler thread sees
  // `done`, exits and destroys its Scheduler while it is being woken.
  std::mutex finishing;

  // A finished coroutine of this runtime: the last one ends run() on every thread.
  void coroutine_finished();
};

}  // namespace cohook
