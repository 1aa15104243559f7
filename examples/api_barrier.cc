#include <atomic>
#include <cstdio>

#include <cohook/cohook.hpp>

int main() {
  cohook::Runtime runtime(2);
  std::atomic<int> last_arrivals{0};
  runtime.run([&] {
    cohook::Barrier step(4);
    cohook::TaskGroup workers;
    for (int w = 0; w < 4; ++w)
      workers.spawn([&] {
        for (int round = 0; round < 3; ++round) {
          // ... this round's share of the work ...
          if (step.arrive_and_wait()) ++last_arrivals;  // true for one worker per round
        }
      });
  });
  std::printf("%d rounds\n", last_arrivals.load());
}
