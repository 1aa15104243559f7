// Helpers for the diagnostics tests: capture this process's stderr, run a program and collect
// its output and status.
#pragma once

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

// GCC 12 at -O1 with -fsanitize=address warns about std::function members inside libstdc++'s
// regex compiler (-Wmaybe-uninitialized, a false positive in the header): silenced for it alone.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>
#pragma GCC diagnostic pop

#include <gtest/gtest.h>

namespace cohook::test {

// Sends stderr into a pipe while alive. read_until collects what arrived (on a plain thread).
class CapturedStderr {
 public:
  CapturedStderr() {
    EXPECT_EQ(::pipe(fds_), 0);
    saved_ = ::dup(STDERR_FILENO);
    ::dup2(fds_[1], STDERR_FILENO);
  }
  ~CapturedStderr() {
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  CapturedStderr(const CapturedStderr&) = delete;
  CapturedStderr& operator=(const CapturedStderr&) = delete;

  // Reads until every needle has appeared or `limit` passed; true if all appeared.
  bool read_until(std::initializer_list<const char*> needles, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      bool all = true;
      for (const char* n : needles) all = all && text.find(n) != std::string::npos;
      if (all) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      pollfd entry{fds_[0], POLLIN, 0};
      if (::poll(&entry, 1, 50) <= 0) continue;
      char buf[8192];
      ssize_t n = ::read(fds_[0], buf, sizeof buf);
      if (n > 0) text.append(buf, static_cast<std::size_t>(n));
    }
  }
  std::string text;

 private:
  int fds_[2];
  int saved_;
};

struct ProgramResult {
  int status = -1;
  std::string output;  // stdout and stderr together
};

// Runs a shell command line, with stderr joined to stdout.
inline ProgramResult run_command(const std::string& command) {
  ProgramResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) result.output.append(buf, n);
  result.status = ::pclose(pipe);
  return result;
}

inline std::string bin_dir() {
  const char* dir = std::getenv("COHOOK_TEST_BIN_DIR");
  return dir != nullptr ? dir : "bin";
}

}  // namespace cohook::test
