// A classic thread-per-connection echo server: one blocking accept loop, one OS thread per
// connection doing blocking read/write. Plain POSIX code that knows nothing of cohook; the
// demo runs it as is, with libcohook.so preloaded, and (once it exists) under corun.
//
//   echo_threads --port 0 --max_seconds 60     # prints "port N" once it is listening
//
// It listens on 127.0.0.1 only and exits by itself after --max_seconds.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <system_error>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "echo_common.h"

ABSL_FLAG(int, port, 0, "TCP port on 127.0.0.1 (0: any free port; the chosen one is printed as 'port N')");
ABSL_FLAG(int, max_seconds, 300, "safety limit: exit after this many seconds");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  signal(SIGPIPE, SIG_IGN);  // a peer that resets must not kill the server

  int listener = listen_on_loopback(absl::GetFlag(FLAGS_port));
  if (listener < 0) {
    perror("echo_threads: listen on 127.0.0.1");
    return 1;
  }
  printf("port %d\n", bound_port(listener));
  fflush(stdout);

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(absl::GetFlag(FLAGS_max_seconds));
  for (;;) {
    // Wake up now and then to honour --max_seconds; otherwise block in accept.
    pollfd ready{listener, POLLIN, 0};
    int r = poll(&ready, 1, 500);
    if (std::chrono::steady_clock::now() >= deadline) {
      fprintf(stderr, "echo_threads: --max_seconds reached, exiting\n");
      fflush(nullptr);
      _exit(0);  // connection threads go with the process
    }
    if (r <= 0) continue;
    int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN) continue;
      perror("echo_threads: accept");
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        usleep(10000);  // out of resources: let connections finish, then try again
        continue;
      }
      return 1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    try {
      std::thread(serve_echo_connection, fd).detach();
    } catch (const std::system_error& e) {
      fprintf(stderr, "echo_threads: cannot start a thread for a connection: %s\n", e.what());
      close(fd);
    }
  }
}
