#include "hook/read_hint.h"

#include "hook/fd_table.h"
#include "hook/interpose.h"
#include "poller/poller.h"
#include "sched/scheduler.h"

namespace cohook::hook {
namespace {

// The poller of the scheduler thread the running coroutine lives on (it never moves once started).
poller::Poller& own_poller() { return Coroutine::current()->home()->poller(); }

}  // namespace

bool read_known_empty(int fd) { return own_poller().read_known_empty(fd); }

void note_socket_read(int fd, ssize_t result, std::size_t requested) {
  // 0 is end of file (or an empty request), not an empty queue; a full read says nothing.
  if (result <= 0 || static_cast<std::size_t>(result) >= requested) return;
  if (!FdTable::instance().is_tcp(fd)) return;
  own_poller().note_read_empty(fd);
}

}  // namespace cohook::hook
