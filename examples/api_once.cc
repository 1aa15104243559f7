#include <cstdio>

#include <cohook/cohook.hpp>

int main() {
  cohook::Runtime runtime(2);
  cohook::Once init;
  int config_loads = 0;
  runtime.run([&] {
    cohook::TaskGroup group;
    for (int i = 0; i < 10; ++i)
      group.spawn([&] {
        // The first caller loads; the others park until it is done.
        cohook::call_once(init, [&] {
          cohook::this_coroutine::sleep_for(std::chrono::milliseconds(10));
          ++config_loads;
        });
      });
  });
  std::printf("loaded %d time(s)\n", config_loads);
}
