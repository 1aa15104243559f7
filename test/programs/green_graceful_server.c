/* A thread-per-connection echo server that stops on SIGTERM (legacy C, no cohook header). Its
 * handler has no SA_RESTART: the kernel gives the signal to the main thread, whose accept()
 * fails with EINTR; main sees the flag, stops accepting, and waits for the connections in
 * flight to finish before it exits with status 0. Connection threads treat any read or write
 * error, EINTR included, as the end of their connection, so a signal that reached them would
 * lose bytes. Prints its port, then "stopped after N connections" on stdout. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;
static void on_term(int signal) {
  (void)signal;
  stopping = 1;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t all_done = PTHREAD_COND_INITIALIZER;
static int in_flight;

static void* serve(void* arg) {
  int fd = (int)(long)arg;
  char buffer[16384];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    if (write(fd, buffer, (size_t)n) != n) break;
  }
  close(fd);
  pthread_mutex_lock(&lock);
  if (--in_flight == 0) pthread_cond_broadcast(&all_done);
  pthread_mutex_unlock(&lock);
  return NULL;
}

int main(void) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_term;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0; /* no SA_RESTART: accept() returns EINTR */
  sigaction(SIGTERM, &action, NULL);

  int listener = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in address = {0};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, (struct sockaddr*)&address, sizeof address) != 0 || listen(listener, 4096) != 0) {
    perror("graceful server: bind/listen");
    return 1;
  }
  socklen_t length = sizeof address;
  getsockname(listener, (struct sockaddr*)&address, &length);
  printf("%d\n", ntohs(address.sin_port));
  fflush(stdout);

  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int accepted = 0, interrupted = 0;
  while (!stopping) {
    int fd = accept(listener, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR) ++interrupted;
      continue; /* the loop condition sees the flag */
    }
    ++accepted;
    pthread_mutex_lock(&lock);
    ++in_flight;
    pthread_mutex_unlock(&lock);
    pthread_t thread;
    if (pthread_create(&thread, &attr, serve, (void*)(long)fd) != 0) {
      close(fd);
      pthread_mutex_lock(&lock);
      --in_flight;
      pthread_mutex_unlock(&lock);
    }
  }
  close(listener);
  pthread_mutex_lock(&lock);
  while (in_flight > 0) pthread_cond_wait(&all_done, &lock);
  pthread_mutex_unlock(&lock);
  printf("stopped after %d connections, accept interrupted: %d\n", accepted, interrupted > 0);
  return 0;
}
