// A libco program, written exactly as one is written for Tencent libco (after its
// example_echosvr.cpp): it compiles unchanged against cohook's co_routine.h and links with
// -lcohook. Usage: libco_echo IP PORT WORKERS
//   g++ -std=c++11 libco_echo.cc $(pkg-config --cflags --libs cohook-libco)
#include "co_routine.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stack>

struct task_t {
  stCoRoutine_t* co;
  int fd;
};

static std::stack<task_t*> g_readwrite;
static int g_listen_fd = -1;

static int SetNonBlock(int iSock) {
  int iFlags = fcntl(iSock, F_GETFL, 0);
  iFlags |= O_NONBLOCK;
  return fcntl(iSock, F_SETFL, iFlags);
}

static void* readwrite_routine(void* arg) {
  co_enable_hook_sys();
  task_t* co = (task_t*)arg;
  char buf[1024 * 16];
  for (;;) {
    if (-1 == co->fd) {
      g_readwrite.push(co);
      co_yield_ct();
      continue;
    }
    int fd = co->fd;
    co->fd = -1;
    for (;;) {
      struct pollfd pf;
      memset(&pf, 0, sizeof(pf));
      pf.fd = fd;
      pf.events = (POLLIN | POLLERR | POLLHUP);
      co_poll(co_get_epoll_ct(), &pf, 1, 1000);
      int ret = read(fd, buf, sizeof(buf));
      if (ret > 0) ret = write(fd, buf, ret);
      if (ret <= 0) {
        if (errno == EAGAIN) continue;
        close(fd);
        break;
      }
    }
  }
  return 0;
}

int co_accept(int fd, struct sockaddr* addr, socklen_t* len);

static void* accept_routine(void*) {
  co_enable_hook_sys();
  for (;;) {
    if (g_readwrite.empty()) {
      struct pollfd pf;
      memset(&pf, 0, sizeof(pf));
      pf.fd = -1;
      poll(&pf, 1, 1000);
      continue;
    }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    socklen_t len = sizeof(addr);
    int fd = co_accept(g_listen_fd, (struct sockaddr*)&addr, &len);
    if (fd < 0) {
      struct pollfd pf;
      memset(&pf, 0, sizeof(pf));
      pf.fd = g_listen_fd;
      pf.events = (POLLIN | POLLERR | POLLHUP);
      co_poll(co_get_epoll_ct(), &pf, 1, 1000);
      continue;
    }
    if (g_readwrite.empty()) {
      close(fd);
      continue;
    }
    SetNonBlock(fd);
    task_t* co = g_readwrite.top();
    co->fd = fd;
    g_readwrite.pop();
    co_resume(co->co);
  }
  return 0;
}

int main(int argc, char* argv[]) {
  if (argc < 4) {
    printf("Usage: %s IP PORT WORKERS\n", argv[0]);
    return 1;
  }
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons(atoi(argv[2]));
  addr.sin_addr.s_addr = inet_addr(argv[1]);
  g_listen_fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  int reuse = 1;
  setsockopt(g_listen_fd, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof(reuse));
  if (bind(g_listen_fd, (struct sockaddr*)&addr, sizeof(addr)) != 0 || listen(g_listen_fd, 1024) != 0) {
    printf("Port %s is in use\n", argv[2]);
    return 1;
  }
  SetNonBlock(g_listen_fd);
  int cnt = atoi(argv[3]);
  for (int i = 0; i < cnt; i++) {
    task_t* task = (task_t*)calloc(1, sizeof(task_t));
    task->fd = -1;
    co_create(&(task->co), NULL, readwrite_routine, task);
    co_resume(task->co);
  }
  stCoRoutine_t* accept_co = NULL;
  co_create(&accept_co, NULL, accept_routine, 0);
  co_resume(accept_co);
  co_eventloop(co_get_epoll_ct(), 0, 0);
  return 0;
}
