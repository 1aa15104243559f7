// Started (fork + exec) by hook_nonblock_test with an inherited fd: prints whether that fd is
// non-blocking, then reads it once with a plain blocking read and prints what came.
// Usage: fd_probe FD
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fd_probe FD\n");
    return 2;
  }
  int fd = std::atoi(argv[1]);
  int flags = ::fcntl(fd, F_GETFL);
  std::printf("child nonblock=%d", flags >= 0 && (flags & O_NONBLOCK) != 0);
  char buffer[64];
  ssize_t n = ::read(fd, buffer, sizeof buffer);
  if (n >= 0) std::printf(" read=%zd '%.*s'\n", n, static_cast<int>(n), buffer);
  else std::printf(" read=-1 %s\n", ::strerrorname_np(errno));
  return 0;
}
