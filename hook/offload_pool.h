// OffloadPool: a few plain threads (not schedulers) that run calls which would block a
// scheduler thread and that no hook can make cooperative: glibc's resolver does its socket I/O
// through internal calls that never reach an interposed symbol.
//
// A coroutine hands a job over and parks; the worker runs it and unparks the coroutine. The
// scheduler thread keeps running other coroutines meanwhile. The pool grows on demand: a job that
// finds no idle worker starts one, up to kMaxThreads, so a few slow jobs (a DNS server that does
// not answer) never hold up quick ones (an /etc/hosts name). Past the cap, jobs queue in order.
// A worker idle for kIdleSeconds exits. Workers block every signal, so that a process-directed
// signal goes to a thread of the program, where it can interrupt a coroutine. The pool is
// rebuilt empty after fork() in the child.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace cohook::hook {

class OffloadPool {
 public:
  static constexpr int kMaxThreads = 64;
  static constexpr int kIdleSeconds = 5;

  static OffloadPool& instance();

  // Runs work(context) on a worker thread and parks the calling coroutine until it has
  // returned. errno as the work left it is restored in the coroutine. Only inside a coroutine.
  void run(void (*work)(void* context), void* context, const char* what);

  // How many jobs are queued or running, and how many workers exist (for tests and dumps).
  std::size_t pending() const;
  int threads() const;

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
