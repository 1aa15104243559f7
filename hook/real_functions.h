// RealFunctions: the libc functions cohook interposes, found with dlsym(RTLD_NEXT) on first use.
//
// Resolution must work whenever the first hooked call happens: from a constructor that runs
// before main (so the table is constant-initialised, never dynamically), on several threads at
// once (each may resolve; they all store the same pointer), and from inside dlsym itself
// (dlsym can reach a hooked call on its error path). In that last case the thread is already
// resolving, so the lookup answers with a fallback: the equivalent raw system call where one
// exists, else a stub that fails with ENOSYS.
#pragma once

#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <stdio.h>
#include <time.h>

#include <atomic>
#include <utility>

namespace cohook::hook {

// dlsym(RTLD_NEXT, name), or nullptr when this thread is already inside a lookup or the symbol
// does not exist.
void* find_next_symbol(const char* name);

template <class Pointer>
class RealFunction {
 public:
  constexpr RealFunction(const char* name, Pointer fallback) : name_(name), fallback_(fallback) {}
  RealFunction(const RealFunction&) = delete;
  RealFunction& operator=(const RealFunction&) = delete;

  Pointer get() {
    Pointer resolved = pointer_.load(std::memory_order_acquire);
    if (resolved != nullptr) [[likely]] return resolved;
    return resolve();
  }

  template <class... Args>
  auto operator()(Args&&... args) {
    return get()(std::forward<Args>(args)...);
  }

 private:
  Pointer resolve() {
    void* found = find_next_symbol(name_);
    if (found == nullptr) return fallback_;  // not cached: a later call may still find it
    auto resolved = reinterpret_cast<Pointer>(found);
    pointer_.store(resolved, std::memory_order_release);
    return resolved;
  }

  const char* const name_;
  const Pointer fallback_;
  std::atomic<Pointer> pointer_{nullptr};
};

// Used when dlsym cannot answer (see above). Each has the libc function's contract.
namespace fallback {
int socket(int domain, int type, int protocol);
int socketpair(int domain, int type, int protocol, int fds[2]);
int connect(int fd, const sockaddr* address, socklen_t length);
int accept(int fd, sockaddr* address, socklen_t* length);
int accept4(int fd, sockaddr* address, socklen_t* length, int flags);
ssize_t read(int fd, void* buffer, size_t size);
ssize_t readv(int fd, const iovec* iov, int count);
ssize_t write(int fd, const void* buffer, size_t size);
ssize_t writev(int fd, const iovec* iov, int count);
ssize_t recv(int fd, void* buffer, size_t size, int flags);
ssize_t recvfrom(int fd, void* buffer, size_t size, int flags, sockaddr* address, socklen_t* length);
ssize_t recvmsg(int fd, msghdr* message, int flags);
ssize_t send(int fd, const void* buffer, size_t size, int flags);
ssize_t sendto(int fd, const void* buffer, size_t size, int flags, const sockaddr* address, socklen_t length);
ssize_t sendmsg(int fd, const msghdr* message, int flags);
int poll(pollfd* fds, nfds_t count, int timeout_ms);
int ppoll(pollfd* fds, nfds_t count, const timespec* timeout, const sigset_t* mask);
int select(int count, fd_set* readable, fd_set* writable, fd_set* exceptional, timeval* timeout);
int pselect(int count, fd_set* readable, fd_set* writable, fd_set* exceptional, const timespec* timeout,
            const sigset_t* mask);
int epoll_wait(int epoll_fd, epoll_event* events, int max_events, int timeout_ms);
int epoll_pwait(int epoll_fd, epoll_event* events, int max_events, int timeout_ms, const sigset_t* mask);
unsigned sleep(unsigned seconds);
int usleep(useconds_t microseconds);
int nanosleep(const timespec* duration, timespec* remaining);
int clock_nanosleep(clockid_t clock, int flags, const timespec* request, timespec* remaining);
int close(int fd);
int shutdown(int fd, int how);
int fcntl(int fd, int command, ...);
int ioctl(int fd, unsigned long request, ...);
int setsockopt(int fd, int level, int name, const void* value, socklen_t length);
int getsockopt(int fd, int level, int name, void* value, socklen_t* length);
int dup(int fd);
int dup2(int fd, int new_fd);
int dup3(int fd, int new_fd, int flags);
int pipe(int fds[2]);
int pipe2(int fds[2], int flags);
int eventfd(unsigned initial_value, int flags);
ssize_t sendfile(int out_fd, int in_fd, off_t* offset, size_t count);
ssize_t preadv2(int fd, const iovec* iov, int count, off_t offset, int flags);
ssize_t pwritev2(int fd, const iovec* iov, int count, off_t offset, int flags);
int recvmmsg(int fd, mmsghdr* vector, unsigned int length, int flags, timespec* timeout);
int sendmmsg(int fd, mmsghdr* vector, unsigned int length, int flags);
int openat(int directory, const char* path, int flags, ...);
int fclose(FILE* stream);
int getaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** result);
hostent* gethostbyname(const char* name);
int gethostbyname_r(const char* name, hostent* entry, char* buffer, size_t size, hostent** result, int* error);
}  // namespace fallback

struct RealFunctions {
  RealFunction<decltype(&fallback::socket)> socket{"socket", fallback::socket};
  RealFunction<decltype(&fallback::socketpair)> socketpair{"socketpair", fallback::socketpair};
  RealFunction<decltype(&fallback::connect)> connect{"connect", fallback::connect};
  RealFunction<decltype(&fallback::accept)> accept{"accept", fallback::accept};
  RealFunction<decltype(&fallback::accept4)> accept4{"accept4", fallback::accept4};
  RealFunction<decltype(&fallback::read)> read{"read", fallback::read};
  RealFunction<decltype(&fallback::readv)> readv{"readv", fallback::readv};
  RealFunction<decltype(&fallback::write)> write{"write", fallback::write};
  RealFunction<decltype(&fallback::writev)> writev{"writev", fallback::writev};
  RealFunction<decltype(&fallback::recv)> recv{"recv", fallback::recv};
  RealFunction<decltype(&fallback::recvfrom)> recvfrom{"recvfrom", fallback::recvfrom};
  RealFunction<decltype(&fallback::recvmsg)> recvmsg{"recvmsg", fallback::recvmsg};
  RealFunction<decltype(&fallback::send)> send{"send", fallback::send};
  RealFunction<decltype(&fallback::sendto)> sendto{"sendto", fallback::sendto};
  RealFunction<decltype(&fallback::sendmsg)> sendmsg{"sendmsg", fallback::sendmsg};
  RealFunction<decltype(&fallback::poll)> poll{"poll", fallback::poll};
  RealFunction<decltype(&fallback::ppoll)> ppoll{"ppoll", fallback::ppoll};
  RealFunction<decltype(&fallback::select)> select{"select", fallback::select};
  RealFunction<decltype(&fallback::pselect)> pselect{"pselect", fallback::pselect};
  RealFunction<decltype(&fallback::epoll_wait)> epoll_wait{"epoll_wait", fallback::epoll_wait};
  RealFunction<decltype(&fallback::epoll_pwait)> epoll_pwait{"epoll_pwait", fallback::epoll_pwait};
  RealFunction<decltype(&fallback::sleep)> sleep{"sleep", fallback::sleep};
  RealFunction<decltype(&fallback::usleep)> usleep{"usleep", fallback::usleep};
  RealFunction<decltype(&fallback::nanosleep)> nanosleep{"nanosleep", fallback::nanosleep};
  RealFunction<decltype(&fallback::clock_nanosleep)> clock_nanosleep{"clock_nanosleep", fallback::clock_nanosleep};
  RealFunction<decltype(&fallback::close)> close{"close", fallback::close};
  RealFunction<decltype(&fallback::shutdown)> shutdown{"shutdown", fallback::shutdown};
  RealFunction<decltype(&fallback::fcntl)> fcntl{"fcntl", fallback::fcntl};
  RealFunction<decltype(&fallback::ioctl)> ioctl{"ioctl", fallback::ioctl};
  RealFunction<decltype(&fallback::setsockopt)> setsockopt{"setsockopt", fallback::setsockopt};
  RealFunction<decltype(&fallback::getsockopt)> getsockopt{"getsockopt", fallback::getsockopt};
  RealFunction<decltype(&fallback::dup)> dup{"dup", fallback::dup};
  RealFunction<decltype(&fallback::dup2)> dup2{"dup2", fallback::dup2};
  RealFunction<decltype(&fallback::dup3)> dup3{"dup3", fallback::dup3};
  RealFunction<decltype(&fallback::pipe)> pipe{"pipe", fallback::pipe};
  RealFunction<decltype(&fallback::pipe2)> pipe2{"pipe2", fallback::pipe2};
  RealFunction<decltype(&fallback::eventfd)> eventfd{"eventfd", fallback::eventfd};
  RealFunction<decltype(&fallback::sendfile)> sendfile{"sendfile", fallback::sendfile};
  RealFunction<decltype(&fallback::preadv2)> preadv2{"preadv2", fallback::preadv2};
  RealFunction<decltype(&fallback::pwritev2)> pwritev2{"pwritev2", fallback::pwritev2};
  RealFunction<decltype(&fallback::recvmmsg)> recvmmsg{"recvmmsg", fallback::recvmmsg};
  RealFunction<decltype(&fallback::sendmmsg)> sendmmsg{"sendmmsg", fallback::sendmmsg};
  RealFunction<decltype(&fallback::openat)> openat{"openat", fallback::openat};
  RealFunction<decltype(&fallback::fclose)> fclose{"fclose", fallback::fclose};
  RealFunction<decltype(&fallback::getaddrinfo)> getaddrinfo{"getaddrinfo", fallback::getaddrinfo};
  RealFunction<decltype(&fallback::gethostbyname)> gethostbyname{"gethostbyname", fallback::gethostbyname};
  RealFunction<decltype(&fallback::gethostbyname_r)> gethostbyname_r{"gethostbyname_r", fallback::gethostbyname_r};
};

// Constant-initialised (constinit), so usable from any constructor, in any order.
extern constinit RealFunctions real_functions;

}  // namespace cohook::hook
