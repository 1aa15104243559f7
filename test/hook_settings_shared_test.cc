// The settings cache of private sockets once the socket is shared (test/hook_settings_util.h says
// how every scenario runs): O_NONBLOCK set through a dup'ed number, by a child process (fork,
// _Fork, vfork + exec, posix_spawn, system, popen), or by a process the socket was sent to with
// SCM_RIGHTS. Each shares the file, so the next read of the learned number must ask the kernel
// again. Raw (hooks pass through) and hooked (in a coroutine) transcripts must both be the
// expected one: libc is the specification.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>

#include "hook_settings_util.h"
#include "hook_test_util.h"

extern char** environ;

namespace {

using namespace settings_test;
using hook_test::Scenario;
using hook_test::Watchdog;

// ---- duplicates ----

// Learn, make a copy, set O_NONBLOCK through one number and read the other: both name one file.
std::string through_duplicate(Mode mode, int (*make_copy)(int fd), bool set_on_copy) {
  Pair pair = make_pair();
  Watchdog watchdog([&] { send_late(pair.other); });
  std::string out = learn(mode, pair);
  int copy = make_copy(pair.fd);
  out += copy >= 0 && copy != pair.fd ? "; copied" : "; copy " + result(copy);
  set_nonblocking_fcntl(set_on_copy ? copy : pair.fd, true);
  out += "; read " + timed_read(set_on_copy ? pair.fd : copy);
  watchdog.stop();
  ::close(copy);
  close_pair(pair);
  return out;
}

int copy_dup(int fd) {
  return ::dup(fd);
}
// dup2 and dup3 onto a number that is open (to /dev/null), which they close first.
int copy_dup2(int fd) {
  return ::dup2(fd, ::open("/dev/null", O_RDONLY));
}
int copy_dup3(int fd) {
  return ::dup3(fd, ::open("/dev/null", O_RDONLY), O_CLOEXEC);
}
int copy_dupfd(int fd) {
  return ::fcntl(fd, F_DUPFD, fd + 1);
}
int copy_dupfd_cloexec(int fd) {
  return ::fcntl(fd, F_DUPFD_CLOEXEC, fd + 1);
}

// The copy is closed again before the setting changes: the original stays shared, even changed
// with a raw system call no hook sees (which the cache does not cover for a private socket), and
// parks in between must not have learned anything about it.
std::string duplicate_closed(Mode mode, bool raw_syscall) {
  Pair pair = make_pair();
  Watchdog watchdog([&] { send_late(pair.other); });
  std::string out = learn(mode, pair);
  ::close(::dup(pair.fd));
  out += "; again " + parked_read(mode, pair.fd, pair.other, "c") + " " + parked_read(mode, pair.fd, pair.other, "d");
  int flags = ::fcntl(pair.fd, F_GETFL);
  if (raw_syscall)
    ::syscall(SYS_fcntl, pair.fd, F_SETFL, flags | O_NONBLOCK);
  else
    ::fcntl(pair.fd, F_SETFL, flags | O_NONBLOCK);
  out += "; read " + timed_read(pair.fd);
  watchdog.stop();
  close_pair(pair);
  return out;
}

// ---- child processes ----

// With fork, or with glibc's _Fork, which runs no atfork handler.
std::string forked_child_sets_nonblocking(Mode mode, bool underscore_fork) {
  Pair pair = make_pair();
  Watchdog watchdog([&] { send_late(pair.other); });
  std::string out = learn(mode, pair);
  pid_t child = underscore_fork ? ::_Fork() : ::fork();
  if (child == 0) {
    set_nonblocking_raw(pair.fd);
    ::_exit(0);
  }
  int status = -1;
  ::waitpid(child, &status, 0);
  out += "; child exit " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  out += "; read " + timed_read(pair.fd);
  watchdog.stop();
  close_pair(pair);
  return out;
}

// test/programs/fd_set_nonblocking, next to this binary's own directory.
std::string program_path() {
  return (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "programs" / "fd_set_nonblocking").string();
}

// Each starts the program on fd, waits for it and returns its exit status (-1: it did not run).
int exit_code(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int run_spawn(const std::string& program, int fd, bool search_path) {
  std::string number = std::to_string(fd);
  char* argv[] = {const_cast<char*>(program.c_str()), number.data(), nullptr};
  pid_t pid = 0;
  int error = search_path ? ::posix_spawnp(&pid, program.c_str(), nullptr, nullptr, argv, environ)
                          : ::posix_spawn(&pid, program.c_str(), nullptr, nullptr, argv, environ);
  if (error != 0) return -1;
  int status = -1;
  ::waitpid(pid, &status, 0);
  return exit_code(status);
}
int run_posix_spawn(const std::string& program, int fd) {
  return run_spawn(program, fd, false);
}
int run_posix_spawnp(const std::string& program, int fd) {
  return run_spawn(program, fd, true);
}

int run_system(const std::string& program, int fd) {
  return exit_code(::system((program + " " + std::to_string(fd)).c_str()));
}

int run_popen(const std::string& program, int fd) {
  FILE* stream = ::popen((program + " " + std::to_string(fd)).c_str(), "r");
  if (stream == nullptr) return -1;
  return exit_code(::pclose(stream));
}

// vfork runs no atfork handler: only the child's exec can tell the cache.
int run_vfork(const std::string& program, int fd) {
  std::string number = std::to_string(fd);
  char* argv[] = {const_cast<char*>(program.c_str()), number.data(), nullptr};
  pid_t pid = ::vfork();
  if (pid == 0) {
    ::execv(argv[0], argv);
    ::_exit(127);
  }
  if (pid < 0) return -1;
  int status = -1;
  ::waitpid(pid, &status, 0);
  return exit_code(status);
}

// From the coroutine, or from a plain thread (where system and popen are glibc's own, which
// start the child with calls no hook sees) while the coroutine's socket is learned.
std::string program_sets_nonblocking(Mode mode, int (*run)(const std::string& program, int fd),
                                     bool from_plain_thread = false) {
  Pair pair = make_pair();
  Watchdog watchdog([&] { send_late(pair.other); });
  std::string out = learn(mode, pair);
  int code = -1;
  if (from_plain_thread)
    std::thread([&] { code = run(program_path(), pair.fd); }).join();
  else
    code = run(program_path(), pair.fd);
  out += "; program exit " + std::to_string(code);
  out += "; read " + timed_read(pair.fd);
  watchdog.stop();
  close_pair(pair);
  return out;
}

// ---- SCM_RIGHTS ----

// The helper process is forked, and its channel made, before the connection exists: only the
// sending can tell the cache that another process holds the socket.
std::string helper_sets_nonblocking(Mode mode, bool batch) {
  int channel[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, channel);
  pid_t helper = ::fork();
  if (helper == 0) {
    // Raw system calls but for a recvmsg that finds its message waiting: the child of a coroutine
    // does not park (under ThreadSanitizer, fiber switches after a fork are reported as races).
    pollfd entry{channel[1], POLLIN, 0};
    timespec limit{10, 0};  // never outlives a broken test for long
    if (::syscall(SYS_ppoll, &entry, 1, &limit, nullptr, 0) != 1) ::_exit(2);
    int fd = receive_fd(channel[1]);
    if (fd < 0) ::_exit(1);
    set_nonblocking_raw(fd);
    (void)!::syscall(SYS_write, channel[1], "k", 1);
    ::_exit(0);
  }
  ::close(channel[1]);
  Pair pair = make_pair();
  Watchdog watchdog([&] { send_late(pair.other); });
  std::string out = learn(mode, pair);
  out += "; sent " + result(send_fd(channel[0], pair.fd, batch));
  out += "; helper " + timed_read(channel[0]);
  out += "; read " + timed_read(pair.fd);
  int status = -1;
  ::waitpid(helper, &status, 0);
  out += "; helper exit " + std::to_string(exit_code(status));
  watchdog.stop();
  ::close(channel[0]);
  close_pair(pair);
  return out;
}

const std::string kCopyEagain = expect_after_learning("copied; read -1 EAGAIN");
const std::string kAgainEagain = expect_after_learning("again 1 'c' 1 'd'; read -1 EAGAIN");
const std::string kChildEagain = expect_after_learning("child exit 0; read -1 EAGAIN");
const std::string kProgramEagain = expect_after_learning("program exit 0; read -1 EAGAIN");
const std::string kHelperEagain = expect_after_learning("sent 1; helper 1 'k'; read -1 EAGAIN; helper exit 0");

const Scenario kScenarios[] = {
    // O_NONBLOCK set through a duplicate, read through the learned original...
    {"set_through_dup", [](Mode m) { return through_duplicate(m, copy_dup, true); }, kCopyEagain.c_str()},
    {"set_through_dup2", [](Mode m) { return through_duplicate(m, copy_dup2, true); }, kCopyEagain.c_str()},
    {"set_through_dup3", [](Mode m) { return through_duplicate(m, copy_dup3, true); }, kCopyEagain.c_str()},
    {"set_through_f_dupfd", [](Mode m) { return through_duplicate(m, copy_dupfd, true); }, kCopyEagain.c_str()},
    {"set_through_f_dupfd_cloexec", [](Mode m) { return through_duplicate(m, copy_dupfd_cloexec, true); },
     kCopyEagain.c_str()},
    // ...or through the original, read through the copy (which must not inherit what was learned).
    {"read_through_dup", [](Mode m) { return through_duplicate(m, copy_dup, false); }, kCopyEagain.c_str()},
    {"read_through_dup2", [](Mode m) { return through_duplicate(m, copy_dup2, false); }, kCopyEagain.c_str()},
    // A duplicate closed again.
    {"dup_closed_then_fcntl", [](Mode m) { return duplicate_closed(m, false); }, kAgainEagain.c_str()},
    {"dup_closed_then_raw_fcntl", [](Mode m) { return duplicate_closed(m, true); }, kAgainEagain.c_str()},
    // Another process shares the socket.
    {"forked_child", [](Mode m) { return forked_child_sets_nonblocking(m, false); }, kChildEagain.c_str()},
    {"underscore_fork", [](Mode m) { return forked_child_sets_nonblocking(m, true); }, kChildEagain.c_str()},
    {"vfork_execv", [](Mode m) { return program_sets_nonblocking(m, run_vfork); }, kProgramEagain.c_str()},
    {"posix_spawn", [](Mode m) { return program_sets_nonblocking(m, run_posix_spawn); }, kProgramEagain.c_str()},
    {"posix_spawnp", [](Mode m) { return program_sets_nonblocking(m, run_posix_spawnp); }, kProgramEagain.c_str()},
    {"system", [](Mode m) { return program_sets_nonblocking(m, run_system); }, kProgramEagain.c_str()},
    {"popen", [](Mode m) { return program_sets_nonblocking(m, run_popen); }, kProgramEagain.c_str()},
    // In a coroutine, cohook's own system and popen start the shell with the hooked posix_spawn;
    // on a plain thread they are glibc's, whose spawn no hook sees but system and popen.
    {"system_from_plain_thread", [](Mode m) { return program_sets_nonblocking(m, run_system, true); },
     kProgramEagain.c_str()},
    {"popen_from_plain_thread", [](Mode m) { return program_sets_nonblocking(m, run_popen, true); },
     kProgramEagain.c_str()},
    // Sent to another process.
    {"scm_rights_sendmsg", [](Mode m) { return helper_sets_nonblocking(m, false); }, kHelperEagain.c_str()},
    {"scm_rights_sendmmsg", [](Mode m) { return helper_sets_nonblocking(m, true); }, kHelperEagain.c_str()},
};

class SettingsSharedTest : public ::testing::TestWithParam<Scenario> {};

TEST_P(SettingsSharedTest, RawAndHookedAgree) {
  hook_test::check_raw_and_hooked(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Scenarios, SettingsSharedTest, ::testing::ValuesIn(kScenarios), hook_test::scenario_name);

}  // namespace
