// A tour of cohook's diagnostics on a small fake server: connection handlers parked on reads, a
// ticker on a timer, a worker that hogs its thread, and two coroutines that lock two mutexes in
// opposite orders. Run it and send it the dump signal:
//
//   bin/debug_tour & sleep 1; kill -USR2 $!; wait
//
// stderr then shows the hog report, the lock-cycle report and the dump. It exits after 2 s.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <vector>

#include "cohook/cohook.hpp"
#include "cohook/debug.hpp"

namespace {

using namespace std::chrono_literals;

[[gnu::noinline]] void serve_connection(int fd) {
  char request[512];
  while (::read(fd, request, sizeof request) > 0) {
  }
}

[[gnu::noinline]] void crunch_numbers() {
  volatile double x = 0;
  auto until = std::chrono::steady_clock::now() + 300ms;
  while (std::chrono::steady_clock::now() < until) x = x + 1.5;
}

[[gnu::noinline]] void transfer(cohook::Mutex& from, cohook::Mutex& to, cohook::WaitGroup& both_locked) {
  std::lock_guard<cohook::Mutex> first(from);
  both_locked.done();
  both_locked.wait();
  std::lock_guard<cohook::Mutex> second(to);  // the other transfer holds `to` and wants `from`
}

}  // namespace

int main() {
  cohook::Runtime runtime(2);
  runtime.run([] {
    std::vector<int> client_ends;
    for (int i = 0; i < 100; ++i) {
      int fds[2];
      if (::pipe(fds) != 0) return;
      client_ends.push_back(fds[1]);
      cohook::go([fd = fds[0]] { serve_connection(fd); }, {0, "conn"});
    }
    cohook::go([] {
      for (int i = 0; i < 20; ++i) cohook::this_coroutine::sleep_for(100ms);
    }, {0, "ticker"});
    cohook::go([] { crunch_numbers(); }, {0, "cruncher"});
    static cohook::Mutex accounts, ledger;
    static cohook::WaitGroup both_locked;
    both_locked.add(2);
    cohook::go([] { transfer(accounts, ledger, both_locked); }, {0, "transfer-a"});
    cohook::go([] { transfer(ledger, accounts, both_locked); }, {0, "transfer-b"});
    cohook::this_coroutine::sleep_for(2s);
    std::fflush(stderr);
    ::_exit(0);  // the two transfers never finish: leave without waiting for them
  });
}
