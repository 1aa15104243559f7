#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include <cohook/cohook.hpp>

int main() {
  cohook::Runtime runtime(2);  // two scheduler threads
  runtime.run([] {
    int fds[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, fds);

    cohook::WaitGroup done;
    done.add(1);
    cohook::go([&] {  // plain blocking read(): only this coroutine waits
      char buf[64];
      ssize_t n = read(fds[1], buf, sizeof buf);
      std::printf("read %zd bytes: %.*s\n", n, static_cast<int>(n), buf);
      done.done();
    });

    cohook::Channel<int> squares(4);
    cohook::go([&] {
      for (int i = 1; i <= 3; ++i) squares.send(i * i);
      squares.close();
    });
    int sum = 0;
    while (auto n = squares.recv()) sum += *n;

    cohook::this_coroutine::sleep_for(std::chrono::milliseconds(10));
    write(fds[0], "hello", 5);
    done.wait();
    std::printf("sum of squares: %d\n", sum);
  });
}
