/* fork() from a busy threaded program (legacy C), in four scenarios picked by argv[1]. Every
 * line printed is the same with and without corun; lines starting "info:" go to stderr and
 * carry what may differ (OS thread counts).
 *   busy      50 threads: readers parked in read(), holders parked in read() with a mutex
 *             held, waiters queued on a mutex the forker holds, tickers. The child has only
 *             the forker: held mutexes stay held, the queued waiters are gone (unlock then
 *             trylock succeeds), none of the others runs; it starts threads of its own, does
 *             I/O with them and exits with a status the parent's waitpid sees.
 *   exec      fork + exec of this program ("exec-child") writing into a pipe the parent's
 *             green thread reads while the others run.
 *   daemon    the double-fork daemon pattern: the grandchild (setsid, threads) reports
 *             through a pipe after its parent has exited.
 *   system    system() and popen() from one thread while the others keep running.
 *   signal    a thread other than main forks; the child, parked in read(), is interrupted by a
 *             SIGUSR1 its parent sends (handler without SA_RESTART): the signal reaches the
 *             child's one thread, not a thread that vanished with the fork.
 *   startup   runs for 300 ms without a blocking call, then forks 50 times, as a shell
 *             running command substitutions does. */
#define _GNU_SOURCE
#include <dirent.h>
#include <signal.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { kReaders = 20, kHolders = 10, kWaiters = 5, kTickers = 14 }; /* + main + forker = 50 */

static pid_t g_parent;
static pid_t g_parent_session;
static int g_stop;
static long g_ticks;
static pthread_mutex_t g_queued = PTHREAD_MUTEX_INITIALIZER; /* held by the forker */
static pthread_mutex_t g_held[kHolders];
static int g_reader_pipe[kReaders][2];
static int g_holder_pipe[kHolders][2];

static int os_threads(void) {
  int n = 0;
  DIR* d = opendir("/proc/self/task");
  if (d == NULL) return -1;
  struct dirent* e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

static void ghost_check(const char* who) {
  /* A thread of the parent must never run in the child. */
  if (getpid() != g_parent) printf("BUG: %s ran in the child\n", who);
}

static void* reader(void* arg) {
  int i = (int)(long)arg;
  char byte;
  ssize_t n = read(g_reader_pipe[i][0], &byte, 1);
  ghost_check("a reader");
  return (void*)(long)n;
}

static void* holder(void* arg) {
  int i = (int)(long)arg;
  char byte;
  pthread_mutex_lock(&g_held[i]);
  ssize_t n = read(g_holder_pipe[i][0], &byte, 1); /* parked with the mutex held */
  ghost_check("a mutex holder");
  pthread_mutex_unlock(&g_held[i]);
  return (void*)(long)n;
}

static void* waiter(void* arg) {
  pthread_mutex_lock(&g_queued);
  ghost_check("a queued waiter");
  pthread_mutex_unlock(&g_queued);
  return arg;
}

static void* ticker(void* arg) {
  while (!__atomic_load_n(&g_stop, __ATOMIC_SEQ_CST)) {
    usleep(1000);
    __atomic_add_fetch(&g_ticks, 1, __ATOMIC_SEQ_CST);
    ghost_check("a ticker");
  }
  return arg;
}

/* ---- what the child does with threads of its own ---- */

static pthread_mutex_t g_child_lock = PTHREAD_MUTEX_INITIALIZER;
static long g_child_total;

static void* child_pinger(void* arg) {
  int fds[2];
  long sum = 0;
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return NULL;
  for (int i = 0; i < 100; i++) {
    int v = i, w = -1;
    if (write(fds[0], &v, sizeof v) != sizeof v || read(fds[1], &w, sizeof w) != sizeof w) break;
    sum += w;
  }
  close(fds[0]);
  close(fds[1]);
  pthread_mutex_lock(&g_child_lock);
  g_child_total += sum;
  pthread_mutex_unlock(&g_child_lock);
  return arg;
}

static int run_child_threads(void) {
  pthread_t t[8];
  for (int i = 0; i < 8; i++) pthread_create(&t[i], NULL, child_pinger, NULL);
  for (int i = 0; i < 8; i++) pthread_join(t[i], NULL);
  return (int)g_child_total;
}

static void fork_busy(void) {
  pthread_t r[kReaders], h[kHolders], w[kWaiters], k[kTickers];
  pthread_mutex_lock(&g_queued);
  for (int i = 0; i < kReaders; i++) {
    if (pipe(g_reader_pipe[i]) != 0) exit(20);
    pthread_create(&r[i], NULL, reader, (void*)(long)i);
  }
  for (int i = 0; i < kHolders; i++) {
    pthread_mutex_init(&g_held[i], NULL);
    if (pipe(g_holder_pipe[i]) != 0) exit(21);
    pthread_create(&h[i], NULL, holder, (void*)(long)i);
  }
  for (int i = 0; i < kWaiters; i++) pthread_create(&w[i], NULL, waiter, NULL);
  for (int i = 0; i < kTickers; i++) pthread_create(&k[i], NULL, ticker, NULL);
  /* Let every holder take its mutex and every waiter queue up. */
  for (int i = 0; i < kHolders; i++)
    while (pthread_mutex_trylock(&g_held[i]) == 0) {
      pthread_mutex_unlock(&g_held[i]);
      usleep(1000);
    }
  usleep(50 * 1000);

  fflush(stdout);
  pid_t child = fork();
  if (child < 0) exit(22);
  if (child == 0) {
    printf("child: trylock of a mutex a vanished thread holds: %s\n",
           strerror(pthread_mutex_trylock(&g_held[3])));
    struct timespec soon;
    clock_gettime(CLOCK_REALTIME, &soon);
    soon.tv_nsec += 100 * 1000 * 1000;
    if (soon.tv_nsec >= 1000000000) soon.tv_sec++, soon.tv_nsec -= 1000000000;
    printf("child: timedlock of it: %s\n", strerror(pthread_mutex_timedlock(&g_held[3], &soon)));
    pthread_mutex_unlock(&g_queued); /* its queued waiters are gone with their threads */
    printf("child: trylock after unlocking the mutex others queued on: %s\n",
           strerror(pthread_mutex_trylock(&g_queued)));
    /* Wake what would wake the vanished readers and holders: nobody runs. */
    for (int i = 0; i < kReaders; i++) write(g_reader_pipe[i][1], "x", 1);
    for (int i = 0; i < kHolders; i++) write(g_holder_pipe[i][1], "x", 1);
    usleep(100 * 1000);
    long ticks = __atomic_load_n(&g_ticks, __ATOMIC_SEQ_CST);
    usleep(50 * 1000);
    printf("child: the tickers stayed still: %s\n", ticks == __atomic_load_n(&g_ticks, __ATOMIC_SEQ_CST) ? "yes" : "no");
    printf("child: its own 8 threads echoed %d\n", run_child_threads());
    fprintf(stderr, "info: child OS threads %d\n", os_threads());
    exit(7); /* flushes stdio, as without corun */
  }
  int status = 0;
  pid_t got = waitpid(child, &status, 0);
  printf("parent: waitpid %s, child exit status %d\n", got == child ? "ok" : "failed",
         WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  /* The parent's threads are all still there and unaffected. Drain what the child wrote. */
  pthread_mutex_unlock(&g_queued);
  for (int i = 0; i < kWaiters; i++) pthread_join(w[i], NULL);
  long read_ok = 0;
  for (int i = 0; i < kReaders; i++) {
    void* n;
    pthread_join(r[i], &n);
    read_ok += (long)n == 1;
  }
  for (int i = 0; i < kHolders; i++) {
    void* n;
    pthread_join(h[i], &n);
    read_ok += (long)n == 1;
  }
  __atomic_store_n(&g_stop, 1, __ATOMIC_SEQ_CST);
  for (int i = 0; i < kTickers; i++) pthread_join(k[i], NULL);
  printf("parent: %ld of %d parked readers got their byte; tickers ticked: %s\n", read_ok, kReaders + kHolders,
         g_ticks > 0 ? "yes" : "no");
}

/* ---- fork + exec sharing a pipe ---- */

static void* exec_child_writer(void* arg) {
  int fd = (int)(long)arg;
  char line[32];
  int n = snprintf(line, sizeof line, "line from a thread\n");
  usleep(20 * 1000);
  return (void*)(long)(write(fd, line, n) == n);
}

static int exec_child(void) {
  pthread_t t[4];
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, exec_child_writer, (void*)(long)STDOUT_FILENO);
  fprintf(stderr, "info: exec'd child OS threads %d with 5 program threads\n", os_threads());
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  return 4;
}

static void fork_exec(const char* self) {
  pthread_t k[kTickers];
  for (int i = 0; i < kTickers; i++) pthread_create(&k[i], NULL, ticker, NULL);
  int fds[2];
  if (pipe(fds) != 0) exit(30);
  fflush(stdout);
  pid_t child = fork();
  if (child == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execl(self, self, "exec-child", (char*)NULL);
    _exit(127);
  }
  close(fds[1]);
  long before = __atomic_load_n(&g_ticks, __ATOMIC_SEQ_CST);
  char buffer[256];
  int lines = 0;
  ssize_t n;
  while ((n = read(fds[0], buffer, sizeof buffer)) > 0) /* parks until the child's writes */
    for (ssize_t i = 0; i < n; i++) lines += buffer[i] == '\n';
  close(fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  printf("exec: %d lines through the pipe, child exit status %d, others ran meanwhile: %s\n", lines,
         WEXITSTATUS(status), __atomic_load_n(&g_ticks, __ATOMIC_SEQ_CST) > before ? "yes" : "no");
  __atomic_store_n(&g_stop, 1, __ATOMIC_SEQ_CST);
  for (int i = 0; i < kTickers; i++) pthread_join(k[i], NULL);
}

/* ---- the double-fork daemon ---- */

static void* daemon_worker(void* arg) {
  usleep(10 * 1000);
  return arg;
}

static void fork_daemon(void) {
  pthread_t k[kTickers];
  for (int i = 0; i < kTickers; i++) pthread_create(&k[i], NULL, ticker, NULL);
  int fds[2];
  if (pipe(fds) != 0) exit(40);
  fflush(stdout);
  pid_t first = fork();
  if (first == 0) {
    close(fds[0]);
    if (setsid() < 0) _exit(41);
    pid_t second = fork();
    if (second != 0) _exit(second > 0 ? 0 : 42);
    /* The daemon: its parent is gone; it runs threads of its own and reports. */
    usleep(50 * 1000);
    pthread_t t[3];
    for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, daemon_worker, NULL);
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    char line[128];
    int n = snprintf(line, sizeof line, "daemon: in a session of its own %s, its leader %s, 3 threads joined\n",
                     getsid(0) != g_parent_session ? "yes" : "no", getsid(0) == getpid() ? "yes" : "no");
    (void)!write(fds[1], line, n);
    _exit(0);
  }
  close(fds[1]);
  int status = 0;
  waitpid(first, &status, 0);
  printf("daemon: intermediate child exit status %d\n", WEXITSTATUS(status));
  char buffer[256];
  ssize_t n, total = 0;
  while ((n = read(fds[0], buffer + total, sizeof buffer - 1 - total)) > 0) total += n;
  buffer[total] = '\0';
  printf("%s", buffer);
  close(fds[0]);
  __atomic_store_n(&g_stop, 1, __ATOMIC_SEQ_CST);
  for (int i = 0; i < kTickers; i++) pthread_join(k[i], NULL);
}

/* ---- system() and popen() while others run ---- */

static void fork_system(void) {
  pthread_t k[kTickers];
  for (int i = 0; i < kTickers; i++) pthread_create(&k[i], NULL, ticker, NULL);
  fflush(stdout);
  long before = __atomic_load_n(&g_ticks, __ATOMIC_SEQ_CST);
  int status = system("sleep 0.3; exit 3");
  long during = __atomic_load_n(&g_ticks, __ATOMIC_SEQ_CST) - before;
  printf("system: status %d, others ran meanwhile: %s\n", WEXITSTATUS(status), during > 0 ? "yes" : "no");
  before = __atomic_load_n(&g_ticks, __ATOMIC_SEQ_CST);
  FILE* p = popen("for i in 1 2 3; do echo $i; sleep 0.1; done", "r");
  /* read(2) on the stream's fd, not fgets: stdio's own reads are glibc-internal calls no hook
   * sees, which block the scheduler thread (a limit the README states). */
  char text[64] = "";
  size_t length = 0;
  ssize_t n;
  while (p != NULL && (n = read(fileno(p), text + length, sizeof text - 1 - length)) > 0) length += (size_t)n;
  int sum = 0;
  for (char* line = text; *line != '\0'; line = strchr(line, '\n') + 1) {
    sum += atoi(line);
    if (strchr(line, '\n') == NULL) break;
  }
  int closed = p != NULL ? pclose(p) : -1;
  printf("popen: sum %d, pclose status %d, others ran meanwhile: %s\n", sum, WEXITSTATUS(closed),
         __atomic_load_n(&g_ticks, __ATOMIC_SEQ_CST) > before ? "yes" : "no");
  __atomic_store_n(&g_stop, 1, __ATOMIC_SEQ_CST);
  for (int i = 0; i < kTickers; i++) pthread_join(k[i], NULL);
}

static void fork_at_startup(void) {
  /* Run without a blocking call for a while first (under corun, the hog report then fires and
   * cohook's diagnostics thread gets busy), then fork again and again. */
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  do clock_gettime(CLOCK_MONOTONIC, &now);
  while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 < 300);
  int exited = 0;
  for (int i = 0; i < 50; i++) {
    pid_t child = fork();
    if (child == 0) _exit(i % 7);
    int status = 0;
    if (waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == i % 7) exited++;
  }
  printf("startup: %d of 50 children exited with their status\n", exited);
}

static volatile sig_atomic_t g_usr1;
static void count_usr1(int signal) {
  (void)signal;
  g_usr1++;
}

static void* fork_from_worker(void* arg) {
  (void)arg;
  int fds[2];
  if (pipe(fds) != 0) return NULL;
  pid_t child = fork();
  if (child == 0) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = count_usr1; /* no SA_RESTART: the read fails with EINTR */
    sigaction(SIGUSR1, &action, NULL);
    close(fds[1]);
    char byte;
    ssize_t n = read(fds[0], &byte, 1);
    printf("signal: child read %zd %s, handled %d\n", n, n < 0 ? strerrorname_np(errno) : "", (int)g_usr1);
    fflush(stdout);
    _exit(0);
  }
  close(fds[0]);
  usleep(300 * 1000); /* the child is in read() by then */
  kill(child, SIGUSR1);
  int status = -1;
  for (int i = 0; i < 50 && waitpid(child, &status, WNOHANG) == 0; i++) usleep(100 * 1000);
  if (waitpid(child, &status, WNOHANG) == 0) {
    printf("BUG: the child's read was not interrupted\n");
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
  }
  close(fds[1]);
  printf("signal: child exited %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  return NULL;
}

static void fork_then_signal(void) {
  pthread_t worker;
  pthread_create(&worker, NULL, fork_from_worker, NULL);
  pthread_join(worker, NULL);
}

int main(int argc, char** argv) {
  g_parent = getpid();
  g_parent_session = getsid(0);
  const char* mode = argc > 1 ? argv[1] : "";
  if (strcmp(mode, "busy") == 0) fork_busy();
  else if (strcmp(mode, "exec") == 0) fork_exec(argv[0]);
  else if (strcmp(mode, "exec-child") == 0) return exec_child();
  else if (strcmp(mode, "daemon") == 0) fork_daemon();
  else if (strcmp(mode, "system") == 0) fork_system();
  else if (strcmp(mode, "startup") == 0) fork_at_startup();
  else if (strcmp(mode, "signal") == 0) fork_then_signal();
  else {
    fprintf(stderr, "usage: %s busy|exec|daemon|system|startup|signal\n", argv[0]);
    return 2;
  }
  return 0;
}
