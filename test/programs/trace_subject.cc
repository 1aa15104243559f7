// The program costrace_test traces (built without cohook; run under bin/costrace). Each mode makes
// a known set of calls, so the test can compare costrace's lines and counts with what was done.
//   basic EXIT       pipe, write, read, a read on a bad fd, socketpair, usleep, nanosleep; exits EXIT
//   pairs N          N write+read pairs of 16 bytes on a pipe (the benchmark's loop too)
//   writers          4 threads writing 300 lines each to /dev/null at once
//   interleave       two threads: one reads a pipe (parks), the other sleeps 50 ms then writes it
//   sequential       two threads one after the other, each reading a pipe that is already full
//   closeall         closes every fd from 3 to 1100 (as daemons do), then writes "after" to /dev/null
//   fork             forks; the child writes "child" to /dev/null and exits 0; the parent waits
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

int basic(int exit_status) {
  int fds[2];
  if (::pipe(fds) != 0) return 10;
  if (::write(fds[1], "hello\n", 6) != 6) return 11;
  char buffer[64];
  if (::read(fds[0], buffer, sizeof buffer) != 6) return 12;
  if (::read(-1, buffer, 1) != -1) return 13;
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) return 14;
  ::usleep(20000);
  timespec duration{0, 10'000'000};
  ::nanosleep(&duration, nullptr);
  return exit_status;
}

int pairs(long count) {
  int fds[2];
  if (::pipe(fds) != 0) return 10;
  char buffer[16] = "0123456789abcde";
  for (long i = 0; i < count; ++i) {
    if (::write(fds[1], buffer, sizeof buffer) != sizeof buffer) return 11;
    if (::read(fds[0], buffer, sizeof buffer) != sizeof buffer) return 12;
  }
  return 0;
}

int writers() {
  int fd = ::open("/dev/null", O_WRONLY);
  if (fd < 0) return 10;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([fd, t] {
      std::string line = "writer " + std::to_string(t) + " " + std::string(40, static_cast<char>('a' + t)) + "\n";
      for (int i = 0; i < 300; ++i) (void)::write(fd, line.data(), line.size());
    });
  }
  for (auto& thread : threads) thread.join();
  return 0;
}

int interleave() {
  int fds[2];
  if (::pipe(fds) != 0) return 10;
  std::thread reader([&] {
    char buffer[16];
    (void)::read(fds[0], buffer, sizeof buffer);
  });
  std::thread writer([&] {
    ::usleep(50000);
    (void)::write(fds[1], "wake", 4);
  });
  reader.join();
  writer.join();
  return 0;
}

int sequential() {
  int fds[2];
  if (::pipe(fds) != 0) return 10;
  (void)::write(fds[1], "abcdabcd", 8);
  for (int i = 0; i < 2; ++i) {
    std::thread reader([&] {
      char buffer[4];
      (void)::read(fds[0], buffer, sizeof buffer);
    });
    reader.join();
  }
  return 0;
}

int close_all() {
  for (int fd = 3; fd <= 1100; ++fd) (void)::close(fd);
  int fd = ::open("/dev/null", O_WRONLY);
  return ::write(fd, "after", 5) == 5 ? 0 : 10;
}

int forking() {
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open("/dev/null", O_WRONLY);
    (void)::write(fd, "child", 5);
    std::exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 20;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "basic") return basic(argc > 2 ? std::atoi(argv[2]) : 0);
  if (mode == "pairs") return pairs(argc > 2 ? std::atol(argv[2]) : 1000);
  if (mode == "writers") return writers();
  if (mode == "interleave") return interleave();
  if (mode == "sequential") return sequential();
  if (mode == "fork") return forking();
  if (mode == "closeall") return close_all();
  std::fprintf(stderr, "usage: trace_subject basic|pairs N|writers|interleave|sequential|fork\n");
  return 2;
}
