// The one summary table of `make bench`: the headline ratios, all measured in this one run, as
// medians of several repetitions (5 unless --benchmark_repetitions says otherwise).
//   BM_Pipeline/<placement>/<capacity>  a producer sends ints through a Channel to a consumer:
//       on two threads of a Runtime(2) (cross: each end pinned to its own thread), started with
//       go() in a Runtime(2) (placed: where the placement policy puts them), and in a Runtime(1)
//       (same thread, for scale). Reported per item. Capacities 0, 1 and 64.
//   BM_ThreadPingPong/<mode>  the floor under a cross-thread hand-off on this machine: two plain
//       OS threads pass a turn back and forth, one round trip (two one-way hand-offs, as one
//       capacity-0 item takes) per item: mode 0 waits in futex (the kernel's wake latency, what
//       a sleeping scheduler pays), mode 1 spins (then yields, so a loaded machine cannot livelock
//       it): what two awake threads pay.
//   bench/switch_memory_rows.h   libco / Fiber / jump_fcontext / swapcontext round trips, and
//       RSS per parked coroutine (million shared-stack, 100k private)
//
//   build/release/bench/summary_bench [--rss_repetitions=3] [Google Benchmark flags]

#include <benchmark/benchmark.h>

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <thread>
#include <string>
#include <vector>

#include "bench/median_reporter.h"
#include "bench/summary_table.h"
#include "bench/switch_memory_rows.h"
#include "cohook/cohook.hpp"
#include "sched/runtime_state.h"
#include "sched/scheduler.h"
#include "sched/spin_wait.h"

namespace {

using cohook::bench::MedianReporter;
using cohook::bench::SummaryTable;

enum Placement { kCross = 0, kPlaced = 1, kSameThread = 2 };
const char* const kPlacementNames[] = {"cross-thread", "go() in Runtime(2)", "one thread"};

long items_for(long capacity) { return capacity <= 1 ? 20'000 : 200'000; }

void BM_Pipeline(benchmark::State& state) {
  auto placement = static_cast<Placement>(state.range(0));
  long capacity = state.range(1);
  long items = items_for(capacity);
  for (auto _ : state) {
    long sum = 0;
    cohook::Runtime runtime(placement == kSameThread ? 1 : 2);
    runtime.run([&] {
      cohook::Channel<long> channel(static_cast<std::size_t>(capacity));
      auto produce = [&] {
        for (long i = 0; i < items; ++i) channel.send(i);
        channel.close();
      };
      auto consume = [&] {
        while (auto v = channel.recv()) sum += *v;
      };
      cohook::JoinHandle producer, consumer;
      if (placement == kCross) {
        cohook::Runtime::State* rt = cohook::Scheduler::current()->runtime();
        producer = cohook::JoinHandle(rt->schedulers[0]->spawn(produce, {}));
        consumer = cohook::JoinHandle(rt->schedulers[1]->spawn(consume, {}));
      } else {
        producer = cohook::go(produce);
        consumer = cohook::go(consume);
      }
      producer.join();
      consumer.join();
    });
    if (sum != items * (items - 1) / 2) state.SkipWithError("lost or duplicated items");
  }
  state.counters["per_item"] = benchmark::Counter(static_cast<double>(items),
                                                  benchmark::Counter::kIsIterationInvariantRate |
                                                      benchmark::Counter::kInvert);
  state.SetLabel(std::string(kPlacementNames[placement]) + ", capacity " + std::to_string(capacity));
}
BENCHMARK(BM_Pipeline)
    ->ArgsProduct({{kCross, kPlaced, kSameThread}, {0, 1, 64}})
    ->Iterations(1)
    ->Repetitions(5)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

enum PingPongMode { kFutex = 0, kSpin = 1 };
constexpr long kRoundTrips = 20'000;

// Waits until `turn` holds `me`, the way the mode says; the futex word is the turn itself.
void await_turn(std::atomic<int>& turn, int me, PingPongMode mode) {
  int spins = 0;
  for (int seen = turn.load(std::memory_order_acquire); seen != me; seen = turn.load(std::memory_order_acquire)) {
    if (mode == kFutex) {
      ::syscall(SYS_futex, reinterpret_cast<int*>(&turn), FUTEX_WAIT_PRIVATE, seen, nullptr, nullptr, 0);
    } else if (++spins < 4096) {
      cohook::spin_pause();
    } else {
      ::sched_yield();
    }
  }
}

void pass_turn(std::atomic<int>& turn, int to, PingPongMode mode) {
  turn.store(to, std::memory_order_release);
  if (mode == kFutex) ::syscall(SYS_futex, reinterpret_cast<int*>(&turn), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

void BM_ThreadPingPong(benchmark::State& state) {
  auto mode = static_cast<PingPongMode>(state.range(0));
  for (auto _ : state) {
    std::atomic<int> turn{0};
    std::thread partner([&] {
      for (long i = 0; i < kRoundTrips; ++i) {
        await_turn(turn, 1, mode);
        pass_turn(turn, 0, mode);
      }
    });
    for (long i = 0; i < kRoundTrips; ++i) {
      pass_turn(turn, 1, mode);
      await_turn(turn, 0, mode);
    }
    partner.join();
  }
  state.counters["per_item"] = benchmark::Counter(static_cast<double>(kRoundTrips),
                                                  benchmark::Counter::kIsIterationInvariantRate |
                                                      benchmark::Counter::kInvert);
  state.SetLabel(mode == kFutex ? "OS threads, futex wake" : "OS threads, spinning");
}
BENCHMARK(BM_ThreadPingPong)
    ->Arg(kFutex)
    ->Arg(kSpin)
    ->Iterations(1)
    ->Repetitions(5)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void print_summary(const MedianReporter& r) {
  SummaryTable table("cohook summary");
  auto us_per_item = [&](int placement, int capacity) {
    std::string name = "BM_Pipeline/" + std::to_string(placement) + "/" + std::to_string(capacity) +
                       "/iterations:1/repeats:5/real_time";
    double seconds = r.counter(name, "per_item");
    return seconds < 0 ? -1.0 : seconds * 1e6;
  };
  auto us_per_round_trip = [&](int mode) {
    double seconds = r.counter("BM_ThreadPingPong/" + std::to_string(mode) + "/iterations:1/repeats:5/real_time",
                               "per_item");
    return seconds < 0 ? -1.0 : seconds * 1e6;
  };
  // The floor: what one capacity-0 item (two one-way hand-offs) costs plain OS threads here.
  const std::string futex_floor = "OS threads ping-pong round trip, futex wake";
  const std::string spin_floor = "OS threads ping-pong round trip, spinning";
  table.add(futex_floor, us_per_round_trip(kFutex), "us/item");
  table.add(spin_floor, us_per_round_trip(kSpin), "us/item", futex_floor);
  for (int capacity : {0, 1, 64}) {
    std::string cap = ", capacity " + std::to_string(capacity);
    std::string same = "pipeline, one thread" + cap;
    table.add(same, us_per_item(kSameThread, capacity), "us/item");
    table.add("pipeline, cross-thread (ends pinned apart)" + cap, us_per_item(kCross, capacity), "us/item", same);
    if (capacity == 0) {
      table.add("  the same, against OS threads' futex round trip", us_per_item(kCross, capacity), "us/item", futex_floor);
      table.add("  the same, against OS threads' spinning round trip", us_per_item(kCross, capacity), "us/item", spin_floor);
    }
    table.add("pipeline, go() in Runtime(2)" + cap, us_per_item(kPlaced, capacity), "us/item", same);
  }
  table.print();
}

}  // namespace

int main(int argc, char** argv) {
  int rss_repetitions = cohook::bench::switch_memory::parse_args(argc, argv);
  // Medians need repetitions: default to 5, reported as aggregates, unless the caller chose.
  std::vector<char*> args(argv, argv + argc);
  bool has_repetitions = false;
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--benchmark_repetitions", 23) == 0) has_repetitions = true;
  static char repetitions[] = "--benchmark_repetitions=5";
  static char aggregates[] = "--benchmark_report_aggregates_only=true";
  if (!has_repetitions) {
    args.push_back(repetitions);
    args.push_back(aggregates);
  }
  int n = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  cohook::bench::MedianReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);

  print_summary(reporter);
  cohook::bench::switch_memory::print_rows(reporter, rss_repetitions);
  benchmark::Shutdown();
  return 0;
}
