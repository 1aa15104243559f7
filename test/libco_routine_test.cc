// libco's coroutine life cycle through co_routine.h only: create/resume/yield, co_self and the
// hook switch, nesting far past libco's 128 levels, and create/release/reset loops (the paths
// that crashed in libco for years), on private and on shared stacks.
#include <gtest/gtest.h>

#include <cerrno>
#include <vector>

#include "cohook/compat/co_routine.h"

namespace {

struct Steps {
  int started = 0;
  int steps = 0;
  int finished = 0;
};

// Counts one step per resume, `limit` times, then returns.
struct Stepper {
  Steps counts;
  int limit = 0;
};

void* step_routine(void* arg) {
  auto* stepper = static_cast<Stepper*>(arg);
  ++stepper->counts.started;
  for (int i = 0; i < stepper->limit; ++i) {
    ++stepper->counts.steps;
    co_yield_ct();
  }
  ++stepper->counts.finished;
  return nullptr;
}

TEST(LibcoRoutine, ResumeRunsUntilYieldAndResumeContinues) {
  Stepper stepper;
  stepper.limit = 3;
  stCoRoutine_t* co = nullptr;
  ASSERT_EQ(co_create(&co, nullptr, step_routine, &stepper), 0);
  ASSERT_NE(co, nullptr);
  EXPECT_EQ(stepper.counts.started, 0);  // nothing runs before the first resume
  for (int i = 1; i <= 3; ++i) {
    co_resume(co);
    EXPECT_EQ(stepper.counts.steps, i);
  }
  EXPECT_EQ(stepper.counts.finished, 0);
  co_resume(co);
  EXPECT_EQ(stepper.counts.finished, 1);
  co_resume(co);  // finished: left alone
  EXPECT_EQ(stepper.counts.finished, 1);
  EXPECT_EQ(stepper.counts.started, 1);
  co_release(co);
}

// errno belongs to each coroutine: co_resume and co_yield_ct (which hand errno over on the side
// that switches, before a jump) keep the resumer's and the coroutine's apart, nested too, and a
// coroutine that ends (through the thread's reaper) leaves the resumer's errno as it was.
struct ErrnoTrace {
  stCoRoutine_t* inner = nullptr;
  int seen_at_start = -1;
  int seen_after_yield = -1;
  int inner_seen_after_yield = -1;
};

void* errno_inner(void* arg) {
  auto* trace = static_cast<ErrnoTrace*>(arg);
  errno = ERANGE;
  co_yield_ct();
  trace->inner_seen_after_yield = errno;
  errno = EDOM;  // dies with the coroutine
  return nullptr;
}

void* errno_outer(void* arg) {
  auto* trace = static_cast<ErrnoTrace*>(arg);
  trace->seen_at_start = errno;
  errno = EAGAIN;
  co_yield_ct();
  trace->seen_after_yield = errno;
  co_resume(trace->inner);  // the inner coroutine sets ERANGE and yields
  EXPECT_EQ(errno, EAGAIN);
  co_resume(trace->inner);  // and ends
  EXPECT_EQ(errno, EAGAIN);
  errno = ENOENT;
  return nullptr;
}

void expect_errno_per_coroutine(stShareStack_t* share) {
  stCoRoutineAttr_t attr;
  attr.share_stack = share;
  ErrnoTrace trace;
  stCoRoutine_t* outer = nullptr;
  ASSERT_EQ(co_create(&trace.inner, &attr, errno_inner, &trace), 0);
  ASSERT_EQ(co_create(&outer, &attr, errno_outer, &trace), 0);
  errno = EINTR;
  co_resume(outer);
  EXPECT_EQ(errno, EINTR);
  EXPECT_EQ(trace.seen_at_start, 0);  // a new coroutine starts with errno 0, as a new thread does
  errno = EBADF;
  co_resume(outer);  // resumes the inner one twice, then ends
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(trace.seen_after_yield, EAGAIN);
  EXPECT_EQ(trace.inner_seen_after_yield, ERANGE);
  co_release(outer);
  co_release(trace.inner);
}

TEST(LibcoRoutine, EachCoroutineKeepsItsOwnErrno) {
  expect_errno_per_coroutine(nullptr);
}

TEST(LibcoRoutine, EachCoroutineKeepsItsOwnErrnoOnASharedStack) {
  stShareStack_t* share = co_alloc_sharestack(1, 128 * 1024);
  expect_errno_per_coroutine(share);
  co_free_sharestack(share);
}

struct SelfCheck {
  stCoRoutine_t* co = nullptr;
  bool self_matches = false;
  bool is_main = true;
  bool hooks_at_start = true;
  bool hooks_after_enable = false;
  bool hooks_after_disable = true;
};

void* self_routine(void* arg) {
  auto* check = static_cast<SelfCheck*>(arg);
  check->self_matches = co_self() == check->co && co_get_current() == check->co;
  check->is_main = co_is_main();
  check->hooks_at_start = co_is_enable_sys_hook();
  co_enable_hook_sys();
  check->hooks_after_enable = co_is_enable_sys_hook();
  co_disable_hook_sys();
  check->hooks_after_disable = co_is_enable_sys_hook();
  return nullptr;
}

TEST(LibcoRoutine, SelfMainAndHookSwitch) {
  EXPECT_TRUE(co_is_main());
  EXPECT_NE(co_self(), nullptr);  // the main coroutine stands for the thread's stack
  EXPECT_FALSE(co_is_enable_sys_hook());
  SelfCheck check;
  ASSERT_EQ(co_create(&check.co, nullptr, self_routine, &check), 0);
  co_resume(check.co);
  EXPECT_TRUE(check.self_matches);
  EXPECT_FALSE(check.is_main);
  EXPECT_FALSE(check.hooks_at_start);  // libco: off until co_enable_hook_sys
  EXPECT_TRUE(check.hooks_after_enable);
  EXPECT_FALSE(check.hooks_after_disable);
  EXPECT_TRUE(co_is_main());
  co_release(check.co);
}

// A chain of coroutines, each resuming the next from inside itself.
struct Chain {
  std::vector<stCoRoutine_t*> routines;
  std::vector<int> order;  // indices in the order they returned
  int deepest = -1;
  bool self_ok = true;
};

struct Link {
  Chain* chain;
  int index;
};

void* chain_routine(void* arg) {
  auto* link = static_cast<Link*>(arg);
  Chain* chain = link->chain;
  stCoRoutine_t* me = co_self();
  if (me != chain->routines[link->index]) chain->self_ok = false;
  if (link->index + 1 < static_cast<int>(chain->routines.size())) {
    co_resume(chain->routines[link->index + 1]);
  } else {
    chain->deepest = link->index;
  }
  if (co_self() != me) chain->self_ok = false;  // back in ourselves after the nested run
  chain->order.push_back(link->index);
  return nullptr;
}

TEST(LibcoRoutine, NestsFarBeyondLibcoLimitOf128) {
  constexpr int kDepth = 1000;
  Chain chain;
  std::vector<Link> links(kDepth);
  stCoRoutineAttr_t attr;
  attr.stack_size = 16 * 1024;
  chain.routines.resize(kDepth);
  for (int i = 0; i < kDepth; ++i) {
    links[i] = Link{&chain, i};
    ASSERT_EQ(co_create(&chain.routines[i], &attr, chain_routine, &links[i]), 0);
  }
  co_resume(chain.routines[0]);
  EXPECT_EQ(chain.deepest, kDepth - 1);
  EXPECT_TRUE(chain.self_ok);
  ASSERT_EQ(static_cast<int>(chain.order.size()), kDepth);
  for (int i = 0; i < kDepth; ++i) EXPECT_EQ(chain.order[i], kDepth - 1 - i);  // innermost first
  for (stCoRoutine_t* co : chain.routines) co_release(co);
}

// Nested resumes where the inner coroutine yields: control goes back to its resumer (the outer
// coroutine), not to main.
struct PingPong {
  stCoRoutine_t* inner = nullptr;
  std::vector<char> trace;
};

void* inner_routine(void* arg) {
  auto* p = static_cast<PingPong*>(arg);
  p->trace.push_back('a');
  co_yield_ct();
  p->trace.push_back('c');
  return nullptr;
}

void* outer_routine(void* arg) {
  auto* p = static_cast<PingPong*>(arg);
  co_resume(p->inner);
  p->trace.push_back('b');
  co_resume(p->inner);
  p->trace.push_back('d');
  return nullptr;
}

TEST(LibcoRoutine, YieldReturnsToTheResumingCoroutine) {
  PingPong p;
  stCoRoutine_t* outer = nullptr;
  ASSERT_EQ(co_create(&p.inner, nullptr, inner_routine, &p), 0);
  ASSERT_EQ(co_create(&outer, nullptr, outer_routine, &p), 0);
  co_resume(outer);
  EXPECT_EQ(std::string(p.trace.begin(), p.trace.end()), "abcd");
  co_release(outer);
  co_release(p.inner);
}

class LifeCycleLoops : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam()) {
      share_ = co_alloc_sharestack(2, 64 * 1024);
      ASSERT_NE(share_, nullptr);
    }
    attr_.stack_size = 32 * 1024;
    attr_.share_stack = share_;
  }
  void TearDown() override { co_free_sharestack(share_); }

  stShareStack_t* share_ = nullptr;
  stCoRoutineAttr_t attr_;
};

TEST_P(LifeCycleLoops, CreateRunToEndRelease) {
  Stepper stepper;
  stepper.limit = 0;
  for (int i = 0; i < 5000; ++i) {
    stCoRoutine_t* co = nullptr;
    ASSERT_EQ(co_create(&co, &attr_, step_routine, &stepper), 0);
    co_resume(co);
    co_release(co);
  }
  EXPECT_EQ(stepper.counts.started, 5000);
  EXPECT_EQ(stepper.counts.finished, 5000);
}

TEST_P(LifeCycleLoops, ReleaseNeverStartedAndSuspended) {
  Stepper stepper;
  stepper.limit = 5;
  for (int i = 0; i < 5000; ++i) {
    stCoRoutine_t* never = nullptr;
    stCoRoutine_t* suspended = nullptr;
    ASSERT_EQ(co_create(&never, &attr_, step_routine, &stepper), 0);
    ASSERT_EQ(co_create(&suspended, &attr_, step_routine, &stepper), 0);
    co_resume(suspended);
    co_resume(suspended);
    co_release(never);
    co_release(suspended);  // abandoned mid-routine; must never run again
  }
  EXPECT_EQ(stepper.counts.started, 5000);
  EXPECT_EQ(stepper.counts.steps, 10000);
  EXPECT_EQ(stepper.counts.finished, 0);
}

TEST_P(LifeCycleLoops, ResetFinishedAndSuspendedStartOver) {
  Stepper stepper;
  stepper.limit = 2;
  stCoRoutine_t* co = nullptr;
  ASSERT_EQ(co_create(&co, &attr_, step_routine, &stepper), 0);
  for (int i = 0; i < 2000; ++i) {
    co_resume(co);  // started, one step
    if (i % 2 == 0) {
      co_resume(co);
      co_resume(co);  // finished
    }
    co_reset(co);  // finished or suspended: the next resume starts over
  }
  EXPECT_EQ(stepper.counts.started, 2000);
  EXPECT_EQ(stepper.counts.finished, 1000);
  EXPECT_EQ(stepper.counts.steps, 3000);
  co_reset(co);  // never started since the last reset: no-op
  co_release(co);
}

TEST_P(LifeCycleLoops, InterleavedOnSharedStacksKeepEachOthersFrames) {
  // Many suspended at once on the same stacks, released in a different order than created.
  std::vector<Stepper> steppers(64);
  std::vector<stCoRoutine_t*> routines(64);
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 64; ++i) {
      steppers[i].limit = 3;
      ASSERT_EQ(co_create(&routines[i], &attr_, step_routine, &steppers[i]), 0);
      co_resume(routines[i]);
    }
    for (int i = 63; i >= 0; --i)
      if (i % 3 == 0) co_reset(routines[i]);
    for (int i = 0; i < 64; i += 2) co_release(routines[i]);
    for (int i = 1; i < 64; i += 2) {
      for (int k = 0; k < 4; ++k) co_resume(routines[i]);
      co_release(routines[i]);
    }
  }
  int finished = 0;
  for (const Stepper& s : steppers) finished += s.counts.finished;
  // The odd ones ran to the end each round: 32 per round.
  EXPECT_EQ(finished, 50 * 32);
}

INSTANTIATE_TEST_SUITE_P(PrivateAndShared, LifeCycleLoops, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? std::string("SharedStacks") : std::string("PrivateStacks");
                         });

}  // namespace
