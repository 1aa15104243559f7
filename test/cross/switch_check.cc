// switch_check: a GoogleTest-free check of coctx (make_context, cohook_switch_context, Fiber,
// SharedStack), small enough to build statically for aarch64 and run under qemu-user
// (`make cross`), and built from the same source natively on x86_64.
//
// What it checks:
//   - transfer values in both directions, over many round trips;
//   - a fiber that finishes through exit_to, and stacks going back to the pool;
//   - switches between two fibers (not only to and from the thread's own stack);
//   - callee-saved registers surviving a switch while the other side clobbers them, twice:
//     with register-asm variables around Fiber::switch_to, and exactly, with a probe written
//     in assembly that loads every callee-saved register (frame pointer included) before a raw
//     cohook_switch_context and reads them all back after it;
//   - FP control state (rounding mode, flush-to-zero) kept per context;
//   - fibers on a SharedStack keeping their stack-resident data (through the copier, too).
// The last line of output is "switch_check: N passed, M failed"; the exit status is 1 if M > 0.

#include <fenv.h>
#include <signal.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "coctx/context.h"
#include "coctx/fiber.h"
#include "coctx/stack.h"

#include <valgrind/valgrind.h>

using cohook::coctx::Context;
using cohook::coctx::Fiber;
using cohook::coctx::SharedStack;
using cohook::coctx::StackPool;
using cohook::coctx::StackSpan;

namespace {

int g_passed = 0;
int g_failed = 0;

void check(bool ok, const char* what, const char* file, int line) {
  if (ok) {
    ++g_passed;
  } else {
    ++g_failed;
    std::printf("FAILED %s:%d: %s\n", file, line, what);
    std::fflush(stdout);
  }
}
#define CHECK(cond) check(static_cast<bool>(cond), #cond, __FILE__, __LINE__)

// Checks inside long loops count once: the loop's first failure is reported, and the loop's
// verdict is one pass or one fail.
struct LoopCheck {
  const char* name;
  bool ok = true;
  explicit LoopCheck(const char* n) : name(n) {}
  void expect(bool cond, const char* what, long iteration) {
    if (!cond && ok) {
      std::printf("FAILED %s: %s (first at iteration %ld)\n", name, what, iteration);
      std::fflush(stdout);
      ok = false;
    }
  }
  void finish() { ok ? ++g_passed : ++g_failed; }
};

void* as_ptr(std::uintptr_t v) { return reinterpret_cast<void*>(v); }
std::uintptr_t as_int(void* p) { return reinterpret_cast<std::uintptr_t>(p); }

constexpr std::size_t kStack = 64 * 1024;

StackSpan take_stack(std::size_t size = kStack) { return StackPool::this_thread().acquire(size); }
void give_stack(StackSpan s) { StackPool::this_thread().release(s); }

// ---------------------------------------------------------------- transfer values, round trips

struct EchoFiber {
  Fiber* self = nullptr;
  Fiber* back = nullptr;
  void* first = nullptr;
  bool running_ok = true;
};

void echo_entry(void* data, void* transfer) {
  auto* e = static_cast<EchoFiber*>(data);
  e->first = transfer;
  // Each value received is answered with 2v+1.
  for (;;) {
    if (&Fiber::running() != e->self) e->running_ok = false;
    transfer = e->self->switch_to(*e->back, as_ptr(as_int(transfer) * 2 + 1));
  }
}

void test_transfer_and_round_trips() {
  StackSpan stack = take_stack();
  EchoFiber e;
  Fiber fiber(stack, &echo_entry, &e);
  Fiber& main = Fiber::running();
  e.self = &fiber;
  e.back = &main;
  CHECK(&main == &Fiber::thread_fiber());

  int marker = 0;
  void* reply = main.switch_to(fiber, &marker);
  CHECK(e.first == &marker);                       // main -> fiber: the first transfer is the entry's argument
  CHECK(as_int(reply) == as_int(&marker) * 2 + 1);  // fiber -> main: switch_to's result
  CHECK(&Fiber::running() == &main);

  LoopCheck loop("1,000,000 round trips carry values both ways");
  for (long i = 0; i < 1000000; ++i) {
    void* r = main.switch_to(fiber, as_ptr(static_cast<std::uintptr_t>(i)));
    loop.expect(as_int(r) == static_cast<std::uintptr_t>(i) * 2 + 1, "reply == 2i+1", i);
  }
  loop.finish();
  CHECK(e.running_ok);  // Fiber::running() named the fiber whenever it ran
  CHECK(&Fiber::running() == &main);
  // The fiber stays suspended forever; destroying it and its stack is allowed.
  give_stack(stack);
}

// ---------------------------------------------------------------- exit_to, pool reuse

struct Finisher {
  Fiber* self = nullptr;
  Fiber* back = nullptr;
  long sum = 0;
};

void finisher_entry(void* data, void* transfer) {
  auto* f = static_cast<Finisher*>(data);
  long n = static_cast<long>(as_int(transfer));
  for (long i = 1; i <= n; ++i) {
    f->sum += i;
    if (i % 3 == 0) f->self->switch_to(*f->back, as_ptr(0));  // a few ordinary suspensions first
  }
  f->self->exit_to(*f->back, as_ptr(static_cast<std::uintptr_t>(f->sum)));
}

void test_exit_to() {
  Fiber& main = Fiber::running();
  std::size_t in_use_before = StackPool::this_thread().stats().in_use;
  LoopCheck loop("1000 fibers finish through exit_to");
  for (long round = 0; round < 1000; ++round) {
    StackSpan stack = take_stack();
    Finisher f;
    Fiber fiber(stack, &finisher_entry, &f);
    f.self = &fiber;
    f.back = &main;
    long n = 10 + round % 7;
    void* r = main.switch_to(fiber, as_ptr(static_cast<std::uintptr_t>(n)));
    int suspensions = 0;
    while (r == as_ptr(0)) {
      ++suspensions;
      r = main.switch_to(fiber);
    }
    loop.expect(static_cast<long>(as_int(r)) == n * (n + 1) / 2, "exit_to's transfer is the sum", round);
    loop.expect(suspensions == n / 3, "suspended n/3 times before finishing", round);
    loop.expect(&Fiber::running() == &main, "main runs again", round);
    give_stack(stack);
  }
  loop.finish();
  CHECK(StackPool::this_thread().stats().in_use == in_use_before);  // every stack went back
}

// ---------------------------------------------------------------- fiber to fiber

struct Pair {
  Fiber* a = nullptr;
  Fiber* b = nullptr;
  Fiber* main = nullptr;
  long hops = 0;
  bool ok = true;
};

void pair_a(void* data, void* transfer) {
  auto* p = static_cast<Pair*>(data);
  for (;;) {
    // A passes the count to B, B hands it back incremented; A reports to main.
    void* r = p->a->switch_to(*p->b, transfer);
    if (as_int(r) != as_int(transfer) + 1 || &Fiber::running() != p->a) p->ok = false;
    ++p->hops;
    transfer = p->a->switch_to(*p->main, r);
  }
}

void pair_b(void* data, void* transfer) {
  auto* p = static_cast<Pair*>(data);
  for (;;) {
    if (&Fiber::running() != p->b) p->ok = false;
    transfer = p->b->switch_to(*p->a, as_ptr(as_int(transfer) + 1));
  }
}

void test_fiber_to_fiber() {
  StackSpan sa = take_stack(), sb = take_stack();
  Pair p;
  Fiber a(sa, &pair_a, &p), b(sb, &pair_b, &p);
  p.a = &a;
  p.b = &b;
  p.main = &Fiber::running();
  LoopCheck loop("main -> A -> B -> A -> main, 10,000 times");
  for (long i = 0; i < 10000; ++i) {
    void* r = p.main->switch_to(a, as_ptr(static_cast<std::uintptr_t>(i * 10)));
    loop.expect(as_int(r) == static_cast<std::uintptr_t>(i * 10 + 1), "B's increment came back through A", i);
  }
  loop.finish();
  CHECK(p.ok);
  CHECK(p.hops == 10000);
  give_stack(sa);
  give_stack(sb);
}

// ---------------------------------------------------------------- callee-saved registers (1)
// Register-asm variables pinned by empty asm statements on both sides of Fiber::switch_to. The
// compiler keeps a callee-saved register's value across a call without spilling it, so a switch
// that lost one would show here. Both sides do this with different patterns, and each side
// also scribbles over every callee-saved register right before its own switch.

#if defined(__x86_64__)
#define SC_GP_REGS(X) X(rbx) X(r12) X(r13) X(r14) X(r15)
#define SC_CLOBBER_ASM                                                                          \
  asm volatile("movq $-1, %%rbx\n\tmovq $-2, %%r12\n\tmovq $-3, %%r13\n\tmovq $-4, %%r14\n\t" \
               "movq $-5, %%r15" ::: "rbx", "r12", "r13", "r14", "r15", "memory")
#elif defined(__aarch64__)
#define SC_GP_REGS(X) X(x19) X(x20) X(x21) X(x22) X(x23) X(x24) X(x25) X(x26) X(x27) X(x28)
#define SC_FP_REGS(X) X(d8) X(d9) X(d10) X(d11) X(d12) X(d13) X(d14) X(d15)
#define SC_CLOBBER_ASM                                                                               \
  asm volatile(                                                                                      \
      "mov x19, #-1\n\tmov x20, #-2\n\tmov x21, #-3\n\tmov x22, #-4\n\tmov x23, #-5\n\t"             \
      "mov x24, #-6\n\tmov x25, #-7\n\tmov x26, #-8\n\tmov x27, #-9\n\tmov x28, #-10\n\t"            \
      "fmov d8, #-1.0\n\tfmov d9, #-2.0\n\tfmov d10, #-3.0\n\tfmov d11, #-4.0\n\t"                  \
      "fmov d12, #-5.0\n\tfmov d13, #-6.0\n\tfmov d14, #-7.0\n\tfmov d15, #-8.0" ::                  \
          : "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28", "v8", "v9", "v10", \
            "v11", "v12", "v13", "v14", "v15", "memory")
#else
#error "switch_check knows x86_64 and aarch64 only"
#endif

// Bit i of the result is set if the i-th register (GP first, then FP) lost its value.
__attribute__((noinline)) unsigned hold_across_switch(Fiber& self, Fiber& other, std::uint64_t seed) {
  unsigned lost = 0;
  unsigned bit = 0;
  std::uint64_t value = seed;
#define SC_DECLARE_GP(r)                          \
  register std::uint64_t v_##r asm(#r) = value; \
  value = value * 0x9E3779B97F4A7C15ull + 1;
  SC_GP_REGS(SC_DECLARE_GP)
#ifdef SC_FP_REGS
#define SC_DECLARE_FP(r)                                                 \
  register double v_##r asm(#r) = static_cast<double>(value >> 20) + 0.5; \
  value = value * 0x9E3779B97F4A7C15ull + 1;
  SC_FP_REGS(SC_DECLARE_FP)
#endif
#define SC_PIN_GP(r) asm volatile("" : "+r"(v_##r));
#define SC_PIN_FP(r) asm volatile("" : "+w"(v_##r));
  SC_GP_REGS(SC_PIN_GP)
#ifdef SC_FP_REGS
  SC_FP_REGS(SC_PIN_FP)
#endif
  self.switch_to(other);
  SC_GP_REGS(SC_PIN_GP)
#ifdef SC_FP_REGS
  SC_FP_REGS(SC_PIN_FP)
#endif
  value = seed;
#define SC_VERIFY_GP(r)                     \
  if (v_##r != value) lost |= 1u << bit; \
  ++bit;                                  \
  value = value * 0x9E3779B97F4A7C15ull + 1;
  SC_GP_REGS(SC_VERIFY_GP)
#ifdef SC_FP_REGS
#define SC_VERIFY_FP(r)                                                          \
  if (v_##r != static_cast<double>(value >> 20) + 0.5) lost |= 1u << bit; \
  ++bit;                                                                       \
  value = value * 0x9E3779B97F4A7C15ull + 1;
  SC_FP_REGS(SC_VERIFY_FP)
#endif
  return lost;
}

const char* const kRegNames[] = {
#define SC_NAME(r) #r,
    SC_GP_REGS(SC_NAME)
#ifdef SC_FP_REGS
        SC_FP_REGS(SC_NAME)
#endif
};

void report_lost(const char* side, unsigned lost) {
  for (unsigned i = 0; i < sizeof kRegNames / sizeof kRegNames[0]; ++i)
    if (lost & (1u << i)) std::printf("  %s side lost %s\n", side, kRegNames[i]);
}

struct Holder {
  Fiber* self = nullptr;
  Fiber* main = nullptr;
  unsigned lost = 0;
  long rounds = 0;
};

__attribute__((noinline)) void scribble_callee_saved() { SC_CLOBBER_ASM; }

void holder_entry(void* data, void*) {
  auto* h = static_cast<Holder*>(data);
  for (std::uint64_t seed = 0xF1BE5EED;; ++seed) {
    h->lost |= hold_across_switch(*h->self, *h->main, seed);
    ++h->rounds;
    scribble_callee_saved();
  }
}

void test_callee_saved_register_vars() {
  StackSpan stack = take_stack();
  Holder h;
  Fiber fiber(stack, &holder_entry, &h);
  Fiber& main = Fiber::running();
  h.self = &fiber;
  h.main = &main;
  main.switch_to(fiber);  // the fiber now sits in hold_across_switch with its pattern loaded
  unsigned lost = 0;
  for (std::uint64_t seed = 0xA11CE; seed < 0xA11CE + 20000; ++seed) {
    scribble_callee_saved();
    lost |= hold_across_switch(main, fiber, seed);
  }
  report_lost("main", lost);
  report_lost("fiber", h.lost);
  CHECK(lost == 0);    // main's callee-saved registers survived the fiber's scribbling
  CHECK(h.lost == 0);  // and the fiber's survived main's
  CHECK(h.rounds == 20000);
  give_stack(stack);
}

// ---------------------------------------------------------------- callee-saved registers (2)
// switch_check_probe(save_sp, load_sp, transfer, out) saves the caller's callee-saved registers,
// loads a known pattern into every one of them (the frame pointer included, which a compiler
// will not hand to a register variable), calls cohook_switch_context, and when resumed stores
// every callee-saved register, and sp before and after, into out[], then restores the caller's.

#if defined(__x86_64__)
// out[0..5]: rbx rbp r12 r13 r14 r15; out[6]: rsp before the call; out[7]: rsp after it.
constexpr int kProbeRegs = 6;
constexpr std::uint64_t kProbePattern[kProbeRegs] = {
    0x0B0B0B0B0B0B0B01ull, 0x0B0B0B0B0B0B0B02ull, 0x1212121212121203ull,
    0x1313131313131304ull, 0x1414141414141405ull, 0x1515151515151506ull};
const char* const kProbeNames[kProbeRegs] = {"rbx", "rbp", "r12", "r13", "r14", "r15"};
asm(R"(
    .pushsection .text
    .type   switch_check_probe, @function
    .p2align 4
switch_check_probe:
    pushq   %rbp
    pushq   %rbx
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    pushq   %rcx                        # out; 7 pushes leave rsp 16-aligned for the call
    movabsq $0x0B0B0B0B0B0B0B01, %rbx
    movabsq $0x0B0B0B0B0B0B0B02, %rbp
    movabsq $0x1212121212121203, %r12
    movabsq $0x1313131313131304, %r13
    movabsq $0x1414141414141405, %r14
    movabsq $0x1515151515151506, %r15
    movq    %rsp, 48(%rcx)
    call    cohook_switch_context
    movq    (%rsp), %rcx
    movq    %rbx, 0(%rcx)
    movq    %rbp, 8(%rcx)
    movq    %r12, 16(%rcx)
    movq    %r13, 24(%rcx)
    movq    %r14, 32(%rcx)
    movq    %r15, 40(%rcx)
    movq    %rsp, 56(%rcx)
    popq    %rcx
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    ret
    .size   switch_check_probe, .-switch_check_probe
    .popsection
)");
#elif defined(__aarch64__)
// out[0..10]: x19-x29; out[11..18]: d8-d15 (bits); out[19]: sp before the call; out[20]: after.
constexpr int kProbeRegs = 19;
constexpr std::uint64_t kProbePattern[kProbeRegs] = {
    0x1919191919191919ull, 0x2020202020202020ull, 0x2121212121212121ull, 0x2222222222222222ull,
    0x2323232323232323ull, 0x2424242424242424ull, 0x2525252525252525ull, 0x2626262626262626ull,
    0x2727272727272727ull, 0x2828282828282828ull, 0x2929292929292929ull, 0x0808080808080808ull,
    0x0909090909090909ull, 0x1010101010101010ull, 0x1111111111111111ull, 0x1212121212121212ull,
    0x1313131313131313ull, 0x1414141414141414ull, 0x1515151515151515ull};
const char* const kProbeNames[kProbeRegs] = {"x19", "x20", "x21", "x22", "x23", "x24", "x25",
                                             "x26", "x27", "x28", "x29", "d8",  "d9",  "d10",
                                             "d11", "d12", "d13", "d14", "d15"};
asm(R"(
    .pushsection .text
    .type   switch_check_probe, %function
    .p2align 4
switch_check_probe:
    stp     x29, x30, [sp, #-176]!
    stp     x19, x20, [sp, #16]
    stp     x21, x22, [sp, #32]
    stp     x23, x24, [sp, #48]
    stp     x25, x26, [sp, #64]
    stp     x27, x28, [sp, #80]
    stp     d8,  d9,  [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    str     x3,       [sp, #160]
    ldr     x19, =0x1919191919191919
    ldr     x20, =0x2020202020202020
    ldr     x21, =0x2121212121212121
    ldr     x22, =0x2222222222222222
    ldr     x23, =0x2323232323232323
    ldr     x24, =0x2424242424242424
    ldr     x25, =0x2525252525252525
    ldr     x26, =0x2626262626262626
    ldr     x27, =0x2727272727272727
    ldr     x28, =0x2828282828282828
    ldr     x29, =0x2929292929292929
    ldr     x9,  =0x0808080808080808
    fmov    d8, x9
    ldr     x9,  =0x0909090909090909
    fmov    d9, x9
    ldr     x9,  =0x1010101010101010
    fmov    d10, x9
    ldr     x9,  =0x1111111111111111
    fmov    d11, x9
    ldr     x9,  =0x1212121212121212
    fmov    d12, x9
    ldr     x9,  =0x1313131313131313
    fmov    d13, x9
    ldr     x9,  =0x1414141414141414
    fmov    d14, x9
    ldr     x9,  =0x1515151515151515
    fmov    d15, x9
    mov     x9, sp
    str     x9, [x3, #152]
    bl      cohook_switch_context
    ldr     x3, [sp, #160]
    stp     x19, x20, [x3, #0]
    stp     x21, x22, [x3, #16]
    stp     x23, x24, [x3, #32]
    stp     x25, x26, [x3, #48]
    stp     x27, x28, [x3, #64]
    str     x29,      [x3, #80]
    str     d8,       [x3, #88]
    stp     d9,  d10, [x3, #96]
    stp     d11, d12, [x3, #112]
    stp     d13, d14, [x3, #128]
    str     d15,      [x3, #144]
    mov     x9, sp
    str     x9, [x3, #160]
    ldp     x19, x20, [sp, #16]
    ldp     x21, x22, [sp, #32]
    ldp     x23, x24, [sp, #48]
    ldp     x25, x26, [sp, #64]
    ldp     x27, x28, [sp, #80]
    ldp     d8,  d9,  [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    ldp     x29, x30, [sp], #176
    ret
    .ltorg
    .size   switch_check_probe, .-switch_check_probe
    .popsection
)");
#endif

}  // namespace
extern "C" void* switch_check_probe(void** save_sp, void* load_sp, void* transfer, std::uint64_t* out)
    asm("switch_check_probe");
namespace {

struct ProbeState {
  void* main_sp = nullptr;
  void* partner_sp = nullptr;
};

// The partner answers every probe with transfer + 1, having scribbled over the registers (its
// frame pointer is its own, never the probe's pattern).
void probe_partner(void* data, void* transfer) {
  auto* st = static_cast<ProbeState*>(data);
  for (;;) {
    SC_CLOBBER_ASM;
    transfer = cohook_switch_context(&st->partner_sp, st->main_sp, as_ptr(as_int(transfer) + 1));
  }
}

void test_callee_saved_probe() {
  StackSpan stack = take_stack();
  ProbeState st;
  st.partner_sp = cohook::coctx::make_context(stack.low, stack.size, &probe_partner, &st).sp;
  unsigned lost = 0;
  LoopCheck loop("assembly probe: transfer and sp across raw switches");
  for (long i = 0; i < 10000; ++i) {
    std::uint64_t out[kProbeRegs + 2] = {};
    void* r = switch_check_probe(&st.main_sp, st.partner_sp, as_ptr(static_cast<std::uintptr_t>(i)), out);
    loop.expect(as_int(r) == static_cast<std::uintptr_t>(i) + 1, "transfer + 1 came back", i);
    loop.expect(out[kProbeRegs] == out[kProbeRegs + 1], "sp is the same after the switch", i);
    for (int k = 0; k < kProbeRegs; ++k)
      if (out[k] != kProbePattern[k]) {
        if (!(lost & (1u << k)))
          std::printf("  probe: %s is %#" PRIx64 ", expected %#" PRIx64 "\n", kProbeNames[k], out[k], kProbePattern[k]);
        lost |= 1u << k;
      }
  }
  loop.finish();
  CHECK(lost == 0);  // every callee-saved register, frame pointer included, came back
  give_stack(stack);
}

// ---------------------------------------------------------------- FP control state

#if defined(__x86_64__)
std::uint32_t read_mxcsr() {
  std::uint32_t v;
  asm volatile("stmxcsr %0" : "=m"(v));
  return v;
}
void write_mxcsr(std::uint32_t v) { asm volatile("ldmxcsr %0" ::"m"(v)); }
std::uint16_t read_x87_cw() {
  std::uint16_t v;
  asm volatile("fnstcw %0" : "=m"(v));
  return v;
}
constexpr std::uint32_t kFlushToZero = 1u << 15;  // MXCSR.FTZ
// Rounding as each unit sees it: MXCSR.RC (bits 13-14) and the x87 CW's RC (bits 10-11) use the
// same encoding as fesetround's FE_* >> 10 on x86.
int sse_rounding() { return static_cast<int>((read_mxcsr() >> 13) & 3u); }
int x87_rounding() { return (read_x87_cw() >> 10) & 3; }
int expected_rc(int fe_mode) { return fe_mode >> 10; }
bool flush_to_zero() { return (read_mxcsr() & kFlushToZero) != 0; }
void set_flush_to_zero(bool on) { write_mxcsr(on ? (read_mxcsr() | kFlushToZero) : (read_mxcsr() & ~kFlushToZero)); }
#else
std::uint64_t read_fpcr() {
  std::uint64_t v;
  asm volatile("mrs %0, fpcr" : "=r"(v));
  return v;
}
void write_fpcr(std::uint64_t v) { asm volatile("msr fpcr, %0" ::"r"(v)); }
constexpr std::uint64_t kFlushToZero = 1ull << 24;  // FPCR.FZ
// FPCR.RMode (bits 22-23); fesetround's FE_* on aarch64 are already in that position.
int sse_rounding() { return static_cast<int>((read_fpcr() >> 22) & 3u); }
int x87_rounding() { return sse_rounding(); }  // one FP unit: the same register twice
int expected_rc(int fe_mode) { return fe_mode >> 22; }
bool flush_to_zero() { return (read_fpcr() & kFlushToZero) != 0; }
void set_flush_to_zero(bool on) { write_fpcr(on ? (read_fpcr() | kFlushToZero) : (read_fpcr() & ~kFlushToZero)); }
#endif

// 1/3 rounded by the current mode, computed at run time.
__attribute__((noinline)) double third() {
  volatile double one = 1.0, three = 3.0;
  return one / three;
}
// The smallest normal double halved: a subnormal unless flush-to-zero is on.
__attribute__((noinline)) double tiny_half() {
  volatile double tiny = 2.2250738585072014e-308, two = 2.0;
  return tiny / two;
}

struct FpSide {
  Fiber* self = nullptr;
  Fiber* main = nullptr;
  double third_up = 0, third_down = 0;
  // What the fiber saw: the initial state, then per round whether its own state held.
  int initial_mode = -1;
  bool initial_ftz = true;
  long bad_rounds = 0;
  long rounds = 0;
};

// valgrind keeps the rounding fields but computes with round-to-nearest whatever they say, and
// does not model flush-to-zero at all, so under valgrind only the rounding fields are checked.
bool arithmetic_follows_modes() { return RUNNING_ON_VALGRIND == 0; }

bool state_is(int fe_mode, bool ftz, double expected_third) {
  bool rounding = fegetround() == fe_mode && sse_rounding() == expected_rc(fe_mode) &&
                  x87_rounding() == expected_rc(fe_mode);
  if (!arithmetic_follows_modes()) return rounding;
  return rounding && flush_to_zero() == ftz && third() == expected_third && ((tiny_half() == 0.0) == ftz);
}

void fp_fiber_entry(void* data, void*) {
  auto* s = static_cast<FpSide*>(data);
  s->initial_mode = fegetround();  // a fresh context starts from the ABI's defaults
  s->initial_ftz = flush_to_zero();
  fesetround(FE_DOWNWARD);
  set_flush_to_zero(false);
  for (;;) {
    s->self->switch_to(*s->main);
    ++s->rounds;
    if (!state_is(FE_DOWNWARD, false, s->third_down)) ++s->bad_rounds;
  }
}

void test_fp_control() {
  FpSide s;
  // Reference results, measured here without any switch.
  fesetround(FE_UPWARD);
  s.third_up = third();
  fesetround(FE_DOWNWARD);
  s.third_down = third();
  fesetround(FE_TONEAREST);
  if (arithmetic_follows_modes())
    CHECK(s.third_up > s.third_down);  // the modes really change arithmetic
  else
    std::printf("note: under valgrind, only the rounding fields of the FP control state are checked\n");

  StackSpan stack = take_stack();
  Fiber fiber(stack, &fp_fiber_entry, &s);
  Fiber& main = Fiber::running();
  s.self = &fiber;
  s.main = &main;

  // Main runs upward with flush-to-zero; the fiber, downward without it.
  fesetround(FE_UPWARD);
  set_flush_to_zero(true);
  main.switch_to(fiber);
  CHECK(s.initial_mode == FE_TONEAREST);
  CHECK(!s.initial_ftz || !arithmetic_follows_modes());
  LoopCheck loop("main keeps upward rounding and FTZ across switches");
  for (long i = 0; i < 1000; ++i) {
    main.switch_to(fiber);
    loop.expect(state_is(FE_UPWARD, true, s.third_up), "main's FP control state", i);
  }
  loop.finish();
  CHECK(s.rounds == 1000);
  CHECK(s.bad_rounds == 0);  // the fiber kept downward rounding without FTZ
  set_flush_to_zero(false);
  fesetround(FE_TONEAREST);
  CHECK(state_is(FE_TONEAREST, false, third()));
  give_stack(stack);
}

// ---------------------------------------------------------------- shared stacks

constexpr int kSharers = 4;
constexpr std::size_t kFrameBytes = 6000;  // more than an image's first capacity (1 KiB)

struct Sharer {
  int id = 0;
  Fiber* self = nullptr;
  Fiber* main = nullptr;
  Fiber* next = nullptr;  // for the fiber-to-fiber ring; nullptr: back to main
  const volatile unsigned char* frame_at = nullptr;
  long bad = 0;
  long checks = 0;
  bool exit_when_done = false;
};

unsigned char pattern(int id, std::size_t i, long round) {
  return static_cast<unsigned char>(id * 37 + i * 11 + static_cast<std::size_t>(round) * 3);
}

void sharer_entry(void* data, void* transfer) {
  auto* s = static_cast<Sharer*>(data);
  volatile unsigned char frame[kFrameBytes];  // lives on the shared stack
  s->frame_at = frame;
  long round = 0;
  for (std::size_t i = 0; i < kFrameBytes; ++i) frame[i] = pattern(s->id, i, round);
  long rounds = static_cast<long>(as_int(transfer));
  for (;;) {
    Fiber* to = s->next != nullptr ? s->next : s->main;
    if (s->exit_when_done && round + 1 >= rounds) s->self->exit_to(*s->main, as_ptr(static_cast<std::uintptr_t>(s->id)));
    s->self->switch_to(*to, as_ptr(static_cast<std::uintptr_t>(s->id)));
    // Back on the shared stack, which others have used meanwhile: our frame must be intact,
    // at the same address.
    ++s->checks;
    bool ok = s->frame_at == frame;
    for (std::size_t i = 0; i < kFrameBytes; ++i) ok = ok && frame[i] == pattern(s->id, i, round);
    if (!ok) ++s->bad;
    ++round;
    for (std::size_t i = 0; i < kFrameBytes; ++i) frame[i] = pattern(s->id, i, round);
  }
}

void test_shared_stack_round_robin() {
  SharedStack shared(64 * 1024);
  Sharer s[kSharers];
  Fiber* f[kSharers];
  Fiber& main = Fiber::running();
  for (int k = 0; k < kSharers; ++k) {
    s[k].id = k + 1;
    s[k].main = &main;
    f[k] = new Fiber(shared, &sharer_entry, &s[k]);
    s[k].self = f[k];
    CHECK(f[k]->on_shared_stack());
  }
  // Main resumes each in turn: every resume evicts the previous occupant to its heap copy.
  LoopCheck loop("round robin over 4 fibers on one shared stack");
  for (long round = 0; round < 200; ++round)
    for (int k = 0; k < kSharers; ++k) {
      void* r = main.switch_to(*f[k], as_ptr(1000));
      loop.expect(as_int(r) == static_cast<std::uintptr_t>(k + 1), "the fiber named itself", round);
      loop.expect(shared.occupant() == f[k], "it occupies the stack", round);
    }
  loop.finish();
  for (int k = 0; k < kSharers; ++k) {
    CHECK(s[k].checks == 199);
    CHECK(s[k].bad == 0);
    CHECK(s[k].frame_at == s[0].frame_at);  // all frames sit at the same place on the stack
  }
  // The non-occupants hold their frames in heap copies at least as large as the array.
  CHECK(f[0]->saved_image_size() >= kFrameBytes);
  for (int k = 0; k < kSharers; ++k) delete f[k];
  CHECK(shared.occupant() == nullptr);
}

void test_shared_stack_fiber_to_fiber() {
  // A ring A -> B -> C -> D -> main on one shared stack: each hop between sharers goes through
  // the copier, since a fiber cannot overwrite the stack it stands on.
  SharedStack shared(64 * 1024);
  Sharer s[kSharers];
  Fiber* f[kSharers];
  Fiber& main = Fiber::running();
  for (int k = 0; k < kSharers; ++k) {
    s[k].id = 10 + k;
    s[k].main = &main;
    f[k] = new Fiber(shared, &sharer_entry, &s[k]);
    s[k].self = f[k];
  }
  for (int k = 0; k + 1 < kSharers; ++k) s[k].next = f[k + 1];
  LoopCheck loop("ring of 4 sharers handing over directly");
  for (long round = 0; round < 200; ++round) {
    void* r = main.switch_to(*f[0], as_ptr(1000));
    loop.expect(as_int(r) == static_cast<std::uintptr_t>(10 + kSharers - 1), "the last in the ring reports", round);
  }
  loop.finish();
  for (int k = 0; k < kSharers; ++k) {
    CHECK(s[k].checks == 199);
    CHECK(s[k].bad == 0);
  }
  for (int k = 0; k < kSharers; ++k) delete f[k];
}

void test_shared_stack_create_release_loop() {
  // libco's shared-stack release paths crashed for years: create, run, finish and free in a loop,
  // with a neighbour on a second shared stack alive throughout.
  SharedStack one(32 * 1024), two(32 * 1024);
  Fiber& main = Fiber::running();
  Sharer keeper;
  keeper.id = 99;
  keeper.main = &main;
  Fiber keeper_fiber(two, &sharer_entry, &keeper);
  keeper.self = &keeper_fiber;
  LoopCheck loop("2000 create/run/exit/free cycles on a shared stack");
  for (long round = 0; round < 2000; ++round) {
    Sharer a, b;
    a.id = 1;
    b.id = 2;
    a.main = b.main = &main;
    a.exit_when_done = b.exit_when_done = true;
    Fiber fa(one, &sharer_entry, &a), fb(one, &sharer_entry, &b);
    a.self = &fa;
    b.self = &fb;
    long rounds = 1 + round % 4;
    int exits = 0;
    for (long i = 0; i < rounds; ++i) {
      main.switch_to(fa, as_ptr(static_cast<std::uintptr_t>(rounds)));
      main.switch_to(keeper_fiber, as_ptr(1000000));
      main.switch_to(fb, as_ptr(static_cast<std::uintptr_t>(rounds)));
      exits += (i + 1 == rounds);
    }
    loop.expect(a.bad == 0 && b.bad == 0, "frames intact", round);
    loop.expect(a.checks == rounds - 1 && b.checks == rounds - 1, "each fiber ran every round", round);
    loop.expect(one.occupant() == nullptr, "an exited fiber leaves the stack free", round);
    (void)exits;
    if (round % 3 == 0) {
      // Also destroy a fiber that never finished, while it is (or is not) the occupant.
      Sharer c;
      c.id = 3;
      c.main = &main;
      auto* fc = new Fiber(one, &sharer_entry, &c);
      c.self = fc;
      main.switch_to(*fc, as_ptr(1000));
      if (round % 2 == 0) {
        Sharer d;
        d.id = 4;
        d.main = &main;
        Fiber fd(one, &sharer_entry, &d);
        d.self = &fd;
        main.switch_to(fd, as_ptr(1000));  // evicts c
        main.switch_to(*fc, as_ptr(1000));  // brings c back, evicts d
        loop.expect(c.bad == 0 && c.checks == 1, "c survived eviction", round);
        delete fc;  // the occupant goes away
        loop.expect(one.occupant() == nullptr, "destroying the occupant frees the stack", round);
        main.switch_to(fd, as_ptr(1000));  // d comes back onto a stack nobody occupies
        loop.expect(d.bad == 0 && d.checks == 1, "d survived", round);
      } else {
        delete fc;
      }
    }
  }
  loop.finish();
  CHECK(keeper.bad == 0);
  CHECK(keeper.checks == (1 + 2 + 3 + 4) * 500 - 1);  // resumed once per round of each cycle
}

// A broken switch usually crashes rather than failing a check: report that too, naming the test,
// so the last line keeps its form and the exit status is non-zero.
const char* volatile g_current_test = "start-up";

void append(char*& at, const char* text) {
  while (*text != '\0') *at++ = *text++;
}
void append_int(char*& at, long v) {
  char digits[24];
  int n = 0;
  if (v < 0) {
    *at++ = '-';
    v = -v;
  }
  do digits[n++] = static_cast<char>('0' + v % 10); while ((v /= 10) != 0);
  while (n > 0) *at++ = digits[--n];
}

void on_crash(int sig) {
  char line[256];
  char* at = line;
  append(at, "CRASHED in ");
  append(at, g_current_test);
  append(at, sig == SIGSEGV ? " (SIGSEGV)" : sig == SIGBUS ? " (SIGBUS)" : sig == SIGILL ? " (SIGILL)" : " (signal)");
  append(at, "\nswitch_check: ");
  append_int(at, g_passed);
  append(at, " passed, ");
  append_int(at, g_failed + 1);
  append(at, " failed\n");
  (void)!::write(STDOUT_FILENO, line, static_cast<std::size_t>(at - line));
  ::_exit(1);
}

void install_crash_reporter() {
  static char alt_stack[64 * 1024];
  stack_t ss{};
  ss.ss_sp = alt_stack;
  ss.ss_size = sizeof alt_stack;
  ::sigaltstack(&ss, nullptr);
  struct sigaction sa {};
  sa.sa_handler = &on_crash;
  sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
  for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGABRT}) ::sigaction(sig, &sa, nullptr);
}

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  install_crash_reporter();
  struct {
    const char* name;
    void (*fn)();
  } const tests[] = {
      // The assembly probe first: it restores its caller's registers itself, so a switch that
      // loses one is named here before it crashes some later, compiled, test.
      {"callee-saved registers (assembly probe)", &test_callee_saved_probe},
      {"callee-saved registers (register variables)", &test_callee_saved_register_vars},
      {"transfer values and round trips", &test_transfer_and_round_trips},
      {"exit_to", &test_exit_to},
      {"fiber to fiber", &test_fiber_to_fiber},
      {"FP control state", &test_fp_control},
      {"shared stack: round robin", &test_shared_stack_round_robin},
      {"shared stack: fiber to fiber", &test_shared_stack_fiber_to_fiber},
      {"shared stack: create/release loop", &test_shared_stack_create_release_loop},
  };
  for (const auto& t : tests) {
    g_current_test = t.name;
    int failed_before = g_failed;
    t.fn();
    std::printf("%-48s %s\n", t.name, g_failed == failed_before ? "ok" : "FAILED");
  }
  std::printf("switch_check: %d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
