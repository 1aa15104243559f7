// Hook layer costs.
//  1. Pass-through: a hooked call made outside any coroutine against the real libc function
//     (found with dlsym(RTLD_NEXT), as the hook itself does). Target: <= 5 ns extra per call.
//  2. A socketpair ping-pong of one byte: two coroutines on one scheduler thread (blocking-style
//     code through the hooks) against two threads (blocking calls, kernel wake-ups) and against
//     a hand-written epoll loop on one thread (the floor). Ratios are printed after the run.
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include "cohook/cohook.hpp"

namespace {

template <class Pointer>
Pointer next_symbol(const char* name) {
  return reinterpret_cast<Pointer>(::dlsym(RTLD_NEXT, name));
}

int dev_zero() {
  static int fd = ::open("/dev/zero", O_RDONLY | O_CLOEXEC);
  return fd;
}

void BM_Read_Real(benchmark::State& state) {
  auto real_read = next_symbol<ssize_t (*)(int, void*, size_t)>("read");
  char c;
  for (auto _ : state) benchmark::DoNotOptimize(real_read(dev_zero(), &c, 1));
}
BENCHMARK(BM_Read_Real);

void BM_Read_Hooked(benchmark::State& state) {
  char c;
  for (auto _ : state) benchmark::DoNotOptimize(::read(dev_zero(), &c, 1));
}
BENCHMARK(BM_Read_Hooked);

void BM_Poll_Real(benchmark::State& state) {
  auto real_poll = next_symbol<int (*)(pollfd*, nfds_t, int)>("poll");
  pollfd entry{dev_zero(), POLLIN, 0};
  for (auto _ : state) benchmark::DoNotOptimize(real_poll(&entry, 1, 0));
}
BENCHMARK(BM_Poll_Real);

void BM_Poll_Hooked(benchmark::State& state) {
  pollfd entry{dev_zero(), POLLIN, 0};
  for (auto _ : state) benchmark::DoNotOptimize(::poll(&entry, 1, 0));
}
BENCHMARK(BM_Poll_Hooked);

// Out of line so that callgrind can count it alone: valgrind --tool=callgrind
// --toggle-collect='*ready_read*' gives the instructions of the hooked read (user space), and
// main() prints how many calls there were.
long g_ready_reads = 0;
[[gnu::noinline]] ssize_t ready_read(int fd, char* c) {
  ++g_ready_reads;
  return ::read(fd, c, 1);
}

// A read that finds its byte at once inside a coroutine: the per-call cost of the non-blocking
// attempt (range(0): 0 socketpair, 1 pipe). Each iteration also writes the byte it reads.
void BM_ReadyRead_Coroutine(benchmark::State& state) {
  int fds[2];  // read from fds[0], write to fds[1]
  int made = state.range(0) == 0 ? ::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) : ::pipe(fds);
  if (made != 0) std::abort();
  int reader = fds[0];
  int writer = fds[1];
  cohook::Runtime runtime(1);
  runtime.run([&] {
    char c = 'r';
    for (auto _ : state) {
      if (::write(writer, &c, 1) != 1) std::abort();
      benchmark::DoNotOptimize(ready_read(reader, &c));
    }
  });
  ::close(fds[0]);
  ::close(fds[1]);
  state.SetLabel(state.range(0) == 0 ? "socketpair" : "pipe");
}
BENCHMARK(BM_ReadyRead_Coroutine)->Arg(0)->Arg(1);

// ---- ping-pong ----

constexpr int kRoundTrips = 20000;
std::map<std::string, std::vector<double>> g_ns_per_round_trip;

void record(benchmark::State& state, const char* name, std::chrono::steady_clock::duration elapsed) {
  double ns = std::chrono::duration<double, std::nano>(elapsed).count() / kRoundTrips;
  g_ns_per_round_trip[name].push_back(ns);
  state.SetIterationTime(std::chrono::duration<double>(elapsed).count());
  state.counters["ns_per_round_trip"] = ns;
}

void echo_loop(int fd, bool starts) {
  char c = 'p';
  for (int i = 0; i < kRoundTrips; ++i) {
    if (starts && ::write(fd, &c, 1) != 1) std::abort();
    if (::read(fd, &c, 1) != 1) std::abort();
    if (!starts && ::write(fd, &c, 1) != 1) std::abort();
  }
}

void BM_PingPong_Coroutines(benchmark::State& state) {
  for (auto _ : state) {
    int sv[2];
    ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    std::chrono::steady_clock::duration elapsed{};
    cohook::Runtime runtime(1);
    runtime.run([&] {
      auto start = std::chrono::steady_clock::now();
      cohook::JoinHandle ponger = cohook::go([&] { echo_loop(sv[1], false); });
      echo_loop(sv[0], true);
      ponger.join();
      elapsed = std::chrono::steady_clock::now() - start;
    });
    ::close(sv[0]);
    ::close(sv[1]);
    record(state, "coroutines", elapsed);
  }
}
BENCHMARK(BM_PingPong_Coroutines)->UseManualTime()->Iterations(5);

void BM_PingPong_Threads(benchmark::State& state) {
  for (auto _ : state) {
    int sv[2];
    ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    auto start = std::chrono::steady_clock::now();
    std::thread ponger([&] { echo_loop(sv[1], false); });
    echo_loop(sv[0], true);
    ponger.join();
    auto elapsed = std::chrono::steady_clock::now() - start;
    ::close(sv[0]);
    ::close(sv[1]);
    record(state, "threads", elapsed);
  }
}
BENCHMARK(BM_PingPong_Threads)->UseManualTime()->Iterations(5);

// Both ends in one thread: edge-triggered epoll and non-blocking sockets, written by hand.
void BM_PingPong_EpollLoop(benchmark::State& state) {
  for (auto _ : state) {
    int sv[2];
    ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
    int epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < 2; ++i) {
      epoll_event event{};
      event.events = EPOLLIN | EPOLLET;
      event.data.u32 = static_cast<std::uint32_t>(i);
      ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, sv[i], &event);
    }
    auto start = std::chrono::steady_clock::now();
    char c = 'p';
    int completed = 0;
    if (::write(sv[0], &c, 1) != 1) std::abort();
    epoll_event events[2];
    while (completed < kRoundTrips) {
      int n = ::epoll_wait(epoll_fd, events, 2, -1);
      for (int i = 0; i < n; ++i) {
        int side = static_cast<int>(events[i].data.u32);
        while (::read(sv[side], &c, 1) == 1) {
          if (side == 1) {
            if (::write(sv[1], &c, 1) != 1) std::abort();
          } else if (++completed < kRoundTrips) {
            if (::write(sv[0], &c, 1) != 1) std::abort();
          }
        }
      }
    }
    auto elapsed = std::chrono::steady_clock::now() - start;
    ::close(epoll_fd);
    ::close(sv[0]);
    ::close(sv[1]);
    record(state, "epoll_loop", elapsed);
  }
}
BENCHMARK(BM_PingPong_EpollLoop)->UseManualTime()->Iterations(5);

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0 : values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (g_ready_reads > 0) std::printf("ready_read calls: %ld\n", g_ready_reads);
  if (g_ns_per_round_trip.size() == 3) {
    double coroutines = median(g_ns_per_round_trip["coroutines"]);
    double threads = median(g_ns_per_round_trip["threads"]);
    double epoll_loop = median(g_ns_per_round_trip["epoll_loop"]);
    std::printf("\nping-pong, median ns per round trip: coroutines %.0f, threads %.0f, epoll loop %.0f\n",
                coroutines, threads, epoll_loop);
    std::printf("ratios: threads / coroutines = %.2f, coroutines / epoll loop = %.2f\n", threads / coroutines,
                coroutines / epoll_loop);
  }
  return 0;
}
