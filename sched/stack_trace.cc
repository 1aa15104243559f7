#include "sched/stack_trace.h"

#include <dlfcn.h>
#include <signal.h>
#include <ucontext.h>

#include <atomic>
#include <cstring>
#include <mutex>

#include "coctx/fiber.h"
#include "sched/coroutine.h"
#include "sched/symbolize.h"

#if defined(__x86_64__) && __has_include(<libunwind.h>)
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#define COHOOK_HAVE_LIBUNWIND 1
#else
#define COHOOK_HAVE_LIBUNWIND 0
#endif

namespace cohook::diag {

bool StackTrace::same_frames(const StackTrace& other) const {
  return depth == other.depth && std::memcmp(pc, other.pc, sizeof pc[0] * static_cast<std::size_t>(depth)) == 0;
}

#if COHOOK_HAVE_LIBUNWIND
namespace {

// The unw_* entry points, resolved by their exported names (the header's macros would make
// the linker want libunwind).
struct Unwinder {
  int (*init_local)(unw_cursor_t*, unw_context_t*) = nullptr;
  int (*init_local2)(unw_cursor_t*, unw_context_t*, int) = nullptr;
  int (*step)(unw_cursor_t*) = nullptr;
  int (*get_reg)(unw_cursor_t*, unw_regnum_t, unw_word_t*) = nullptr;
  int (*getcontext)(unw_context_t*) = nullptr;
};

Unwinder g_unwinder;
// libunwind's own caches are locked in ways ThreadSanitizer cannot see (it is not instrumented):
// unwinds outside signal handlers take this lock, which it can.
std::mutex g_unwind_mutex;
std::atomic<bool> g_loaded{false};
std::once_flag g_load_once;

template <class Fn>
bool resolve(void* library, const char* name, Fn* fn) {
  *fn = reinterpret_cast<Fn>(::dlsym(library, name));
  return *fn != nullptr;
}

void load() {
  // libunwind.so.8 is Debian's libunwind8 (the local-only x86_64 unwinder); the other name is the
  // same library under its target-specific soname.
  void* library = nullptr;
  for (const char* name : {"libunwind.so.8", "libunwind-x86_64.so.8"}) {
    library = ::dlopen(name, RTLD_LOCAL | RTLD_LAZY);
    if (library != nullptr) break;
  }
  if (library == nullptr) return;
  Unwinder u;
  bool ok = resolve(library, "_ULx86_64_init_local", &u.init_local) && resolve(library, "_ULx86_64_step", &u.step) &&
            resolve(library, "_ULx86_64_get_reg", &u.get_reg) && resolve(library, "_Ux86_64_getcontext", &u.getcontext);
  resolve(library, "_ULx86_64_init_local2", &u.init_local2);  // 1.3 and later; optional
  if (!ok) return;
  g_unwinder = u;
  g_loaded.store(true, std::memory_order_release);
}

void walk(unw_cursor_t* cursor, StackTrace* out) {
  out->depth = 0;
  out->truncated = false;
  for (;;) {
    unw_word_t ip = 0;
    if (g_unwinder.get_reg(cursor, UNW_REG_IP, &ip) < 0 || ip == 0) break;
    if (out->depth == StackTrace::kMaxFrames) {
      out->truncated = true;
      break;
    }
    out->pc[out->depth++] = static_cast<std::uintptr_t>(ip);
    if (g_unwinder.step(cursor) <= 0) break;
  }
}

}  // namespace

bool load_unwinder() {
  std::call_once(g_load_once, load);
  return unwinder_loaded();
}

bool unwinder_loaded() { return g_loaded.load(std::memory_order_acquire); }

void capture_suspended(const coctx::Fiber& fiber, StackTrace* out) {
  out->depth = 0;
  out->first_is_exact = false;
  if (fiber.on_shared_stack()) {
    // Its frames may sit in a heap copy while another fiber occupies the stack.
    out->missing = "not unwound: on a shared stack";
    return;
  }
  if (!load_unwinder()) {
    out->missing = "not unwound: libunwind (libunwind8) is not installed";
    return;
  }
  // The frame cohook_switch_context pushed (switch_x86_64_sysv_elf_gas.S): control words, r12,
  // r13, r14, r15, rbx, rbp, then the return address. Resuming it would pop all of that, so
  // the registers as the switch's caller will see them are exactly these.
  const auto* saved = static_cast<const std::uint64_t*>(fiber.saved_sp());
  if (saved == nullptr) {
    out->missing = "not unwound: never switched out";
    return;
  }
  ucontext_t uc;
  std::memset(&uc, 0, sizeof uc);
  greg_t* regs = uc.uc_mcontext.gregs;
  regs[REG_R12] = static_cast<greg_t>(saved[1]);
  regs[REG_R13] = static_cast<greg_t>(saved[2]);
  regs[REG_R14] = static_cast<greg_t>(saved[3]);
  regs[REG_R15] = static_cast<greg_t>(saved[4]);
  regs[REG_RBX] = static_cast<greg_t>(saved[5]);
  regs[REG_RBP] = static_cast<greg_t>(saved[6]);
  regs[REG_RIP] = static_cast<greg_t>(saved[7]);
  regs[REG_RSP] = static_cast<greg_t>(reinterpret_cast<std::uintptr_t>(saved + 8));
  unw_cursor_t cursor;
  std::lock_guard<std::mutex> lock(g_unwind_mutex);
  if (g_unwinder.init_local(&cursor, &uc) < 0) {
    out->missing = "not unwound: libunwind refused the saved context";
    return;
  }
  walk(&cursor, out);
}

void capture_signal_context(void* ucontext, StackTrace* out) {
  out->depth = 0;
  if (!unwinder_loaded()) {
    out->missing = "not unwound: libunwind was not loaded";
    return;
  }
  unw_cursor_t cursor;
  auto* uc = static_cast<unw_context_t*>(ucontext);
  // libunwind may read and write files (validating addresses) from this handler, which can run
  // inside a coroutine: those calls must be libc's, never a hooked call that parks.
  Coroutine* interrupted = Coroutine::current();
  bool hooks_were_enabled = interrupted != nullptr && interrupted->hooks_enabled();
  if (hooks_were_enabled) interrupted->set_hooks_enabled(false);
  struct RestoreHooks {
    Coroutine* coroutine;
    ~RestoreHooks() {
      if (coroutine != nullptr) coroutine->set_hooks_enabled(true);
    }
  } restore{hooks_were_enabled ? interrupted : nullptr};
  // A signal frame: the interrupted instruction is exact, not a return address.
  int rc = g_unwinder.init_local2 != nullptr ? g_unwinder.init_local2(&cursor, uc, UNW_INIT_SIGNAL_FRAME)
                                             : g_unwinder.init_local(&cursor, uc);
  if (rc < 0) {
    out->missing = "not unwound: libunwind refused the signal context";
    return;
  }
  walk(&cursor, out);
  out->first_is_exact = true;
}

void capture_here(StackTrace* out) {
  out->depth = 0;
  out->first_is_exact = false;
  if (!load_unwinder()) {
    out->missing = "not unwound: libunwind (libunwind8) is not installed";
    return;
  }
  unw_context_t uc;
  unw_cursor_t cursor;
  std::lock_guard<std::mutex> lock(g_unwind_mutex);
  if (g_unwinder.getcontext(&uc) < 0 || g_unwinder.init_local(&cursor, &uc) < 0) {
    out->missing = "not unwound: libunwind refused this context";
    return;
  }
  g_unwinder.step(&cursor);  // skip capture_here itself
  walk(&cursor, out);
}

#else  // no libunwind support for this target: stacks are reported as missing

bool load_unwinder() { return false; }
bool unwinder_loaded() { return false; }
void capture_suspended(const coctx::Fiber&, StackTrace* out) {
  out->depth = 0;
  out->missing = "not unwound: no unwinder for this architecture";
}
void capture_signal_context(void*, StackTrace* out) {
  out->depth = 0;
  out->missing = "not unwound: no unwinder for this architecture";
}
void capture_here(StackTrace* out) {
  out->depth = 0;
  out->missing = "not unwound: no unwinder for this architecture";
}

#endif

void format_stack(const StackTrace& stack, const char* indent, std::string* out) {
  if (stack.depth == 0) {
    *out += indent;
    *out += stack.missing != nullptr ? stack.missing : "(no frames)";
    *out += '\n';
    return;
  }
  for (int i = 0; i < stack.depth; ++i) {
    *out += indent;
    // A return address points after its call, possibly past the end of a noreturn function.
    bool exact = i == 0 && stack.first_is_exact;
    append_symbol(stack.pc[i], exact, out);
    // Deep recursion: one line for a run of the same return address.
    int repeats = 0;
    while (i + 1 < stack.depth && stack.pc[i + 1] == stack.pc[i]) {
      ++i;
      ++repeats;
    }
    if (repeats > 0) *out += " (and " + std::to_string(repeats) + " more frames of it)";
    *out += '\n';
  }
  if (stack.truncated) {
    *out += indent;
    *out += "...\n";
  }
}

}  // namespace cohook::diag
