// corun: runs an unmodified program with libcohook.so preloaded, its threads as green threads.
//
//   corun [--threads N] [--stack-size SIZE] [--native-threads] [--] PROGRAM ARGS...
//
// It only prepares the environment (LD_PRELOAD, COHOOK_*) and execs PROGRAM, so children the
// program starts inherit the same settings and are cooperative too. Flags end at the first
// argument that is not one (or at --), so PROGRAM's own flags are never read here.
#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "tools/common/preload_env.h"

namespace {

constexpr const char* kVersion = "0.1.0";

constexpr const char* kUsage = R"(usage: corun [--threads N] [--stack-size SIZE] [--native-threads] [--] PROGRAM [ARGS...]

Runs PROGRAM with libcohook.so preloaded. By default every thread PROGRAM creates (and main)
is a green thread: a coroutine on one of N scheduler threads, so blocking calls (read, write,
accept, connect, poll, sleep, pthread locks and condition variables...) park only that green
thread. Nothing is rebuilt. PROGRAM's exit status, stdout and stderr are what they would be
without corun.

Flags:
  --threads N        scheduler threads for green threads, 1 to 1024 (default: COHOOK_THREADS
                     if set, else the number of cores)
  --stack-size SIZE  stack of each green thread created without an explicit size: bytes, or
                     with K, M or G (16K to 1G; default: what pthread_create gives, the
                     RLIMIT_STACK soft limit, 8M when unlimited). Only touched pages cost memory.
  --native-threads   keep real pthreads; only calls made inside coroutines are cooperative
                     (for programs that create coroutines through cohook's or libco's API)
  --help             this text
  --version          corun's version
  --                 ends the flags (for a PROGRAM whose name starts with -)

Environment set for PROGRAM (and inherited by its children):
  LD_PRELOAD         libcohook.so, before any entries already there (which are kept)
  COHOOK_MODE        green, or native with --native-threads
  COHOOK_THREADS     from --threads
  COHOOK_STACK_SIZE  from --stack-size
Read by libcohook.so if you set them yourself:
  COHOOK_STALL_REPORT  seconds with no progress before a deadlock report (0: off; default 10)

libcohook.so is looked for in ../lib next to corun's own directory (the build tree's lib/, or
PREFIX/lib after make install). Exit status: PROGRAM's; 2 for a bad flag or value; 126 if
PROGRAM cannot be executed, 127 if it is not found.
See "Running unmodified programs: corun" in cohook's README for what green threads cannot do.
)";

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "corun: %s\nTry 'corun --help'.\n", message.c_str());
  std::exit(2);
}

// Value of "--flag=value" or "--flag value"; advances i past what it used.
const char* flag_value(int argc, char** argv, int& i, std::string_view flag) {
  std::string_view arg(argv[i]);
  if (arg.size() > flag.size() && arg[flag.size()] == '=') return argv[i] + flag.size() + 1;
  if (i + 1 >= argc) usage_error(std::string(flag) + " needs a value");
  return argv[++i];
}

}  // namespace

int main(int argc, char** argv) {
  const char* threads = nullptr;
  const char* stack_size = nullptr;
  bool native = false;
  int i = 1;
  for (; i < argc; ++i) {
    std::string_view arg(argv[i]);
    auto is = [&](std::string_view flag) { return arg == flag || (arg.size() > flag.size() && arg.substr(0, flag.size()) == flag && arg[flag.size()] == '='); };
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "--version") {
      std::printf("corun (cohook) %s\n", kVersion);
      return 0;
    }
    if (arg == "--native-threads") {
      native = true;
    } else if (is("--threads")) {
      threads = flag_value(argc, argv, i, "--threads");
      if (!cohook::tools::parse_threads_flag(threads)) usage_error(std::string("--threads ") + threads + ": " + cohook::tools::kThreadsForm);
    } else if (is("--stack-size")) {
      stack_size = flag_value(argc, argv, i, "--stack-size");
      if (!cohook::tools::parse_stack_size_flag(stack_size))
        usage_error(std::string("--stack-size ") + stack_size + ": " + cohook::tools::kStackSizeForm);
    } else if (arg.size() > 1 && arg[0] == '-') {
      usage_error("unknown flag " + std::string(arg));
    } else {
      break;
    }
  }
  if (i >= argc) usage_error("no PROGRAM to run");
  if (native && threads != nullptr) usage_error("--threads sets green scheduler threads; it has no effect with --native-threads");

  std::string library = cohook::tools::find_cohook_library();
  if (library.empty()) {
    std::fprintf(stderr, "corun: cannot find libcohook.so in ../lib next to this corun (build it with make, or make install)\n");
    return 2;
  }
  cohook::tools::set_preload_environment(library, {native, threads, stack_size});

  ::execvp(argv[i], argv + i);
  int error = errno;
  std::fprintf(stderr, "corun: cannot run %s: %s\n", argv[i], std::strerror(error));
  return error == ENOENT ? 127 : 126;
}
