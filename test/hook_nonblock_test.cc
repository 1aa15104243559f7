// cohook never leaves an O_NONBLOCK of its own on a file, and reads what the user set from the
// kernel. Each scenario runs raw (a plain thread, hooks pass through) and hooked (inside a
// coroutine), and the two transcripts must be equal and as expected. The scenarios are those that
// lost data or hung while cohook switched files to non-blocking mode: stdio, raw system calls,
// children and the next command of a shell pipeline on a file a coroutine used; settings made
// through a dup; recvmsg MSG_WAITALL; opening FIFOs.
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "hook_test_util.h"

extern "C" ssize_t __read_chk(int fd, void* buffer, size_t size, size_t buffer_size);

namespace {

using hook_test::Mode;
using hook_test::ms_since;
using hook_test::Peer;
using hook_test::result;
using hook_test::Scenario;
using Clock = std::chrono::steady_clock;


std::string nonblock(int fd) { return "nonblock=" + std::to_string((::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0); }

// The coroutine (in hooked mode) uses fd with a hooked read, as a program would before handing
// the fd to code that does not go through the hooks.
std::string use(int fd, int other_end) {
  ::write(other_end, "u", 1);
  char c;
  return "use=" + result(::read(fd, &c, 1));
}

// A plain thread that writes `data` to fd after `delay`: it runs beside calls that block the
// thread (stdio, raw syscalls), so it must not be a coroutine.
std::thread write_later(int fd, std::string data, int delay_ms) {
  return std::thread([=] {
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ::write(fd, data.data(), data.size());
  });
}

// ---- scenarios ----

std::string stdio_reads(Mode) {
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  std::string out = use(sv[0], sv[1]);
  FILE* in = ::fdopen(::dup(sv[0]), "r");
  std::thread writer = write_later(sv[1], "a line\nand 8 bytes", 50);
  char line[32];
  errno = 0;
  const char* got = std::fgets(line, sizeof line, in);
  out += "; fgets=" + (got != nullptr ? std::string(got) : "null " + std::string(::strerrorname_np(errno)));
  char block[8];
  std::size_t n = std::fread(block, 1, sizeof block, in);
  out += "; fread=" + std::to_string(n) + " '" + std::string(block, n) + "' error=" + std::to_string(std::ferror(in));
  writer.join();
  std::fclose(in);
  ::close(sv[0]);
  ::close(sv[1]);
  return out;
}

std::string stdio_big_write_to_slow_reader(Mode) {
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  std::string out = use(sv[1], sv[0]);
  std::string data = hook_test::pattern(1 << 20, 11);
  std::string received;
  std::thread reader([&] {
    char buffer[65536];
    ssize_t n;
    while ((n = ::read(sv[0], buffer, sizeof buffer)) > 0) {
      received.append(buffer, static_cast<std::size_t>(n));
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  FILE* stream = ::fdopen(::dup(sv[1]), "w");
  std::size_t written = std::fwrite(data.data(), 1, data.size(), stream);
  int flushed = std::fflush(stream);
  out += "; fwrite=" + std::to_string(written) + " fflush=" + std::to_string(flushed) +
         " error=" + std::to_string(std::ferror(stream));
  std::fclose(stream);
  ::shutdown(sv[1], SHUT_WR);
  reader.join();
  out += received == data ? "; all delivered" : "; delivered " + std::to_string(received.size());
  ::close(sv[0]);
  ::close(sv[1]);
  return out;
}

std::string raw_paths_after_use(Mode) {
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  std::string out = use(sv[0], sv[1]);
  char buffer[16];
  // The system call itself, no libc wrapper.
  std::thread writer = write_later(sv[1], "syscall", 30);
  out += "; syscall=" + result(::syscall(SYS_read, sv[0], buffer, sizeof buffer), buffer);
  writer.join();
  // The fortified entry point, called as a -D_FORTIFY_SOURCE=2 build calls read.
  writer = write_later(sv[1], "chk", 30);
  out += "; __read_chk=" + result(__read_chk(sv[0], buffer, sizeof buffer, sizeof buffer), buffer);
  writer.join();
  // recvmmsg, from a plain thread (where the hook is the real call).
  writer = write_later(sv[1], "mmsg", 30);
  std::string step;
  std::thread plain([&] {
    iovec iov{buffer, sizeof buffer};
    mmsghdr message{};
    message.msg_hdr.msg_iov = &iov;
    message.msg_hdr.msg_iovlen = 1;
    int n = ::recvmmsg(sv[0], &message, 1, MSG_WAITFORONE, nullptr);
    step = result(n) + (n > 0 ? " '" + std::string(buffer, message.msg_len) + "'" : "");
  });
  plain.join();
  writer.join();
  out += "; recvmmsg=" + step;
  // splice from the socket into a pipe.
  int pipe_fds[2];
  ::pipe(pipe_fds);
  writer = write_later(sv[1], "splice", 30);
  out += "; splice=" + result(::splice(sv[0], nullptr, pipe_fds[1], nullptr, sizeof buffer, 0));
  writer.join();
  out += " " + result(::read(pipe_fds[0], buffer, sizeof buffer), buffer);
  out += "; " + nonblock(sv[0]);
  for (int fd : {sv[0], sv[1], pipe_fds[0], pipe_fds[1]}) ::close(fd);
  return out;
}

std::string child_inherits_blocking_fd(Mode) {
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  std::string out = use(sv[0], sv[1]);
  int out_pipe[2];
  ::pipe(out_pipe);
  std::string probe = (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "programs" / "fd_probe").string();
  pid_t child = ::fork();
  if (child == 0) {
    ::dup2(out_pipe[1], 1);
    std::string fd = std::to_string(sv[0]);
    ::execl(probe.c_str(), probe.c_str(), fd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  std::thread writer = write_later(sv[1], "to the child", 100);
  std::string printed;
  std::thread collect([&] {
    char buffer[256];
    ssize_t n;
    while ((n = ::read(out_pipe[0], buffer, sizeof buffer)) > 0) printed.append(buffer, static_cast<std::size_t>(n));
  });
  collect.join();
  writer.join();
  int status = 0;
  ::waitpid(child, &status, 0);
  if (!printed.empty() && printed.back() == '\n') printed.pop_back();
  out += "; " + printed + "; exit=" + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  for (int fd : {sv[0], sv[1], out_pipe[0]}) ::close(fd);
  return out;
}

// `producer | (prog; cat)`: prog (this binary in a role, see kRole at the bottom) reads the
// shared stdin pipe once, in a coroutine when hooked, and exits; then cat reads the same pipe.
// The producer writes its second line only once prog has exited, so cat finds the pipe empty
// first and must wait for it (a non-blocking pipe would make it fail with EAGAIN).
std::string shell_pipeline(Mode mode) {
  std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  std::string role = mode == Mode::kRaw ? "raw" : "coroutine";
  std::string marker = "/tmp/cohook-nonblock-pipeline-" + std::to_string(::getpid());
  ::unlink(marker.c_str());
  std::string command = "(echo first; while [ ! -e " + marker + " ]; do sleep 0.02; done; sleep 0.1; echo second) | " +
                        "(HOOK_NONBLOCK_ROLE=" + role + " " + self + "; touch " + marker + "; cat) 2>&1";
  std::string output;
  std::thread run([&] {  // popen and its reads block: keep them off the scheduler thread
    FILE* shell = ::popen(command.c_str(), "r");
    char buffer[256];
    std::size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, shell)) > 0) output.append(buffer, n);
    output += "status=" + std::to_string(::pclose(shell));
  });
  run.join();
  ::unlink(marker.c_str());
  for (char& c : output) {
    if (c == '\n') c = '|';
  }
  return output;
}

std::string nonblocking_set_through_dup(Mode) {
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  std::string out = use(sv[0], sv[1]);
  int copy = ::dup(sv[0]);
  ::fcntl(copy, F_SETFL, ::fcntl(copy, F_GETFL) | O_NONBLOCK);
  // A late writer, so that a read that wrongly waits still ends (with data, not EAGAIN).
  std::thread writer = write_later(sv[1], "late", 300);
  char buffer[8];
  out += "; original=" + result(::read(sv[0], buffer, sizeof buffer), buffer) + " " + nonblock(sv[0]);
  writer.join();
  for (int fd : {sv[0], sv[1], copy}) ::close(fd);
  return out;
}

std::string receive_timeout_set_through_dup(Mode) {
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  std::string out = use(sv[0], sv[1]);
  int copy = ::dup(sv[0]);
  timeval timeout{0, 100000};
  ::setsockopt(copy, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::thread writer = write_later(sv[1], "late", 2000);  // ends a read that ignores the timeout
  char buffer[8];
  auto start = Clock::now();
  out += "; read=" + result(::read(sv[0], buffer, sizeof buffer), buffer);
  long waited = ms_since(start);
  out += waited >= 90 && waited < 1500 ? "; after the timeout" : "; after " + std::to_string(waited) + " ms";
  writer.join();
  for (int fd : {sv[0], sv[1], copy}) ::close(fd);
  return out;
}

std::string blocking_again_through_dup(Mode mode) {
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
  int copy = ::dup(sv[0]);
  ::fcntl(copy, F_SETFL, ::fcntl(copy, F_GETFL) & ~O_NONBLOCK);
  // If the read blocked the scheduler thread, the peer coroutine could not run; the timeout
  // ends the read then, and the transcript shows it.
  timeval timeout{2, 0};
  ::setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  Peer peer(mode);
  peer.start([&] {
    ::usleep(50000);
    ::write(sv[1], "parked", 6);
  });
  char buffer[8];
  std::string out = "read=" + result(::read(sv[0], buffer, sizeof buffer), buffer) + " " + nonblock(sv[0]);
  peer.join();
  for (int fd : {sv[0], sv[1], copy}) ::close(fd);
  return out;
}

std::string recvmsg_wait_all(Mode mode) {
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  std::string sent = hook_test::pattern(300, 5);
  Peer peer(mode);
  peer.start([&] {
    for (int part = 0; part < 3; ++part) {
      ::write(sv[1], sent.data() + part * 100, 100);
      ::usleep(5000);
    }
  });
  char first[120];
  char second[180];
  iovec iov[2] = {{first, sizeof first}, {second, sizeof second}};
  msghdr message{};
  message.msg_iov = iov;
  message.msg_iovlen = 2;
  ssize_t n = ::recvmsg(sv[0], &message, MSG_WAITALL);
  std::string got = std::string(first, sizeof first) + std::string(second, sizeof second);
  std::string out = "recvmsg=" + result(n) + (got == sent ? " same bytes" : " different bytes");
  peer.join();
  ::close(sv[0]);
  ::close(sv[1]);
  return out;
}

std::string fifo_path() {
  static int counter = 0;
  return "/tmp/cohook-nonblock-fifo-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

std::string fifo_open_for_reading_waits_for_writer(Mode mode) {
  std::string path = fifo_path();
  ::mkfifo(path.c_str(), 0600);
  Peer peer(mode);
  peer.start([&] {
    ::usleep(50000);
    int fd = ::open(path.c_str(), O_WRONLY);
    ::usleep(20000);
    ::write(fd, "fifo", 4);
    ::close(fd);
  });
  auto start = Clock::now();
  int fd = ::open(path.c_str(), O_RDONLY);
  std::string out = std::string(fd >= 0 ? "opened" : "open " + result(fd));
  out += ms_since(start) >= 40 ? " after the writer" : " early";
  out += " " + nonblock(fd);
  char buffer[8];
  out += "; read=" + result(::read(fd, buffer, sizeof buffer), buffer);
  out += "; eof=" + result(::read(fd, buffer, sizeof buffer));
  peer.join();
  ::close(fd);
  ::unlink(path.c_str());
  return out;
}

std::string fifo_open_for_writing_waits_for_reader(Mode mode) {
  std::string path = fifo_path();
  ::mkfifo(path.c_str(), 0600);
  std::string read_back;
  Peer peer(mode);
  peer.start([&] {
    ::usleep(50000);
    int fd = ::open(path.c_str(), O_RDONLY);
    char buffer[8];
    read_back = result(::read(fd, buffer, sizeof buffer), buffer);
    ::close(fd);
  });
  auto start = Clock::now();
  int fd = ::open(path.c_str(), O_WRONLY);
  std::string out = std::string(fd >= 0 ? "opened" : "open " + result(fd));
  out += ms_since(start) >= 40 ? " after the reader" : " early";
  out += " " + nonblock(fd);
  out += "; write=" + result(::write(fd, "ok", 2));
  ::close(fd);
  peer.join();
  out += "; peer read=" + read_back;
  out += "; nonblocking open=" + result(::open(path.c_str(), O_WRONLY | O_NONBLOCK));
  ::unlink(path.c_str());
  return out;
}


const Scenario kScenarios[] = {
    {"stdio_reads", stdio_reads, "use=1; fgets=a line\n; fread=8 'and 8 by' error=0"},
    {"stdio_big_write_to_slow_reader", stdio_big_write_to_slow_reader,
     "use=1; fwrite=1048576 fflush=0 error=0; all delivered"},
    {"raw_paths_after_use", raw_paths_after_use,
     "use=1; syscall=7 'syscall'; __read_chk=3 'chk'; recvmmsg=1 'mmsg'; splice=6 6 'splice'; nonblock=0"},
    {"child_inherits_blocking_fd", child_inherits_blocking_fd,
     "use=1; child nonblock=0 read=12 'to the child'; exit=0"},
    {"shell_pipeline", shell_pipeline, "read 6 'first|'|second|status=0"},
    {"nonblocking_set_through_dup", nonblocking_set_through_dup, "use=1; original=-1 EAGAIN nonblock=1"},
    {"receive_timeout_set_through_dup", receive_timeout_set_through_dup,
     "use=1; read=-1 EAGAIN; after the timeout"},
    {"blocking_again_through_dup", blocking_again_through_dup, "read=6 'parked' nonblock=0"},
    {"recvmsg_wait_all", recvmsg_wait_all, "recvmsg=300 same bytes"},
    {"fifo_open_for_reading_waits_for_writer", fifo_open_for_reading_waits_for_writer,
     "opened after the writer nonblock=0; read=4 'fifo'; eof=0"},
    {"fifo_open_for_writing_waits_for_reader", fifo_open_for_writing_waits_for_reader,
     "opened after the reader nonblock=0; write=2; peer read=2 'ok'; nonblocking open=-1 ENXIO"},
};

class NonblockTest : public ::testing::TestWithParam<Scenario> {};

TEST_P(NonblockTest, RawAndHookedAgree) {
  hook_test::check_raw_and_hooked(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Scenarios, NonblockTest, ::testing::ValuesIn(kScenarios),
                         hook_test::scenario_name);

// accept's one-call O_NONBLOCK windows from acceptors on two scheduler threads overlap on one
// listener: every connection is accepted, and neither the listener nor an accepted socket is
// left non-blocking.
TEST(NonblockWindow, AcceptorsOnTwoThreadsShareOneListener) {
  constexpr int kConnections = 200;
  int port = 0;
  int listener = hook_test::listen_loopback(&port, 256);
  ASSERT_GE(listener, 0);
  std::atomic<int> accepted{0};
  std::atomic<int> left_nonblocking{0};
  std::thread clients([&] {
    for (int i = 0; i < kConnections; ++i) {
      int fd = hook_test::connect_loopback(port);
      if (fd >= 0) ::close(fd);
    }
  });
  {
    cohook::Runtime runtime(2);
    runtime.run([&] {
      std::vector<cohook::JoinHandle> acceptors;
      for (int i = 0; i < 4; ++i) {  // go() spreads them over both threads
        acceptors.push_back(cohook::go([&] {
          while (accepted.load() < kConnections) {
            int fd = ::accept(listener, nullptr, nullptr);
            if (fd < 0) break;  // shut down below, once all are in
            if (::fcntl(fd, F_GETFL) & O_NONBLOCK) left_nonblocking.fetch_add(1);
            ::close(fd);
            if (accepted.fetch_add(1) + 1 == kConnections) ::shutdown(listener, SHUT_RDWR);
          }
        }));
      }
      for (auto& acceptor : acceptors) acceptor.join();
    });
  }
  clients.join();
  EXPECT_EQ(accepted.load(), kConnections);
  EXPECT_EQ(left_nonblocking.load(), 0);
  EXPECT_EQ(::fcntl(listener, F_GETFL) & O_NONBLOCK, 0);
  ::close(listener);
}

// shell_pipeline's first program: this binary started with HOOK_NONBLOCK_ROLE set reads its
// stdin once, prints what it read and exits before any test runs.
void read_stdin_once() {
  char buffer[64];
  ssize_t n = ::read(0, buffer, sizeof buffer);
  std::printf("read %s\n", result(n, buffer).c_str());
  std::fflush(stdout);
}

[[maybe_unused]] const bool kRole = [] {
  const char* role = std::getenv("HOOK_NONBLOCK_ROLE");
  if (role == nullptr) return false;
  if (std::string(role) == "coroutine") {
    cohook::Runtime runtime(1);
    runtime.run(read_stdin_once);
  } else {
    read_stdin_once();
  }
  ::_exit(0);
}();

}  // namespace
