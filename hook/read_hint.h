// The read-readiness hint: lets a coroutine's read on a TCP socket skip the attempt that would
// only fail with EAGAIN before it parks.
//
// A request/response server reads a request, writes the answer and reads again; that read finds
// the socket empty, fails with EAGAIN, parks, and reads again once the next request arrives: three
// read system calls where an epoll loop makes one. When the previous read on the socket was
// short, the kernel had nothing more queued when it returned, and the poller (which harvests
// every event of the fd on this very thread) knows whether anything arrived since. If nothing
// did, the read parks at once, after the same checks of the user's O_NONBLOCK and SO_RCVTIMEO as
// after an EAGAIN; the attempt after the wake-up is the one that returns the data.
//
// Why a wrong "empty" can only cost latency and never a hang or a byte (the edge-triggered epoll
// side is argued in poller/poller.cc, above Poller::current_record):
//  - A short read on a TCP socket means its queue was empty when the kernel stopped copying
//    (tcp_recvmsg with MSG_DONTWAIT stops short only when the receive queue and the backlog are
//    empty, at the urgent mark, or on an error or end of file). The last three make the poller's
//    record unusual (EPOLLPRI, EPOLLERR, EPOLLHUP, EPOLLRDHUP), and then there is no hint. Other
//    sockets can stop short with data left (a UDP datagram, a Unix socket at a change of sender
//    credentials, a packet-mode pipe), so only TCP gets the hint (SO_PROTOCOL, asked once per fd).
//  - Data that arrives after that moment, through whatever descriptor or process sends it, queues
//    an event on this thread's epoll set, harvested only after the note: it clears the hint and
//    wakes the parked reader. Data taken meanwhile by another reader (a dup read by another
//    coroutine, a forked child) leaves the hint at "may be readable": one read that fails with
//    EAGAIN, as without the hint.
//  - The hint lives in the poller's record of the fd, which is only trusted while the fd is
//    registered there for the same file: close, dup2 and every hooked call that hands out the
//    number bump its epoch first, so a reader parked on a number that was closed and reused is
//    woken with EBADF as before, and the new file starts with no hint.
//  - The user's O_NONBLOCK is asked before the hint is used: a non-blocking file always gets its
//    read, since its data may already be queued behind an event not yet harvested.
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace cohook::hook {

// Whether a read of fd from the running coroutine can skip its first attempt and park at once.
bool read_known_empty(int fd);
// After a read attempt on socket fd from the running coroutine returned `result` out of
// `requested` bytes: remembers a short read of a TCP socket as "queue empty".
void note_socket_read(int fd, ssize_t result, std::size_t requested);

}  // namespace cohook::hook
