// fork() under corun: the child keeps only the green thread that forked (as POSIX keeps only the
// calling thread), on a fresh runtime. Each scenario of test/programs/green_fork_busy.c runs
// natively and under corun; stdout and the exit status must match. Lines on stderr carry the
// OS thread counts, which show that the child, and a program it execs, run as green threads.
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "test/green_test_util.h"

namespace {

using green_test::corun;
using green_test::program;
using green_test::Result;
using green_test::run;

class GreenForkTest : public green_test::CorunTestBase {
 protected:
  // Runs the scenario natively, then under corun --threads 1 and 2; returns the stderr of the
  // --threads 2 run.
  std::string expect_same_as_native(const std::string& scenario) {
    std::string command = program("green_fork_busy") + " " + scenario;
    Result native = run("timeout 60 " + command);
    EXPECT_EQ(native.status, 0) << native.out << native.err;
    EXPECT_EQ(native.out.find("BUG"), std::string::npos) << native.out;
    std::string err;
    for (int threads : {1, 2}) {
      Result green = run("timeout 60 " + corun() + " --threads " + std::to_string(threads) + " " + command);
      EXPECT_EQ(green.out, native.out) << scenario << " under corun --threads " << threads << "\n" << green.err;
      EXPECT_EQ(green.status, native.status) << scenario << " --threads " << threads << "\n" << green.err;
      err = green.err;
    }
    return err;
  }
};

TEST_F(GreenForkTest, ChildOfA50ThreadProgramKeepsOnlyTheForkingThread) {
  std::string err = expect_same_as_native("busy");
  // The child restarted its second scheduler thread for its own threads: at most that, its
  // first, and cohook's diagnostics thread. Natively it would be 1 after its joins.
  EXPECT_TRUE(err.find("info: child OS threads 2\n") != std::string::npos ||
              err.find("info: child OS threads 3\n") != std::string::npos)
      << err;
}

TEST_F(GreenForkTest, ForkExecSharingAPipeAndTheExecdProgramIsGreenToo) {
  std::string err = expect_same_as_native("exec");
  // 5 program threads on 2 scheduler threads (+ the diagnostics thread): the exec'd program
  // inherited corun's environment. Natively it has 5.
  EXPECT_NE(err.find("info: exec'd child OS threads 3 with 5 program threads"), std::string::npos) << err;
}

TEST_F(GreenForkTest, DoubleForkDaemon) { expect_same_as_native("daemon"); }

TEST_F(GreenForkTest, SystemAndPopenWhileOtherThreadsRun) { expect_same_as_native("system"); }

// 50 forks in a row just after a hog report, while cohook's diagnostics thread is busy with it.
TEST_F(GreenForkTest, ForksRightAfterAHogReport) { expect_same_as_native("startup"); }

// The child of a fork made off main has one thread; a signal sent to it must interrupt that
// thread's read, not go to main, which did not survive the fork.
TEST_F(GreenForkTest, SignalReachesTheChildsOnlyThread) {
  expect_same_as_native("signal");
}

// A thread on the other scheduler thread may hold a semaphore's or a mutex's queue spin lock at
// the instant of a fork: the child takes it over instead of spinning forever. Each child has
// 20 s before it counts as hung (and the run stops there). Before the fix, one child in a few
// dozen hung.
TEST_F(GreenForkTest, ForksWhileThreadsHammerASemaphoreAndAMutexNeverLeaveAChildSpinning) {
  std::string command = program("green_fork_race") + " 200";
  std::string expected = "children exited 200, hung 0, failed 0\n";
  Result native = run("timeout 300 " + command);
  EXPECT_EQ(native.out, expected) << native.err;
  Result green = run("timeout 300 " + corun() + " --threads 2 " + command);
  EXPECT_EQ(green.out, expected) << green.err;
  EXPECT_EQ(green.status, 0) << green.err;
}

}  // namespace
