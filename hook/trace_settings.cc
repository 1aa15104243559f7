// COHOOK_TRACE: read once at load, before main. A bad value stops the program with status 2
// before it runs anything, as for every COHOOK_* variable (DESIGN.md).
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "hook/trace.h"
#include "hook/trace_emit.h"
#include "hook/trace_summary.h"
#include "sched/stack_trace.h"

namespace cohook::trace {

std::atomic<bool> g_tracing{false};

const char* const kTraceSpecForm =
    "fd=N[,mode=lines|summary][,s=N][,k=0|1][,follow=0|1][,pid=N][,calls=HEX] (set by costrace; fd: an open "
    "pipe's write end, s: 0 to 65536, calls: a hex mask of trace_calls.h indices)";

namespace {

TraceSettings g_settings;

bool parse_number(const char* begin, const char* end, int base, unsigned long long max, unsigned long long* out) {
  if (begin == end) return false;
  unsigned long long value = 0;
  for (const char* p = begin; p != end; ++p) {
    int digit;
    if (*p >= '0' && *p <= '9') digit = *p - '0';
    else if (base == 16 && *p >= 'a' && *p <= 'f') digit = *p - 'a' + 10;
    else if (base == 16 && *p >= 'A' && *p <= 'F') digit = *p - 'A' + 10;
    else return false;
    if (value > (max - static_cast<unsigned>(digit)) / static_cast<unsigned>(base)) return false;
    value = value * static_cast<unsigned>(base) + static_cast<unsigned>(digit);
  }
  *out = value;
  return true;
}

bool key_is(const char* begin, const char* end, const char* key) {
  std::size_t length = std::strlen(key);
  return static_cast<std::size_t>(end - begin) == length && std::memcmp(begin, key, length) == 0;
}

void after_fork_in_child() {
  if (!tracing()) return;
  reset_identity_after_fork();
  // Without -f only the process costrace started is traced (strace's default); with it the
  // child traces too, its -c counts starting from zero.
  if (!g_settings.follow) {
    g_tracing.store(false, std::memory_order_relaxed);
    return;
  }
  reset_summary_after_fork();
}

__attribute__((destructor)) void send_summary_at_exit() {
  if (tracing() && g_settings.mode == TraceMode::kSummary) send_summary();
}

__attribute__((constructor)) void read_trace_environment() {
  const char* value = std::getenv("COHOOK_TRACE");
  if (value == nullptr || *value == '\0') return;
  const char* error = nullptr;
  if (!parse_trace_spec(value, &g_settings, &error)) {
    std::fprintf(stderr, "cohook: COHOOK_TRACE='%s' is not valid (%s): expected %s\n", value, error, kTraceSpecForm);
    std::_Exit(2);
  }
  // A process other than the one costrace started, without -f: not traced (an exec'd child
  // inherits the variable and the fd).
  if (!g_settings.follow && g_settings.pid != 0 && g_settings.pid != static_cast<int>(::syscall(SYS_getpid))) return;
  struct stat status;
  if (::fstat(g_settings.fd, &status) != 0 || !S_ISFIFO(status.st_mode)) {
    std::fprintf(stderr, "cohook: COHOOK_TRACE='%s' is not valid (fd %d is not an open pipe): expected %s\n", value,
                 g_settings.fd, kTraceSpecForm);
    std::_Exit(2);
  }
  if (g_settings.stacks) diag::load_unwinder();  // dlopen now, never inside a hooked call
  install_park_observer();
  ::pthread_atfork(nullptr, nullptr, &after_fork_in_child);
  g_tracing.store(true, std::memory_order_relaxed);
}

}  // namespace

const TraceSettings& settings() { return g_settings; }

bool is_trace_fd(int fd) { return tracing() && fd == g_settings.fd; }

bool parse_trace_spec(const char* text, TraceSettings* out, const char** error) {
  TraceSettings result;
  bool have_fd = false;
  const char* p = text;
  while (*p != '\0') {
    const char* item_end = std::strchr(p, ',');
    if (item_end == nullptr) item_end = p + std::strlen(p);
    const char* equals = static_cast<const char*>(std::memchr(p, '=', static_cast<std::size_t>(item_end - p)));
    if (equals == nullptr) {
      *error = "an item without '='";
      return false;
    }
    const char* v = equals + 1;
    unsigned long long number = 0;
    auto flag = [&](bool* target) {
      if (key_is(v, item_end, "0")) *target = false;
      else if (key_is(v, item_end, "1")) *target = true;
      else return false;
      return true;
    };
    if (key_is(p, equals, "fd")) {
      if (!parse_number(v, item_end, 10, 0x7fffffff, &number)) {
        *error = "fd is not a number";
        return false;
      }
      result.fd = static_cast<int>(number);
      have_fd = true;
    } else if (key_is(p, equals, "mode")) {
      if (key_is(v, item_end, "lines")) result.mode = TraceMode::kLines;
      else if (key_is(v, item_end, "summary")) result.mode = TraceMode::kSummary;
      else {
        *error = "mode is neither lines nor summary";
        return false;
      }
    } else if (key_is(p, equals, "s")) {
      if (!parse_number(v, item_end, 10, 65536, &number)) {
        *error = "s is not a number from 0 to 65536";
        return false;
      }
      result.string_limit = number;
    } else if (key_is(p, equals, "k")) {
      if (!flag(&result.stacks)) {
        *error = "k is not 0 or 1";
        return false;
      }
    } else if (key_is(p, equals, "follow")) {
      if (!flag(&result.follow)) {
        *error = "follow is not 0 or 1";
        return false;
      }
    } else if (key_is(p, equals, "pid")) {
      if (!parse_number(v, item_end, 10, 0x7fffffff, &number)) {
        *error = "pid is not a number";
        return false;
      }
      result.pid = static_cast<int>(number);
    } else if (key_is(p, equals, "calls")) {
      if (!parse_number(v, item_end, 16, ~0ull, &number)) {
        *error = "calls is not a hex mask";
        return false;
      }
      result.calls = number;
    } else {
      *error = "an unknown key";
      return false;
    }
    p = *item_end == ',' ? item_end + 1 : item_end;
  }
  if (!have_fd) {
    *error = "no fd";
    return false;
  }
  *out = result;
  return true;
}

}  // namespace cohook::trace
