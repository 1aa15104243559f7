#include <cstdio>
#include <stdexcept>

#include <cohook/cohook.hpp>

int main() {
  cohook::Runtime runtime(2);
  runtime.run([] {
    cohook::Future<int> answer = cohook::go([] { return 6 * 7; });
    auto failing = cohook::go([]() -> int { throw std::runtime_error("no answer"); });
    std::printf("answer %d\n", answer.join());
    try {
      failing.join();
    } catch (const std::runtime_error& e) {
      std::printf("caught: %s\n", e.what());
    }
  });
}
