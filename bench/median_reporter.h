// A console reporter that also remembers each benchmark's median, for the summaries that
// switch_bench and sched_bench print after their runs: those compare benchmarks as ratios, and
// the ratios have to come from one run's medians (not from a single repetition, nor from
// figures of different runs). Header-only on purpose: the Makefile turns every
// bench/*_bench.cc into a binary and has no objects shared between benchmarks.

#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

namespace cohook::bench {

// Passes everything to the console reporter and keeps, per benchmark instance, the median wall
// time per iteration and the median of each counter: the "median" aggregate when
// --benchmark_repetitions produced one, else the median of the runs seen. Benchmarks are named
// as the console shows them, without the aggregate suffix: "BM_SpawnFinish/1000/real_time".
class MedianReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      Entry& e = entries_[run.run_name.str()];
      double ns = run.GetAdjustedRealTime() * to_ns(run.time_unit);
      double cpu_ns = run.GetAdjustedCPUTime() * to_ns(run.time_unit);
      if (run.run_type == Run::RT_Aggregate) {
        if (run.aggregate_name != "median") continue;  // mean, stddev, cv: not used
        e.median_ns = ns;
        e.median_cpu_ns = cpu_ns;
        for (const auto& [name, counter] : run.counters) e.median_counters[name] = counter.value;
      } else {
        e.run_ns.push_back(ns);
        e.run_cpu_ns.push_back(cpu_ns);
        for (const auto& [name, counter] : run.counters) e.run_counters[name].push_back(counter.value);
      }
    }
  }

  // Median ns per iteration of `benchmark`; negative if it did not run (filtered out, failed).
  double ns(const std::string& benchmark) const {
    const Entry* e = find(benchmark);
    if (e == nullptr) return -1;
    return e->median_ns >= 0 ? e->median_ns : median(e->run_ns);
  }

  // The same in CPU time (what a busy shared machine distorts least for single-thread work).
  double cpu_ns(const std::string& benchmark) const {
    const Entry* e = find(benchmark);
    if (e == nullptr) return -1;
    return e->median_cpu_ns >= 0 ? e->median_cpu_ns : median(e->run_cpu_ns);
  }

  // Median value of one of `benchmark`'s counters, as the console shows it (a rate counter is
  // already per second, an inverted one seconds per unit); negative if absent.
  double counter(const std::string& benchmark, const std::string& counter_name) const {
    const Entry* e = find(benchmark);
    if (e == nullptr) return -1;
    if (auto m = e->median_counters.find(counter_name); m != e->median_counters.end()) return m->second;
    auto c = e->run_counters.find(counter_name);
    return c == e->run_counters.end() ? -1 : median(c->second);
  }

 private:
  struct Entry {
    // From the "median" aggregate; negative / empty when there was none.
    double median_ns = -1;
    double median_cpu_ns = -1;
    std::map<std::string, double> median_counters;
    // Each run (repetition) otherwise, reduced to a median when asked.
    std::vector<double> run_ns;
    std::vector<double> run_cpu_ns;
    std::map<std::string, std::vector<double>> run_counters;
  };

  const Entry* find(const std::string& benchmark) const {
    auto it = entries_.find(benchmark);
    return it == entries_.end() ? nullptr : &it->second;
  }

  static double median(std::vector<double> v) {
    if (v.empty()) return -1;
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  }

  static double to_ns(benchmark::TimeUnit unit) {
    switch (unit) {
      case benchmark::kNanosecond: return 1;
      case benchmark::kMicrosecond: return 1e3;
      case benchmark::kMillisecond: return 1e6;
      case benchmark::kSecond: return 1e9;
    }
    return 1;
  }

  std::map<std::string, Entry> entries_;
};

}  // namespace cohook::bench
