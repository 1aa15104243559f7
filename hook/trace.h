// The tracer inside libcohook.so: what every hooked call does when costrace runs the program
// (COHOOK_TRACE set). With tracing off a hooked call pays one load and one predicted branch
// (tracing()); with it on, the call is timed, its line is built in a fixed buffer on the caller's
// stack, and one record goes to costrace's pipe with one write(2) (hook/trace_record.h), or, in
// summary mode (-c), only this thread's counters change (hook/trace_summary.h).
//
// A traced call that parks its coroutine sends kCallStart as it switches out (the scheduler tells
// us through Scheduler::ParkObserver) and kCallEnd when it returns; one that does not park sends
// one kCall. Nothing here allocates (except -k's symbolizer) or takes a lock, and errno is what
// the call left, whatever the tracer did in between.
#pragma once

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "hook/trace_calls.h"
#include "hook/trace_line.h"
#include "hook/trace_record.h"

namespace cohook::trace {

// True once COHOOK_TRACE was read and names a live trace fd: the one branch of tracing off. Atomic
// only for the record (a relaxed load is a plain load): it is set before main and cleared by
// whichever thread finds the trace fd gone.
extern std::atomic<bool> g_tracing;
inline bool tracing() { return __builtin_expect(g_tracing.load(std::memory_order_relaxed), 0); }

enum class TraceMode : std::uint8_t { kLines, kSummary };

// COHOOK_TRACE, as costrace writes it: comma-separated key=value, every key optional but fd:
//   fd=N        the write end of costrace's pipe (inherited; high-numbered)
//   mode=lines|summary
//   s=N         -s: bytes of a string shown (0..65536; default 32)
//   k=0|1       -k: each record carries the coroutine's stack
//   follow=0|1  -f: forked children trace too (without it only process `pid` does)
//   pid=N       the process costrace started (with follow=0, any other process is not traced)
//   calls=HEX   the traced calls, bit i for call i of trace_calls.h (default: all)
struct TraceSettings {
  int fd = -1;
  TraceMode mode = TraceMode::kLines;
  std::size_t string_limit = 32;
  bool stacks = false;
  bool follow = false;
  int pid = 0;  // 0: any
  std::uint64_t calls = ~std::uint64_t{0};
};
static_assert(static_cast<int>(TracedCall::kCount) <= 64, "calls=HEX is one 64-bit mask");

// The form COHOOK_TRACE accepts, for the error message.
extern const char* const kTraceSpecForm;
// Parses a COHOOK_TRACE value; false (and *error says what is wrong) on anything else.
bool parse_trace_spec(const char* text, TraceSettings* out, const char** error);
const TraceSettings& settings();

inline bool selected(TracedCall call) {
  return (settings().calls >> static_cast<unsigned>(call)) & 1;
}
// -s
inline std::size_t string_limit() { return settings().string_limit; }

// Whether the trace fd is fd: close and dup2 onto it are refused (hook/fd_hooks.cc).
bool is_trace_fd(int fd);

// One traced call, from entry to return. Made on the caller's stack by traced_call below.
class CallTrace {
 public:
  explicit CallTrace(TracedCall call);
  ~CallTrace();
  CallTrace(const CallTrace&) = delete;
  CallTrace& operator=(const CallTrace&) = delete;

  // False in summary mode: then no text is built at all.
  bool formatting() const { return formatting_; }
  TraceLine& line() { return line_; }
  // The entry half of the line is built: what is in line() now is the kCallStart text if the call
  // parks. The caller's errno is put back for the call itself.
  void entered();
  // The call returned `result`; with result == -1, errno is its error (saved here).
  void returned(long long result);
  // For calls that return an error number instead of setting errno (clock_nanosleep).
  void returned_error_number(int error_number);
  // Adds " = result" (unless the exit half did) and the stack, sends or counts the call, and puts
  // back the errno the call left.
  void finish();
  // The exit half wrote its own result text (strace's " = 0 (Timeout)" forms).
  void result_written() { result_written_ = true; }
  long long result() const { return result_; }
  int error() const { return error_; }

  // Scheduler::ParkObserver for the running coroutine's call in progress.
  void parking();
  void resumed();

 private:
  void send(RecordKind kind, std::size_t from, std::size_t to);

  TracedCall call_;
  bool formatting_;
  bool parked_ = false;
  bool start_sent_ = false;
  bool result_written_ = false;
  bool outside_coroutine_;
  int saved_errno_;
  int error_ = 0;
  long long result_ = 0;
  std::size_t split_ = 0;  // end of the entry half in line_
  std::uint64_t coroutine_;
  std::int64_t start_ns_;       // CLOCK_REALTIME at entry
  std::int64_t start_mono_ns_;  // CLOCK_MONOTONIC at entry
  std::int64_t end_mono_ns_ = 0;
  std::int64_t park_mono_ns_ = 0;
  std::int64_t parked_ns_ = 0;
  CallTrace* outer_;  // the call this thread was tracing before (none in practice; restored)
  TraceLine line_;
};

// Whether a hooked call made now is traced: tracing is on, the call is selected, and this thread
// is not already inside a traced call (a hook that calls another hook shows once, as strace shows
// the one system call).
bool should_trace(TracedCall call);

// The common shape of every trace point: entry(line) prints the arguments known at entry and
// ends where strace would print <unfinished ...>; invoke() makes the call; exit(line, result)
// prints the rest up to the closing parenthesis (result and stack are added by finish()).
template <class Entry, class Invoke, class Exit>
auto traced_call(TracedCall call, Entry&& entry, Invoke&& invoke, Exit&& exit) -> decltype(invoke()) {
  if (!should_trace(call)) return invoke();
  CallTrace trace(call);
  if (trace.formatting()) entry(trace.line());
  trace.entered();
  auto result = invoke();
  trace.returned(static_cast<long long>(result));
  if (trace.formatting()) exit(trace.line(), result);
  trace.finish();
  return result;
}

// A hook with a trace point: defines the interposed `name` as one branch on tracing() between
// tracer(name_untraced, args...) and name_untraced(args...), and opens the definition of
// name_untraced, the hook's own body:
//   COHOOK_TRACED_HOOK(ssize_t, read, (int fd, void* buffer, size_t size), (fd, buffer, size), trace_read) {
//     ...the hook as before...
//   }
#define COHOOK_EXPAND_ARGS(...) __VA_ARGS__
#define COHOOK_TRACED_HOOK(type, name, params, args, tracer)                                   \
  static inline type name##_untraced params;                                                  \
  COHOOK_INTERPOSE type name params {                                                          \
    if (::cohook::trace::tracing()) [[unlikely]] return tracer(name##_untraced, COHOOK_EXPAND_ARGS args); \
    return name##_untraced args;                                                               \
  }                                                                                            \
  static inline type name##_untraced params

}  // namespace cohook::trace
