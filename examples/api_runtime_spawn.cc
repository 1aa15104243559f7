#include <cstdio>
#include <thread>

#include <cohook/cohook.hpp>

int main() {
  cohook::Runtime runtime(2);
  std::thread outside;
  runtime.run([&] {
    cohook::WaitGroup handed_over;
    handed_over.add(1);
    outside = std::thread([&] {  // a plain thread: a pool, another library's callback
      auto sum = runtime.spawn([] { return 1 + 2; });
      std::printf("from a plain thread: %d\n", sum.join());
      handed_over.done();
    });
    handed_over.wait();
  });
  outside.join();
}
