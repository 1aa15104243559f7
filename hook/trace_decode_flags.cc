// Flag sets and named values as strace prints them (its printflags and printxval): names in
// strace's order joined with "|", leftover bits as "|0x..."; a value with no known name at all as
// "0x3e7 /* SOCK_??? */". Tables are in strace's print order, which is not always numeric.
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/wait.h>

#include "hook/trace_decode.h"
#include "hook/trace_decode_table.h"

namespace cohook::trace {

void put_unknown(TraceLine& line, unsigned long long value, std::string_view comment) {
  line.put_hex(value);
  line.put(" /* ");
  line.put(comment);
  line.put(" */");
}

bool put_flag_names(TraceLine& line, unsigned long long value, std::span<const Named> names,
                    std::string_view unknown_comment, bool something_before) {
  bool printed = something_before;
  for (const Named& flag : names) {
    if (flag.value == 0 || (value & flag.value) != flag.value) continue;
    if (printed) line.put_char('|');
    line.put(flag.name);
    printed = true;
    value &= ~flag.value;
  }
  if (value != 0) {
    if (printed) {
      line.put_char('|');
      line.put_hex(value);
    } else {
      put_unknown(line, value, unknown_comment);
    }
  } else if (!printed) {
    line.put_char('0');
  }
  return printed;
}

void put_value_name(TraceLine& line, unsigned long long value, std::span<const Named> names,
                    std::string_view unknown_comment) {
  for (const Named& entry : names) {
    if (entry.value == value) {
      line.put(entry.name);
      return;
    }
  }
  put_unknown(line, value, unknown_comment);
}

namespace {

// The kernel's bit: glibc defines O_LARGEFILE as 0 for 64-bit programs, yet the bit exists (the
// kernel sets it on every file of a 64-bit process, and F_GETFL shows it).
#if defined(__x86_64__)
constexpr unsigned kLargeFile = 0100000;
#elif defined(__aarch64__)
constexpr unsigned kLargeFile = 0400000;
#else
#error "O_LARGEFILE's kernel value for this architecture"
#endif

constexpr Named kOpenAccess[] = {
    {O_RDONLY, "O_RDONLY"}, {O_WRONLY, "O_WRONLY"}, {O_RDWR, "O_RDWR"}, {O_ACCMODE, "O_ACCMODE"}};
// O_SYNC before O_DSYNC and O_TMPFILE before O_DIRECTORY: each includes the other's bit.
constexpr Named kOpenFlags[] = {
    {O_CREAT, "O_CREAT"},     {O_EXCL, "O_EXCL"},          {O_NOCTTY, "O_NOCTTY"},     {O_TRUNC, "O_TRUNC"},
    {O_APPEND, "O_APPEND"},   {O_NONBLOCK, "O_NONBLOCK"},  {O_SYNC, "O_SYNC"},         {O_DSYNC, "O_DSYNC"},
    {O_DIRECT, "O_DIRECT"},   {kLargeFile, "O_LARGEFILE"}, {O_NOFOLLOW, "O_NOFOLLOW"}, {O_NOATIME, "O_NOATIME"},
    {O_CLOEXEC, "O_CLOEXEC"}, {O_PATH, "O_PATH"},          {O_TMPFILE, "O_TMPFILE"},   {O_DIRECTORY, "O_DIRECTORY"},
    {FASYNC, "FASYNC"},
};

constexpr Named kMsgFlags[] = {
    {0x1, "MSG_OOB"},
    {0x2, "MSG_PEEK"},
    {0x4, "MSG_DONTROUTE"},
    {0x8, "MSG_CTRUNC"},
    {0x10, "MSG_PROBE"},
    {0x20, "MSG_TRUNC"},
    {0x40, "MSG_DONTWAIT"},
    {0x80, "MSG_EOR"},
    {0x100, "MSG_WAITALL"},
    {0x200, "MSG_FIN"},
    {0x400, "MSG_SYN"},
    {0x800, "MSG_CONFIRM"},
    {0x1000, "MSG_RST"},
    {0x2000, "MSG_ERRQUEUE"},
    {0x4000, "MSG_NOSIGNAL"},
    {0x8000, "MSG_MORE"},
    {0x10000, "MSG_WAITFORONE"},
    {0x40000, "MSG_BATCH"},
    {0x4000000, "MSG_ZEROCOPY"},
    {0x20000000, "MSG_FASTOPEN"},
    {0x40000000, "MSG_CMSG_CLOEXEC"},
};

constexpr Named kPollEvents[] = {
    {POLLIN, "POLLIN"},    {POLLPRI, "POLLPRI"},   {POLLOUT, "POLLOUT"}, {POLLERR, "POLLERR"},
    {POLLHUP, "POLLHUP"},  {POLLNVAL, "POLLNVAL"}, {0x40, "POLLRDNORM"}, {0x80, "POLLRDBAND"},
    {0x100, "POLLWRNORM"}, {0x200, "POLLWRBAND"},  {0x400, "POLLMSG"},   {0x2000, "POLLRDHUP"},
};

constexpr Named kEpollEvents[] = {
    {EPOLLIN, "EPOLLIN"},         {EPOLLPRI, "EPOLLPRI"},         {EPOLLOUT, "EPOLLOUT"},
    {EPOLLERR, "EPOLLERR"},       {EPOLLHUP, "EPOLLHUP"},         {EPOLLRDNORM, "EPOLLRDNORM"},
    {EPOLLRDBAND, "EPOLLRDBAND"}, {EPOLLWRNORM, "EPOLLWRNORM"},   {EPOLLWRBAND, "EPOLLWRBAND"},
    {EPOLLMSG, "EPOLLMSG"},       {EPOLLRDHUP, "EPOLLRDHUP"},     {EPOLLEXCLUSIVE, "EPOLLEXCLUSIVE"},
    {EPOLLWAKEUP, "EPOLLWAKEUP"}, {EPOLLONESHOT, "EPOLLONESHOT"}, {EPOLLET, "EPOLLET"},
};

constexpr Named kSocketTypes[] = {
    {SOCK_STREAM, "SOCK_STREAM"},       {SOCK_DGRAM, "SOCK_DGRAM"}, {SOCK_RAW, "SOCK_RAW"},      {SOCK_RDM, "SOCK_RDM"},
    {SOCK_SEQPACKET, "SOCK_SEQPACKET"}, {SOCK_DCCP, "SOCK_DCCP"},   {SOCK_PACKET, "SOCK_PACKET"}};
constexpr Named kSocketFlags[] = {{SOCK_CLOEXEC, "SOCK_CLOEXEC"}, {SOCK_NONBLOCK, "SOCK_NONBLOCK"}};

constexpr Named kEventfdFlags[] = {{02000000, "EFD_CLOEXEC"}, {04000, "EFD_NONBLOCK"}, {1, "EFD_SEMAPHORE"}};

// WUNTRACED is WSTOPPED's other name; strace prints WSTOPPED.
constexpr Named kWaitOptions[] = {
    {WNOHANG, "WNOHANG"}, {WEXITED, "WEXITED"},   {WSTOPPED, "WSTOPPED"}, {WCONTINUED, "WCONTINUED"},
    {WNOWAIT, "WNOWAIT"}, {__WCLONE, "__WCLONE"}, {__WALL, "__WALL"},     {__WNOTHREAD, "__WNOTHREAD"},
};

}  // namespace

void put_open_flags(TraceLine& line, int flags) {
  unsigned bits = static_cast<unsigned>(flags);
  // The access mode is a two-bit number, not flags: always printed, O_RDONLY included.
  put_value_name(line, bits & O_ACCMODE, kOpenAccess, "O_???");
  bits &= ~static_cast<unsigned>(O_ACCMODE);
  if (bits != 0) put_flag_names(line, bits, kOpenFlags, "O_???", true);
}

void put_pipe_flags(TraceLine& line, int flags) {
  put_flag_names(line, static_cast<unsigned>(flags), kOpenFlags, "O_???", false);
}

void put_eventfd_flags(TraceLine& line, int flags) {
  put_flag_names(line, static_cast<unsigned>(flags), kEventfdFlags, "EFD_???", false);
}

void put_msg_flags(TraceLine& line, int flags) {
  put_flag_names(line, static_cast<unsigned>(flags), kMsgFlags, "MSG_???", false);
}

void put_poll_events(TraceLine& line, short events) {
  put_flag_names(line, static_cast<unsigned short>(events), kPollEvents, "POLL???", false);
}

void put_epoll_events(TraceLine& line, unsigned events) {
  put_flag_names(line, events, kEpollEvents, "EPOLL???", false);
}

void put_socket_type(TraceLine& line, int type) {
  unsigned bits = static_cast<unsigned>(type);
  unsigned kind = bits & 0xf;
  bool known = false;
  for (const Named& entry : kSocketTypes) known = known || entry.value == kind;
  if (!known) {
    put_unknown(line, bits, "SOCK_???");
    return;
  }
  put_value_name(line, kind, kSocketTypes, "SOCK_???");
  bits &= ~0xfu;
  if (bits != 0) put_flag_names(line, bits, kSocketFlags, "SOCK_???", true);
}

void put_accept_flags(TraceLine& line, int flags) {
  put_flag_names(line, static_cast<unsigned>(flags), kSocketFlags, "SOCK_???", false);
}

void put_wait_options(TraceLine& line, int options) {
  put_flag_names(line, static_cast<unsigned>(options), kWaitOptions, "W???", false);
}

}  // namespace cohook::trace
