/* fork() and exec from a green thread while other threads run (legacy C): a child that execs,
 * popen(), and a child that does not exec and ends with exit(). The transcript must be the
 * same with and without corun. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int stop;
static void* busy(void* arg) {
  while (!__atomic_load_n(&stop, __ATOMIC_SEQ_CST)) usleep(1000);
  return arg;
}

static void* forker(void* arg) {
  int status;
  fflush(stdout);
  pid_t child = fork();
  if (child == 0) {
    execl("/bin/sh", "sh", "-c", "echo exec child says hi; exit 4", (char*)NULL);
    _exit(127);
  }
  waitpid(child, &status, 0);
  printf("exec child exit status %d\n", WEXITSTATUS(status));

  FILE* p = popen("echo through popen", "r");
  char line[64] = "";
  if (p != NULL && fgets(line, sizeof line, p) != NULL) printf("popen read: %s", line);
  printf("pclose %d\n", p != NULL ? WEXITSTATUS(pclose(p)) : -1);

  fflush(stdout);
  child = fork();
  if (child == 0) {
    printf("plain child runs on\n");
    exit(9); /* flushes the child's stdio, runs its atexit handlers */
  }
  waitpid(child, &status, 0);
  printf("plain child exit status %d\n", WEXITSTATUS(status));
  return arg;
}

int main(void) {
  pthread_t b[3], f;
  for (int i = 0; i < 3; i++) pthread_create(&b[i], NULL, busy, NULL);
  pthread_create(&f, NULL, forker, NULL);
  pthread_join(f, NULL);
  __atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
  for (int i = 0; i < 3; i++) pthread_join(b[i], NULL);
  printf("parent done\n");
  return 0;
}
