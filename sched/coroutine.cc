#include "sched/coroutine.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <typeinfo>

#include "sched/baton.h"
#include "sched/diag.h"
#include "sched/scheduler.h"
#include "sched/stack_overflow.h"
#include "sched/wait_list.h"

namespace cohook {
namespace {

std::atomic<std::uint64_t> g_next_id{1};
}  // namespace

constinit thread_local Coroutine* t_current_coroutine __attribute__((tls_model("initial-exec"))) = nullptr;

const char* to_string(CoroutineState state) {
  switch (state) {
    case CoroutineState::kCreated: return "created";
    case CoroutineState::kReady: return "ready";
    case CoroutineState::kRunning: return "running";
    case CoroutineState::kParked: return "parked";
    case CoroutineState::kSuspended: return "suspended";
    case CoroutineState::kFinished: return "finished";
  }
  return "?";
}

Coroutine::Coroutine(Scheduler* home, std::function<void()> fn, std::size_t stack_size, std::string name,
                     coctx::SharedStack* shared_stack)
    : id_(g_next_id.fetch_add(1, std::memory_order_relaxed)),
      name_(std::move(name)),
      home_(home),
      fn_(std::move(fn)),
      stack_size_(stack_size != 0 ? coctx::round_stack_size(stack_size) : default_stack_size()),
      shared_stack_(shared_stack) {}

Coroutine::~Coroutine() = default;

void Coroutine::release() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

void Coroutine::start_fiber() {
  // The stack is taken here, on the home thread, at the first run: stack pools are per thread,
  // and coroutines queued but not yet started cost no stack.
  if (shared_stack_ != nullptr) {
    fiber_.emplace(*shared_stack_, &Coroutine::entry, this);
  } else {
    stack_ = coctx::StackPool::this_thread().acquire(stack_size_);
    fiber_.emplace(stack_, &Coroutine::entry, this);
  }
}

void Coroutine::release_stack() {
  fiber_.reset();
  if (stack_.low != nullptr) coctx::StackPool::this_thread().release(stack_);
  stack_ = coctx::StackSpan{};
}

void Coroutine::resume() {
  if (!fiber_) {
    start_fiber();
    home_->register_started(this);
  }
  coctx::Fiber& from = coctx::Fiber::running();
  Coroutine* previous = t_current_coroutine;
  resumer_ = &from;
  t_current_coroutine = this;
  state_.store(CoroutineState::kRunning, std::memory_order_relaxed);
  int saved_errno = errno;  // the resumer's errno is its own, whatever runs meanwhile
  diag::note_switch(true);
  from.switch_to(*fiber_);
  diag::note_switch(previous != nullptr);
  errno = saved_errno;
  t_current_coroutine = previous;
  if (state() == CoroutineState::kFinished) home_->on_finished(this);
}

void Coroutine::switch_to_resumer() {
  check_stack_canary();
  int saved_errno = errno;
  fiber_->switch_to(*resumer_);
  errno = saved_errno;
}

void Coroutine::suspend() {
  state_.store(CoroutineState::kSuspended, std::memory_order_relaxed);
  switch_to_resumer();
}

void Coroutine::check_stack_canary() {
  // Unguarded stacks (past the mapping budget) have no guard page to fault on; their canary is
  // the next best witness, checked whenever the coroutine stops running.
  if (shared_stack_ == nullptr && !stack_.canary_intact()) report_stack_overflow_and_die(this);
}

void Coroutine::entry(void* self, void*) {
  auto* coroutine = static_cast<Coroutine*>(self);
  try {
    coroutine->fn_();
  } catch (const std::exception& error) {
    std::fprintf(stderr, "cohook: coroutine #%llu '%s' ended with an uncaught exception %s: %s\n",
                 static_cast<unsigned long long>(coroutine->id_), coroutine->name_.c_str(), typeid(error).name(),
                 error.what());
    std::terminate();
  } catch (...) {
    // Includes abi::__forced_unwind: unwinding past the fiber's first frame has nowhere to go.
    std::fprintf(stderr, "cohook: coroutine #%llu '%s' ended with an uncaught exception (not a std::exception)\n",
                 static_cast<unsigned long long>(coroutine->id_), coroutine->name_.c_str());
    std::terminate();
  }
  coroutine->finish();
}

void Coroutine::finish() {
  fn_ = nullptr;  // captures die here, in the coroutine, where they may still park
  run_local_destructors();
  check_stack_canary();
  state_.store(CoroutineState::kFinished, std::memory_order_release);
  wake_joiners();
  // The stack is released by the resumer (Scheduler::on_finished): we are still standing on it.
  fiber_->exit_to(*resumer_);
}

void Coroutine::wake_joiners() {
  join_lock_.lock();
  detail::WaitNode* node = detail::take_all(joiners_);
  join_lock_.unlock();
  detail::post_all(node);
}

void Coroutine::abandon() {
  CoroutineState s = state();
  if (s != CoroutineState::kCreated && s != CoroutineState::kSuspended) {
    std::fprintf(stderr, "cohook: coroutine #%llu '%s' cannot be abandoned while %s\n",
                 static_cast<unsigned long long>(id_), name_.c_str(), to_string(s));
    std::abort();
  }
  fn_ = nullptr;
  state_.store(CoroutineState::kFinished, std::memory_order_release);
  wake_joiners();
  home_->on_finished(this);
}

void Coroutine::join() {
  if (finished()) return;
  if (t_current_coroutine == this) {
    std::fprintf(stderr, "cohook: coroutine #%llu '%s' tried to join itself\n", static_cast<unsigned long long>(id_),
                 name_.c_str());
    std::abort();
  }
  detail::WaitNodeFor node;
  join_lock_.lock();
  if (finished()) {
    join_lock_.unlock();
    return;
  }
  detail::push_back(joiners_, node.get());
  join_lock_.unlock();
  node->baton.wait("join");
}

detail::WaitNode& Coroutine::fresh_wait_node() {
  wait_node_.~WaitNode();  // a Baton is single-use; the last wait's post has completed
  new (&wait_node_) detail::WaitNode();
  return wait_node_;
}

void Coroutine::set_local(std::size_t key, void* value, void (*destroy)(void*)) {
  if (key >= locals_.size()) locals_.resize(key + 1);
  locals_[key] = LocalSlot{value, destroy};
}

void Coroutine::run_local_destructors() {
  // As pthread keys do: a destructor may set other slots, so go round a few times.
  for (int round = 0; round < 4; ++round) {
    bool any = false;
    for (LocalSlot& slot : locals_) {
      if (slot.value == nullptr) continue;
      void* value = slot.value;
      slot.value = nullptr;
      if (slot.destroy != nullptr) {
        slot.destroy(value);
        any = true;
      }
    }
    if (!any) break;
  }
  locals_.clear();
}

}  // namespace cohook
