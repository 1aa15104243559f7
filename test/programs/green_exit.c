/* How a program ends, which corun must not change: argv[1] picks the way.
 *   return     main returns 3 with output still in stdio buffers and an atexit handler
 *   exit       a thread calls exit(5) while main waits in pthread_join and others sleep
 *   _exit      a thread calls _exit(6): nothing is flushed, no handler runs
 *   main-exit  main calls pthread_exit; the process ends (status 0) when the last thread does
 * stdout is a pipe in the test, so it is fully buffered: a lost flush would show. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void at_exit_handler(void) { printf("atexit handler ran\n"); }

static void* sleeps_forever(void* arg) {
  for (;;) sleep(1000);
  return arg;
}

static void* calls_exit(void* arg) {
  usleep(20000);
  printf("thread calls exit\n");
  exit(5);
  return arg;
}

static void* calls_underscore_exit(void* arg) {
  usleep(20000);
  printf("never flushed\n");
  _exit(6);
  return arg;
}

static void* finishes_later(void* arg) {
  usleep(50000);
  printf("last thread done\n");
  return arg;
}

int main(int argc, char** argv) {
  atexit(at_exit_handler);
  printf("main starts: %s\n", argc > 1 ? argv[1] : "(none)");
  pthread_t t, sleeper;
  if (argc > 1 && strcmp(argv[1], "main-exit") != 0) pthread_create(&sleeper, NULL, sleeps_forever, NULL);
  if (argc > 1 && strcmp(argv[1], "exit") == 0) {
    pthread_create(&t, NULL, calls_exit, NULL);
    pthread_join(t, NULL);
  } else if (argc > 1 && strcmp(argv[1], "_exit") == 0) {
    pthread_create(&t, NULL, calls_underscore_exit, NULL);
    pthread_join(t, NULL);
  } else if (argc > 1 && strcmp(argv[1], "main-exit") == 0) {
    pthread_create(&t, NULL, finishes_later, NULL);
    printf("main calls pthread_exit\n");
    pthread_exit(NULL);
  }
  printf("main returns\n");
  return 3;
}
