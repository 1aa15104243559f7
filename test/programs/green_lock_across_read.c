/* A mutex held across a blocking read (legacy C, no cohook header). Thread A takes the mutex and
 * blocks in read() on a pipe; thread B waits for the mutex; a ticker keeps ticking meanwhile.
 * Under corun with 2 scheduler threads, all of this runs on 2 OS threads: if the read or the
 * mutex wait blocked a scheduler thread, the ticker (or main) would stop. The transcript is the
 * same with and without corun; the OS thread count goes to stderr. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int pipe_fds[2];
static int a_holds, stop_ticking, ticks;
static char got[16];

static void* reader_holding_lock(void* arg) {
  pthread_mutex_lock(&lock);
  __atomic_store_n(&a_holds, 1, __ATOMIC_SEQ_CST);
  ssize_t n = read(pipe_fds[0], got, sizeof got - 1);
  if (n > 0) got[n] = '\0';
  usleep(20000);
  pthread_mutex_unlock(&lock);
  return arg;
}

static int b_got_lock_after_read;
static void* waits_for_lock(void* arg) {
  pthread_mutex_lock(&lock);
  b_got_lock_after_read = got[0] != '\0';
  pthread_mutex_unlock(&lock);
  return arg;
}

static void* ticker(void* arg) {
  while (!__atomic_load_n(&stop_ticking, __ATOMIC_SEQ_CST)) {
    usleep(1000);
    __atomic_add_fetch(&ticks, 1, __ATOMIC_SEQ_CST);
  }
  return arg;
}

static void print_os_threads(void) {
  char line[128];
  FILE* f = fopen("/proc/self/status", "r");
  while (f != NULL && fgets(line, sizeof line, f) != NULL)
    if (strncmp(line, "Threads:", 8) == 0) fprintf(stderr, "os %s", line);
  if (f != NULL) fclose(f);
}

int main(void) {
  pthread_t a, b, c;
  pipe(pipe_fds);
  pthread_create(&a, NULL, reader_holding_lock, NULL);
  while (!__atomic_load_n(&a_holds, __ATOMIC_SEQ_CST)) usleep(1000);
  pthread_create(&b, NULL, waits_for_lock, NULL);
  pthread_create(&c, NULL, ticker, NULL);
  usleep(200000);
  int ticks_while_blocked = __atomic_load_n(&ticks, __ATOMIC_SEQ_CST);
  print_os_threads();
  write(pipe_fds[1], "payload", 7);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  __atomic_store_n(&stop_ticking, 1, __ATOMIC_SEQ_CST);
  pthread_join(c, NULL);
  printf("A read: %s\n", got);
  printf("B got the lock after the read: %d\n", b_got_lock_after_read);
  printf("ticker ran while A was blocked (>= 20 ticks): %d\n", ticks_while_blocked >= 20);
  return 0;
}
