// What the green-thread tests share: where bin/corun and the test programs are, running a
// command to get its stdout, stderr and exit status, and a server program run in the background.
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

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

// The fixture of suites that run programs under corun: skipped in sanitizer builds, and failing
// at once when corun has not been built.
class CorunTestBase : public ::testing::Test {
 protected:
  void SetUp() override {
    if (sanitizer_build())
      GTEST_SKIP() << "a sanitizer build of libcohook.so cannot be preloaded into uninstrumented programs";
    ASSERT_EQ(::access(corun().c_str(), X_OK), 0) << corun() << " (make tools)";
  }
};

// A server program started in the background with its stdout on a pipe; the first line it prints
// is its port. Killed (SIGKILL) when it goes out of scope, unless wait_exit saw it end.
struct Server {
  pid_t pid = -1;
  int port = 0;
  int out = -1;  // the rest of its stdout

  explicit Server(const std::vector<std::string>& argv) {
    int fds[2];
    if (::pipe(fds) != 0) return;
    pid = ::fork();
    if (pid == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      ::close(fds[0]);
      ::close(fds[1]);
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out = fds[0];
    std::string line;
    char c;
    while (::read(out, &c, 1) == 1 && c != '\n') line += c;
    port = line.empty() ? 0 : std::stoi(line);
  }
  ~Server() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    if (out >= 0) ::close(out);
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // "Threads:" of /proc/PID/status.
  int os_threads() const {
    std::string status = slurp("/proc/" + std::to_string(pid) + "/status");
    std::size_t at = status.find("Threads:");
    return at == std::string::npos ? -1 : std::stoi(status.substr(at + 8));
  }

  // Waits up to 60 s for it to exit: its status (exit code, or 128 + signal) and the rest of
  // its stdout; -1 if it is still running.
  int wait_exit(std::string* rest) {
    int status = 0;
    for (int i = 0; i < 600; ++i) {
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        char buffer[256];
        ssize_t n;
        while ((n = ::read(out, buffer, sizeof buffer)) > 0) rest->append(buffer, static_cast<std::size_t>(n));
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      ::usleep(100000);
    }
    return -1;
  }
};

// One client connection of an echo test: what it sends and what came back.
struct Connection {
  int fd = -1;
  std::string sent;
  std::size_t written = 0;
  std::string received;
  bool eof = false;
};

// Drives non-blocking connections with poll until each has seen EOF: writes what is left of
// `sent` (then shuts its writing half), appends what arrives to `received`. `each_round` runs
// before every poll. Returns how many got back exactly what they sent (and closes them), or -1
// when `limit` passes first, -2 if poll fails.
inline int echo_until_closed(std::vector<Connection>& connections, std::chrono::seconds limit,
                             const std::function<void()>& each_round) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  std::vector<pollfd> fds(connections.size());
  for (;;) {
    int open = 0;
    for (std::size_t i = 0; i < connections.size(); ++i) {
      Connection& c = connections[i];
      fds[i] = pollfd{c.eof ? -1 : c.fd, 0, 0};
      if (c.eof) continue;
      ++open;
      fds[i].events = POLLIN | (c.written < c.sent.size() ? POLLOUT : 0);
    }
    if (open == 0) break;
    each_round();
    if (std::chrono::steady_clock::now() > deadline) return -1;
    if (::poll(fds.data(), fds.size(), 1000) < 0) return -2;
    for (std::size_t i = 0; i < connections.size(); ++i) {
      Connection& c = connections[i];
      if (fds[i].revents & POLLOUT) {
        ssize_t n = ::write(c.fd, c.sent.data() + c.written, c.sent.size() - c.written);
        if (n > 0) c.written += static_cast<std::size_t>(n);
        if (c.written == c.sent.size()) ::shutdown(c.fd, SHUT_WR);
      }
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        char buffer[16384];
        ssize_t n = ::read(c.fd, buffer, sizeof buffer);
        if (n > 0)
          c.received.append(buffer, static_cast<std::size_t>(n));
        else if (n == 0 || errno != EAGAIN)
          c.eof = true;
      }
    }
  }
  int exact = 0;
  for (Connection& c : connections) {
    exact += c.received == c.sent;
    ::close(c.fd);
  }
  return exact;
}

}  // namespace green_test
