/* Signals and threads (legacy C, no cohook header): per-thread masks, pthread_kill, raise,
 * sigwait and friends, sigsuspend and pause. `green_signals SCENARIO` prints a transcript that
 * must be the same with and without corun (test/green_signals_test.cc compares them).
 *
 * A signal aimed at a thread parked in read() is sent again every 100 ms until that thread
 * reports: a first one may land before the thread has reached read(), and then (with or
 * without corun) it interrupts nothing. The transcript does not depend on how many were sent. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t handled;
static void on_signal(int signal) { handled = signal; }

static void install(int signal, int flags) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_signal;
  action.sa_flags = flags;
  sigemptyset(&action.sa_mask);
  sigaction(signal, &action, NULL);
}

static void block(int how, int signal) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, signal);
  pthread_sigmask(how, &set, NULL);
}

static long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

static int get(int* flag) { return __atomic_load_n(flag, __ATOMIC_SEQ_CST); }
static void put(int* flag, int value) { __atomic_store_n(flag, value, __ATOMIC_SEQ_CST); }

/* A ticker: proof that the OS thread stayed free while another thread waited. */
static int ticks, stop_ticking;
static void* ticker(void* arg) {
  while (!get(&stop_ticking)) {
    usleep(2000);
    __atomic_add_fetch(&ticks, 1, __ATOMIC_SEQ_CST);
  }
  return arg;
}

/* ---- a thread parked in read() on its own pipe ---- */
struct reader {
  int fds[2];
  int block_usr1;
  int ready, done;
  ssize_t result;
  int error;
};

static void* read_once(void* arg) {
  struct reader* r = arg;
  block(r->block_usr1 ? SIG_BLOCK : SIG_UNBLOCK, SIGUSR1);
  char byte;
  put(&r->ready, 1);
  r->result = read(r->fds[0], &byte, 1);
  r->error = errno;
  put(&r->done, 1);
  return NULL;
}

static void start_reader(struct reader* r, pthread_t* thread, int block_usr1) {
  memset(r, 0, sizeof *r);
  pipe(r->fds);
  r->block_usr1 = block_usr1;
  pthread_create(thread, NULL, read_once, r);
  while (!get(&r->ready)) usleep(1000);
}

static void report(const char* who, struct reader* r) {
  if (r->result < 0) printf("%s: read -1 %s\n", who, r->error == EINTR ? "EINTR" : strerror(r->error));
  else printf("%s: read %zd\n", who, r->result);
}

/* Thread A blocks SIGUSR1, thread B does not, main blocks it too: a kill() to the process is
 * B's, and only B's read is cut short. */
static int masks(void) {
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGKILL);
  memset(&old, 0x5a, sizeof old);
  printf("block: %d\n", pthread_sigmask(SIG_BLOCK, &set, &old));
  printf("old had USR1 %d, byte 8 kept %d\n", sigismember(&old, SIGUSR1), ((unsigned char*)&old)[8] == 0x5a);
  pthread_sigmask(SIG_BLOCK, NULL, &old);
  printf("now USR1 %d KILL %d\n", sigismember(&old, SIGUSR1), sigismember(&old, SIGKILL));
  printf("bad how: %d, bad how without set: %d\n", pthread_sigmask(12345, &set, NULL), pthread_sigmask(12345, NULL, &old));
  errno = 0;
  int result = sigprocmask(12345, &set, NULL);
  printf("sigprocmask bad how: %d %s\n", result, errno == EINVAL ? "EINVAL" : "?");
  printf("sigprocmask: %d\n", sigprocmask(SIG_BLOCK, NULL, &old));
  install(SIGUSR1, 0);
  struct reader a, b;
  pthread_t ta, tb;
  start_reader(&a, &ta, 1);
  start_reader(&b, &tb, 0);
  for (int i = 0; i < 100 && !get(&b.done); ++i) {
    kill(getpid(), SIGUSR1);
    usleep(100000);
  }
  report("B", &b);
  printf("handler ran: %d\n", handled == SIGUSR1);
  usleep(100000);
  printf("A still waiting: %d\n", !get(&a.done));
  write(a.fds[1], "x", 1);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  report("A", &a);
  return 0;
}

/* pthread_kill at one thread parked in read: EINTR without SA_RESTART, restarted with it. */
static int kill_thread(int restart) {
  install(SIGUSR1, restart ? SA_RESTART : 0);
  struct reader r;
  pthread_t thread;
  start_reader(&r, &thread, 0);
  handled = 0;
  for (int i = 0; i < 100 && !get(&r.done); ++i) {
    pthread_kill(thread, SIGUSR1);
    usleep(100000);
    if (restart && handled) break;
  }
  printf("handler ran: %d\n", handled == SIGUSR1);
  if (restart) {
    usleep(100000);
    printf("still waiting after the handler: %d\n", !get(&r.done));
    write(r.fds[1], "x", 1);
  }
  pthread_join(thread, NULL);
  report(restart ? "SA_RESTART reader" : "reader", &r);
  return 0;
}

/* pthread_kill(self) and raise(): the handler has run when they return; 0 checks existence. */
static void* nothing(void* arg) { return arg; }
static int kill_self(void) {
  install(SIGUSR1, 0);
  handled = 0;
  printf("pthread_kill self: %d, handled before return: %d\n", pthread_kill(pthread_self(), SIGUSR1), handled == SIGUSR1);
  install(SIGUSR2, 0);
  handled = 0;
  printf("raise: %d, handled before return: %d\n", raise(SIGUSR2), handled == SIGUSR2);
  block(SIG_BLOCK, SIGUSR1);
  handled = 0;
  printf("while blocked: %d, handled: %d\n", pthread_kill(pthread_self(), SIGUSR1), handled);
  sigset_t pending;
  sigpending(&pending);
  printf("pending USR1: %d\n", sigismember(&pending, SIGUSR1));
  block(SIG_UNBLOCK, SIGUSR1);
  printf("handled once unblocked: %d\n", handled == SIGUSR1);
  pthread_t thread;
  pthread_create(&thread, NULL, nothing, NULL);
  usleep(100000);
  printf("signal 0 to a live thread: %d, to an exited one: %d\n", pthread_kill(pthread_self(), 0), pthread_kill(thread, 0));
  printf("glibc's own signal 32: %d\n", pthread_kill(pthread_self(), 32));
  pthread_join(thread, NULL);
  return 0;
}

/* The signal-thread pattern of servers: every thread blocks SIGINT and SIGTERM; one thread
 * sigwaits for them. A signal sent before that thread waits stays pending until it does. */
static int waiter_started;
static void* signal_thread(void* arg) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  put(&waiter_started, 1);
  for (;;) {
    siginfo_t info;
    int got = sigwaitinfo(&set, &info);
    printf("signal thread got %s from %s (code SI_USER %d)\n", got == SIGINT ? "SIGINT" : got == SIGTERM ? "SIGTERM" : "?",
           info.si_pid == getpid() ? "this process" : "elsewhere", info.si_code == SI_USER);
    fflush(stdout);
    if (got == SIGTERM) break;
  }
  int sig = 0;
  sigaddset(&set, SIGUSR1);
  printf("sigwait: %d", sigwait(&set, &sig));
  printf(" %s\n", sig == SIGUSR1 ? "SIGUSR1" : "?");
  return arg;
}

static int signal_thread_pattern(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, NULL);  /* before any thread: all of them inherit it */
  kill(getpid(), SIGINT);                  /* nobody takes it yet: pending for the process */
  sigset_t pending;
  sigpending(&pending);
  printf("SIGINT pending: %d\n", sigismember(&pending, SIGINT));
  pthread_t waiter, tick;
  pthread_create(&tick, NULL, ticker, NULL);
  pthread_create(&waiter, NULL, signal_thread, NULL);
  while (!get(&waiter_started)) usleep(1000);
  usleep(200000);
  kill(getpid(), SIGTERM);
  usleep(200000);
  pthread_kill(waiter, SIGUSR1);
  pthread_join(waiter, NULL);
  put(&stop_ticking, 1);
  pthread_join(tick, NULL);
  printf("ticker ran meanwhile: %d\n", get(&ticks) > 0);
  return 0;
}

/* sigtimedwait: EAGAIN at the timeout (the thread stays free meanwhile), a pending signal at
 * once, EINVAL for a bad timeout. */
static int timed_wait(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  pthread_t tick;
  pthread_create(&tick, NULL, ticker, NULL);
  struct timespec timeout = {0, 300000000};
  long start = now_ms();
  int got = sigtimedwait(&set, NULL, &timeout);
  int error = errno;
  long waited = now_ms() - start;
  printf("timed out: %d %s, waited 250-2000 ms: %d\n", got, error == EAGAIN ? "EAGAIN" : strerror(error),
         waited >= 250 && waited < 2000);
  put(&stop_ticking, 1);
  pthread_join(tick, NULL);
  printf("ticker ran meanwhile: %d\n", get(&ticks) > 0);
  struct timespec zero = {0, 0};
  errno = 0;
  got = sigtimedwait(&set, NULL, &zero);
  printf("zero timeout: %d %s\n", got, errno == EAGAIN ? "EAGAIN" : "?");
  raise(SIGUSR1);
  siginfo_t info;
  got = sigtimedwait(&set, &info, &timeout);
  /* SI_TKILL on older kernels, SI_USER on recent ones: the transcript shows which. */
  printf("pending: %s, code %d, from this process %d\n", got == SIGUSR1 ? "SIGUSR1" : "?", info.si_code,
         info.si_pid == getpid());
  struct timespec bad = {0, 1000000000};
  errno = 0;
  got = sigtimedwait(&set, NULL, &bad);
  printf("bad timeout: %d %s\n", got, errno == EINVAL ? "EINVAL" : "?");
  return 0;
}

/* sigsuspend and pause: -1/EINTR once a handler ran; sigsuspend restores the mask. */
static int kill_after_ms;
static void* send_later(void* arg) {
  usleep(get(&kill_after_ms) * 1000);
  kill(getpid(), (int)(long)arg);
  return NULL;
}

static int suspend_and_pause(void) {
  install(SIGUSR1, SA_RESTART);
  install(SIGUSR2, SA_RESTART);
  block(SIG_BLOCK, SIGUSR1);
  block(SIG_BLOCK, SIGUSR2);
  pthread_t sender, tick;
  pthread_create(&tick, NULL, ticker, NULL);
  put(&kill_after_ms, 200);
  pthread_create(&sender, NULL, send_later, (void*)(long)SIGUSR1);
  sigset_t open;
  sigemptyset(&open);
  handled = 0;
  int result = sigsuspend(&open);
  printf("sigsuspend: %d %s, handler ran: %d\n", result, errno == EINTR ? "EINTR" : "?", handled == SIGUSR1);
  pthread_join(sender, NULL);
  sigset_t now;
  pthread_sigmask(SIG_BLOCK, NULL, &now);
  printf("mask restored: USR1 %d USR2 %d\n", sigismember(&now, SIGUSR1), sigismember(&now, SIGUSR2));
  raise(SIGUSR2);  /* blocked: pending */
  handled = 0;
  result = sigsuspend(&open);
  printf("with one pending: %d %s, handler ran: %d\n", result, errno == EINTR ? "EINTR" : "?", handled == SIGUSR2);
  block(SIG_UNBLOCK, SIGUSR1);
  pthread_create(&sender, NULL, send_later, (void*)(long)SIGUSR1);
  handled = 0;
  result = pause();
  printf("pause: %d %s, handler ran: %d\n", result, errno == EINTR ? "EINTR" : "?", handled == SIGUSR1);
  pthread_join(sender, NULL);
  put(&stop_ticking, 1);
  pthread_join(tick, NULL);
  printf("ticker ran meanwhile: %d\n", get(&ticks) > 0);
  return 0;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char* scenario = argc > 1 ? argv[1] : "";
  if (strcmp(scenario, "masks") == 0) return masks();
  if (strcmp(scenario, "kill-thread") == 0) return kill_thread(0);
  if (strcmp(scenario, "kill-thread-restart") == 0) return kill_thread(1);
  if (strcmp(scenario, "kill-self") == 0) return kill_self();
  if (strcmp(scenario, "signal-thread") == 0) return signal_thread_pattern();
  if (strcmp(scenario, "timed-wait") == 0) return timed_wait();
  if (strcmp(scenario, "suspend") == 0) return suspend_and_pause();
  fprintf(stderr, "usage: green_signals masks|kill-thread|kill-thread-restart|kill-self|signal-thread|timed-wait|suspend\n");
  return 2;
}
