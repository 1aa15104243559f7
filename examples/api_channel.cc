#include <chrono>
#include <cstdio>

#include <cohook/cohook.hpp>

using namespace std::chrono_literals;

int main() {
  cohook::Runtime runtime(2);
  runtime.run([] {
    cohook::Channel<int> jobs(1);
    std::printf("try_send: %d\n", jobs.try_send(1));        // room in the buffer
    std::printf("try_send: %d\n", jobs.try_send(2));        // full: would wait
    std::printf("send_for: %d\n", jobs.send_for(3, 10ms));  // still full after 10 ms
    std::printf("recv_for: %d\n", *jobs.recv_for(10ms));
    std::printf("recv_for timed out: %d\n", !jobs.recv_for(10ms) && !jobs.closed());
    jobs.close();
    std::printf("try_recv after close: %d\n", jobs.try_recv().has_value());
  });
}
