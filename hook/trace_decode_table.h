// The name tables the decoders share (hook/trace_decode_*.cc): strace's printflags and printxval.
#pragma once

#include <span>
#include <string_view>

#include "hook/trace_line.h"

namespace cohook::trace {

struct Named {
  unsigned long long value;
  const char* name;
};

// "0x3e7 /* SOCK_??? */": strace's form for a value no name matches.
void put_unknown(TraceLine& line, unsigned long long value, std::string_view comment);
// Every name whose bits are all set, in table order, joined by "|"; bits left over as "|0x40"
// (or "0x40 /* comment */" alone); "0" for none. `something_before` continues an expression
// ("O_RDWR" then "|O_CREAT"). Returns whether anything named was printed.
bool put_flag_names(TraceLine& line, unsigned long long value, std::span<const Named> names,
                    std::string_view unknown_comment, bool something_before);
// The name equal to `value`, else put_unknown.
void put_value_name(TraceLine& line, unsigned long long value, std::span<const Named> names,
                    std::string_view unknown_comment);

}  // namespace cohook::trace
