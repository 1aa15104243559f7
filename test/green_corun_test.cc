// Unmodified programs under corun (green threads) must behave as they do without it: the same
// stdout, the same exit status. Each program runs natively and under corun, and the transcripts
// are compared. The programs are legacy C (test/programs/green_*.c) or plain C++ with std::thread.
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "test/green_test_util.h"

namespace {

using green_test::corun;
using green_test::program;
using green_test::Result;
using green_test::run;

class CorunTest : public green_test::CorunTestBase {
 protected:
  // The program's transcript natively, then under corun with each thread count.
  void expect_same_as_native(const std::string& command, int expected_status) {
    Result native = run(command);
    ASSERT_EQ(native.status, expected_status) << native.out << native.err;
    for (int threads : {1, 2, 3}) {
      Result green = run("timeout 120 " + corun() + " --threads " + std::to_string(threads) + " " + command);
      EXPECT_EQ(green.out, native.out) << command << " under corun --threads " << threads << "\n" << green.err;
      EXPECT_EQ(green.status, native.status) << command << " --threads " << threads << "\n" << green.err;
    }
  }
};

TEST_F(CorunTest, EveryPthreadCallGivesTheNativeTranscript) {
  expect_same_as_native(program("green_pthread_calls"), 7);
}

TEST_F(CorunTest, StdThreadMutexConditionVariableAndSharedMutex) {
  expect_same_as_native(program("green_std_thread"), 0);
}

TEST_F(CorunTest, MutexHeldAcrossABlockingReadOnTwoSchedulerThreads) {
  expect_same_as_native(program("green_lock_across_read"), 0);
  // Under corun the whole program (main, the reader, the waiter, the ticker) ran on 2 threads.
  Result green = run("timeout 60 " + corun() + " --threads 2 " + program("green_lock_across_read"));
  // 2 scheduler threads and cohook's diagnostics thread (the COHOOK_HOG_REPORT watchdog).
  EXPECT_NE(green.err.find("os Threads:\t3\n"), std::string::npos) << green.err;
}

// The program above binds pthread symbols at both of glibc's versions; its OS thread count and
// its progress under corun show that both reached the emulation.
TEST_F(CorunTest, TestProgramsBindPthreadAtBothGlibcVersions) {
  Result symbols = run("objdump -T " + program("green_lock_across_read"));
  if (symbols.status != 0) GTEST_SKIP() << "no objdump";
  auto bound_at = [&](const std::string& version, const std::string& name) {
    std::size_t at = symbols.out.find("(" + version + ") " + name + "\n");
    return at != std::string::npos;
  };
  EXPECT_TRUE(bound_at("GLIBC_2.34", "pthread_create")) << symbols.out;
  EXPECT_TRUE(bound_at("GLIBC_2.2.5", "pthread_mutex_lock")) << symbols.out;
}

TEST_F(CorunTest, ExitStatusAtexitAndStdioFlushAreUnchanged) {
  expect_same_as_native(program("green_exit") + " return", 3);
  expect_same_as_native(program("green_exit") + " exit", 5);
  expect_same_as_native(program("green_exit") + " _exit", 6);
  expect_same_as_native(program("green_exit") + " main-exit", 0);
}

TEST_F(CorunTest, ForkExecPopenAndAChildThatDoesNotExec) {
  expect_same_as_native(program("green_fork"), 0);
}

TEST_F(CorunTest, RunsItsMainAsAGreenThreadOnTheRequestedThreads) {
  Result one = run(corun() + " --threads 1 sh -c 'grep Threads /proc/self/status'");
  // sh itself is single-threaded: under corun it has exactly its one scheduler thread, plus
  // cohook's diagnostics thread (the COHOOK_HOG_REPORT watchdog).
  EXPECT_EQ(one.out, "Threads:\t2\n") << one.err;
  Result three = run(corun() + " --threads 3 grep Threads /proc/self/status");
  EXPECT_EQ(three.out, "Threads:\t4\n") << three.err;
}

TEST_F(CorunTest, SetsTheEnvironmentAndKeepsExistingPreloads) {
  Result env = run("LD_PRELOAD=/nonexistent-keep-me.so " + corun() + " --threads 2 --stack-size 256K env 2>/dev/null");
  EXPECT_NE(env.out.find("COHOOK_MODE=green\n"), std::string::npos) << env.out;
  EXPECT_NE(env.out.find("COHOOK_THREADS=2\n"), std::string::npos);
  EXPECT_NE(env.out.find("COHOOK_STACK_SIZE=256K\n"), std::string::npos);
  EXPECT_NE(env.out.find("libcohook.so /nonexistent-keep-me.so\n"), std::string::npos) << env.out;
  Result native = run(corun() + " --native-threads env");
  EXPECT_NE(native.out.find("COHOOK_MODE=native\n"), std::string::npos);
  // A child inherits all of it, so it is cooperative too.
  Result child = run(corun() + " sh -c 'sh -c \"echo \\$COHOOK_MODE\"'");
  EXPECT_EQ(child.out, "green\n");
}

TEST_F(CorunTest, HelpVersionAndBadFlags) {
  Result help = run(corun() + " --help");
  EXPECT_EQ(help.status, 0);
  for (const char* word : {"--threads", "--stack-size", "--native-threads", "--help", "--version", "LD_PRELOAD",
                           "COHOOK_MODE", "COHOOK_THREADS", "COHOOK_STACK_SIZE", "COHOOK_STALL_REPORT"})
    EXPECT_NE(help.out.find(word), std::string::npos) << word;
  Result version = run(corun() + " --version");
  EXPECT_EQ(version.status, 0);
  EXPECT_EQ(version.out.rfind("corun (cohook) ", 0), 0u) << version.out;

  struct Bad {
    const char* args;
    const char* message;
  };
  for (const Bad& bad : {Bad{"--threads 0 true", "--threads 0: expected a whole number from 1 to 1024"},
                         Bad{"--threads x true", "--threads x"}, Bad{"--threads", "--threads needs a value"},
                         Bad{"--stack-size 1K true", "--stack-size 1K: expected a size from 16K to 1G"},
                         Bad{"--stack-size=12Q true", "--stack-size 12Q"}, Bad{"--frobnicate true", "unknown flag --frobnicate"},
                         Bad{"", "no PROGRAM to run"}}) {
    Result r = run(corun() + " " + bad.args);
    EXPECT_EQ(r.status, 2) << bad.args;
    EXPECT_NE(r.err.find(bad.message), std::string::npos) << bad.args << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << bad.args;
  }
  Result missing = run(corun() + " /nonexistent/program");
  EXPECT_EQ(missing.status, 127);
  EXPECT_NE(missing.err.find("corun: cannot run /nonexistent/program"), std::string::npos) << missing.err;
  // Flags after PROGRAM are PROGRAM's.
  Result passed = run(corun() + " -- echo --threads 0");
  EXPECT_EQ(passed.out, "--threads 0\n");
  Result bad_mode = run("COHOOK_MODE=purple LD_PRELOAD=" + green_test::bin_dir() + "/../lib/libcohook.so /bin/true");
  EXPECT_EQ(bad_mode.status, 2);
  EXPECT_NE(bad_mode.err.find("COHOOK_MODE=purple is not valid: use green or native"), std::string::npos) << bad_mode.err;
}

}  // namespace
