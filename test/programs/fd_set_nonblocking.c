/* Another program changing an inherited socket: sets O_NONBLOCK on fd argv[1] and exits 0 (1 if
 * the fd is not open or fcntl fails). hook_settings_cache_test spawns it, with posix_spawn,
 * system, popen and vfork+exec, on a socket whose settings the parent's hooks had learned: the
 * parent must see the change, since a child process shares the open file description. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  int fd = atoi(argv[1]);
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return 1;
  return 0;
}
