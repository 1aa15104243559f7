#include "sched/dump.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <ostream>

#include "cohook/debug.hpp"
#include "sched/diag_registry.h"

namespace cohook::diag {
namespace {

constexpr std::size_t kIdsShownPerGroup = 8;

struct Group {
  std::vector<const CoroutineRecord*> members;
  std::int64_t shortest_ms = -1;
  std::int64_t longest_ms = -1;
};

// Same state (fd aside) and same frames: one group.
std::string group_key(const CoroutineRecord& r) {
  std::string key = describe_state(r, false);
  key += '\n';
  key.append(reinterpret_cast<const char*>(r.stack.pc), sizeof r.stack.pc[0] * static_cast<std::size_t>(r.stack.depth));
  if (r.stack.depth == 0 && r.stack.missing != nullptr) key += r.stack.missing;
  return key;
}

}  // namespace

std::string format_duration_ms(std::int64_t ms) {
  char text[48];
  if (ms < 1000) std::snprintf(text, sizeof text, "%lld ms", static_cast<long long>(ms));
  else if (ms < 120'000) std::snprintf(text, sizeof text, "%.1f s", static_cast<double>(ms) / 1000);
  else std::snprintf(text, sizeof text, "%lld min", static_cast<long long>(ms / 60'000));
  return text;
}

std::string describe_state(const CoroutineRecord& r, bool with_fd) {
  switch (r.state) {
    case CoroutineState::kCreated: return "created, not started";
    case CoroutineState::kReady: return "ready";
    case CoroutineState::kRunning: return r.current ? "running (this dump's caller)" : "running";
    case CoroutineState::kSuspended: return "suspended (resumed only explicitly)";
    case CoroutineState::kFinished: return "finished";
    case CoroutineState::kParked: break;
  }
  std::string text = "parked on ";
  text += r.wait_what != nullptr ? r.wait_what : "an unpark";
  if (r.wait_fd >= 0) {
    text += " fd";
    if (with_fd) text += " " + std::to_string(r.wait_fd);
  }
  return text;
}

std::string format_dump(Collection& collection, const char* why) {
  std::vector<CoroutineRecord>& records = collection.records;
  std::sort(records.begin(), records.end(),
            [](const CoroutineRecord& a, const CoroutineRecord& b) { return a.id < b.id; });
  std::map<std::string, Group> groups;
  for (const CoroutineRecord& r : records) {
    Group& g = groups[group_key(r)];
    g.members.push_back(&r);
    if (r.parked_ms >= 0) {
      if (g.shortest_ms < 0 || r.parked_ms < g.shortest_ms) g.shortest_ms = r.parked_ms;
      g.longest_ms = std::max(g.longest_ms, r.parked_ms);
    }
  }
  std::vector<const Group*> order;
  for (auto& [key, g] : groups) order.push_back(&g);
  std::sort(order.begin(), order.end(), [](const Group* a, const Group* b) {
    if (a->members.size() != b->members.size()) return a->members.size() > b->members.size();
    return a->members.front()->id < b->members.front()->id;
  });

  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "cohook: %s: %zu coroutines on %d scheduler threads, %zu distinct stacks\n", why,
                records.size(), collection.threads, order.size());
  out += line;
  for (const std::string& s : collection.silent) out += "cohook: " + s + "\n";
  for (const Group* g : order) {
    const CoroutineRecord& first = *g->members.front();
    std::size_t n = g->members.size();
    out += '\n';
    out += std::to_string(n) + (n == 1 ? " coroutine [" : " coroutines [") + describe_state(first, n == 1);
    if (g->longest_ms >= 0) {
      out += ", ";
      if (n > 1 && format_duration_ms(g->shortest_ms) != format_duration_ms(g->longest_ms))
        out += format_duration_ms(g->shortest_ms) + " to ";
      out += format_duration_ms(g->longest_ms);
    }
    out += "]:";
    for (std::size_t i = 0; i < n && i < kIdsShownPerGroup; ++i) {
      const CoroutineRecord& r = *g->members[i];
      out += i == 0 ? " #" : ", #";
      out += std::to_string(r.id);
      if (!r.name.empty()) out += " '" + r.name + "'";
      if (n > 1 && r.wait_fd >= 0) out += " fd " + std::to_string(r.wait_fd);
    }
    if (n > kIdsShownPerGroup) out += " and " + std::to_string(n - kIdsShownPerGroup) + " more";
    out += n == 1 ? " on thread " + std::to_string(first.thread_index) : "";
    out += '\n';
    format_stack(first.stack, "    ", &out);
  }
  return out;
}

}  // namespace cohook::diag

namespace cohook {

void dump(std::ostream& out) {
  diag::Collection collection = diag::collect(nullptr, std::chrono::seconds(1));
  out << diag::format_dump(collection, "coroutine dump");
  out.flush();
}

}  // namespace cohook
