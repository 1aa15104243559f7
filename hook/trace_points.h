// The trace point of each hooked call: tracer(body, args...) traces one call of body(args...)
// as strace shows the system call behind it (recv as recvfrom, pipe as pipe2, open as openat,
// sleep/usleep/nanosleep as clock_nanosleep, waitpid as wait4, sigaction as rt_sigaction).
// The hooks call them through COHOOK_TRACED_HOOK (hook/trace.h) when tracing is on.
#pragma once

#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>

namespace cohook::trace {

// hook/trace_points_io.cc
ssize_t trace_read(ssize_t (*body)(int, void*, size_t), int fd, void* buffer, size_t size);
ssize_t trace_write(ssize_t (*body)(int, const void*, size_t), int fd, const void* buffer, size_t size);
ssize_t trace_readv(ssize_t (*body)(int, const iovec*, int), int fd, const iovec* iov, int count);
ssize_t trace_writev(ssize_t (*body)(int, const iovec*, int), int fd, const iovec* iov, int count);
ssize_t trace_sendfile(ssize_t (*body)(int, int, off_t*, size_t), int out_fd, int in_fd, off_t* offset, size_t count);
ssize_t trace_recv(ssize_t (*body)(int, void*, size_t, int), int fd, void* buffer, size_t size, int flags);
ssize_t trace_recvfrom(ssize_t (*body)(int, void*, size_t, int, sockaddr*, socklen_t*), int fd, void* buffer,
                       size_t size, int flags, sockaddr* address, socklen_t* length);
ssize_t trace_recvmsg(ssize_t (*body)(int, msghdr*, int), int fd, msghdr* message, int flags);
int trace_recvmmsg(int (*body)(int, mmsghdr*, unsigned, int, timespec*), int fd, mmsghdr* vector, unsigned length,
                   int flags, timespec* timeout);
ssize_t trace_send(ssize_t (*body)(int, const void*, size_t, int), int fd, const void* buffer, size_t size, int flags);
ssize_t trace_sendto(ssize_t (*body)(int, const void*, size_t, int, const sockaddr*, socklen_t), int fd,
                     const void* buffer, size_t size, int flags, const sockaddr* address, socklen_t length);
ssize_t trace_sendmsg(ssize_t (*body)(int, const msghdr*, int), int fd, const msghdr* message, int flags);
int trace_sendmmsg(int (*body)(int, mmsghdr*, unsigned, int), int fd, mmsghdr* vector, unsigned length, int flags);

// hook/trace_points_fd.cc
int trace_socket(int (*body)(int, int, int), int domain, int type, int protocol);
int trace_socketpair(int (*body)(int, int, int, int*), int domain, int type, int protocol, int* fds);
int trace_pipe(int (*body)(int*), int* fds);
int trace_pipe2(int (*body)(int*, int), int* fds, int flags);
int trace_eventfd(int (*body)(unsigned, int), unsigned initial_value, int flags);
int trace_dup(int (*body)(int), int fd);
int trace_dup2(int (*body)(int, int), int fd, int new_fd);
int trace_dup3(int (*body)(int, int, int), int fd, int new_fd, int flags);
int trace_close(int (*body)(int), int fd);
int trace_shutdown(int (*body)(int, int), int fd, int how);
int trace_fcntl(int (*body)(int, int, void*), int fd, int command, void* argument);
int trace_openat(int (*body)(int, const char*, int, mode_t), int directory, const char* path, int flags, mode_t mode);
int trace_connect(int (*body)(int, const sockaddr*, socklen_t), int fd, const sockaddr* address, socklen_t length);
int trace_accept(int (*body)(int, sockaddr*, socklen_t*), int fd, sockaddr* address, socklen_t* length);
int trace_accept4(int (*body)(int, sockaddr*, socklen_t*, int), int fd, sockaddr* address, socklen_t* length,
                  int flags);

// hook/trace_points_wait.cc
int trace_poll(int (*body)(pollfd*, nfds_t, int), pollfd* fds, nfds_t count, int timeout_ms);
int trace_ppoll(int (*body)(pollfd*, nfds_t, const timespec*, const sigset_t*), pollfd* fds, nfds_t count,
                const timespec* timeout, const sigset_t* mask);
int trace_select(int (*body)(int, fd_set*, fd_set*, fd_set*, timeval*), int count, fd_set* readable,
                 fd_set* writable, fd_set* exceptional, timeval* timeout);
int trace_pselect(int (*body)(int, fd_set*, fd_set*, fd_set*, const timespec*, const sigset_t*), int count,
                  fd_set* readable, fd_set* writable, fd_set* exceptional, const timespec* timeout,
                  const sigset_t* mask);
int trace_epoll_wait(int (*body)(int, epoll_event*, int, int), int epoll_fd, epoll_event* events, int max_events,
                     int timeout_ms);
int trace_epoll_pwait(int (*body)(int, epoll_event*, int, int, const sigset_t*), int epoll_fd, epoll_event* events,
                      int max_events, int timeout_ms, const sigset_t* mask);
unsigned trace_sleep(unsigned (*body)(unsigned), unsigned seconds);
int trace_usleep(int (*body)(useconds_t), useconds_t microseconds);
int trace_nanosleep(int (*body)(const timespec*, timespec*), const timespec* duration, timespec* remaining);
int trace_clock_nanosleep(int (*body)(clockid_t, int, const timespec*, timespec*), clockid_t clock, int flags,
                          const timespec* request, timespec* remaining);
pid_t trace_waitpid(pid_t (*body)(pid_t, int*, int), pid_t pid, int* status, int options);
pid_t trace_wait4(pid_t (*body)(pid_t, int*, int, rusage*), pid_t pid, int* status, int options, rusage* usage);
int trace_waitid(int (*body)(idtype_t, id_t, siginfo_t*, int), idtype_t type, id_t id, siginfo_t* info, int options);
int trace_sigaction(int (*body)(int, const struct sigaction*, struct sigaction*), int signal_number,
                    const struct sigaction* action, struct sigaction* old_action);
int trace_getaddrinfo(int (*body)(const char*, const char*, const addrinfo*, addrinfo**), const char* node,
                      const char* service, const addrinfo* hints, addrinfo** result);
int trace_getnameinfo(int (*body)(const sockaddr*, socklen_t, char*, socklen_t, char*, socklen_t, int),
                      const sockaddr* address, socklen_t length, char* host, socklen_t host_size, char* service,
                      socklen_t service_size, int flags);

}  // namespace cohook::trace
