#include "sched/config.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "coctx/stack.h"
#include "sched/scheduler.h"

namespace cohook {
namespace {

constexpr std::size_t kMaxStackSize = std::size_t{1} << 30;

[[noreturn]] void reject(const char* name, const char* value, const char* accepted) {
  std::fprintf(stderr, "cohook: %s='%s' is not valid: expected %s\n", name, value, accepted);
  std::_Exit(2);  // before the program runs anything: nothing to flush or unwind
}

Config load() {
  Config c{coctx::kDefaultStackSize, 0, 10, SIGUSR2, 100, 50};
  if (const char* v = std::getenv("COHOOK_STACK_SIZE"); v != nullptr) {
    std::size_t bytes = 0;
    if (!parse_size(v, &bytes) || bytes < coctx::kMinStackSize || bytes > kMaxStackSize)
      reject("COHOOK_STACK_SIZE", v, "a size from 16K to 1G: bytes, or a number with K, M or G (e.g. 256K)");
    c.stack_size = coctx::round_stack_size(bytes);
  }
  if (const char* v = std::getenv("COHOOK_THREADS"); v != nullptr) {
    if (!parse_count(v, 1024, &c.threads)) reject("COHOOK_THREADS", v, "a whole number from 1 to 1024");
  }
  if (const char* v = std::getenv("COHOOK_STALL_REPORT"); v != nullptr) {
    if (std::string(v) == "0") c.stall_report_seconds = 0;
    else if (!parse_count(v, 86400, &c.stall_report_seconds))
      reject("COHOOK_STALL_REPORT", v, "seconds from 0 (off) to 86400");
  }
  if (const char* v = std::getenv("COHOOK_DUMP_SIGNAL"); v != nullptr) {
    if (!parse_signal(v, &c.dump_signal))
      reject("COHOOK_DUMP_SIGNAL", v,
             "a signal name or number (SIGUSR2, USR2, 12, SIGRTMIN+1), or 0 for none; not SIGKILL, SIGSTOP or a "
             "fault signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS)");
  }
  if (const char* v = std::getenv("COHOOK_HOG_REPORT"); v != nullptr) {
    if (std::string(v) == "0") c.hog_report_ms = 0;
    else if (!parse_count(v, 3'600'000, &c.hog_report_ms))
      reject("COHOOK_HOG_REPORT", v, "milliseconds from 0 (off) to 3600000");
  }
  if (const char* v = std::getenv("COHOOK_SPIN_US"); v != nullptr) {
    if (std::string(v) == "0") c.spin_us = 0;
    else if (!parse_count(v, 1000, &c.spin_us)) reject("COHOOK_SPIN_US", v, "microseconds from 0 (never) to 1000");
  }
  return c;
}

// Validate at load, before main, so a typo fails fast instead of at the first spawn.
__attribute__((constructor)) void validate_environment() { (void)config(); }

}  // namespace

bool parse_signal(const char* text, int* signal_number) {
  if (text == nullptr || *text == '\0') return false;
  int number = 0;
  if (std::string(text) == "0") {
    *signal_number = 0;
    return true;
  }
  if (*text >= '0' && *text <= '9') {
    if (!parse_count(text, SIGRTMAX, &number)) return false;
  } else {
    std::string name = text;
    if (name.rfind("SIG", 0) == 0) name.erase(0, 3);
    if (name.rfind("RTMIN", 0) == 0 || name.rfind("RTMAX", 0) == 0) {
      int base = name[3] == 'I' ? SIGRTMIN : SIGRTMAX;
      int offset = 0;
      if (name.size() > 5) {
        if ((name[5] != '+' && name[5] != '-') || !parse_count(name.c_str() + 6, 32, &offset)) return false;
        if (name[5] == '-') offset = -offset;
      }
      number = base + offset;
      if (number < SIGRTMIN || number > SIGRTMAX) return false;
    } else {
      for (int s = 1; s < NSIG && number == 0; ++s) {
        const char* abbrev = ::sigabbrev_np(s);
        if (abbrev != nullptr && name == abbrev) number = s;
      }
      if (number == 0) return false;
    }
  }
  switch (number) {
    case SIGKILL: case SIGSTOP: case SIGSEGV: case SIGBUS: case SIGFPE: case SIGILL: case SIGTRAP: case SIGSYS:
      return false;
    default:
      *signal_number = number;
      return true;
  }
}

const Config& config() {
  static const Config loaded = load();
  return loaded;
}

std::size_t default_stack_size() { return config().stack_size; }

}  // namespace cohook
