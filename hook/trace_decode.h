// strace's argument decoders, one small printer per argument type, for the calls cohook hooks.
// Each appends to a TraceLine exactly what `strace` prints for that argument on Linux x86_64, so a
// strace user reads costrace's lines with nothing new to learn:
//   read(5, "GET / HTTP/1.1\r\n"..., 4096) = 78
//   connect(3, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("127.0.0.1")}, 16) = -1 ECONNREFUSED (Connection refused)
//   poll([{fd=3, events=POLLIN}], 1, 1000) = 1 ([{fd=3, revents=POLLIN}])
// None allocates or takes a lock: they run inside the traced program's hooked calls. A pointer the
// caller passed may be bad (strace prints its address then); decoders are only given memory the
// call itself has read or written successfully, and print NULL for a null pointer.
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include <cstddef>

#include "hook/trace_line.h"

namespace cohook::trace {

// A buffer as strace's quoted string: C escapes (\n \t \r \" \\), other non-printables as octal
// (\0, \33...), at most `max_length` bytes (-s, default 32) then `...` after the closing quote.
// `length` is how many bytes the call transferred (for a read, its result, not the buffer size).
void put_string(TraceLine& line, const void* data, std::size_t length, std::size_t max_length);
// A NUL-terminated path or name: "/etc/hosts"; NULL for nullptr.
void put_c_string(TraceLine& line, const char* text, std::size_t max_length);
// iovecs of readv/writev/sendmsg/recvmsg: [{iov_base="abc", iov_len=3}, {iov_base=""..., iov_len=4096}]
// where `transferred` bytes are shown in total across the vector (the result of a read; the
// requested total of a write), each element cut at max_length.
void put_iovec(TraceLine& line, const iovec* iov, int count, std::size_t transferred, std::size_t max_length);
// msghdr of sendmsg/recvmsg: {msg_name=NULL, msg_namelen=0, msg_iov=[...], msg_iovlen=1, msg_controllen=0, msg_flags=0}
void put_msghdr(TraceLine& line, const msghdr* message, std::size_t transferred, std::size_t max_length);

// Flag sets by name, joined with |, unknown bits as hex ("O_RDONLY|0x40000000"; with no name at
// all "0x800000 /* MSG_??? */"), 0 as "0":
void put_open_flags(TraceLine& line, int flags);          // O_RDWR|O_CREAT|O_CLOEXEC (access mode always)
void put_pipe_flags(TraceLine& line, int flags);          // pipe2, dup3: O_CLOEXEC|O_NONBLOCK (no access mode)
void put_eventfd_flags(TraceLine& line, int flags);       // EFD_CLOEXEC|EFD_NONBLOCK
void put_msg_flags(TraceLine& line, int flags);           // MSG_DONTWAIT|MSG_NOSIGNAL
void put_poll_events(TraceLine& line, short events);      // POLLIN|POLLOUT
void put_epoll_events(TraceLine& line, unsigned events);  // EPOLLIN|EPOLLET
void put_socket_type(TraceLine& line, int type);          // SOCK_STREAM|SOCK_CLOEXEC
void put_accept_flags(TraceLine& line, int flags);        // SOCK_CLOEXEC|SOCK_NONBLOCK
void put_wait_options(TraceLine& line, int options);      // WNOHANG|WSTOPPED (WUNTRACED's other name)

// Single values by name, unknown ones as "0x3e7 /* AF_??? */" (a socket option of a level strace
// does not know: the bare number):
void put_address_family(TraceLine& line, int family);          // AF_INET
void put_socket_level(TraceLine& line, int level);             // SOL_SOCKET
void put_socket_option(TraceLine& line, int level, int name);  // SO_RCVTIMEO_OLD (x86_64's SO_RCVTIMEO)
void put_shutdown_how(TraceLine& line, int how);               // SHUT_WR
void put_fcntl_command(TraceLine& line, int command);          // F_SETFL
void put_epoll_op(TraceLine& line, int op);                    // EPOLL_CTL_ADD
void put_clock_id(TraceLine& line, clockid_t clock);           // CLOCK_MONOTONIC
void put_signal(TraceLine& line, int signal_number);           // SIGTERM, SIGRTMIN (32), SIGRT_2 (34); 99 as "99"
void put_sigset(TraceLine& line, const sigset_t* set);         // [INT TERM], ~[RTMIN RT_1] (more than half set)

// Structures:
// AF_INET, AF_INET6, AF_UNIX; any other family (or a length too short for its own) as sa_data.
void put_sockaddr(TraceLine& line, const sockaddr* address, socklen_t length);
// [{fd=3, events=POLLIN}, {fd=-1}] / with revents, only the entries that have some: [{fd=3, revents=POLLIN}]
// At most max_elements entries (strace's -s), then "...".
void put_pollfds(TraceLine& line, const pollfd* fds, nfds_t count, bool revents, std::size_t max_elements = 32);
void put_timespec(TraceLine& line, const timespec* time);  // {tv_sec=1, tv_nsec=500000000}
void put_timeval(TraceLine& line, const timeval* time);    // {tv_sec=1, tv_usec=500000}

// The result as strace ends a line: " = 78", " = -1 ECONNRESET (Connection reset by peer)",
// " = ? <unavailable>" is never needed. Pointer-returning calls are not traced.
void put_result(TraceLine& line, long long result, int error);
// "ECONNRESET" for 104; nullptr for a number with no name (then strace prints "-1 (errno 200)").
const char* errno_name(int error);
// glibc's strerror text in the C locale, as strace prints it: "Connection reset by peer"; nullptr
// for a number with no name.
const char* errno_text(int error);

}  // namespace cohook::trace
