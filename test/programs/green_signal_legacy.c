/* The old BSD and System V signal calls in a thread (legacy C, no cohook header):
 * `green_signal_legacy SCENARIO` prints a transcript that must be the same with and without
 * corun (test/green_signals_test.cc compares them).
 *   bsd:   sigblock, sigsetmask, siggetmask change the calling thread's mask only; a signal
 *          they block stays pending until they unblock it.
 *   sysv:  sighold, sigrelse, sigignore, sigset (SIG_HOLD and a handler), bad signals; a
 *          handler installed by sigset (no SA_RESTART) cuts a parked read short. With SIGHUP:
 *          under corun SIGUSR2's default action is cohook's dump (COHOOK_DUMP_SIGNAL).
 *   pause: sigpause in both forms (X/Open: a signal; BSD: a mask) waits for a handler while
 *          the other threads go on, and puts the mask back. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/* BIT() is deprecated, and linking siggetmask draws a linker warning: the same by hand. */
#define BIT(signal) (1 << ((signal) - 1))
static int siggetmask_now(void) {
  static int (*call)(void);
  if (call == NULL) call = (int (*)(void))dlsym(RTLD_DEFAULT, "siggetmask");
  return call();
}

static volatile sig_atomic_t handled;
static void on_signal(int signal) { handled = signal; }

static int get(int* flag) { return __atomic_load_n(flag, __ATOMIC_SEQ_CST); }
static void put(int* flag, int value) { __atomic_store_n(flag, value, __ATOMIC_SEQ_CST); }

static unsigned mask_now(void) {
  sigset_t set;
  pthread_sigmask(SIG_BLOCK, NULL, &set);
  unsigned long word;
  memcpy(&word, &set, sizeof word);
  return (unsigned)word;
}

static const char* name_of(sighandler_t handler) {
  if (handler == SIG_ERR) return "SIG_ERR";
  if (handler == SIG_DFL) return "SIG_DFL";
  if (handler == SIG_IGN) return "SIG_IGN";
  if (handler == SIG_HOLD) return "SIG_HOLD";
  if (handler == on_signal) return "on_signal";
  return "another handler";
}

static void report(const char* what, int result) {
  printf("%s -> %d", what, result);
  if (result < 0) printf(" (%s)", strerrorname_np(errno));
  printf("\n");
}

/* A ticker: proof that the OS thread stayed free while another thread waited. */
static int ticks, stop_ticking;
static void* ticker(void* arg) {
  while (!get(&stop_ticking)) {
    usleep(2000);
    __atomic_add_fetch(&ticks, 1, __ATOMIC_SEQ_CST);
  }
  return arg;
}

/* ---- bsd ---- */
static int bsd_done;
static void* bsd_thread(void* arg) {
  (void)arg;
  int old = sigblock(BIT(SIGUSR1));
  printf("sigblock(USR1) -> old %#x\n", old);
  int now = siggetmask_now();
  printf("siggetmask -> %#x, pthread_sigmask agrees: %d\n", now, (unsigned)now == mask_now());
  old = sigsetmask(BIT(SIGUSR2));
  printf("sigsetmask(USR2) -> old %#x, now %#x\n", old, siggetmask_now());
  old = sigblock(-1);
  printf("sigblock(all 32) -> old %#x, now %#x\n", old, siggetmask_now());
  sigsetmask(BIT(SIGUSR1));
  handled = 0;
  pthread_kill(pthread_self(), SIGUSR1);
  sigset_t pending;
  sigpending(&pending);
  printf("USR1 sent while blocked: handled %d, pending %d\n", handled, sigismember(&pending, SIGUSR1));
  old = sigsetmask(0);
  printf("sigsetmask(0) -> old %#x\n", old);
  printf("after unblocking: handled %d\n", handled);
  sigblock(BIT(SIGTERM));
  put(&bsd_done, 1);
  return NULL;
}

static int scenario_bsd(void) {
  signal(SIGUSR1, on_signal);
  int before = siggetmask_now();
  pthread_t thread;
  pthread_create(&thread, NULL, bsd_thread, NULL);
  pthread_join(thread, NULL);
  printf("main's mask unchanged: %d (%#x)\n", siggetmask_now() == before, siggetmask_now());
  return 0;
}

/* ---- sysv ---- */
struct reader {
  int fds[2];
  int ready, done;
  ssize_t result;
  int error;
};

static void* read_once(void* arg) {
  struct reader* r = arg;
  char byte;
  put(&r->ready, 1);
  r->result = read(r->fds[0], &byte, 1);
  r->error = errno;
  put(&r->done, 1);
  return NULL;
}

static void* sysv_thread(void* arg) {
  (void)arg;
  report("sighold(USR1)", sighold(SIGUSR1));
  printf("mask %#x\n", mask_now());
  report("sighold(0)", sighold(0));
  report("sighold(32)", sighold(32));
  report("sighold(65)", sighold(65));
  report("sigrelse(USR1)", sigrelse(SIGUSR1));
  report("sigrelse(-1)", sigrelse(-1));
  printf("mask %#x\n", mask_now());
  sighandler_t result = sigset(SIGHUP, SIG_HOLD);
  printf("sigset(HUP, SIG_HOLD) -> %s, mask %#x\n", name_of(result), mask_now());
  printf("sigset(HUP, SIG_HOLD) again -> %s\n", name_of(sigset(SIGHUP, SIG_HOLD)));
  result = sigset(SIGHUP, on_signal);
  printf("sigset(HUP, on_signal) -> %s, mask %#x\n", name_of(result), mask_now());
  printf("sigset(HUP, SIG_HOLD) -> %s\n", name_of(sigset(SIGHUP, SIG_HOLD)));
  printf("sigset(HUP, on_signal) -> %s\n", name_of(sigset(SIGHUP, on_signal)));
  errno = 0;
  result = sigset(0, SIG_IGN);
  printf("sigset(0, SIG_IGN) -> %s %s\n", name_of(result), strerrorname_np(errno));
  struct sigaction action;
  sigaction(SIGHUP, NULL, &action);
  printf("sigaction reads back %s, SA_RESTART %d\n", name_of(action.sa_handler), (action.sa_flags & SA_RESTART) != 0);
  report("sigignore(URG)", sigignore(SIGURG));
  sigaction(SIGURG, NULL, &action);
  printf("SIGURG now %s\n", name_of(action.sa_handler));
  report("sigignore(KILL)", sigignore(SIGKILL));
  return NULL;
}

static int scenario_sysv(void) {
  pthread_t thread;
  pthread_create(&thread, NULL, sysv_thread, NULL);
  pthread_join(thread, NULL);
  printf("main's mask %#x\n", mask_now());
  /* sigset's handler has no SA_RESTART: a signal at a thread parked in read cuts it short. */
  struct reader r;
  memset(&r, 0, sizeof r);
  pipe(r.fds);
  pthread_create(&thread, NULL, read_once, &r);
  while (!get(&r.ready)) usleep(1000);
  handled = 0;
  for (int i = 0; i < 600 && !get(&r.done); ++i) {
    pthread_kill(thread, SIGHUP);
    usleep(100000);
  }
  pthread_join(thread, NULL);
  printf("read in the signalled thread -> %zd (%s), handler ran for %d\n", r.result,
         r.result < 0 ? strerrorname_np(r.error) : "-", handled);
  return 0;
}

/* ---- pause ---- */
struct pauser {
  int waiting, done, result, error, form;
  unsigned mask_after;
};

static void* pause_thread(void* arg) {
  struct pauser* p = arg;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  put(&p->waiting, 1);
  if (p->form == 0) {
    p->result = sigpause(SIGUSR1); /* X/Open (<signal.h> maps it to __xpg_sigpause) */
  } else {
    int (*bsd_sigpause)(int) = (int (*)(int))dlsym(RTLD_DEFAULT, "sigpause");
    p->result = bsd_sigpause(BIT(SIGUSR2)); /* BSD: wait with USR2 alone blocked */
  }
  p->error = errno;
  p->mask_after = mask_now();
  put(&p->done, 1);
  return NULL;
}

static int scenario_pause(void) {
  signal(SIGUSR1, on_signal);
  signal(SIGUSR2, on_signal);
  for (int form = 0; form < 2; ++form) {
    struct pauser p;
    memset(&p, 0, sizeof p);
    p.form = form;
    put(&ticks, 0);
    put(&stop_ticking, 0);
    pthread_t thread, tick;
    pthread_create(&tick, NULL, ticker, NULL);
    pthread_create(&thread, NULL, pause_thread, &p);
    while (!get(&p.waiting)) usleep(1000);
    usleep(50000);
    int ran = get(&ticks) > 0;
    /* USR2 first: blocked during the wait in both forms, so it stays pending. */
    handled = 0;
    pthread_kill(thread, SIGUSR2);
    usleep(50000);
    int done_after_usr2 = get(&p.done);
    for (int i = 0; i < 600 && !get(&p.done); ++i) {
      pthread_kill(thread, SIGUSR1);
      usleep(100000);
    }
    pthread_join(thread, NULL);
    put(&stop_ticking, 1);
    pthread_join(tick, NULL);
    printf("%s sigpause -> %d (%s), returned on USR2: %d, other threads ran meanwhile: %d, mask after %#x\n",
           form == 0 ? "X/Open" : "BSD", p.result, strerrorname_np(p.error), done_after_usr2, ran, p.mask_after);
  }
  return 0;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char* scenario = argc > 1 ? argv[1] : "";
  if (strcmp(scenario, "bsd") == 0) return scenario_bsd();
  if (strcmp(scenario, "sysv") == 0) return scenario_sysv();
  if (strcmp(scenario, "pause") == 0) return scenario_pause();
  fprintf(stderr, "usage: green_signal_legacy bsd|sysv|pause\n");
  return 2;
}
