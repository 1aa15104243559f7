// A libco-style program that may hold a std::mutex across a hooked call, for the real-lock report
// of libcohook.so (test/real_lock_report_test.cc). Built without cohook: it finds the libco API
// in the preloaded library with dlsym, as a program linked with libcohook.so would call it.
//   libco_lock_across_park held    a coroutine holds the mutex across two hooked sleeps and a
//                                  hooked read (a second coroutine writes the byte it waits for)
//   libco_lock_across_park read    the mutex held across the read only
//   libco_lock_across_park around  the same coroutine, locking and unlocking before each call
//   libco_lock_across_park none    no lock at all
// Prints "done" when both coroutines have finished; exits 2 without the preload.
#include <dlfcn.h>
#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <mutex>

struct stCoRoutine_t;
struct stCoEpoll_t;
using CreateFn = int (*)(stCoRoutine_t**, const void*, void* (*)(void*), void*);
using ResumeFn = void (*)(stCoRoutine_t*);
using EnableHooksFn = void (*)();
using EpollFn = stCoEpoll_t* (*)();
using EventLoopFn = void (*)(stCoEpoll_t*, int (*)(void*), void*);

namespace {

EnableHooksFn enable_hooks;
std::mutex lock;
const char* mode = "none";
int fds[2];
int finished = 0;

void with_mode(bool is_read, void (*call)()) {
  if (std::strcmp(mode, "held") == 0 || (is_read && std::strcmp(mode, "read") == 0)) {
    std::lock_guard<std::mutex> guard(lock);
    call();
  } else if (std::strcmp(mode, "around") == 0) {
    { std::lock_guard<std::mutex> guard(lock); }
    call();
    { std::lock_guard<std::mutex> guard(lock); }
  } else {
    call();
  }
}

void* reader(void*) {
  enable_hooks();
  with_mode(false, [] { poll(nullptr, 0, 10); });
  with_mode(false, [] { poll(nullptr, 0, 10); });
  with_mode(true, [] {
    char byte = 0;
    if (read(fds[0], &byte, 1) != 1) std::printf("read failed\n");
  });
  ++finished;
  return nullptr;
}

void* writer(void*) {
  enable_hooks();
  poll(nullptr, 0, 50);  // the reader is parked in read() by now
  if (write(fds[1], "x", 1) != 1) std::printf("write failed\n");
  ++finished;
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) mode = argv[1];
  auto create = reinterpret_cast<CreateFn>(dlsym(RTLD_DEFAULT, "co_create"));
  auto resume = reinterpret_cast<ResumeFn>(dlsym(RTLD_DEFAULT, "co_resume"));
  enable_hooks = reinterpret_cast<EnableHooksFn>(dlsym(RTLD_DEFAULT, "co_enable_hook_sys"));
  auto epoll = reinterpret_cast<EpollFn>(dlsym(RTLD_DEFAULT, "co_get_epoll_ct"));
  auto event_loop = reinterpret_cast<EventLoopFn>(dlsym(RTLD_DEFAULT, "co_eventloop"));
  if (create == nullptr || resume == nullptr || enable_hooks == nullptr || epoll == nullptr || event_loop == nullptr) {
    std::printf("no libco API: run with libcohook.so preloaded\n");
    return 2;
  }
  if (pipe(fds) != 0) return 1;
  stCoRoutine_t* coroutines[2] = {nullptr, nullptr};
  create(&coroutines[0], nullptr, &reader, nullptr);
  create(&coroutines[1], nullptr, &writer, nullptr);
  resume(coroutines[0]);
  resume(coroutines[1]);
  event_loop(
      epoll(), [](void*) { return finished == 2 ? -1 : 0; }, nullptr);
  std::printf("done\n");
  return 0;
}
