// What the green-thread tests share: where bin/corun and the test programs are, and running a
// command to get its stdout, stderr and exit status.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace green_test {

namespace fs = std::filesystem;

// bin/ of this build: COHOOK_TEST_BIN_DIR (scripts/run-tests.sh sets it), else the top-level bin/.
inline std::string bin_dir() {
  if (const char* dir = std::getenv("COHOOK_TEST_BIN_DIR")) return dir;
  fs::path out = fs::read_symlink("/proc/self/exe").parent_path().parent_path();
  return (out.parent_path().parent_path() / "bin").string();
}

inline std::string corun() { return bin_dir() + "/corun"; }

// <OUT>/test/programs/NAME, next to this test binary.
inline std::string program(const std::string& name) {
  return (fs::read_symlink("/proc/self/exe").parent_path() / "programs" / name).string();
}

struct Result {
  std::string out;
  std::string err;
  int status = -1;  // exit status, or 128 + signal
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs `command` with sh; stdout and stderr captured apart (stdout is a pipe, so programs that
// use stdio buffer it fully, as they would in any pipeline).
inline Result run(const std::string& command) {
  char err_path[] = "/tmp/cohook-green-err-XXXXXX";
  int fd = ::mkstemp(err_path);
  ::close(fd);
  Result result;
  FILE* pipe = ::popen((command + " 2>" + err_path).c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.out.append(buffer, n);
  int status = ::pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.err = slurp(err_path);
  ::unlink(err_path);
  return result;
}

inline bool sanitizer_build() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return true;
#else
  return false;
#endif
}

}  // namespace green_test
