// A coroutine that runs for longer than COHOOK_HOG_REPORT (100 ms by default) without parking or
// yielding is reported once, with its stack; one that yields often is not.
#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "cohook/cohook.hpp"
#include "diag_test_util.h"

namespace cohook {
namespace {

using namespace std::chrono_literals;

std::atomic<long> g_spins{0};

[[gnu::noinline]] void spin_without_parking(std::chrono::milliseconds how_long) {
  auto until = std::chrono::steady_clock::now() + how_long;
  while (std::chrono::steady_clock::now() < until) g_spins.fetch_add(1, std::memory_order_relaxed);
}

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(DiagHogTest, LongRunningCoroutineIsReportedOnceWithItsStack) {
  test::CapturedStderr err;
  Runtime runtime(2);
  runtime.run([] { go([] { spin_without_parking(600ms); }, {0, "busy-loop"}).join(); });
  // The report comes from cohook's own thread; give it a moment after the spin.
  EXPECT_TRUE(err.read_until({"'busy-loop'", "spin_without_parking"}, 5s)) << err.text;
  std::this_thread::sleep_for(300ms);
  err.read_until({"(never there)"}, 100ms);
  EXPECT_TRUE(std::regex_search(err.text, std::regex("cohook: coroutine #[0-9]+ 'busy-loop' on thread [0-9]+ has run "
                                                     "for [0-9]+ ms without parking or yielding")))
      << err.text;
  EXPECT_NE(err.text.find("spin_without_parking(std::chrono::duration<long, std::ratio<1l, 1000l> >)+0x"),
            std::string::npos)
      << err.text;
  EXPECT_EQ(count(err.text, "'busy-loop'"), 1u) << "reported more than once: " << err.text;
}

TEST(DiagHogTest, CoroutineThatYieldsOftenIsNotReported) {
  test::CapturedStderr err;
  Runtime runtime(1);
  runtime.run([] {
    go(
        [] {
          for (int i = 0; i < 60; ++i) {
            spin_without_parking(5ms);
            this_coroutine::yield();
          }
        },
        {0, "polite-loop"})
        .join();
  });
  err.read_until({"(never there)"}, 500ms);
  EXPECT_EQ(err.text.find("polite-loop"), std::string::npos) << err.text;
}

}  // namespace
}  // namespace cohook
