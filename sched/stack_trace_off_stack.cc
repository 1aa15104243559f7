// Stacks of fibers whose frames are not on a stack: a fiber on a shared ("copy") stack that
// another fiber occupies keeps its frames in a heap copy (coctx/fiber.h). The local unwinder can
// only read the stack where it is, and there another fiber's frames sit now.
//
// On x86_64, libunwind's generic ("remote") interface unwinds the copy in place: an address space
// whose register reads come from the switch frame and whose memory reads come from the copy for
// the stack's range and from memory for everything else (code, unwind tables). The generic library
// (libunwind-x86_64.so.8) comes in the same Debian package as the local one, and is opened the
// same way, RTLD_LOCAL. Elsewhere the dump says plainly that these frames were not unwound.
#include <dlfcn.h>

#include <cstring>
#include <mutex>

#include "coctx/sanitizers.h"
#include "sched/stack_trace_unwinder.h"

#if COHOOK_HAVE_LIBUNWIND
namespace cohook::diag::unwind {

#if defined(__x86_64__)
namespace {

// What the accessors read: passed to them as their `arg`.
struct OffStack {
  const char* image;
  std::uintptr_t low, high;  // where the image's bytes belong
  std::uintptr_t stack_low;  // the shared stack's bottom
  unw_word_t regs[UNW_X86_64_RIP + 1];
};

// libunwind reads aligned words; an unaligned one straddling the copy's end is refused too.
COHOOK_NO_SANITIZE_ADDRESS int access_mem(unw_addr_space_t, unw_word_t address, unw_word_t* value, int write, void* arg) {
  const auto* s = static_cast<const OffStack*>(arg);
  if (write != 0) return -UNW_EINVAL;
  if (address >= s->low && address + sizeof *value <= s->high) {
    std::memcpy(value, s->image + (address - s->low), sizeof *value);
    return 0;
  }
  // The rest of the shared stack holds the occupant's frames, nothing of ours.
  if (address + sizeof *value > s->stack_low && address < s->high) return -UNW_EINVAL;
  std::memcpy(value, reinterpret_cast<const void*>(address), sizeof *value);
  return 0;
}

int access_reg(unw_addr_space_t, unw_regnum_t reg, unw_word_t* value, int write, void* arg) {
  const auto* s = static_cast<const OffStack*>(arg);
  if (write != 0) return -UNW_EREADONLYREG;
  if (reg < 0 || reg > UNW_X86_64_RIP) return -UNW_EBADREG;
  *value = s->regs[reg];
  return 0;
}

int access_fpreg(unw_addr_space_t, unw_regnum_t, unw_fpreg_t*, int, void*) { return -UNW_EBADREG; }
int resume(unw_addr_space_t, unw_cursor_t*, void*) { return -UNW_EINVAL; }
int get_proc_name(unw_addr_space_t, unw_word_t, char*, std::size_t, unw_word_t*, void*) { return -UNW_ENOINFO; }

struct Generic {
  int (*init_remote)(unw_cursor_t*, unw_addr_space_t, void*) = nullptr;
  int (*step)(unw_cursor_t*) = nullptr;
  int (*get_reg)(unw_cursor_t*, unw_regnum_t, unw_word_t*) = nullptr;
  unw_addr_space_t space = nullptr;  // ours: the local accessors but for memory and registers
};
Generic g_generic;
std::once_flag g_generic_once;

template <class Fn>
bool resolve(void* library, const char* name, Fn* fn) {
  *fn = reinterpret_cast<Fn>(::dlsym(library, name));
  return *fn != nullptr;
}

void load_generic() {
  void* library = ::dlopen("libunwind-x86_64.so.8", RTLD_LOCAL | RTLD_LAZY);
  if (library == nullptr) return;
  unw_addr_space_t (*create_addr_space)(unw_accessors_t*, int) = nullptr;
  unw_accessors_t* (*get_accessors)(unw_addr_space_t) = nullptr;
  int (*set_caching_policy)(unw_addr_space_t, unw_caching_policy_t) = nullptr;
  Generic g;
  auto* local_space = static_cast<unw_addr_space_t*>(::dlsym(library, "_Ux86_64_local_addr_space"));
  if (local_space == nullptr || !resolve(library, "_Ux86_64_create_addr_space", &create_addr_space) ||
      !resolve(library, "_Ux86_64_get_accessors", &get_accessors) ||
      !resolve(library, "_Ux86_64_set_caching_policy", &set_caching_policy) ||
      !resolve(library, "_Ux86_64_init_remote", &g.init_remote) || !resolve(library, "_Ux86_64_step", &g.step) ||
      !resolve(library, "_Ux86_64_get_reg", &g.get_reg))
    return;
  // Finding a function's unwind info (dl_iterate_phdr, .eh_frame_hdr) works in this process as
  // for a local unwind: keep those accessors, replace the ones that read the fiber's state.
  unw_accessors_t accessors = *get_accessors(*local_space);
  accessors.access_mem = &access_mem;
  accessors.access_reg = &access_reg;
  accessors.access_fpreg = &access_fpreg;
  accessors.resume = &resume;
  accessors.get_proc_name = &get_proc_name;
  g.space = create_addr_space(&accessors, 0);
  if (g.space == nullptr) return;
  // Its caches would be keyed by addresses in the copy's range, which other fibers reuse.
  set_caching_policy(g.space, UNW_CACHE_NONE);
  g_generic = g;
}

}  // namespace

void capture_off_stack(const char* image, std::uintptr_t low, std::uintptr_t high, std::uintptr_t stack_low,
                       StackTrace* out) {
  out->depth = 0;
  out->first_is_exact = false;
  std::call_once(g_generic_once, load_generic);
  if (g_generic.space == nullptr || image == nullptr || high - low < 8 * sizeof(std::uint64_t)) {
    out->missing = "stack saved off-stack (shared stack), not unwound: libunwind-x86_64.so.8 is not usable";
    return;
  }
  std::uint64_t frame[8];
  std::memcpy(frame, image, sizeof frame);
  ucontext_t uc;
  context_from_switch_frame(frame, low, &uc);
  OffStack state{image, low, high, stack_low, {}};
  const greg_t* regs = uc.uc_mcontext.gregs;
  state.regs[UNW_X86_64_RBX] = static_cast<unw_word_t>(regs[REG_RBX]);
  state.regs[UNW_X86_64_RBP] = static_cast<unw_word_t>(regs[REG_RBP]);
  state.regs[UNW_X86_64_RSP] = static_cast<unw_word_t>(regs[REG_RSP]);
  state.regs[UNW_X86_64_R12] = static_cast<unw_word_t>(regs[REG_R12]);
  state.regs[UNW_X86_64_R13] = static_cast<unw_word_t>(regs[REG_R13]);
  state.regs[UNW_X86_64_R14] = static_cast<unw_word_t>(regs[REG_R14]);
  state.regs[UNW_X86_64_R15] = static_cast<unw_word_t>(regs[REG_R15]);
  state.regs[UNW_X86_64_RIP] = static_cast<unw_word_t>(regs[REG_RIP]);
  unw_cursor_t cursor;
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_generic.init_remote(&cursor, g_generic.space, &state) < 0) {
    out->missing = "stack saved off-stack (shared stack), not unwound: libunwind refused the saved context";
    return;
  }
  walk(&cursor, g_generic.step, g_generic.get_reg, out);
}

#else

void capture_off_stack(const char*, std::uintptr_t, std::uintptr_t, std::uintptr_t, StackTrace* out) {
  out->depth = 0;
  out->missing = "stack saved off-stack (shared stack), not unwound on this architecture";
}

#endif

}  // namespace cohook::diag::unwind
#endif
