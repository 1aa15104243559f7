// The text of one trace line, built inside a hooked call: a fixed buffer that never allocates and
// never fails (what does not fit is cut, and truncated() says so), since it runs on the hot path of
// a traced program and may run inside a signal handler's hooked call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace cohook::trace {

class TraceLine {
 public:
  static constexpr std::size_t kCapacity = 3072;  // leaves room for the record header in one PIPE_BUF

  void put(std::string_view text);
  void put_char(char c);
  void put_int(long long value);
  void put_uint(unsigned long long value);
  void put_hex(unsigned long long value);  // "0x1f"
  // Undo the last put of `count` characters (a decoder that wrote "|" before finding no flag).
  void drop_back(std::size_t count) { length_ = count > length_ ? 0 : length_ - count; }

  std::string_view view() const { return {buffer_, length_}; }
  std::size_t size() const { return length_; }
  bool truncated() const { return truncated_; }
  void clear() {
    length_ = 0;
    truncated_ = false;
  }

 private:
  char buffer_[kCapacity];
  std::size_t length_ = 0;
  bool truncated_ = false;
};

}  // namespace cohook::trace
