// The switch-speed and memory rows of `make bench`'s summary table (bench/summary_bench.cc):
//   - one round trip (resume, and it switches straight back) through the libco API
//     (co_resume / co_yield_ct), cohook's Fiber::switch_to, Boost's jump_fcontext and glibc's
//     swapcontext, all in the same run, with their ratios to jump_fcontext;
//   - RSS per parked coroutine: a million libco coroutines parked in co_cond_timedwait on 64
//     shared stacks, and 100,000 cohook::go coroutines with private stacks parked on a WaitGroup.
// RSS is measured in a fresh child process per repetition (this binary re-executed with
// --parked_rss_child=...): in a process that has already run the other benchmarks, freed heap
// would be reused and the growth would read low.
//
// Self-contained: benchmarks named BM_Summary*, one function that prints the rows, one that
// serves the child runs. Header-only because the Makefile builds only bench/*_bench.cc.
#pragma once

#include <benchmark/benchmark.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/fiber_echo.h"
#include "bench/median_reporter.h"
#include "cohook/cohook.hpp"
#include "cohook/compat/co_routine.h"
#include "coctx/stack.h"

#if __has_include(<boost/context/detail/fcontext.hpp>)
#include <boost/context/detail/fcontext.hpp>
#define COHOOK_SUMMARY_HAVE_FCONTEXT 1
#else
#define COHOOK_SUMMARY_HAVE_FCONTEXT 0
#endif

namespace cohook::bench::switch_memory {

inline constexpr std::size_t kStackSize = 64 * 1024;
inline constexpr long kSharedParked = 1000000;  // on 64 shared stacks of 128 KiB
inline constexpr long kPrivateParked = 100000;  // default (128 KiB) private stacks

// ---------------------------------------------------------------- round trips

inline void* libco_echo(void*) {
  for (;;) co_yield_ct();
  return nullptr;
}

inline void BM_SummaryLibcoRoundTrip(benchmark::State& state) {
  stCoRoutine_t* co = nullptr;
  co_create(&co, nullptr, &libco_echo, nullptr);
  co_resume(co);  // first run: takes its stack, then yields
  for (auto _ : state) co_resume(co);
  co_release(co);  // suspended in co_yield_ct: abandoned
}
BENCHMARK(BM_SummaryLibcoRoundTrip);

inline void BM_SummaryFiberRoundTrip(benchmark::State& state) {
  FiberEcho<> echo(kStackSize);
  coctx::Fiber& main = echo.main();
  coctx::Fiber& fiber = echo.fiber();
  void* token = &echo;
  for (auto _ : state) {
    token = main.switch_to(fiber, token);
    benchmark::DoNotOptimize(token);
  }
}
BENCHMARK(BM_SummaryFiberRoundTrip);

#if COHOOK_SUMMARY_HAVE_FCONTEXT
namespace bctx = boost::context::detail;

inline void fcontext_echo(bctx::transfer_t t) {
  for (;;) t = bctx::jump_fcontext(t.fctx, t.data);
}

inline void BM_SummaryFcontextRoundTrip(benchmark::State& state) {
  coctx::StackSpan stack = coctx::StackPool::this_thread().acquire(kStackSize);
  bctx::fcontext_t co = bctx::make_fcontext(stack.high(), stack.size, &fcontext_echo);
  co = bctx::jump_fcontext(co, nullptr).fctx;
  void* token = &co;
  for (auto _ : state) {
    bctx::transfer_t t = bctx::jump_fcontext(co, token);
    co = t.fctx;
    token = t.data;
    benchmark::DoNotOptimize(token);
  }
  coctx::StackPool::this_thread().release(stack);
}
BENCHMARK(BM_SummaryFcontextRoundTrip);
#endif

inline ucontext_t g_summary_uc_main;
inline ucontext_t g_summary_uc_co;

inline void swapcontext_echo() {
  for (;;) swapcontext(&g_summary_uc_co, &g_summary_uc_main);
}

inline void BM_SummarySwapcontextRoundTrip(benchmark::State& state) {
  coctx::StackSpan stack = coctx::StackPool::this_thread().acquire(kStackSize);
  getcontext(&g_summary_uc_co);
  g_summary_uc_co.uc_stack.ss_sp = stack.low;
  g_summary_uc_co.uc_stack.ss_size = stack.size;
  g_summary_uc_co.uc_link = nullptr;
  makecontext(&g_summary_uc_co, &swapcontext_echo, 0);
  swapcontext(&g_summary_uc_main, &g_summary_uc_co);
  for (auto _ : state) swapcontext(&g_summary_uc_main, &g_summary_uc_co);
  coctx::StackPool::this_thread().release(stack);
}
BENCHMARK(BM_SummarySwapcontextRoundTrip);

// ---------------------------------------------------------------- parked RSS (child side)

inline long rss_bytes() {
  long pages_total = 0, pages_resident = 0;
  FILE* statm = std::fopen("/proc/self/statm", "re");
  if (statm == nullptr) return -1;
  if (std::fscanf(statm, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = -1;
  std::fclose(statm);
  return pages_resident * sysconf(_SC_PAGESIZE);
}

inline stCoCond_t* g_summary_cond = nullptr;

inline void* park_on_cond(void*) {
  co_cond_timedwait(g_summary_cond, -1);
  return nullptr;
}

// Prints "<bytes per parked coroutine>" and exits. Nothing is cleaned up: the process ends.
[[noreturn]] inline void parked_rss_child(const std::string& kind) {
  double per = -1;
  if (kind == "shared") {
    stShareStack_t* share = co_alloc_sharestack(64, 128 * 1024);
    stCoRoutineAttr_t attr;
    attr.share_stack = share;
    g_summary_cond = co_cond_alloc();
    long before = rss_bytes();
    for (long i = 0; i < kSharedParked; ++i) {
      stCoRoutine_t* co = nullptr;  // not kept: the process exits with them parked
      co_create(&co, &attr, &park_on_cond, nullptr);
      co_resume(co);  // runs until it parks on the cond
    }
    per = static_cast<double>(rss_bytes() - before) / kSharedParked;
  } else if (kind == "private") {
    Runtime runtime(1);
    runtime.run([&] {
      WaitGroup gate;
      gate.add(1);
      long before = rss_bytes();
      for (long i = 0; i < kPrivateParked; ++i) go([&] { gate.wait(); });
      // Everything spawned is ahead of us in the ready queue: after one yield all have parked.
      this_coroutine::yield();
      per = static_cast<double>(rss_bytes() - before) / kPrivateParked;
      std::printf("%.0f\n", per);
      std::fflush(stdout);
      std::_Exit(0);
    });
  }
  std::printf("%.0f\n", per);
  std::fflush(stdout);
  std::_Exit(per >= 0 ? 0 : 1);
}

// Runs this binary with --parked_rss_child=kind `repetitions` times; the median bytes per
// parked coroutine, or -1.
inline double median_parked_rss(const std::string& self, const char* kind, int repetitions) {
  std::vector<double> runs;
  for (int r = 0; r < repetitions; ++r) {
    // The private child spawns 100,000 coroutines from one that never parks meanwhile: exactly
    // what the hog report is for, and noise in a benchmark's table.
    std::string command = "COHOOK_HOG_REPORT=0 '" + self + "' --parked_rss_child=" + kind;
    FILE* child = ::popen(command.c_str(), "r");
    if (child == nullptr) continue;
    double value = -1;
    if (std::fscanf(child, "%lf", &value) != 1) value = -1;
    if (::pclose(child) == 0 && value > 0) runs.push_back(value);
  }
  if (runs.empty()) return -1;
  std::sort(runs.begin(), runs.end());
  return runs.size() % 2 ? runs[runs.size() / 2] : (runs[runs.size() / 2 - 1] + runs[runs.size() / 2]) / 2;
}

// ---------------------------------------------------------------- rows

// This binary's path, re-executed for the RSS children.
inline std::string self_path() {
  char path[4096];
  ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
  return n > 0 ? std::string(path, static_cast<std::size_t>(n)) : std::string();
}

// `rss_repetitions`: fresh child processes per memory figure.
inline void print_rows(const MedianReporter& r, int rss_repetitions) {
  const std::string self = self_path();
  const double fcontext = r.cpu_ns("BM_SummaryFcontextRoundTrip");
  auto row = [&](const char* label, const char* name) {
    double ns = r.cpu_ns(name);
    if (ns < 0) {
      std::printf("%-52s %14s\n", label, "(not run)");
      return;
    }
    if (fcontext > 0)
      std::printf("%-52s %11.1f ns %10.2fx jump_fcontext\n", label, ns, ns / fcontext);
    else
      std::printf("%-52s %11.1f ns\n", label, ns);
  };
  // CPU time: on a shared machine, wall time also counts the time this thread sat preempted.
  std::printf("-- switch: one round trip (2 switches), CPU time\n");
  row("libco co_resume + co_yield_ct", "BM_SummaryLibcoRoundTrip");
  row("cohook coctx::Fiber::switch_to there and back", "BM_SummaryFiberRoundTrip");
  if (COHOOK_SUMMARY_HAVE_FCONTEXT)
    row("Boost.Context jump_fcontext there and back", "BM_SummaryFcontextRoundTrip");
  else
    std::printf("%-52s %14s\n", "Boost.Context jump_fcontext", "(not built: no Boost.Context)");
  row("glibc swapcontext there and back", "BM_SummarySwapcontextRoundTrip");
  double libco = r.cpu_ns("BM_SummaryLibcoRoundTrip");
  if (libco > 0 && fcontext > 0)
    std::printf("target, libco round trip <= 2x jump_fcontext's: %s (%.2fx)\n", libco <= 2 * fcontext ? "met" : "NOT met",
                libco / fcontext);

  if (rss_repetitions == 0) return;
  std::printf("-- memory: RSS growth per parked coroutine, median of %d fresh processes\n", rss_repetitions);
  double shared = median_parked_rss(self, "shared", rss_repetitions);
  double priv = median_parked_rss(self, "private", rss_repetitions);
  if (shared > 0)
    std::printf("%-52s %11.0f B  (%.0f MiB for a million; target 512 MiB: %s)\n",
                "1,000,000 libco coroutines on 64 shared stacks", shared, shared * kSharedParked / (1024.0 * 1024.0),
                shared * kSharedParked <= 512.0 * 1024 * 1024 ? "met" : "NOT met");
  else
    std::printf("%-52s %14s\n", "1,000,000 libco coroutines on 64 shared stacks", "(failed)");
  if (priv > 0)
    std::printf("%-52s %11.0f B  (target 6 KB: %s)\n", "100,000 cohook::go coroutines, private stacks", priv,
                priv <= 6000 ? "met" : "NOT met");
  else
    std::printf("%-52s %14s\n", "100,000 cohook::go coroutines, private stacks", "(failed)");
}

// Serves a --parked_rss_child=... run (never returns) and reads --rss_repetitions=N (default 3),
// removing both from argv. Call before benchmark::Initialize.
inline int parse_args(int& argc, char** argv) {
  int repetitions = 3;
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    const char* arg = argv[i];
    if (std::strncmp(arg, "--parked_rss_child=", 19) == 0) parked_rss_child(arg + 19);
    if (std::strncmp(arg, "--rss_repetitions=", 18) == 0) {
      repetitions = std::max(0, std::atoi(arg + 18));  // 0: no memory rows
      continue;
    }
    argv[out++] = argv[i];
  }
  argc = out;
  return repetitions;
}

}  // namespace cohook::bench::switch_memory
