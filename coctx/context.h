// Raw execution contexts: the assembly switch and the frame a fresh context starts from.
// Knows nothing of stacks' owners, schedulers or hooks; see fiber.h for the annotated wrapper.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cohook::coctx {

// A suspended context is its stack pointer; everything callee-saved sits on the stack just
// above it (layout in the per-ABI switch_*.S files).
struct Context {
  void* sp = nullptr;
};

// The first code a fresh context runs: `data` from make_context, `transfer` from the first switch
// into it. It must never return; a context ends by switching away for the last time.
using EntryFn = void (*)(void* data, void* transfer);

// Builds, at the top of [stack_low, stack_low + stack_size), the frame that the switch will pop
// to start `entry`. Nothing runs until the first switch_context to the result.
Context make_context(void* stack_low, std::size_t stack_size, EntryFn entry, void* data);

// Bytes the initial frame occupies (the stack's top is first aligned down to 16).
std::size_t initial_frame_size();

// True when `return_address` lies in the entry trampoline: the outermost frame of every context
// made here. An unwinder that ends on it has walked a coroutine's whole stack.
bool is_context_entry_frame(std::uintptr_t return_address);

}  // namespace cohook::coctx

// Saves the running context's callee-saved state on its stack, stores its sp in *save_sp, and
// resumes the context whose sp is load_sp. Returns the `transfer` of the switch that later
// resumes the saver. Defined in switch_<arch>_<abi>_elf_gas.S.
extern "C" void* cohook_switch_context(void** save_sp, void* load_sp, void* transfer);
