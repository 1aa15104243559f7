#include "sched/coroutine.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <typeinfo>

#include "sched/baton.h"
#include "sched/native_sync.h"
#include "sched/exception_report.h"
#include "sched/diag.h"
#include "sched/scheduler.h"
#include "sched/stack_overflow.h"
#include "sched/wait_list.h"

namespace cohook {
namespace {

std::atomic<std::uint64_t> g_next_id{1};

using Function = std::function<void()>;

// Where a std::function body sits: right after the Coroutine, in the same heap block.
constexpr std::size_t kFunctionOffset = (sizeof(Coroutine) + alignof(Function) - 1) / alignof(Function) * alignof(Function);

void call_function(void* data, BodyOp op) {
  auto* fn = static_cast<Function*>(data);
  if (op == BodyOp::kRun) (*fn)();
  else fn->~Function();
}

char* copy_name(const std::string& name) {
  char* copy = static_cast<char*>(std::malloc(name.size() + 1));
  if (copy == nullptr) throw std::bad_alloc();
  std::memcpy(copy, name.c_str(), name.size() + 1);
  return copy;
}

}  // namespace

constinit thread_local Coroutine* t_current_coroutine __attribute__((tls_model("initial-exec"))) = nullptr;
constinit thread_local int* t_errno_location __attribute__((tls_model("initial-exec"))) = nullptr;
constinit thread_local int t_native_sync_depth __attribute__((tls_model("initial-exec"))) = 0;
constinit thread_local bool t_cohook_thread __attribute__((tls_model("initial-exec"))) = false;

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

Coroutine::Coroutine(Scheduler* home, CoroutineBody body, std::size_t stack_size, const std::string& name,
                     coctx::SharedStack* shared_stack)
    : home_(home),
      body_(body),
      stack_size_(static_cast<std::uint32_t>(stack_size != 0 ? coctx::round_stack_size(stack_size)
                                                             : default_stack_size())),
      id_(g_next_id.fetch_add(1, std::memory_order_relaxed)) {
  shared_stack_ = shared_stack;
  if (!name.empty()) {
    // Not yet shared with any other thread: a plain store will do.
    auto* extras = new Extras;
    try {
      extras->name = copy_name(name);
    } catch (...) {
      delete extras;
      throw;
    }
    extras_.store(extras, std::memory_order_relaxed);
  }
}

Coroutine::Extras& Coroutine::extras() {
  Extras* extras = extras_.load(std::memory_order_acquire);
  if (extras != nullptr) return *extras;
  auto* made = new (std::nothrow) Extras;
  if (made == nullptr) {
    std::fprintf(stderr, "cohook: out of memory for coroutine #%llu's state\n", static_cast<unsigned long long>(id_));
    std::abort();
  }
  // seq_cst: a joiner that installs the block and then looks at the state pairs with finish(),
  // which sets the state and then looks for the block (see wake_joiners).
  if (extras_.compare_exchange_strong(extras, made, std::memory_order_seq_cst, std::memory_order_acquire)) return *made;
  delete made;  // another thread won the race; `extras` is its block
  return *extras;
}

Coroutine* Coroutine::make(Scheduler* home, CoroutineBody body, std::size_t stack_size, const std::string& name,
                           coctx::SharedStack* shared_stack) {
  return new (::operator new(sizeof(Coroutine))) Coroutine(home, body, stack_size, name, shared_stack);
}

Coroutine* Coroutine::make(Scheduler* home, std::function<void()> fn, std::size_t stack_size, const std::string& name,
                           coctx::SharedStack* shared_stack) {
  char* block = static_cast<char*>(::operator new(kFunctionOffset + sizeof(Function)));
  auto* body = new (block + kFunctionOffset) Function(std::move(fn));
  try {
    return new (block) Coroutine(home, CoroutineBody{&call_function, body}, stack_size, name, shared_stack);
  } catch (...) {
    body->~Function();
    ::operator delete(block);
    throw;
  }
}

Coroutine::~Coroutine() {
  if (body_.call != nullptr) body_.call(body_.data, BodyOp::kDrop);  // never started (abandon drops it)
  if (Extras* extras = extras_.load(std::memory_order_acquire)) {
    std::free(extras->locals);
    std::free(extras->name);
    delete extras;
  }
}

void Coroutine::release() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    this->~Coroutine();
    ::operator delete(this);  // the whole block, std::function body included
  }
}

void Coroutine::start() {
  // The stack is taken here, on the home thread, at the first run: stack pools are per thread,
  // and coroutines queued but not yet started cost no stack.
  t_errno_location = &errno;
  if (coctx::SharedStack* shared = shared_stack_; shared != nullptr) {
    new (&fiber_) coctx::Fiber(*shared, &Coroutine::entry, this);  // ends shared_stack_'s life
  } else {
    coctx::StackSpan stack = coctx::StackPool::this_thread().acquire(stack_size_);
    new (&fiber_) coctx::Fiber(stack, &Coroutine::entry, this);
    check_canary_ = !stack.guarded;
  }
  started_ = true;
  home_->register_started(this);
}

void Coroutine::on_finished() { home_->on_finished(this); }

void Coroutine::release_stack() {
  if (!started_) return;
  coctx::StackSpan stack = fiber_.stack();
  bool shared = fiber_.on_shared_stack();
  fiber_.~Fiber();
  started_ = false;
  check_canary_ = false;
  if (!shared) coctx::StackPool::this_thread().release(stack);
}

void Coroutine::switch_to_resumer_out_of_line() { switch_to_resumer(); }

void Coroutine::report_overflow() { report_stack_overflow_and_die(this); }

void Coroutine::check_canary_at_switch_out() {
  // Our own frame is a little below the caller's: the lowest-page test only gets earlier.
  if (fiber_.stack().near_low_end(__builtin_frame_address(0)) && !fiber_.stack().canary_intact()) report_overflow();
}

// Out of line, and its string with it: this frame is not on every coroutine's stack.
[[noreturn, gnu::noinline, gnu::cold]] void Coroutine::die_of_uncaught_exception() {
  std::fprintf(stderr, "cohook: coroutine #%llu '%s' ended with an uncaught exception %s\n",
               static_cast<unsigned long long>(id_), name(), describe_current_exception().c_str());
  std::terminate();
}

void Coroutine::entry(void* self, void*) {
  // This frame sits under every frame the coroutine makes, and on a shared stack every park
  // copies it away and back: no locals here (16 bytes: the return address and one register).
  auto* coroutine = static_cast<Coroutine*>(self);
  try {
    coroutine->body_.call(coroutine->body_.data, BodyOp::kRun);
  } catch (...) {
    // Includes abi::__forced_unwind: unwinding past the fiber's first frame has nowhere to go.
    coroutine->die_of_uncaught_exception();
  }
  coroutine->finish();
}

void Coroutine::finish() {
  CoroutineBody body = body_;
  body_ = CoroutineBody{};
  body.call(body.data, BodyOp::kDrop);  // captures die here, in the coroutine, where they may still park
  run_local_destructors();
  if (check_canary_ && !fiber_.stack().canary_intact()) report_overflow();
  state_.store(CoroutineState::kFinished, std::memory_order_seq_cst);  // seq_cst: see wake_joiners
  wake_joiners();
  leave();
  // The stack is released by Scheduler::on_finished, which cannot run here: we are still
  // standing on it. resume() runs it when its switch returns; a resume_as_last_act() has no code
  // left after its switch, so the reaper runs it on its own stack, then goes on to the resumer.
  if (resumed_as_last_act_) fiber_.exit_to(reaper(), this);
  fiber_.exit_to(*resumer_);
}

// The reaper: a fiber per thread, on a small private stack, that ends coroutines started by
// resume_as_last_act (see finish()). Made at the first such end.
struct Coroutine::Reaper {
  coctx::StackSpan span;
  coctx::Fiber fiber;
  Reaper() : span(coctx::StackPool::this_thread().acquire(kReaperStackSize)), fiber(span, &reaper_loop, nullptr) {}
  ~Reaper() { coctx::StackPool::this_thread().release(span); }
  static constexpr std::size_t kReaperStackSize = 64 * 1024;
};

coctx::Fiber& Coroutine::reaper() {
  static thread_local Reaper r;
  return r.fiber;
}

void Coroutine::reaper_loop(void*, void* transfer) {
  coctx::Fiber& self = reaper();
  for (;;) {
    auto* done = static_cast<Coroutine*>(transfer);
    coctx::Fiber* resumer = done->resumer_;
    // The resumer's errno (finish() put it back) survives the stack release.
    int saved_errno = *t_errno_location;
    done->on_finished();  // may free `done`
    *t_errno_location = saved_errno;
    transfer = self.switch_to(*resumer);
  }
}

void Coroutine::wake_joiners() {
  // Dekker pairing with join(): our caller set the state, then we look for the block; a joiner
  // installs the block, then looks at the state. All four are seq_cst, so one of us sees the
  // other: no block means no joiner has queued, nor will one (it sees kFinished).
  Extras* extras = extras_.load(std::memory_order_seq_cst);
  if (extras == nullptr) return;
  extras->join_lock.lock();
  detail::WaitNode* node = detail::take_all(extras->joiners);
  extras->join_lock.unlock();
  detail::post_all(node);
}

void Coroutine::abandon() {
  CoroutineState s = state();
  if (s != CoroutineState::kCreated && s != CoroutineState::kSuspended) {
    std::fprintf(stderr, "cohook: coroutine #%llu '%s' cannot be abandoned while %s\n",
                 static_cast<unsigned long long>(id_), name(), to_string(s));
    std::abort();
  }
  CoroutineBody body = body_;
  body_ = CoroutineBody{};
  if (body.call != nullptr) body.call(body.data, BodyOp::kDrop);
  state_.store(CoroutineState::kFinished, std::memory_order_seq_cst);  // seq_cst: see wake_joiners
  wake_joiners();
  home_->on_finished(this);
}

void Coroutine::join() {
  if (finished()) return;
  if (t_current_coroutine == this) {
    std::fprintf(stderr, "cohook: coroutine #%llu '%s' tried to join itself\n", static_cast<unsigned long long>(id_),
                 name());
    std::abort();
  }
  Extras& extras = this->extras();
  detail::WaitNodeFor node;
  extras.join_lock.lock();
  if (state_.load(std::memory_order_seq_cst) == CoroutineState::kFinished) {  // see wake_joiners
    extras.join_lock.unlock();
    return;
  }
  detail::push_back(extras.joiners, node.get());
  extras.join_lock.unlock();
  node->baton.wait("join");
}

detail::WaitNode& Coroutine::fresh_wait_node() {
  // A Baton is single-use; the last wait's post has completed (and so has any fd wait).
  return *new (&wait_node_) detail::WaitNode();
}

FdParker& Coroutine::fresh_fd_parker() { return *new (&fd_parker_) FdParker(); }

void Coroutine::set_local(std::size_t key, void* value, void (*destroy)(void*)) {
  LocalTable*& locals = extras().locals;
  if (locals == nullptr || key >= locals->count) {
    // Grown to the largest key used, in one block (slots start empty).
    std::size_t old_count = locals != nullptr ? locals->count : 0;
    std::size_t count = key + 1 > old_count * 2 ? key + 1 : old_count * 2;
    auto* grown = static_cast<LocalTable*>(
        std::realloc(locals, offsetof(LocalTable, slots) + count * sizeof(LocalSlot)));
    if (grown == nullptr) throw std::bad_alloc();
    for (std::size_t i = old_count; i < count; ++i) grown->slots[i] = LocalSlot{};
    grown->count = count;
    locals = grown;
  }
  locals->slots[key] = LocalSlot{value, destroy};
}

void Coroutine::run_local_destructors() {
  Extras* extras = extras_.load(std::memory_order_acquire);  // a joiner on another thread may have made it
  if (extras == nullptr) return;
  LocalTable*& locals = extras->locals;
  // As pthread keys do: a destructor may set other slots, so go round a few times.
  for (int round = 0; round < 4; ++round) {
    bool any = false;
    for (std::size_t i = 0; locals != nullptr && i < locals->count; ++i) {
      LocalSlot& slot = locals->slots[i];
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
  std::free(locals);
  locals = nullptr;
}

}  // namespace cohook
