#include "coctx/fiber.h"

#include <pthread.h>
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "coctx/sanitizers.h"

namespace cohook::coctx {
namespace {

// Copies a stack image. Under ASan the bytes include other frames' redzones, which are poisoned
// by design; a plain memcpy would be checked against them, so copy word by word, unchecked.
COHOOK_NO_SANITIZE_ADDRESS void copy_stack_bytes(char* to, const char* from, std::size_t n) {
#if COHOOK_ASAN
  auto* t = reinterpret_cast<std::uint64_t*>(to);
  auto* f = reinterpret_cast<const std::uint64_t*>(from);
  for (std::size_t i = 0; i < n / 8; ++i) {
    t[i] = f[i];
    asm volatile("" ::: "memory");  // keep the compiler from turning the loop into memcpy
  }
  for (std::size_t i = n / 8 * 8; i < n; ++i) to[i] = from[i];
#else
  std::memcpy(to, from, n);
#endif
}

struct CopyRequest {
  Fiber* next;
  void* transfer;
};

}  // namespace

constinit thread_local Fiber* t_running_fiber __attribute__((tls_model("initial-exec"))) = nullptr;

// The copier runs on a small private stack so that it can overwrite a shared stack that the
// fiber asking for the switch was running on a moment before.
struct Copier {
  StackSpan span;
  Fiber fiber;
  Copier(EntryFn loop) : span(StackPool::this_thread().acquire(kMinStackSize)), fiber(span, loop, nullptr) {}
  ~Copier() { StackPool::this_thread().release(span); }
};

namespace {
Copier& copier(EntryFn loop) {
  static thread_local Copier c(loop);
  return c;
}
}  // namespace

Fiber& Fiber::thread_fiber() {
  static thread_local Fiber fiber{ThreadTag{}};
  return fiber;
}

Fiber& Fiber::first_running() {
  if (t_running_fiber == nullptr) t_running_fiber = &thread_fiber();
  return *t_running_fiber;
}

Fiber::Fiber(ThreadTag) {
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* low = nullptr;
    std::size_t size = 0;
    if (pthread_attr_getstack(&attr, &low, &size) == 0) {
      low_ = static_cast<char*>(low);
      size_ = size;
    }
    pthread_attr_destroy(&attr);
  }
#if COHOOK_TSAN
  tsan_fiber_ = __tsan_get_current_fiber();
#endif
}

Fiber::Fiber(const StackSpan& stack, EntryFn entry, void* data) : low_(stack.low), size_(stack.size), guarded_(stack.guarded) {
  ctx_ = first_frame(stack.low, stack.size, entry, data);
  valgrind_id_ = VALGRIND_STACK_REGISTER(stack.low, stack.high());
#if COHOOK_TSAN
  tsan_fiber_ = __tsan_create_fiber(0);
  owns_tsan_fiber_ = true;
#endif
}

Fiber::Fiber(SharedStack& shared, EntryFn entry, void* data) : shared_(&shared) {
  // The shared stack may be occupied now, so the first frame is built aside and kept as this
  // fiber's image; it holds no pointers into itself, so it can be placed at the stack's top later.
  alignas(16) char scratch[256];
  Context c = first_frame(scratch, sizeof scratch, entry, data);
  image_size_ = static_cast<std::uint32_t>(scratch + sizeof scratch - static_cast<char*>(c.sp));
  image_ = static_cast<char*>(std::malloc(image_size_));
  if (image_ == nullptr) std::abort();
  std::memcpy(image_, c.sp, image_size_);
  ctx_.sp = shared.span().high() - image_size_;
#if COHOOK_TSAN
  tsan_fiber_ = __tsan_create_fiber(0);
  owns_tsan_fiber_ = true;
#endif
}

Fiber::~Fiber() {
  if (shared_ != nullptr && shared_->occupant_ == this) shared_->occupant_ = nullptr;
  if (shared_ != nullptr) std::free(image_);
  if (valgrind_id_ != 0) VALGRIND_STACK_DEREGISTER(valgrind_id_);
#if COHOOK_TSAN
  if (owns_tsan_fiber_) __tsan_destroy_fiber(tsan_fiber_);
#endif
}

Context Fiber::first_frame(void* low, std::size_t size, EntryFn entry, void* data) {
#if COHOOK_ASAN
  entry_ = entry;
  entry_data_ = data;
  return make_context(low, size, &Fiber::start, this);
#else
  return make_context(low, size, entry, data);
#endif
}

#if COHOOK_ASAN
void Fiber::start(void* fiber, void* transfer) {
  auto* self = static_cast<Fiber*>(fiber);
  __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
  self->entry_(self->entry_data_, transfer);
  std::abort();  // unreachable: entry functions leave through exit_to
}
#endif

void* Fiber::switch_to_shared_slow(Fiber& next, void* transfer) {
  // We cannot copy over the stack we are standing on: let the copier do it.
  if (shared_ == next.shared_) return switch_via_copier(next, transfer, false);
  next.shared_->occupy(next);
  return jump(next, transfer, false);
}

void Fiber::exit_to(Fiber& next, void* transfer) {
  // An exiting fiber's frames are dead: give up the shared stack without saving them.
  if (shared_ != nullptr && shared_->occupant_ == this) shared_->occupant_ = nullptr;
  if (next.shared_ != nullptr && next.shared_->occupant_ != &next) {
    if (shared_ == next.shared_) {
      switch_via_copier(next, transfer, true);
      std::abort();
    }
    next.shared_->occupy(next);
  }
  jump(next, transfer, true);
  std::abort();  // an exited fiber is never resumed
}

void* Fiber::switch_via_copier(Fiber& next, void* transfer, bool exiting) {
  CopyRequest request{&next, transfer};
  return jump(copier(&Fiber::copier_loop).fiber, &request, exiting);
}

void Fiber::copier_loop(void*, void* transfer) {
  Fiber& self = copier(&Fiber::copier_loop).fiber;
  for (;;) {
    // Read the request before occupy() overwrites the stack it lives on.
    CopyRequest request = *static_cast<CopyRequest*>(transfer);
    request.next->shared_->occupy(*request.next);
    transfer = self.jump(*request.next, request.transfer, false);
  }
}

void Fiber::save_image() {
  // Exactly the live frames, no slack: with a million parked sharers, slack is most of the heap.
  // The buffer is kept while this fiber occupies the stack (the next save usually needs the same
  // size, so it costs no malloc) and freed with the fiber.
  std::size_t size = static_cast<std::size_t>(shared_->span_.high() - static_cast<char*>(ctx_.sp));
  if (size != image_size_ || image_ == nullptr) {
    char* resized = static_cast<char*>(std::realloc(image_, size));
    if (resized == nullptr) std::abort();
    image_ = resized;
  }
  copy_stack_bytes(image_, static_cast<const char*>(ctx_.sp), size);
  image_size_ = static_cast<std::uint32_t>(size);
}

void Fiber::restore_image() {
  // To memcheck, the shared stack below the last occupant's stack pointer is dead space; we are
  // about to bring frames back to life there.
  VALGRIND_MAKE_MEM_UNDEFINED(ctx_.sp, image_size_);
  copy_stack_bytes(static_cast<char*>(ctx_.sp), image_, image_size_);
}

SharedStack::SharedStack(std::size_t size) : span_(StackPool::this_thread().acquire(size)) {
  valgrind_id_ = VALGRIND_STACK_REGISTER(span_.low, span_.high());
}

SharedStack::~SharedStack() {
  VALGRIND_STACK_DEREGISTER(valgrind_id_);
  StackPool::this_thread().release(span_);
}

void SharedStack::occupy(Fiber& fiber) {
  if (occupant_ == &fiber) return;
  if (occupant_ != nullptr) occupant_->save_image();
  occupant_ = &fiber;
#if COHOOK_ASAN
  // The shadow still describes the previous occupant's frames.
  __asan_unpoison_memory_region(span_.low, span_.size);
#endif
  fiber.restore_image();
}

}  // namespace cohook::coctx
