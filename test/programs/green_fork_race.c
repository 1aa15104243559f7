/* fork() while other threads hammer a mutex, a condition variable and a semaphore (legacy C,
 * no cohook header). Eight threads post and wait for one semaphore, and four of them also lock,
 * signal, wait with a short timeout and unlock one mutex and one condition variable; main forks
 * 200 times while holding the mutex. Each child owns the mutex (a copy of main, which held it),
 * unlocks it, locks it again, posts the semaphore and exits. (Not the condition variable: with
 * glibc a child's pthread_cond_signal may wait forever for waiters that did not survive.) Under
 * corun a hammering thread on the other scheduler thread may be inside the mutex's or the
 * semaphore's queue spin lock at the instant of a fork: the child must not spin on it forever. A child that has not exited after
 * 20 seconds is counted as hung and killed. `green_fork_race [FORKS]` prints the counts. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { kThreads = 8 };

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static sem_t semaphore;
static int stop;
static long rounds;

static struct timespec soon(void) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_nsec += 50000;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec += 1;
    deadline.tv_nsec -= 1000000000L;
  }
  return deadline;
}

/* Even threads post the semaphore and odd ones wait for it with a short timeout, without
 * pause: they keep editing its queue while main forks. Every other one also takes the mutex
 * and signals or waits on the condition variable, and so queues on the mutex that main holds
 * across each fork. */
static void* hammer(void* arg) {
  long index = (long)arg;
  while (!__atomic_load_n(&stop, __ATOMIC_SEQ_CST)) {
    if (index % 2 == 0) {
      sem_post(&semaphore);
    } else {
      struct timespec deadline = soon();
      sem_timedwait(&semaphore, &deadline);
    }
    /* Under corun a loop that never parks would keep main from running (README: a CPU-bound
     * green thread starves its neighbours). */
    sched_yield();
    if (index % 4 >= 2) continue;
    pthread_mutex_lock(&mutex);
    ++rounds;
    if (rounds % 2 == 0) {
      pthread_cond_signal(&cond);
    } else {
      struct timespec deadline = soon();
      pthread_cond_timedwait(&cond, &mutex, &deadline);
    }
    pthread_mutex_unlock(&mutex);
  }
  return NULL;
}

/* 1 if the child exited 0 within 20 s, 0 if it hung (then killed), -1 on another status. */
static int wait_child(pid_t pid) {
  for (int i = 0; i < 20000; ++i) {
    int status;
    pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 1 : -1;
    if (done < 0 && errno != EINTR) return -1;
    usleep(1000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  return 0;
}

int main(int argc, char** argv) {
  int forks = argc > 1 ? atoi(argv[1]) : 200;
  sem_init(&semaphore, 0, 0);
  pthread_t threads[kThreads];
  for (long i = 0; i < kThreads; ++i) pthread_create(&threads[i], NULL, hammer, (void*)i);
  int exited = 0, hung = 0, failed = 0;
  for (int i = 0; i < forks; ++i) {
    pthread_mutex_lock(&mutex);
    pid_t pid = fork();
    if (pid == 0) {
      pthread_mutex_unlock(&mutex);
      pthread_mutex_lock(&mutex);
      pthread_mutex_unlock(&mutex);
      sem_post(&semaphore);
      _exit(0);
    }
    pthread_mutex_unlock(&mutex);
    if (pid < 0) {
      ++failed;
      continue;
    }
    int result = wait_child(pid);
    if (result == 1) ++exited;
    else if (result == 0) ++hung;
    else ++failed;
    if (hung > 0) break;  /* one is enough to fail; do not wait 20 s per fork */
  }
  __atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
  pthread_mutex_lock(&mutex);
  pthread_cond_broadcast(&cond);
  pthread_mutex_unlock(&mutex);
  for (int i = 0; i < kThreads; ++i) pthread_join(threads[i], NULL);
  printf("children exited %d, hung %d, failed %d\n", exited, hung, failed);
  return hung == 0 && failed == 0 ? 0 : 1;
}
