// libco API benchmarks, through co_routine.h only:
//  - a million coroutines parked in co_cond_timedwait on 64 shared stacks: RSS per coroutine and
//    in total (private guarded stacks cannot even get there: vm.max_map_count is 65530, two
//    mappings per stack);
//  - the cost of one co_resume + co_yield_ct round trip, private stacks against shared stacks:
//    alone on its stack (no copying) and two coroutines taking turns on one stack (both frames
//    copied on every switch, libco's worst case).
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <vector>

#include "cohook/compat/co_routine.h"

namespace {

long rss_bytes() {
  long pages_total = 0, pages_resident = 0;
  FILE* statm = std::fopen("/proc/self/statm", "r");
  if (statm == nullptr) return -1;
  if (std::fscanf(statm, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = -1;
  std::fclose(statm);
  return pages_resident * sysconf(_SC_PAGESIZE);
}

// Heap bytes in use (mallinfo2): unlike RSS, it drops when memory is freed, so it is right on
// every repetition, not only the first.
double heap_in_use() {
  struct mallinfo2 info = mallinfo2();
  return static_cast<double>(info.uordblks + info.hblkhd);
}

struct Parking {
  stCoCond_t* cond = nullptr;
  long woken = 0;
  long count = 0;
};

void* park_routine(void* arg) {
  auto* parking = static_cast<Parking*>(arg);
  co_cond_timedwait(parking->cond, -1);
  ++parking->woken;
  return nullptr;
}

void BM_MillionParkedOnSharedStacks(benchmark::State& state) {
  const long count = state.range(0);
  stShareStack_t* share = co_alloc_sharestack(64, 128 * 1024);
  stCoRoutineAttr_t attr;
  attr.share_stack = share;
  std::vector<stCoRoutine_t*> routines(static_cast<std::size_t>(count));
  double rss_delta = 0;
  double heap_delta = 0;
  for (auto _ : state) {
    Parking parking;
    parking.cond = co_cond_alloc();
    parking.count = count;
    long before = rss_bytes();
    double heap_before = heap_in_use();
    for (long i = 0; i < count; ++i) {
      co_create(&routines[static_cast<std::size_t>(i)], &attr, park_routine, &parking);
      co_resume(routines[static_cast<std::size_t>(i)]);  // runs until it parks on the cond
    }
    rss_delta = static_cast<double>(rss_bytes() - before);  // meaningful on the first run only
    heap_delta = heap_in_use() - heap_before;
    state.PauseTiming();
    co_cond_broadcast(parking.cond);
    co_eventloop(
        co_get_epoll_ct(),
        [](void* p) { return static_cast<Parking*>(p)->woken == static_cast<Parking*>(p)->count ? -1 : 0; }, &parking);
    for (stCoRoutine_t* co : routines) co_release(co);
    co_cond_free(parking.cond);
    state.ResumeTiming();
  }
  state.counters["rss_MiB"] = rss_delta / (1024.0 * 1024.0);
  state.counters["heap_MiB"] = heap_delta / (1024.0 * 1024.0);
  state.counters["rss_bytes_per_coroutine"] = rss_delta / static_cast<double>(count);
  state.SetItemsProcessed(state.iterations() * count);
  co_free_sharestack(share);
}
BENCHMARK(BM_MillionParkedOnSharedStacks)->Arg(1000000)->Iterations(1)->Unit(benchmark::kMillisecond);

void* yield_forever(void*) {
  for (;;) co_yield_ct();
  return nullptr;
}

// range(0): 0 private stacks, 1 shared stack (one coroutine per stack), 2 two per shared stack.
void BM_ResumeYieldRoundTrip(benchmark::State& state) {
  const long mode = state.range(0);
  stShareStack_t* share = mode == 0 ? nullptr : co_alloc_sharestack(mode == 1 ? 2 : 1, 128 * 1024);
  stCoRoutineAttr_t attr;
  attr.share_stack = share;
  stCoRoutine_t* routines[2] = {nullptr, nullptr};
  for (stCoRoutine_t*& co : routines) {
    co_create(&co, &attr, yield_forever, nullptr);
    co_resume(co);
  }
  std::size_t turn = 0;
  for (auto _ : state) {
    co_resume(routines[turn]);
    turn ^= 1;
  }
  state.SetLabel(mode == 0 ? "private stacks" : mode == 1 ? "shared, alone on its stack" : "shared, 2 per stack");
  for (stCoRoutine_t* co : routines) co_release(co);  // suspended: abandoned
  co_free_sharestack(share);
}
BENCHMARK(BM_ResumeYieldRoundTrip)->Arg(0)->Arg(1)->Arg(2);

}  // namespace

BENCHMARK_MAIN();
