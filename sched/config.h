// Runtime settings read from the environment once, at load time (see DESIGN.md: a bad value
// is reported with the variable's name and the accepted form, and the program exits with 2).
#pragma once

#include <cstddef>

#include "sched/config_parse.h"

namespace cohook {

struct Config {
  std::size_t stack_size;  // COHOOK_STACK_SIZE
  int threads;             // COHOOK_THREADS (0: not set)
  int stall_report_seconds;  // COHOOK_STALL_REPORT (0: off)
  int dump_signal;           // COHOOK_DUMP_SIGNAL (0: none)
  int hog_report_ms;         // COHOOK_HOG_REPORT (0: off)
  int spin_us;               // COHOOK_SPIN_US: spin before sleeping after a cross-thread hand-off (0: never)
};

const Config& config();

// Parsers, exposed for tests (parse_size and parse_count: sched/config_parse.h). Return false on
// anything but the accepted form.
// "SIGUSR2", "USR2", "12", "SIGRTMIN+2"; a signal that can be caught and is not a fault; "0": none.
bool parse_signal(const char* text, int* signal_number);

}  // namespace cohook
