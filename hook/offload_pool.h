// OffloadPool: a few plain threads (not schedulers) that run calls which would block a
// scheduler thread and that no hook can make cooperative: glibc's resolver does its socket I/O
// through internal calls that never reach an interposed symbol.
//
// A coroutine hands a job over and parks; the worker runs it and unparks the coroutine. The
// scheduler thread keeps running other coroutines meanwhile. Workers start on first use (up to
// kMaxThreads, one more whenever every worker is busy) and are rebuilt after fork() in the child.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace cohook::hook {

class OffloadPool {
 public:
  static constexpr int kMaxThreads = 4;

  static OffloadPool& instance();

  // Runs work(context) on a worker thread and parks the calling coroutine until it has
  // returned. errno as the work left it is restored in the coroutine. Only inside a coroutine.
  void run(void (*work)(void* context), void* context, const char* what);

  // How many jobs are queued or running (for tests and dumps).
  std::size_t pending() const;

 private:
  struct Job;

  OffloadPool();
  void worker_loop();
  void start_worker_if_needed();  // with mutex_ held
  static void reset_after_fork();

  mutable std::mutex mutex_;
  std::condition_variable work_available_;
  Job* queue_head_ = nullptr;
  Job* queue_tail_ = nullptr;
  std::size_t pending_ = 0;  // queued or running
  int waiting_ = 0;           // queued, not yet taken by a worker
  int threads_ = 0;
  int idle_ = 0;
};

}  // namespace cohook::hook
