#include "sched/diag_thread.h"

#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "poller/syscalls.h"
#include "sched/config.h"
#include "sched/diag.h"
#include "sched/diag_registry.h"
#include "sched/dump.h"
#include "sched/global_deadlock.h"
#include "sched/native_sync.h"
#include "sched/runtime_signals.h"

namespace cohook::diag {

SchedulerSlot* this_thread_slot();  // diag_registry.cc

namespace {

// The signal the watchdog sends a hogging thread to take its stack. A real-time signal near the
// top of the range: programs rarely use those, and glibc reserves the bottom ones.
int hog_signal() { return SIGRTMAX - 1; }

std::mutex g_thread_mutex;
bool g_thread_running = false;
bool g_restart_after_fork = false;
// The thread sleeps on this word (a futex) and anyone with work for it bumps it. Not an fd: the
// dump signal's handler must wake the thread, and a program may close any fd it did not open
// (daemons close them all) and reuse the number, so a handler writing to "our" eventfd could
// write into the program's file or socket.
std::atomic<std::uint32_t> g_wake_count{0};
std::atomic<bool> g_dump_signalled{false};
// Under g_thread_mutex. Made on first use (a scheduler may start before this file's dynamic
// initialisers run), never destroyed (the thread may outlive exit's destructors). A plain
// pointer, not a function-local static: a fork while another thread was inside the static's
// initialisation left its guard "in progress" in the child, whose fork handler then waited on
// it forever (a shell under corun hung in its command substitutions).
constinit std::deque<std::function<void()>>* g_jobs = nullptr;
std::deque<std::function<void()>>& pending_jobs() {
  if (g_jobs == nullptr) g_jobs = new std::deque<std::function<void()>>;
  return *g_jobs;
}

// Async-signal-safe: an atomic add and a futex wake.
void kick() {
  g_wake_count.fetch_add(1, std::memory_order_release);
  ::syscall(SYS_futex, &g_wake_count, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

// Until kick() has been called since `seen` was read, or `period_ms` (-1: no limit) has passed.
void sleep_until_kicked(std::uint32_t seen, int period_ms) {
  timespec period{period_ms / 1000, (period_ms % 1000) * 1'000'000L};
  // Returns at once if the word moved on already (EAGAIN), so no kick is ever lost.
  ::syscall(SYS_futex, &g_wake_count, FUTEX_WAIT_PRIVATE, seen, period_ms >= 0 ? &period : nullptr, nullptr, 0);
}

void on_dump_signal(int) {
  int saved_errno = errno;
  g_dump_signalled.store(true, std::memory_order_relaxed);
  kick();  // the dump itself happens on the diagnostics thread
  errno = saved_errno;
}

void on_hog_signal(int, siginfo_t*, void* ucontext) {
  int saved_errno = errno;
  SchedulerSlot* slot = this_thread_slot();
  int expected = 1;
  if (slot != nullptr && slot->hog_capture.compare_exchange_strong(expected, 3, std::memory_order_acquire)) {
    slot->hog_id = 0;
    if (Coroutine* c = Coroutine::current(); c != nullptr) {
      slot->hog_id = c->id();
      std::strncpy(slot->hog_name, display_name(*c), sizeof slot->hog_name - 1);
      slot->hog_name[sizeof slot->hog_name - 1] = '\0';
    }
    capture_signal_context(ucontext, &slot->hog_stack);
    slot->hog_capture.store(2, std::memory_order_release);
  }
  errno = saved_errno;
}

void install_handlers() {
  int dump_signal = config().dump_signal;
  if (dump_signal != 0) {
    struct sigaction current {};
    // A program that handles the signal itself keeps it.
    if (::sigaction(dump_signal, nullptr, &current) == 0 && !(current.sa_flags & SA_SIGINFO) &&
        current.sa_handler == SIG_DFL) {
      struct sigaction action {};
      action.sa_handler = &on_dump_signal;
      register_runtime_signal_handler(reinterpret_cast<void*>(&on_dump_signal));
      action.sa_flags = SA_RESTART;
      sigemptyset(&action.sa_mask);
      ::sigaction(dump_signal, &action, nullptr);
    }
  }
  if (config().hog_report_ms > 0) {
    struct sigaction action {};
    action.sa_sigaction = &on_hog_signal;
    register_runtime_signal_handler(reinterpret_cast<void*>(&on_hog_signal));
    // On the alternate stack: a coroutine's own stack may have little room left. SA_RESTART: the
    // hogging call (a blocking read of a file, say) goes on as if nothing happened.
    action.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    ::sigaction(hog_signal(), &action, nullptr);
  }
}

void signal_dump() {
  Collection collection = collect(nullptr, std::chrono::seconds(1));
  char why[64];
  std::snprintf(why, sizeof why, "coroutine dump (signal %s)", ::sigabbrev_np(config().dump_signal));
  write_stderr(format_dump(collection, why));
}

struct HogReport {
  int thread_index;
  std::int64_t ran_ms;
  bool captured;
  std::uint64_t id;
  std::string name;
  StackTrace stack;
};

// CPU time the thread has used, in ms (-1 if unknown).
std::int64_t thread_cpu_ms(pthread_t thread) {
  clockid_t clock;
  timespec used;
  if (::pthread_getcpuclockid(thread, &clock) != 0 || ::clock_gettime(clock, &used) != 0) return -1;
  return static_cast<std::int64_t>(used.tv_sec) * 1000 + used.tv_nsec / 1'000'000;
}

// Asks the slot's thread, with a signal, for the stack it runs on and waits a little. True when
// the handler filled slot->hog_id/name/stack (hog_id 0: it was not in a coroutine).
bool capture_hog_stack(SchedulerSlot* slot) {
  slot->hog_capture.store(1, std::memory_order_release);
  bool captured = false;
  if (::pthread_kill(slot->thread, hog_signal()) == 0) {
    for (int i = 0; i < 200 && !captured; ++i) {
      captured = slot->hog_capture.load(std::memory_order_acquire) == 2;
      if (!captured) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  int expected = 1;
  if (!captured && !slot->hog_capture.compare_exchange_strong(expected, 0)) {
    // The handler is at work right now: it finishes quickly.
    while (slot->hog_capture.load(std::memory_order_acquire) != 2) std::this_thread::yield();
    captured = true;
  }
  slot->hog_capture.store(0, std::memory_order_relaxed);
  return captured;
}

void watch_for_hogs(int hog_ms) {
  std::vector<HogReport> reports;
  std::int64_t now = coarse_now_ms();
  lock_registry();
  for (SchedulerSlot* slot : slots_locked()) {
    std::uint64_t epoch = slot->switch_epoch->load(std::memory_order_relaxed);
    if (epoch != slot->seen_epoch) {
      slot->seen_epoch = epoch;
      slot->seen_since_ms = now;
      slot->seen_cpu_ms = (epoch & 1) ? thread_cpu_ms(slot->thread) : -1;
      continue;
    }
    bool coroutine_running = epoch & 1;
    if (!coroutine_running || slot->reported_epoch == epoch || now - slot->seen_since_ms < hog_ms) continue;
    // Wall time alone would blame a coroutine whose thread the kernel did not run (an
    // overloaded machine): it must also have used most of that time on the CPU.
    std::int64_t cpu = thread_cpu_ms(slot->thread);
    if (slot->seen_cpu_ms < 0 || cpu < 0 || cpu - slot->seen_cpu_ms < hog_ms / 2) continue;
    slot->reported_epoch = epoch;  // once per stretch
    // Loaded here, at first use, never in the handler (dlopen is not async-signal-safe).
    bool captured = load_unwinder() && capture_hog_stack(slot);
    HogReport r{slot->index, now - slot->seen_since_ms, captured, 0, {}, {}};
    if (captured) {
      r.id = slot->hog_id;
      r.name = slot->hog_name;
      r.stack = slot->hog_stack;
    }
    if (captured && r.id == 0) continue;  // the thread was not in a coroutine after all
    // A sample taken inside code without unwind info (a sanitizer runtime's, a JIT's) stops
    // short of the coroutine's entry: sample again, as a profiler would, while it still runs.
    for (int retry = 0; retry < 20 && captured && !r.stack.reached_entry; ++retry) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      if (slot->switch_epoch->load(std::memory_order_relaxed) != epoch) break;
      if (!capture_hog_stack(slot) || slot->hog_id != r.id) break;
      r.stack = slot->hog_stack;
    }
    reports.push_back(std::move(r));
  }
  unlock_registry();
  for (const HogReport& r : reports) {
    std::string text = "cohook: coroutine ";
    if (r.captured) text += "#" + std::to_string(r.id) + " '" + r.name + "' ";
    text += "on thread " + std::to_string(r.thread_index) + " has run for " + format_duration_ms(r.ran_ms) +
            " without parking or yielding; the other coroutines of its thread wait meanwhile (COHOOK_HOG_REPORT=" +
            std::to_string(hog_ms) + " ms; 0 turns this report off). ";
    if (r.captured) {
      text += "It was at:\n";
      format_stack(r.stack, "    ", &text);
    } else {
      text += "Its stack could not be taken.\n";
    }
    write_stderr(text);
  }
}

void thread_main() {
  // cohook's own thread: in green mode its pthread calls (the condition variables of a
  // collection) are the real ones, and it is no plain thread of the program (no foreign identity).
  t_cohook_thread = true;
  int hog_ms = config().hog_report_ms;
  int hog_period_ms = hog_ms > 0 ? std::max(5, hog_ms / 4) : -1;
  std::int64_t next_deadlock_check = 0;
  std::uint32_t seen = g_wake_count.load(std::memory_order_acquire);
  for (;;) {
    int deadlock_ms = global_deadlock_period_ms();
    int period_ms = hog_period_ms;
    if (deadlock_ms > 0 && (period_ms < 0 || deadlock_ms < period_ms)) period_ms = deadlock_ms;
    sleep_until_kicked(seen, period_ms);
    seen = g_wake_count.load(std::memory_order_acquire);
    if (g_dump_signalled.exchange(false, std::memory_order_relaxed)) signal_dump();
    for (;;) {
      std::function<void()> job;
      {
        std::lock_guard<std::mutex> lock(g_thread_mutex);
        if (pending_jobs().empty()) break;
        job = std::move(pending_jobs().front());
        pending_jobs().pop_front();
      }
      job();
    }
    if (hog_ms > 0) {
      g_tick_ms.store(coarse_now_ms(), std::memory_order_relaxed);
      watch_for_hogs(hog_ms);
    }
    if (deadlock_ms > 0 && coarse_now_ms() >= next_deadlock_check) {
      next_deadlock_check = coarse_now_ms() + deadlock_ms;
      check_global_deadlock();
    }
  }
}

void after_fork_in_child() {
  // The thread did not survive the fork (the futex word needs nothing: it is private memory).
  new (&g_thread_mutex) std::mutex();
  if (g_thread_running) {
    g_thread_running = false;
    // The next safe point starts a new one (serve_safe_point calls ensure_diag_thread).
    g_restart_after_fork = true;
    g_tick_ms.store(0, std::memory_order_relaxed);  // nobody ticks until the thread is back
    g_safe_point_requested.store(true, std::memory_order_relaxed);
  }
  if (g_jobs != nullptr) new (g_jobs) std::deque<std::function<void()>>();
}

}  // namespace

void ensure_diag_thread() {
  std::lock_guard<std::mutex> lock(g_thread_mutex);
  if (g_thread_running) return;
  static bool handlers_installed = false;
  if (!handlers_installed) {
    handlers_installed = true;
    ::pthread_atfork(nullptr, nullptr, &after_fork_in_child);
    install_handlers();
  }
  g_thread_running = true;
  if (g_restart_after_fork) {
    g_restart_after_fork = false;
    g_safe_point_requested.store(false, std::memory_order_relaxed);
  }
  std::thread(thread_main).detach();
}

void post_to_diag_thread(std::function<void()> job) {
  ensure_diag_thread();
  {
    std::lock_guard<std::mutex> lock(g_thread_mutex);
    pending_jobs().push_back(std::move(job));
  }
  kick();
}

void write_stderr(const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = sys::write(STDERR_FILENO, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace cohook::diag
