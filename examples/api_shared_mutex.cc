#include <cstdio>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>

#include <cohook/cohook.hpp>

int main() {
  cohook::Runtime runtime(2);
  std::map<std::string, int> cache;
  cohook::SharedMutex cache_mutex;
  runtime.run([&] {
    cohook::TaskGroup group;
    group.spawn([&] {
      std::unique_lock<cohook::SharedMutex> writer(cache_mutex);
      cache["answer"] = 42;
    });
    group.wait();
    for (int i = 0; i < 4; ++i)
      group.spawn([&] {
        std::shared_lock<cohook::SharedMutex> reader(cache_mutex);  // readers share it
        if (cache.at("answer") != 42) std::printf("wrong\n");
      });
  });
  std::printf("answer %d\n", cache["answer"]);
}
