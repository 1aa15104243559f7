#include "tools/costrace/trace_session.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tools/common/preload_env.h"

namespace cohook::costrace {
namespace {

[[noreturn]] void fail(const std::string& message) {
  std::fprintf(stderr, "costrace: %s\n", message.c_str());
  std::exit(2);
}

// The program's copy of the write end: inheritable (children traced with -f write to it too) and
// high, out of the way of the numbers a program opens (the lowest free one), 1000 or the highest
// the fd limit allows below it.
int high_trace_fd(int fd) {
  rlimit limit{};
  int floor = 1000;
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY &&
      limit.rlim_cur <= static_cast<rlim_t>(floor))
    floor = static_cast<int>(limit.rlim_cur) / 2;
  int high = ::fcntl(fd, F_DUPFD, floor);
  if (high < 0) fail(std::string("cannot move the trace pipe to a high fd: ") + std::strerror(errno));
  ::close(fd);
  return high;
}

}  // namespace

std::string trace_spec(const Options& options, int fd, pid_t pid) {
  // The library sends only totals with -c alone; with -C or --chrome-trace it sends every call
  // and costrace counts them itself.
  bool summary_only = options.summary && !options.summary_and_lines && options.chrome_trace.empty();
  char calls[32];
  std::snprintf(calls, sizeof calls, "%llx", static_cast<unsigned long long>(options.calls));
  return "fd=" + std::to_string(fd) + ",mode=" + (summary_only ? "summary" : "lines") +
         ",s=" + std::to_string(options.string_limit) + ",k=" + (options.stacks ? "1" : "0") +
         ",follow=" + (options.follow_forks ? "1" : "0") + ",pid=" + std::to_string(pid) + ",calls=" + calls;
}

TraceSession::TraceSession(const Options& options, char** argv) : options_(options) {
  std::string library = tools::find_cohook_library();
  if (library.empty()) fail("cannot find libcohook.so in ../lib next to this costrace (build it with make, or make install)");
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) fail(std::string("cannot make the trace pipe: ") + std::strerror(errno));
  read_fd_ = fds[0];
  int write_fd = high_trace_fd(fds[1]);
  std::fflush(nullptr);
  pid_ = ::fork();
  if (pid_ < 0) fail(std::string("cannot fork: ") + std::strerror(errno));
  if (pid_ == 0) {
    tools::set_preload_environment(library, options.preload);
    ::setenv("COHOOK_TRACE", trace_spec(options, write_fd, ::getpid()).c_str(), 1);
    char** program = argv + options.program_index;
    ::execvp(program[0], program);
    int error = errno;
    std::fprintf(stderr, "costrace: cannot run %s: %s\n", program[0], std::strerror(error));
    ::_exit(error == ENOENT ? 127 : 126);
  }
  ::close(write_fd);
}

bool TraceSession::read_available(const RecordHandler& handler) {
  char buffer[1 << 16];
  for (;;) {
    ssize_t n = ::read(read_fd_, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN;  // drained for now
    }
    if (n == 0) return false;
    pending_.append(buffer, static_cast<std::size_t>(n));
    std::size_t offset = 0;
    while (pending_.size() - offset >= sizeof(trace::RecordHeader)) {
      trace::RecordHeader header;
      std::memcpy(&header, pending_.data() + offset, sizeof header);
      if (header.size < sizeof header) {  // cannot happen with one sender per record; stop cleanly
        pending_.clear();
        return false;
      }
      if (pending_.size() - offset < header.size) break;
      handler(header, std::string_view(pending_.data() + offset + sizeof header, header.size - sizeof header));
      offset += header.size;
    }
    pending_.erase(0, offset);
  }
}

int TraceSession::run(const RecordHandler& handler) {
  ::fcntl(read_fd_, F_SETFL, O_NONBLOCK);
  int status = 0;
  bool reaped = false;
  for (;;) {
    pollfd entry{read_fd_, POLLIN, 0};
    int ready = ::poll(&entry, 1, 100);
    if (ready > 0 && !read_available(handler)) break;  // every writer closed the pipe
    if (!reaped) {
      pid_t done = ::waitpid(pid_, &status, WNOHANG);
      if (done == pid_) reaped = true;
      else if (done < 0 && errno != EINTR) break;
    }
    // Without -f, the program's end is the trace's: what it sent before exiting is in the pipe
    // (records are written before the system calls that end a process), so drain and stop, even
    // if a child of it still holds the pipe open.
    if (reaped && !options_.follow_forks) {
      read_available(handler);
      break;
    }
  }
  ::close(read_fd_);
  if (!reaped) ::waitpid(pid_, &status, 0);
  return status;
}

}  // namespace cohook::costrace
