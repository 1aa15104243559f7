// Switch cost: one round trip (resume a context, and it switches straight back) for cohook's
// coctx layer against the alternatives, all measured in the same run:
//   cohook Fiber::switch_to             what the scheduler uses (sanitizer hooks compile away)
//   cohook raw cohook_switch_context    the assembly alone, without Fiber's bookkeeping
//   cohook Fiber on a SharedStack       two fibers taking turns on one stack (copying frames)
//   ... "CallDepth3"                    the switch reached through 3 calls on each side
//   glibc swapcontext                   ucontext; saves the signal mask with a system call
//   Boost.Context jump_fcontext         when <boost/context/detail/fcontext.hpp> is installed
//   std::condition_variable ping-pong   two OS threads handing a turn back and forth
// After the run a summary gives ns per round trip and each one's ratio to cohook's Fiber,
// from the median of the repetitions when there are several. Times are wall-clock
// (UseRealTime): the condvar baseline spends its time asleep, which CPU time would not see.
//
//   make bench BENCH_ARGS='--benchmark_repetitions=5 --benchmark_report_aggregates_only=true'

#include <benchmark/benchmark.h>
#include <dlfcn.h>
#include <ucontext.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

#include "bench/fiber_echo.h"
#include "bench/median_reporter.h"
#include "coctx/context.h"
#include "coctx/fiber.h"
#include "coctx/stack.h"
#include "cohook/compat/co_routine.h"

#if __has_include(<boost/context/detail/fcontext.hpp>)
#include <boost/context/detail/fcontext.hpp>
#define COHOOK_BENCH_HAVE_FCONTEXT 1
#else
#define COHOOK_BENCH_HAVE_FCONTEXT 0
#endif

namespace {

using cohook::bench::FiberEcho;
using cohook::bench::MedianReporter;
using cohook::coctx::Fiber;
using cohook::coctx::SharedStack;
using cohook::coctx::StackPool;
using cohook::coctx::StackSpan;

constexpr std::size_t kStackSize = 64 * 1024;

// ---------------------------------------------------------------- cohook Fiber

void BM_CohookFiber(benchmark::State& state) {
  FiberEcho<> echo(kStackSize);
  Fiber& main = echo.main();
  Fiber& fiber = echo.fiber();
  void* token = &echo;
  for (auto _ : state) {
    token = main.switch_to(fiber, token);
    benchmark::DoNotOptimize(token);
  }
}
BENCHMARK(BM_CohookFiber)->UseRealTime();

// The same round trip reached through kCallDepth ordinary calls on each side, which return
// normally afterwards, as a scheduler's resume() and a coroutine's suspend() do. A loop that
// calls the switch directly never executes a `ret` after a switch, so it cannot show what a
// switch does to return prediction; this one can.
constexpr int kCallDepth = 3;

template <int Depth>
__attribute__((noinline)) void* fiber_switch_nested(Fiber& from, Fiber& to, void* transfer) {
  if constexpr (Depth == 0) {
    return from.switch_to(to, transfer);
  } else {
    void* r = fiber_switch_nested<Depth - 1>(from, to, transfer);
    benchmark::DoNotOptimize(r);  // keeps the call a call, not a tail jump
    return r;
  }
}

// The echo side switches back through the same call chain.
struct NestedSwitch {
  static void* to(Fiber& from, Fiber& to, void* transfer) {
    return fiber_switch_nested<kCallDepth>(from, to, transfer);
  }
};

void BM_CohookFiberCallDepth3(benchmark::State& state) {
  FiberEcho<NestedSwitch> echo(kStackSize);
  Fiber& main = echo.main();
  Fiber& fiber = echo.fiber();
  void* token = &echo;
  for (auto _ : state) {
    token = fiber_switch_nested<kCallDepth>(main, fiber, token);
    benchmark::DoNotOptimize(token);
  }
}
BENCHMARK(BM_CohookFiberCallDepth3)->UseRealTime();

// ---------------------------------------------------------------- raw assembly switch

struct RawEcho {
  void* main_sp = nullptr;
  void* co_sp = nullptr;
  static void entry(void* data, void* transfer) {
    auto* e = static_cast<RawEcho*>(data);
    for (;;) transfer = cohook_switch_context(&e->co_sp, e->main_sp, transfer);
  }
};

void BM_CohookRawSwitch(benchmark::State& state) {
  StackSpan stack = StackPool::this_thread().acquire(kStackSize);
  RawEcho echo;
  echo.co_sp = cohook::coctx::make_context(stack.low, stack.size, &RawEcho::entry, &echo).sp;
  void* token = cohook_switch_context(&echo.main_sp, echo.co_sp, &echo);
  for (auto _ : state) {
    token = cohook_switch_context(&echo.main_sp, echo.co_sp, token);
    benchmark::DoNotOptimize(token);
  }
  StackPool::this_thread().release(stack);
}
BENCHMARK(BM_CohookRawSwitch)->UseRealTime();

// ---------------------------------------------------------------- shared stack, two sharers

void BM_CohookSharedStack2(benchmark::State& state) {
  // Two fibers on one shared stack, resumed alternately: each resume saves the other's few
  // hundred bytes of frames to the heap and restores its own. Per round trip (two per iteration).
  struct SharedEcho {  // FiberEcho's loop, on a shared stack
    Fiber* self = nullptr;
    Fiber* back = nullptr;
    static void entry(void* data, void* transfer) {
      auto* e = static_cast<SharedEcho*>(data);
      for (;;) transfer = e->self->switch_to(*e->back, transfer);
    }
  };
  SharedStack shared(kStackSize);
  {
    SharedEcho a, b;
    Fiber fa(shared, &SharedEcho::entry, &a), fb(shared, &SharedEcho::entry, &b);
    Fiber& main = Fiber::running();
    a.self = &fa;
    b.self = &fb;
    a.back = b.back = &main;
    main.switch_to(fa);
    main.switch_to(fb);
    void* token = &a;
    for (auto _ : state) {
      token = main.switch_to(fa, token);
      token = main.switch_to(fb, token);
      benchmark::DoNotOptimize(token);
    }
    state.counters["image_bytes"] = static_cast<double>(fa.saved_image_size());
    state.SetItemsProcessed(2 * state.iterations());
  }
}
BENCHMARK(BM_CohookSharedStack2)->UseRealTime();

// ---------------------------------------------------------------- glibc swapcontext

ucontext_t g_uc_main;
ucontext_t g_uc_co;

void swapcontext_entry() {
  for (;;) swapcontext(&g_uc_co, &g_uc_main);
}

void BM_Swapcontext(benchmark::State& state) {
  StackSpan stack = StackPool::this_thread().acquire(kStackSize);
  getcontext(&g_uc_co);
  g_uc_co.uc_stack.ss_sp = stack.low;
  g_uc_co.uc_stack.ss_size = stack.size;
  g_uc_co.uc_link = nullptr;
  makecontext(&g_uc_co, &swapcontext_entry, 0);
  swapcontext(&g_uc_main, &g_uc_co);
  for (auto _ : state) swapcontext(&g_uc_main, &g_uc_co);
  StackPool::this_thread().release(stack);
}
BENCHMARK(BM_Swapcontext)->UseRealTime();

// ---------------------------------------------------------------- Boost.Context

#if COHOOK_BENCH_HAVE_FCONTEXT
namespace bctx = boost::context::detail;

void fcontext_entry(bctx::transfer_t t) {
  for (;;) t = bctx::jump_fcontext(t.fctx, t.data);
}

void BM_BoostJumpFcontext(benchmark::State& state) {
  StackSpan stack = StackPool::this_thread().acquire(kStackSize);
  bctx::fcontext_t co = bctx::make_fcontext(stack.high(), stack.size, &fcontext_entry);
  co = bctx::jump_fcontext(co, nullptr).fctx;
  void* token = &co;
  for (auto _ : state) {
    bctx::transfer_t t = bctx::jump_fcontext(co, token);
    co = t.fctx;
    token = t.data;
    benchmark::DoNotOptimize(token);
  }
  StackPool::this_thread().release(stack);
}
BENCHMARK(BM_BoostJumpFcontext)->UseRealTime();

template <int Depth>
__attribute__((noinline)) bctx::transfer_t fcontext_jump_nested(bctx::fcontext_t to, void* data) {
  if constexpr (Depth == 0) {
    return bctx::jump_fcontext(to, data);
  } else {
    bctx::transfer_t t = fcontext_jump_nested<Depth - 1>(to, data);
    benchmark::DoNotOptimize(t);
    return t;
  }
}

void fcontext_nested_entry(bctx::transfer_t t) {
  for (;;) t = fcontext_jump_nested<kCallDepth>(t.fctx, t.data);
}

void BM_BoostJumpFcontextCallDepth3(benchmark::State& state) {
  StackSpan stack = StackPool::this_thread().acquire(kStackSize);
  bctx::fcontext_t co = bctx::make_fcontext(stack.high(), stack.size, &fcontext_nested_entry);
  co = bctx::jump_fcontext(co, nullptr).fctx;
  void* token = &co;
  for (auto _ : state) {
    bctx::transfer_t t = fcontext_jump_nested<kCallDepth>(co, token);
    co = t.fctx;
    token = t.data;
    benchmark::DoNotOptimize(token);
  }
  StackPool::this_thread().release(stack);
}
BENCHMARK(BM_BoostJumpFcontextCallDepth3)->UseRealTime();
#endif

// ---------------------------------------------------------------- two threads, one condvar

void BM_CondvarPingPong(benchmark::State& state) {
  std::mutex mutex;
  std::condition_variable cv;
  int turn = 0;  // 0: the benchmark thread's, 1: the partner's, -1: partner, stop
  std::thread partner([&] {
    std::unique_lock<std::mutex> lock(mutex);
    for (;;) {
      cv.wait(lock, [&] { return turn != 0; });
      if (turn < 0) return;
      turn = 0;
      cv.notify_one();
    }
  });
  for (auto _ : state) {
    std::unique_lock<std::mutex> lock(mutex);
    turn = 1;
    cv.notify_one();
    cv.wait(lock, [&] { return turn == 0; });
  }
  {
    std::lock_guard<std::mutex> lock(mutex);
    turn = -1;
  }
  cv.notify_one();
  partner.join();
}
BENCHMARK(BM_CondvarPingPong)->UseRealTime();

// ---------------------------------------------------------------- summary

void print_summary(const MedianReporter& r) {
  struct Row {
    const char* name;  // as the console shows it: all of these use real time
    const char* label;
    int round_trips_per_iteration;
  };
  const Row rows[] = {
      {"BM_CohookFiber/real_time", "cohook Fiber::switch_to", 1},
      {"BM_CohookRawSwitch/real_time", "cohook raw cohook_switch_context", 1},
      {"BM_CohookFiberCallDepth3/real_time", "cohook Fiber, 3 calls deep each side", 1},
      {"BM_CohookSharedStack2/real_time", "cohook Fiber, 2 on a SharedStack", 2},
      {"BM_BoostJumpFcontext/real_time", "Boost.Context jump_fcontext", 1},
      {"BM_BoostJumpFcontextCallDepth3/real_time", "jump_fcontext, 3 calls deep each side", 1},
      {"BM_Swapcontext/real_time", "glibc swapcontext", 1},
      {"BM_CondvarPingPong/real_time", "2 threads, std::condition_variable", 1},
  };
  double base = r.ns("BM_CohookFiber/real_time");
  std::printf("\nSwitch cost summary (wall time, median over repetitions; a round trip = 2 switches)\n");
  std::printf("%-38s %14s %11s %16s\n", "", "ns/round trip", "ns/switch", "x cohook Fiber");
  for (const Row& row : rows) {
    double ns = r.ns(row.name);
    if (ns < 0) {
      std::printf("%-38s %14s\n", row.label, std::string(row.name).rfind("BM_Boost", 0) == 0 && !COHOOK_BENCH_HAVE_FCONTEXT
                                                 ? "(not built: no Boost.Context)"
                                                 : "(not run)");
      continue;
    }
    double per_trip = ns / row.round_trips_per_iteration;
    if (base > 0)
      std::printf("%-38s %14.2f %11.2f %16.2f\n", row.label, per_trip, per_trip / 2, per_trip / base);
    else
      std::printf("%-38s %14.2f %11.2f %16s\n", row.label, per_trip, per_trip / 2, "-");
  }
  auto verdict = [&](const char* what, const char* ours, const char* theirs) {
    double a = r.ns(ours), b = r.ns(theirs);
    if (a <= 0 || b <= 0) return;
    std::printf("target, %s no slower than jump_fcontext: %s (%.2f vs %.2f ns per round trip)\n", what,
                a <= b ? "met" : a <= b * 1.03 ? "within 3% (noise level here)" : "NOT met", a, b);
  };
  verdict("cohook Fiber", "BM_CohookFiber/real_time", "BM_BoostJumpFcontext/real_time");
  verdict("cohook Fiber 3 calls deep", "BM_CohookFiberCallDepth3/real_time",
          "BM_BoostJumpFcontextCallDepth3/real_time");
}

// ---------------------------------------------------------------- instruction counts
// `switch_bench --round_trips_only=VARIANT:N` runs N round trips of one variant outside Google
// Benchmark and exits, for valgrind --tool=callgrind: the difference between the totals for N
// and for 0 round trips, divided by N, is the instructions per round trip (callgrind's inclusive
// per-function costs are unreliable across stack switches, its totals are not). VARIANT is
// fiber, raw, libco (co_resume + co_yield_ct), swapcontext or fcontext; mutex and mutex_uncounted
// (lock/unlock pairs, see lock_pairs) count the real-lock interposers' cost the same way.

__attribute__((noinline)) void round_trips_fiber(long n) {
  FiberEcho<> echo(kStackSize);
  Fiber& main = echo.main();
  Fiber& fiber = echo.fiber();
  void* token = &echo;
  for (long i = 0; i < n; ++i) {
    token = main.switch_to(fiber, token);
    benchmark::DoNotOptimize(token);
  }
}

__attribute__((noinline)) void round_trips_raw(long n) {
  StackSpan stack = StackPool::this_thread().acquire(kStackSize);
  RawEcho echo;
  echo.co_sp = cohook::coctx::make_context(stack.low, stack.size, &RawEcho::entry, &echo).sp;
  void* token = cohook_switch_context(&echo.main_sp, echo.co_sp, &echo);
  for (long i = 0; i < n; ++i) {
    token = cohook_switch_context(&echo.main_sp, echo.co_sp, token);
    benchmark::DoNotOptimize(token);
  }
  StackPool::this_thread().release(stack);
}

__attribute__((noinline)) void round_trips_swapcontext(long n) {
  StackSpan stack = StackPool::this_thread().acquire(kStackSize);
  getcontext(&g_uc_co);
  g_uc_co.uc_stack.ss_sp = stack.low;
  g_uc_co.uc_stack.ss_size = stack.size;
  g_uc_co.uc_link = nullptr;
  makecontext(&g_uc_co, &swapcontext_entry, 0);
  swapcontext(&g_uc_main, &g_uc_co);
  for (long i = 0; i < n; ++i) swapcontext(&g_uc_main, &g_uc_co);
  StackPool::this_thread().release(stack);
}

#if COHOOK_BENCH_HAVE_FCONTEXT
__attribute__((noinline)) void round_trips_fcontext(long n) {
  StackSpan stack = StackPool::this_thread().acquire(kStackSize);
  bctx::fcontext_t co = bctx::make_fcontext(stack.high(), stack.size, &fcontext_entry);
  co = bctx::jump_fcontext(co, nullptr).fctx;
  void* token = &co;
  for (long i = 0; i < n; ++i) {
    bctx::transfer_t t = bctx::jump_fcontext(co, token);
    co = t.fctx;
    token = t.data;
    benchmark::DoNotOptimize(token);
  }
  StackPool::this_thread().release(stack);
}
#endif

void* libco_echo(void*) {
  for (;;) co_yield_ct();
  return nullptr;
}

// The libco API's round trip: co_resume into a coroutine that co_yield_ct()s straight back.
__attribute__((noinline)) void round_trips_libco(long n) {
  stCoRoutine_t* co = nullptr;
  co_create(&co, nullptr, &libco_echo, nullptr);
  co_resume(co);
  for (long i = 0; i < n; ++i) co_resume(co);
  co_release(co);
}

// What counting real locks costs (hook/real_lock_count.cc, linked into this binary from
// libcohook.a): N std::mutex lock/unlock pairs through the counting interposers ("mutex"), or
// straight to libc's definitions, which the interposers forward to ("mutex_uncounted").

__attribute__((noinline)) void lock_pairs(long n, bool counted) {
  static std::mutex lock;
  auto real_lock = reinterpret_cast<int (*)(pthread_mutex_t*)>(dlsym(RTLD_NEXT, "pthread_mutex_lock"));
  auto real_unlock = reinterpret_cast<int (*)(pthread_mutex_t*)>(dlsym(RTLD_NEXT, "pthread_mutex_unlock"));
  for (long i = 0; i < n; ++i) {
    if (counted) {
      lock.lock();
      lock.unlock();
    } else {
      real_lock(lock.native_handle());
      real_unlock(lock.native_handle());
    }
  }
}

// Returns the exit status, or -1 if the flag is absent.
int round_trips_only(int argc, char** argv) {
  const std::string flag = "--round_trips_only=";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind(flag, 0) != 0) continue;
    std::string spec = arg.substr(flag.size());
    std::size_t colon = spec.find(':');
    std::string variant = spec.substr(0, colon);
    long n = colon == std::string::npos ? 1000000 : std::strtol(spec.c_str() + colon + 1, nullptr, 10);
    if (variant == "fiber") round_trips_fiber(n);
    else if (variant == "raw") round_trips_raw(n);
    else if (variant == "libco") round_trips_libco(n);
    else if (variant == "swapcontext") round_trips_swapcontext(n);
    else if (variant == "mutex") lock_pairs(n, true);
    else if (variant == "mutex_uncounted") lock_pairs(n, false);
#if COHOOK_BENCH_HAVE_FCONTEXT
    else if (variant == "fcontext") round_trips_fcontext(n);
#endif
    else {
      std::fprintf(stderr,
                   "switch_bench: unknown variant '%s' (fiber, raw, libco, swapcontext, mutex, mutex_uncounted%s)\n",
                   variant.c_str(), COHOOK_BENCH_HAVE_FCONTEXT ? ", fcontext" : "");
      return 2;
    }
    std::printf("%s: %ld round trips\n", variant.c_str(), n);
    return 0;
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  if (int status = round_trips_only(argc, argv); status >= 0) return status;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  MedianReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  print_summary(reporter);
  benchmark::Shutdown();
  return 0;
}
