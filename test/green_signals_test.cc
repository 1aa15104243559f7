// Signals for green threads (corun): each scenario of test/programs/green_signals.c runs
// natively and under corun with 1, 2 and 3 scheduler threads, and the transcripts must match:
// per-thread masks, pthread_kill at one parked thread (EINTR, or a restart with SA_RESTART),
// pthread_kill(self) and raise, the sigwait signal-thread pattern, sigtimedwait's timeout,
// sigsuspend and pause; the old BSD and System V mask calls; the mask a program started by
// exec, posix_spawn, system or popen inherits. Then a thread-per-connection server stopped by SIGTERM whose handler
// lacks SA_RESTART: accept sees EINTR, connections in flight finish, status 0.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "test/green_test_util.h"

namespace {

using green_test::Connection;
using green_test::corun;
using green_test::Server;
using green_test::program;
using green_test::Result;
using green_test::run;

class GreenSignalsTest : public green_test::CorunTestBase {
 protected:
  // Runs `green_signals SCENARIO` (or another program's) natively, then under corun with 1, 2
  // and 3 scheduler threads; stdout and the exit status must match.
  void expect_same_as_native(const std::string& scenario, const std::string& name = "green_signals") {
    std::string command = program(name) + " " + scenario;
    Result native = run("timeout 60 " + command);
    ASSERT_EQ(native.status, 0) << native.out << native.err;
    for (int threads : {1, 2, 3}) {
      Result green = run("timeout 60 " + corun() + " --threads " + std::to_string(threads) + " " + command);
      EXPECT_EQ(green.out, native.out) << scenario << " under corun --threads " << threads << "\n" << green.err;
      EXPECT_EQ(green.status, 0) << scenario << " --threads " << threads << "\n" << green.err;
    }
  }
};

TEST_F(GreenSignalsTest, EachThreadHasItsOwnMaskAndAKillGoesToTheThreadThatTakesIt) {
  expect_same_as_native("masks");
}

TEST_F(GreenSignalsTest, PthreadKillCutsOneParkedReadShort) {
  expect_same_as_native("kill-thread");
}

TEST_F(GreenSignalsTest, PthreadKillWithSaRestartLeavesTheReadWaiting) {
  expect_same_as_native("kill-thread-restart");
}

TEST_F(GreenSignalsTest, PthreadKillSelfAndRaiseRunTheHandlerBeforeReturning) {
  expect_same_as_native("kill-self");
}

TEST_F(GreenSignalsTest, SignalThreadSigwaitsForWhatEveryThreadBlocks) {
  expect_same_as_native("signal-thread");
}

TEST_F(GreenSignalsTest, SigtimedwaitTimesOutWithoutHoldingTheThread) {
  expect_same_as_native("timed-wait");
}

TEST_F(GreenSignalsTest, SigsuspendAndPauseReturnAfterAHandler) {
  expect_same_as_native("suspend");
}

// ---- the old BSD and System V calls (test/programs/green_signal_legacy.c) ----

TEST_F(GreenSignalsTest, SigblockSigsetmaskSiggetmaskActOnTheCallingThreadOnly) {
  expect_same_as_native("bsd", "green_signal_legacy");
}

TEST_F(GreenSignalsTest, SigholdSigrelseSigignoreSigsetAsGlibcAndSigsetsHandlerInterruptsARead) {
  expect_same_as_native("sysv", "green_signal_legacy");
}

TEST_F(GreenSignalsTest, SigpauseInBothFormsParksTheThreadAndPutsTheMaskBack) {
  expect_same_as_native("pause", "green_signal_legacy");
}

// ---- the mask a new program starts with (test/programs/green_child_mask.c) ----

TEST_F(GreenSignalsTest, ExecKeepsTheCallingThreadsMaskAndIgnoredSignals) {
  expect_same_as_native("exec", "green_child_mask");
}

TEST_F(GreenSignalsTest, AFailedExecLeavesTheMaskAsItWas) {
  expect_same_as_native("exec-fails", "green_child_mask");
}

TEST_F(GreenSignalsTest, ForkThenExecKeepsTheForkingThreadsMask) {
  expect_same_as_native("fork-exec", "green_child_mask");
}

TEST_F(GreenSignalsTest, PosixSpawnGivesTheCallersMaskUnlessSetsigmask) {
  expect_same_as_native("spawn", "green_child_mask");
  expect_same_as_native("spawnp", "green_child_mask");
}

TEST_F(GreenSignalsTest, SystemAndPopenChildrenStartWithTheCallersMask) {
  expect_same_as_native("system", "green_child_mask");
  expect_same_as_native("popen", "green_child_mask");
}

// ---- SIGTERM stopping a thread-per-connection server ----

constexpr int kConnections = 200;
constexpr std::size_t kBytes = 8 * 1024;


// Connects kConnections, gets a first echo on each (so every connection thread is parked in
// read), sends SIGTERM to the server, then sends the rest and reads to EOF. Returns how many
// connections got back exactly what they sent.
int echo_through_sigterm(Server& server) {
  std::vector<Connection> connections(kConnections);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<unsigned short>(server.port));
  for (int i = 0; i < kConnections; ++i) {
    Connection& c = connections[i];
    c.fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(c.fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return -1;
    c.sent.resize(kBytes);
    for (std::size_t j = 0; j < kBytes; ++j) c.sent[j] = static_cast<char>('a' + (i * 7 + j) % 26);
    c.written = static_cast<std::size_t>(::write(c.fd, c.sent.data(), 64));
  }
  for (Connection& c : connections) {
    char buffer[64];
    while (c.received.size() < 64) {
      ssize_t n = ::read(c.fd, buffer, 64 - c.received.size());
      if (n <= 0) return -2;
      c.received.append(buffer, static_cast<std::size_t>(n));
    }
    ::fcntl(c.fd, F_SETFL, O_NONBLOCK);
  }
  ::usleep(100000);  // every connection thread back in read()
  ::kill(server.pid, SIGTERM);
  ::usleep(200000);  // the server has stopped accepting; its connections go on
  return green_test::echo_until_closed(connections, std::chrono::seconds(60), [] {});
}

TEST_F(GreenSignalsTest, SigtermWithoutSaRestartStopsAThreadPerConnectionServerCleanly) {
  std::string expected = "stopped after " + std::to_string(kConnections) + " connections, accept interrupted: 1\n";
  for (bool green : {false, true}) {
    std::vector<std::string> argv;
    if (green) argv = {corun(), "--threads", "2"};
    argv.push_back(program("green_graceful_server"));
    Server server(argv);
    ASSERT_GT(server.port, 0);
    EXPECT_EQ(echo_through_sigterm(server), kConnections) << (green ? "under corun" : "natively");
    std::string rest;
    EXPECT_EQ(server.wait_exit(&rest), 0) << (green ? "under corun" : "natively");
    EXPECT_EQ(rest, expected) << (green ? "under corun" : "natively");
  }
}

}  // namespace
