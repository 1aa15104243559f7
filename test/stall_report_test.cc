// A deadlock is reported, not silent: coroutines that wait on each other are listed on stderr
// with what they wait on.
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "cohook/cohook.hpp"
#include "sched/scheduler.h"

namespace cohook {
namespace {

using namespace std::chrono_literals;

// Sends this process's stderr into a pipe for the duration of a test.
class StderrPipe {
 public:
  StderrPipe() {
    EXPECT_EQ(pipe(fds_), 0);
    saved_ = dup(STDERR_FILENO);
    dup2(fds_[1], STDERR_FILENO);
  }
  ~StderrPipe() {
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    close(fds_[0]);
    close(fds_[1]);
  }
  // Reads (on a plain thread) until `needle` has appeared or `limit` passed.
  bool read_until(const std::string& needle, std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    char buf[4096];
    while (text.find(needle) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd entry{fds_[0], POLLIN, 0};
      if (poll(&entry, 1, 100) <= 0) continue;
      ssize_t n = read(fds_[0], buf, sizeof buf);
      if (n > 0) text.append(buf, static_cast<std::size_t>(n));
    }
    return text.find(needle) != std::string::npos;
  }
  std::string text;

 private:
  int fds_[2];
  int saved_;
};

TEST(StallReportTest, DeadlockedCoroutinesAreListedWithWhatTheyWaitOn) {
  Scheduler::set_stall_report_period(200ms);
  Mutex a, b;
  bool reported = false;
  {
    StderrPipe err;
    std::thread watcher;
    Runtime runtime(2);
    runtime.run([&] {
      WaitGroup both_hold;
      both_hold.add(2);
      JoinHandle first = go([&] {
        a.lock();
        both_hold.done();
        both_hold.wait();
        b.lock();  // held by `second`, which waits for `a`: a cycle
        b.unlock();
        a.unlock();
      }, {0, "first"});
      JoinHandle second = go([&] {
        b.lock();
        both_hold.done();
        both_hold.wait();
        a.lock();
        a.unlock();
        b.unlock();
      }, {0, "second"});
      // A plain thread waits for the report, then breaks the cycle: a cohook::Mutex has no owner,
      // so unlocking `a` hands it to `second`.
      watcher = std::thread([&] {
        reported = err.read_until("'second' parked on mutex", 10s) && err.read_until("'first' parked on mutex", 1s);
        a.unlock();
      });
      first.join();
      second.join();
    });
    watcher.join();
    EXPECT_TRUE(reported) << err.text;
    EXPECT_NE(err.text.find("possible deadlock"), std::string::npos) << err.text;
  }
  Scheduler::set_stall_report_period(10s);
}

TEST(StallReportTest, QuietWhileCoroutinesWaitOnTimersOrFds) {
  Scheduler::set_stall_report_period(100ms);
  StderrPipe err;
  Runtime runtime(1);
  runtime.run([&] {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    JoinHandle reader = go([&] {
      char c;
      EXPECT_EQ(read(fds[0], &c, 1), 1);  // parked on an fd: not a stall
    });
    this_coroutine::sleep_for(400ms);     // parked on a timer: not a stall either
    EXPECT_EQ(write(fds[1], "x", 1), 1);
    reader.join();
    close(fds[0]);
    close(fds[1]);
  });
  EXPECT_FALSE(err.read_until("possible deadlock", std::chrono::seconds(0))) << err.text;
  Scheduler::set_stall_report_period(10s);
}

}  // namespace
}  // namespace cohook
