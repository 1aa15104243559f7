// The settings cache of private sockets (hook/fd_table.h): a socket made by a hooked socket,
// socketpair, accept or accept4 is referenced by one fd number of this process only, so once a
// park has read from the kernel that it is blocking with no SO_RCVTIMEO/SO_SNDTIMEO, later parks
// may skip asking. Every scenario first makes the cache learn (two reads of a private socket that
// park until the peer writes), then changes a setting along one path the cache must notice
// (fcntl, ioctl, setsockopt, a dup, a fork, a spawned program, SCM_RIGHTS, a closed and reused
// number), and checks that the next call honours it. Raw (hooks pass through) and hooked (in a
// coroutine) transcripts must both be the expected one: libc is the specification.
//
// A stale cache parks where libc returns: a watchdog then ends the wait after 3 s (data "!late",
// or a shutdown for a write), so a missed path shows as a wrong transcript ("slow", "after 3000
// ms") instead of a hung suite.
#include <fcntl.h>
#include <linux/time_types.h>
#include <poll.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "hook/fd_table.h"
#include "hook_test_util.h"

extern char** environ;

namespace {

using hook_test::Mode;
using hook_test::Peer;
using hook_test::result;
using hook_test::Scenario;
using Clock = std::chrono::steady_clock;

void sleep_ms(int ms) { ::usleep(static_cast<useconds_t>(ms) * 1000); }

long ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// Runs `action` every 3 s until destroyed, on a plain thread in both modes (a coroutine could not
// run while a wrongly blocked call holds the scheduler thread). Every scenario here passes in well
// under 3 s, so it only ever fires when a call waits where libc would not.
class Watchdog {
 public:
  explicit Watchdog(std::function<void()> action)
      : thread_([this, action = std::move(action)] {
          std::unique_lock<std::mutex> lock(mutex_);
          while (!done_cv_.wait_for(lock, std::chrono::seconds(3), [this] { return done_; })) action();
        }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    done_cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::thread thread_;  // last: it starts running once the members above exist
};

// Ends a read of the other end that waits for good: "!late" arrives.
void send_late(int fd) { (void)!::send(fd, "!late", 5, MSG_DONTWAIT | MSG_NOSIGNAL); }

struct Pair {
  int fd = -1;     // the end whose settings are learned and changed
  int other = -1;  // the peer's end
};

// Which private socket is learned: the accepted end of a TCP connection made with the hooked
// socket, connect and accept (in hooked mode), its connected end, or one end of a socketpair.
enum class Ends { kAccepted, kConnected, kSocketpair };

Pair make_pair(Ends ends = Ends::kAccepted) {
  if (ends == Ends::kSocketpair) {
    int sv[2];
    ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    return {sv[0], sv[1]};
  }
  int port = 0;
  int listener = hook_test::listen_loopback(&port);
  int connected = hook_test::connect_loopback(port);
  int accepted = ::accept(listener, nullptr, nullptr);
  ::close(listener);
  return ends == Ends::kAccepted ? Pair{accepted, connected} : Pair{connected, accepted};
}

void close_pair(const Pair& pair) {
  ::close(pair.fd);
  ::close(pair.other);
}

// One read: "1 'a'", with " slow" if it took a second or more (only a watchdog makes it slow).
std::string timed_read(int fd) {
  char buffer[16];
  auto start = Clock::now();
  ssize_t n = ::read(fd, buffer, sizeof buffer);
  std::string out = result(n, buffer);
  if (ms_since(start) >= 1000) out += " slow";
  return out;
}

// A read that should end with a 100 ms socket timeout.
std::string read_until_timeout(int fd) {
  char buffer[16];
  auto start = Clock::now();
  ssize_t n = ::read(fd, buffer, sizeof buffer);
  long waited = ms_since(start);
  return result(n, buffer) +
         (waited >= 90 && waited < 1500 ? " after the timeout" : " after " + std::to_string(waited) + " ms");
}

// A read of `reader` that parks: the peer (a coroutine when hooked) writes `data` 50 ms later.
std::string parked_read(Mode mode, int reader, int writer, const char* data) {
  Peer peer(mode);
  peer.start([=] {
    sleep_ms(50);
    (void)!::write(writer, data, ::strlen(data));
  });
  std::string out = timed_read(reader);
  peer.join();
  return out;
}

// The cache learns: the second park of the private socket uses what the first read.
std::string learn(Mode mode, const Pair& pair) {
  return "learn " + parked_read(mode, pair.fd, pair.other, "a") + " " +
         parked_read(mode, pair.fd, pair.other, "b");
}
constexpr const char* kLearned = "learn 1 'a' 1 'b'";
std::string expect_after_learning(const char* rest) { return std::string(kLearned) + "; " + rest; }

void set_nonblocking_fcntl(int fd, bool on) {
  int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK);
}

// For children: only the parent's hooks are under test, and a child of _Fork has nothing of
// cohook's reset for it.
void set_nonblocking_raw(int fd) {
  long flags = ::syscall(SYS_fcntl, fd, F_GETFL);
  ::syscall(SYS_fcntl, fd, F_SETFL, flags | O_NONBLOCK);
}

void set_nonblocking_ioctl(int fd, bool on) {
  int value = on ? 1 : 0;
  ::ioctl(fd, FIONBIO, &value);
}

// SO_RCVTIMEO / SO_SNDTIMEO of 100 ms, or none, as glibc's constant (the _OLD option on 64-bit
// Linux) or as the _NEW option with the kernel's 64-bit timeval.
void set_timeout(int fd, int option, bool on) {
  if (option == SO_RCVTIMEO_NEW || option == SO_SNDTIMEO_NEW) {
    __kernel_sock_timeval value{0, on ? 100000 : 0};
    ::setsockopt(fd, SOL_SOCKET, option, &value, sizeof value);
  } else {
    timeval value{0, on ? 100000 : 0};
    ::setsockopt(fd, SOL_SOCKET, option, &value, sizeof value);
  }
}

// ---- a setting changed on the learned fd itself ----

// Learn, switch the setting on (the next read must fail with EAGAIN, at once or after the
// timeout), switch it off (the next read must park again and get the peer's data).
std::string change_on_the_fd(Mode mode, const std::function<void(int, bool)>& set, bool timeout,
                             Ends ends = Ends::kAccepted) {
  Pair pair = make_pair(ends);
  Watchdog watchdog([&] { send_late(pair.other); });
  std::string out = learn(mode, pair);
  set(pair.fd, true);
  out += "; on " + (timeout ? read_until_timeout(pair.fd) : timed_read(pair.fd));
  set(pair.fd, false);
  out += "; off " + parked_read(mode, pair.fd, pair.other, "c");
  close_pair(pair);
  return out;
}

// ---- a send timeout on a socket whose peer stopped reading ----

// Set on the learned socket after a parked write, or (inherited) on the listener before the
// accept, which Linux copies to the new socket unseen: then the reads that learn find no receive
// timeout, and the send timeout must be asked for all the same.
std::string send_timeout(Mode mode, int option, bool inherited) {
  int port = 0;
  int listener = hook_test::listen_loopback(&port);
  // Small fixed buffers (no autotuning), so that 1 MiB never fits in them.
  int size = 64 * 1024;
  ::setsockopt(listener, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  if (inherited) set_timeout(listener, option, true);
  Pair pair{-1, hook_test::connect_loopback(port)};
  pair.fd = ::accept(listener, nullptr, nullptr);
  ::close(listener);
  ::setsockopt(pair.other, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  // A write that waits for good is ended by the shutdown (EPIPE, or the count sent so far).
  Watchdog watchdog([&] {
    send_late(pair.other);
    ::shutdown(pair.fd, SHUT_WR);
  });
  std::string out = learn(mode, pair);
  std::string data(1 << 20, 'x');
  if (!inherited) {
    // A write that parks too: the peer drains all of it, starting 50 ms later.
    Peer peer(mode);
    peer.start([&] {
      sleep_ms(50);
      std::size_t drained = 0;
      char buffer[65536];
      ssize_t n;
      while (drained < data.size() && (n = ::read(pair.other, buffer, sizeof buffer)) > 0) drained += n;
    });
    out += "; write " + result(::write(pair.fd, data.data(), data.size()));
    peer.join();
    set_timeout(pair.fd, option, true);
  }
  // The peer reads no more: part of the first write goes into the empty buffers, nothing of the
  // second; each waits out the timeout.
  for (int i = 0; i < 2; ++i) {
    auto start = Clock::now();
    ssize_t n = ::write(pair.fd, data.data(), data.size());
    long waited = ms_since(start);
    out += n > 0 && n < static_cast<ssize_t>(data.size()) ? "; partial" : "; " + result(n);
    out += waited >= 90 && waited < 1500 ? " after the timeout" : " after " + std::to_string(waited) + " ms";
  }
  close_pair(pair);
  return out;
}

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
  ::close(copy);
  close_pair(pair);
  return out;
}

int copy_dup(int fd) { return ::dup(fd); }
// dup2 and dup3 onto a number that is open (to /dev/null), which they close first.
int copy_dup2(int fd) { return ::dup2(fd, ::open("/dev/null", O_RDONLY)); }
int copy_dup3(int fd) { return ::dup3(fd, ::open("/dev/null", O_RDONLY), O_CLOEXEC); }
int copy_dupfd(int fd) { return ::fcntl(fd, F_DUPFD, fd + 1); }
int copy_dupfd_cloexec(int fd) { return ::fcntl(fd, F_DUPFD_CLOEXEC, fd + 1); }

// The copy is closed again before the setting changes: the original stays shared, even changed
// with a raw system call no hook sees (which the cache does not cover for a private socket), and
// parks in between must not have learned anything about it.
std::string duplicate_closed(Mode mode, bool raw_syscall) {
  Pair pair = make_pair();
  Watchdog watchdog([&] { send_late(pair.other); });
  std::string out = learn(mode, pair);
  ::close(::dup(pair.fd));
  out += "; again " + parked_read(mode, pair.fd, pair.other, "c") + " " +
         parked_read(mode, pair.fd, pair.other, "d");
  int flags = ::fcntl(pair.fd, F_GETFL);
  if (raw_syscall) ::syscall(SYS_fcntl, pair.fd, F_SETFL, flags | O_NONBLOCK);
  else ::fcntl(pair.fd, F_SETFL, flags | O_NONBLOCK);
  out += "; read " + timed_read(pair.fd);
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
  close_pair(pair);
  return out;
}

// test/programs/fd_set_nonblocking, next to this binary's own directory.
std::string program_path() {
  return (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "programs" / "fd_set_nonblocking").string();
}

// Each starts the program on fd, waits for it and returns its exit status (-1: it did not run).
int exit_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

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
int run_posix_spawn(const std::string& program, int fd) { return run_spawn(program, fd, false); }
int run_posix_spawnp(const std::string& program, int fd) { return run_spawn(program, fd, true); }

int run_system(const std::string& program, int fd) {
  return exit_code(::system((program + " " + std::to_string(fd)).c_str()));
}

int run_popen(const std::string& program, int fd) {
  FILE* stream = ::popen((program + " " + std::to_string(fd)).c_str(), "r");
  if (stream == nullptr) return -1;
  return exit_code(::pclose(stream));
}

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
  if (from_plain_thread) std::thread([&] { code = run(program_path(), pair.fd); }).join();
  else code = run(program_path(), pair.fd);
  out += "; program exit " + std::to_string(code);
  out += "; read " + timed_read(pair.fd);
  close_pair(pair);
  return out;
}

// ---- SCM_RIGHTS ----

// One byte with room for one fd of SCM_RIGHTS (not copyable: it points into itself).
struct FdMessage {
  char byte = 'f';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr message{nullptr, 0, &iov, 1, control, sizeof control, 0};
  FdMessage() = default;
  FdMessage(const FdMessage&) = delete;
};

// Sends fd over `channel` with sendmsg, or with sendmmsg as a batch of one.
ssize_t send_fd(int channel, int fd, bool batch) {
  FdMessage m;
  cmsghdr* header = CMSG_FIRSTHDR(&m.message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int));
  ::memcpy(CMSG_DATA(header), &fd, sizeof fd);
  if (!batch) return ::sendmsg(channel, &m.message, 0);
  mmsghdr batch_message{m.message, 0};
  int sent = ::sendmmsg(channel, &batch_message, 1, 0);
  return sent == 1 ? static_cast<ssize_t>(batch_message.msg_len) : sent;
}

// The received fd, or -1.
int receive_fd(int channel) {
  FdMessage m;
  if (::recvmsg(channel, &m.message, 0) != 1) return -1;
  cmsghdr* header = CMSG_FIRSTHDR(&m.message);
  if (header == nullptr || header->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  ::memcpy(&fd, CMSG_DATA(header), sizeof fd);
  return fd;
}

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
  ::close(channel[0]);
  close_pair(pair);
  return out;
}

// ---- numbers reused, settings inherited from the listener ----

// Connection A is accepted (non-blocking or not) and read, closed, and its number taken by
// connection B, accepted the other way. B's reads must follow B's own flag.
std::string number_reused(Mode mode, bool first_nonblocking) {
  int port = 0;
  int listener = hook_test::listen_loopback(&port);
  int client_a = hook_test::connect_loopback(port);
  // B's client is connected now, so that it does not take A's number once A is closed.
  int client_b = hook_test::connect_loopback(port);
  Watchdog watchdog([&] {
    send_late(client_a);
    send_late(client_b);
  });
  int a = ::accept4(listener, nullptr, nullptr, first_nonblocking ? SOCK_NONBLOCK : 0);
  std::string out = first_nonblocking ? "A " + timed_read(a)
                                      : "A " + parked_read(mode, a, client_a, "a") + " " +
                                            parked_read(mode, a, client_a, "b");
  ::close(a);
  int b = ::accept4(listener, nullptr, nullptr, first_nonblocking ? 0 : SOCK_NONBLOCK);
  out += b == a ? "; same number" : "; number " + std::to_string(b) + " not " + std::to_string(a);
  out += "; B " + (first_nonblocking ? parked_read(mode, b, client_b, "c") : timed_read(b));
  for (int fd : {b, client_a, client_b, listener}) ::close(fd);
  return out;
}

// The learned number closed and reused by a socket received with SCM_RIGHTS, which no hook
// adopts: the new file must not inherit what was learned about the old one.
std::string reused_by_received_fd(Mode mode) {
  int channel[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, channel);
  Pair sent = make_pair();  // its accepted end arrives on the learned number
  Pair pair = make_pair();
  Watchdog watchdog([&] {
    send_late(pair.other);
    send_late(sent.other);
  });
  std::string out = learn(mode, pair);
  // Every free number below the learned one is taken, so that the received fd gets it.
  std::vector<int> fillers;
  int filler;
  while ((filler = ::open("/dev/null", O_RDONLY)) >= 0 && filler < pair.fd) fillers.push_back(filler);
  ::close(filler);  // the first one above
  ::close(pair.fd);
  out += "; sent " + result(send_fd(channel[0], sent.fd, false));
  int received = receive_fd(channel[1]);
  out += received == pair.fd ? "; same number" : "; number " + std::to_string(received) + " not " + std::to_string(pair.fd);
  set_nonblocking_fcntl(sent.fd, true);
  out += "; read " + timed_read(received);
  for (int fd : fillers) ::close(fd);
  for (int fd : {received, pair.other, channel[0], channel[1]}) ::close(fd);
  close_pair(sent);
  return out;
}

// Linux copies the listener's SO_RCVTIMEO to the accepted socket, which no hooked setsockopt on
// it ever saw: both reads must time out.
std::string timeout_inherited_from_listener(Mode) {
  int port = 0;
  int listener = hook_test::listen_loopback(&port);
  set_timeout(listener, SO_RCVTIMEO, true);
  int client = hook_test::connect_loopback(port);
  int server = ::accept(listener, nullptr, nullptr);
  Watchdog watchdog([&] { send_late(client); });
  std::string out = "first " + read_until_timeout(server);
  out += "; second " + read_until_timeout(server);
  for (int fd : {server, client, listener}) ::close(fd);
  return out;
}

const std::string kNonblockingThenBack = expect_after_learning("on -1 EAGAIN; off 1 'c'");
const std::string kTimeoutThenBack = expect_after_learning("on -1 EAGAIN after the timeout; off 1 'c'");
const std::string kSendTimeout = expect_after_learning("write 1048576; partial after the timeout; -1 EAGAIN after the timeout");
const std::string kInheritedSendTimeout =
    expect_after_learning("partial after the timeout; -1 EAGAIN after the timeout");
const std::string kReceivedEagain = expect_after_learning("sent 1; same number; read -1 EAGAIN");
const std::string kCopyEagain = expect_after_learning("copied; read -1 EAGAIN");
const std::string kAgainEagain = expect_after_learning("again 1 'c' 1 'd'; read -1 EAGAIN");
const std::string kChildEagain = expect_after_learning("child exit 0; read -1 EAGAIN");
const std::string kProgramEagain = expect_after_learning("program exit 0; read -1 EAGAIN");
const std::string kHelperEagain = expect_after_learning("sent 1; helper 1 'k'; read -1 EAGAIN; helper exit 0");

const Scenario kScenarios[] = {
    // The learned fd's own settings.
    {"fcntl_setfl", [](Mode m) { return change_on_the_fd(m, set_nonblocking_fcntl, false); }, kNonblockingThenBack.c_str()},
    {"ioctl_fionbio", [](Mode m) { return change_on_the_fd(m, set_nonblocking_ioctl, false); }, kNonblockingThenBack.c_str()},
    {"so_rcvtimeo",
     [](Mode m) { return change_on_the_fd(m, [](int fd, bool on) { set_timeout(fd, SO_RCVTIMEO, on); }, true); },
     kTimeoutThenBack.c_str()},
    {"so_rcvtimeo_new",
     [](Mode m) { return change_on_the_fd(m, [](int fd, bool on) { set_timeout(fd, SO_RCVTIMEO_NEW, on); }, true); },
     kTimeoutThenBack.c_str()},
    // The same on the other kinds of private socket.
    {"fcntl_setfl_connected_end",
     [](Mode m) { return change_on_the_fd(m, set_nonblocking_fcntl, false, Ends::kConnected); },
     kNonblockingThenBack.c_str()},
    {"fcntl_setfl_socketpair",
     [](Mode m) { return change_on_the_fd(m, set_nonblocking_fcntl, false, Ends::kSocketpair); },
     kNonblockingThenBack.c_str()},
    {"so_rcvtimeo_socketpair",
     [](Mode m) {
       return change_on_the_fd(m, [](int fd, bool on) { set_timeout(fd, SO_RCVTIMEO, on); }, true, Ends::kSocketpair);
     },
     kTimeoutThenBack.c_str()},
    // ...and from a plain thread (its hooks are the real calls) while the coroutine learned.
    {"fcntl_setfl_from_plain_thread",
     [](Mode m) {
       return change_on_the_fd(m, [](int fd, bool on) { std::thread(set_nonblocking_fcntl, fd, on).join(); }, false);
     },
     kNonblockingThenBack.c_str()},
    {"so_rcvtimeo_from_plain_thread",
     [](Mode m) {
       return change_on_the_fd(m, [](int fd, bool on) { std::thread(set_timeout, fd, SO_RCVTIMEO, on).join(); }, true);
     },
     kTimeoutThenBack.c_str()},
    // The send timeout.
    {"so_sndtimeo", [](Mode m) { return send_timeout(m, SO_SNDTIMEO, false); }, kSendTimeout.c_str()},
    {"so_sndtimeo_new", [](Mode m) { return send_timeout(m, SO_SNDTIMEO_NEW, false); }, kSendTimeout.c_str()},
    {"so_sndtimeo_inherited_from_listener", [](Mode m) { return send_timeout(m, SO_SNDTIMEO, true); },
     kInheritedSendTimeout.c_str()},
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
    // Another process shares the socket.
    {"forked_child", [](Mode m) { return forked_child_sets_nonblocking(m, false); }, kChildEagain.c_str()},
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
    // A number closed and reused.
    {"reused_nonblocking_then_blocking", [](Mode m) { return number_reused(m, true); },
     "A -1 EAGAIN; same number; B 1 'c'"},
    {"reused_blocking_then_nonblocking", [](Mode m) { return number_reused(m, false); },
     "A 1 'a' 1 'b'; same number; B -1 EAGAIN"},
    {"reused_by_received_fd", reused_by_received_fd, kReceivedEagain.c_str()},
    // The listener's timeout.
    {"timeout_inherited_from_listener", timeout_inherited_from_listener,
     "first -1 EAGAIN after the timeout; second -1 EAGAIN after the timeout"},
    // A duplicate closed again.
    {"dup_closed_then_fcntl", [](Mode m) { return duplicate_closed(m, false); }, kAgainEagain.c_str()},
    {"dup_closed_then_raw_fcntl", [](Mode m) { return duplicate_closed(m, true); }, kAgainEagain.c_str()},
};

class SettingsCacheTest : public ::testing::TestWithParam<Scenario> {};

TEST_P(SettingsCacheTest, RawAndHookedAgree) { hook_test::check_raw_and_hooked(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Scenarios, SettingsCacheTest, ::testing::ValuesIn(kScenarios), hook_test::scenario_name);

// Children the cache does not hear of yet, in a program linked with libcohook.a: the exec of a
// vfork child (only libcohook.so's green layer interposes the exec family), and _Fork. Disabled
// until they are covered; --gtest_also_run_disabled_tests runs them.
const Scenario kKnownMisses[] = {
    {"vfork_execv", [](Mode m) { return program_sets_nonblocking(m, run_vfork); }, kProgramEagain.c_str()},
    {"underscore_fork", [](Mode m) { return forked_child_sets_nonblocking(m, true); }, kChildEagain.c_str()},
};

INSTANTIATE_TEST_SUITE_P(DISABLED_KnownMisses, SettingsCacheTest, ::testing::ValuesIn(kKnownMisses),
                         hook_test::scenario_name);

// The scenarios above test something only if their first step does make the cache learn: in a
// coroutine, each kind of private socket is known plain after the two parked reads (raw calls
// never learn). Not before, but for the connected end: the hooked connect parks, and learns.
TEST(SettingsCache, LearningStepLearns) {
  for (Ends ends : {Ends::kAccepted, Ends::kConnected, Ends::kSocketpair}) {
    hook_test::run_in(Mode::kHooked, [&] {
      Pair pair = make_pair(ends);
      Watchdog watchdog([&] { send_late(pair.other); });
      bool connected = ends == Ends::kConnected;
      EXPECT_EQ(cohook::hook::FdTable::instance().settings_known_plain(pair.fd), connected) << static_cast<int>(ends);
      EXPECT_EQ(learn(Mode::kHooked, pair), kLearned);
      EXPECT_TRUE(cohook::hook::FdTable::instance().settings_known_plain(pair.fd)) << static_cast<int>(ends);
      close_pair(pair);
    });
  }
}

}  // namespace
