#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include <cohook/cohook.hpp>

int main() {
  cohook::Runtime runtime(2);
  runtime.run([] {
    std::vector<std::string> pages(3);  // members capture it by reference: the group outlives them
    cohook::TaskGroup group;
    for (int i = 0; i < 3; ++i)
      group.spawn([&, i] {
        if (i == 2) throw std::runtime_error("page 2: not found");
        pages[i] = "page " + std::to_string(i);
      });
    try {
      group.wait();  // waits for all three, then rethrows the first exception
    } catch (const std::exception& e) {
      std::printf("failed: %s\n", e.what());
    }
    std::printf("%s, %s\n", pages[0].c_str(), pages[1].c_str());
  });
}
