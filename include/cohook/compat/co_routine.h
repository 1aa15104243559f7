/* libco's public API (Tencent libco, co_routine.h) on top of cohook.
 *
 * A program written against libco builds unchanged with -I<prefix>/include/cohook/compat and
 * links with -lcohook. Semantics follow libco; the differences are the bugs libco users hit
 * (see README, "Moving from libco"): no hidden 1 s socket timeout, no nesting limit, no fd
 * ceiling, and release/reset of a coroutine never touches freed memory.
 *
 * Everything here is a C symbol, as in libco's later headers; the header also compiles as C. */
#ifndef COHOOK_COMPAT_CO_ROUTINE_H
#define COHOOK_COMPAT_CO_ROUTINE_H

#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifndef __cplusplus
#include <stdbool.h>
#endif

#define COHOOK_LIBCO_API __attribute__((visibility("default")))

#ifdef __cplusplus
extern "C" {
#endif

/* ---- 1. types ---- */

struct stCoRoutine_t;       /* one coroutine (opaque) */
struct stShareStack_t;      /* a set of stacks that many coroutines take turns on (opaque) */
struct stCoEpoll_t;         /* the calling thread's event loop (opaque) */
struct stCoRoutineEnv_t;    /* the calling thread's coroutine environment (opaque) */
struct stCoCond_t;          /* a condition for coroutines of one thread (opaque) */

/* Packed, as in libco, so that code which fills it in by hand keeps working. */
struct stCoRoutineAttr_t {
  int stack_size;                      /* bytes of a private stack; <= 0: the default (128 KiB) */
  struct stShareStack_t* share_stack;  /* non-NULL: run on one of these shared stacks instead */
#ifdef __cplusplus
  stCoRoutineAttr_t() : stack_size(128 * 1024), share_stack(NULL) {}
#endif
} __attribute__((packed));

typedef int (*pfn_co_eventloop_t)(void*);
typedef void* (*pfn_co_routine_t)(void*);

/* ---- 2. coroutines ---- */

/* Makes a coroutine that runs routine(arg) at its first co_resume. Returns 0. It runs with hooks
 * off until it calls co_enable_hook_sys(). */
COHOOK_LIBCO_API int co_create(struct stCoRoutine_t** co, const struct stCoRoutineAttr_t* attr,
                               pfn_co_routine_t routine, void* arg);
/* Runs co until it yields, waits (co_poll, co_cond_timedwait, a hooked call) or returns; the
 * caller (the thread's main stack or another coroutine) is its resumer meanwhile. Nesting has no
 * depth limit. A coroutine that is waiting, running or finished is left as it is. */
COHOOK_LIBCO_API void co_resume(struct stCoRoutine_t* co);
/* Back to the resumer until somebody co_resume()s the calling coroutine again. co_yield's
 * argument is ignored, as in libco: the caller always yields itself. */
#if defined(__cplusplus) && (__cplusplus >= 202002L || defined(__cpp_impl_coroutine))
/* C++20 made co_yield a keyword; the same function under another name (or use co_yield_ct). */
COHOOK_LIBCO_API void co_yield_routine(struct stCoRoutine_t* co) __asm__("co_yield");
#else
COHOOK_LIBCO_API void co_yield(struct stCoRoutine_t* co);
#endif
COHOOK_LIBCO_API void co_yield_ct(void); /* ct = current thread */
COHOOK_LIBCO_API void co_yield_env(struct stCoRoutineEnv_t* env);
/* Frees co. A finished or never-started coroutine is freed at once; one suspended in co_yield is
 * abandoned (never continued; its stack is reused, objects on it are not destroyed, as in libco);
 * one that is waiting or running is freed when its routine returns. */
COHOOK_LIBCO_API void co_release(struct stCoRoutine_t* co);
/* Makes a started coroutine start over (routine(arg) from the top) at its next co_resume. Its
 * specifics and environment are kept. No-op on the main coroutine or one never started. */
COHOOK_LIBCO_API void co_reset(struct stCoRoutine_t* co);

/* The calling coroutine; on a thread's own stack, that thread's main coroutine. */
COHOOK_LIBCO_API struct stCoRoutine_t* co_self(void);
COHOOK_LIBCO_API struct stCoRoutine_t* co_get_current(void);
COHOOK_LIBCO_API bool co_is_main(void);

/* poll(2) that parks the calling coroutine (timeout in ms; < 0 waits forever). Returns what
 * poll returns. Works whether or not hooks are enabled; outside a coroutine it is poll(2). */
COHOOK_LIBCO_API int co_poll(struct stCoEpoll_t* ctx, struct pollfd fds[], nfds_t nfds, int timeout_ms);
/* Runs the thread's coroutines; after every round calls pfn(arg) (if pfn is not NULL; at least
 * every millisecond) and returns when that returns -1. */
COHOOK_LIBCO_API void co_eventloop(struct stCoEpoll_t* ctx, pfn_co_eventloop_t pfn, void* arg);

/* ---- 3. specifics: per-coroutine pthread keys (per-thread outside coroutines) ---- */

COHOOK_LIBCO_API int co_setspecific(pthread_key_t key, const void* value);
COHOOK_LIBCO_API void* co_getspecific(pthread_key_t key);

/* ---- 4. event loop ---- */

COHOOK_LIBCO_API struct stCoEpoll_t* co_get_epoll_ct(void); /* ct = current thread */
COHOOK_LIBCO_API struct stCoRoutineEnv_t* co_get_curr_thread_env(void);

/* ---- 5. hooked system calls, per coroutine ---- */

COHOOK_LIBCO_API void co_enable_hook_sys(void);
COHOOK_LIBCO_API void co_disable_hook_sys(void);
COHOOK_LIBCO_API bool co_is_enable_sys_hook(void);
/* accept(2); libco needed it because it did not hook accept. cohook does, so this is accept. */
COHOOK_LIBCO_API int co_accept(int fd, struct sockaddr* addr, socklen_t* len);

/* ---- 6. sync ---- */

COHOOK_LIBCO_API struct stCoCond_t* co_cond_alloc(void);
/* Waiters still queued are woken first. */
COHOOK_LIBCO_API int co_cond_free(struct stCoCond_t* cond);
COHOOK_LIBCO_API int co_cond_signal(struct stCoCond_t* cond);
COHOOK_LIBCO_API int co_cond_broadcast(struct stCoCond_t* cond);
/* Parks the calling coroutine until signalled or, if timeout_ms > 0, until it passes (<= 0 waits
 * without limit). Returns 0 either way, as libco does: recheck your condition. Outside a
 * coroutine returns -1 with errno EPERM (there is nothing to park). */
COHOOK_LIBCO_API int co_cond_timedwait(struct stCoCond_t* cond, int timeout_ms);

/* ---- 7. shared stacks ---- */

/* count stacks of stack_size bytes each; coroutines created with it take them round-robin. */
COHOOK_LIBCO_API struct stShareStack_t* co_alloc_sharestack(int count, int stack_size);
/* cohook extension (libco never frees them): only once no coroutine made with it is alive. */
COHOOK_LIBCO_API void co_free_sharestack(struct stShareStack_t* share_stack);

/* ---- 8. per-coroutine environment variables ---- */

/* Names that setenv/getenv/unsetenv keep per coroutine (inside coroutines with hooks enabled);
 * the first call wins, as in libco. Other names, and every call outside such coroutines, reach
 * the process environment. */
COHOOK_LIBCO_API void co_set_env_list(const char* name[], size_t cnt);

/* libco's logging hook; prints nothing. */
COHOOK_LIBCO_API void co_log_err(const char* fmt, ...);

#ifdef __cplusplus
}
#endif

#endif /* COHOOK_COMPAT_CO_ROUTINE_H */
