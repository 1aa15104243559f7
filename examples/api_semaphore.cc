#include <atomic>
#include <cstdio>

#include <cohook/cohook.hpp>

int main() {
  cohook::Runtime runtime(2);
  std::atomic<int> inside{0}, most{0};
  runtime.run([&] {
    cohook::Semaphore connections(3);  // at most three at a time
    cohook::TaskGroup clients;
    for (int i = 0; i < 20; ++i)
      clients.spawn([&] {
        connections.acquire();
        int now = ++inside;
        if (now > most) most = now;
        cohook::this_coroutine::sleep_for(std::chrono::milliseconds(1));
        --inside;
        connections.release();
      });
  });
  std::printf("%s\n", most <= 3 ? "never more than 3 at once" : "too many");
}
