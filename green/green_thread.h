// GreenThread: what green mode keeps for each thread the program created (and for main): the
// coroutine it runs on, its start routine and result, detach and join state, its name, its
// pthread key values and its stack bounds. A green thread's pthread_t is its GreenThread*.
//
// Which calls are emulated, once green mode runs: those of green threads (coroutines that run a
// GreenThread), of the plain thread stack that runs exit() for one (green_runtime.cc), and the
// synchronisation calls (mutex, cond, rwlock, barrier, spin, sem, once) of every other thread
// of the program, which block that thread instead of parking. The other threads are "foreign":
// created behind corun's back (jemalloc starts its background threads through a pthread_create
// it looks up with dlsym) or before green mode. They share mutexes and condition variables with
// green threads, so all users of an object must agree on its format: one format, the emulated
// one. Their thread calls (create, join, self, keys) stay real. cohook's own threads and code
// (t_cohook_thread, NativeSyncScope, --wrap) always get the real functions.
//
// Room for later steps (not built): per-green-thread TLS would give each GreenThread a static
// TLS block and DTV of its own and switch the FS base (x86_64, arch_prctl/wrfsbase) or TPIDR_EL0
// (aarch64) in Coroutine::resume and switch_to_resumer; nothing here caches a scheduler-thread
// TLS address across a park, so once that exists a parked green thread could also move to
// another scheduler (migration) without this layer changing: GreenThread never records which
// scheduler runs it.
#pragma once

#include <pthread.h>
#include <time.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cohook/detail/wait_list.hpp"
#include "green/signal_state.h"
#include "sched/coroutine.h"
#include "sched/native_sync.h"
#include "sched/time.h"

namespace cohook::green {

inline constexpr std::uint64_t kGreenMagic = 0x6772656e74687264ull;  // "grenthrd"

struct KeyValue {
  std::uintptr_t sequence = 0;  // the key's sequence when the value was set
  void* value = nullptr;
};

struct GreenThread {
  const std::uint64_t magic = kGreenMagic;  // first: tells a GreenThread* from a real pthread_t
  std::uint32_t id = 0;                     // owner id in emulated mutexes (never 0)
  bool is_main = false;
  bool foreign = false;  // a plain thread's identity for emulated sync objects (foreign_thread())
  void* (*start)(void*) = nullptr;
  void* argument = nullptr;
  void* result = nullptr;
  Coroutine* coroutine = nullptr;  // one reference, released with this object
  std::size_t stack_size = 0;
  std::size_t guard_size = 0;
  char name[16] = {};
  std::vector<KeyValue> keys;  // indexed by pthread_key_t
  void* cleanup_chain = nullptr;  // C pthread_cleanup_push buffers (glibc's __pthread_unwind_buf_t)
  void* exit_frame = nullptr;     // where pthread_exit's forced unwind stops (thread_lifecycle.cc)
  void* exit_jump[5] = {};
  void* exit_exception = nullptr;  // the _Unwind_Exception of a pthread_exit in progress        // __builtin_setjmp buffer of that frame

  // Detach/finish: whoever sets the second of these two bits frees the object.
  static constexpr unsigned kDetached = 1, kFinished = 2, kJoined = 4;
  std::atomic<unsigned> flags{0};
  detail::SpinLock join_lock;
  detail::WaitList joiners;
  GreenSignals signals;  // its mask and pending signals (green/signal_state.h)
};

// True once green mode runs main as a green thread.
extern std::atomic<bool> g_green_active;
// The green thread whose exit() this plain thread stack is running (green_runtime.cc), if any.
extern constinit thread_local GreenThread* t_exiting_green __attribute__((tls_model("initial-exec")));

inline GreenThread* green_thread_of(Coroutine* coroutine) {
  void* data = coroutine->user_data();
  if (data == nullptr || *static_cast<const std::uint64_t*>(data) != kGreenMagic) return nullptr;
  return static_cast<GreenThread*>(data);
}

// The identity of a plain thread that is not cohook's (made on first use; thread_identity.cc).
GreenThread* foreign_thread();

// Who is calling, for the emulation: a green thread, the exiting one, a foreign thread (see
// above), or nullptr when the real functions apply.
inline GreenThread* current_green() {
  if (!g_green_active.load(std::memory_order_relaxed)) [[likely]] return nullptr;
  if (t_native_sync_depth != 0) return nullptr;
  if (Coroutine* c = Coroutine::current()) {
    if (GreenThread* g = green_thread_of(c)) return g;
    return foreign_thread();  // a coroutine of the program's own (libco API, cohook API)
  }
  if (t_exiting_green != nullptr) return t_exiting_green;
  if (t_cohook_thread) return nullptr;
  return foreign_thread();
}

// A green thread proper (not foreign): the callers of the thread calls (create, self, keys).
inline GreenThread* current_green_thread() {
  GreenThread* g = current_green();
  return g != nullptr && !g->foreign ? g : nullptr;
}

// A pthread_t that names a green thread, or nullptr for a real thread.
inline GreenThread* as_green(pthread_t thread) {
  if (!g_green_active.load(std::memory_order_relaxed) || thread == 0) return nullptr;
  auto* candidate = reinterpret_cast<GreenThread*>(thread);
  return candidate->magic == kGreenMagic ? candidate : nullptr;
}

// Absolute time on `clock` as a scheduler deadline; false (EINVAL) for a malformed timespec.
bool deadline_from(clockid_t clock, const timespec* absolute, TimePoint* deadline);

// Prints "cohook: NAME is not supported for green threads (...)" once per name.
void report_unsupported(const char* name, const char* what_happens);

// Scheduler placement and lifetime (green_runtime.cc).
// Places a new green thread on a scheduler thread (round robin) and queues it.
void spawn_green(GreenThread* thread);
// The body of every green thread's coroutine (thread_lifecycle.cc).
void run_green_thread(GreenThread* thread);
// Runs the key destructors of a finishing green thread (keys_once.cc).
void run_key_destructors(GreenThread* thread);
void green_thread_started();
void green_thread_finished();
// exit() from a green thread: the exit runs on the scheduler thread's own stack. Never returns.
[[noreturn]] void request_exit(int status);
std::size_t default_green_stack_size();

// fork() (green/fork_child.cc installs the pthread_atfork child handler, green_runtime.cc does
// the work): in the child, the green thread that forked (`survivor`, or nullptr if a plain
// thread forked) is left the only one, on the only scheduler, and the first pthread_create
// starts the other scheduler threads again.
void install_fork_handlers();
void reset_runtime_in_child(Coroutine* survivor);
// Owner ids for emulated locks: never 0.
std::uint32_t next_green_id();

}  // namespace cohook::green
