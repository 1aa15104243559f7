#include "tools/costrace/summary_table.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace cohook::costrace {

void SummaryTable::add(std::size_t call, std::uint64_t calls, std::uint64_t errors, std::uint64_t total_ns,
                       std::uint64_t parked_ns) {
  if (call >= static_cast<std::size_t>(trace::TracedCall::kCount)) return;
  Row& row = rows_[call];
  row.calls += calls;
  row.errors += errors;
  row.total_ns += total_ns;
  row.parked_ns += parked_ns;
}

void SummaryTable::add_summary_text(std::string_view text) {
  std::string copy(text);
  const char* p = copy.c_str();
  while (*p != '\0') {
    char* end = nullptr;
    unsigned long long values[5];
    bool ok = true;
    for (auto& value : values) {
      value = std::strtoull(p, &end, 10);
      if (end == p) {
        ok = false;
        break;
      }
      p = end;
    }
    if (ok) add(values[0], values[1], values[2], values[3], values[4]);
    const char* newline = std::strchr(p, '\n');
    if (newline == nullptr) break;
    p = newline + 1;
  }
}

void SummaryTable::print(std::FILE* out) const {
  struct Line {
    const char* name;
    Row row;
    std::uint64_t busy_ns;
  };
  std::vector<Line> lines;
  std::uint64_t total_busy = 0;
  Row total;
  for (std::size_t i = 0; i < static_cast<std::size_t>(trace::TracedCall::kCount); ++i) {
    const Row& row = rows_[i];
    if (row.calls == 0) continue;
    std::uint64_t busy = row.total_ns > row.parked_ns ? row.total_ns - row.parked_ns : 0;
    lines.push_back({trace::kTracedCalls[i].name, row, busy});
    total_busy += busy;
    total.calls += row.calls;
    total.errors += row.errors;
    total.parked_ns += row.parked_ns;
  }
  std::sort(lines.begin(), lines.end(), [](const Line& a, const Line& b) {
    if (a.busy_ns != b.busy_ns) return a.busy_ns > b.busy_ns;
    if (a.row.calls != b.row.calls) return a.row.calls > b.row.calls;
    return std::strcmp(a.name, b.name) < 0;
  });
  const char* rule = "------ ----------- ----------- --------- --------- ----------- ----------------\n";
  std::fprintf(out, "%% time     seconds  usecs/call     calls    errors      parked syscall\n");
  std::fputs(rule, out);
  auto print_row = [&](double percent, std::uint64_t busy, const Row& row, const char* name) {
    std::fprintf(out, "%6.2f %11.6f %11llu %9llu ", percent, busy / 1e9,
                 static_cast<unsigned long long>(row.calls ? busy / 1000 / row.calls : 0),
                 static_cast<unsigned long long>(row.calls));
    if (row.errors) std::fprintf(out, "%9llu ", static_cast<unsigned long long>(row.errors));
    else std::fprintf(out, "%9s ", "");
    std::fprintf(out, "%11.6f %s\n", row.parked_ns / 1e9, name);
  };
  for (const Line& line : lines) {
    double percent = total_busy ? 100.0 * static_cast<double>(line.busy_ns) / static_cast<double>(total_busy) : 0.0;
    print_row(percent, line.busy_ns, line.row, line.name);
  }
  std::fputs(rule, out);
  print_row(100.0, total_busy, total, "total");
  std::fflush(out);
}

}  // namespace cohook::costrace
