// pollfd arrays, timespecs, timevals, signal names and signal sets as strace prints them.
#include <cstdint>

#include "hook/trace_decode.h"

namespace cohook::trace {
namespace {

// Kernel numbering: 32 and 33 exist though glibc reserves them (its SIGRTMIN is 34).
constexpr const char* kSignalNames[] = {
    nullptr, "HUP",  "INT",  "QUIT", "ILL",    "TRAP",   "ABRT",  "BUS",  "FPE",  "KILL", "USR1",
    "SEGV",  "USR2", "PIPE", "ALRM", "TERM",   "STKFLT", "CHLD",  "CONT", "STOP", "TSTP", "TTIN",
    "TTOU",  "URG",  "XCPU", "XFSZ", "VTALRM", "PROF",   "WINCH", "IO",   "PWR",  "SYS",
};
constexpr int kRealtimeMin = 32;
constexpr int kSignalCount = 64;

// "INT" or "RTMIN", "RT_1"... as the set form prints them; the single-value form adds "SIG".
void put_signal_suffix(TraceLine& line, int signal_number) {
  if (signal_number < kRealtimeMin) {
    line.put(kSignalNames[signal_number]);
  } else if (signal_number == kRealtimeMin) {
    line.put("RTMIN");
  } else {
    line.put("RT_");
    line.put_int(signal_number - kRealtimeMin);
  }
}

bool in_set(const sigset_t* set, int signal_number) {
  // The kernel's 64-bit mask, the first word of glibc's sigset_t.
  const auto* words = reinterpret_cast<const std::uint64_t*>(set);
  return (words[0] >> (signal_number - 1)) & 1;
}

}  // namespace

void put_signal(TraceLine& line, int signal_number) {
  if (signal_number < 1 || signal_number > kSignalCount) {
    line.put_int(signal_number);
    return;
  }
  line.put("SIG");
  put_signal_suffix(line, signal_number);
}

void put_sigset(TraceLine& line, const sigset_t* set) {
  if (set == nullptr) {
    line.put("NULL");
    return;
  }
  int members = 0;
  for (int s = 1; s <= kSignalCount; ++s) members += in_set(set, s);
  // More than half set: strace lists the signals not in it after "~".
  bool inverted = members > kSignalCount / 2;
  if (inverted) line.put_char('~');
  line.put_char('[');
  bool first = true;
  for (int s = 1; s <= kSignalCount; ++s) {
    if (in_set(set, s) == inverted) continue;
    if (!first) line.put_char(' ');
    first = false;
    put_signal_suffix(line, s);
  }
  line.put_char(']');
}

void put_pollfds(TraceLine& line, const pollfd* fds, nfds_t count, bool revents, std::size_t max_elements) {
  if (fds == nullptr) {
    line.put("NULL");
    return;
  }
  line.put_char('[');
  std::size_t shown = 0;
  for (nfds_t i = 0; i < count; ++i) {
    // The result lists only the entries with events; the arguments list all, a negative fd bare.
    if (revents && fds[i].revents == 0) continue;
    if (shown != 0) line.put(", ");
    if (shown == max_elements) {
      line.put("...");
      break;
    }
    ++shown;
    line.put("{fd=");
    line.put_int(fds[i].fd);
    if (revents) {
      line.put(", revents=");
      put_poll_events(line, fds[i].revents);
    } else if (fds[i].fd >= 0) {
      line.put(", events=");
      put_poll_events(line, fds[i].events);
    }
    line.put_char('}');
  }
  line.put_char(']');
}

void put_timespec(TraceLine& line, const timespec* time) {
  if (time == nullptr) {
    line.put("NULL");
    return;
  }
  line.put("{tv_sec=");
  line.put_int(time->tv_sec);
  line.put(", tv_nsec=");
  line.put_int(time->tv_nsec);
  line.put_char('}');
}

void put_timeval(TraceLine& line, const timeval* time) {
  if (time == nullptr) {
    line.put("NULL");
    return;
  }
  line.put("{tv_sec=");
  line.put_int(time->tv_sec);
  line.put(", tv_usec=");
  line.put_int(time->tv_usec);
  line.put_char('}');
}

}  // namespace cohook::trace
