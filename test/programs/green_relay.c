/* A blocking relay (proxy), written as legacy code (no cohook header): for each client it
 * connects to the upstream port given as argv[1] and copies both ways with two threads, each a
 * plain blocking read/write loop that shuts down the other side's writing half at EOF. Prints
 * its own port on stdout, then serves until killed. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "thread_per_connection.h"

struct pipe_pair {
  int from, to;
};

static void* copy(void* arg) {
  struct pipe_pair* p = arg;
  char buffer[16384];
  for (;;) {
    ssize_t n = read(p->from, buffer, sizeof buffer);
    if (n <= 0) break;
    if (write(p->to, buffer, (size_t)n) != n) break;
  }
  shutdown(p->to, SHUT_WR);
  return NULL;
}

static int upstream_port;

static void* relay(void* arg) {
  int client = (int)(long)arg;
  int upstream = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in address = {0};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons((unsigned short)upstream_port);
  if (connect(upstream, (struct sockaddr*)&address, sizeof address) != 0) {
    perror("relay: connect");
    close(client);
    close(upstream);
    return NULL;
  }
  struct pipe_pair up = {client, upstream}, down = {upstream, client};
  pthread_t upward;
  pthread_create(&upward, NULL, copy, &up);
  copy(&down);
  pthread_join(upward, NULL);
  close(client);
  close(upstream);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: green_relay UPSTREAM_PORT\n");
    return 2;
  }
  upstream_port = atoi(argv[1]);
  return serve_thread_per_connection("relay: bind/listen", relay);
}
