#include "sched/diag_registry.h"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <new>

#include "sched/diag.h"
#include "sched/diag_access.h"
#include "sched/native_sync.h"

namespace cohook::diag {

constinit thread_local std::atomic<std::uint64_t> t_switch_epoch __attribute__((tls_model("initial-exec"))){0};
std::atomic<bool> g_safe_point_requested{false};
std::atomic<std::int64_t> g_tick_ms{0};

struct CaptureRequest {
  const std::vector<std::uint64_t>* only_ids = nullptr;
  bool describe = true;
  std::vector<SchedulerState> states;
  std::mutex mutex;
  std::condition_variable answered;
  int outstanding = 0;
  std::vector<CoroutineRecord> records;
};

namespace {

std::mutex g_registry_mutex;
// Made on first use, never destroyed: a scheduler may be created from another library's static
// constructor, before this file's dynamic initialisers have run, and may outlive exit's
// destructors.
std::vector<SchedulerSlot*>& registered_slots() {
  static std::vector<SchedulerSlot*>& slots = *new std::vector<SchedulerSlot*>;
  return slots;
}
int g_next_index = 0;
thread_local SchedulerSlot* t_slot = nullptr;
// One collection at a time: requests of two would race for the same slots.
std::mutex g_collect_mutex;

std::atomic<const char* (*)(const Coroutine&)> g_name_provider{nullptr};

bool wanted(const std::vector<std::uint64_t>* only_ids, std::uint64_t id) {
  return only_ids == nullptr || std::find(only_ids->begin(), only_ids->end(), id) != only_ids->end();
}

void describe(Coroutine* c, int thread_index, std::vector<CoroutineRecord>* out) {
  CoroutineRecord r;
  r.id = c->id();
  r.name = display_name(*c);
  r.state = c->state();
  r.thread_index = thread_index;
  if (r.state == CoroutineState::kParked) {
    r.wait_what = c->wait_what();
    r.wait_fd = c->wait_fd();
    std::int64_t since = DiagAccess::parked_since_ms(*c);
    if (since > 0) r.parked_ms = std::max<std::int64_t>(0, park_clock_ms() - since);
  }
  if (c == Coroutine::current()) {
    r.current = true;
    capture_here(&r.stack);
  } else if (const coctx::Fiber* fiber = c->fiber(); fiber != nullptr) {
    // On its home thread, between switches (or below the running coroutine that asked): it is
    // switched out and cannot run while we read its frames.
    capture_suspended(*fiber, &r.stack);
  } else {
    r.stack.missing = "not started yet";
  }
  out->push_back(std::move(r));
}

void describe_scheduler(Scheduler& s, int thread_index, const std::vector<std::uint64_t>* only_ids,
                        std::vector<CoroutineRecord>* out) {
  for (Coroutine* c = DiagAccess::first_started(s); c != nullptr; c = DiagAccess::next_started(*c))
    if (wanted(only_ids, c->id())) describe(c, thread_index, out);
  // Spawned and queued but not yet started: not in the started list.
  for (Coroutine* c = DiagAccess::first_ready(s); c != nullptr; c = DiagAccess::next_ready(*c))
    if (c->fiber() == nullptr && wanted(only_ids, c->id())) describe(c, thread_index, out);
}

// Hands `slot`'s pending request (if any) the coroutines of `scheduler` (none if null).
void serve(SchedulerSlot* slot, Scheduler* scheduler) {
  CaptureRequest* request = slot->request.exchange(nullptr, std::memory_order_acq_rel);
  if (request == nullptr) return;
  std::vector<CoroutineRecord> mine;
  if (scheduler != nullptr && request->describe) describe_scheduler(*scheduler, slot->index, request->only_ids, &mine);
  SchedulerState state;
  state.index = slot->index;
  if (scheduler != nullptr) {
    state.idle = DiagAccess::idle_with_nothing_to_wake(*scheduler);
    state.switch_epoch = t_switch_epoch.load(std::memory_order_relaxed);
    state.live = scheduler->live_coroutines();
    state.in_runtime = scheduler->runtime() != nullptr;
  }
  NativeSyncScope real_pthread_calls;
  std::lock_guard<std::mutex> lock(request->mutex);
  if (scheduler != nullptr) request->states.push_back(state);
  for (CoroutineRecord& r : mine) request->records.push_back(std::move(r));
  --request->outstanding;
  request->answered.notify_all();
}

void after_fork_in_child() {
  // Only the forking thread lives on; the slots of the others would never answer.
  new (&g_registry_mutex) std::mutex();
  new (&g_collect_mutex) std::mutex();
  std::erase_if(registered_slots(), [](SchedulerSlot* s) { return s != t_slot; });
  for (SchedulerSlot* s : registered_slots()) s->request.store(nullptr, std::memory_order_relaxed);
}

}  // namespace

SchedulerSlot* this_thread_slot() { return t_slot; }

const char* display_name(const Coroutine& c) {
  const char* (*provider)(const Coroutine&) = g_name_provider.load(std::memory_order_acquire);
  const char* name = provider != nullptr ? provider(c) : nullptr;
  return name != nullptr ? name : c.name();
}

void set_name_provider(const char* (*provider)(const Coroutine& c)) {
  g_name_provider.store(provider, std::memory_order_release);
}

void lock_registry() { g_registry_mutex.lock(); }
void unlock_registry() { g_registry_mutex.unlock(); }
std::vector<SchedulerSlot*>& slots_locked() { return registered_slots(); }

void register_scheduler(Scheduler* scheduler) {
  if (t_slot != nullptr) return;  // a second Scheduler on this thread: the first one is the loop
  static std::once_flag atfork_once;
  std::call_once(atfork_once, [] { ::pthread_atfork(nullptr, nullptr, &after_fork_in_child); });
  auto* slot = new SchedulerSlot;
  slot->scheduler = scheduler;
  slot->thread = ::pthread_self();
  slot->switch_epoch = &t_switch_epoch;
  {
    std::lock_guard<std::mutex> lock(g_registry_mutex);
    slot->index = g_next_index++;
    registered_slots().push_back(slot);
  }
  t_slot = slot;
  ensure_diag_thread();
}

void unregister_scheduler(Scheduler* scheduler) {
  SchedulerSlot* slot = t_slot;
  if (slot == nullptr || slot->scheduler != scheduler) return;
  {
    std::lock_guard<std::mutex> lock(g_registry_mutex);
    std::erase(registered_slots(), slot);
  }
  t_slot = nullptr;
  // A collector that handed us a request before we left waits for the answer: give it one.
  serve(slot, nullptr);
  // The hog watchdog reads slots under the registry lock, so nothing refers to it now.
  delete slot;
}

void serve_safe_point(Scheduler* scheduler) {
  ensure_diag_thread();  // after a fork, the child's first safe point starts it again
  SchedulerSlot* slot = t_slot;
  if (slot == nullptr) return;
  serve(slot, slot->scheduler == scheduler ? scheduler : nullptr);
}

Collection collect(const std::vector<std::uint64_t>* only_ids, std::chrono::milliseconds patience, bool describe) {
  // The request's condition variable is cohook's own: real pthread calls even when a green thread
  // asks for the dump (sched/native_sync.h), as on the scheduler threads that answer.
  NativeSyncScope real_pthread_calls;
  std::lock_guard<std::mutex> one_at_a_time(g_collect_mutex);
  CaptureRequest request;
  request.only_ids = only_ids;
  request.describe = describe;
  Collection result;
  std::vector<SchedulerSlot*> asked;
  SchedulerSlot* own = t_slot;
  {
    std::lock_guard<std::mutex> lock(g_registry_mutex);
    result.threads = static_cast<int>(registered_slots().size());
    for (SchedulerSlot* s : registered_slots())
      if (s != own) asked.push_back(s);
    // Counted in full before the first slot sees the request: a scheduler may answer (and count
    // down, under request.mutex) the moment its slot holds it.
    request.outstanding = static_cast<int>(asked.size());
    for (SchedulerSlot* s : asked) s->request.store(&request, std::memory_order_release);
    g_safe_point_requested.store(true, std::memory_order_seq_cst);
    for (SchedulerSlot* s : asked) s->scheduler->wake();
  }
  // Our own thread is at a safe point by definition: we are its running code.
  if (own != nullptr) {
    if (describe) describe_scheduler(*own->scheduler, own->index, only_ids, &result.records);
    SchedulerState state;  // busy: it is running us
    state.index = own->index;
    state.live = own->scheduler->live_coroutines();
    state.in_runtime = own->scheduler->runtime() != nullptr;
    result.states.push_back(state);
  }

  std::unique_lock<std::mutex> lock(request.mutex);
  request.answered.wait_for(lock, patience, [&] { return request.outstanding == 0; });
  lock.unlock();
  // Take back what nobody took; wait for whoever took one to finish (a bounded capture).
  {
    std::lock_guard<std::mutex> registry(g_registry_mutex);
    for (SchedulerSlot* s : asked) {
      bool still_registered = std::find(registered_slots().begin(), registered_slots().end(), s) != registered_slots().end();
      if (!still_registered) continue;  // it answered on its way out (unregister_scheduler)
      if (s->request.exchange(nullptr, std::memory_order_acq_rel) == &request) {
        std::lock_guard<std::mutex> l(request.mutex);
        --request.outstanding;
        char text[160];
        std::snprintf(text, sizeof text,
                      "thread %d (pthread %#lx) did not reach a safe point within %lld ms: a coroutine runs without "
                      "parking, or the thread runs no scheduler loop",
                      s->index, static_cast<unsigned long>(s->thread), static_cast<long long>(patience.count()));
        result.silent.emplace_back(text);
      }
    }
    g_safe_point_requested.store(false, std::memory_order_relaxed);
  }
  lock.lock();
  request.answered.wait(lock, [&] { return request.outstanding == 0; });
  for (CoroutineRecord& r : request.records) result.records.push_back(std::move(r));
  for (SchedulerState& s : request.states) result.states.push_back(s);
  return result;
}

}  // namespace cohook::diag
