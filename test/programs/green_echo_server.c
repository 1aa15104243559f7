/* A thread-per-connection echo server, written as legacy code (no cohook header): blocking
 * accept, one detached pthread per connection, blocking read/write. Prints its port on stdout,
 * then serves until killed. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "thread_per_connection.h"

static void* serve(void* arg) {
  int fd = (int)(long)arg;
  char buffer[16384];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    if (write(fd, buffer, (size_t)n) != n) break;
  }
  close(fd);
  return NULL;
}

int main(void) {
  return serve_thread_per_connection("echo server: bind/listen", serve);
}
