#include "coctx/stack.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace cohook::coctx {
namespace {

// The canary of an unguarded stack is its lowest cache line, left as mmap gave it: zero. A
// written pattern would cost a resident page per stack (the lowest page, otherwise untouched:
// 4 KiB of RSS for each of 100,000 parked coroutines), and so would merely reading it (the zero
// page counts as resident). So canary_intact() first asks the kernel whether that page was ever
// touched (mincore): if not, nothing reached it. An overflow that reaches the canary writes
// return addresses and saved registers; that all 64 bytes stay zero is very unlikely.
constexpr std::size_t kCanaryWords = 8;

std::atomic<std::size_t> g_guarded_stacks{0};

std::size_t read_max_map_count() {
  std::size_t value = 65530;  // the kernel's default, if /proc cannot tell
  if (FILE* f = std::fopen("/proc/sys/vm/max_map_count", "re")) {
    unsigned long v = 0;
    if (std::fscanf(f, "%lu", &v) == 1 && v > 0) value = v;
    std::fclose(f);
  }
  return value;
}

[[noreturn]] void die_no_memory(std::size_t bytes) {
  char msg[160];
  int n = std::snprintf(msg, sizeof msg, "cohook: cannot map a %zu-byte coroutine stack: %s\n", bytes,
                        std::strerror(errno));
  // Raw write(2): coctx sits below the hook layer that interposes write().
  (void)!::syscall(SYS_write, STDERR_FILENO, msg, n > 0 ? static_cast<std::size_t>(n) : 0);
  std::abort();
}

void unmap(const StackSpan& s) {
  std::size_t guard = s.guarded ? page_size() : 0;
  ::munmap(s.low - guard, s.size + guard);
  if (s.guarded) g_guarded_stacks.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace

std::size_t page_size() {
  static const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

std::size_t round_stack_size(std::size_t requested) {
  std::size_t page = page_size();
  std::size_t size = std::max(requested, kMinStackSize);
  return (size + page - 1) / page * page;
}

std::size_t guarded_stack_limit() {
  static const std::size_t limit = [] {
    std::size_t max_maps = read_max_map_count();
    std::size_t reserve = std::min<std::size_t>(8192, max_maps / 4);
    return (max_maps - reserve) / 2;
  }();
  return limit;
}

bool StackSpan::guard_contains(const void* addr) const {
  if (!guarded) return false;
  return addr >= low - page_size() && addr < low;
}

bool StackSpan::canary_intact() const {
  if (guarded) return true;
  unsigned char resident = 0;
  if (::mincore(low, page_size(), &resident) == 0 && (resident & 1) == 0) return true;  // never touched
  auto* words = reinterpret_cast<const std::uint64_t*>(low);
  std::uint64_t any = 0;
  for (std::size_t i = 0; i < kCanaryWords; ++i) any |= words[i];
  return any == 0;
}

StackPool& StackPool::this_thread() {
  static thread_local StackPool pool;
  return pool;
}

StackPool::~StackPool() { trim(); }

StackSpan StackPool::acquire(std::size_t size) {
  size = round_stack_size(size);
  for (std::size_t i = free_.size(); i-- > 0;) {
    if (free_[i].size == size) {
      StackSpan s = free_[i];
      free_[i] = free_.back();
      free_.pop_back();
      --stats_.pooled;
      ++stats_.in_use;
      stats_.unguarded += s.guarded ? 0 : 1;
      return s;
    }
  }
  StackSpan s;
  s.size = size;
  if (g_guarded_stacks.fetch_add(1, std::memory_order_relaxed) < guarded_stack_limit()) {
    std::size_t guard = page_size();
    // MAP_NORESERVE: only touched pages cost memory; a parked coroutine touches a few.
    void* p = ::mmap(nullptr, size + guard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0);
    if (p == MAP_FAILED) die_no_memory(size + guard);
    if (::mprotect(p, guard, PROT_NONE) != 0) die_no_memory(size + guard);
    s.low = static_cast<char*>(p) + guard;
    s.guarded = true;
  } else {
    g_guarded_stacks.fetch_sub(1, std::memory_order_relaxed);
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) die_no_memory(size);
    s.low = static_cast<char*>(p);  // fresh anonymous memory: the canary is in place
    ++stats_.unguarded;
  }
  ++stats_.in_use;
  return s;
}

void StackPool::release(StackSpan stack) {
  --stats_.in_use;
  stats_.unguarded -= stack.guarded ? 0 : 1;
  if (free_.size() >= kMaxPooled || !stack.canary_intact()) {
    unmap(stack);
    return;
  }
  free_.push_back(stack);
  ++stats_.pooled;
}

void StackPool::trim() {
  for (const StackSpan& s : free_) unmap(s);
  free_.clear();
  stats_.pooled = 0;
}

}  // namespace cohook::coctx
