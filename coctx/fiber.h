// Fiber: a context plus the stack it runs on, with every switch told to AddressSanitizer,
// ThreadSanitizer and valgrind so those tools see the truth. A fiber runs either on a private
// stack or on a SharedStack whose live part is copied out and back in on switches (libco's
// "copy stack"). No scheduling here: whoever owns fibers decides who runs next.
#pragma once

#include <cstddef>

#include "coctx/context.h"
#include "coctx/stack.h"

namespace cohook::coctx {

class Fiber;

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
  static Fiber& running();
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
  void* switch_to(Fiber& next, void* transfer = nullptr);
  // The last switch out of a fiber that will never run again (lets ASan drop its fake stack).
  [[noreturn]] void exit_to(Fiber& next, void* transfer = nullptr);

  const StackSpan& stack() const { return stack_; }
  // Where a suspended fiber's stack pointer stopped (for stack dumps).
  void* saved_sp() const { return ctx_.sp; }
  bool on_shared_stack() const { return shared_ != nullptr; }
  // Bytes of this fiber's frames held in its heap copy (shared stacks only).
  std::size_t saved_image_size() const { return image_size_; }

 private:
  friend class SharedStack;
  friend struct Copier;
  struct ThreadTag {};
  explicit Fiber(ThreadTag);
  void* jump(Fiber& next, void* transfer, bool exiting);
  __attribute__((noinline)) void* switch_to_shared_slow(Fiber& next, void* transfer);
  void* switch_via_copier(Fiber& next, void* transfer, bool exiting);
  void save_image();
  void restore_image();
  static void copier_loop(void* data, void* transfer);
  static void start(void* fiber, void* transfer);

  Context ctx_;
  StackSpan stack_;
  EntryFn entry_ = nullptr;
  void* entry_data_ = nullptr;
  SharedStack* shared_ = nullptr;
  char* image_ = nullptr;  // heap copy of the frames, while not the occupant
  std::size_t image_size_ = 0;
  std::size_t image_capacity_ = 0;
  void* asan_fake_stack_ = nullptr;
  void* tsan_fiber_ = nullptr;
  unsigned valgrind_id_ = 0;
  bool owns_tsan_fiber_ = false;
};

}  // namespace cohook::coctx
