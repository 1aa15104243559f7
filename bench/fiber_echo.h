// A fiber that bounces every switch straight back: the fixture of the round-trip benchmarks.
// Header-only; the Makefile builds only bench/*_bench.cc into binaries.
#pragma once

#include <cstddef>

#include "coctx/fiber.h"
#include "coctx/stack.h"

namespace cohook::bench {

// How the echo side switches back: directly, or through a chain of calls (see switch_bench).
struct DirectSwitch {
  static void* to(coctx::Fiber& from, coctx::Fiber& to, void* transfer) { return from.switch_to(to, transfer); }
};

// Owns a pooled stack and an echo fiber on it, already started, so that the first measured
// round trip is a steady-state one. The fiber stays suspended at the end; dropping it is allowed.
template <class Switch = DirectSwitch>
class FiberEcho {
 public:
  explicit FiberEcho(std::size_t stack_size)
      : stack_(stack_size), fiber_(stack_.span, &FiberEcho::entry, this), main_(coctx::Fiber::running()) {
    main_.switch_to(fiber_);
  }
  FiberEcho(const FiberEcho&) = delete;
  FiberEcho& operator=(const FiberEcho&) = delete;

  coctx::Fiber& main() { return main_; }
  coctx::Fiber& fiber() { return fiber_; }

 private:
  // Declared before the fiber, so destroyed after it: the stack outlives the fiber on it.
  struct PooledStack {
    explicit PooledStack(std::size_t size) : span(coctx::StackPool::this_thread().acquire(size)) {}
    ~PooledStack() { coctx::StackPool::this_thread().release(span); }
    coctx::StackSpan span;
  };

  static void entry(void* data, void* transfer) {
    auto* self = static_cast<FiberEcho*>(data);
    for (;;) transfer = Switch::to(self->fiber_, self->main_, transfer);
  }

  PooledStack stack_;
  coctx::Fiber fiber_;
  coctx::Fiber& main_;
};

}  // namespace cohook::bench
