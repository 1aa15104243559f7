// Fiber: a context plus the stack it runs on, with every switch told to AddressSanitizer,
// ThreadSanitizer and valgrind so those tools see the truth. A fiber runs either on a private
// stack or on a SharedStack whose live part is copied out and back in on switches (libco's
// "copy stack"). No scheduling here: whoever owns fibers decides who runs next.
#pragma once

#include <cstddef>
#include <cstdint>

#include "coctx/context.h"
#include "coctx/sanitizers.h"
#include "coctx/stack.h"

namespace cohook::coctx {

class Fiber;

// The fiber running on this thread (nullptr until Fiber::running() is first asked). initial-exec:
// read on every switch; the general-dynamic model would cost a __tls_get_addr call in the shared
// library. Declared here so that the switch can be inlined into its callers.
extern constinit thread_local Fiber* t_running_fiber __attribute__((tls_model("initial-exec")));

// One stack shared by many fibers; only one (the occupant) has its frames on it at a time.
// Hazard, inherent in the scheme: a pointer into a suspended fiber's stack is dangling until
// that fiber runs again, because its frames live in a heap copy meanwhile.
class SharedStack {
 public:
  explicit SharedStack(std::size_t size);
  SharedStack(const SharedStack&) = delete;
  SharedStack& operator=(const SharedStack&) = delete;
  ~SharedStack();

  const StackSpan& span() const { return span_; }
  Fiber* occupant() const { return occupant_; }

 private:
  friend class Fiber;
  void occupy(Fiber& fiber);  // save the occupant's frames, restore fiber's

  StackSpan span_;
  Fiber* occupant_ = nullptr;
  unsigned valgrind_id_ = 0;
};

class Fiber {
 public:
  // The fiber running on the calling thread: its own original stack until it switches.
  static Fiber& running() {
    Fiber* f = t_running_fiber;
    return __builtin_expect(f != nullptr, 1) ? *f : first_running();
  }
  // The calling thread's original stack, as a fiber.
  static Fiber& thread_fiber();

  // A fiber on a private stack (owned by the caller, which must outlive the fiber).
  Fiber(const StackSpan& stack, EntryFn entry, void* data);
  // A fiber on a shared stack.
  Fiber(SharedStack& shared, EntryFn entry, void* data);
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;
  ~Fiber();

  // Suspends this fiber, which must be the running one, and resumes `next`. Returns the
  // transfer value of the switch that resumes this fiber later.
  // Inline: a switch between two private stacks is the assembly call and a TLS store (plus the
  // sanitizer hooks in the builds that have them).
  void* switch_to(Fiber& next, void* transfer = nullptr) {
    if (__builtin_expect(next.shared_ != nullptr, 0) && next.shared_->occupant_ != &next)
      return switch_to_shared_slow(next, transfer);
    return jump(next, transfer, false);
  }
  // The last switch out of a fiber that will never run again (lets ASan drop its fake stack).
  [[noreturn]] void exit_to(Fiber& next, void* transfer = nullptr);

  // A hint that this suspended fiber is about to be resumed: starts loading the top of its stack
  // (the switch frame and the frames of the calls it stopped in), so that the switch finds those
  // lines in cache. A server with thousands of connection coroutines finds every stack cold
  // otherwise, and a resume then costs a TLB walk and several cache misses (bench/sched_bench's
  // BM_SchedulerYieldMany). Only loads: any address works, and nothing is written.
  void prefetch_resume() const {
    const char* top = static_cast<const char*>(ctx_.sp);
    for (std::size_t offset = 0; offset < kResumePrefetchBytes; offset += 64) __builtin_prefetch(top + offset);
  }
  static constexpr std::size_t kResumePrefetchBytes = 512;

  // A shared stack's span lives in the SharedStack; a private one's in the fiber.
  StackSpan stack() const { return shared_ != nullptr ? shared_->span_ : StackSpan{low_, size_, guarded_}; }
  // Where a suspended fiber's stack pointer stopped (for stack dumps).
  void* saved_sp() const { return ctx_.sp; }
  bool on_shared_stack() const { return shared_ != nullptr; }
  // Where a suspended shared-stack fiber's frames are (for stack dumps): on the stack while it is
  // the occupant, else in saved_image(), saved_image_size() bytes that belong at saved_sp().
  bool frames_on_shared_stack() const { return shared_ != nullptr && shared_->occupant_ == this; }
  const char* saved_image() const { return shared_ != nullptr ? image_ : nullptr; }
  // Bytes of this fiber's frames held in its heap copy (shared stacks only). The copy is sized
  // exactly (no slack) and freed as soon as the frames are back on the shared stack.
  std::size_t saved_image_size() const { return shared_ != nullptr ? image_size_ : 0; }

 private:
  friend class SharedStack;
  friend struct Copier;
  struct ThreadTag {};
  explicit Fiber(ThreadTag);
  static Fiber& first_running();
  void* jump(Fiber& next, void* transfer, bool exiting) {
    t_running_fiber = &next;
#if COHOOK_ASAN
    StackSpan next_stack = next.stack();
    __sanitizer_start_switch_fiber(exiting ? nullptr : &asan_fake_stack_, next_stack.low, next_stack.size);
#else
    (void)exiting;
#endif
#if COHOOK_TSAN
    __tsan_switch_to_fiber(next.tsan_fiber_, 0);
#endif
    void* result = cohook_switch_context(&ctx_.sp, next.ctx_.sp, transfer);
#if COHOOK_ASAN
    __sanitizer_finish_switch_fiber(asan_fake_stack_, nullptr, nullptr);
#endif
    return result;
  }
  __attribute__((noinline)) void* switch_to_shared_slow(Fiber& next, void* transfer);
  void* switch_via_copier(Fiber& next, void* transfer, bool exiting);
  void save_image();
  void restore_image();
  static void copier_loop(void* data, void* transfer);
  // The frame a fresh fiber starts from (see entry_).
  Context first_frame(void* low, std::size_t size, EntryFn entry, void* data);
#if COHOOK_ASAN
  static void start(void* fiber, void* transfer);
#endif

  // Laid out small: a million parked coroutines each hold one. A fiber on a private stack keeps
  // that stack's span; one on a shared stack finds the span in the SharedStack and keeps its
  // frames' heap copy in the same words instead. The sanitizer fields exist only in the builds
  // that use them.
  Context ctx_;
  SharedStack* shared_ = nullptr;
  union {
    char* low_ = nullptr;  // private: the stack's lowest usable byte
    char* image_;          // shared: heap copy of the frames, while not the occupant
  };
  union {
    std::size_t size_ = 0;     // private: usable bytes
    std::size_t image_size_;   // shared: bytes in image_
  };
  unsigned valgrind_id_ = 0;
  bool guarded_ = false;  // private: a guard page sits below low_
#if COHOOK_ASAN
  void* asan_fake_stack_ = nullptr;
  // ASan must be told when a fresh fiber first runs, so its entry goes through start(); other
  // builds start `entry` directly from the initial frame and keep neither field.
  EntryFn entry_ = nullptr;
  void* entry_data_ = nullptr;
#endif
#if COHOOK_TSAN
  void* tsan_fiber_ = nullptr;
  bool owns_tsan_fiber_ = false;
#endif
};

}  // namespace cohook::coctx
