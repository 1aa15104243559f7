// The public entry points: Runtime, go(), JoinHandle, this_coroutine.
#include <cstdio>
#include <exception>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "coctx/stack.h"
#include "sched/config.h"
#include "sched/runtime_state.h"
#include "sched/scheduler.h"

namespace cohook {
namespace {

int default_thread_count() {
  if (config().threads > 0) return config().threads;
  unsigned cores = std::thread::hardware_concurrency();
  return cores > 0 ? static_cast<int>(cores) : 1;
}

// Where go() puts a new coroutine: on the calling coroutine's own thread, unless that thread
// already has a backlog of kOverloaded coroutines waiting to run; then on the least loaded
// thread. Coroutines that talk to each other thus start next to each other (a hand-off on one
// thread is a switch; across threads it is a wake-up), and idle threads take what waits too long
// on a busy one (sched/work_stealing.cc). A started coroutine never moves.
constexpr std::size_t kOverloaded = 64;

// The scheduler with the shortest backlog, `preferred` on a tie.
Scheduler& least_loaded(Runtime::State& runtime, Scheduler* preferred) {
  Scheduler* best = preferred;
  for (Scheduler* s : runtime.schedulers)
    if (best == nullptr || s->backlog() < best->backlog()) best = s;
  return *best;
}

Scheduler& placement_for_new_coroutine() {
  Scheduler* here = Scheduler::current();
  if (here == nullptr || Coroutine::current() == nullptr) {
    if (here != nullptr) return *here;
    throw std::logic_error(
        "cohook::go: no coroutine runs on this thread: call go() from a coroutine (inside "
        "cohook::Runtime::run), or Runtime::spawn() to hand work to a running Runtime from any thread");
  }
  Runtime::State* runtime = here->runtime();
  if (runtime == nullptr || runtime->schedulers.size() < 2) return *here;
  if (here->backlog() < kOverloaded) return *here;
  return least_loaded(*runtime, here);
}

// Same range and wording as COHOOK_STACK_SIZE (sched/config.cc).
void validate(const SpawnOptions& options) {
  constexpr std::size_t kMaxStackSize = std::size_t{1} << 30;
  if (options.stack_size != 0 && (options.stack_size < coctx::kMinStackSize || options.stack_size > kMaxStackSize))
    throw std::invalid_argument("cohook: SpawnOptions::stack_size=" + std::to_string(options.stack_size) +
                                " is not valid: expected 0 (the default) or a size from 16K to 1G");
}

}  // namespace

void Runtime::State::coroutine_finished() {
  if (live.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  std::lock_guard<std::mutex> lock(finishing);
  // Runtime::spawn adds under this lock: once it has, the runtime is not done after all.
  if (live.load(std::memory_order_acquire) != 0) return;
  done.store(true, std::memory_order_seq_cst);
  for (Scheduler* s : schedulers) s->wake();  // each loop checks `done` after its poll
}

Runtime::Runtime(int threads) : threads_(threads > 0 ? threads : default_thread_count()) {}

Runtime::~Runtime() = default;

void Runtime::run(std::function<void()> main_fn) {
  Scheduler& first = Scheduler::this_thread();
  if (first.runtime() != nullptr || Coroutine::current() != nullptr)
    throw std::logic_error("cohook::Runtime::run: this thread is already running coroutines");

  State state;
  state.schedulers.assign(static_cast<std::size_t>(threads_), nullptr);
  state.schedulers[0] = &first;
  first.set_runtime(&state);

  std::vector<std::thread> threads;
  std::atomic<int> started{1};
  std::atomic<int> stopped{0};
  for (int i = 1; i < threads_; ++i) {
    threads.emplace_back([&state, &started, &stopped, i, n = threads_] {
      Scheduler scheduler;
      scheduler.set_runtime(&state);
      state.schedulers[static_cast<std::size_t>(i)] = &scheduler;
      started.fetch_add(1, std::memory_order_acq_rel);
      // Every scheduler reads the others' entries (stall reports, placement): wait until all are in.
      while (started.load(std::memory_order_acquire) < n) std::this_thread::yield();
      while (!state.done.load(std::memory_order_acquire)) scheduler.run_once(-1);
      // A peer still in its last round may look at this scheduler (work stealing, stall
      // accounting): it stays alive until every loop has ended.
      stopped.fetch_add(1, std::memory_order_acq_rel);
      while (stopped.load(std::memory_order_acquire) < n) std::this_thread::yield();
      std::lock_guard<std::mutex> wait_for_waker(state.finishing);
    });
  }
  while (started.load(std::memory_order_acquire) < threads_) std::this_thread::yield();

  // main_fn's exception leaves run() (after the other coroutines, as run() promises to wait).
  std::exception_ptr main_error;
  auto main_body = [&main_error, fn = std::move(main_fn)] {
    try {
      fn();
    } catch (...) {
      main_error = std::current_exception();
    }
  };
  {
    std::lock_guard<std::mutex> lock(active_mutex_);
    first.spawn(std::move(main_body), SpawnOptions{0, "main"})->release();
    active_ = &state;
  }
  while (!state.done.load(std::memory_order_acquire)) first.run_once(-1);
  {
    std::lock_guard<std::mutex> lock(active_mutex_);
    active_ = nullptr;
  }
  stopped.fetch_add(1, std::memory_order_acq_rel);
  for (std::thread& t : threads) t.join();
  first.set_runtime(nullptr);
  if (main_error) std::rethrow_exception(main_error);
}

JoinHandle Runtime::spawn(std::function<void()> fn, SpawnOptions options) {
  validate(options);
  std::lock_guard<std::mutex> lock(active_mutex_);
  State* state = active_;
  // `finishing` orders us against the last coroutine's check: either it saw our coroutine
  // counted in `live`, or we see `done` and refuse.
  std::unique_lock<std::mutex> finishing;
  if (state != nullptr) finishing = std::unique_lock<std::mutex>(state->finishing);
  if (state == nullptr || state->done.load(std::memory_order_acquire))
    throw std::logic_error("cohook::Runtime::spawn: the runtime is not running (call it while run() is active)");
  // From outside there is no caller's thread to keep work local to: the least loaded one.
  return JoinHandle(least_loaded(*state, nullptr).spawn(std::move(fn), options));
}

JoinHandle go(std::function<void()> fn, SpawnOptions options) {
  validate(options);
  return JoinHandle(placement_for_new_coroutine().spawn(std::move(fn), options));
}

JoinHandle::JoinHandle(Coroutine* coroutine) : coroutine_(coroutine) {}

JoinHandle& JoinHandle::operator=(JoinHandle&& other) noexcept {
  if (this != &other) {
    detach();
    coroutine_ = std::exchange(other.coroutine_, nullptr);
  }
  return *this;
}

void JoinHandle::join() {
  if (coroutine_ == nullptr) throw std::logic_error("cohook::JoinHandle::join: nothing to join");
  coroutine_->join();
  detach();
}

void JoinHandle::detach() {
  if (coroutine_ != nullptr) std::exchange(coroutine_, nullptr)->release();
}

std::uint64_t JoinHandle::id() const { return coroutine_ != nullptr ? coroutine_->id() : 0; }

namespace this_coroutine {

void yield() { Scheduler::yield(); }

void sleep_until(std::chrono::steady_clock::time_point deadline) { Scheduler::sleep_until(deadline); }

std::uint64_t id() {
  Coroutine* c = Coroutine::current();
  return c != nullptr ? c->id() : 0;
}

std::string name() {
  Coroutine* c = Coroutine::current();
  return c != nullptr ? std::string(c->name()) : std::string();
}

bool inside() { return Coroutine::current() != nullptr; }

}  // namespace this_coroutine
}  // namespace cohook
