#include "sched/lock_graph.h"

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "sched/coroutine.h"
#include "sched/diag_registry.h"
#include "sched/diag_thread.h"
#include "sched/dump.h"

namespace cohook::diag {
namespace {

struct Waiting {
  const void* lock;
  // Who holds `lock`: one of the two is set, by the kind of lock.
  const std::atomic<Coroutine*>* owner;
  const std::atomic<std::uint32_t>* owner_id;
  std::uint32_t self_id;  // the waiter's own thread id, 0 if it has none
  const char* kind;
  std::uint64_t id;
  std::string name;
};

struct Graph {
  std::mutex mutex;
  std::unordered_map<const Coroutine*, Waiting> waiting;  // coroutine -> the lock it waits for
  std::unordered_map<std::uint32_t, const Coroutine*> by_thread_id;  // waiters that have one
  std::set<std::vector<std::uint64_t>> reported;           // cycles already on stderr
};

Graph& graph() {
  static Graph* g = new Graph;  // never destroyed: coroutines may park during exit
  return *g;
}

struct CycleMember {
  std::uint64_t id;
  std::string name;
  const void* waits_for;
  const char* kind;
};

std::string describe_lock(const char* kind, const void* lock) {
  char text[64];
  std::snprintf(text, sizeof text, "%s %p", kind, lock);
  return text;
}

// On the diagnostics thread: the members' stacks, taken at their schedulers' safe points (they
// are parked for good, so every one of them gets there).
void report(std::vector<CycleMember> cycle) {
  std::string text = "cohook: lock cycle: these coroutines wait for each other and none of them will run again:\n";
  for (std::size_t i = 0; i < cycle.size(); ++i) {
    const CycleMember& m = cycle[i];
    const CycleMember& holder = cycle[(i + 1) % cycle.size()];
    const CycleMember& previous = cycle[(i + cycle.size() - 1) % cycle.size()];
    text += "  #" + std::to_string(m.id) + " '" + m.name + "' holds " + describe_lock(previous.kind, previous.waits_for) +
            " and waits for " + describe_lock(m.kind, m.waits_for) + ", held by #" + std::to_string(holder.id) +
            " '" + holder.name + "'\n";
  }
  std::vector<std::uint64_t> ids;
  for (const CycleMember& m : cycle) ids.push_back(m.id);
  Collection collection = collect(&ids, std::chrono::seconds(1));
  std::sort(collection.records.begin(), collection.records.end(),
            [](const CoroutineRecord& a, const CoroutineRecord& b) { return a.id < b.id; });
  for (const CoroutineRecord& r : collection.records) {
    text += "#" + std::to_string(r.id) + " '" + r.name + "' [" + describe_state(r, true) + "]:\n";
    format_stack(r.stack, "    ", &text);
  }
  for (const std::string& s : collection.silent) text += "cohook: " + s + "\n";
  write_stderr(text);
}

// The coroutine holding w.lock, or null when nobody waiting in the graph does (the holder can
// still run, or the lock is free or being handed over).
const Coroutine* holder_of(const Graph& g, const Waiting& w) {
  if (w.owner != nullptr) return w.owner->load(std::memory_order_acquire);
  std::uint32_t id = w.owner_id->load(std::memory_order_acquire);
  if (id == 0) return nullptr;
  auto found = g.by_thread_id.find(id);
  return found != g.by_thread_id.end() ? found->second : nullptr;
}

void enter_and_walk(Waiting entry) {
  Coroutine* self = Coroutine::current();
  if (self == nullptr) return;
  Graph& g = graph();
  std::vector<CycleMember> cycle;
  {
    std::lock_guard<std::mutex> guard(g.mutex);
    if (entry.self_id != 0) g.by_thread_id[entry.self_id] = self;
    g.waiting[self] = std::move(entry);
    // Follow the waits: lock -> its owner -> the lock that owner waits for -> ...
    const Coroutine* at = self;
    for (int steps = 0; steps < 64; ++steps) {
      const Waiting& w = g.waiting.at(at);
      cycle.push_back({w.id, w.name, w.lock, w.kind});
      const Coroutine* holder = holder_of(g, w);
      if (holder == self) break;  // closed, through us
      auto next = g.waiting.find(holder);
      if (holder == nullptr || next == g.waiting.end()) return;  // the holder can still run
      if (std::any_of(cycle.begin(), cycle.end(), [&](const CycleMember& m) { return m.id == next->second.id; }))
        return;  // a cycle we are not part of: its own closer reported it
      at = holder;
    }
    if (cycle.size() >= 64) return;
    std::vector<std::uint64_t> key;
    for (const CycleMember& m : cycle) key.push_back(m.id);
    std::sort(key.begin(), key.end());
    if (!g.reported.insert(key).second) return;
  }
  post_to_diag_thread([cycle = std::move(cycle)]() mutable { report(std::move(cycle)); });
}

}  // namespace

void note_waiting_for_lock(const void* lock, const std::atomic<Coroutine*>* owner, const char* kind) {
  Coroutine* self = Coroutine::current();
  if (self == nullptr) return;
  enter_and_walk(Waiting{lock, owner, nullptr, 0, kind, self->id(), display_name(*self)});
}

void note_waiting_for_lock(const void* lock, const std::atomic<std::uint32_t>* owner_id, std::uint32_t self_id,
                           const char* kind) {
  Coroutine* self = Coroutine::current();
  if (self == nullptr) return;
  enter_and_walk(Waiting{lock, nullptr, owner_id, self_id, kind, self->id(), display_name(*self)});
}

void note_done_waiting_for_lock() {
  Coroutine* self = Coroutine::current();
  if (self == nullptr) return;
  Graph& g = graph();
  std::lock_guard<std::mutex> guard(g.mutex);
  auto found = g.waiting.find(self);
  if (found == g.waiting.end()) return;
  if (found->second.self_id != 0) g.by_thread_id.erase(found->second.self_id);
  g.waiting.erase(found);
}

}  // namespace cohook::diag
