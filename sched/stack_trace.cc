#include "sched/stack_trace.h"

#include <dlfcn.h>
#include <signal.h>
#include <ucontext.h>

#include <atomic>
#include <cstring>
#include <mutex>

#include "coctx/context.h"
#include "coctx/fiber.h"
#include "sched/coroutine.h"
#include "sched/stack_trace_unwinder.h"
#include "sched/symbolize.h"

namespace cohook::diag {

bool StackTrace::same_frames(const StackTrace& other) const {
  return depth == other.depth && std::memcmp(pc, other.pc, sizeof pc[0] * static_cast<std::size_t>(depth)) == 0;
}

#if COHOOK_HAVE_LIBUNWIND
namespace unwind {

Api g_api;
std::mutex g_mutex;

namespace {

std::atomic<bool> g_loaded{false};
std::once_flag g_load_once;

// The library's names and the entry points' exported names (the header's macros would make the
// linker want libunwind). libunwind.so.8 is Debian's libunwind8, the local-only unwinder; the
// other name is the same library under its target-specific soname.
#if defined(__x86_64__)
constexpr const char* kLibraries[] = {"libunwind.so.8", "libunwind-x86_64.so.8"};
constexpr const char* kInitLocal = "_ULx86_64_init_local";
constexpr const char* kInitLocal2 = "_ULx86_64_init_local2";
constexpr const char* kStep = "_ULx86_64_step";
constexpr const char* kGetReg = "_ULx86_64_get_reg";
#elif defined(__aarch64__)
constexpr const char* kLibraries[] = {"libunwind.so.8", "libunwind-aarch64.so.8"};
constexpr const char* kInitLocal = "_ULaarch64_init_local";
constexpr const char* kInitLocal2 = "_ULaarch64_init_local2";
constexpr const char* kStep = "_ULaarch64_step";
constexpr const char* kGetReg = "_ULaarch64_get_reg";
#endif

template <class Fn>
bool resolve(void* library, const char* name, Fn* fn) {
  *fn = reinterpret_cast<Fn>(::dlsym(library, name));
  return *fn != nullptr;
}

void load() {
  void* library = nullptr;
  for (const char* name : kLibraries) {
    library = ::dlopen(name, RTLD_LOCAL | RTLD_LAZY);
    if (library != nullptr) break;
  }
  if (library == nullptr) return;
  Api api;
  bool ok = resolve(library, kInitLocal, &api.init_local) && resolve(library, kStep, &api.step) &&
            resolve(library, kGetReg, &api.get_reg);
  resolve(library, kInitLocal2, &api.init_local2);  // optional
  if (!ok) return;
  g_api = api;
  g_loaded.store(true, std::memory_order_release);
}

}  // namespace

void walk(unw_cursor_t* cursor, int (*step)(unw_cursor_t*), int (*get_reg)(unw_cursor_t*, unw_regnum_t, unw_word_t*),
          StackTrace* out) {
  out->depth = 0;
  out->truncated = false;
  out->reached_entry = false;
  for (;;) {
    unw_word_t ip = 0;
    if (get_reg(cursor, UNW_REG_IP, &ip) < 0) break;
    // No code lives in the first page or at the top of the address space: such a value is a
    // frame the unwinder could not really read (code without unwind info), not a caller.
    if (ip < 4096 || ip >= ~unw_word_t{0} - 4096) break;
    if (out->depth == StackTrace::kMaxFrames) {
      out->truncated = true;
      break;
    }
    out->pc[out->depth++] = static_cast<std::uintptr_t>(ip);
    if (coctx::is_context_entry_frame(out->pc[out->depth - 1])) {
      out->reached_entry = true;
      break;
    }
    if (step(cursor) <= 0) break;
  }
}

void context_from_switch_frame(const std::uint64_t* frame, std::uintptr_t frame_address, ucontext_t* uc) {
  std::memset(uc, 0, sizeof *uc);
#if defined(__x86_64__)
  // switch_x86_64_sysv_elf_gas.S: control words, r12, r13, r14, r15, rbx, rbp, return address.
  // Resuming pops all of it, so these are the registers as the switch's caller will see them.
  greg_t* regs = uc->uc_mcontext.gregs;
  regs[REG_R12] = static_cast<greg_t>(frame[1]);
  regs[REG_R13] = static_cast<greg_t>(frame[2]);
  regs[REG_R14] = static_cast<greg_t>(frame[3]);
  regs[REG_R15] = static_cast<greg_t>(frame[4]);
  regs[REG_RBX] = static_cast<greg_t>(frame[5]);
  regs[REG_RBP] = static_cast<greg_t>(frame[6]);
  regs[REG_RIP] = static_cast<greg_t>(frame[7]);
  regs[REG_RSP] = static_cast<greg_t>(frame_address + 8 * sizeof frame[0]);
#elif defined(__aarch64__)
  // switch_arm64_aapcs_elf_gas.S: x19-x28, x29, x30 (the return address) from offset 0, then
  // d8-d15 and fpcr, 176 bytes in all; the return branches to x30 with sp past the frame.
  for (int i = 0; i < 12; ++i) uc->uc_mcontext.regs[19 + i] = frame[i];
  uc->uc_mcontext.sp = frame_address + 176;
  uc->uc_mcontext.pc = frame[11];
#endif
}

}  // namespace unwind

bool load_unwinder() {
  std::call_once(unwind::g_load_once, unwind::load);
  return unwinder_loaded();
}

bool unwinder_loaded() { return unwind::g_loaded.load(std::memory_order_acquire); }

void capture_suspended(const coctx::Fiber& fiber, StackTrace* out) {
  out->depth = 0;
  out->first_is_exact = false;
  if (!load_unwinder()) {
    out->missing = "not unwound: libunwind (libunwind8) is not installed";
    return;
  }
  const auto* saved = static_cast<const std::uint64_t*>(fiber.saved_sp());
  if (saved == nullptr) {
    out->missing = "not unwound: never switched out";
    return;
  }
  if (fiber.on_shared_stack() && !fiber.frames_on_shared_stack()) {
    // Another fiber occupies the shared stack; this one's frames sit in a heap copy.
    auto low = reinterpret_cast<std::uintptr_t>(saved);
    unwind::capture_off_stack(fiber.saved_image(), low, low + fiber.saved_image_size(),
                              reinterpret_cast<std::uintptr_t>(fiber.stack().low), out);
    return;
  }
  ucontext_t uc;
  unwind::context_from_switch_frame(saved, reinterpret_cast<std::uintptr_t>(saved), &uc);
  unw_cursor_t cursor;
  std::lock_guard<std::mutex> lock(unwind::g_mutex);
  if (unwind::g_api.init_local(&cursor, &uc) < 0) {
    out->missing = "not unwound: libunwind refused the saved context";
    return;
  }
  unwind::walk(&cursor, unwind::g_api.step, unwind::g_api.get_reg, out);
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
  const unwind::Api& api = unwind::g_api;
  int rc = api.init_local2 != nullptr ? api.init_local2(&cursor, uc, UNW_INIT_SIGNAL_FRAME) : api.init_local(&cursor, uc);
  if (rc < 0) {
    out->missing = "not unwound: libunwind refused the signal context";
    return;
  }
  unwind::walk(&cursor, api.step, api.get_reg, out);
  out->first_is_exact = true;
}

void capture_here(StackTrace* out) {
  out->depth = 0;
  out->first_is_exact = false;
  if (!load_unwinder()) {
    out->missing = "not unwound: libunwind (libunwind8) is not installed";
    return;
  }
  // glibc's getcontext fills the same registers libunwind's own would (callee-saved ones, the
  // stack pointer and the return address into this function), on both architectures.
  ucontext_t uc;
  unw_cursor_t cursor;
  std::lock_guard<std::mutex> lock(unwind::g_mutex);
  if (::getcontext(&uc) != 0 || unwind::g_api.init_local(&cursor, &uc) < 0) {
    out->missing = "not unwound: libunwind refused this context";
    return;
  }
  unwind::g_api.step(&cursor);  // skip capture_here itself
  unwind::walk(&cursor, unwind::g_api.step, unwind::g_api.get_reg, out);
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
