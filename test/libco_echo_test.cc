// An accept/echo server written the way libco's example_echosvr is: a pool of worker coroutines
// parked in co_yield_ct, an accept coroutine on a non-blocking listener (co_accept + co_poll),
// every coroutine calling co_enable_hook_sys and then plain blocking read/write/connect, all of it
// driven by co_eventloop. Clients are coroutines too (and one plain thread, outside the hooks);
// each checks every byte it gets back. Only co_routine.h and libc.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <stack>
#include <thread>
#include <vector>

#include "cohook/compat/co_routine.h"

namespace {

constexpr int kWorkers = 6;
constexpr int kCoroutineClients = 10;
constexpr int kChunks = 40;
constexpr int kChunkSize = 4096;

struct Task {
  stCoRoutine_t* co = nullptr;
  int fd = -1;
};

struct Server {
  int listen_fd = -1;
  unsigned short port = 0;
  std::stack<Task*> idle;
  std::atomic<int> clients_done{0};
  std::atomic<int> clients_failed{0};
  int connections_served = 0;
  bool stopping = false;
  bool acceptor_done = false;
};

Server* g_server = nullptr;

int set_non_block(int fd) { return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK); }

void* readwrite_routine(void* arg) {
  co_enable_hook_sys();
  auto* task = static_cast<Task*>(arg);
  char buf[16 * 1024];
  for (;;) {
    if (task->fd == -1) {
      if (g_server->stopping) return nullptr;
      g_server->idle.push(task);
      co_yield_ct();
      continue;
    }
    int fd = task->fd;
    task->fd = -1;
    for (;;) {
      ssize_t n = read(fd, buf, sizeof buf);  // blocking socket: the hook parks us
      if (n > 0) n = write(fd, buf, static_cast<size_t>(n));
      if (n <= 0) {
        close(fd);
        ++g_server->connections_served;
        break;
      }
    }
  }
}

void* accept_routine(void*) {
  co_enable_hook_sys();
  for (;;) {
    if (g_server->stopping) {
      g_server->acceptor_done = true;
      return nullptr;
    }
    if (g_server->idle.empty()) {
      struct pollfd pf = {-1, 0, 0};
      poll(&pf, 1, 10);  // a hooked sleep: wait for a worker to come back
      continue;
    }
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int fd = co_accept(g_server->listen_fd, reinterpret_cast<struct sockaddr*>(&addr), &len);
    if (fd < 0) {
      struct pollfd pf = {g_server->listen_fd, POLLIN | POLLERR | POLLHUP, 0};
      co_poll(co_get_epoll_ct(), &pf, 1, 1000);
      continue;
    }
    Task* task = g_server->idle.top();
    g_server->idle.pop();
    task->fd = fd;
    co_resume(task->co);
  }
}

char pattern(int client, int chunk, int i) { return static_cast<char>((client * 7 + chunk * 13 + i) & 0xff); }

// One client conversation: kChunks request/response rounds, every byte checked.
bool converse(int client) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  struct sockaddr_in addr;
  std::memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons(g_server->port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) == 0;
  std::vector<char> out(kChunkSize), in(kChunkSize);
  for (int chunk = 0; ok && chunk < kChunks; ++chunk) {
    for (int i = 0; i < kChunkSize; ++i) out[i] = pattern(client, chunk, i);
    ok = write(fd, out.data(), out.size()) == static_cast<ssize_t>(out.size());
    size_t got = 0;
    while (ok && got < in.size()) {
      ssize_t n = read(fd, in.data() + got, in.size() - got);
      ok = n > 0;
      if (ok) got += static_cast<size_t>(n);
    }
    ok = ok && std::memcmp(in.data(), out.data(), out.size()) == 0;
  }
  if (!ok) ADD_FAILURE() << "client " << client << ": " << std::strerror(errno);
  close(fd);
  return ok;
}

void* client_routine(void* arg) {
  co_enable_hook_sys();
  int client = static_cast<int>(reinterpret_cast<intptr_t>(arg));
  if (!converse(client)) ++g_server->clients_failed;
  ++g_server->clients_done;
  return nullptr;
}

int until_clients_done(void*) {
  return g_server->clients_done.load() == kCoroutineClients + 1 ? -1 : 0;
}

TEST(LibcoEcho, ServerInLibcoStyleEchoesEveryByte) {
  alarm(120);  // a hang is a failure, not a stuck CI job
  Server server;
  g_server = &server;
  server.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(server.listen_fd, 0);
  struct sockaddr_in addr;
  std::memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(server.listen_fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(server.listen_fd, 128), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(server.listen_fd, reinterpret_cast<struct sockaddr*>(&addr), &len), 0);
  server.port = ntohs(addr.sin_port);
  ASSERT_EQ(set_non_block(server.listen_fd), 0);

  std::vector<Task> tasks(kWorkers);
  for (Task& task : tasks) {
    ASSERT_EQ(co_create(&task.co, nullptr, readwrite_routine, &task), 0);
    co_resume(task.co);
  }
  stCoRoutine_t* acceptor = nullptr;
  ASSERT_EQ(co_create(&acceptor, nullptr, accept_routine, nullptr), 0);
  co_resume(acceptor);

  std::vector<stCoRoutine_t*> clients(kCoroutineClients);
  for (int i = 0; i < kCoroutineClients; ++i) {
    ASSERT_EQ(co_create(&clients[i], nullptr, client_routine, reinterpret_cast<void*>(static_cast<intptr_t>(i))), 0);
    co_resume(clients[i]);
  }
  // A client on a plain thread: no coroutine, so its calls are plain libc calls.
  std::thread plain([] {
    if (!converse(1000)) ++g_server->clients_failed;
    ++g_server->clients_done;
  });

  co_eventloop(co_get_epoll_ct(), until_clients_done, nullptr);
  plain.join();
  EXPECT_EQ(server.clients_failed.load(), 0);
  EXPECT_EQ(server.clients_done.load(), kCoroutineClients + 1);

  // Let the workers see their clients' EOF and return to the pool, then end every coroutine.
  co_eventloop(co_get_epoll_ct(),
               [](void*) { return g_server->connections_served == kCoroutineClients + 1 ? -1 : 0; }, nullptr);
  EXPECT_EQ(server.connections_served, kCoroutineClients + 1);
  server.stopping = true;
  for (Task& task : tasks) co_resume(task.co);  // idle workers see `stopping` and return
  co_eventloop(co_get_epoll_ct(), [](void*) { return g_server->acceptor_done ? -1 : 0; }, nullptr);
  for (Task& task : tasks) co_release(task.co);
  co_release(acceptor);
  for (stCoRoutine_t* co : clients) co_release(co);
  close(server.listen_fd);
  alarm(0);
}

}  // namespace
