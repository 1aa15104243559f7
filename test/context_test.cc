// coctx: the raw switch, fibers, shared stacks and the stack pool.
#include <cfenv>
#include <cstdint>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>
#include <sys/mman.h>

#include "coctx/fiber.h"
#include "coctx/stack.h"

namespace cohook::coctx {
namespace {

struct PingPong {
  Fiber* main = nullptr;
  Fiber* self = nullptr;
  std::vector<std::uintptr_t> received;
};

void ping_pong_entry(void* data, void* transfer) {
  auto* p = static_cast<PingPong*>(data);
  for (;;) {
    p->received.push_back(reinterpret_cast<std::uintptr_t>(transfer));
    transfer = p->self->switch_to(*p->main, reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(transfer) * 2));
  }
}

TEST(ContextTest, TransferValuesFlowBothWays) {
  StackSpan stack = StackPool::this_thread().acquire(64 * 1024);
  PingPong p;
  Fiber fiber(stack, &ping_pong_entry, &p);
  p.main = &Fiber::running();
  p.self = &fiber;
  for (std::uintptr_t i = 1; i <= 1000; ++i) {
    void* back = p.main->switch_to(fiber, reinterpret_cast<void*>(i));
    ASSERT_EQ(reinterpret_cast<std::uintptr_t>(back), i * 2);
  }
  ASSERT_EQ(p.received.size(), 1000u);
  EXPECT_EQ(p.received.front(), 1u);
  EXPECT_EQ(p.received.back(), 1000u);
  EXPECT_EQ(&Fiber::running(), p.main);
  StackPool::this_thread().release(stack);
}

#if defined(__x86_64__)
// The other side scribbles on every callee-saved register at the moment it switches back.
void clobber_entry(void* data, void*) {
  auto* p = static_cast<PingPong*>(data);
  for (;;) {
    asm volatile(
        "mov $0x1111, %%rbx\n\tmov $0x2222, %%r12\n\tmov $0x3333, %%r13\n\t"
        "mov $0x4444, %%r14\n\tmov $0x5555, %%r15\n\t" ::
            : "rbx", "r12", "r13", "r14", "r15");
    p->self->switch_to(*p->main);
  }
}

TEST(ContextTest, CalleeSavedRegistersSurviveSwitch) {
  StackSpan stack = StackPool::this_thread().acquire(64 * 1024);
  PingPong p;
  Fiber fiber(stack, &clobber_entry, &p);
  p.main = &Fiber::running();
  p.self = &fiber;
  for (int round = 0; round < 3; ++round) {
    register std::uint64_t rbx asm("rbx") = 0xB0B0 + round;
    register std::uint64_t r12 asm("r12") = 0x1200 + round;
    register std::uint64_t r13 asm("r13") = 0x1300 + round;
    register std::uint64_t r14 asm("r14") = 0x1400 + round;
    register std::uint64_t r15 asm("r15") = 0x1500 + round;
    // Pin the values into those registers across the call: the compiler relies on the callee
    // (our switch) to preserve them, which is exactly the contract under test.
    asm volatile("" : "+r"(rbx), "+r"(r12), "+r"(r13), "+r"(r14), "+r"(r15));
    p.main->switch_to(fiber);
    asm volatile("" : "+r"(rbx), "+r"(r12), "+r"(r13), "+r"(r14), "+r"(r15));
    std::uint64_t got[5] = {rbx, r12, r13, r14, r15};
    EXPECT_EQ(got[0], 0xB0B0u + round);
    EXPECT_EQ(got[1], 0x1200u + round);
    EXPECT_EQ(got[2], 0x1300u + round);
    EXPECT_EQ(got[3], 0x1400u + round);
    EXPECT_EQ(got[4], 0x1500u + round);
  }
  StackPool::this_thread().release(stack);
}
#endif

struct RoundingModes {
  Fiber* main;
  Fiber* self;
  int seen_on_resume = -1;
};

void rounding_entry(void* data, void*) {
  auto* r = static_cast<RoundingModes*>(data);
  std::fesetround(FE_UPWARD);
  for (;;) {
    r->self->switch_to(*r->main);
    r->seen_on_resume = std::fegetround();
  }
}

TEST(ContextTest, FloatingPointControlStateIsPerFiber) {
  StackSpan stack = StackPool::this_thread().acquire(64 * 1024);
  RoundingModes r{&Fiber::running(), nullptr};
  Fiber fiber(stack, &rounding_entry, &r);
  r.self = &fiber;
  int original = std::fegetround();
  std::fesetround(FE_TOWARDZERO);
  r.main->switch_to(fiber);  // fiber sets FE_UPWARD, switches back
  EXPECT_EQ(std::fegetround(), FE_TOWARDZERO);
  r.main->switch_to(fiber);
  EXPECT_EQ(r.seen_on_resume, FE_UPWARD);
  EXPECT_EQ(std::fegetround(), FE_TOWARDZERO);
  std::fesetround(original);
  StackPool::this_thread().release(stack);
}

struct SharedWorker {
  Fiber* main;
  Fiber* self;
  int id;
  bool ok = true;
  int rounds = 0;
};

void shared_entry(void* data, void*) {
  auto* w = static_cast<SharedWorker*>(data);
  // Data on the shared stack must come back intact after other fibers used the same stack.
  char pattern[512];
  for (std::size_t i = 0; i < sizeof pattern; ++i) pattern[i] = static_cast<char>(w->id * 31 + i);
  for (;;) {
    w->self->switch_to(*w->main);
    for (std::size_t i = 0; i < sizeof pattern; ++i)
      if (pattern[i] != static_cast<char>(w->id * 31 + i)) w->ok = false;
    ++w->rounds;
  }
}

TEST(ContextTest, SharedStackKeepsEachFibersFrames) {
  SharedStack shared(64 * 1024);
  constexpr int kFibers = 8;
  std::vector<SharedWorker> workers(kFibers);
  std::vector<std::unique_ptr<Fiber>> fibers;
  for (int i = 0; i < kFibers; ++i) {
    workers[i] = SharedWorker{&Fiber::running(), nullptr, i};
    fibers.push_back(std::make_unique<Fiber>(shared, &shared_entry, &workers[i]));
    workers[i].self = fibers.back().get();
  }
  for (int round = 0; round < 50; ++round)
    for (int i = 0; i < kFibers; ++i) Fiber::running().switch_to(*fibers[i]);
  for (auto& w : workers) {
    EXPECT_TRUE(w.ok) << "fiber " << w.id;
    EXPECT_EQ(w.rounds, 49);
  }
  EXPECT_GT(fibers[0]->saved_image_size(), 512u);
}

// Two fibers on the same shared stack switching to each other directly (the copier path).
struct Pair {
  Fiber* main;
  Fiber* a;
  Fiber* b;
  int a_value = 0, b_value = 0;
};

void pair_a(void* data, void*) {
  auto* p = static_cast<Pair*>(data);
  volatile int local = 1234;
  for (int i = 0; i < 10; ++i) {
    p->a->switch_to(*p->b);
    p->a_value += local;
  }
  p->a->exit_to(*p->main);
}

void pair_b(void* data, void*) {
  auto* p = static_cast<Pair*>(data);
  volatile int local = 4321;
  for (;;) {
    p->b_value += local;
    p->b->switch_to(*p->a);
  }
}

TEST(ContextTest, FibersOnOneSharedStackSwitchDirectly) {
  SharedStack shared(64 * 1024);
  Pair p{&Fiber::running(), nullptr, nullptr};
  Fiber a(shared, &pair_a, &p), b(shared, &pair_b, &p);
  p.a = &a;
  p.b = &b;
  Fiber::running().switch_to(a);
  EXPECT_EQ(p.a_value, 12340);
  EXPECT_EQ(p.b_value, 43210);
}

TEST(StackPoolTest, ReusesReleasedStacks) {
  StackPool pool;
  StackSpan first = pool.acquire(100 * 1024);
  EXPECT_EQ(first.size % page_size(), 0u);
  EXPECT_GE(first.size, 100u * 1024);
  std::memset(first.low, 0xAB, first.size);  // the whole span is writable
  pool.release(first);
  EXPECT_EQ(pool.stats().pooled, 1u);
  StackSpan second = pool.acquire(100 * 1024);
  EXPECT_EQ(second.low, first.low);
  EXPECT_EQ(pool.stats().in_use, 1u);
  pool.release(second);
}

TEST(StackPoolTest, GuardPageSitsBelowTheStack) {
  StackPool pool;
  StackSpan s = pool.acquire(kMinStackSize);
  ASSERT_TRUE(s.guarded);
  EXPECT_TRUE(s.guard_contains(s.low - 1));
  EXPECT_FALSE(s.guard_contains(s.low));
  EXPECT_GT(guarded_stack_limit(), 1000u);
  pool.release(s);
}

// An unguarded stack's canary costs no memory until something reaches it, and a write into it
// is seen. (The pool hands out unguarded stacks only past ~28,000 live ones; this one is built by
// hand the way the pool builds them.)
TEST(StackPoolTest, UnguardedCanaryCostsNoPageAndSeesAnOverflow) {
  const std::size_t size = 64 * 1024;
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  StackSpan s{static_cast<char*>(p), size, false};
  auto resident = [&] {
    unsigned char vec = 0;
    EXPECT_EQ(::mincore(s.low, page_size(), &vec), 0);
    return (vec & 1) != 0;
  };
  s.high()[-1] = 1;  // a coroutine's frames at the top
  EXPECT_TRUE(s.canary_intact());
  EXPECT_FALSE(resident()) << "checking the canary must not fault in the lowest page";
  EXPECT_FALSE(s.near_low_end(s.high() - 64));
  EXPECT_TRUE(s.near_low_end(s.low + 100));

  s.low[1000] = 7;  // deep, but above the canary: not an overflow
  EXPECT_TRUE(s.canary_intact());
  s.low[8] = 1;  // into the canary
  EXPECT_FALSE(s.canary_intact());
  ::munmap(p, size);
}

TEST(StackPoolDeathTest, WritingIntoTheGuardPageFaults) {
  StackPool pool;
  StackSpan s = pool.acquire(kMinStackSize);
  EXPECT_DEATH({ *(volatile char*)(s.low - 1) = 1; }, "");
  pool.release(s);
}

}  // namespace
}  // namespace cohook::coctx
