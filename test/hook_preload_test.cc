// Unmodified programs nobody here wrote, run with libcohook.so preloaded, must print exactly
// what they print without it.
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace {

namespace fs = std::filesystem;

// <OUT>/lib/libcohook.so, where OUT is this binary's grandparent (build/<flavour>); the default
// build keeps its library in lib/ at the top of the tree instead.
std::string find_shared_library() {
  fs::path out = fs::read_symlink("/proc/self/exe").parent_path().parent_path();
  for (const fs::path& candidate : {out / "lib" / "libcohook.so", out.parent_path().parent_path() / "lib" / "libcohook.so"}) {
    if (fs::exists(candidate)) return fs::canonical(candidate).string();
  }
  return "";
}

// Runs a shell command line; returns its stdout followed by its exit status.
std::string run(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return "popen failed";
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
  int status = ::pclose(pipe);
  return output + "\n[status " + std::to_string(status) + "]";
}

class PreloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    GTEST_SKIP() << "a sanitizer build of libcohook.so cannot be preloaded into uninstrumented programs";
#endif
    library_ = find_shared_library();
    ASSERT_FALSE(library_.empty()) << "build the shared library first (make lib, or <OUT>/lib/libcohook.so)";
  }

  // The same command with and without the preload; the preloaded run must really have it.
  void expect_same_output(const std::string& command) {
    std::string plain = run(command);
    std::string preloaded = run("env LD_PRELOAD=" + library_ + " " + command);
    EXPECT_EQ(plain, preloaded) << command;
    EXPECT_NE(plain.find("[status 0]"), std::string::npos) << plain;
  }

  std::string library_;
};

TEST_F(PreloadTest, LibraryIsReallyLoaded) {
  std::string maps = run("env LD_PRELOAD=" + library_ + " cat /proc/self/maps");
  EXPECT_NE(maps.find("libcohook.so"), std::string::npos);
}

TEST_F(PreloadTest, CatAndSort) {
  expect_same_output("cat /etc/services");
  expect_same_output("sh -c 'printf \"pear\\napple\\nfig\\n\" | sort'");
  expect_same_output("sh -c 'seq 1 20000 | sort -r | head -c 100000 | wc -c'");
}

TEST_F(PreloadTest, PythonSocketsThreadsAndSleep) {
  if (::system("command -v python3 >/dev/null 2>&1") != 0) GTEST_SKIP() << "no python3";
  const char* script =
      "import socket, threading, time, select, os\n"
      "a, b = socket.socketpair()\n"
      "def echo():\n"
      "    while True:\n"
      "        data = b.recv(65536)\n"
      "        if not data: break\n"
      "        b.sendall(data)\n"
      "    b.close()\n"
      "t = threading.Thread(target=echo); t.start()\n"
      "payload = bytes(range(256)) * 4096\n"
      "a.sendall(payload[:1000]); got = b''\n"
      "while len(got) < 1000: got += a.recv(65536)\n"
      "r, _, _ = select.select([a], [], [], 0.01)\n"
      "time.sleep(0.01)\n"
      "a.shutdown(socket.SHUT_WR); t.join()\n"
      "print(got == payload[:1000], r, a.recv(10))\n"
      "print(sorted({ai[4][0] for ai in socket.getaddrinfo('localhost', 80, socket.AF_INET)}))\n"
      "r, w = os.pipe(); os.write(w, b'pipe'); os.close(w); print(os.read(r, 10), os.read(r, 10))\n";
  char path[] = "/tmp/cohook-preload-XXXXXX.py";
  int fd = ::mkstemps(path, 3);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, script, std::strlen(script)), static_cast<ssize_t>(std::strlen(script)));
  ::close(fd);
  expect_same_output(std::string("python3 ") + path);
  ::unlink(path);
}

TEST_F(PreloadTest, CurlReadsAFile) {
  if (::system("command -v curl >/dev/null 2>&1") != 0) GTEST_SKIP() << "no curl";
  expect_same_output("curl -s file:///etc/services");
}

}  // namespace

// C++ unwinding in a preloaded program: a caught throw, destructors run by the unwind, and
// pthread_exit's forced unwind. A preload that put its own _Unwind_* first (libunwind does)
// would break these; cohook must never do that.
TEST_F(PreloadTest, CxxExceptionsAndPthreadExitStillUnwind) {
  fs::path probe = fs::read_symlink("/proc/self/exe").parent_path() / "programs" / "unwind_probe";
  ASSERT_TRUE(fs::exists(probe)) << probe << " (built by make build-tests)";
  std::string plain = run(probe.string());
  EXPECT_EQ(plain,
            "destroyed level3 guard\ncaught: thrown at depth 3\ndestroyed thread guard\nthread exited with 42\n"
            "\n[status 0]");
  expect_same_output(probe.string());
}
