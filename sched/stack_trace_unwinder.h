// libunwind as the stack traces use it (private to sched/stack_trace*.cc): the ABI of the few
// entry points, resolved with dlsym from a library opened RTLD_LOCAL (DESIGN.md: its _Unwind_*
// must never shadow libgcc_s's), and the registers a switched-out fiber's saved frame holds.
//
// x86_64 takes the ABI from the installed <libunwind.h> (libunwind-dev). Debian's aarch64 cross
// compiler has no aarch64 libunwind header, so the aarch64 declarations are written out here from
// libunwind's include/libunwind-aarch64.h: a cursor is UNW_TDEP_CURSOR_LEN (250) words; the
// context is a prefix of glibc's ucontext_t (flags, link, stack, signal mask, then the machine
// context: fault address, x0-x30, sp, pc, pstate), so a ucontext_t serves; UNW_REG_IP is
// UNW_TDEP_IP, which is x30 (30); UNW_INIT_SIGNAL_FRAME is 1.
#pragma once

#include <ucontext.h>

#include <cstdint>
#include <mutex>

#include "sched/stack_trace.h"

#if defined(__x86_64__) && __has_include(<libunwind.h>)
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#define COHOOK_HAVE_LIBUNWIND 1
#elif defined(__aarch64__)
using unw_word_t = std::uint64_t;
using unw_regnum_t = int;
struct unw_cursor_t {
  unw_word_t opaque[250];
};
using unw_context_t = ucontext_t;
enum : int { UNW_REG_IP = 30, UNW_INIT_SIGNAL_FRAME = 1 };
#define COHOOK_HAVE_LIBUNWIND 1
#else
#define COHOOK_HAVE_LIBUNWIND 0
#endif

#if COHOOK_HAVE_LIBUNWIND
namespace cohook::diag::unwind {

// The local unwinder's entry points (valid once load_unwinder() has returned true).
struct Api {
  int (*init_local)(unw_cursor_t*, unw_context_t*) = nullptr;
  int (*init_local2)(unw_cursor_t*, unw_context_t*, int) = nullptr;  // libunwind 1.3 and later
  int (*step)(unw_cursor_t*) = nullptr;
  int (*get_reg)(unw_cursor_t*, unw_regnum_t, unw_word_t*) = nullptr;
};
extern Api g_api;

// libunwind's caches are locked in ways ThreadSanitizer cannot see (it is not instrumented):
// unwinds outside signal handlers take this lock, which it can.
extern std::mutex g_mutex;

// Reads frames from `cursor` into `out` until the outermost one, a bad address or kMaxFrames.
void walk(unw_cursor_t* cursor, int (*step)(unw_cursor_t*), int (*get_reg)(unw_cursor_t*, unw_regnum_t, unw_word_t*),
          StackTrace* out);

// The registers a fiber switched out by cohook_switch_context resumes with, from the frame the
// switch pushed (`frame`, a copy of it or the stack itself) that sits at stack address
// `frame_address`: the callee-saved registers, the stack pointer past the frame, and the return
// address into the switch's caller as the instruction pointer.
void context_from_switch_frame(const std::uint64_t* frame, std::uintptr_t frame_address, ucontext_t* uc);

// Frames of a fiber whose stack is a heap copy (a shared stack that another fiber occupies):
// `image` holds the bytes that belong at [low, high) of the shared stack starting at stack_low.
// Unwound where this architecture's libunwind allows it; otherwise out->missing says why.
void capture_off_stack(const char* image, std::uintptr_t low, std::uintptr_t high, std::uintptr_t stack_low,
                       StackTrace* out);

}  // namespace cohook::diag::unwind
#endif
