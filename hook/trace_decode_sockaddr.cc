// Socket addresses as strace prints them: AF_INET as inet_addr("..."), AF_INET6 as
// inet_pton(AF_INET6, "...", &sin6_addr) with the address in inet_ntop's form (RFC 5952: lowercase,
// the longest run of two or more zero groups as "::", an IPv4 tail for mapped and compatible
// addresses), AF_UNIX paths quoted with "@" for the abstract namespace, any other family as its
// raw sa_data. Formatted by hand: inet_ntop is not async-signal-safe.
#include <netinet/in.h>
#include <sys/un.h>

#include <cstddef>
#include <cstring>

#include "hook/trace_decode.h"

namespace cohook::trace {
namespace {

void put_ipv4(TraceLine& line, const unsigned char* bytes) {
  for (int i = 0; i < 4; ++i) {
    if (i != 0) line.put_char('.');
    line.put_uint(bytes[i]);
  }
}

void put_hex_group(TraceLine& line, unsigned value) {
  bool started = false;
  for (int shift = 12; shift >= 0; shift -= 4) {
    unsigned digit = (value >> shift) & 0xf;
    if (digit == 0 && !started && shift != 0) continue;
    started = true;
    line.put_char("0123456789abcdef"[digit]);
  }
}

// glibc's inet_ntop6, which strace calls.
void put_ipv6(TraceLine& line, const unsigned char* bytes) {
  unsigned groups[8];
  for (int i = 0; i < 8; ++i) groups[i] = bytes[2 * i] << 8 | bytes[2 * i + 1];
  int best_start = -1, best_length = 0;
  for (int i = 0; i < 8;) {
    if (groups[i] != 0) {
      ++i;
      continue;
    }
    int start = i;
    while (i < 8 && groups[i] == 0) ++i;
    if (i - start > best_length) {
      best_start = start;
      best_length = i - start;
    }
  }
  if (best_length < 2) best_start = -1;
  for (int i = 0; i < 8; ++i) {
    if (best_start != -1 && i >= best_start && i < best_start + best_length) {
      if (i == best_start) line.put_char(':');
      continue;
    }
    if (i != 0) line.put_char(':');
    // ::a.b.c.d (compatible) and ::ffff:a.b.c.d (mapped) end in dotted IPv4.
    if (i == 6 && best_start == 0 && (best_length == 6 || (best_length == 5 && groups[5] == 0xffff))) {
      put_ipv4(line, bytes + 12);
      return;
    }
    put_hex_group(line, groups[i]);
  }
  if (best_start != -1 && best_start + best_length == 8) line.put_char(':');
}

void put_port(TraceLine& line, std::uint16_t network_order) {
  line.put("htons(");
  line.put_uint(ntohs(network_order));
  line.put_char(')');
}

void put_raw_data(TraceLine& line, const sockaddr* address, socklen_t length) {
  line.put(", sa_data=");
  std::size_t data_length = length - offsetof(sockaddr, sa_data);
  put_string(line, address->sa_data, data_length, data_length);
}

}  // namespace

void put_sockaddr(TraceLine& line, const sockaddr* address, socklen_t length) {
  if (address == nullptr) {
    line.put("NULL");
    return;
  }
  if (length < sizeof(sa_family_t)) {
    line.put("{}");
    return;
  }
  line.put("{sa_family=");
  put_address_family(line, address->sa_family);
  if (address->sa_family == AF_INET && length >= sizeof(sockaddr_in)) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    line.put(", sin_port=");
    put_port(line, in->sin_port);
    line.put(", sin_addr=inet_addr(\"");
    put_ipv4(line, reinterpret_cast<const unsigned char*>(&in->sin_addr));
    line.put("\")}");
    return;
  }
  if (address->sa_family == AF_INET6 && length >= sizeof(sockaddr_in6)) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    line.put(", sin6_port=");
    put_port(line, in6->sin6_port);
    line.put(", sin6_flowinfo=htonl(");
    line.put_uint(ntohl(in6->sin6_flowinfo));
    line.put("), inet_pton(AF_INET6, \"");
    put_ipv6(line, reinterpret_cast<const unsigned char*>(&in6->sin6_addr));
    line.put("\", &sin6_addr), sin6_scope_id=");
    line.put_uint(in6->sin6_scope_id);
    line.put_char('}');
    return;
  }
  if (address->sa_family == AF_UNIX) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(address);
    std::size_t path_length = length - offsetof(sockaddr_un, sun_path);
    if (path_length > sizeof un->sun_path) path_length = sizeof un->sun_path;
    if (path_length != 0) {
      line.put(", sun_path=");
      if (un->sun_path[0] == '\0') {
        // Abstract: every byte of the given length is the name, NULs included.
        line.put_char('@');
        put_string(line, un->sun_path + 1, path_length - 1, path_length - 1);
      } else {
        std::size_t shown = strnlen(un->sun_path, path_length);
        put_string(line, un->sun_path, shown, shown);
      }
    }
    line.put_char('}');
    return;
  }
  if (length > offsetof(sockaddr, sa_data)) put_raw_data(line, address, length);
  line.put_char('}');
}

}  // namespace cohook::trace
