// fork() from a busy program: the child keeps the forking thread's coroutines, with an epoll set
// of its own, so a coroutine parked before the fork wakes in the child from the child's events,
// and closing the parent's copy of an fd wakes only the parent's waiter.
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <vector>

#include <gtest/gtest.h>

#include "coctx/sanitizers.h"
#include "cohook/cohook.hpp"

namespace {

using namespace std::chrono_literals;

// Bounces a counter over a fresh socketpair with hooked blocking reads and writes.
bool ping_pong(int rounds) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return false;
  cohook::JoinHandle echo = cohook::go([&] {
    for (int i = 0; i < rounds; ++i) {
      int v = 0;
      if (read(fds[1], &v, sizeof v) != sizeof v) break;
      ++v;
      if (write(fds[1], &v, sizeof v) != sizeof v) break;
    }
  });
  bool ok = true;
  for (int i = 0; i < rounds && ok; ++i) {
    int v = i * 2;
    ok = write(fds[0], &v, sizeof v) == sizeof v && read(fds[0], &v, sizeof v) == sizeof v && v == i * 2 + 1;
  }
  echo.join();
  close(fds[0]);
  close(fds[1]);
  return ok;
}

TEST(ForkTest, ChildOfABusyProgramRunsCoroutinesOnItsOwnEpollSet) {
#if COHOOK_TSAN
  // After fork, ThreadSanitizer's child no longer sees the happens-before of fiber switches
  // (__tsan_switch_to_fiber) and reports the fibers' errno writes as races.
  GTEST_SKIP() << "ThreadSanitizer loses fiber-switch synchronisation across fork";
#endif
  int parent_got = 0;
  long parent_ticks = 0;
  int child_status = -1;
  cohook::Runtime runtime(1);
  runtime.run([&] {
    std::atomic<bool> stop{false};
    std::atomic<long> ticks{0};
    std::vector<cohook::JoinHandle> busy;
    for (int i = 0; i < 20; ++i) {
      busy.push_back(cohook::go([&] {
        while (!stop) {
          cohook::this_coroutine::sleep_for(1ms);
          ++ticks;
        }
      }));
    }
    int data[2], go_ahead[2];
    ASSERT_EQ(pipe(data), 0);
    ASSERT_EQ(pipe(go_ahead), 0);
    int got = 0;
    cohook::JoinHandle reader = cohook::go([&] {  // parked on `data` across the fork
      int v = 0;
      ssize_t n = read(data[0], &v, sizeof v);
      got = n == sizeof v ? v : (n < 0 ? -errno : -1000);
    });
    cohook::this_coroutine::sleep_for(5ms);

    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      stop = true;  // the child's copies of the busy coroutines wind down
      bool pong = ping_pong(300);
      char byte = 0;
      bool told = read(go_ahead[0], &byte, 1) == 1;  // parks until the parent has closed its end
      int v = 4242;
      bool wrote = write(data[1], &v, sizeof v) == sizeof v;
      reader.join();
      for (auto& b : busy) b.join();
      _exit(pong && told && wrote && got == 4242 ? 0 : 1);
    }
    // Parent: close our copy of the read end. Our reader wakes with EBADF; the child's reader,
    // parked on the same pipe in the child's own epoll set, is unaffected.
    close(data[0]);
    reader.join();
    parent_got = got;
    ASSERT_EQ(write(go_ahead[1], "x", 1), 1);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);  // blocks this thread briefly; the child needs nothing from us
    child_status = status;
    stop = true;
    for (auto& b : busy) b.join();
    parent_ticks = ticks;
  });
  EXPECT_EQ(parent_got, -EBADF);
  EXPECT_GT(parent_ticks, 0);
  ASSERT_TRUE(WIFEXITED(child_status)) << "child died, status " << child_status;
  EXPECT_EQ(WEXITSTATUS(child_status), 0);
}

}  // namespace
