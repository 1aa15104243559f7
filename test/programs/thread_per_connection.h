/* The accept loop the legacy test servers share, written as a program nobody here wrote would
 * write it: a blocking listener on 127.0.0.1 whose port is printed on stdout (the test reads it),
 * then one detached pthread per accepted connection, forever. */
#ifndef COHOOK_TEST_THREAD_PER_CONNECTION_H
#define COHOOK_TEST_THREAD_PER_CONNECTION_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

/* Returns 1 (after perror naming `who`) when the listener cannot be set up; otherwise never. */
static int serve_thread_per_connection(const char* who, void* (*handle)(void*)) {
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in address = {0};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, (struct sockaddr*)&address, sizeof address) != 0 || listen(listener, 4096) != 0) {
    perror(who);
    return 1;
  }
  socklen_t length = sizeof address;
  getsockname(listener, (struct sockaddr*)&address, &length);
  printf("%d\n", ntohs(address.sin_port));
  fflush(stdout);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  for (;;) {
    int fd = accept(listener, NULL, NULL);
    if (fd < 0) continue;
    pthread_t thread;
    if (pthread_create(&thread, &attr, handle, (void*)(long)fd) != 0) close(fd);
  }
}

#endif
