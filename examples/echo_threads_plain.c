/* A classic thread-per-connection echo server, written the way legacy C servers are: a blocking
 * accept loop and one detached pthread per connection doing blocking read/write, with pthread's
 * default attributes. It knows nothing of cohook and is built without it (plain C, -pthread), so
 * the demo runs this very binary natively and under corun (green threads), unchanged.
 *
 *   echo_threads_plain --port 0 --max_seconds 60     # prints "port N" once it is listening
 *
 * It listens on 127.0.0.1 only and exits by itself after --max_seconds. */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "echo_common.h"

static void usage(FILE* out) {
  fprintf(out,
          "usage: echo_threads_plain [--port N] [--max_seconds N]\n"
          "  --port N         TCP port on 127.0.0.1 (0, the default: any free port; printed as 'port N')\n"
          "  --max_seconds N  safety limit: exit after N seconds (default 300)\n");
}

/* A whole number from low to high, or exit status 2 with a message naming the flag. */
static long parse_number(const char* flag, const char* text, long low, long high) {
  char* end = NULL;
  errno = 0;
  long value = strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value < low || value > high) {
    fprintf(stderr, "echo_threads_plain: --%s=%s: expected a whole number from %ld to %ld\n", flag, text, low, high);
    exit(2);
  }
  return value;
}

static double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void* connection_thread(void* arg) {
  serve_echo_connection((int)(intptr_t)arg);
  return NULL;
}

int main(int argc, char** argv) {
  long port = 0;
  long max_seconds = 300;
  static const struct option options[] = {
      {"port", required_argument, NULL, 'p'},
      {"max_seconds", required_argument, NULL, 'm'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  int option;
  while ((option = getopt_long(argc, argv, "", options, NULL)) != -1) {
    switch (option) {
      case 'p':
        port = parse_number("port", optarg, 0, 65535);
        break;
      case 'm':
        max_seconds = parse_number("max_seconds", optarg, 1, 86400);
        break;
      case 'h':
        usage(stdout);
        return 0;
      default:
        usage(stderr);
        return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "echo_threads_plain: unexpected argument '%s'\n", argv[optind]);
    usage(stderr);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN); /* a peer that resets must not kill the server */

  int listener = listen_on_loopback((int)port, 0, 0);
  if (listener < 0) {
    perror("echo_threads_plain: listen on 127.0.0.1");
    return 1;
  }
  printf("port %d\n", bound_port(listener));
  fflush(stdout);

  pthread_attr_t detached;
  pthread_attr_init(&detached);
  pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
  double deadline = now_seconds() + (double)max_seconds;
  for (;;) {
    /* Wake up now and then to honour --max_seconds; otherwise block in accept. */
    struct pollfd ready = {listener, POLLIN, 0};
    int r = poll(&ready, 1, 500);
    if (now_seconds() >= deadline) {
      fprintf(stderr, "echo_threads_plain: --max_seconds reached, exiting\n");
      fflush(NULL);
      _exit(0); /* connection threads go with the process */
    }
    if (r <= 0) continue;
    int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN) continue;
      perror("echo_threads_plain: accept");
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        usleep(10000); /* out of resources: let connections finish, then try again */
        continue;
      }
      return 1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pthread_t thread;
    int error = pthread_create(&thread, &detached, connection_thread, (void*)(intptr_t)fd);
    if (error != 0) {
      fprintf(stderr, "echo_threads_plain: cannot start a thread for a connection: %s\n", strerror(error));
      close(fd);
    }
  }
}
