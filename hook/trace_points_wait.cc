// Trace points of the calls that wait: poll, select, epoll, the sleep family (all shown as the
// clock_nanosleep glibc issues for them), wait4/waitid; and rt_sigaction and the resolver calls.
#include <errno.h>
#include <netdb.h>
#include <sys/select.h>
#include <time.h>

#include "hook/trace.h"
#include "hook/trace_decode.h"
#include "hook/trace_points.h"

namespace cohook::trace {
namespace {

auto close_paren = [](TraceLine& line, int) { line.put_char(')'); };

void put_timeout_ms(TraceLine& line, int timeout_ms) { line.put_int(timeout_ms); }

// poll's result as strace shows it: " = 1 ([{fd=3, revents=POLLIN}])", " = 0 (Timeout)".
void put_poll_result(CallTrace& trace, const pollfd* fds, nfds_t count) {
  TraceLine& line = trace.line();
  put_result(line, trace.result(), trace.error());
  if (trace.result() == 0) line.put(" (Timeout)");
  if (trace.result() > 0) {
    line.put(" (");
    put_pollfds(line, fds, count, true);
    line.put_char(')');
  }
  trace.result_written();
}

// An fd_set as strace prints it: [3 5 7]; NULL for none.
void put_fd_set(TraceLine& line, const fd_set* set, int count) {
  if (set == nullptr) {
    line.put("NULL");
    return;
  }
  line.put_char('[');
  bool first = true;
  for (int fd = 0; fd < count && fd < FD_SETSIZE; ++fd) {
    if (!FD_ISSET(fd, set)) continue;
    if (!first) line.put_char(' ');
    line.put_int(fd);
    first = false;
  }
  line.put_char(']');
}

// The whole of a wait call, built by hand (the result is not always errno's -1): entry() prints
// up to the unfinished point, invoke() calls, exit(trace) prints the rest and may fix the result.
template <class Entry, class Invoke, class Exit>
auto traced_by_hand(TracedCall call, Entry&& entry, Invoke&& invoke, Exit&& exit) -> decltype(invoke()) {
  if (!should_trace(call)) return invoke();
  CallTrace trace(call);
  if (trace.formatting()) entry(trace.line());
  trace.entered();
  auto result = invoke();
  trace.returned(static_cast<long long>(result));
  exit(trace, result);
  trace.finish();
  return result;
}

void put_clock_nanosleep_entry(TraceLine& line, clockid_t clock, int flags, const timespec* request) {
  line.put("clock_nanosleep(");
  put_clock_id(line, clock);
  line.put(", ");
  if (flags == TIMER_ABSTIME) line.put("TIMER_ABSTIME");
  else line.put_int(flags);
  line.put(", ");
  put_timespec(line, request);
  line.put(", ");
}

void put_remaining(CallTrace& trace, const timespec* remaining) {
  TraceLine& line = trace.line();
  if (!trace.formatting()) return;
  if (remaining == nullptr) line.put("NULL");
  else if (trace.error() == EINTR) put_timespec(line, remaining);
  else line.put_hex(reinterpret_cast<std::uintptr_t>(remaining));
  line.put_char(')');
}

}  // namespace

int trace_poll(int (*body)(pollfd*, nfds_t, int), pollfd* fds, nfds_t count, int timeout_ms) {
  return traced_by_hand(
      TracedCall::poll,
      [&](TraceLine& line) {
        line.put("poll(");
        put_pollfds(line, fds, count, false);
        line.put(", ");
        line.put_uint(count);
        line.put(", ");
        put_timeout_ms(line, timeout_ms);
      },
      [&] { return body(fds, count, timeout_ms); },
      [&](CallTrace& trace, int) {
        if (!trace.formatting()) return;
        trace.line().put_char(')');
        put_poll_result(trace, fds, count);
      });
}

int trace_ppoll(int (*body)(pollfd*, nfds_t, const timespec*, const sigset_t*), pollfd* fds, nfds_t count,
                const timespec* timeout, const sigset_t* mask) {
  return traced_by_hand(
      TracedCall::ppoll,
      [&](TraceLine& line) {
        line.put("ppoll(");
        put_pollfds(line, fds, count, false);
        line.put(", ");
        line.put_uint(count);
        line.put(", ");
        if (timeout == nullptr) line.put("NULL");
        else put_timespec(line, timeout);
        line.put(", ");
        if (mask == nullptr) line.put("NULL");
        else put_sigset(line, mask);
        line.put(", 8");
      },
      [&] { return body(fds, count, timeout, mask); },
      [&](CallTrace& trace, int) {
        if (!trace.formatting()) return;
        trace.line().put_char(')');
        put_poll_result(trace, fds, count);
      });
}

namespace {
// select's and pselect6's first four arguments: "3, [0 1], NULL, NULL, ".
void put_select_sets(TraceLine& line, int count, fd_set* readable, fd_set* writable, fd_set* exceptional) {
  line.put_int(count);
  for (fd_set* set : {readable, writable, exceptional}) {
    line.put(", ");
    put_fd_set(line, set, count);
  }
  line.put(", ");
}

// strace ends a select that timed out with " (Timeout)".
void end_select(CallTrace& trace, int result) {
  if (!trace.formatting()) return;
  TraceLine& line = trace.line();
  line.put_char(')');
  put_result(line, trace.result(), trace.error());
  if (result == 0) line.put(" (Timeout)");
  trace.result_written();
}
}  // namespace

int trace_select(int (*body)(int, fd_set*, fd_set*, fd_set*, timeval*), int count, fd_set* readable,
                 fd_set* writable, fd_set* exceptional, timeval* timeout) {
  return traced_by_hand(
      TracedCall::select,
      [&](TraceLine& line) {
        line.put("select(");
        put_select_sets(line, count, readable, writable, exceptional);
        if (timeout == nullptr) line.put("NULL");
        else put_timeval(line, timeout);
      },
      [&] { return body(count, readable, writable, exceptional, timeout); },
      end_select);
}

int trace_pselect(int (*body)(int, fd_set*, fd_set*, fd_set*, const timespec*, const sigset_t*), int count,
                  fd_set* readable, fd_set* writable, fd_set* exceptional, const timespec* timeout,
                  const sigset_t* mask) {
  return traced_by_hand(
      TracedCall::pselect6,
      [&](TraceLine& line) {
        line.put("pselect6(");
        put_select_sets(line, count, readable, writable, exceptional);
        if (timeout == nullptr) line.put("NULL");
        else put_timespec(line, timeout);
        line.put(", ");
        if (mask == nullptr) line.put("NULL");
        else put_sigset(line, mask);
      },
      [&] { return body(count, readable, writable, exceptional, timeout, mask); },
      end_select);
}

namespace {
void put_epoll_events_out(TraceLine& line, const epoll_event* events, int result) {
  if (result < 0) {
    line.put_hex(reinterpret_cast<std::uintptr_t>(events));
    return;
  }
  line.put_char('[');
  for (int i = 0; i < result; ++i) {
    if (i > 0) line.put(", ");
    line.put("{events=");
    put_epoll_events(line, events[i].events);
    line.put(", data=");
    line.put_hex(events[i].data.u64);
    line.put_char('}');
  }
  line.put_char(']');
}
}  // namespace

int trace_epoll_wait(int (*body)(int, epoll_event*, int, int), int epoll_fd, epoll_event* events, int max_events,
                     int timeout_ms) {
  return traced_call(
      TracedCall::epoll_wait,
      [&](TraceLine& line) {
        line.put("epoll_wait(");
        line.put_int(epoll_fd);
        line.put(", ");
      },
      [&] { return body(epoll_fd, events, max_events, timeout_ms); },
      [&](TraceLine& line, int result) {
        put_epoll_events_out(line, events, result);
        line.put(", ");
        line.put_int(max_events);
        line.put(", ");
        put_timeout_ms(line, timeout_ms);
        line.put_char(')');
      });
}

int trace_epoll_pwait(int (*body)(int, epoll_event*, int, int, const sigset_t*), int epoll_fd, epoll_event* events,
                      int max_events, int timeout_ms, const sigset_t* mask) {
  return traced_call(
      TracedCall::epoll_pwait,
      [&](TraceLine& line) {
        line.put("epoll_pwait(");
        line.put_int(epoll_fd);
        line.put(", ");
      },
      [&] { return body(epoll_fd, events, max_events, timeout_ms, mask); },
      [&](TraceLine& line, int result) {
        put_epoll_events_out(line, events, result);
        line.put(", ");
        line.put_int(max_events);
        line.put(", ");
        put_timeout_ms(line, timeout_ms);
        line.put(", ");
        if (mask == nullptr) line.put("NULL");
        else put_sigset(line, mask);
        line.put(", 8)");
      });
}

unsigned trace_sleep(unsigned (*body)(unsigned), unsigned seconds) {
  // glibc: clock_nanosleep(CLOCK_REALTIME, 0, &ts, &ts) with ts = {seconds, 0}.
  timespec request{static_cast<time_t>(seconds), 0};
  return traced_by_hand(
      TracedCall::clock_nanosleep, [&](TraceLine& line) { put_clock_nanosleep_entry(line, CLOCK_REALTIME, 0, &request); },
      [&] { return body(seconds); },
      [&](CallTrace& trace, unsigned left) {
        // sleep returns the seconds left; the system call failed with EINTR when a signal cut it.
        trace.returned(0);
        if (left > 0) trace.returned_error_number(EINTR);
        if (!trace.formatting()) return;
        trace.line().put_hex(reinterpret_cast<std::uintptr_t>(&request));
        trace.line().put_char(')');
      });
}

int trace_usleep(int (*body)(useconds_t), useconds_t microseconds) {
  timespec request{static_cast<time_t>(microseconds / 1'000'000), static_cast<long>(microseconds % 1'000'000) * 1000};
  return traced_by_hand(
      TracedCall::clock_nanosleep, [&](TraceLine& line) { put_clock_nanosleep_entry(line, CLOCK_REALTIME, 0, &request); },
      [&] { return body(microseconds); },
      [&](CallTrace& trace, int) {
        if (!trace.formatting()) return;
        trace.line().put_hex(reinterpret_cast<std::uintptr_t>(&request));
        trace.line().put_char(')');
      });
}

int trace_nanosleep(int (*body)(const timespec*, timespec*), const timespec* duration, timespec* remaining) {
  // glibc's nanosleep is clock_nanosleep(CLOCK_REALTIME, 0, duration, remaining).
  return traced_by_hand(
      TracedCall::clock_nanosleep,
      [&](TraceLine& line) { put_clock_nanosleep_entry(line, CLOCK_REALTIME, 0, duration); },
      [&] { return body(duration, remaining); }, [&](CallTrace& trace, int) { put_remaining(trace, remaining); });
}

int trace_clock_nanosleep(int (*body)(clockid_t, int, const timespec*, timespec*), clockid_t clock, int flags,
                          const timespec* request, timespec* remaining) {
  return traced_by_hand(
      TracedCall::clock_nanosleep,
      [&](TraceLine& line) { put_clock_nanosleep_entry(line, clock, flags, request); },
      [&] { return body(clock, flags, request, remaining); },
      [&](CallTrace& trace, int result) {
        // The error comes back as the value, errno untouched: show it as the system call's.
        if (result == 0) trace.returned(0);
        else trace.returned_error_number(result);
        put_remaining(trace, (flags & TIMER_ABSTIME) ? nullptr : remaining);
      });
}

namespace {
void put_wait_status(TraceLine& line, const int* status, pid_t result) {
  if (status == nullptr) {
    line.put("NULL");
    return;
  }
  if (result <= 0) {
    line.put_hex(reinterpret_cast<std::uintptr_t>(status));
    return;
  }
  int s = *status;
  if (WIFEXITED(s)) {
    line.put("[{WIFEXITED(s) && WEXITSTATUS(s) == ");
    line.put_int(WEXITSTATUS(s));
    line.put("}]");
  } else if (WIFSIGNALED(s)) {
    line.put("[{WIFSIGNALED(s) && WTERMSIG(s) == ");
    put_signal(line, WTERMSIG(s));
    if (WCOREDUMP(s)) line.put(" && WCOREDUMP(s)");
    line.put("}]");
  } else if (WIFSTOPPED(s)) {
    line.put("[{WIFSTOPPED(s) && WSTOPSIG(s) == ");
    put_signal(line, WSTOPSIG(s));
    line.put("}]");
  } else {
    line.put_char('[');
    line.put_hex(static_cast<unsigned>(s));
    line.put_char(']');
  }
}
}  // namespace

pid_t trace_waitpid(pid_t (*body)(pid_t, int*, int), pid_t pid, int* status, int options) {
  // glibc's waitpid is wait4(pid, status, options, NULL).
  return traced_call(
      TracedCall::wait4,
      [&](TraceLine& line) {
        line.put("wait4(");
        line.put_int(pid);
        line.put(", ");
      },
      [&] { return body(pid, status, options); },
      [&](TraceLine& line, pid_t result) {
        put_wait_status(line, status, result);
        line.put(", ");
        put_wait_options(line, options);
        line.put(", NULL)");
      });
}

pid_t trace_wait4(pid_t (*body)(pid_t, int*, int, rusage*), pid_t pid, int* status, int options, rusage* usage) {
  return traced_call(
      TracedCall::wait4,
      [&](TraceLine& line) {
        line.put("wait4(");
        line.put_int(pid);
        line.put(", ");
      },
      [&] { return body(pid, status, options, usage); },
      [&](TraceLine& line, pid_t result) {
        put_wait_status(line, status, result);
        line.put(", ");
        put_wait_options(line, options);
        line.put(", ");
        if (usage == nullptr) line.put("NULL");
        else line.put_hex(reinterpret_cast<std::uintptr_t>(usage));
        line.put_char(')');
      });
}

int trace_waitid(int (*body)(idtype_t, id_t, siginfo_t*, int), idtype_t type, id_t id, siginfo_t* info, int options) {
  return traced_call(
      TracedCall::waitid,
      [&](TraceLine& line) {
        line.put("waitid(");
        line.put(type == P_PID ? "P_PID" : type == P_PGID ? "P_PGID" : type == P_ALL ? "P_ALL" : "P_PIDFD");
        line.put(", ");
        line.put_uint(id);
        line.put(", ");
      },
      [&] { return body(type, id, info, options); },
      [&](TraceLine& line, int result) {
        if (info == nullptr) {
          line.put("NULL");
        } else if (result == 0 && info->si_pid != 0) {
          line.put("{si_signo=SIGCHLD, si_pid=");
          line.put_int(info->si_pid);
          line.put(", si_status=");
          line.put_int(info->si_status);
          line.put_char('}');
        } else {
          line.put_hex(reinterpret_cast<std::uintptr_t>(info));
        }
        line.put(", ");
        put_wait_options(line, options);
        line.put(", NULL)");
      });
}

namespace {
void put_sigaction(TraceLine& line, const struct sigaction* action) {
  if (action == nullptr) {
    line.put("NULL");
    return;
  }
  line.put("{sa_handler=");
  if (action->sa_handler == SIG_DFL) line.put("SIG_DFL");
  else if (action->sa_handler == SIG_IGN) line.put("SIG_IGN");
  else line.put_hex(reinterpret_cast<std::uintptr_t>(action->sa_handler));
  line.put(", sa_mask=");
  put_sigset(line, &action->sa_mask);
  line.put(", sa_flags=");
  line.put_hex(static_cast<unsigned>(action->sa_flags));
  line.put_char('}');
}
}  // namespace

int trace_sigaction(int (*body)(int, const struct sigaction*, struct sigaction*), int signal_number,
                    const struct sigaction* action, struct sigaction* old_action) {
  return traced_call(
      TracedCall::rt_sigaction,
      [&](TraceLine& line) {
        line.put("rt_sigaction(");
        put_signal(line, signal_number);
        line.put(", ");
        put_sigaction(line, action);
        line.put(", ");
      },
      [&] { return body(signal_number, action, old_action); },
      [&](TraceLine& line, int result) {
        if (result == 0) put_sigaction(line, old_action);
        else line.put_hex(reinterpret_cast<std::uintptr_t>(old_action));
        line.put(", 8)");
      });
}

namespace {
// The resolver returns EAI_* codes, not errno: " = -2 (Name or service not known)".
void put_resolver_result(CallTrace& trace, int status) {
  if (!trace.formatting()) return;
  TraceLine& line = trace.line();
  line.put(" = ");
  line.put_int(status);
  if (status != 0) {
    line.put(" (");
    line.put(::gai_strerror(status));
    line.put_char(')');
  }
  trace.result_written();
}
}  // namespace

int trace_getaddrinfo(int (*body)(const char*, const char*, const addrinfo*, addrinfo**), const char* node,
                      const char* service, const addrinfo* hints, addrinfo** result) {
  return traced_by_hand(
      TracedCall::getaddrinfo,
      [&](TraceLine& line) {
        line.put("getaddrinfo(");
        put_c_string(line, node, string_limit());
        line.put(", ");
        put_c_string(line, service, string_limit());
        line.put(", ");
        if (hints == nullptr) line.put("NULL");
        else line.put_hex(reinterpret_cast<std::uintptr_t>(hints));
        line.put(", ");
        line.put_hex(reinterpret_cast<std::uintptr_t>(result));
      },
      [&] { return body(node, service, hints, result); },
      [&](CallTrace& trace, int status) {
        if (trace.formatting()) trace.line().put_char(')');
        put_resolver_result(trace, status);
      });
}

int trace_getnameinfo(int (*body)(const sockaddr*, socklen_t, char*, socklen_t, char*, socklen_t, int),
                      const sockaddr* address, socklen_t length, char* host, socklen_t host_size, char* service,
                      socklen_t service_size, int flags) {
  return traced_by_hand(
      TracedCall::getnameinfo,
      [&](TraceLine& line) {
        line.put("getnameinfo(");
        put_sockaddr(line, address, length);
        line.put(", ");
        line.put_uint(length);
        line.put(", ");
      },
      [&] { return body(address, length, host, host_size, service, service_size, flags); },
      [&](CallTrace& trace, int status) {
        if (trace.formatting()) {
          TraceLine& line = trace.line();
          if (status == 0 && host != nullptr) put_c_string(line, host, string_limit());
          else line.put(host == nullptr ? "NULL" : "\"\"");
          line.put(", ");
          line.put_uint(host_size);
          line.put(", ");
          if (status == 0 && service != nullptr) put_c_string(line, service, string_limit());
          else line.put(service == nullptr ? "NULL" : "\"\"");
          line.put(", ");
          line.put_uint(service_size);
          line.put(", ");
          line.put_int(flags);
          line.put_char(')');
        }
        put_resolver_result(trace, status);
      });
}

}  // namespace cohook::trace
