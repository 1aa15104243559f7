// Coroutine stacks: mmap'd, a PROT_NONE guard page below each, pooled per thread for reuse.
//
// Mapping budget: the kernel caps a process at vm.max_map_count mappings (65530 by default) and a
// guarded stack costs two (the guard and the stack cannot merge with neighbours). StackPool hands
// out guarded stacks while fewer than guarded_stack_limit() exist, and past that plain stacks,
// which merge with adjacent ones into few mappings; their lowest words hold a canary (zeros, never
// written, so it costs no resident page) that the scheduler checks at every switch-out, so an
// overflow is still reported, only later.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace cohook::coctx {

inline constexpr std::size_t kDefaultStackSize = 128 * 1024;
inline constexpr std::size_t kMinStackSize = 16 * 1024;

std::size_t page_size();

struct StackSpan {
  char* low = nullptr;     // lowest usable byte (just above the guard page, if any)
  std::size_t size = 0;    // usable bytes
  bool guarded = false;    // a PROT_NONE page sits just below `low`

  char* high() const { return low + size; }
  bool contains(const void* p) const { return p >= low && p < high(); }
  // True when `addr` falls in this stack's guard page.
  bool guard_contains(const void* addr) const;
  // False when something wrote over the canary of an unguarded stack (always true if guarded).
  // A system call (mincore) for unguarded stacks: not for every switch.
  bool canary_intact() const;
  // True when `sp` is in the lowest page, where an overflow is imminent or has happened: the
  // moment to look at the canary (that page is resident anyway). Free to ask at every switch.
  bool near_low_end(const void* sp) const { return static_cast<const char*>(sp) < low + page_size(); }
};

// Rounds a requested size up to whole pages, at least kMinStackSize.
std::size_t round_stack_size(std::size_t requested);
// How many guarded stacks the process may hold, from vm.max_map_count (half, less a reserve
// for everything else that maps memory).
std::size_t guarded_stack_limit();

class StackPool {
 public:
  struct Stats {
    std::size_t in_use = 0;    // acquired and not yet released, by this thread's pool
    std::size_t pooled = 0;    // released and kept for reuse
    std::size_t unguarded = 0; // of in_use: stacks handed out without a guard page
  };

  // The calling thread's pool; stacks are released on the thread that acquired them.
  static StackPool& this_thread();

  StackPool() = default;
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;
  ~StackPool();

  // Returns a stack of round_stack_size(size) usable bytes; aborts with a message if the
  // kernel refuses memory (there is no caller that could carry on without a stack).
  StackSpan acquire(std::size_t size);
  void release(StackSpan stack);
  // Unmaps every pooled stack (the in-use ones stay).
  void trim();
  Stats stats() const { return stats_; }

  // Pooled stacks kept per thread; more than this are unmapped on release.
  static constexpr std::size_t kMaxPooled = 1024;

 private:
  std::vector<StackSpan> free_;
  Stats stats_;
};

}  // namespace cohook::coctx
