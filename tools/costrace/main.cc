// costrace: strace for cohook programs. Runs PROGRAM under libcohook.so (as corun does), which
// sends a record for every hooked call to a pipe (hook/trace_record.h); costrace prints them as
// strace would, with the coroutine that made each call. `costrace --help` says how to use it.
#include <signal.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "hook/trace_record.h"
#include "tools/costrace/chrome_trace.h"
#include "tools/costrace/line_printer.h"
#include "tools/costrace/options.h"
#include "tools/costrace/summary_table.h"
#include "tools/costrace/trace_session.h"


namespace {

std::FILE* open_or_exit(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) {
    std::fprintf(stderr, "costrace: cannot write %s: %s\n", path.c_str(), std::strerror(errno));
    std::exit(2);
  }
  return file;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace cohook;
  costrace::Options options = costrace::parse_options(argc, argv);
  std::FILE* out = options.output.empty() ? stderr : open_or_exit(options.output);
  std::FILE* chrome_file = options.chrome_trace.empty() ? nullptr : open_or_exit(options.chrome_trace);
  std::unique_ptr<costrace::ChromeTraceWriter> chrome;
  if (chrome_file != nullptr) chrome = std::make_unique<costrace::ChromeTraceWriter>(chrome_file);
  // costrace outlives the program to print its last lines: a Ctrl-C meant for the program (it
  // gets it too, being in the same process group) must not end costrace first.
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGQUIT, SIG_IGN);
  ::signal(SIGPIPE, SIG_IGN);

  costrace::TraceSession session(options, argv);
  costrace::LinePrinter printer(out, options);
  costrace::SummaryTable table;
  // -c alone gets the totals from each process (kSummary); -C and --chrome-trace get every call
  // and count here.
  bool count_calls_here = options.table() && (options.summary_and_lines || !options.chrome_trace.empty());
  int status = session.run([&](const trace::RecordHeader& header, std::string_view text) {
    if (chrome) chrome->record(header, text);
    if (!options.follow_forks && header.pid != session.pid()) return;
    switch (header.kind) {
      case trace::RecordKind::kSummary:
        if (options.table()) table.add_summary_text(text);
        break;
      case trace::RecordKind::kCall:
      case trace::RecordKind::kCallEnd:
        if (count_calls_here) {
          table.add(header.call, 1, header.error != 0 ? 1 : 0, static_cast<std::uint64_t>(header.duration_ns),
                    static_cast<std::uint64_t>(header.parked_ns));
        }
        [[fallthrough]];
      case trace::RecordKind::kCallStart:
        if (options.lines()) printer.record(header, text);
        break;
      default:
        break;
    }
  });
  if (options.lines()) printer.exited(session.pid(), status);
  if (options.table()) table.print(out);
  if (chrome) {
    chrome->finish();
    std::fclose(chrome_file);
  }
  if (out != stderr) std::fclose(out);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) {
    // As strace: die of the same signal, so a shell sees what the program died of.
    int signal_number = WTERMSIG(status);
    std::fflush(nullptr);
    ::signal(signal_number, SIG_DFL);
    ::raise(signal_number);
    return 128 + signal_number;
  }
  return 1;
}
