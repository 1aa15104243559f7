#include "tools/costrace/line_printer.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "hook/trace_calls.h"

namespace cohook::costrace {
namespace {

bool same_caller(const trace::RecordHeader& a, const trace::RecordHeader& b) {
  return a.pid == b.pid && a.tid == b.tid && a.coroutine == b.coroutine && a.flags % 2 == b.flags % 2;
}

const char* call_name(const trace::RecordHeader& header) {
  std::size_t index = header.call;
  if (index >= static_cast<std::size_t>(trace::TracedCall::kCount)) return "?";
  return trace::kTracedCalls[index].name;
}

}  // namespace

void LinePrinter::print_prefix(const trace::RecordHeader& header, std::int64_t when_ns) {
  if (header.flags & trace::kOutsideCoroutine) std::fprintf(out_, "[pid %d co -] ", header.pid);
  else std::fprintf(out_, "[pid %d co %llu] ", header.pid, static_cast<unsigned long long>(header.coroutine));
  if (options_.timestamps == Timestamps::kNone) return;
  time_t seconds = static_cast<time_t>(when_ns / 1'000'000'000);
  long micros = static_cast<long>(when_ns % 1'000'000'000 / 1000);
  if (options_.timestamps == Timestamps::kEpoch) {
    std::fprintf(out_, "%lld.%06ld ", static_cast<long long>(seconds), micros);
    return;
  }
  tm local{};
  ::localtime_r(&seconds, &local);
  std::fprintf(out_, "%02d:%02d:%02d", local.tm_hour, local.tm_min, local.tm_sec);
  if (options_.timestamps == Timestamps::kMicros) std::fprintf(out_, ".%06ld", micros);
  std::fputc(' ', out_);
}

// The text, then -T's suffixes after the call's own line and before -k's stack lines.
void LinePrinter::print_body(const trace::RecordHeader& header, std::string_view text, bool with_suffix) {
  std::size_t newline = text.find('\n');
  std::string_view line = text.substr(0, newline);
  std::fwrite(line.data(), 1, line.size(), out_);
  if (with_suffix && options_.durations) {
    std::fprintf(out_, " <%lld.%06lld>", static_cast<long long>(header.duration_ns / 1'000'000'000),
                 static_cast<long long>(header.duration_ns % 1'000'000'000 / 1000));
    if (header.parked_ns > 0) {
      std::fprintf(out_, " <parked %lld.%06lld>", static_cast<long long>(header.parked_ns / 1'000'000'000),
                   static_cast<long long>(header.parked_ns % 1'000'000'000 / 1000));
    }
  }
  if (header.flags & trace::kTruncated) std::fputs(" (truncated)", out_);
  if (newline != std::string_view::npos) {
    std::string_view stack = text.substr(newline);
    std::fwrite(stack.data(), 1, stack.size(), out_);
  }
  std::fputc('\n', out_);
}

void LinePrinter::print_held_as_unfinished() {
  holding_ = false;
  print_prefix(held_, held_.start_ns);
  std::fwrite(held_text_.data(), 1, held_text_.size(), out_);
  std::fputs(" <unfinished ...>\n", out_);
}

void LinePrinter::record(const trace::RecordHeader& header, std::string_view text) {
  if (header.kind == trace::RecordKind::kCallEnd && holding_ && same_caller(header, held_) && header.call == held_.call) {
    // Nothing came between start and end: one line, as for a call that never parked.
    holding_ = false;
    print_prefix(header, header.start_ns);
    std::string joined = held_text_;
    joined.append(text.data(), text.size());
    print_body(header, joined, true);
    return;
  }
  if (holding_) print_held_as_unfinished();
  switch (header.kind) {
    case trace::RecordKind::kCall:
      print_prefix(header, header.start_ns);
      print_body(header, text, true);
      break;
    case trace::RecordKind::kCallStart:
      holding_ = true;
      held_ = header;
      held_text_.assign(text.data(), text.size());
      break;
    case trace::RecordKind::kCallEnd:
      print_prefix(header, header.start_ns + header.duration_ns);
      std::fprintf(out_, "<... %s resumed>", call_name(header));
      print_body(header, text, true);
      break;
    default:
      break;
  }
}

void LinePrinter::flush() {
  if (holding_) print_held_as_unfinished();
  std::fflush(out_);
}

void LinePrinter::exited(int pid, int status) {
  flush();
  if (WIFEXITED(status)) std::fprintf(out_, "[pid %d] +++ exited with %d +++\n", pid, WEXITSTATUS(status));
  else if (WIFSIGNALED(status))
  {
    const char* name = ::sigabbrev_np(WTERMSIG(status));
    std::fprintf(out_, "[pid %d] +++ killed by SIG%s +++\n", pid, name != nullptr ? name : "?");
  }
  std::fflush(out_);
}

}  // namespace cohook::costrace
