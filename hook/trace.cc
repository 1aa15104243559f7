// The tracer's call path: CallTrace (timing, the two halves of a line, parked time) and the
// records it sends. COHOOK_TRACE is read in hook/trace_settings.cc; -c's counters live in
// hook/trace_summary.cc.
#include "hook/trace.h"

#include <dlfcn.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "hook/interpose.h"
#include "hook/trace_decode.h"
#include "hook/trace_emit.h"
#include "hook/trace_summary.h"
#include "sched/coroutine.h"
#include "sched/scheduler.h"
#include "sched/stack_trace.h"

namespace cohook::trace {
namespace {

// The call this thread is tracing now, or nullptr. A coroutine that parks inside a traced call
// takes its call with it (park_before/park_after): another coroutine of this thread may trace
// calls of its own meanwhile.
constinit thread_local CallTrace* t_active __attribute__((tls_model("initial-exec"))) = nullptr;

std::int64_t now_ns(clockid_t clock) {
  timespec now;
  ::clock_gettime(clock, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

void* park_before() {
  CallTrace* active = t_active;
  if (active == nullptr) return nullptr;
  t_active = nullptr;
  active->parking();
  return active;
}

void park_after(void* token) {
  if (token == nullptr) return;
  auto* active = static_cast<CallTrace*>(token);
  t_active = active;
  active->resumed();
}

constexpr Scheduler::ParkObserver kParkObserver{&park_before, &park_after};

}  // namespace

void install_park_observer() { Scheduler::set_park_observer(&kParkObserver); }

bool should_trace(TracedCall call) { return tracing() && selected(call) && t_active == nullptr; }

CallTrace::CallTrace(TracedCall call)
    : call_(call), formatting_(settings().mode == TraceMode::kLines), saved_errno_(errno), outer_(t_active) {
  Coroutine* co = hook::cooperating_coroutine();
  outside_coroutine_ = co == nullptr;
  coroutine_ = co != nullptr ? co->id() : 0;
  if (formatting_) start_ns_ = now_ns(CLOCK_REALTIME);
  start_mono_ns_ = now_ns(CLOCK_MONOTONIC);
  t_active = this;
}

CallTrace::~CallTrace() { t_active = outer_; }

void CallTrace::entered() {
  split_ = line_.size();
  errno = saved_errno_;
}

void CallTrace::returned(long long result) {
  end_mono_ns_ = now_ns(CLOCK_MONOTONIC);
  result_ = result;
  error_ = result == -1 ? errno : 0;
  saved_errno_ = errno;
}

void CallTrace::returned_error_number(int error_number) {
  // clock_nanosleep and friends: strace shows the error the kernel returned, as -1 EINTR.
  if (error_number != 0) {
    result_ = -1;
    error_ = error_number;
  }
}

void CallTrace::parking() {
  int saved = errno;
  park_mono_ns_ = now_ns(CLOCK_MONOTONIC);
  parked_ = true;
  if (formatting_ && !start_sent_) {
    start_sent_ = true;
    send(RecordKind::kCallStart, 0, split_);
  }
  errno = saved;
}

void CallTrace::resumed() {
  parked_ns_ += now_ns(CLOCK_MONOTONIC) - park_mono_ns_;
}

void CallTrace::finish() {
  std::int64_t duration = end_mono_ns_ - start_mono_ns_;
  if (!formatting_) {
    count_call(call_, error_ != 0, duration, parked_ns_);
    errno = saved_errno_;
    return;
  }
  if (!result_written_) put_result(line_, result_, error_);
  if (settings().stacks) append_stack(line_);
  if (start_sent_) send(RecordKind::kCallEnd, split_, line_.size());
  else send(RecordKind::kCall, 0, line_.size());
  errno = saved_errno_;
}

void CallTrace::send(RecordKind kind, std::size_t from, std::size_t to) {
  RecordHeader header{};
  header.kind = kind;
  header.flags = static_cast<std::uint8_t>((outside_coroutine_ ? kOutsideCoroutine : 0) |
                                           (line_.truncated() ? kTruncated : 0));
  header.call = static_cast<std::uint16_t>(call_);
  header.coroutine = coroutine_;
  header.start_ns = start_ns_;
  if (kind != RecordKind::kCallStart) {
    header.duration_ns = end_mono_ns_ - start_mono_ns_;
    header.parked_ns = parked_ns_;
    header.result = result_;
    header.error = error_;
  }
  if (!outside_coroutine_) announce_coroutine(coroutine_);
  std::string_view text = line_.view().substr(from, to - from);
  send_record(header, text);
}

void append_stack(TraceLine& line) {
  // strace -k: one frame per line under the call. The symbolizer builds std::strings: -k is the
  // one mode whose call path allocates (documented in README, "costrace").
  diag::StackTrace stack;
  diag::capture_here(&stack);
  // The top frames are the tracer's and the hook's own: start at the first frame outside
  // libcohook.so, the caller of the libc function, as strace -k starts at the system call.
  Dl_info self{};
  if (::dladdr(reinterpret_cast<void*>(&append_stack), &self) != 0) {
    int skip = 0;
    while (skip < stack.depth) {
      Dl_info frame{};
      if (::dladdr(reinterpret_cast<void*>(stack.pc[skip]), &frame) == 0 || frame.dli_fbase != self.dli_fbase) break;
      ++skip;
    }
    if (skip < stack.depth) {
      for (int i = skip; i < stack.depth; ++i) stack.pc[i - skip] = stack.pc[i];
      stack.depth -= skip;
      stack.first_is_exact = false;
    }
  }
  std::string text;
  diag::format_stack(stack, " > ", &text);
  if (!text.empty() && text.back() == '\n') text.pop_back();
  line.put_char('\n');
  line.put(text);
}

void announce_coroutine(std::uint64_t id) {
  // Coroutines stay on their home thread, so a per-thread cache of the ids already announced
  // is enough; a collision only sends a name twice, which costrace takes as the same name.
  constexpr std::size_t kSlots = 256;
  static constinit thread_local std::uint64_t t_announced[kSlots] __attribute__((tls_model("initial-exec")));
  std::uint64_t& slot = t_announced[id % kSlots];
  if (slot == id) return;
  slot = id;
  RecordHeader header{};
  header.kind = RecordKind::kCoroutineName;
  header.coroutine = id;
  header.start_ns = now_ns(CLOCK_REALTIME);
  const char* name = "";
  if (Coroutine* co = Coroutine::current(); co != nullptr && co->id() == id) name = co->name();
  send_record(header, std::string_view(name, ::strnlen(name, kMaxRecordSize - sizeof(RecordHeader))));
}

}  // namespace cohook::trace
