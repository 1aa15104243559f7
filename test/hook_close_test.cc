// close() of an fd that a coroutine is blocked on, and reuse of its number.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "hook_test_util.h"
#include "sched/coroutine.h"

namespace {

TEST(HookClose, WaiterOnSameThreadGetsEbadf) {
  int read_result = 0;
  int read_errno = 0;
  cohook::Runtime runtime(1);
  runtime.run([&] {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    cohook::JoinHandle reader = cohook::go([&] {
      char buffer[8];
      read_result = static_cast<int>(::read(sv[0], buffer, sizeof buffer));
      read_errno = errno;
    });
    cohook::this_coroutine::yield();  // the reader runs and parks in read
    ::close(sv[0]);
    reader.join();
    ::close(sv[1]);
  });
  EXPECT_EQ(read_result, -1);
  EXPECT_EQ(read_errno, EBADF);
}

TEST(HookClose, CloseFromAnotherThreadWakesWaiter) {
  int read_result = 0;
  int read_errno = 0;
  cohook::Runtime runtime(1);
  runtime.run([&] {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    std::atomic<cohook::Coroutine*> reader_coroutine{nullptr};
    cohook::JoinHandle reader = cohook::go([&] {
      reader_coroutine = cohook::Coroutine::current();
      char buffer[8];
      read_result = static_cast<int>(::read(sv[0], buffer, sizeof buffer));
      read_errno = errno;
    });
    std::thread closer([&] {
      // Until the reader is parked in read(); then close from a plain thread.
      while (reader_coroutine.load() == nullptr || reader_coroutine.load()->state() != cohook::CoroutineState::kParked)
        std::this_thread::yield();
      ::close(sv[0]);
    });
    reader.join();
    closer.join();
    ::close(sv[1]);
  });
  EXPECT_EQ(read_result, -1);
  EXPECT_EQ(read_errno, EBADF);
}

TEST(HookClose, ReusedNumberIsNotWokenByTheOldFile) {
  std::string second_read;
  int first_errno = 0;
  cohook::Runtime runtime(1);
  runtime.run([&] {
    int old_pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, old_pair), 0);
    int number = old_pair[0];
    // Keep the old file open under another number, so its epoll registration outlives close().
    int old_alive = ::dup(number);
    cohook::JoinHandle first = cohook::go([&] {
      char buffer[8];
      EXPECT_EQ(::read(number, buffer, sizeof buffer), -1);
      first_errno = errno;
    });
    cohook::this_coroutine::yield();
    ::close(number);
    first.join();

    int new_pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, new_pair), 0);
    ASSERT_EQ(new_pair[0], number) << "the lowest free number is reused";
    cohook::JoinHandle second = cohook::go([&] {
      char buffer[16];
      ssize_t n = ::read(new_pair[0], buffer, sizeof buffer);
      second_read = n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : "error " + std::to_string(errno);
    });
    cohook::this_coroutine::yield();
    // The old file becomes readable: its stale registration must not wake (or fail) the reader
    // of the new file. Give the scheduler several rounds to deliver anything stale.
    ASSERT_EQ(::write(old_pair[1], "stale", 5), 5);
    for (int i = 0; i < 3; ++i) ::usleep(1000);
    EXPECT_TRUE(second_read.empty()) << second_read;
    ASSERT_EQ(::write(new_pair[1], "fresh", 5), 5);
    second.join();
    for (int fd : {old_alive, old_pair[1], new_pair[0], new_pair[1]}) ::close(fd);
  });
  EXPECT_EQ(first_errno, EBADF);
  EXPECT_EQ(second_read, "fresh");
}

TEST(HookClose, Dup2OverAWaitedFdWakesTheWaiter) {
  int read_errno = 0;
  cohook::Runtime runtime(1);
  runtime.run([&] {
    int sv[2];
    int other[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, other), 0);
    cohook::JoinHandle reader = cohook::go([&] {
      char buffer[8];
      EXPECT_EQ(::read(sv[0], buffer, sizeof buffer), -1);
      read_errno = errno;
    });
    cohook::this_coroutine::yield();
    ASSERT_EQ(::dup2(other[0], sv[0]), sv[0]);  // sv[0] now names another file
    reader.join();
    for (int fd : {sv[0], sv[1], other[0], other[1]}) ::close(fd);
  });
  EXPECT_EQ(read_errno, EBADF);
}

TEST(HookFdTable, NoCeilingOnFdNumbers) {
  rlimit limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
  rlimit raised = limit;
  raised.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &raised);
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &raised), 0);
  // Above libco's 102400 ceiling where the hard limit allows it.
  int high = static_cast<int>(std::min<rlim_t>(raised.rlim_cur - 1, 150000));
  std::string received;
  cohook::Runtime runtime(1);
  runtime.run([&] {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ASSERT_EQ(::dup2(sv[0], high), high);
    cohook::JoinHandle reader = cohook::go([&] {
      char buffer[8];
      ssize_t n = ::read(high, buffer, sizeof buffer);  // parks: nothing written yet
      if (n > 0) received.assign(buffer, static_cast<std::size_t>(n));
    });
    cohook::this_coroutine::yield();
    ASSERT_EQ(::write(sv[1], "high", 4), 4);
    reader.join();
    for (int fd : {high, sv[0], sv[1]}) ::close(fd);
  });
  ::setrlimit(RLIMIT_NOFILE, &limit);
  EXPECT_EQ(received, "high") << "fd " << high;
}

TEST(HookFdTable, PlainThreadStillBlocksOnAnFdACoroutineUsed) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  // A coroutine uses the fd first (its attempts are non-blocking, the file never is)...
  cohook::Runtime runtime(1);
  runtime.run([&] {
    ::write(sv[1], "a", 1);
    char c;
    EXPECT_EQ(::read(sv[0], &c, 1), 1);
  });
  // ...then a plain thread's blocking read must still wait for data, not fail with EAGAIN.
  std::thread writer([&] {
    ::usleep(20000);
    ::write(sv[1], "late", 4);
  });
  char buffer[8];
  ssize_t n = ::read(sv[0], buffer, sizeof buffer);
  writer.join();
  EXPECT_EQ(std::string(buffer, n > 0 ? static_cast<std::size_t>(n) : 0), "late");
  EXPECT_EQ(::fcntl(sv[0], F_GETFL) & O_NONBLOCK, 0);
  ::close(sv[0]);
  ::close(sv[1]);
}

}  // namespace
