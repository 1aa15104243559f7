// Stack traces of coroutines, for dumps and reports. Suspended coroutines are unwound from the
// registers their last switch saved; running code from a signal's ucontext or from here. The
// unwinder is libunwind, opened with dlopen(RTLD_LOCAL) on first use and reached only through
// unw_* entry points: linked or loaded globally, its _Unwind_* would shadow libgcc_s's and break
// C++ exceptions (DESIGN.md). Symbol names come from sched/symbolize.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace cohook::coctx {
class Fiber;
}

namespace cohook::diag {

struct StackTrace {
  static constexpr int kMaxFrames = 64;
  std::uintptr_t pc[kMaxFrames];
  int depth = 0;
  // pc[0] is the faulting/interrupted instruction (a signal context), not a return address.
  bool first_is_exact = false;
  bool truncated = false;  // more frames than kMaxFrames
  // The walk ended on a coroutine's entry trampoline: its whole stack is here. False when the
  // unwinder lost its way first (code without unwind info, such as parts of a sanitizer runtime).
  bool reached_entry = false;
  // Why depth is 0, when it is ("no unwinder", "on a shared stack").
  const char* missing = nullptr;

  bool same_frames(const StackTrace& other) const;
};

// Loads the unwinder if it is not yet loaded. Not from a signal handler (dlopen); false if
// libunwind is not installed or this architecture has no support.
bool load_unwinder();
// True once load_unwinder() has succeeded; then the capture functions are usable in handlers.
bool unwinder_loaded();

// A fiber that is switched out (not running anywhere). Call only where it cannot start running
// meanwhile: on its home thread, or while it is provably parked for good.
void capture_suspended(const coctx::Fiber& fiber, StackTrace* out);
// The context a signal handler (SA_SIGINFO) was given. Needs unwinder_loaded(); async-signal-safe
// enough for a thread that is not itself inside libunwind.
void capture_signal_context(void* ucontext, StackTrace* out);
// The caller's own stack, starting at the caller's caller.
void capture_here(StackTrace* out);

// One line per frame, each prefixed with `indent`: "function+0x1c (module)".
void format_stack(const StackTrace& stack, const char* indent, std::string* out);

}  // namespace cohook::diag
