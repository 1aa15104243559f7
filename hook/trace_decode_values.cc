// Single values by name (strace's printxval): address families, socket levels and options,
// shutdown's how, fcntl commands, epoll_ctl operations, clock ids. An unknown one prints as
// "0x3e7 /* AF_??? */", as strace does.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>

#include "hook/trace_decode.h"
#include "hook/trace_decode_table.h"

namespace cohook::trace {
namespace {

constexpr Named kFamilies[] = {
    {0, "AF_UNSPEC"},    {1, "AF_UNIX"},        {2, "AF_INET"},     {3, "AF_AX25"},     {4, "AF_IPX"},
    {5, "AF_APPLETALK"}, {6, "AF_NETROM"},      {7, "AF_BRIDGE"},   {8, "AF_ATMPVC"},   {9, "AF_X25"},
    {10, "AF_INET6"},    {11, "AF_ROSE"},       {12, "AF_DECnet"},  {13, "AF_NETBEUI"}, {14, "AF_SECURITY"},
    {15, "AF_KEY"},      {16, "AF_NETLINK"},    {17, "AF_PACKET"},  {18, "AF_ASH"},     {19, "AF_ECONET"},
    {20, "AF_ATMSVC"},   {21, "AF_RDS"},        {22, "AF_SNA"},     {23, "AF_IRDA"},    {24, "AF_PPPOX"},
    {25, "AF_WANPIPE"},  {26, "AF_LLC"},        {27, "AF_IB"},      {28, "AF_MPLS"},    {29, "AF_CAN"},
    {30, "AF_TIPC"},     {31, "AF_BLUETOOTH"},  {32, "AF_IUCV"},    {33, "AF_RXRPC"},   {34, "AF_ISDN"},
    {35, "AF_PHONET"},   {36, "AF_IEEE802154"}, {37, "AF_CAIF"},    {38, "AF_ALG"},     {39, "AF_NFC"},
    {40, "AF_VSOCK"},    {41, "AF_KCM"},        {42, "AF_QIPCRTR"}, {43, "AF_SMC"},     {44, "AF_XDP"},
    {45, "AF_MCTP"},
};

// strace names levels SOL_*, also for the IPPROTO_* numbers programs pass (IPPROTO_TCP is SOL_TCP).
constexpr Named kLevels[] = {{0, "SOL_IP"},    {1, "SOL_SOCKET"},   {6, "SOL_TCP"},
                             {17, "SOL_UDP"},  {41, "SOL_IPV6"},    {58, "SOL_ICMPV6"},
                             {255, "SOL_RAW"}, {263, "SOL_PACKET"}, {270, "SOL_NETLINK"}};

// SO_RCVTIMEO and SO_SNDTIMEO are the _OLD numbers on x86_64, and strace says so.
constexpr Named kSocketOptions[] = {
    {1, "SO_DEBUG"},         {2, "SO_REUSEADDR"},     {3, "SO_TYPE"},          {4, "SO_ERROR"},
    {5, "SO_DONTROUTE"},     {6, "SO_BROADCAST"},     {7, "SO_SNDBUF"},        {8, "SO_RCVBUF"},
    {9, "SO_KEEPALIVE"},     {10, "SO_OOBINLINE"},    {11, "SO_NO_CHECK"},     {12, "SO_PRIORITY"},
    {13, "SO_LINGER"},       {14, "SO_BSDCOMPAT"},    {15, "SO_REUSEPORT"},    {16, "SO_PASSCRED"},
    {17, "SO_PEERCRED"},     {18, "SO_RCVLOWAT"},     {19, "SO_SNDLOWAT"},     {20, "SO_RCVTIMEO_OLD"},
    {21, "SO_SNDTIMEO_OLD"}, {25, "SO_BINDTODEVICE"}, {30, "SO_ACCEPTCONN"},   {32, "SO_SNDBUFFORCE"},
    {33, "SO_RCVBUFFORCE"},  {38, "SO_PROTOCOL"},     {39, "SO_DOMAIN"},       {46, "SO_BUSY_POLL"},
    {49, "SO_INCOMING_CPU"}, {60, "SO_ZEROCOPY"},     {66, "SO_RCVTIMEO_NEW"}, {67, "SO_SNDTIMEO_NEW"},
};
constexpr Named kTcpOptions[] = {
    {1, "TCP_NODELAY"},      {2, "TCP_MAXSEG"},        {3, "TCP_CORK"},      {4, "TCP_KEEPIDLE"},
    {5, "TCP_KEEPINTVL"},    {6, "TCP_KEEPCNT"},       {7, "TCP_SYNCNT"},    {8, "TCP_LINGER2"},
    {9, "TCP_DEFER_ACCEPT"}, {10, "TCP_WINDOW_CLAMP"}, {11, "TCP_INFO"},     {12, "TCP_QUICKACK"},
    {13, "TCP_CONGESTION"},  {18, "TCP_USER_TIMEOUT"}, {23, "TCP_FASTOPEN"}, {25, "TCP_NOTSENT_LOWAT"},
};
constexpr Named kIpOptions[] = {{1, "IP_TOS"},           {2, "IP_TTL"},       {3, "IP_HDRINCL"},     {4, "IP_OPTIONS"},
                                {10, "IP_MTU_DISCOVER"}, {15, "IP_FREEBIND"}, {19, "IP_TRANSPARENT"}};
constexpr Named kIpv6Options[] = {
    {16, "IPV6_UNICAST_HOPS"}, {23, "IPV6_MTU_DISCOVER"}, {26, "IPV6_V6ONLY"}, {67, "IPV6_TCLASS"}};

constexpr Named kShutdownHows[] = {{SHUT_RD, "SHUT_RD"}, {SHUT_WR, "SHUT_WR"}, {SHUT_RDWR, "SHUT_RDWR"}};

constexpr Named kFcntlCommands[] = {
    {F_DUPFD, "F_DUPFD"},           {F_GETFD, "F_GETFD"},
    {F_SETFD, "F_SETFD"},           {F_GETFL, "F_GETFL"},
    {F_SETFL, "F_SETFL"},           {F_GETLK, "F_GETLK"},
    {F_SETLK, "F_SETLK"},           {F_SETLKW, "F_SETLKW"},
    {F_SETOWN, "F_SETOWN"},         {F_GETOWN, "F_GETOWN"},
    {F_SETSIG, "F_SETSIG"},         {F_GETSIG, "F_GETSIG"},
    {F_SETOWN_EX, "F_SETOWN_EX"},   {F_GETOWN_EX, "F_GETOWN_EX"},
    {17, "F_GETOWNER_UIDS"},        {F_OFD_GETLK, "F_OFD_GETLK"},
    {F_OFD_SETLK, "F_OFD_SETLK"},   {F_OFD_SETLKW, "F_OFD_SETLKW"},
    {F_SETLEASE, "F_SETLEASE"},     {F_GETLEASE, "F_GETLEASE"},
    {F_NOTIFY, "F_NOTIFY"},         {F_DUPFD_CLOEXEC, "F_DUPFD_CLOEXEC"},
    {F_SETPIPE_SZ, "F_SETPIPE_SZ"}, {F_GETPIPE_SZ, "F_GETPIPE_SZ"},
    {F_ADD_SEALS, "F_ADD_SEALS"},   {F_GET_SEALS, "F_GET_SEALS"},
};

constexpr Named kEpollOps[] = {
    {EPOLL_CTL_ADD, "EPOLL_CTL_ADD"}, {EPOLL_CTL_DEL, "EPOLL_CTL_DEL"}, {EPOLL_CTL_MOD, "EPOLL_CTL_MOD"}};

constexpr Named kClocks[] = {
    {0, "CLOCK_REALTIME"},          {1, "CLOCK_MONOTONIC"},     {2, "CLOCK_PROCESS_CPUTIME_ID"},
    {3, "CLOCK_THREAD_CPUTIME_ID"}, {4, "CLOCK_MONOTONIC_RAW"}, {5, "CLOCK_REALTIME_COARSE"},
    {6, "CLOCK_MONOTONIC_COARSE"},  {7, "CLOCK_BOOTTIME"},      {8, "CLOCK_REALTIME_ALARM"},
    {9, "CLOCK_BOOTTIME_ALARM"},    {10, "CLOCK_SGI_CYCLE"},    {11, "CLOCK_TAI"},
};

// strace prints negative ints in these comments as their 32-bit pattern: 0xfffffc18.
unsigned long long bits32(int value) {
  return static_cast<unsigned>(value);
}

}  // namespace

void put_address_family(TraceLine& line, int family) {
  put_value_name(line, bits32(family), kFamilies, "AF_???");
}

void put_socket_level(TraceLine& line, int level) {
  put_value_name(line, bits32(level), kLevels, "SOL_??");
}

void put_socket_option(TraceLine& line, int level, int name) {
  switch (level) {
    case SOL_SOCKET:
      put_value_name(line, bits32(name), kSocketOptions, "SO_???");
      return;
    case IPPROTO_TCP:
      put_value_name(line, bits32(name), kTcpOptions, "TCP_???");
      return;
    case IPPROTO_IP:
      put_value_name(line, bits32(name), kIpOptions, "IP_???");
      return;
    case IPPROTO_IPV6:
      put_value_name(line, bits32(name), kIpv6Options, "IPV6_???");
      return;
    default:
      line.put_int(name);  // a level strace does not know: the bare number
  }
}

void put_shutdown_how(TraceLine& line, int how) {
  put_value_name(line, bits32(how), kShutdownHows, "SHUT_???");
}

void put_fcntl_command(TraceLine& line, int command) {
  put_value_name(line, bits32(command), kFcntlCommands, "F_???");
}

void put_epoll_op(TraceLine& line, int op) {
  put_value_name(line, bits32(op), kEpollOps, "EPOLL_CTL_???");
}

void put_clock_id(TraceLine& line, clockid_t clock) {
  put_value_name(line, bits32(clock), kClocks, "CLOCK_???");
}

}  // namespace cohook::trace
