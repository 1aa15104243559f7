#include "tools/costrace/options.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "hook/trace_calls.h"

namespace cohook::costrace {
namespace {

constexpr const char* kVersion = "0.1.0";

constexpr const char* kUsage = R"(usage: costrace [-f] [-c] [-C] [-T] [-t|-tt|-ttt] [-e trace=SET] [-o FILE] [-s STRSIZE] [-k]
                [--chrome-trace FILE] [--threads N] [--native-threads] [--] PROGRAM [ARGS...]

Runs PROGRAM under libcohook.so (green threads by default, as corun does) and prints every
hooked call it makes in strace's format, with the coroutine that made it:
  [pid 4242 co 17] read(5, "GET / HTTP/1.1\r\n"..., 4096) = 78
"co -" marks a call made outside any coroutine (a plain thread, or hooks turned off). A call
that parks its coroutine while others run is shown as strace shows an interrupted call:
"read(5, <unfinished ...>" then "<... read resumed>..." once it returns.

Flags (as strace's):
  -f                follow forks: children's calls too (without it, only PROGRAM's process)
  -c                count calls, time, errors and parked time; print a table at the end
  -C                the lines and the table
  -T                time spent in each call: " <0.000123>", then " <parked 0.000100>" when
                    the coroutine was parked (switched out) for part of it
  -t, -tt, -ttt     prefix each line with the time of day, with microseconds, or as epoch
  -e trace=SET      only these calls: names (read,write), classes (%network %desc %process
                    %signal %file %clock), all, none; a leading ! negates the set
  -o FILE           write the lines (and table) to FILE instead of stderr
  -s STRSIZE        bytes of each string shown (default 32)
  -k                print the coroutine's stack under each call
  --chrome-trace FILE  also write Chrome trace-event JSON (Perfetto, chrome://tracing)
  --threads N       scheduler threads for green threads (as corun)
  --native-threads  keep real pthreads (as corun)
  --help, --version

PROGRAM's exit status is costrace's; its stdout and stderr are left alone. Exit 2 for a bad
flag, 126/127 if PROGRAM cannot be run.
)";

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "costrace: %s\nTry 'costrace --help'.\n", message.c_str());
  std::exit(2);
}

constexpr std::size_t kCallCount = static_cast<std::size_t>(trace::TracedCall::kCount);

std::uint64_t class_mask(std::uint8_t classes) {
  std::uint64_t mask = 0;
  for (std::size_t i = 0; i < kCallCount; ++i)
    if (trace::kTracedCalls[i].classes & classes) mask |= std::uint64_t{1} << i;
  return mask;
}

}  // namespace

bool parse_trace_set(const std::string& text, std::uint64_t* calls, std::string* error) {
  std::string_view set(text);
  bool negate = !set.empty() && set[0] == '!';
  if (negate) set.remove_prefix(1);
  std::uint64_t all = kCallCount == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << kCallCount) - 1;
  std::uint64_t mask = 0;
  while (!set.empty()) {
    std::size_t comma = set.find(',');
    std::string_view item = set.substr(0, comma);
    set = comma == std::string_view::npos ? std::string_view() : set.substr(comma + 1);
    if (item.empty()) continue;
    if (item == "all") {
      mask |= all;
    } else if (item == "none") {
    } else if (item[0] == '%') {
      static constexpr struct {
        const char* name;
        std::uint8_t bits;
      } kClasses[] = {{"%network", trace::kClassNetwork}, {"%net", trace::kClassNetwork}, {"%desc", trace::kClassDesc},
                      {"%process", trace::kClassProcess}, {"%signal", trace::kClassSignal}, {"%file", trace::kClassFile},
                      {"%clock", trace::kClassClock}};
      bool found = false;
      for (const auto& c : kClasses) {
        if (item == c.name) {
          mask |= class_mask(c.bits);
          found = true;
        }
      }
      if (!found) {
        *error = "unknown class " + std::string(item) + " (known: %network %desc %process %signal %file %clock)";
        return false;
      }
    } else {
      // strace's names for the libc calls costrace traces under another: recv -> recvfrom...
      static constexpr struct {
        const char* alias;
        const char* name;
      } kAliases[] = {{"recv", "recvfrom"}, {"send", "sendto"}, {"pipe", "pipe2"}, {"open", "openat"},
                      {"eventfd", "eventfd2"}, {"nanosleep", "clock_nanosleep"}, {"sleep", "clock_nanosleep"},
                      {"waitpid", "wait4"}, {"sigaction", "rt_sigaction"}, {"pselect", "pselect6"}};
      bool found = false;
      for (std::size_t i = 0; i < kCallCount; ++i) {
        if (item == trace::kTracedCalls[i].name) {
          mask |= std::uint64_t{1} << i;
          found = true;
        }
      }
      for (const auto& a : kAliases) {
        if (item == a.alias) {
          for (std::size_t i = 0; i < kCallCount; ++i)
            if (std::strcmp(trace::kTracedCalls[i].name, a.name) == 0) mask |= std::uint64_t{1} << i;
          found = true;
        }
      }
      if (!found) {
        *error = "costrace does not trace '" + std::string(item) + "' (it traces the calls libcohook.so hooks)";
        return false;
      }
    }
  }
  *calls = negate ? (all & ~mask) : mask;
  return true;
}

Options parse_options(int argc, char** argv) {
  Options options;
  int i = 1;
  auto value_of = [&](std::string_view flag) -> const char* {
    std::string_view arg(argv[i]);
    if (arg.size() > flag.size() && arg.substr(0, flag.size()) == flag) {
      std::string_view rest = arg.substr(flag.size());
      if (rest[0] == '=') rest.remove_prefix(1);
      return argv[i] + (arg.size() - rest.size());
    }
    if (i + 1 >= argc) usage_error(std::string(flag) + " needs a value");
    return argv[++i];
  };
  for (; i < argc; ++i) {
    std::string_view arg(argv[i]);
    auto starts = [&](std::string_view flag) { return arg.substr(0, flag.size()) == flag; };
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (arg == "--version" || arg == "-V") {
      std::printf("costrace (cohook) %s\n", kVersion);
      std::exit(0);
    }
    if (arg == "-f" || arg == "-ff") {
      options.follow_forks = true;
    } else if (arg == "-c") {
      options.summary = true;
    } else if (arg == "-C") {
      options.summary_and_lines = true;
    } else if (arg == "-T") {
      options.durations = true;
    } else if (arg == "-t") {
      options.timestamps = Timestamps::kSeconds;
    } else if (arg == "-tt") {
      options.timestamps = Timestamps::kMicros;
    } else if (arg == "-ttt") {
      options.timestamps = Timestamps::kEpoch;
    } else if (arg == "-k") {
      options.stacks = true;
    } else if (starts("-e")) {
      std::string expression = value_of("-e");
      std::string set = expression;
      if (expression.rfind("trace=", 0) == 0) set = expression.substr(6);
      else if (expression.find('=') != std::string::npos)
        usage_error("-e " + expression + ": costrace supports only -e trace=SET");
      std::string error;
      if (!parse_trace_set(set, &options.calls, &error)) usage_error("-e " + expression + ": " + error);
    } else if (starts("-o")) {
      options.output = value_of("-o");
      if (options.output.empty()) usage_error("-o needs a file name");
    } else if (starts("-s")) {
      const char* text = value_of("-s");
      char* end = nullptr;
      long value = std::strtol(text, &end, 10);
      if (*text == '\0' || *end != '\0' || value < 0 || value > 65536)
        usage_error(std::string("-s ") + text + ": expected a whole number from 0 to 65536");
      options.string_limit = static_cast<std::size_t>(value);
    } else if (starts("--chrome-trace")) {
      options.chrome_trace = value_of("--chrome-trace");
      if (options.chrome_trace.empty()) usage_error("--chrome-trace needs a file name");
    } else if (starts("--threads")) {
      options.preload.threads = value_of("--threads");
      if (!tools::parse_threads_flag(options.preload.threads))
        usage_error(std::string("--threads ") + options.preload.threads + ": " + tools::kThreadsForm);
    } else if (arg == "--native-threads") {
      options.preload.native_threads = true;
    } else if (arg.size() > 1 && arg[0] == '-') {
      usage_error("unknown flag " + std::string(arg));
    } else {
      break;
    }
  }
  if (i >= argc) usage_error("no PROGRAM to run");
  if (options.preload.native_threads && options.preload.threads != nullptr)
    usage_error("--threads sets green scheduler threads; it has no effect with --native-threads");
  options.program_index = i;
  return options;
}

}  // namespace cohook::costrace
