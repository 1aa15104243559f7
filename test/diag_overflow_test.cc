// A stack overflow is reported with the coroutine's id, name, stack size and its stack (unwound
// from the faulting context on the alternate signal stack), then the process aborts.
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
