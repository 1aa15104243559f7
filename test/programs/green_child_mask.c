/* A new program inherits the signal mask of the thread that starts it (legacy C, no cohook
 * header). `green_child_mask SCENARIO` has a thread other than main block SIGUSR1
 * (pthread_sigmask), SIGUSR2 (sigblock) and SIGPIPE (whose action is SIG_IGN), then start
 * `green_child_mask show` in one way; `show` prints its mask as sigprocmask sees it, then execs
 * itself through `env -u LD_PRELOAD` (no cohook) to print the kernel's SigBlk and SigIgn.
 * The transcript must be the same with and without corun (test/green_signals_test.cc).
 *   exec, exec-fails, fork-exec, spawn, spawnp, system, popen
 * (/bin/sh clears its mask as it starts, so after system() and popen() `show` reports an empty
 * mask either way; SigIgn and the caller's mask afterwards still tell.) */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

extern char** environ;
static char self[4096];
static const char* scenario;

static unsigned long mask_now(void) {
  sigset_t set;
  pthread_sigmask(SIG_BLOCK, NULL, &set);
  unsigned long word;
  memcpy(&word, &set, sizeof word);
  return word;
}

static int show(void) {
  printf("child: sigprocmask %#lx\n", mask_now());
  fflush(stdout);
  execlp("env", "env", "-u", "LD_PRELOAD", self, "show-kernel", (char*)NULL);
  printf("exec env: %s\n", strerror(errno));
  return 1;
}

/* Run without cohook: the kernel's view of this thread, from /proc/self/status. SigIgn leaves
 * out glibc's own signals 32 and 33 (SIGCANCEL, SIGSETXID), which glibc manages itself (and
 * posix_spawn's child ignores them). */
static int show_kernel(void) {
  FILE* status = fopen("/proc/self/status", "r");
  char line[256];
  while (status != NULL && fgets(line, sizeof line, status) != NULL) {
    unsigned long long bits;
    if (sscanf(line, "SigBlk: %llx", &bits) == 1) printf("kernel: SigBlk %#llx\n", bits);
    if (sscanf(line, "SigIgn: %llx", &bits) == 1) printf("kernel: SigIgn %#llx\n", bits & ~(3ull << 31));
  }
  return 0;
}

static void wait_for(pid_t pid) {
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  printf("child exit status %d\n", WEXITSTATUS(status));
}

static void spawn_with(int spawnp, posix_spawnattr_t* attributes, const char* label) {
  char* argv[] = {spawnp ? "green_child_mask" : self, "show", NULL};
  pid_t pid;
  printf("%s:\n", label); /* before the child prints */
  int error = spawnp ? posix_spawnp(&pid, self, NULL, attributes, argv, environ)
                     : posix_spawn(&pid, self, NULL, attributes, argv, environ);
  if (error != 0) printf("spawn failed: %s\n", strerror(error));
  else wait_for(pid);
}

static void spawn_all(int spawnp) {
  spawn_with(spawnp, NULL, "no attributes");
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGUSR1);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF);
  spawn_with(spawnp, &attributes, "attributes without SETSIGMASK");
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  posix_spawnattr_setsigmask(&attributes, &mask);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);
  spawn_with(spawnp, &attributes, "SETSIGMASK {TERM}");
  posix_spawnattr_destroy(&attributes);
}

static void* starter(void* arg) {
  (void)arg;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  sigblock(1 << (SIGUSR2 - 1)); /* sigmask(SIGUSR2); the macro is deprecated */
  unsigned long before = mask_now();
  printf("parent thread: mask %#lx\n", before);
  char command[4200];
  snprintf(command, sizeof command, "%s show", self);
  if (strcmp(scenario, "exec") == 0) {
    execl(self, "green_child_mask", "show", (char*)NULL);
    printf("execl: %s\n", strerror(errno));
  } else if (strcmp(scenario, "exec-fails") == 0) {
    int result = execl("/nonexistent/program", "program", (char*)NULL);
    printf("execl -> %d (%s)\n", result, strerrorname_np(errno));
    result = execvp("no-such-program-anywhere", (char*[]){"x", NULL});
    printf("execvp -> %d (%s)\n", result, strerrorname_np(errno));
  } else if (strcmp(scenario, "fork-exec") == 0) {
    /* Each exec entry point cohook wraps, from a forked child: execv, then the list forms. */
    for (int variant = 0; variant < 3; ++variant) {
      printf("%s:\n", variant == 0 ? "execv" : variant == 1 ? "execle" : "execlp");
      fflush(stdout);
      pid_t pid = fork();
      if (pid == 0) {
        if (variant == 0) execv(self, (char*[]){"green_child_mask", "show", NULL});
        else if (variant == 1) execle(self, "green_child_mask", "show", (char*)NULL, environ);
        else execlp(self, "green_child_mask", "show", (char*)NULL);
        _exit(127);
      }
      wait_for(pid);
    }
  } else if (strcmp(scenario, "spawn") == 0) {
    spawn_all(0);
  } else if (strcmp(scenario, "spawnp") == 0) {
    spawn_all(1);
  } else if (strcmp(scenario, "system") == 0) {
    printf("system -> %d\n", system(command));
  } else if (strcmp(scenario, "popen") == 0) {
    FILE* stream = popen(command, "r");
    char buffer[4096];
    ssize_t n;
    while ((n = read(fileno(stream), buffer, sizeof buffer)) > 0) fwrite(buffer, 1, (size_t)n, stdout);
    printf("pclose -> %d\n", pclose(stream));
  }
  printf("parent thread: mask unchanged after: %d\n", mask_now() == before);
  return NULL;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  scenario = argc > 1 ? argv[1] : "";
  if (strcmp(scenario, "show-kernel") == 0) return show_kernel();
  ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
  if (length <= 0) return 1;
  self[length] = '\0';
  if (strcmp(scenario, "show") == 0) return show();
  signal(SIGPIPE, SIG_IGN);
  printf("main: mask %#lx\n", mask_now());
  pthread_t thread;
  pthread_create(&thread, NULL, starter, NULL);
  pthread_join(thread, NULL);
  printf("main: mask %#lx\n", mask_now());
  return 0;
}
