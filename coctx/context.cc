#include "coctx/context.h"

#include <cstdint>
#include <cstring>

extern "C" void cohook_context_entry();

namespace cohook::coctx {
namespace {

char* aligned_top(void* stack_low, std::size_t stack_size) {
  // Both ABIs want a 16-byte aligned sp at a call boundary.
  auto top = reinterpret_cast<std::uintptr_t>(stack_low) + stack_size;
  return reinterpret_cast<char*>(top & ~std::uintptr_t{15});
}

#if defined(__x86_64__)
// Mirrors the frame in switch_x86_64_sysv_elf_gas.S.
struct InitialFrame {
  std::uint32_t mxcsr;
  std::uint16_t x87_control;
  std::uint16_t padding;
  void* r12;  // entry function, called by cohook_context_entry
  void* r13;  // its data
  void* r14;
  void* r15;
  void* rbx;
  void* rbp;  // 0: the outermost frame for frame-pointer walkers
  void* return_address;
};
static_assert(sizeof(InitialFrame) == 64, "frame layout must match the .S file");

void fill_frame(InitialFrame* frame, EntryFn entry, void* data) {
  std::memset(frame, 0, sizeof *frame);
  frame->mxcsr = 0x1F80;         // ABI default: all exceptions masked, round to nearest
  frame->x87_control = 0x037F;   // ABI default: extended precision, round to nearest, masked
  frame->r12 = reinterpret_cast<void*>(entry);
  frame->r13 = data;
  frame->return_address = reinterpret_cast<void*>(&cohook_context_entry);
}
#elif defined(__aarch64__)
// Mirrors the frame in switch_arm64_aapcs_elf_gas.S.
struct InitialFrame {
  void* x19;  // entry function, called by cohook_context_entry
  void* x20;  // its data
  void* x21_to_x28[8];
  void* x29;  // 0: the outermost frame for frame-pointer walkers
  void* x30;  // "return address": cohook_context_entry
  double d8_to_d15[8];
  std::uint64_t fpcr;  // 0: round to nearest, no flush-to-zero (the ABI default)
  std::uint64_t padding;
};
static_assert(sizeof(InitialFrame) == 176, "frame layout must match the .S file");

void fill_frame(InitialFrame* frame, EntryFn entry, void* data) {
  std::memset(frame, 0, sizeof *frame);
  frame->x19 = reinterpret_cast<void*>(entry);
  frame->x20 = data;
  frame->x30 = reinterpret_cast<void*>(&cohook_context_entry);
}
#else
#error "cohook has a context switch for x86_64 SysV and aarch64 AAPCS64 only"
#endif

}  // namespace

std::size_t initial_frame_size() { return sizeof(InitialFrame); }

bool is_context_entry_frame(std::uintptr_t return_address) {
  // The trampoline is a few instructions ending in its one call (switch_*.S): the return address
  // it leaves is within its first 32 bytes on both ABIs.
  auto entry = reinterpret_cast<std::uintptr_t>(&cohook_context_entry);
  return return_address > entry && return_address - entry <= 32;
}

Context make_context(void* stack_low, std::size_t stack_size, EntryFn entry, void* data) {
  auto* frame = reinterpret_cast<InitialFrame*>(aligned_top(stack_low, stack_size) - sizeof(InitialFrame));
  fill_frame(frame, entry, data);
  return Context{frame};
}

}  // namespace cohook::coctx
