// The calls costrace can show: their names (as strace prints them) and strace's classes for
// `-e trace=%network,%desc,%process,...`. The index of a call in this table is RecordHeader::call.
// Fortified entry points (__read_chk...) are traced under the plain name, as strace shows the
// system call. Order is part of the wire format between libcohook.so and costrace, both built from
// this tree: append, never reorder.
#pragma once

#include <cstdint>

namespace cohook::trace {

enum CallClass : std::uint8_t {
  kClassDesc = 1,     // %desc: takes or returns a file descriptor
  kClassNetwork = 2,  // %network
  kClassProcess = 4,  // %process
  kClassSignal = 8,   // %signal
  kClassFile = 16,    // %file: takes a path
  kClassClock = 32,   // %clock
};

// X(name, classes)
#define COHOOK_TRACED_CALLS(X)                       \
  X(read, kClassDesc)                                \
  X(write, kClassDesc)                               \
  X(readv, kClassDesc)                               \
  X(writev, kClassDesc)                              \
  X(recvfrom, kClassDesc | kClassNetwork)            \
  X(sendto, kClassDesc | kClassNetwork)              \
  X(recvmsg, kClassDesc | kClassNetwork)             \
  X(sendmsg, kClassDesc | kClassNetwork)             \
  X(recvmmsg, kClassDesc | kClassNetwork)            \
  X(sendmmsg, kClassDesc | kClassNetwork)            \
  X(sendfile, kClassDesc)                            \
  X(socket, kClassNetwork)                           \
  X(socketpair, kClassNetwork)                       \
  X(connect, kClassDesc | kClassNetwork)             \
  X(accept, kClassDesc | kClassNetwork)              \
  X(accept4, kClassDesc | kClassNetwork)             \
  X(shutdown, kClassDesc | kClassNetwork)            \
  X(close, kClassDesc)                               \
  X(dup, kClassDesc)                                 \
  X(dup2, kClassDesc)                                \
  X(dup3, kClassDesc)                                \
  X(fcntl, kClassDesc)                               \
  X(pipe2, kClassDesc)                               \
  X(eventfd2, kClassDesc)                            \
  X(openat, kClassDesc | kClassFile)                 \
  X(poll, kClassDesc)                                \
  X(ppoll, kClassDesc)                               \
  X(select, kClassDesc)                              \
  X(pselect6, kClassDesc)                            \
  X(epoll_wait, kClassDesc)                          \
  X(epoll_pwait, kClassDesc)                         \
  X(nanosleep, kClassClock)                          \
  X(clock_nanosleep, kClassClock)                    \
  X(wait4, kClassProcess)                            \
  X(waitid, kClassProcess)                           \
  X(rt_sigaction, kClassSignal)                      \
  X(getaddrinfo, kClassNetwork)                      \
  X(getnameinfo, kClassNetwork)                      \
  X(gethostbyname, kClassNetwork)                    \
  X(gethostbyaddr, kClassNetwork)

enum class TracedCall : std::uint16_t {
#define COHOOK_TRACED_CALL_ENUM(name, classes) name,
  COHOOK_TRACED_CALLS(COHOOK_TRACED_CALL_ENUM)
#undef COHOOK_TRACED_CALL_ENUM
      kCount
};

struct TracedCallInfo {
  const char* name;
  std::uint8_t classes;
};

inline constexpr TracedCallInfo kTracedCalls[] = {
#define COHOOK_TRACED_CALL_INFO(name, classes) {#name, classes},
    COHOOK_TRACED_CALLS(COHOOK_TRACED_CALL_INFO)
#undef COHOOK_TRACED_CALL_INFO
};

}  // namespace cohook::trace
