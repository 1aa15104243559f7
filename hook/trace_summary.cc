#include "hook/trace_summary.h"

#include <atomic>
#include <cstdio>

#include "hook/trace.h"
#include "hook/trace_emit.h"

namespace cohook::trace {
namespace {

constexpr std::size_t kCalls = static_cast<std::size_t>(TracedCall::kCount);

struct Counter {
  std::atomic<std::uint64_t> calls{0};
  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::uint64_t> total_ns{0};
  std::atomic<std::uint64_t> parked_ns{0};
};
struct ThreadCounters {
  Counter call[kCalls];
};

// One block per OS thread that made a traced call, claimed once and never given back (a thread's
// counts outlive it until the process's summary). Zero-initialised static storage: only claimed
// blocks' pages are ever touched. Threads beyond the pool share the last block, with atomic adds.
constexpr std::size_t kPoolBlocks = 512;
ThreadCounters g_pool[kPoolBlocks];
std::atomic<std::size_t> g_claimed{0};
constinit thread_local ThreadCounters* t_counters __attribute__((tls_model("initial-exec"))) = nullptr;

// The owner is the only writer of its block: a plain load and store, no read-modify-write.
void add_owned(std::atomic<std::uint64_t>& counter, std::uint64_t value) {
  counter.store(counter.load(std::memory_order_relaxed) + value, std::memory_order_relaxed);
}

void zero(ThreadCounters& block) {
  for (Counter& c : block.call) {
    c.calls.store(0, std::memory_order_relaxed);
    c.errors.store(0, std::memory_order_relaxed);
    c.total_ns.store(0, std::memory_order_relaxed);
    c.parked_ns.store(0, std::memory_order_relaxed);
  }
}

}  // namespace

void count_call(TracedCall call, bool failed, std::int64_t duration_ns, std::int64_t parked_ns) {
  ThreadCounters* block = t_counters;
  if (block == nullptr) {
    std::size_t index = g_claimed.fetch_add(1, std::memory_order_relaxed);
    block = &g_pool[index < kPoolBlocks - 1 ? index : kPoolBlocks - 1];
    t_counters = block;
  }
  Counter& c = block->call[static_cast<std::size_t>(call)];
  auto duration = static_cast<std::uint64_t>(duration_ns > 0 ? duration_ns : 0);
  auto parked = static_cast<std::uint64_t>(parked_ns > 0 ? parked_ns : 0);
  if (block == &g_pool[kPoolBlocks - 1]) {
    c.calls.fetch_add(1, std::memory_order_relaxed);
    if (failed) c.errors.fetch_add(1, std::memory_order_relaxed);
    c.total_ns.fetch_add(duration, std::memory_order_relaxed);
    c.parked_ns.fetch_add(parked, std::memory_order_relaxed);
    return;
  }
  add_owned(c.calls, 1);
  if (failed) add_owned(c.errors, 1);
  add_owned(c.total_ns, duration);
  add_owned(c.parked_ns, parked);
}

void send_summary() {
  std::size_t blocks = g_claimed.load(std::memory_order_relaxed);
  if (blocks > kPoolBlocks) blocks = kPoolBlocks;
  // "<call-index> <calls> <errors> <total_ns> <parked_ns>\n" per call used: 40 calls of at most
  // ~70 characters fit one record.
  char text[kMaxRecordSize - sizeof(RecordHeader)];
  std::size_t length = 0;
  for (std::size_t i = 0; i < kCalls; ++i) {
    std::uint64_t calls = 0, errors = 0, total = 0, parked = 0;
    for (std::size_t b = 0; b < blocks; ++b) {
      const Counter& c = g_pool[b].call[i];
      calls += c.calls.load(std::memory_order_relaxed);
      errors += c.errors.load(std::memory_order_relaxed);
      total += c.total_ns.load(std::memory_order_relaxed);
      parked += c.parked_ns.load(std::memory_order_relaxed);
    }
    if (calls == 0) continue;
    int n = std::snprintf(text + length, sizeof text - length, "%zu %llu %llu %llu %llu\n", i,
                          static_cast<unsigned long long>(calls), static_cast<unsigned long long>(errors),
                          static_cast<unsigned long long>(total), static_cast<unsigned long long>(parked));
    if (n < 0 || static_cast<std::size_t>(n) >= sizeof text - length) break;
    length += static_cast<std::size_t>(n);
  }
  for (std::size_t b = 0; b < blocks; ++b) zero(g_pool[b]);
  RecordHeader header{};
  header.kind = RecordKind::kSummary;
  send_record(header, std::string_view(text, length));
}

void reset_summary_after_fork() {
  std::size_t blocks = g_claimed.load(std::memory_order_relaxed);
  if (blocks > kPoolBlocks) blocks = kPoolBlocks;
  for (std::size_t b = 0; b < blocks; ++b) zero(g_pool[b]);
}

}  // namespace cohook::trace
