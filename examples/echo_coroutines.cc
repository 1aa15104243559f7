// The thread-per-connection echo server again, written the same blocking way, but with one
// coroutine per connection on a few scheduler threads. accept, read and write are the plain libc
// calls: inside a coroutine cohook's hooks park the coroutine instead of blocking the thread.
//
//   echo_coroutines --port 0 --threads 2 --max_seconds 60   # prints "port N" once listening
//
// It listens on 127.0.0.1 only and exits by itself after --max_seconds.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "cohook/cohook.hpp"
#include "echo_common.h"

ABSL_FLAG(int, port, 0, "TCP port on 127.0.0.1 (0: any free port; the chosen one is printed as 'port N')");
ABSL_FLAG(int, max_seconds, 300, "safety limit: exit after this many seconds");
ABSL_FLAG(int, threads, 2, "scheduler threads");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  signal(SIGPIPE, SIG_IGN);  // a peer that resets must not kill the server
  int max_seconds = absl::GetFlag(FLAGS_max_seconds);
  int port = absl::GetFlag(FLAGS_port);

  cohook::Runtime runtime(absl::GetFlag(FLAGS_threads));
  runtime.run([&] {
    // The safety limit is a coroutine too: it sleeps without holding a thread.
    cohook::go([max_seconds] {
      cohook::this_coroutine::sleep_for(std::chrono::seconds(max_seconds));
      fprintf(stderr, "echo_coroutines: --max_seconds reached, exiting\n");
      fflush(nullptr);
      _exit(0);  // connection coroutines go with the process
    });

    int listener = listen_on_loopback(port, 0, 0);
    if (listener < 0) {
      perror("echo_coroutines: listen on 127.0.0.1");
      fflush(nullptr);
      _exit(1);  // the watchdog would otherwise keep run() going
    }
    printf("port %d\n", bound_port(listener));
    fflush(stdout);

    for (;;) {
      int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);  // parks until a client comes
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN) continue;
        perror("echo_coroutines: accept");
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          usleep(10000);  // parks too: let connections finish, then try again
          continue;
        }
        fflush(nullptr);
        _exit(1);
      }
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      cohook::go([fd] { serve_echo_connection(fd); });  // the thread server's very function
    }
  });
  return 0;
}
