// Buffers, C strings, iovecs and msghdrs as strace quotes them (strace's string_quote without -x):
// \" \\ \f \n \r \t \v escaped, printable ASCII as is, every other byte in octal with as few
// digits as possible, or three when the next printed byte is a digit ("\0" then "1" is "\0001").
#include <cstdint>

#include "hook/trace_decode.h"

namespace cohook::trace {
namespace {

void put_quoted_byte(TraceLine& line, unsigned char c, bool digit_follows) {
  switch (c) {
    case '"':
      line.put("\\\"");
      return;
    case '\\':
      line.put("\\\\");
      return;
    case '\f':
      line.put("\\f");
      return;
    case '\n':
      line.put("\\n");
      return;
    case '\r':
      line.put("\\r");
      return;
    case '\t':
      line.put("\\t");
      return;
    case '\v':
      line.put("\\v");
      return;
    default:
      break;
  }
  if (c >= ' ' && c < 0x7f) {
    line.put_char(static_cast<char>(c));
    return;
  }
  line.put_char('\\');
  if (digit_follows || c >> 6 != 0) line.put_char(static_cast<char>('0' + (c >> 6)));
  if (digit_follows || c >> 3 != 0) line.put_char(static_cast<char>('0' + ((c >> 3) & 7)));
  line.put_char(static_cast<char>('0' + (c & 7)));
}

// The quoted bytes without the "..." decision: the caller knows whether more followed.
void put_quoted(TraceLine& line, const unsigned char* bytes, std::size_t count) {
  line.put_char('"');
  for (std::size_t i = 0; i < count; ++i) {
    bool digit_follows = i + 1 < count && bytes[i + 1] >= '0' && bytes[i + 1] <= '9';
    put_quoted_byte(line, bytes[i], digit_follows);
  }
  line.put_char('"');
}

// strace prints at most -s elements of an array, then "...".
bool array_full(TraceLine& line, std::size_t index, std::size_t max_length) {
  if (index == 0) return false;
  line.put(", ");
  if (index < max_length) return false;
  line.put("...");
  return true;
}

// SCM_RIGHTS messages as strace prints them: [{cmsg_len=20, cmsg_level=SOL_SOCKET,
// cmsg_type=SCM_RIGHTS, cmsg_data=[4]}]. Any other kind of ancillary data is not decoded here: the
// whole buffer is printed as its address, strace's form for an undecoded pointer.
void put_control_messages(TraceLine& line, const msghdr* message) {
  bool only_rights = true;
  for (const cmsghdr* c = CMSG_FIRSTHDR(message); c != nullptr;
       c = CMSG_NXTHDR(const_cast<msghdr*>(message), const_cast<cmsghdr*>(c))) {
    only_rights =
        only_rights && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(0);
  }
  if (!only_rights || CMSG_FIRSTHDR(message) == nullptr) {
    line.put_hex(reinterpret_cast<std::uintptr_t>(message->msg_control));
    return;
  }
  line.put_char('[');
  bool first = true;
  for (const cmsghdr* c = CMSG_FIRSTHDR(message); c != nullptr;
       c = CMSG_NXTHDR(const_cast<msghdr*>(message), const_cast<cmsghdr*>(c))) {
    if (!first) line.put(", ");
    first = false;
    line.put("{cmsg_len=");
    line.put_uint(c->cmsg_len);
    line.put(", cmsg_level=SOL_SOCKET, cmsg_type=SCM_RIGHTS, cmsg_data=[");
    std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const unsigned char* data = CMSG_DATA(c);
    for (std::size_t i = 0; i < count; ++i) {
      int fd;
      __builtin_memcpy(&fd, data + i * sizeof(int), sizeof fd);  // CMSG_DATA need not be int-aligned
      if (i != 0) line.put(", ");
      line.put_int(fd);
    }
    line.put("]}");
  }
  line.put_char(']');
}

}  // namespace

void put_string(TraceLine& line, const void* data, std::size_t length, std::size_t max_length) {
  if (data == nullptr) {
    line.put("NULL");
    return;
  }
  std::size_t shown = length < max_length ? length : max_length;
  put_quoted(line, static_cast<const unsigned char*>(data), shown);
  if (length > max_length) line.put("...");
}

void put_c_string(TraceLine& line, const char* text, std::size_t max_length) {
  if (text == nullptr) {
    line.put("NULL");
    return;
  }
  std::size_t length = 0;
  while (length < max_length && text[length] != '\0') ++length;
  put_quoted(line, reinterpret_cast<const unsigned char*>(text), length);
  if (length == max_length && text[length] != '\0') line.put("...");
}

void put_iovec(TraceLine& line, const iovec* iov, int count, std::size_t transferred, std::size_t max_length) {
  if (iov == nullptr) {
    line.put("NULL");
    return;
  }
  line.put_char('[');
  for (int i = 0; i < count; ++i) {
    if (array_full(line, static_cast<std::size_t>(i), max_length)) break;
    // Each element shows the part of the transfer that fell in it (strace's tprint_iov_upto).
    std::size_t shown = iov[i].iov_len < transferred ? iov[i].iov_len : transferred;
    transferred -= shown;
    line.put("{iov_base=");
    put_string(line, iov[i].iov_base, shown, max_length);
    line.put(", iov_len=");
    line.put_uint(iov[i].iov_len);
    line.put_char('}');
  }
  line.put_char(']');
}

void put_msghdr(TraceLine& line, const msghdr* message, std::size_t transferred, std::size_t max_length) {
  if (message == nullptr) {
    line.put("NULL");
    return;
  }
  line.put("{msg_name=");
  if (message->msg_name == nullptr) {
    line.put("NULL");
  } else if (message->msg_namelen == 0) {
    line.put_hex(reinterpret_cast<std::uintptr_t>(message->msg_name));  // nothing to decode: the address
  } else {
    put_sockaddr(line, static_cast<const sockaddr*>(message->msg_name), message->msg_namelen);
  }
  line.put(", msg_namelen=");
  line.put_uint(message->msg_namelen);
  line.put(", msg_iov=");
  put_iovec(line, message->msg_iov, static_cast<int>(message->msg_iovlen), transferred, max_length);
  line.put(", msg_iovlen=");
  line.put_uint(message->msg_iovlen);
  if (message->msg_controllen != 0) {
    line.put(", msg_control=");
    put_control_messages(line, message);
  }
  line.put(", msg_controllen=");
  line.put_uint(message->msg_controllen);
  line.put(", msg_flags=");
  put_msg_flags(line, message->msg_flags);
  line.put_char('}');
}

}  // namespace cohook::trace
