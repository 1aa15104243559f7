// With exit-on-global-deadlock on (green mode turns it on), a runtime whose coroutines all wait
// for each other, with no fd, timer or wake-up that could end it, prints the dump and
// "all coroutines are asleep - deadlock!" and exits with status 2 within a second or two.
#include <unistd.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "cohook/cohook.hpp"
#include "cohook/debug.hpp"

namespace cohook {
namespace {

using namespace std::chrono_literals;

[[gnu::noinline]] void wait_for_a_message_nobody_sends(Channel<int>& inbox) { (void)inbox.recv(); }

TEST(DiagDeadlockDeathTest, AllAsleepExitsWithDumpAndVerdict) {
  auto started = std::chrono::steady_clock::now();
  EXPECT_EXIT(
      {
        set_exit_on_global_deadlock(true, 100ms);
        Runtime runtime(2);
        runtime.run([] {
          Channel<int> inbox(1);
          JoinHandle listener = go([&] { wait_for_a_message_nobody_sends(inbox); }, {0, "listener"});
          listener.join();
        });
        std::_Exit(0);  // not reached: the deadlock ends the process
      },
      ::testing::ExitedWithCode(2),
      "global deadlock: 2 coroutines.*'listener'.*wait_for_a_message_nobody_sends.*"
      "all coroutines are asleep - deadlock!");
  // Promptly: a few check periods, not a stall period (10 s).
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

TEST(DiagDeadlockTest, TimersFdsAndPlainThreadsAreNotDeadlocks) {
  set_exit_on_global_deadlock(true, 50ms);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::thread writer([&] {
    std::this_thread::sleep_for(600ms);
    char one = 1;
    EXPECT_EQ(::write(fds[1], &one, 1), 1);
  });
  bool finished = false;
  Runtime runtime(2);
  runtime.run([&] {
    JoinHandle sleeper = go([] { this_coroutine::sleep_for(400ms); }, {0, "sleeper"});
    JoinHandle reader = go([&] {
      char byte;
      EXPECT_EQ(::read(fds[0], &byte, 1), 1);  // parked on an fd a plain thread writes later
    }, {0, "reader"});
    sleeper.join();
    reader.join();
    finished = true;
  });
  writer.join();
  set_exit_on_global_deadlock(false);
  ::close(fds[0]);
  ::close(fds[1]);
  EXPECT_TRUE(finished);  // and the process is still here
}

}  // namespace
}  // namespace cohook
