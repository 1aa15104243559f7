// The scheduler layer's costs, next to the bare coctx switch they are built on:
//   BM_FiberRoundTrip            coctx::Fiber switch_to there and back (the reference, as in
//                                switch_bench)
//   BM_CoroutineResumeSuspend    Coroutine::resume() into a coroutine that suspend()s at once
//                                (libco's co_resume/co_yield pair)
//   BM_SchedulerYield            Scheduler::yield between two coroutines taking turns through
//                                the ready queue (one iteration = 2 x kYields yields)
//   BM_SchedulerYieldMany/N      the same with N coroutines, each stack a few KiB deep: at N =
//                                10000 each resume finds its stack out of cache
//   BM_SpawnFinish/N             Scheduler::spawn of N empty coroutines, then run_until_idle()
//   BM_GoInRuntime               cohook::go of kGoBatch empty coroutines inside Runtime(1).run
//   BM_ParkedRss/stack           VmRSS growth while kParked coroutines wait on one WaitGroup
// After the run a summary gives the cost per operation (per round trip, per yield, per
// coroutine) and its ratio to the Fiber round trip, and the RSS per parked coroutine; the
// figures are medians when --benchmark_repetitions is given.
//
//   make bench BENCH_ARGS='--benchmark_repetitions=5 --benchmark_report_aggregates_only=true'

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bench/fiber_echo.h"
#include "bench/median_reporter.h"
#include "coctx/fiber.h"
#include "coctx/stack.h"
#include "cohook/cohook.hpp"
#include "sched/coroutine.h"
#include "sched/scheduler.h"

namespace {

using cohook::Coroutine;
using cohook::Scheduler;
using cohook::SpawnOptions;
using cohook::bench::FiberEcho;
using cohook::bench::MedianReporter;
using cohook::coctx::Fiber;

constexpr int kYields = 10000;       // per coroutine, per BM_SchedulerYield iteration
constexpr int kGoBatch = 10000;      // coroutines per BM_GoInRuntime iteration
constexpr int kParked = 100000;      // coroutines parked at once in BM_ParkedRss

// A counter that Google Benchmark turns into time per unit: value units per iteration, shown
// (and kept in the summary) as seconds per unit.
benchmark::Counter per_unit(double units_per_iteration) {
  return benchmark::Counter(units_per_iteration,
                            benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// ---------------------------------------------------------------- reference: bare Fiber

void BM_FiberRoundTrip(benchmark::State& state) {
  FiberEcho<> echo(64 * 1024);
  Fiber& main = echo.main();
  Fiber& fiber = echo.fiber();
  for (auto _ : state) benchmark::DoNotOptimize(main.switch_to(fiber));
}
BENCHMARK(BM_FiberRoundTrip)->UseRealTime();

// ---------------------------------------------------------------- Coroutine resume/suspend

void BM_CoroutineResumeSuspend(benchmark::State& state) {
  Scheduler& scheduler = Scheduler::this_thread();
  bool stop = false;
  long resumes = 0;
  Coroutine* co = scheduler.create(
      [&] {
        while (!stop) {
          ++resumes;
          Coroutine::current()->suspend();
        }
      },
      SpawnOptions{});
  co->resume();  // first run: takes its stack, then suspends
  for (auto _ : state) co->resume();
  stop = true;
  co->resume();  // lets it finish; the scheduler drops its reference
  if (!co->finished() || resumes != static_cast<long>(state.iterations()) + 1)
    state.SkipWithError("the coroutine did not run once per resume");
  co->release();
}
BENCHMARK(BM_CoroutineResumeSuspend)->UseRealTime();

// ---------------------------------------------------------------- Scheduler::yield

void BM_SchedulerYield(benchmark::State& state) {
  // Two coroutines yield kYields times each; the scheduler's loop alternates between them.
  // Each yield is a switch to the scheduler loop and one from it into the other coroutine.
  Scheduler& scheduler = Scheduler::this_thread();
  long yields = 0;
  auto body = [&] {
    for (int i = 0; i < kYields; ++i) {
      Scheduler::yield();
      ++yields;
    }
  };
  for (auto _ : state) {
    scheduler.spawn(body, SpawnOptions{})->release();
    scheduler.spawn(body, SpawnOptions{})->release();
    scheduler.run_until_idle();
  }
  if (yields != 2L * kYields * static_cast<long>(state.iterations())) state.SkipWithError("yields went missing");
  state.counters["per_yield"] = per_unit(2.0 * kYields);
}
BENCHMARK(BM_SchedulerYield)->UseRealTime();

void BM_SchedulerYieldMany(benchmark::State& state) {
  // N coroutines, started before the timing, take turns through the ready queue: an iteration is
  // one scheduler round, in which each resumes once and yields. Each has touched a few KiB of
  // its stack (as a server's connection coroutine has, with its buffer and hooked-call frames):
  // with N in the thousands, each resume finds the coroutine's stack out of cache, as a server
  // under load at 10k connections does.
  const int coroutines = static_cast<int>(state.range(0));
  Scheduler& scheduler = Scheduler::this_thread();
  long yields = 0;
  int started = 0;
  bool stop = false;
  auto body = [&] {
    volatile char frame[4096];
    for (std::size_t i = 0; i < sizeof frame; i += 64) frame[i] = 1;
    ++started;
    for (std::size_t i = 0; !stop; i = (i + 64) % sizeof frame) {
      Scheduler::yield();
      ++yields;
      frame[i] = frame[i] + 1;
    }
  };
  for (int i = 0; i < coroutines; ++i) scheduler.spawn(body, SpawnOptions{})->release();
  while (started < coroutines) scheduler.run_once(0);
  long yields_before = yields;
  for (auto _ : state) scheduler.run_once(0);
  long timed_yields = yields - yields_before;
  stop = true;
  scheduler.run_until_idle();
  if (timed_yields != static_cast<long>(coroutines) * static_cast<long>(state.iterations()))
    state.SkipWithError("yields went missing");
  state.counters["per_yield"] = per_unit(coroutines);
}
BENCHMARK(BM_SchedulerYieldMany)->Arg(2)->Arg(10000)->UseRealTime();

// ---------------------------------------------------------------- spawn + finish

void BM_SpawnFinish(benchmark::State& state) {
  // N coroutines that return at once: creation, first resume (stack from the pool), finish,
  // stack back to the pool, free. The pool is warm after the first iteration, as in a server.
  Scheduler& scheduler = Scheduler::this_thread();
  const long n = state.range(0);
  long ran = 0;
  for (auto _ : state) {
    for (long i = 0; i < n; ++i) scheduler.spawn([&ran] { ++ran; }, SpawnOptions{})->release();
    scheduler.run_until_idle();
  }
  if (ran != n * static_cast<long>(state.iterations())) state.SkipWithError("coroutines went missing");
  state.counters["per_coroutine"] = per_unit(static_cast<double>(n));
}
BENCHMARK(BM_SpawnFinish)->Arg(1)->Arg(1000)->UseRealTime();

void BM_GoInRuntime(benchmark::State& state) {
  // The public API: kGoBatch cohook::go calls from the main coroutine of a one-thread Runtime,
  // each handle detached; run() returns when all have finished. Includes the Runtime's own
  // start and stop once per kGoBatch coroutines.
  long ran = 0;
  for (auto _ : state) {
    cohook::Runtime runtime(1);
    runtime.run([&ran] {
      for (int i = 0; i < kGoBatch; ++i) cohook::go([&ran] { ++ran; });
    });
  }
  if (ran != static_cast<long>(kGoBatch) * static_cast<long>(state.iterations())) state.SkipWithError("coroutines went missing");
  state.counters["per_coroutine"] = per_unit(kGoBatch);
}
BENCHMARK(BM_GoInRuntime)->UseRealTime();

// ---------------------------------------------------------------- RSS per parked coroutine

long vm_rss_bytes() {
  FILE* f = std::fopen("/proc/self/status", "re");
  if (f == nullptr) return -1;
  char line[256];
  long kib = -1;
  while (std::fgets(line, sizeof line, f) != nullptr)
    if (std::strncmp(line, "VmRSS:", 6) == 0) {
      kib = std::strtol(line + 6, nullptr, 10);
      break;
    }
  std::fclose(f);
  return kib < 0 ? -1 : kib * 1024;
}

void BM_ParkedRss(benchmark::State& state) {
  // kParked coroutines, each parked in WaitGroup::wait on one gate, with the stack size given
  // (0: the default). RSS is read after all have parked, then the gate opens and they finish.
  // Stacks are touched only as deep as the coroutine ran, so RSS counts the pages used, not the
  // stack size; the mapping itself is virtual memory.
  const std::size_t stack_size = static_cast<std::size_t>(state.range(0));
  double bytes_per_coroutine = 0;
  long parked_seen = 0;
  for (auto _ : state) {
    long before = 0, parked = 0;
    long finished = 0;
    cohook::Runtime runtime(1);
    runtime.run([&] {
      cohook::WaitGroup gate;
      gate.add(1);
      before = vm_rss_bytes();
      SpawnOptions options;
      options.stack_size = stack_size;
      for (int i = 0; i < kParked; ++i)
        cohook::go(
            [&] {
              gate.wait();
              ++finished;
            },
            options);
      // Everything spawned is ahead of us in the ready queue: after one yield all have parked.
      cohook::this_coroutine::yield();
      parked = vm_rss_bytes();
      parked_seen = cohook::Scheduler::current()->live_coroutines() - 1;  // all but this one
      gate.done();
    });
    if (finished != kParked) state.SkipWithError("parked coroutines did not all finish");
    bytes_per_coroutine = static_cast<double>(parked - before) / kParked;
  }
  state.counters["rss_per_coroutine_B"] = bytes_per_coroutine;
  state.counters["parked"] = static_cast<double>(parked_seen);
}
BENCHMARK(BM_ParkedRss)->Arg(0)->Arg(16 * 1024)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// ---------------------------------------------------------------- summary

void print_summary(const MedianReporter& r) {
  struct Row {
    const char* name;
    const char* counter;  // nullptr: time per iteration; else a per-unit counter, in seconds
    const char* label;
  };
  const Row rows[] = {
      {"BM_FiberRoundTrip/real_time", nullptr, "coctx Fiber round trip"},
      {"BM_CoroutineResumeSuspend/real_time", nullptr, "Coroutine resume + suspend"},
      {"BM_SchedulerYield/real_time", "per_yield", "Scheduler::yield, 2 coroutines (per yield)"},
      {"BM_SchedulerYieldMany/2/real_time", "per_yield", "one round of 2 coroutines (per yield)"},
      {"BM_SchedulerYieldMany/10000/real_time", "per_yield", "one round of 10000, cold stacks (per yield)"},
      {"BM_SpawnFinish/1/real_time", "per_coroutine", "spawn + run_until_idle, 1 at a time"},
      {"BM_SpawnFinish/1000/real_time", "per_coroutine", "spawn 1000 + run_until_idle (each)"},
      {"BM_GoInRuntime/real_time", "per_coroutine", "cohook::go in Runtime(1) (each)"},
  };
  double base = r.ns("BM_FiberRoundTrip/real_time");
  std::printf("\nScheduler cost summary (wall time, medians over repetitions)\n");
  std::printf("%-44s %12s %14s\n", "", "ns", "x Fiber trip");
  for (const Row& row : rows) {
    double v = row.counter != nullptr ? r.counter(row.name, row.counter) : r.ns(row.name);
    if (v < 0) {
      std::printf("%-44s %12s\n", row.label, "(not run)");
      continue;
    }
    double ns = row.counter != nullptr ? v * 1e9 : v;
    if (base > 0)
      std::printf("%-44s %12.1f %14.2f\n", row.label, ns, ns / base);
    else
      std::printf("%-44s %12.1f\n", row.label, ns);
  }
  for (const char* name : {"BM_ParkedRss/0/iterations:1/real_time", "BM_ParkedRss/16384/iterations:1/real_time"}) {
    double bytes = r.counter(name, "rss_per_coroutine_B");
    const char* label = std::strstr(name, "/0/") != nullptr ? "default stack" : "16 KiB stack";
    if (bytes < 0)
      std::printf("RSS per parked coroutine (%s): (not run)\n", label);
    else
      std::printf("RSS per parked coroutine (%s): %.0f bytes (%d parked on one WaitGroup, VmRSS growth)\n", label,
                  bytes, kParked);
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  MedianReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  print_summary(reporter);
  benchmark::Shutdown();
  return 0;
}
