// Deadlocks of unmodified programs under corun (green threads), and programs that only look
// stuck. When every green thread is parked with nothing that could wake it, the dump and
// "all coroutines are asleep - deadlock!" go to stderr and the process exits with 2 within a
// second or two; a cycle of pthread mutexes is reported the moment it closes, with the threads,
// the mutex each holds and waits for, and their stacks. A thread that waits for a timer, a pipe,
// stdin or a socket is no deadlock: no report, and the program goes on. The programs are legacy
// C (test/programs/green_deadlock.c); natively the deadlocking ones simply hang.
#include <unistd.h>

#include <chrono>
#include <regex>
#include <string>

#include <gtest/gtest.h>

#include "test/green_test_util.h"

namespace {

using green_test::corun;
using green_test::program;
using green_test::Result;
using green_test::run;
using Clock = std::chrono::steady_clock;

constexpr const char* kVerdict = "all coroutines are asleep - deadlock!";

class GreenDeadlockTest : public green_test::CorunTestBase {
 protected:
  // Runs the program in `mode` under corun; how long it took goes to *seconds.
  Result run_green(const std::string& mode, int threads, double* seconds, const std::string& prefix = "",
                   const std::string& limit = "60") {
    auto started = Clock::now();
    Result r = run(prefix + "timeout " + limit + " " + corun() + " --threads " + std::to_string(threads) + " " +
                   program("green_deadlock") + " " + mode);
    *seconds = std::chrono::duration<double>(Clock::now() - started).count();
    return r;
  }
};

TEST_F(GreenDeadlockTest, JoinCycleExitsPromptlyWithTheDumpAndTheVerdict) {
  // Natively it hangs: the timeout ends it.
  EXPECT_EQ(run("timeout 1 " + program("green_deadlock") + " join-cycle").status, 124);
  for (int threads : {1, 2}) {
    double seconds = 0;
    Result r = run_green("join-cycle", threads, &seconds);
    EXPECT_EQ(r.status, 2) << r.err;
    // A few checks of 250 ms, not the 10 s stall period (generous for a loaded machine).
    EXPECT_LT(seconds, 6.0) << r.err;
    EXPECT_TRUE(std::regex_search(r.err, std::regex("cohook: global deadlock: 4 coroutines on [12] scheduler threads")))
        << r.err;
    // All three threads by the names the program gave them, what they wait for, for how long.
    for (const char* name : {"joins-second", "joins-third", "joins-first"})
      EXPECT_TRUE(std::regex_search(r.err, std::regex(std::string("1 coroutine \\[parked on pthread_join, [0-9.]+ m?s\\]: "
                                                                  "#[0-9]+ '") + name + "' on thread [01]\n")))
          << name << "\n" << r.err;
    EXPECT_NE(r.err.find("join_the_next+0x"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("(green_deadlock)"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(std::string("\n") + kVerdict + "\n"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "") << "main went on: " << r.out;
  }
}

TEST_F(GreenDeadlockTest, ConditionNobodySignalsIsADeadlock) {
  double seconds = 0;
  Result r = run_green("cond-nobody", 2, &seconds);
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_LT(seconds, 6.0) << r.err;
  EXPECT_TRUE(std::regex_search(r.err, std::regex("1 coroutine \\[parked on pthread_cond_wait[^\\]]*\\]: #[0-9]+ "
                                                  "'cond-waiter' on thread [01]\n")))
      << r.err;
  EXPECT_NE(r.err.find("wait_for_a_signal_nobody_sends+0x"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(kVerdict), std::string::npos) << r.err;
}

TEST_F(GreenDeadlockTest, MutexCycleIsReportedAsItClosesWhileOtherThreadsRun) {
  double seconds = 0;
  Result r = run_green("ab-ba", 2, &seconds);
  // The cycle: each thread, the mutex it holds, the one it waits for and who holds that.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      r.err, m,
      std::regex("cohook: lock cycle: these coroutines wait for each other and none of them will run again:\n"
                 "  #[0-9]+ '(a-then-b|b-then-a)' holds pthread mutex (0x[0-9a-f]+) and waits for pthread mutex "
                 "(0x[0-9a-f]+), held by #[0-9]+ '(a-then-b|b-then-a)'\n"
                 "  #[0-9]+ '(a-then-b|b-then-a)' holds pthread mutex (0x[0-9a-f]+) and waits for pthread mutex "
                 "(0x[0-9a-f]+), held by #[0-9]+ '(a-then-b|b-then-a)'\n")))
      << r.err;
  EXPECT_NE(m[1], m[4]) << r.err;
  EXPECT_EQ(m[2], m[7]) << r.err;  // what one holds, the other waits for
  EXPECT_EQ(m[3], m[6]) << r.err;
  // Both stacks, in the function that takes the second lock.
  auto cycle_at = r.err.find("cohook: lock cycle");
  auto first_stack = r.err.find("lock_in_order+0x", cycle_at);
  ASSERT_NE(first_stack, std::string::npos) << r.err;
  EXPECT_NE(r.err.find("lock_in_order+0x", first_stack + 1), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("[parked on pthread_mutex_lock"), std::string::npos) << r.err;
  // The moment it closed: while the heartbeat thread still ran (it ends after 2 s).
  auto heartbeat_done = r.err.find("heartbeat done");
  ASSERT_NE(heartbeat_done, std::string::npos) << r.err;
  EXPECT_LT(cycle_at, heartbeat_done) << r.err;
  // Once the heartbeat has ended, nothing can run again: the global verdict follows.
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_GT(r.err.find(kVerdict), heartbeat_done) << r.err;
  EXPECT_LT(seconds, 8.0) << r.err;
}

TEST_F(GreenDeadlockTest, SleepsAndAPipeWrittenLateAreNoDeadlock) {
  Result native = run(program("green_deadlock") + " slow");
  ASSERT_EQ(native.status, 0) << native.err;
  for (int threads : {1, 2}) {
    double seconds = 0;
    Result r = run_green("slow", threads, &seconds);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, native.out) << r.err;
    EXPECT_EQ(r.err.find("deadlock"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("lock cycle"), std::string::npos) << r.err;
  }
}

TEST_F(GreenDeadlockTest, ReadingStdinThatAnswersLateIsNoDeadlock) {
  double seconds = 0;
  Result r = run_green("stdin", 2, &seconds, "(sleep 2; echo hello) | ");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "stdin hello\nfinished\n") << r.err;
  EXPECT_EQ(r.err.find("deadlock"), std::string::npos) << r.err;
  EXPECT_GE(seconds, 1.5);  // it did wait for the line
}

TEST_F(GreenDeadlockTest, WaitingInSigwaitForALateKillIsNoDeadlock) {
  // Every green thread is parked, but a kill from another process may still come.
  Result r = run("timeout 60 sh -c '" + corun() + " --threads 2 " + program("green_deadlock") +
          " sigwait & pid=$!; sleep 2.5; kill -USR1 $pid; wait $pid'");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "waiting\ngot signal 10\nfinished\n") << r.err;
  EXPECT_EQ(r.err.find("deadlock"), std::string::npos) << r.err;
}

TEST_F(GreenDeadlockTest, WaitingOnASocketNobodyWritesIsNoDeadlock) {
  // A packet may still come: the program must go on waiting until something (here timeout)
  // ends it, with no verdict.
  double seconds = 0;
  Result r = run_green("socket", 2, &seconds, "", "3");
  EXPECT_EQ(r.status, 124) << r.err;
  EXPECT_EQ(r.err.find("deadlock"), std::string::npos) << r.err;
}

}  // namespace
