// costrace's command line: strace's flags for what it shows, corun's for how PROGRAM runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "tools/common/preload_env.h"

namespace cohook::costrace {

enum class Timestamps { kNone, kSeconds, kMicros, kEpoch };  // -t, -tt, -ttt

struct Options {
  bool follow_forks = false;   // -f
  bool summary = false;        // -c
  bool summary_and_lines = false;  // -C
  bool durations = false;      // -T
  Timestamps timestamps = Timestamps::kNone;
  std::uint64_t calls = ~std::uint64_t{0};  // -e trace=: bit i for call i of trace_calls.h
  std::string output;          // -o FILE ("" : stderr, as strace)
  std::size_t string_limit = 32;  // -s
  bool stacks = false;         // -k
  std::string chrome_trace;    // --chrome-trace FILE
  tools::PreloadSettings preload;
  int program_index = 0;       // argv[program_index] is PROGRAM
  bool lines() const { return !summary || summary_and_lines; }
  bool table() const { return summary || summary_and_lines; }
};

// Parses argv; on --help/--version prints and exits 0, on a bad flag prints why and exits 2.
Options parse_options(int argc, char** argv);

// -e trace=SET: names, %classes, "all", "none", a leading ! negating the whole set, commas
// between. False (and *error) for a name costrace does not know.
bool parse_trace_set(const std::string& set, std::uint64_t* calls, std::string* error);

}  // namespace cohook::costrace
