// -c: strace -c's table, with one column more (parked: the time a call's coroutine was switched
// out while the call waited, during which other coroutines ran on its thread).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string_view>

#include "hook/trace_calls.h"

namespace cohook::costrace {

class SummaryTable {
 public:
  void add(std::size_t call, std::uint64_t calls, std::uint64_t errors, std::uint64_t total_ns, std::uint64_t parked_ns);
  // A kSummary record's text: "<call-index> <calls> <errors> <total_ns> <parked_ns>\n" lines.
  void add_summary_text(std::string_view text);
  // strace -c's layout and order (by time, then calls, then name). "seconds" is the time in the
  // call minus its parked time (what strace's system time approximates); "parked" the rest.
  void print(std::FILE* out) const;

 private:
  struct Row {
    std::uint64_t calls = 0, errors = 0, total_ns = 0, parked_ns = 0;
  };
  Row rows_[static_cast<std::size_t>(trace::TracedCall::kCount)];
};

}  // namespace cohook::costrace
