// The arguments test/programs/trace_decode_probe.cc passes to its calls, shared with
// test/trace_decode_test.cc, which decodes the same values and compares with what strace printed.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cstddef>
#include <string_view>

namespace trace_cases {

using namespace std::string_view_literals;

// Written to a pipe and read back; strace -s 32 quotes each.
inline constexpr std::string_view kPayloads[] = {
    "hello\n"sv,
    "\0\1\2\3 9\377\200abc\t\"\\\r\f\v\33[0m"sv,
    "\0"
    "12 \1"
    "7 \177"
    "8"sv,                                  // octal escapes before digits take three digits
    "0123456789abcdef0123456789abcdef"sv,   // exactly 32 bytes: no "..."
    "0123456789abcdef0123456789abcdefX"sv,  // 33: "..."
    "\xe2\x82\xac UTF-8 and \xff\xfe high bytes \x80\x81\x82\x83\x84"sv,
    "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"sv,
};

inline constexpr std::string_view kIovParts[] = {"abc"sv, ""sv, "de\n"sv};
inline constexpr std::size_t kReadvSizes[] = {2, 64};
inline constexpr std::string_view kMsgParts[] = {"hello "sv, "world"sv};

inline constexpr const char* kMissingPath = "/nonexistent/cohook/x";
struct OpenCase {
  int flags;
  int mode;  // printed when O_CREAT or O_TMPFILE is in flags
};
inline constexpr OpenCase kOpenCases[] = {
    {O_RDONLY, 0},
    {O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644},
    {O_RDWR | O_APPEND | O_NONBLOCK | O_NOCTTY | O_EXCL | O_CREAT, 0600},
    {O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0},
    {O_RDWR | O_SYNC | O_DIRECT | O_NOATIME, 0},
    {O_WRONLY | O_DSYNC | FASYNC | 0100000 /* O_LARGEFILE */, 0},
    {O_PATH | O_CLOEXEC, 0},
    {O_RDWR | O_TMPFILE, 0600},
    {O_ACCMODE | 0x40000000, 0},
    {0x40000000, 0},
};

inline constexpr int kSocketTypes[] = {SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, SOCK_DGRAM, SOCK_SEQPACKET, 999,
                                       9 | 0x100};
inline constexpr int kUnknownFamily = 12345;
inline constexpr int kWaitOptions = WNOHANG | WUNTRACED | WCONTINUED | __WALL;
inline constexpr int kWaitidOptions = WEXITED | WNOHANG | WNOWAIT | WSTOPPED;
inline constexpr int kBlockedSignals[] = {SIGINT, SIGTERM, 34, 40, 64};
inline constexpr int kUnblockedSignals[] = {SIGKILL, 32, 33};  // the rest of a full set is blocked
inline constexpr int kSigactionSignals[] = {SIGUSR1, SIGPIPE, SIGSTKFLT, SIGIO, SIGSYS};
inline constexpr int kRawSigactionSignals[] = {36, 64, 99};  // SIGRT_4, SIGRT_32, out of range
inline constexpr long kSleepNs = 1000;
inline constexpr const char* kUnixPath = "/nonexistent/cohook-probe.sock";
inline constexpr std::string_view kAbstractName = "\0cohook-probe-absent"sv;
inline constexpr unsigned short kClosedPort = 1;  // tcpmux: nothing listens on it on loopback

}  // namespace trace_cases
