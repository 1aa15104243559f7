// The number forms of cohook's configuration, shared by libcohook (sched/config.cc) and corun,
// which checks its flags in the same form before it execs. Header-only: corun links no cohook
// code. Each returns false on anything but the accepted form.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdlib>

namespace cohook {

// "65536", "64K", "1M", "1G".
inline bool parse_size(const char* text, std::size_t* bytes) {
  if (text == nullptr || *text < '0' || *text > '9') return false;
  errno = 0;
  char* end = nullptr;
  unsigned long long value = std::strtoull(text, &end, 10);
  if (errno != 0) return false;
  unsigned shift = 0;
  switch (*end) {
    case '\0': break;
    case 'k': case 'K': shift = 10; ++end; break;
    case 'm': case 'M': shift = 20; ++end; break;
    case 'g': case 'G': shift = 30; ++end; break;
    default: return false;
  }
  if (*end != '\0') return false;
  if (value > (~0ull >> shift)) return false;
  *bytes = static_cast<std::size_t>(value << shift);
  return true;
}

// 1..max.
inline bool parse_count(const char* text, int max, int* value) {
  if (text == nullptr || *text < '0' || *text > '9') return false;
  errno = 0;
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (errno != 0 || *end != '\0' || v < 1 || v > max) return false;
  *value = static_cast<int>(v);
  return true;
}

}  // namespace cohook
