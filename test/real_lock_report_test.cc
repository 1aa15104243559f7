// A real pthread lock (std::mutex) held across a parking call is named on stderr, once per
// coroutine; parks without a lock held, or with a lock taken and released around them, are
// silent. In this binary (linked with libcohook.a) hook/real_lock_count.cc counts the locks; the
// second half runs a libco program with libcohook.so preloaded, where green/ counts them.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "coctx/sanitizers.h"
#include "cohook/cohook.hpp"
#include "diag_test_util.h"
#include "sched/real_locks.h"
#include "sched/scheduler.h"

namespace cohook {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// Sends this process's stderr to a temporary file while it lives; text() reads what came.
class StderrCapture {
 public:
  StderrCapture() {
    std::fflush(stderr);
    char path[] = "/tmp/cohook_real_lock_XXXXXX";
    fd_ = mkstemp(path);
    unlink(path);
    saved_ = dup(STDERR_FILENO);
    dup2(fd_, STDERR_FILENO);
  }
  ~StderrCapture() {
    restore();
    close(fd_);
  }
  std::string text() {
    restore();
    std::string out;
    char buf[4096];
    ssize_t n;
    off_t offset = 0;
    while ((n = pread(fd_, buf, sizeof buf, offset)) > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      offset += n;
    }
    return out;
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    saved_ = -1;
  }
  int fd_ = -1;
  int saved_ = -1;
};

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t count = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++count;
  return count;
}

class LinkedRealLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
#if COHOOK_ASAN || COHOOK_TSAN
    GTEST_SKIP() << "sanitizer builds leave pthread_mutex_lock to the sanitizer: no lock is counted";
#endif
  }
};

TEST_F(LinkedRealLockTest, AStdMutexHeldAcrossParksIsReportedOncePerCoroutine) {
  StderrCapture err;
  Scheduler& s = Scheduler::this_thread();
  std::mutex real;
  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
  s.spawn(
       [&] {
         std::lock_guard<std::mutex> guard(real);
         this_coroutine::sleep_for(1ms);
         this_coroutine::sleep_for(1ms);  // the second park is not reported again
       },
       {0, "sleeper"})
      ->release();
  s.spawn(
       [&] {
         std::unique_lock<std::mutex> guard(real, std::defer_lock);
         this_coroutine::sleep_for(5ms);  // until the sleeper has let go
         guard.lock();
         char byte = 0;
         EXPECT_EQ(read(pipe_fds[0], &byte, 1), 1);  // parks: the writer below has not run yet
       },
       {0, "reader"})
      ->release();
  s.spawn(
       [&] {
         this_coroutine::sleep_for(30ms);
         EXPECT_EQ(write(pipe_fds[1], "x", 1), 1);
       },
       {0, "writer"})
      ->release();
  s.run_until_idle();
  close(pipe_fds[0]);
  close(pipe_fds[1]);
  std::string text = err.text();
  EXPECT_EQ(count_of(text, "'sleeper' parks in sleep while holding 1 real pthread lock"), 1u) << text;
  EXPECT_EQ(count_of(text, "'reader' parks in read while holding 1 real pthread lock"), 1u) << text;
  EXPECT_EQ(count_of(text, "cohook: coroutine #"), 2u) << text;
  EXPECT_NE(text.find("use cohook::Mutex"), std::string::npos) << text;
}

TEST_F(LinkedRealLockTest, LocksTakenAndReleasedAroundParksAreSilent) {
  StderrCapture err;
  Scheduler& s = Scheduler::this_thread();
  std::mutex real;
  std::shared_mutex shared;
  s.spawn(
       [&] {
         { std::lock_guard<std::mutex> guard(real); }
         this_coroutine::sleep_for(1ms);
         { std::shared_lock<std::shared_mutex> guard(shared); }
         this_coroutine::sleep_for(1ms);
         if (real.try_lock()) real.unlock();
         this_coroutine::yield();
       },
       {0, "tidy"})
      ->release();
  s.spawn([] { this_coroutine::sleep_for(1ms); }, {0, "lockless"})->release();
  s.run_until_idle();
  std::string text = err.text();
  EXPECT_EQ(text.find("real pthread lock"), std::string::npos) << text;
}

TEST_F(LinkedRealLockTest, AReaderLockCountsAsHeld) {
  StderrCapture err;
  Scheduler& s = Scheduler::this_thread();
  std::shared_mutex shared;
  s.spawn(
       [&] {
         std::shared_lock<std::shared_mutex> guard(shared);
         this_coroutine::sleep_for(1ms);
       },
       {0, "share-holder"})
      ->release();
  s.run_until_idle();
  std::string text = err.text();
  EXPECT_EQ(count_of(text, "'share-holder' parks in sleep while holding 1 real pthread lock"), 1u) << text;
}

// libcohook.so: a libco program holding a std::mutex across hooked calls.
std::string find_shared_library() {
  fs::path out = fs::read_symlink("/proc/self/exe").parent_path().parent_path();
  for (const fs::path& candidate :
       {out / "lib" / "libcohook.so", out.parent_path().parent_path() / "lib" / "libcohook.so"}) {
    if (fs::exists(candidate)) return fs::canonical(candidate).string();
  }
  return "";
}

// The program's stdout and stderr together, and its exit status.
std::string run_program(const std::string& mode) {
  fs::path program = fs::read_symlink("/proc/self/exe").parent_path() / "programs" / "libco_lock_across_park";
  test::ProgramResult result = test::run_command("env LD_PRELOAD=" + find_shared_library() + " timeout 20 " +
                                                 program.string() + " " + mode);
  return result.output + "\n[status " + std::to_string(result.status) + "]";
}

class PreloadedRealLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
#if COHOOK_ASAN || COHOOK_TSAN
    GTEST_SKIP() << "a sanitizer build of libcohook.so cannot be preloaded into uninstrumented programs";
#endif
    ASSERT_FALSE(find_shared_library().empty()) << "build the shared library first";
  }
};

TEST_F(PreloadedRealLockTest, HeldAcrossSleepsAndAReadIsReportedOnce) {
  std::string out = run_program("held");
  EXPECT_NE(out.find("done\n"), std::string::npos) << out;
  EXPECT_NE(out.find("[status 0]"), std::string::npos) << out;
  EXPECT_EQ(count_of(out, "cohook: coroutine #"), 1u) << out;
  EXPECT_EQ(count_of(out, "parks in poll while holding 1 real pthread lock"), 1u) << out;
}

TEST_F(PreloadedRealLockTest, HeldAcrossAReadIsReported) {
  std::string out = run_program("read");
  EXPECT_NE(out.find("[status 0]"), std::string::npos) << out;
  EXPECT_EQ(count_of(out, "parks in read while holding 1 real pthread lock"), 1u) << out;
}

TEST_F(PreloadedRealLockTest, LockedAroundOrNotAtAllIsSilent) {
  for (const char* mode : {"around", "none"}) {
    std::string out = run_program(mode);
    EXPECT_NE(out.find("done\n"), std::string::npos) << mode << ": " << out;
    EXPECT_NE(out.find("[status 0]"), std::string::npos) << mode << ": " << out;
    EXPECT_EQ(out.find("cohook:"), std::string::npos) << mode << ": " << out;
  }
}

}  // namespace
}  // namespace cohook
