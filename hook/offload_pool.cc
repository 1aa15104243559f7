#include "hook/offload_pool.h"

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <new>

#include "sched/coroutine.h"
#include "sched/scheduler.h"

namespace cohook::hook {

// Lives in the parked coroutine's frame until the worker unparks it.
struct OffloadPool::Job {
  void (*work)(void* context);
  void* context;
  Coroutine* coroutine;
  std::uint64_t ticket;
  int error;  // errno after work
  Job* next;
};

namespace {
// Never destroyed: detached workers may still be inside it while the process exits.
OffloadPool* g_pool = nullptr;
std::once_flag g_pool_once;
}  // namespace

OffloadPool& OffloadPool::instance() {
  std::call_once(g_pool_once, [] {
    g_pool = new OffloadPool();
    // In a forked child only the forking thread exists: workers, queued jobs and a mutex some
    // worker held are gone or meaningless. Lock around fork so the state is consistent, then
    // start over empty in the child.
    ::pthread_atfork([] { g_pool->mutex_.lock(); }, [] { g_pool->mutex_.unlock(); }, &OffloadPool::reset_after_fork);
  });
  return *g_pool;
}

OffloadPool::OffloadPool() = default;

void OffloadPool::reset_after_fork() {
  // The mutex was locked by the prepare handler in the parent's forking thread, and the
  // condition variable still counts the parent's workers as waiters (destroying it would wait
  // for them forever): build a fresh pool over the old one without destroying it.
  new (g_pool) OffloadPool();
}

std::size_t OffloadPool::pending() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return pending_;
}

int OffloadPool::threads() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return threads_;
}

void OffloadPool::start_worker_if_needed() {
  if (waiting_ <= idle_ || threads_ >= kMaxThreads) return;
  pthread_t thread;
  pthread_attr_t attributes;
  ::pthread_attr_init(&attributes);
  ::pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
  // The worker inherits the creator's mask: block everything for the moment of creation.
  sigset_t all, before;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &before);
  int error = ::pthread_create(
      &thread, &attributes,
      [](void* self) -> void* {
        static_cast<OffloadPool*>(self)->worker_loop();
        return nullptr;
      },
      this);
  ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
  ::pthread_attr_destroy(&attributes);
  if (error != 0) {
    if (threads_ == 0) {
      std::fprintf(stderr, "cohook: cannot start an offload thread: %s\n", std::strerror(error));
      std::abort();
    }
    return;  // the running workers will get to the job
  }
  ++threads_;
  ++idle_;  // it counts as idle until it takes a job
}

void OffloadPool::run(void (*work)(void* context), void* context, const char* what) {
  Job job{work, context, Coroutine::current(), 0, 0, nullptr};
  job.ticket = Scheduler::prepare_park();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (queue_tail_ != nullptr) queue_tail_->next = &job;
    else queue_head_ = &job;
    queue_tail_ = &job;
    ++pending_;
    ++waiting_;
    start_worker_if_needed();
  }
  work_available_.notify_one();
  // Only the worker knows this ticket, so nothing but the finished job wakes us.
  Scheduler::park_until(job.ticket, kNoDeadline, what);
  errno = job.error;
}

void OffloadPool::worker_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (!work_available_.wait_for(lock, std::chrono::seconds(kIdleSeconds), [&] { return queue_head_ != nullptr; })) {
      --threads_;  // idle for a while: give the thread back
      --idle_;
      return;
    }
    Job* job = queue_head_;
    queue_head_ = job->next;
    if (queue_head_ == nullptr) queue_tail_ = nullptr;
    --idle_;
    --waiting_;
    lock.unlock();

    job->work(job->context);
    job->error = errno;
    // Read what unpark needs before it: once woken, the coroutine may return and free the job.
    Coroutine* coroutine = job->coroutine;
    std::uint64_t ticket = job->ticket;
    Scheduler::unpark(coroutine, ticket);

    lock.lock();
    --pending_;
    ++idle_;
  }
}

}  // namespace cohook::hook
