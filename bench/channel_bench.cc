// What a message through a cohook::Channel costs, with the public API only:
//   BM_Channel/capacity/threads   one producer sends kMessages ints to one consumer, inside
//                                 Runtime(threads).run; capacity 0 is unbuffered (every message
//                                 a hand-over between the two coroutines)
//   BM_SelectOfTwo                the consumer receives through Select over two channels fed by
//                                 two producers (one thread)
// Counter per_message: real time per message.
//
//   build/release/bench/channel_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include "cohook/cohook.hpp"

namespace {

constexpr int kMessages = 20'000;

void BM_Channel(benchmark::State& state) {
  const auto capacity = static_cast<std::size_t>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  long sum = 0;
  for (auto _ : state) {
    cohook::Runtime runtime(threads);
    runtime.run([&] {
      cohook::Channel<int> channel(capacity);
      cohook::go([&] {
        for (int i = 0; i < kMessages; ++i) channel.send(i);
        channel.close();
      });
      while (auto v = channel.recv()) sum += *v;
    });
  }
  if (sum != static_cast<long>(state.iterations()) * kMessages * (kMessages - 1) / 2)
    state.SkipWithError("lost messages");
  state.counters["per_message"] = benchmark::Counter(static_cast<double>(state.iterations()) * kMessages,
                                                     benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_Channel)->Args({0, 1})->Args({64, 1})->Args({0, 2})->Args({64, 2})->UseRealTime();

#if __has_include("cohook/select.hpp")
void BM_SelectOfTwo(benchmark::State& state) {
  long received = 0;
  for (auto _ : state) {
    cohook::Runtime runtime(1);
    runtime.run([&] {
      cohook::Channel<int> a(16), b(16);
      for (auto* ch : {&a, &b})
        cohook::go([ch] {
          for (int i = 0; i < kMessages / 2; ++i) ch->send(i);
        });
      for (int i = 0; i < kMessages; ++i)
        cohook::Select()
            .recv(a, [&](std::optional<int>) { ++received; })
            .recv(b, [&](std::optional<int>) { ++received; })
            .run();
    });
  }
  if (received != static_cast<long>(state.iterations()) * kMessages) state.SkipWithError("lost messages");
  state.counters["per_message"] = benchmark::Counter(static_cast<double>(state.iterations()) * kMessages,
                                                     benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_SelectOfTwo)->UseRealTime();
#endif

}  // namespace

BENCHMARK_MAIN();
