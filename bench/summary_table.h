// The one table `make bench` ends with: rows that other benchmarks' figures are compared in,
// each a median from one run (MedianReporter), with its ratio to a named reference row. Header
// only, like median_reporter.h: any bench/*_bench.cc can fill one and print it.
//
//   SummaryTable table("cohook summary");
//   table.add("pipeline, cross-thread, capacity 0", ns, "ns/item", "pipeline, one thread, capacity 0");
//   table.print();
//
// A row whose value is negative (benchmark filtered out or failed) prints as "(not run)".
#pragma once

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace cohook::bench {

class SummaryTable {
 public:
  explicit SummaryTable(std::string title) : title_(std::move(title)) {}

  // `relative_to`: the label of an earlier row; the ratio value / that row's value is shown.
  void add(std::string label, double value, std::string unit, std::string relative_to = "") {
    rows_.push_back(Row{std::move(label), value, std::move(unit), std::move(relative_to)});
  }

  void print(std::FILE* out = stdout) const {
    std::fprintf(out, "\n%s (medians of repetitions, one run)\n", title_.c_str());
    std::fprintf(out, "| %-56s | %14s | %-10s | %-40s |\n", "what", "value", "unit", "ratio");
    std::fprintf(out, "|%s|%s|%s|%s|\n", std::string(58, '-').c_str(), std::string(16, '-').c_str(),
                 std::string(12, '-').c_str(), std::string(42, '-').c_str());
    for (const Row& row : rows_) {
      if (row.value < 0) {
        std::fprintf(out, "| %-56s | %14s | %-10s | %-40s |\n", row.label.c_str(), "(not run)", row.unit.c_str(), "");
        continue;
      }
      std::string ratio;
      if (const Row* ref = find(row.relative_to); ref != nullptr && ref->value > 0) {
        char buf[160];
        double r = row.value / ref->value;  // small ratios keep three significant digits
        std::snprintf(buf, sizeof buf, r < 0.1 ? "%.3gx %s" : "%.2fx %s", r, ref->label.c_str());
        ratio = buf;
      }
      std::fprintf(out, "| %-56s | %14.3f | %-10s | %-40s |\n", row.label.c_str(), row.value, row.unit.c_str(),
                   ratio.c_str());
    }
    std::fflush(out);
  }

 private:
  struct Row {
    std::string label;
    double value;
    std::string unit;
    std::string relative_to;
  };

  const Row* find(const std::string& label) const {
    if (label.empty()) return nullptr;
    for (const Row& row : rows_)
      if (row.label == label) return &row;
    return nullptr;
  }

  std::string title_;
  std::vector<Row> rows_;
};

}  // namespace cohook::bench
