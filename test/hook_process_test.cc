// The wait family, system(), popen()/pclose(): every scenario runs raw (plain libc) and hooked
// (the main coroutine of a one-thread Runtime, beside a ticker coroutine that must keep running
// while the scenario waits for its child), and both transcripts must equal the expected one.
#include <errno.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "hook_test_util.h"

extern char** environ;

namespace {

using hook_test::Mode;
using hook_test::result;
using hook_test::Scenario;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string status_text(int status) {
  if (status == -1) return "status -1";
  if (WIFEXITED(status)) return "exited " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by ") + ::sigabbrev_np(WTERMSIG(status));
  if (WIFSTOPPED(status)) return std::string("stopped by ") + ::sigabbrev_np(WSTOPSIG(status));
  return "status " + std::to_string(status);
}

pid_t spawn_shell(const char* script) {
  pid_t pid = -1;
  char* argv[] = {const_cast<char*>("sh"), const_cast<char*>("-c"), const_cast<char*>(script), nullptr};
  if (::posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv, environ) != 0) return -1;
  return pid;
}

long elapsed_ms(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
}
std::string waited(Clock::time_point start) {
  return elapsed_ms(start) >= 250 ? "waited" : "did not wait";
}

std::string run_checked(const Scenario& scenario, Mode mode) {
  return hook_test::run_checking_thread_free(mode, scenario.name, [&] { return scenario.run(mode); });
}

// ---- scenarios ----

std::string waitpid_exit_status(Mode) {
  auto start = Clock::now();
  pid_t pid = spawn_shell("sleep 0.3; exit 7");
  int status = 0;
  pid_t got = ::waitpid(pid, &status, 0);
  return std::string(got == pid ? "pid" : result(got)) + " " + status_text(status) + " " + waited(start);
}

std::string waitpid_nohang_then_wait(Mode) {
  pid_t pid = spawn_shell("sleep 0.3");
  int status = 0;
  std::string out = "nohang " + result(::waitpid(pid, &status, WNOHANG));
  pid_t got = ::waitpid(pid, &status, 0);
  out += ", then " + std::string(got == pid ? "pid" : result(got)) + " " + status_text(status);
  out += ", again " + result(::waitpid(pid, &status, 0));
  return out;
}

std::string wait_any_child(Mode) {
  auto start = Clock::now();
  pid_t pid = spawn_shell("sleep 0.3; exit 3");
  int status = 0;
  pid_t got = ::wait(&status);
  return std::string(got == pid ? "pid" : result(got)) + " " + status_text(status) + " " + waited(start) +
         ", no children left: " + result(::wait(&status));
}

std::string wait4_killed_with_rusage(Mode) {
  pid_t pid = spawn_shell("sleep 5");
  std::thread killer([pid] {
    std::this_thread::sleep_for(milliseconds(300));
    ::kill(pid, SIGKILL);
  });
  int status = 0;
  rusage usage{};
  usage.ru_utime.tv_sec = -1;
  pid_t got = ::wait4(pid, &status, 0, &usage);
  killer.join();
  return std::string(got == pid ? "pid" : result(got)) + " " + status_text(status) +
         (usage.ru_utime.tv_sec >= 0 ? " rusage filled" : " rusage untouched");
}

std::string wait3_any_child(Mode) {
  pid_t pid = spawn_shell("sleep 0.2; exit 4");
  int status = 0;
  rusage usage{};
  pid_t got = ::wait3(&status, 0, &usage);
  return std::string(got == pid ? "pid" : result(got)) + " " + status_text(status);
}

std::string waitid_exited(Mode) {
  auto start = Clock::now();
  pid_t pid = spawn_shell("sleep 0.3; exit 5");
  siginfo_t info{};
  int got = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED);
  return result(got) + (info.si_pid == pid ? " pid" : " other pid") +
         (info.si_code == CLD_EXITED ? " CLD_EXITED " : " code? ") + std::to_string(info.si_status) + " " +
         waited(start);
}

std::string waitpid_not_a_child(Mode) {
  int status = 0;
  return result(::waitpid(1, &status, 0));
}

std::atomic<int> g_handled{0};
void count_signal(int) {
  g_handled.fetch_add(1);
}

std::string waitpid_and_signals(Mode) {
  struct sigaction action {
  }, old{};
  action.sa_handler = count_signal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGUSR1, &action, &old);  // no SA_RESTART: EINTR
  pid_t pid = spawn_shell("sleep 0.6; exit 9");
  pthread_t self = ::pthread_self();
  std::thread sender([self] {
    std::this_thread::sleep_for(milliseconds(200));
    ::pthread_kill(self, SIGUSR1);
  });
  int status = 0;
  std::string out = "plain handler: " + result(::waitpid(pid, &status, 0));
  sender.join();
  action.sa_flags = SA_RESTART;
  ::sigaction(SIGUSR1, &action, nullptr);
  std::thread again([self] {
    std::this_thread::sleep_for(milliseconds(100));
    ::pthread_kill(self, SIGUSR1);
  });
  pid_t got = ::waitpid(pid, &status, 0);
  again.join();
  ::sigaction(SIGUSR1, &old, nullptr);
  return out + "; SA_RESTART: " + (got == pid ? "pid " : result(got) + " ") + status_text(status) + ", handled " +
         std::to_string(g_handled.exchange(0));
}

std::string system_statuses(Mode) {
  auto start = Clock::now();
  std::string out = status_text(::system("sleep 0.3; exit 3"));
  out += " " + waited(start);
  out += "; " + status_text(::system("kill -TERM $$"));
  out += "; shell available: " + std::string(::system(nullptr) != 0 ? "yes" : "no");
  out += "; missing command: " + status_text(::system("exec /nonexistent/command 2>/dev/null"));
  return out;
}

// glibc's system() ignores SIGINT and SIGQUIT in the caller while the command runs, and gives
// the child the default action back.
std::string system_signal_dispositions(Mode) {
  std::string out = "parent survives SIGINT: " + status_text(::system("kill -INT $PPID; kill -QUIT $PPID; exit 0"));
  out += "; child dies of it: " + status_text(::system("kill -INT $$; exit 0"));
  struct sigaction now {};
  ::sigaction(SIGINT, nullptr, &now);
  out += std::string("; SIGINT afterwards ") + (now.sa_handler == SIG_DFL ? "default" : "changed");
  return out;
}

std::string popen_read_and_pclose(Mode) {
  auto start = Clock::now();
  // stdio reads the pipe with internal calls no hook sees (they block the thread): the line comes
  // at once, and the wait is pclose's.
  FILE* stream = ::popen("echo hello; sleep 0.3; exit 4", "r");
  if (stream == nullptr) return "popen " + result(-1);
  char line[64] = {};
  std::string out = ::fgets(line, sizeof line, stream) != nullptr ? std::string("read '") + line : "read nothing";
  if (!out.empty() && out.back() == '\n') out.pop_back();
  out += "' ";
  out += status_text(::pclose(stream));
  out += " " + waited(start);
  return out;
}

std::string popen_write_and_pclose(Mode) {
  char path[] = "/tmp/cohook_popen_XXXXXX";
  int fd = ::mkstemp(path);
  ::close(fd);
  std::string command = "cat > " + std::string(path) + "; sleep 0.3; exit 2";
  FILE* stream = ::popen(command.c_str(), "w");
  if (stream == nullptr) return "popen " + result(-1);
  std::fputs("through the pipe\n", stream);
  std::string out = status_text(::pclose(stream));
  FILE* file = std::fopen(path, "r");
  char line[64] = {};
  if (file != nullptr && std::fgets(line, sizeof line, file) != nullptr) out += std::string(", file: ") + line;
  if (file != nullptr) std::fclose(file);
  ::unlink(path);
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::string popen_bad_mode(Mode) {
  FILE* stream = ::popen("true", "x");
  std::string out = stream == nullptr ? "NULL " + std::string(::strerrorname_np(errno)) : "a stream";
  stream = ::popen("true", "rw");
  out += stream == nullptr ? ", NULL " + std::string(::strerrorname_np(errno)) : ", a stream";
  return out;
}

const Scenario kScenarios[] = {
    {"WaitpidExitStatus", waitpid_exit_status, "pid exited 7 waited"},
    {"WaitpidNohangThenWait", waitpid_nohang_then_wait, "nohang 0, then pid exited 0, again -1 ECHILD"},
    {"WaitAnyChild", wait_any_child, "pid exited 3 waited, no children left: -1 ECHILD"},
    {"Wait4KilledWithRusage", wait4_killed_with_rusage, "pid killed by KILL rusage filled"},
    {"Wait3AnyChild", wait3_any_child, "pid exited 4"},
    {"WaitidExited", waitid_exited, "0 pid CLD_EXITED 5 waited"},
    {"WaitpidNotAChild", waitpid_not_a_child, "-1 ECHILD"},
    {"WaitpidAndSignals", waitpid_and_signals, "plain handler: -1 EINTR; SA_RESTART: pid exited 9, handled 2"},
    {"SystemStatuses", system_statuses,
     "exited 3 waited; killed by TERM; shell available: yes; missing command: exited 127"},
    {"SystemSignalDispositions", system_signal_dispositions,
     "parent survives SIGINT: exited 0; child dies of it: killed by INT; SIGINT afterwards default"},
    {"PopenReadAndPclose", popen_read_and_pclose, "read 'hello' exited 4 waited"},
    {"PopenWriteAndPclose", popen_write_and_pclose, "exited 2, file: through the pipe"},
    {"PopenBadMode", popen_bad_mode, "NULL EINVAL, NULL EINVAL"},
};

class ProcessScenarioTest : public ::testing::TestWithParam<Scenario> {};

TEST_P(ProcessScenarioTest, RawAndHookedAgree) {
  const Scenario& scenario = GetParam();
  hook_test::expect_raw_and_hooked_agree(scenario, run_checked(scenario, Mode::kRaw), run_checked(scenario, Mode::kHooked));
}

INSTANTIATE_TEST_SUITE_P(Scenarios, ProcessScenarioTest, ::testing::ValuesIn(kScenarios),
                         hook_test::scenario_name);

}  // namespace
