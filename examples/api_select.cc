#include <chrono>
#include <cstdio>

#include <cohook/cohook.hpp>

int main() {
  cohook::Runtime runtime(2);
  runtime.run([] {
    cohook::Channel<int> numbers;
    cohook::Channel<const char*> words;
    cohook::go([&] { words.send("hello"); });

    for (int i = 0; i < 2; ++i) {
      int index = cohook::Select()
                      .recv(numbers, [](std::optional<int> n) { std::printf("number %d\n", *n); })
                      .recv(words, [](std::optional<const char*> w) { std::printf("word %s\n", *w); })
                      .run_for(std::chrono::milliseconds(100));
      if (index == cohook::Select::kTimeout) std::printf("timeout\n");
    }
    // poll(): Go's select with a default case.
    if (cohook::Select().recv(numbers).poll() == cohook::Select::kDefault) std::printf("nothing ready\n");
  });
}
