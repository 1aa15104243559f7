// Turns the records of traced processes into strace's lines, in arrival order. A call that parks
// sends its start and end as two records: when nothing came between them they become one line;
// otherwise the start is printed with " <unfinished ...>" and the end as "<... read resumed>",
// strace's own convention, so lines never interleave mid-line.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

#include "hook/trace_record.h"
#include "tools/costrace/options.h"

namespace cohook::costrace {

class LinePrinter {
 public:
  LinePrinter(std::FILE* out, const Options& options) : out_(out), options_(options) {}

  // A kCall, kCallStart or kCallEnd record.
  void record(const trace::RecordHeader& header, std::string_view text);
  // Prints a start still held back as unfinished (at the end of the run).
  void flush();
  // "+++ exited with 0 +++" for the process costrace started.
  void exited(int pid, int status);

 private:
  void print_prefix(const trace::RecordHeader& header, std::int64_t when_ns);
  void print_body(const trace::RecordHeader& header, std::string_view text, bool with_suffix);
  void print_held_as_unfinished();

  std::FILE* out_;
  const Options& options_;
  bool holding_ = false;
  trace::RecordHeader held_{};
  std::string held_text_;
};

}  // namespace cohook::costrace
