// TraceLine's formatting by hand: snprintf may take locale locks and is not async-signal-safe, and
// a traced call can run inside a signal handler.
#include "hook/trace_line.h"

#include <cstring>

namespace cohook::trace {

void TraceLine::put(std::string_view text) {
  std::size_t room = kCapacity - length_;
  std::size_t count = text.size();
  if (count > room) {
    count = room;
    truncated_ = true;
  }
  std::memcpy(buffer_ + length_, text.data(), count);
  length_ += count;
}

void TraceLine::put_char(char c) {
  if (length_ == kCapacity) {
    truncated_ = true;
    return;
  }
  buffer_[length_++] = c;
}

void TraceLine::put_uint(unsigned long long value) {
  char digits[20];  // 2^64 - 1 has 20 decimal digits
  std::size_t count = 0;
  do {
    digits[sizeof digits - 1 - count++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  put({digits + sizeof digits - count, count});
}

void TraceLine::put_int(long long value) {
  if (value < 0) {
    put_char('-');
    // Negate in unsigned arithmetic: -LLONG_MIN does not fit a long long.
    put_uint(0ULL - static_cast<unsigned long long>(value));
    return;
  }
  put_uint(static_cast<unsigned long long>(value));
}

void TraceLine::put_hex(unsigned long long value) {
  char digits[18];
  std::size_t count = 0;
  do {
    digits[sizeof digits - 1 - count++] = "0123456789abcdef"[value & 0xf];
    value >>= 4;
  } while (value != 0);
  digits[sizeof digits - 1 - count++] = 'x';
  digits[sizeof digits - 1 - count++] = '0';
  put({digits + sizeof digits - count, count});
}

}  // namespace cohook::trace
