// A plain C++ program (built without cohook) that exercises unwinding: a throw caught three
// frames up, a destructor run by the unwind, and pthread_exit's forced unwind in a thread.
// hook_preload_test runs it with and without LD_PRELOAD=libcohook.so and compares the output:
// a preloaded library that brings its own _Unwind_* (libunwind does) breaks exactly this.
#include <pthread.h>

#include <cstdio>
#include <stdexcept>
#include <string>

namespace {

struct Noisy {
  const char* name;
  ~Noisy() { std::printf("destroyed %s\n", name); }
};

[[gnu::noinline]] void level3(int depth) {
  Noisy guard{"level3 guard"};
  throw std::runtime_error("thrown at depth " + std::to_string(depth));
}
[[gnu::noinline]] void level2(int depth) { level3(depth + 1); }
[[gnu::noinline]] void level1(int depth) { level2(depth + 1); }

void* exiting_thread(void*) {
  Noisy guard{"thread guard"};  // pthread_exit unwinds: this destructor must run
  pthread_exit(reinterpret_cast<void*>(42));
}

}  // namespace

int main() {
  try {
    level1(1);
  } catch (const std::exception& e) {
    std::printf("caught: %s\n", e.what());
  }
  pthread_t thread;
  if (pthread_create(&thread, nullptr, exiting_thread, nullptr) != 0) return 1;
  void* result = nullptr;
  pthread_join(thread, &result);
  std::printf("thread exited with %ld\n", reinterpret_cast<long>(result));
  return 0;
}
