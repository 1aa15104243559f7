#include <cstdio>
#include <cstdlib>

#include "cohook/cohook.hpp"
#include "sched/spin_wait.h"
#include "sched/wait_list.h"

namespace cohook {
namespace {

constexpr int kCountShift = 32;
constexpr std::uint64_t kWaiterMask = (std::uint64_t{1} << kCountShift) - 1;

long count_of(std::uint64_t state) { return static_cast<long>(static_cast<std::int32_t>(state >> kCountShift)); }

}  // namespace

void WaitGroup::add(int delta) {
  std::uint64_t step = static_cast<std::uint64_t>(static_cast<std::int64_t>(delta)) << kCountShift;
  std::uint64_t state = state_.fetch_add(step, std::memory_order_acq_rel) + step;
  long now = count_of(state);
  if (now < 0) {
    std::fprintf(stderr, "cohook: WaitGroup counter went negative (%ld): more done() than add()\n", now);
    std::abort();
  }
  std::uint64_t waiters = state & kWaiterMask;
  if (now != 0 || waiters == 0) return;  // nobody to wake: the group may already be gone
  // Zero with waiters: each counted waiter is queueing itself (a few instructions away) or
  // queued. Reset the word for reuse, wait until all are in the queue, then wake them. A waiter
  // returns only once its post is over, so the group lives until our last post.
  state_.store(0, std::memory_order_relaxed);
  int spins = 0;
  for (;;) {
    queue_lock_.lock();
    std::uint64_t queued = 0;
    for (detail::WaitNode* n = waiters_.head; n != nullptr; n = n->next) ++queued;
    if (queued >= waiters) break;
    queue_lock_.unlock();
    spin_then_yield(spins);
  }
  detail::WaitNode* chain = detail::take_all(waiters_);
  queue_lock_.unlock();
  detail::post_all(chain);
}

void WaitGroup::wait() {
  std::uint64_t state = state_.load(std::memory_order_acquire);
  do {
    if (count_of(state) == 0) return;
  } while (!state_.compare_exchange_weak(state, state + 1, std::memory_order_acq_rel, std::memory_order_acquire));
  // Counted: the add() that reaches zero will wait for our node and wake it.
  detail::WaitNodeFor node;
  queue_lock_.lock();
  detail::push_back(waiters_, node.get());
  queue_lock_.unlock();
  node->baton.wait("waitgroup");
}

}  // namespace cohook
