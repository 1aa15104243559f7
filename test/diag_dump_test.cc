// Coroutine dumps: every coroutine with its state, how long it has been parked, and its stack
// unwound from the context its last switch saved, grouped by identical stacks.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include <atomic>
#include <chrono>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "cohook/cohook.hpp"
#include "cohook/compat/co_routine.h"
#include "cohook/debug.hpp"
#include "diag_test_util.h"
#include "sched/config.h"

namespace cohook {
namespace {

using namespace std::chrono_literals;

// Known frames the dumps must show. noinline and a side effect after the call, so that each
// stays a real frame with a return address inside it.
std::atomic<int> g_sink{0};

[[gnu::noinline]] void reader_waits_in_here(int fd) {
  char byte = 0;
  ssize_t n = ::read(fd, &byte, 1);  // parks: nothing is written until the dump is taken
  g_sink.fetch_add(static_cast<int>(n));
}

[[gnu::noinline]] void sleeper_naps_in_here() {
  this_coroutine::sleep_for(2s);
  g_sink.fetch_add(1);
}

// Waits (polling, a plain thread or coroutine) until `n` coroutines have parked.
void settle() { this_coroutine::sleep_for(300ms); }

TEST(DiagDumpTest, ParkedCoroutinesShowStateDurationAndStackWithKnownFunction) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::string text;
  Runtime runtime(2);
  runtime.run([&] {
    JoinHandle reader = go([&] { reader_waits_in_here(fds[0]); }, {0, "pipe-reader"});
    std::vector<JoinHandle> sleepers;
    for (int i = 0; i < 50; ++i) sleepers.push_back(go([] { sleeper_naps_in_here(); }, {0, "napper"}));
    settle();
    std::ostringstream out;
    dump(out);
    text = out.str();
    char one = 1;
    ASSERT_EQ(::write(fds[1], &one, 1), 1);
    reader.join();
    for (JoinHandle& h : sleepers) h.join();
  });
  ::close(fds[0]);
  ::close(fds[1]);

  // The reader: its id, name, what it waits on (the fd and direction), since when, its stack.
  std::smatch m;
  std::string fd = std::to_string(fds[0]);
  // Durations read "340 ms", or "1.7 s" on a slow machine (a sanitizer build under load).
  const std::string duration = "[0-9.]+ m?s";
  EXPECT_TRUE(std::regex_search(text, m, std::regex("1 coroutine \\[parked on read fd " + fd + ", " + duration +
                                                    "\\]: #[0-9]+ 'pipe-reader' on thread [01]\n")))
      << text;
  auto reader_group = text.find("'pipe-reader'");
  ASSERT_NE(reader_group, std::string::npos) << text;
  auto next_group = text.find("\n\n", reader_group);
  std::string reader_stack = text.substr(reader_group, next_group - reader_group);
  EXPECT_NE(reader_stack.find("reader_waits_in_here(int)+0x"), std::string::npos) << text;
  EXPECT_NE(reader_stack.find("(diag_dump_test)"), std::string::npos) << text;

  // The fifty sleepers share one stack: one group with a count, not fifty copies.
  EXPECT_TRUE(std::regex_search(text, std::regex("50 coroutines \\[parked on sleep, " + duration + "( to " + duration +
                                                 ")?\\]: #[0-9]+ 'napper', #[0-9]+ 'napper'.* and 42 more\n")))
      << text;
  EXPECT_NE(text.find("sleeper_naps_in_here()+0x"), std::string::npos) << text;
  // The caller is in the dump too, running, with its own stack.
  EXPECT_TRUE(std::regex_search(text, std::regex("1 coroutine \\[running \\(this dump's caller\\)\\]: #[0-9]+ 'main'")))
      << text;
  EXPECT_TRUE(std::regex_search(text, std::regex("cohook: coroutine dump: 52 coroutines on [0-9]+ scheduler threads")))
      << text;
}

TEST(DiagDumpTest, DumpSignalPrintsTheDumpOnStderr) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  test::CapturedStderr err;
  std::thread program([&] {
    Runtime runtime(2);
    runtime.run([&] { go([&] { reader_waits_in_here(fds[0]); }, {0, "signal-reader"}).join(); });
  });
  std::this_thread::sleep_for(300ms);
  // As `kill -USR2 <pid>` from a shell arrives: at any thread of the process.
  ::kill(::getpid(), SIGUSR2);
  bool found = err.read_until({"coroutine dump (signal USR2)", "signal-reader", "reader_waits_in_here"}, 10s);
  char one = 1;
  EXPECT_EQ(::write(fds[1], &one, 1), 1);
  program.join();
  ::close(fds[0]);
  ::close(fds[1]);
  EXPECT_TRUE(found) << err.text;
  EXPECT_TRUE(std::regex_search(err.text, std::regex("\\[parked on join, [0-9]+ ms\\]: #[0-9]+ 'main'"))) << err.text;
}

// Daemons close every fd they did not open and reuse the numbers. The dump signal must still
// work afterwards, and must never write into whatever file got the number of an fd cohook used
// for itself (it used to write 8 bytes into its eventfd's number).
TEST(DiagDumpDeathTest, DumpSignalWritesIntoNoFdTheProgramReused) {
  EXPECT_EXIT(
      {
        // Starts the diagnostics thread, which stays; the scheduler (and its own eventfd) ends
        // with its thread.
        std::thread([] {
          Runtime runtime(1);
          runtime.run([] {});
        }).join();
        char path[] = "/tmp/cohook-reused-fd-XXXXXX";
        int file = ::mkstemp(path);
        ::unlink(path);
        // Every eventfd left is cohook's: give its number to the file instead.
        for (int fd = 3; fd < 1024; ++fd) {
          char link[64];
          char target[64] = {};
          std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
          if (::readlink(link, target, sizeof target - 1) > 0 && std::strstr(target, "eventfd") != nullptr)
            ::dup2(file, fd);
        }
        ::kill(::getpid(), SIGUSR2);
        ::sleep(2);  // the dump arrives meanwhile
        struct stat st {};
        ::fstat(file, &st);
        std::_Exit(st.st_size == 0 ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "coroutine dump \\(signal USR2\\): 0 coroutines on 0 scheduler threads");
}

[[gnu::noinline]] void wait_at_the_gate(Channel<int>& gate, std::atomic<int>& arrived) {
  arrived.fetch_add(1);
  (void)gate.recv();  // parks until the channel is closed
}

TEST(DiagDumpTest, TenThousandCoroutinesGroupIntoAFewLines) {
  // ThreadSanitizer makes every fiber and every unwound frame slow (10,000 took over four
  // minutes on the shared 2-core machine): fewer there, the grouping under test is the same.
#if defined(__SANITIZE_THREAD__)
  constexpr int kCoroutines = 1000;
#else
  constexpr int kCoroutines = 10000;
#endif
  std::string text;
  Runtime runtime(2);
  runtime.run([&] {
    Channel<int> gate(1);
    std::atomic<int> arrived{0};
    std::vector<JoinHandle> handles;
    for (int i = 0; i < kCoroutines; ++i)
      handles.push_back(go([&] { wait_at_the_gate(gate, arrived); }, {16 * 1024, "many"}));
    // Every one has started; the last may still be on its way into the park, which a dump
    // waits for (it describes a thread only between two runs of coroutines).
    while (arrived.load() < kCoroutines) this_coroutine::sleep_for(10ms);
    std::ostringstream out;
    dump(out);
    text = out.str();
    gate.close();
    for (JoinHandle& h : handles) h.join();
  });
  EXPECT_TRUE(std::regex_search(text, std::regex(std::to_string(kCoroutines) + " coroutines \\[parked on [a-z]+, ")))
      << text.substr(0, 4000);
  EXPECT_NE(text.find("wait_at_the_gate("), std::string::npos) << text.substr(0, 4000);
  std::size_t lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
  EXPECT_LT(lines, 100u) << text.substr(0, 4000);
}

// libco's shared ("copy") stacks: one stack, three coroutines suspended on it. The last one
// resumed occupies it; the frames of the other two sit in heap copies, and are unwound there.
[[gnu::noinline]] void suspended_on_a_shared_stack_in_here(int* rounds) {
  volatile char frame[512];  // something on the stack to copy
  frame[0] = 1;
  co_yield_ct();
  *rounds += frame[0];
}

void* shared_stack_routine(void* arg) {
  suspended_on_a_shared_stack_in_here(static_cast<int*>(arg));
  return nullptr;
}

TEST(DiagDumpTest, CoroutinesOnASharedStackAreUnwoundFromTheirCopies) {
  stShareStack_t* share = co_alloc_sharestack(1, 128 * 1024);
  stCoRoutineAttr_t attr;
  attr.share_stack = share;
  int rounds = 0;
  stCoRoutine_t* routines[3];
  for (stCoRoutine_t*& co : routines) {
    ASSERT_EQ(co_create(&co, &attr, shared_stack_routine, &rounds), 0);
    co_resume(co);
  }
  std::ostringstream out;
  dump(out);
  std::string text = out.str();
  for (stCoRoutine_t* co : routines) co_resume(co);
  for (stCoRoutine_t* co : routines) co_release(co);
  co_free_sharestack(share);
  EXPECT_EQ(rounds, 3);
  // The same frames whether read from the stack (the occupant) or from a copy: one group.
  EXPECT_TRUE(std::regex_search(text, std::regex("3 coroutines \\[suspended \\(resumed only explicitly\\)\\]: #[0-9]+, "
                                                 "#[0-9]+, #[0-9]+\n    [^\n]*\n")))
      << text;
  EXPECT_NE(text.find("suspended_on_a_shared_stack_in_here(int*)+0x"), std::string::npos) << text;
  EXPECT_NE(text.find("shared_stack_routine(void*)+0x"), std::string::npos) << text;
  EXPECT_EQ(text.find("not unwound"), std::string::npos) << text;
}

TEST(DiagConfigTest, SignalNamesAndNumbersParse) {
  int s = -1;
  EXPECT_TRUE(parse_signal("SIGUSR2", &s));
  EXPECT_EQ(s, SIGUSR2);
  EXPECT_TRUE(parse_signal("USR1", &s));
  EXPECT_EQ(s, SIGUSR1);
  EXPECT_TRUE(parse_signal("10", &s));
  EXPECT_EQ(s, 10);
  EXPECT_TRUE(parse_signal("SIGRTMIN+2", &s));
  EXPECT_EQ(s, SIGRTMIN + 2);
  EXPECT_TRUE(parse_signal("0", &s));
  EXPECT_EQ(s, 0);
  for (const char* bad : {"", "SIGKILL", "STOP", "SIGSEGV", "USR3", "12x", "-1", "999", "SIGRTMAX+1", "usr2"})
    EXPECT_FALSE(parse_signal(bad, &s)) << bad;
}

TEST(DiagConfigTest, BadDumpSignalOrHogValueStopsBeforeMainWithStatus2) {
  std::string binary = test::bin_dir() + "/hello";
  for (const char* setting : {"COHOOK_DUMP_SIGNAL=SIGKILL", "COHOOK_DUMP_SIGNAL=USR3", "COHOOK_HOG_REPORT=-5",
                              "COHOOK_HOG_REPORT=100ms"}) {
    test::ProgramResult r = test::run_command(std::string("env ") + setting + " " + binary);
    EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 2) << setting << ": " << r.output;
    std::string name(setting, std::string(setting).find('='));
    EXPECT_NE(r.output.find("cohook: " + name + "="), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("expected"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("sum of squares"), std::string::npos) << "ran anyway: " << r.output;
  }
  // The accepted forms run normally.
  test::ProgramResult ok = test::run_command("env COHOOK_DUMP_SIGNAL=USR1 COHOOK_HOG_REPORT=0 " + binary);
  EXPECT_EQ(ok.status, 0) << ok.output;
}

}  // namespace
}  // namespace cohook
