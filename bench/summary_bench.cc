// The one summary table of `make bench`: the headline ratios, all measured in this one run, as
// medians of several repetitions (5 unless --benchmark_repetitions says otherwise). Each part
// of the table is a self-contained header with its BM_Summary* benchmarks and a print_rows():
//   bench/switch_memory_rows.h   libco / Fiber / jump_fcontext / swapcontext round trips, and
//                                RSS per parked coroutine (million shared-stack, 100k private)
//
//   build/release/bench/summary_bench [--rss_repetitions=3] [Google Benchmark flags]

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench/median_reporter.h"
#include "bench/switch_memory_rows.h"

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

  std::printf("\n==== cohook summary (medians of this run) ====\n");
  cohook::bench::switch_memory::print_rows(reporter, rss_repetitions);
  benchmark::Shutdown();
  return 0;
}
