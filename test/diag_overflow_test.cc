// A stack overflow is reported with the coroutine's id, name, stack size and its stack (unwound
// from the faulting context on the alternate signal stack), then the process aborts.
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "cohook/cohook.hpp"
#include "coctx/stack.h"
#include "sched/scheduler.h"

namespace cohook {
namespace {

// Recurses until the guard page stops it (the limit only keeps the compiler from seeing an
// endless recursion). The volatile frame keeps every level a real frame.
[[gnu::noinline]] int dig_until_the_stack_ends(int depth, int limit) {
  volatile char frame[256];
  frame[0] = static_cast<char>(depth);
  if (depth == limit) return frame[0];
  return dig_until_the_stack_ends(depth + 1, limit) + frame[0];
}

[[gnu::noinline]] void start_digging() { dig_until_the_stack_ends(0, 1 << 30); }

TEST(DiagOverflowDeathTest, ReportShowsTheOverflowingFunction) {
#if defined(__SANITIZE_THREAD__)
  // The report unwinds and symbolizes inside the SIGSEGV handler (dlopen, malloc, dladdr): not
  // async-signal-safe, and deliberately so, since the process aborts right after and an alarm
  // ends it should the overflowing code have held a lock the report needs
  // (sched/stack_overflow.cc). ThreadSanitizer reports every such call and stops; the death
  // test's child (a re-execution of this binary, with this environment) is told not to.
  const char* options = std::getenv("TSAN_OPTIONS");
  ::setenv("TSAN_OPTIONS", (std::string(options != nullptr ? options : "") + ":report_signal_unsafe=0").c_str(), 1);
#endif
  EXPECT_DEATH(
      {
        Scheduler& s = Scheduler::this_thread();
        s.spawn([] { start_digging(); }, {coctx::kMinStackSize, "digger"})->release();
        s.run_until_idle();
      },
      "stack overflow in coroutine #[0-9]+ 'digger' \\(stack of [0-9]+ bytes\\).*"
      "its stack, innermost frame first:.*dig_until_the_stack_ends\\(int, int\\).*\\+0x[0-9a-f]+ \\(diag_overflow_test\\) \\(and [0-9]+ more frames "
      "of it\\)");
}

}  // namespace
}  // namespace cohook
