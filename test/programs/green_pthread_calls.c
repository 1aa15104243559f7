/* Every emulated pthread call, with a transcript of results that must be the same with and
 * without corun (test/green_pthread_test.cc compares them). Legacy C: no cohook header. Only
 * results that do not depend on scheduling are printed. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SHOW(label, value) printf("%-34s %d\n", label, (int)(value))

static struct timespec in_ms(clockid_t clock, long ms) {
  struct timespec t;
  clock_gettime(clock, &t);
  t.tv_sec += ms / 1000;
  t.tv_nsec += (ms % 1000) * 1000000L;
  if (t.tv_nsec >= 1000000000L) {
    t.tv_sec++;
    t.tv_nsec -= 1000000000L;
  }
  return t;
}

static long elapsed_ms(struct timespec start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
}

/* ---- create, join, detach, exit, self ---- */
static void* returns_arg(void* arg) { return arg; }
static void nested_exit(long value) { pthread_exit((void*)value); }
static void* exits_early(void* arg) {
  nested_exit((long)arg * 2);
  return NULL;
}
static int cleanup_log;
static void cleanup_handler(void* arg) { cleanup_log = cleanup_log * 10 + (int)(long)arg; }
static void* exits_with_cleanup(void* arg) {
  pthread_cleanup_push(cleanup_handler, (void*)1);
  pthread_cleanup_push(cleanup_handler, (void*)2);
  usleep(1000);
  nested_exit(5);
  pthread_cleanup_pop(0);
  pthread_cleanup_pop(0);
  return arg;
}
static void* pops_cleanup(void* arg) {
  pthread_cleanup_push(cleanup_handler, (void*)3);
  pthread_cleanup_push(cleanup_handler, (void*)4);
  pthread_cleanup_pop(0);
  pthread_cleanup_pop(1);
  return arg;
}
static void* sleeps_100ms(void* arg) {
  usleep(100000);
  return arg;
}
static pthread_t seen_self;
static void* records_self(void* arg) {
  seen_self = pthread_self();
  return arg;
}
static int detached_done;
static void* detached_worker(void* arg) {
  (void)arg;
  __atomic_store_n(&detached_done, 1, __ATOMIC_SEQ_CST);
  return NULL;
}
static size_t attr_stack, attr_guard;
static int attr_detach, attr_contains_local;
static void* reads_own_attr(void* arg) {
  pthread_attr_t attr;
  void* low;
  size_t size;
  int local = 0;
  pthread_getattr_np(pthread_self(), &attr);
  pthread_attr_getstack(&attr, &low, &size);
  attr_stack = size;
  pthread_attr_getguardsize(&attr, &attr_guard);
  pthread_attr_getdetachstate(&attr, &attr_detach);
  attr_contains_local = (char*)&local >= (char*)low && (char*)&local < (char*)low + size;
  pthread_attr_destroy(&attr);
  return arg;
}

static void threads(void) {
  pthread_t t;
  void* result;
  SHOW("create", pthread_create(&t, NULL, returns_arg, (void*)42));
  SHOW("join", pthread_join(t, &result));
  SHOW("join result", (long)result);
  pthread_create(&t, NULL, exits_early, (void*)21);
  pthread_join(t, &result);
  SHOW("pthread_exit result", (long)result);
  pthread_create(&t, NULL, exits_with_cleanup, NULL);
  pthread_join(t, &result);
  SHOW("exit with cleanup: result", (long)result);
  SHOW("cleanup handlers ran (inner first)", cleanup_log);
  cleanup_log = 0;
  pthread_create(&t, NULL, pops_cleanup, NULL);
  pthread_join(t, NULL);
  SHOW("cleanup pop(0), pop(1)", cleanup_log);
  pthread_create(&t, NULL, records_self, NULL);
  pthread_join(t, NULL);
  SHOW("self seen by creator", pthread_equal(seen_self, t) != 0);
  SHOW("self differs from main", pthread_equal(pthread_self(), t) == 0);
  SHOW("join self", pthread_join(pthread_self(), NULL));

  pthread_create(&t, NULL, sleeps_100ms, (void*)7);
  SHOW("tryjoin running", pthread_tryjoin_np(t, &result));
  struct timespec deadline = in_ms(CLOCK_REALTIME, 20);
  SHOW("timedjoin early", pthread_timedjoin_np(t, &result, &deadline));
  deadline = in_ms(CLOCK_MONOTONIC, 5000);
  SHOW("clockjoin", pthread_clockjoin_np(t, &result, CLOCK_MONOTONIC, &deadline));
  SHOW("clockjoin result", (long)result);

  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  SHOW("create detached", pthread_create(&t, &attr, detached_worker, NULL));
  pthread_attr_destroy(&attr);
  while (!__atomic_load_n(&detached_done, __ATOMIC_SEQ_CST)) usleep(1000);
  SHOW("detached ran", detached_done);

  pthread_create(&t, NULL, sleeps_100ms, NULL);
  SHOW("detach", pthread_detach(t));
  SHOW("detach twice", pthread_detach(t) == EINVAL);
  usleep(200000);

  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_attr_setguardsize(&attr, 8192);
  pthread_create(&t, &attr, reads_own_attr, NULL);
  pthread_attr_destroy(&attr);
  pthread_join(t, NULL);
  SHOW("getattr stack >= 256K", attr_stack >= 256 * 1024);
  SHOW("getattr stack < 1M", attr_stack < 1024 * 1024);
  SHOW("getattr guard", attr_guard);
  SHOW("getattr joinable", attr_detach == PTHREAD_CREATE_JOINABLE);
  SHOW("getattr holds a local", attr_contains_local);
  pthread_create(&t, NULL, reads_own_attr, NULL);
  pthread_join(t, NULL);
  SHOW("default stack >= 1M", attr_stack >= 1024 * 1024);

  char name[32];
  pthread_create(&t, NULL, sleeps_100ms, NULL);
  SHOW("setname", pthread_setname_np(t, "worker-7"));
  SHOW("setname too long", pthread_setname_np(t, "a-name-longer-than-15"));
  SHOW("getname", pthread_getname_np(t, name, sizeof name));
  printf("%-34s %s\n", "name", name);
  SHOW("getname small buffer", pthread_getname_np(t, name, 4));
  pthread_join(t, NULL);
}

/* ---- once and keys ---- */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int once_runs;
static void once_init(void) {
  usleep(20000);
  once_runs++;
}
static void* calls_once(void* arg) {
  pthread_once(&once, once_init);
  return arg;
}
static pthread_key_t key;
static int destructor_calls;
static long destructor_sum;
static void key_destructor(void* value) {
  __atomic_add_fetch(&destructor_calls, 1, __ATOMIC_SEQ_CST);
  __atomic_add_fetch(&destructor_sum, (long)value, __ATOMIC_SEQ_CST);
}
static void* uses_key(void* arg) {
  void* before = pthread_getspecific(key);
  pthread_setspecific(key, arg);
  usleep(10000); /* others set theirs meanwhile */
  return (void*)(long)(before == NULL && pthread_getspecific(key) == arg);
}

static void once_and_keys(void) {
  pthread_t t[8];
  for (int i = 0; i < 8; i++) pthread_create(&t[i], NULL, calls_once, NULL);
  for (int i = 0; i < 8; i++) pthread_join(t[i], NULL);
  SHOW("once runs", once_runs);
  SHOW("key_create", pthread_key_create(&key, key_destructor));
  pthread_setspecific(key, (void*)1000);
  int all_own = 1;
  for (long i = 0; i < 8; i++) pthread_create(&t[i], NULL, uses_key, (void*)(i + 1));
  for (int i = 0; i < 8; i++) {
    void* own;
    pthread_join(t[i], &own);
    all_own &= own != NULL;
  }
  SHOW("each thread sees its own value", all_own);
  SHOW("destructor calls", destructor_calls);
  SHOW("destructor sum", destructor_sum);
  SHOW("main keeps its value", (long)pthread_getspecific(key));
  SHOW("key_delete", pthread_key_delete(key));
}

/* ---- mutexes ---- */
static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static int holder_state; /* 1: holds it, 2: asked to release */
static void* holds_until_asked(void* arg) {
  pthread_mutex_lock(&held);
  __atomic_store_n(&holder_state, 1, __ATOMIC_SEQ_CST);
  while (__atomic_load_n(&holder_state, __ATOMIC_SEQ_CST) != 2) usleep(1000);
  usleep(30000);
  pthread_mutex_unlock(&held);
  return arg;
}
static void* unlocks_foreign(void* arg) { return (void*)(long)pthread_mutex_unlock((pthread_mutex_t*)arg); }

static void mutexes(void) {
  pthread_mutexattr_t attr;
  pthread_mutex_t recursive, errorcheck, copy;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_init(&recursive, &attr);
  pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
  pthread_mutex_init(&errorcheck, &attr);
  pthread_mutexattr_destroy(&attr);

  SHOW("recursive lock", pthread_mutex_lock(&recursive));
  SHOW("recursive lock again", pthread_mutex_lock(&recursive));
  SHOW("recursive trylock", pthread_mutex_trylock(&recursive));
  SHOW("recursive unlock 1", pthread_mutex_unlock(&recursive));
  SHOW("recursive unlock 2", pthread_mutex_unlock(&recursive));
  SHOW("recursive unlock 3", pthread_mutex_unlock(&recursive));
  SHOW("recursive unlock unowned", pthread_mutex_unlock(&recursive));
  SHOW("errorcheck lock", pthread_mutex_lock(&errorcheck));
  SHOW("errorcheck relock", pthread_mutex_lock(&errorcheck));
  SHOW("errorcheck trylock", pthread_mutex_trylock(&errorcheck));
  pthread_t t;
  void* result;
  pthread_create(&t, NULL, unlocks_foreign, &errorcheck);
  pthread_join(t, &result);
  SHOW("errorcheck foreign unlock", (long)result);
  SHOW("errorcheck unlock", pthread_mutex_unlock(&errorcheck));
  SHOW("errorcheck unlock unowned", pthread_mutex_unlock(&errorcheck));
  SHOW("destroy", pthread_mutex_destroy(&errorcheck));

  pthread_create(&t, NULL, holds_until_asked, NULL);
  while (__atomic_load_n(&holder_state, __ATOMIC_SEQ_CST) != 1) usleep(1000);
  SHOW("trylock held", pthread_mutex_trylock(&held));
  struct timespec deadline = in_ms(CLOCK_REALTIME, 20);
  SHOW("timedlock held", pthread_mutex_timedlock(&held, &deadline));
  deadline = in_ms(CLOCK_MONOTONIC, 20);
  SHOW("clocklock held", pthread_mutex_clocklock(&held, CLOCK_MONOTONIC, &deadline));
  __atomic_store_n(&holder_state, 2, __ATOMIC_SEQ_CST);
  deadline = in_ms(CLOCK_MONOTONIC, 5000);
  SHOW("clocklock waits", pthread_mutex_clocklock(&held, CLOCK_MONOTONIC, &deadline));
  pthread_join(t, NULL);
  pthread_mutex_unlock(&held);
  struct timespec bad = {0, 2000000000L};
  SHOW("timedlock free, bad time", pthread_mutex_timedlock(&held, &bad));
  pthread_mutex_unlock(&held);
  pthread_mutex_lock(&held);
  SHOW("timedlock held, bad time", pthread_mutex_timedlock(&held, &bad));
  pthread_mutex_unlock(&held);

  /* An initialiser copied and a memset object are valid free mutexes. */
  pthread_mutex_t init = PTHREAD_MUTEX_INITIALIZER;
  memcpy(&copy, &init, sizeof copy);
  SHOW("copied initializer lock", pthread_mutex_lock(&copy));
  pthread_mutex_unlock(&copy);
  memset(&copy, 0, sizeof copy);
  SHOW("zeroed trylock", pthread_mutex_trylock(&copy));
  pthread_mutex_unlock(&copy);
}

/* ---- condition variables ---- */
static pthread_mutex_t cm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int waiting, released, generation;
static void* waits_for_generation(void* arg) {
  pthread_mutex_lock(&cm);
  int mine = generation;
  waiting++;
  pthread_cond_broadcast(&cv);
  while (generation == mine) pthread_cond_wait(&cv, &cm);
  released++;
  pthread_mutex_unlock(&cm);
  return arg;
}

static void conds(void) {
  pthread_t t[6];
  for (int i = 0; i < 6; i++) pthread_create(&t[i], NULL, waits_for_generation, NULL);
  pthread_mutex_lock(&cm);
  while (waiting < 6) pthread_cond_wait(&cv, &cm);
  generation++;
  pthread_cond_signal(&cv); /* may wake one; the rest need the broadcast */
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&cm);
  for (int i = 0; i < 6; i++) pthread_join(t[i], NULL);
  SHOW("released by broadcast", released);

  pthread_mutex_lock(&cm);
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  struct timespec deadline = in_ms(CLOCK_REALTIME, 50);
  SHOW("timedwait", pthread_cond_timedwait(&cv, &cm, &deadline));
  SHOW("timedwait waited >= 40ms", elapsed_ms(start) >= 40);
  SHOW("mutex held after timeout", pthread_mutex_trylock(&cm) == EBUSY);
  deadline = in_ms(CLOCK_MONOTONIC, 20);
  SHOW("clockwait monotonic", pthread_cond_clockwait(&cv, &cm, CLOCK_MONOTONIC, &deadline));
  deadline = in_ms(CLOCK_REALTIME, 20);
  SHOW("clockwait realtime", pthread_cond_clockwait(&cv, &cm, CLOCK_REALTIME, &deadline));
  SHOW("clockwait bad clock", pthread_cond_clockwait(&cv, &cm, CLOCK_PROCESS_CPUTIME_ID, &deadline));
  pthread_condattr_t attr;
  pthread_cond_t monotonic;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&monotonic, &attr);
  pthread_condattr_destroy(&attr);
  deadline = in_ms(CLOCK_MONOTONIC, 20);
  SHOW("timedwait condattr monotonic", pthread_cond_timedwait(&monotonic, &cm, &deadline));
  pthread_mutex_unlock(&cm);
  SHOW("cond destroy", pthread_cond_destroy(&monotonic));
}

/* ---- rwlocks ---- */
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static void* tries_rw(void* arg) {
  long r = pthread_rwlock_tryrdlock(&rw) == 0;
  if (r) pthread_rwlock_unlock(&rw);
  long w = pthread_rwlock_trywrlock(&rw) == 0;
  if (w) pthread_rwlock_unlock(&rw);
  return (void*)(r * 10 + w + (long)arg);
}
static int readers_inside, max_readers_inside;
static void* reader(void* arg) {
  pthread_rwlock_rdlock(&rw);
  int now = __atomic_add_fetch(&readers_inside, 1, __ATOMIC_SEQ_CST);
  if (now > max_readers_inside) max_readers_inside = now;
  usleep(30000);
  __atomic_sub_fetch(&readers_inside, 1, __ATOMIC_SEQ_CST);
  pthread_rwlock_unlock(&rw);
  return arg;
}

static void rwlocks(void) {
  pthread_t t;
  void* result;
  SHOW("rdlock", pthread_rwlock_rdlock(&rw));
  pthread_create(&t, NULL, tries_rw, NULL);
  pthread_join(t, &result);
  SHOW("others while read-held (r*10+w)", (long)result);
  SHOW("unlock read", pthread_rwlock_unlock(&rw));
  SHOW("wrlock", pthread_rwlock_wrlock(&rw));
  SHOW("rdlock own write", pthread_rwlock_rdlock(&rw));
  SHOW("wrlock own write", pthread_rwlock_wrlock(&rw));
  pthread_create(&t, NULL, tries_rw, NULL);
  pthread_join(t, &result);
  SHOW("others while write-held", (long)result);
  struct timespec deadline;
  SHOW("unlock write", pthread_rwlock_unlock(&rw));
  pthread_t readers[4];
  for (int i = 0; i < 4; i++) pthread_create(&readers[i], NULL, reader, NULL);
  for (int i = 0; i < 4; i++) pthread_join(readers[i], NULL);
  SHOW("readers were inside together", max_readers_inside > 1);
  pthread_rwlock_wrlock(&rw);
  pthread_create(&t, NULL, reader, NULL);
  usleep(20000);
  SHOW("reader waits for writer", readers_inside);
  pthread_rwlock_unlock(&rw);
  pthread_join(t, NULL);
  pthread_rwlock_rdlock(&rw);
  deadline = in_ms(CLOCK_REALTIME, 20);
  SHOW("timedwrlock read-held", pthread_rwlock_timedwrlock(&rw, &deadline));
  deadline = in_ms(CLOCK_MONOTONIC, 20);
  SHOW("clockwrlock read-held", pthread_rwlock_clockwrlock(&rw, CLOCK_MONOTONIC, &deadline));
  deadline = in_ms(CLOCK_MONOTONIC, 20);
  SHOW("clockrdlock read-held", pthread_rwlock_clockrdlock(&rw, CLOCK_MONOTONIC, &deadline));
  pthread_rwlock_unlock(&rw);
  pthread_rwlock_unlock(&rw);
  pthread_rwlock_wrlock(&rw);
  deadline = in_ms(CLOCK_REALTIME, 20);
  SHOW("timedrdlock (own write)", pthread_rwlock_timedrdlock(&rw, &deadline));
  pthread_rwlock_unlock(&rw);
}

/* ---- barrier, spin, semaphores ---- */
static pthread_barrier_t barrier;
static int serial_count, after_barrier;
static void* at_barrier(void* arg) {
  if (pthread_barrier_wait(&barrier) == PTHREAD_BARRIER_SERIAL_THREAD) __atomic_add_fetch(&serial_count, 1, __ATOMIC_SEQ_CST);
  __atomic_add_fetch(&after_barrier, 1, __ATOMIC_SEQ_CST);
  return arg;
}
static pthread_spinlock_t spin;
static long spin_counter;
static void* spins(void* arg) {
  for (int i = 0; i < 2000; i++) {
    pthread_spin_lock(&spin);
    spin_counter++;
    if (i % 500 == 0) usleep(1000); /* parks while holding it */
    pthread_spin_unlock(&spin);
  }
  return arg;
}
static sem_t sem;
static void* posts_later(void* arg) {
  usleep(30000);
  sem_post(&sem);
  return arg;
}

static void barrier_spin_sem(void) {
  pthread_t t[5];
  SHOW("barrier init", pthread_barrier_init(&barrier, NULL, 5));
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, at_barrier, NULL);
  usleep(20000);
  SHOW("nobody passed early", after_barrier);
  at_barrier(NULL);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  SHOW("passed", after_barrier);
  SHOW("serial threads", serial_count);
  SHOW("barrier destroy", pthread_barrier_destroy(&barrier));

  pthread_spin_init(&spin, PTHREAD_PROCESS_PRIVATE);
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, spins, NULL);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  SHOW("spin counter", spin_counter);
  SHOW("spin trylock", pthread_spin_trylock(&spin));
  SHOW("spin trylock held", pthread_spin_trylock(&spin));
  pthread_spin_unlock(&spin);
  pthread_spin_destroy(&spin);

  int value;
  SHOW("sem_init", sem_init(&sem, 0, 2));
  SHOW("sem_wait", sem_wait(&sem));
  SHOW("sem_trywait", sem_trywait(&sem));
  errno = 0;
  SHOW("sem_trywait empty", sem_trywait(&sem));
  SHOW("errno", errno);
  struct timespec deadline = in_ms(CLOCK_REALTIME, 20);
  SHOW("sem_timedwait", sem_timedwait(&sem, &deadline));
  SHOW("errno", errno);
  deadline = in_ms(CLOCK_MONOTONIC, 20);
  SHOW("sem_clockwait", sem_clockwait(&sem, CLOCK_MONOTONIC, &deadline));
  pthread_create(&t[0], NULL, posts_later, NULL);
  SHOW("sem_wait for post", sem_wait(&sem));
  pthread_join(t[0], NULL);
  sem_post(&sem);
  sem_post(&sem);
  sem_getvalue(&sem, &value);
  SHOW("sem_getvalue", value);
  SHOW("sem_destroy", sem_destroy(&sem));
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  threads();
  once_and_keys();
  mutexes();
  conds();
  rwlocks();
  barrier_spin_sem();
  return 7;
}
