#include "sched/stack_overflow.h"

#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "poller/syscalls.h"
#include "sched/coroutine.h"
#include "sched/runtime_signals.h"
#include "sched/stack_trace.h"

namespace cohook {
namespace {

struct sigaction g_previous_segv;
std::once_flag g_install_once;

// Async-signal-safe formatting: no stdio in a handler running on a dead stack.
struct Message {
  char text[512];
  std::size_t length = 0;
  void add(const char* s) {
    while (*s != '\0' && length < sizeof text - 1) text[length++] = *s++;
  }
  void add_number(unsigned long long value) {
    char digits[24];
    int n = 0;
    do {
      digits[n++] = static_cast<char>('0' + value % 10);
      value /= 10;
    } while (value != 0 && n < 24);
    while (n > 0 && length < sizeof text - 1) text[length++] = digits[--n];
  }
};

void write_report(const Coroutine* coroutine) {
  Message m;
  m.add("cohook: stack overflow in coroutine #");
  m.add_number(coroutine->id());
  m.add(" '");
  m.add(coroutine->name());
  m.add("' (stack of ");
  m.add_number(coroutine->stack_size());
  m.add(" bytes); give it a bigger one with SpawnOptions::stack_size or COHOOK_STACK_SIZE\n");
  // Raw: the write() wrapper is interposed by the hook layer, and we are in a signal handler.
  (void)!sys::write(STDERR_FILENO, m.text, m.length);
}

thread_local bool t_unwinding_overflow = false;

// The overflowing coroutine's stack, from the faulting context (or, with no context, from here).
// Not async-signal-safe (dlopen, dladdr, malloc), but the process is about to abort anyway; an
// alarm ends it should the report hang on a lock the faulting code held.
void write_stack(void* ucontext) {
  ::signal(SIGALRM, SIG_DFL);
  ::alarm(5);
  t_unwinding_overflow = true;
  diag::StackTrace stack;
  if (ucontext != nullptr && diag::load_unwinder()) diag::capture_signal_context(ucontext, &stack);
  else diag::capture_here(&stack);
  std::string text = "cohook: its stack, innermost frame first:\n";
  diag::format_stack(stack, "    ", &text);
  (void)!sys::write(STDERR_FILENO, text.data(), text.size());
}

std::uintptr_t stack_pointer_of(void* ucontext) {
  auto* uc = static_cast<ucontext_t*>(ucontext);
#if defined(__x86_64__)
  return static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]);
#elif defined(__aarch64__)
  return static_cast<std::uintptr_t>(uc->uc_mcontext.sp);
#else
  (void)uc;
  return 0;
#endif
}

bool is_overflow(const Coroutine* coroutine, void* fault_address, void* ucontext) {
  const coctx::Fiber* fiber = coroutine->fiber();
  if (fiber == nullptr || fiber->on_shared_stack()) return false;
  const coctx::StackSpan& stack = fiber->stack();
  if (stack.guard_contains(fault_address)) return true;
  // A frame bigger than the guard page can jump past it; the stack pointer still tells.
  auto sp = stack_pointer_of(ucontext);
  auto low = reinterpret_cast<std::uintptr_t>(stack.low);
  auto fault = reinterpret_cast<std::uintptr_t>(fault_address);
  return sp != 0 && sp < low + 256 && sp + (1u << 20) > low && fault < low;
}

void on_segv(int signal_number, siginfo_t* info, void* ucontext) {
  if (t_unwinding_overflow) {
    const char text[] = "cohook: (the stack could not be read further)\n";
    (void)!sys::write(STDERR_FILENO, text, sizeof text - 1);
    ::signal(SIGABRT, SIG_DFL);
    std::abort();
  }
  const Coroutine* coroutine = Coroutine::current();
  if (coroutine != nullptr && is_overflow(coroutine, info->si_addr, ucontext)) {
    write_report(coroutine);
    write_stack(ucontext);
    ::signal(SIGSEGV, SIG_DFL);
    std::abort();
  }
  // Not ours: behave as if we had never been installed.
  if (g_previous_segv.sa_flags & SA_SIGINFO) {
    if (g_previous_segv.sa_sigaction != nullptr) {
      g_previous_segv.sa_sigaction(signal_number, info, ucontext);
      return;
    }
  } else if (g_previous_segv.sa_handler != SIG_DFL && g_previous_segv.sa_handler != SIG_IGN) {
    g_previous_segv.sa_handler(signal_number);
    return;
  }
  ::signal(SIGSEGV, SIG_DFL);
}

struct AlternateStack {
  void* memory = nullptr;
  std::size_t size = 0;
  AlternateStack() {
    stack_t current{};
    if (::sigaltstack(nullptr, &current) == 0 && !(current.ss_flags & SS_DISABLE)) return;  // the program has one
    size = 64 * 1024;
    memory = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) {
      memory = nullptr;
      return;
    }
    stack_t alt{};
    alt.ss_sp = memory;
    alt.ss_size = size;
    ::sigaltstack(&alt, nullptr);
  }
  ~AlternateStack() {
    if (memory == nullptr) return;
    stack_t off{};
    off.ss_flags = SS_DISABLE;
    ::sigaltstack(&off, nullptr);
    ::munmap(memory, size);
  }
};

}  // namespace

void install_stack_overflow_handler() {
  static thread_local AlternateStack alternate_stack;
  (void)alternate_stack;
  std::call_once(g_install_once, [] {
    struct sigaction action {};
    action.sa_sigaction = &on_segv;
    register_runtime_signal_handler(reinterpret_cast<void*>(&on_segv));
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGSEGV, &action, &g_previous_segv);
  });
}

void report_stack_overflow_and_die(const Coroutine* coroutine) {
  write_report(coroutine);
  write_stack(nullptr);  // found at a switch-out: where it stands now, not where it overflowed
  std::abort();
}

}  // namespace cohook
