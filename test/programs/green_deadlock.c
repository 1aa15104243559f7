/* Legacy C programs (no cohook header) that deadlock, or merely look stuck, for the green-mode
 * deadlock tests. Run natively, the deadlocking ones hang for ever; under corun they must end
 * with the dump, "all coroutines are asleep - deadlock!" and exit status 2, and the others must
 * not. The mode is the first argument:
 *   join-cycle       three threads join each other in a cycle (main joins the first)
 *   cond-nobody      a thread waits on a condition variable nobody signals
 *   ab-ba            two threads lock mutexes A and B in opposite orders; a heartbeat thread
 *                    keeps running for 2 s meanwhile, then ends (and the deadlock is complete)
 *   slow             threads sleep, and one reads a pipe another writes 1 s later; exits 0
 *   stdin            a thread reads a line from stdin (which arrives late); exits 0
 *   socket           a thread waits in recv on a UDP socket nobody sends to (runs until killed)
 *   sigwait          a thread waits in sigwait for SIGUSR1, which another process sends late;
 *                    exits 0 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static pthread_t first, second, third;
static pthread_barrier_t both_started, all_three_started;  /* all_three_started: and main */

/* Each wait is in a function of its own, kept out of line, so that stacks name it. */
__attribute__((noinline)) static void join_the_next(pthread_t next) {
  pthread_join(next, NULL);
  __asm__ volatile("" ::: "memory");
}

/* A cycle of three: glibc answers a join of a thread that is joining the caller with EDEADLK,
 * so two threads joining each other is no deadlock there, but a longer cycle is. */
static void* joins_second(void* arg) {
  pthread_setname_np(pthread_self(), "joins-second");
  pthread_barrier_wait(&all_three_started);
  join_the_next(second);
  return arg;
}

static void* joins_third(void* arg) {
  pthread_setname_np(pthread_self(), "joins-third");
  pthread_barrier_wait(&all_three_started);
  join_the_next(third);
  return arg;
}

static void* joins_first(void* arg) {
  pthread_setname_np(pthread_self(), "joins-first");
  pthread_barrier_wait(&all_three_started);
  join_the_next(first);
  return arg;
}

static pthread_mutex_t lonely_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t nobody_signals = PTHREAD_COND_INITIALIZER;

__attribute__((noinline)) static void wait_for_a_signal_nobody_sends(void) {
  pthread_mutex_lock(&lonely_mutex);
  pthread_cond_wait(&nobody_signals, &lonely_mutex);
  pthread_mutex_unlock(&lonely_mutex);
}

static void* cond_waiter(void* arg) {
  pthread_setname_np(pthread_self(), "cond-waiter");
  wait_for_a_signal_nobody_sends();
  return arg;
}

static pthread_mutex_t mutex_a = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t mutex_b = PTHREAD_MUTEX_INITIALIZER;

__attribute__((noinline)) static void lock_in_order(pthread_mutex_t* first_lock, pthread_mutex_t* then) {
  pthread_mutex_lock(first_lock);
  pthread_barrier_wait(&both_started);  // both hold their first mutex before either goes on
  pthread_mutex_lock(then);
  pthread_mutex_unlock(then);
  pthread_mutex_unlock(first_lock);
}

static void* locks_a_then_b(void* arg) {
  pthread_setname_np(pthread_self(), "a-then-b");
  lock_in_order(&mutex_a, &mutex_b);
  return arg;
}

static void* locks_b_then_a(void* arg) {
  pthread_setname_np(pthread_self(), "b-then-a");
  lock_in_order(&mutex_b, &mutex_a);
  return arg;
}

static void* heartbeat(void* arg) {
  for (int i = 0; i < 20; ++i) usleep(100000);
  fprintf(stderr, "heartbeat done\n");
  return arg;
}

static int pipe_fds[2];

static void* sleeper(void* arg) {
  usleep(800000);
  return arg;
}

static void* late_writer(void* arg) {
  sleep(1);
  if (write(pipe_fds[1], "late\n", 5) != 5) exit(3);
  return arg;
}

__attribute__((noinline)) static void* pipe_reader(void* arg) {
  char buffer[16] = {0};
  if (read(pipe_fds[0], buffer, sizeof buffer - 1) <= 0) exit(4);
  printf("read %s", buffer);
  return arg;
}

static void* signal_waiter(void* arg) {
  (void)arg;
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  int signal = 0;
  if (sigwait(&usr1, &signal) != 0) exit(5);
  printf("got signal %d\n", signal);
  return NULL;
}

static void* stdin_reader(void* arg) {
  char line[64];
  if (fgets(line, sizeof line, stdin) == NULL) exit(5);
  printf("stdin %s", line);
  return arg;
}

static void* socket_waiter(void* arg) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in address;
  memset(&address, 0, sizeof address);
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr*)&address, sizeof address) != 0) exit(6);
  char buffer[16];
  recv(fd, buffer, sizeof buffer, 0);  /* nobody sends: waits until the process is killed */
  return arg;
}

static void start(pthread_t* thread, void* (*body)(void*)) {
  if (pthread_create(thread, NULL, body, NULL) != 0) exit(7);
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "";
  pthread_barrier_init(&both_started, NULL, 2);
  if (strcmp(mode, "join-cycle") == 0) {
    /* Main too: nobody reads first, second or third before every pthread_create has returned. */
    pthread_barrier_init(&all_three_started, NULL, 4);
    start(&first, joins_second);
    start(&second, joins_third);
    start(&third, joins_first);
    pthread_barrier_wait(&all_three_started);
    pthread_join(first, NULL);
  } else if (strcmp(mode, "cond-nobody") == 0) {
    start(&first, cond_waiter);
    pthread_join(first, NULL);
  } else if (strcmp(mode, "ab-ba") == 0) {
    pthread_t beat;
    start(&beat, heartbeat);
    start(&first, locks_a_then_b);
    start(&second, locks_b_then_a);
    pthread_join(beat, NULL);
    pthread_join(first, NULL);
    pthread_join(second, NULL);
  } else if (strcmp(mode, "slow") == 0) {
    if (pipe(pipe_fds) != 0) return 8;
    pthread_t a, b, reader, writer;
    start(&a, sleeper);
    start(&b, sleeper);
    start(&reader, pipe_reader);
    start(&writer, late_writer);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    pthread_join(reader, NULL);
    pthread_join(writer, NULL);
  } else if (strcmp(mode, "stdin") == 0) {
    start(&first, stdin_reader);
    pthread_join(first, NULL);
  } else if (strcmp(mode, "sigwait") == 0) {
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, NULL); /* inherited by the waiter, as sigwait requires */
    printf("waiting\n");
    fflush(stdout);
    start(&first, signal_waiter);
    pthread_join(first, NULL);
  } else if (strcmp(mode, "socket") == 0) {
    start(&first, socket_waiter);
    pthread_join(first, NULL);
  } else {
    fprintf(stderr, "usage: %s join-cycle|cond-nobody|ab-ba|slow|stdin|socket|sigwait\n", argv[0]);
    return 2;
  }
  printf("finished\n");
  return 0;
}
